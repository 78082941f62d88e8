"""`specdiff export` and `specdiff import` on the command line (specs/interop.md): an imported
run used like any run (INTEROP-12), and bad input refused with one line naming the file and the
key, nothing written (INTEROP-13). The commands run in this process (``specdiff.cli.main``)."""

import contextlib
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from specdiff.cli import main
from specdiff.testing import assert_close_to_spec
from specdiff.train.checkpoint import save_checkpoint
from specdiff.train.models import build_model, model_record, schedule_record
from tests import _cli_runs as cli_runs
from tests.interop.test_pipeline_folder import make_run

diffusers = pytest.importorskip("diffusers")

T = 10


def cli(*argv: str | Path) -> tuple[int, str, str]:
    """``specdiff ARGV`` in this process: exit status, stdout, stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main([str(argument) for argument in argv])
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A unet-tiny run on the digits' shape (1×8×8, T = 10), exported by `specdiff export`."""
    root = tmp_path_factory.mktemp("exported")
    make_run(root / "run", schedule_record("linear", T))
    code, _, stderr = cli("export", root / "run", "--format", "diffusers", "--out",
                          root / "pipeline")
    assert code == 0, stderr
    return root / "pipeline"


@pytest.mark.spec("INTEROP-12")
def test_an_imported_run_samples_inpaints_evaluates_and_fine_tunes(exported: Path,
                                                                   tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, stdout, stderr = cli("import", exported, "--out", run, "--data", "digits")
    assert (code, stderr) == (0, ""), stderr
    assert f"specdiff sample {run}" in stdout
    inputs = cli_runs.write_inputs(tmp_path)
    for command in (("sample", run, "--n", "2", "--steps", "2", "--quiet", "--out",
                     tmp_path / "samples.png"),
                    ("inpaint", run, "--image", inputs["image"], "--mask", inputs["mask"],
                     "--quiet", "--out", tmp_path / "inpainted.png"),
                    ("evaluate", run, "--n-samples", "2", "--batch-size", "2",
                     "--vlb-timesteps", "2")):
        code, _, stderr = cli(*command)
        assert code == 0, (command[0], stderr)
    imported = load_file(run / "checkpoint-00000000" / "ema.safetensors")
    # Fine-tuning starts from the imported weights: one step too small to move them.
    code, stdout, stderr = cli("train", "--resume", "--out", run, "--data", "digits",
                               "--batch-size", "4", "--steps", "1", "--lr", "1e-12", "--quiet")
    assert code == 0, stderr
    assert "fine-tuning the imported" in stdout
    for name in ("model", "ema"):
        tuned = load_file(run / "checkpoint-00000001" / f"{name}.safetensors")
        for key, value in imported.items():
            assert_close_to_spec(tuned[key], value.double().numpy(), "elementwise")
    # A fine-tuned run resumes like any other; its model and schedule are the import's.
    code, stdout, stderr = cli("train", "--resume", "--out", run, "--data", "digits",
                               "--batch-size", "4", "--steps", "2", "--lr", "1e-12", "--quiet")
    assert code == 0, stderr
    assert f"resuming {run} at step 1" in stdout
    code, _, stderr = cli("train", "--resume", "--out", run, "--model", "unet-tiny",
                          "--steps", "3", "--quiet")
    assert code == 2
    assert stderr.startswith("specdiff train: error: model: an imported run keeps its own")


@pytest.mark.spec("INTEROP-12")
def test_a_bare_unet_folder_imports_with_the_schedule_given(exported: Path,
                                                            tmp_path: Path) -> None:
    code, _, stderr = cli("import", exported / "unet", "--out", tmp_path / "bare", "--schedule",
                          "cosine", "--timesteps", str(T), "--prediction-type", "v_prediction")
    assert code == 0, stderr
    config = json.loads((tmp_path / "bare" / "checkpoint-00000000" / "checkpoint.json"
                         ).read_text())["config"]
    assert (config["schedule"], config["prediction_type"]) == ({"kind": "cosine", "T": T},
                                                               "v_prediction")
    imported = load_file(tmp_path / "bare" / "checkpoint-00000000" / "model.safetensors")
    ema = load_file(exported.parent / "run" / "checkpoint-00000007" / "ema.safetensors")
    assert imported.keys() == ema.keys()
    for key, value in ema.items():
        assert torch.equal(imported[key], value), key


@pytest.mark.spec("INTEROP-12")
def test_a_pickled_state_dict_is_read_with_the_weights_only_unpickler(exported: Path,
                                                                      tmp_path: Path) -> None:
    """Older releases (diffusers before safetensors) hold diffusion_pytorch_model.bin."""
    folder = tmp_path / "pipeline"
    shutil.copytree(exported, folder)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(weights), folder / "unet" / "diffusion_pytorch_model.bin")
    weights.unlink()
    code, _, stderr = cli("import", folder, "--out", tmp_path / "run")
    assert code == 0, stderr
    imported = load_file(tmp_path / "run" / "checkpoint-00000000" / "model.safetensors")
    ema = load_file(exported.parent / "run" / "checkpoint-00000007" / "ema.safetensors")
    assert imported.keys() == ema.keys()
    for key, value in ema.items():
        assert torch.equal(imported[key], value), key

    class RunsCode:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("the pickle ran code",))

    torch.save({"conv_in.weight": RunsCode()}, folder / "unet" / "diffusion_pytorch_model.bin")
    code, stdout, stderr = cli("import", folder, "--out", tmp_path / "other")
    assert code == 2 and "the pickle ran code" not in stdout
    assert "diffusion_pytorch_model.bin: is not a state dict of tensors" in stderr
    assert not (tmp_path / "other").exists()


def edit_json(path: Path, **changes: object) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def edit_weights(folder: Path, edit: Callable[[dict[str, torch.Tensor]], None]) -> None:
    path = folder / "unet" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path)


def loop(path: Path) -> None:
    """Replace ``path`` by a symbolic link to itself."""
    shutil.rmtree(path)
    os.symlink(path.name, path)


# name → (edit of a copy of the exported folder, what the one error line must name)
BAD_FOLDERS: dict[str, tuple[Callable[[Path], object], list[str]]] = {
    "truncated model_index.json": (
        lambda folder: (folder / "model_index.json").write_text('{"_class_name": "DDPMPip'),
        ["model_index.json: is not valid JSON"]),
    "edited model_index.json": (
        lambda folder: edit_json(folder / "model_index.json",
                                 unet=["diffusers", "UNet2DConditionModel"]),
        ["model_index.json: unet = ['diffusers', 'UNet2DConditionModel'] must be"]),
    "a vae in model_index.json": (
        lambda folder: edit_json(folder / "model_index.json", vae=["diffusers", "VQModel"]),
        ["model_index.json: components ['scheduler', 'unet', 'vae']"]),
    "deeply nested model_index.json": (
        lambda folder: (folder / "model_index.json").write_text("[" * 100_000),
        ["model_index.json: is not valid JSON"]),
    "missing unet/": (lambda folder: shutil.rmtree(folder / "unet"), ["unet: is missing"]),
    "missing scheduler/": (lambda folder: shutil.rmtree(folder / "scheduler"),
                           ["scheduler/scheduler_config.json: is missing"]),
    "unknown block type": (
        lambda folder: edit_json(folder / "unet" / "config.json",
                                 down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"]),
        ["unet/config.json: down_block_types[1] = 'CrossAttnDownBlock2D' is not a block"]),
    "truncated unet config": (lambda folder: (folder / "unet" / "config.json").write_text("{"),
                              ["unet/config.json: is not valid JSON"]),
    "wrong-shape weights": (
        lambda folder: edit_weights(folder, lambda tensors: tensors.update(
            {"conv_in.weight": torch.zeros(8, 1, 5, 5)})),
        ["unet/diffusion_pytorch_model.safetensors: conv_in.weight must have shape (8, 1, 3, 3)"
         " (our conv_in.weight), got (8, 1, 5, 5)"]),
    "missing tensor": (
        lambda folder: edit_weights(folder, lambda tensors: tensors.pop("conv_in.bias")),
        ["unet/diffusion_pytorch_model.safetensors: the diffusers state dict must have exactly",
         "missing 1 ['conv_in.bias']"]),
    "NaN weights": (
        lambda folder: edit_weights(folder, lambda tensors: tensors["conv_out.bias"].fill_(
            float("nan"))),
        ["unet/diffusion_pytorch_model.safetensors: conv_out.bias holds NaN or inf"]),
    "truncated weights": (
        lambda folder: (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(
            b"\x10\x00\x00\x00\x00\x00\x00\x00{"),
        ["unet/diffusion_pytorch_model.safetensors: is not a safetensors file"]),
    "no weights": (lambda folder: (folder / "unet" / "diffusion_pytorch_model.safetensors"
                                   ).unlink(),
                   ["unet: has no weights (diffusion_pytorch_model.safetensors or "]),
    "weights a FIFO": (
        lambda folder: ((folder / "unet" / "diffusion_pytorch_model.safetensors").unlink(),
                        os.mkfifo(folder / "unet" / "diffusion_pytorch_model.safetensors")),
        ["unet/diffusion_pytorch_model.safetensors: is not a regular file"]),
    "a schedule diffusers has and we do not": (
        lambda folder: edit_json(folder / "scheduler" / "scheduler_config.json",
                                 beta_schedule="scaled_linear"),
        ["scheduler/scheduler_config.json: beta_schedule = 'scaled_linear' has no schedule"]),
    "unet/ a symlink loop": (lambda folder: loop(folder / "unet"),
                             ["unet: cannot be read (Too many levels of symbolic links)"]),
    "the folder a symlink loop": (loop, ["cannot be read (Too many levels of symbolic links)"]),
}


@pytest.mark.spec("INTEROP-13")
@pytest.mark.parametrize("name", sorted(BAD_FOLDERS))
def test_a_bad_folder_is_refused_in_one_line_naming_file_and_key_and_nothing_is_written(
    exported: Path, tmp_path: Path, name: str,
) -> None:
    edit, named = BAD_FOLDERS[name]
    folder = tmp_path / "pipeline"
    shutil.copytree(exported, folder)
    edit(folder)
    code, _, stderr = cli("import", folder, "--out", tmp_path / "new" / "run")
    assert code == 2
    assert stderr.startswith("specdiff import: error: ") and stderr.count("\n") == 1, stderr
    for part in named:
        assert part in stderr, stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pipeline"], "wrote something"


# name → (options after `import FOLDER`, what the one error line must name)
BAD_OPTIONS = {
    "schedule for a pipeline folder": (["--schedule", "linear"],
                                       ["is a pipeline folder: its scheduler/ sets the schedule"]),
    "timesteps without a schedule": (["--timesteps", "10"],
                                     ["--timesteps describe the schedule of a bare unet/ folder: "
                                      "give them with --schedule"]),
    "prediction type for a pipeline folder": (["--prediction-type", "sample"],
                                              ["--prediction-type describe the schedule"]),
}


@pytest.mark.spec("INTEROP-13")
@pytest.mark.parametrize("name", sorted(BAD_OPTIONS))
def test_options_that_do_not_fit_the_folder_are_refused(exported: Path, tmp_path: Path,
                                                        name: str) -> None:
    options, named = BAD_OPTIONS[name]
    code, _, stderr = cli("import", exported, "--out", tmp_path / "run", *options)
    assert code == 2 and stderr.count("\n") == 1
    for part in named:
        assert part in stderr, stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.spec("INTEROP-13")
def test_a_bare_unet_folder_without_a_schedule_and_a_used_out_are_refused(
    exported: Path, tmp_path: Path,
) -> None:
    code, _, stderr = cli("import", exported / "unet", "--out", tmp_path / "run")
    assert code == 2
    assert "is a bare model folder (no model_index.json): give the schedule it was trained " \
           "with (--schedule)" in stderr
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    for command in (("import", exported), ("export", exported.parent / "run",
                                           "--format", "diffusers")):
        code, _, stderr = cli(*command, "--out", tmp_path / "used")
        assert code == 2
        assert "argument --out: " in stderr and "already exists and is not an empty folder" \
            in stderr
    assert [path.name for path in (tmp_path / "used").iterdir()] == ["notes.txt"]


def save_run(folder: Path, name: str, scale: int | None = None) -> Path:
    record = model_record(name, (1, 8, 8), T, scale=scale)
    identity = {"model": record, "schedule": schedule_record("linear", T), "data": "digits",
                "image_size": 8, "image_shape": [1, 8, 8], "prediction_type": "epsilon"}
    model = build_model(record)
    save_checkpoint(folder, 1, model=model, ema=model, config=identity)
    return folder


@pytest.mark.spec("INTEROP-13")
@pytest.mark.parametrize(("name", "scale", "named"), [
    ("epsconv", None, "has model 'epsconv', which diffusers' UNet2DModel does not compute"),
    ("residual", None, "has model 'residual', which diffusers' UNet2DModel does not compute"),
    ("sr-unet-tiny", 2, "a super-resolution model also reads a low-resolution image"),
])
def test_export_refuses_models_diffusers_does_not_compute_by_name(
    tmp_path: Path, name: str, scale: int | None, named: str,
) -> None:
    run = save_run(tmp_path / "run", name, scale)
    code, _, stderr = cli("export", run, "--format", "diffusers", "--out", tmp_path / "out")
    assert code == 2 and stderr.startswith("specdiff export: error: ")
    assert named in stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.spec("INTEROP-13")
def test_an_export_that_fails_while_writing_leaves_nothing(
    exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def disk_full(self: object, folder: Path, **_: object) -> None:
        (Path(folder) / "unet").mkdir()
        (Path(folder) / "unet" / "config.json").write_text("{}")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(diffusers.DDPMPipeline, "save_pretrained", disk_full)
    code, _, stderr = cli("export", exported.parent / "run", "--format", "diffusers", "--out",
                          tmp_path / "new" / "deeper" / "pipeline")
    assert code == 2
    assert stderr == "specdiff export: error: [Errno 28] No space left on device\n"
    assert list(tmp_path.iterdir()) == []  # no temporary folder, no parent folder made for it


@pytest.mark.spec("INTEROP-12")
def test_evaluate_on_a_run_imported_without_data_names_the_missing_option(
        exported: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert cli("import", exported, "--out", run)[0] == 0
    code, _, stderr = cli("evaluate", run, "--n-samples", "2")
    assert code == 2 and stderr.count("\n") == 1
    assert "records no data set" in stderr and "--data" in stderr
    assert not (run / "metrics.json").exists()
