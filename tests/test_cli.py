"""The `specdiff` command end to end on a tiny run (TRAIN-9 for its refusals)."""

import importlib
import math
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from specdiff.cli import loading, main
from specdiff.cli import train as train_command
from specdiff.cli.options import class_choice
from specdiff.diffusion import Diffusion, GuidedModel
from specdiff.spec import read_ppm
from specdiff.testing import write_png
from specdiff.train import list_checkpoints
from specdiff.train.randomness import step_generator
from specdiff.train.run import load_for_sampling
from tests import _cli_runs as cli_runs

TINY = ["--data", "digits", "--image-size", "8", "--model", "epsconv", "--timesteps", "20",
        "--batch-size", "8", "--quiet"]


def test_train_then_sample_writes_a_grid_and_a_ppm(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "3", "--out", str(run)]) == 0
    assert [p.name for p in list_checkpoints(run)] == ["checkpoint-00000003"]
    grid, ppm = tmp_path / "grid.png", tmp_path / "first.ppm"
    assert main(["sample", str(run), "--n", "6", "--steps", "5", "--scale", "2", "--quiet",
                 "--out", str(grid), "--ppm", str(ppm)]) == 0
    picture = np.asarray(Image.open(grid))
    # 6 images of 8×8 in a 3-column grid with 1-pixel borders, doubled: (2·9+1)·2 × (3·9+1)·2.
    assert picture.shape == (38, 56)
    assert read_ppm(ppm).shape == (1, 3, 8, 8)


@pytest.mark.spec("TRAIN-9")
def test_train_refuses_to_overwrite_a_run_without_resume(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
    before = {p.name: (p / "model.safetensors").read_bytes() for p in list_checkpoints(run)}
    assert main(["train", *TINY, "--steps", "4", "--out", str(run)]) == 2
    assert "resume that run" in capsys.readouterr().err
    assert {p.name: (p / "model.safetensors").read_bytes() for p in list_checkpoints(run)} == before
    assert main(["train", *TINY, "--steps", "4", "--out", str(run), "--resume"]) == 0
    assert [p.name for p in list_checkpoints(run)][-1] == "checkpoint-00000004"


def test_bad_arguments_exit_2_with_a_message(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--data", "mnist", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert "data must be" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "nothing")]) == 2


def test_conditional_sampling_writes_one_row_per_class(tmp_path: Path) -> None:
    run = tmp_path / "run"
    conditional = [*TINY[:4], "--model", "unet-tiny", *TINY[6:], "--conditional"]
    assert main(["train", *conditional, "--steps", "2", "--out", str(run)]) == 0
    grid = tmp_path / "grid.png"
    assert main(["sample", str(run), "--class", "all", "--n", "20", "--guidance", "2.0",
                 "--steps", "3", "--scale", "1", "--quiet", "--out", str(grid)]) == 0
    # 10 classes × 2 samples: 10 rows and 2 columns of 8×8 images with 1-pixel borders.
    assert np.asarray(Image.open(grid)).shape == (10 * 9 + 1, 2 * 9 + 1)
    assert main(["sample", str(run), "--class", "10", "--quiet", "--out", str(grid)]) == 2


def test_inpaint_keeps_the_known_pixels(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
    image = np.random.default_rng(0).integers(0, 256, (8, 8))
    mask = np.zeros((8, 8))
    mask[:, :4] = 255  # keep the left half
    write_png(tmp_path / "in.png", image)
    write_png(tmp_path / "mask.png", mask)
    out = tmp_path / "out.png"
    assert main(["inpaint", str(run), "--image", str(tmp_path / "in.png"), "--mask",
                 str(tmp_path / "mask.png"), "--scale", "1", "--quiet", "--out", str(out)]) == 0
    result = np.asarray(Image.open(out))[1:-1, 1:-1]  # the grid's 1-pixel border
    np.testing.assert_array_equal(result[:, :4], image[:, :4])


def test_super_resolution_trains_and_upscales(tmp_path: Path) -> None:
    run = tmp_path / "run"
    sr = [*TINY[:4], "--model", "unet-tiny", *TINY[6:], "--task", "sr", "--scale", "2"]
    assert main(["train", *sr, "--steps", "2", "--out", str(run)]) == 0
    write_png(tmp_path / "small.png", np.full((4, 4), 128))
    out = tmp_path / "big.png"
    assert main(["upscale", str(run), "--image", str(tmp_path / "small.png"), "--steps", "3",
                 "--scale", "1", "--quiet", "--out", str(out)]) == 0
    assert np.asarray(Image.open(out)).shape == (8, 8)


def test_v_prediction_with_zero_terminal_snr_trains_and_samples(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--out", str(run), "--zero-terminal-snr",
                 "--prediction-type", "v_prediction"]) == 0
    for sampler in ("ddim", "dpm_solver_pp"):
        grid = tmp_path / f"{sampler}.png"
        assert main(["sample", str(run), "--n", "4", "--steps", "5", "--sampler", sampler,
                     "--quiet", "--out", str(grid)]) == 0
        assert grid.stat().st_size > 0


def test_epsilon_prediction_with_zero_terminal_snr_is_refused(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    assert main(["train", *TINY, "--steps", "2", "--out", str(tmp_path / "run"),
                 "--zero-terminal-snr"]) == 2
    assert "prediction_type must be" in capsys.readouterr().err


@pytest.mark.spec("TRAIN-7")
def test_torchrun_trains_with_two_processes_and_rank_0_writes(tmp_path: Path) -> None:
    import subprocess
    import sys

    run = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "specdiff.cli", "train", *TINY, "--steps", "2",
               "--out", str(run)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300,
                               check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert [p.name for p in list_checkpoints(run)] == ["checkpoint-00000002"]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1  # the last step, once
    assert completed.stdout.count("training epsconv") == 1  # rank 0 only


# --- a clear error for every bad input: exit 2, one line naming the option or file ------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cli_runs.train(tmp_path_factory.mktemp("tiny") / "run")


@pytest.fixture(scope="module")
def sr_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cli_runs.train(tmp_path_factory.mktemp("sr") / "run", "--task", "sr", "--scale", "2",
                          model="unet-tiny", steps=1)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return cli_runs.write_inputs(tmp_path_factory.mktemp("inputs"))


def _error_line(capsys: pytest.CaptureFixture[str], command: str) -> str:
    """The one line on stderr, which must read ``specdiff COMMAND: error: ...``."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"specdiff {command}: error: "), err
    return err


def _files(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@pytest.mark.parametrize("command", ["sample", "inpaint", "evaluate"])
def test_generating_from_a_super_resolution_run_points_to_upscale(
    command: str, sr_run: Path, inputs: dict[str, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    extra = {"sample": ["--steps", "2"], "evaluate": ["--out", str(tmp_path / "m.json")],
             "inpaint": ["--image", str(inputs["image"]), "--mask", str(inputs["mask"])]}
    out = [] if command == "evaluate" else ["--out", str(tmp_path / "x.png")]
    before = _files(sr_run)
    assert main([command, str(sr_run), *extra[command], *out]) == 2
    line = _error_line(capsys, command)
    assert "super-resolution" in line and "specdiff upscale" in line
    assert not any(tmp_path.iterdir()) and _files(sr_run) == before


def _output_cases(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.txt").write_text("a file")
    too_long = "n" * (os.pathconf(tmp_path, "PC_NAME_MAX") + 1)
    return {"an existing folder": tmp_path / "folder", "below a file": tmp_path / "file.txt" / "x",
            "in a folder that takes no files": Path("/proc/specdiff-cannot-write/x.png"),
            "named longer than the file system takes": tmp_path / f"{too_long}.png",
            "in a folder named too long": tmp_path / too_long / "x.png"}


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("problem", ["an existing folder", "below a file",
                                     "in a folder that takes no files",
                                     "named longer than the file system takes",
                                     "in a folder named too long"])
@pytest.mark.parametrize(("command", "option"), [("sample", "--out"), ("sample", "--ppm"),
                                                 ("inpaint", "--out"), ("upscale", "--out"),
                                                 ("evaluate", "--out")])
def test_an_output_that_cannot_be_written_is_refused_before_loading_the_run(
    command: str, option: str, problem: str, tmp_path: Path, inputs: dict[str, Path],
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _output_cases(tmp_path)[problem]
    before = _files(tmp_path)

    def loaded_too_early(*_: object) -> None:
        pytest.fail("the run was loaded before the output path was checked")

    monkeypatch.setattr(loading, "load_for_sampling", loaded_too_early)
    extra = {"inpaint": ["--image", str(inputs["image"]), "--mask", str(inputs["mask"])],
             "upscale": ["--image", str(inputs["small"])]}.get(command, [])
    if option == "--ppm":
        extra += ["--out", str(tmp_path / "grid.png")]
    assert main([command, str(tmp_path / "run"), *extra, option, str(path)]) == 2
    line = _error_line(capsys, command)
    assert f"argument {option}: {path}" in line
    assert _files(tmp_path) == before


@pytest.mark.parametrize("problem", ["an existing file", "below a file", "named too long"])
def test_a_train_out_that_cannot_be_a_run_folder_is_refused_before_training(
    problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file.txt").write_text("a file")
    out = {"an existing file": tmp_path / "file.txt", "below a file": tmp_path / "file.txt" / "r",
           "named too long": tmp_path / ("n" * 300) / "run"}[problem]
    assert main(["train", *cli_runs.TINY, "--model", "epsconv", "--steps", "1",
                 "--out", str(out)]) == 2
    assert f"argument --out: {out}" in _error_line(capsys, "train")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.parametrize("header", [b"\xff" * 8, b"\x0a" + b"\x00" * 7 + b"not json!!"])
def test_a_corrupt_safetensors_header_exits_2_naming_the_run(
    header: bytes, tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    for tensors in run.glob("checkpoint-*/*.safetensors"):
        data = tensors.read_bytes()
        tensors.write_bytes(header + data[len(header):])
    out = tmp_path / "x.png"
    assert main(["sample", str(run), "--steps", "2", "--quiet", "--out", str(out)]) == 2
    assert str(run) in _error_line(capsys, "sample")
    assert not out.exists()


# (command, option, value, what the message must say): every one is refused at parse time.
BAD_VALUES = [
    ("train", "--image-size", "100000000", "[8, 1024]"),
    ("train", "--scale", "0", "[2, 64]"),
    ("train", "--seed", "-1", "[0, 2**22)"),
    ("train", "--seed", str(2**22), "[0, 2**22)"),
    ("train", "--steps", "0", "[1, 1000000000]"),
    ("train", "--batch-size", "99999999", "[1, 65536]"),
    ("train", "--timesteps", "0", "[1, 100000]"),
    ("train", "--lr", "nan", "(0, 1]"),
    ("train", "--lr", "1e999", "(0, 1]"),
    ("train", "--ema-decay", "1", "[0, 1)"),
    ("train", "--p-uncond", "-0.5", "[0, 1]"),
    ("train", "--grad-clip", "0", "(0, 1000000]"),
    ("train", "--min-snr-gamma", "0", "(0, 1000000]"),
    ("train", "--min-snr-gamma", "inf", "(0, 1000000]"),
    ("evaluate", "--steps", "0", "[1, 100000]"),
    ("evaluate", "--eta", "2", "[0, 1]"),
    ("train", "--warmup", "１０", "[0, 1000000000]"),  # fullwidth digits: int() takes them
    ("sample", "--seed", "-1", "[0, 2**32)"),
    ("sample", "--seed", str(2**32), "[0, 2**32)"),
    ("sample", "--scale", "0", "[1, 32]"),
    ("sample", "--class", "³", "'all' or an integer"),  # str.isdigit() says yes
    ("sample", "--class", "-1", "'all' or an integer"),
    ("sample", "--n", "0", "[1, 65536]"),
    ("sample", "--steps", "1_0", "[1, 100000]"),
    ("sample", "--eta", "inf", "[0, 1]"),
    ("sample", "--guidance", "nan", "[0, 100]"),
    ("sample", "--guidance", "٢", "[0, 100]"),  # Arabic-Indic two: float() takes it
    ("sample", "--device", "tpu", "choose from"),
    ("inpaint", "--jump", "0", "[1, 100000]"),
    ("inpaint", "--resample", "", "[1, 1000]"),
    ("upscale", "--steps", " 5", "[1, 100000]"),
    ("evaluate", "--seed", str(2**32), "[0, 2**32)"),
    ("evaluate", "--vlb-timesteps", "0x10", "[1, 100000]"),
    ("evaluate", "--n-samples", "-5", "[1, 65536]"),
]


@pytest.mark.parametrize(("command", "option", "value", "accepted"), BAD_VALUES)
def test_a_value_outside_its_range_exits_2_naming_the_option_and_the_range(
    command: str, option: str, value: str, accepted: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    required = {"train": ["--steps", "1", "--out", str(tmp_path / "run")],
                "inpaint": ["--image", "x.png", "--mask", "m.png"],
                "upscale": ["--image", "x.png"]}.get(command, [])
    positional = [] if command == "train" else [str(tmp_path / "run")]
    assert main([command, *positional, *required, f"{option}={value}"]) == 2
    line = _error_line(capsys, command)
    assert f"argument {option}:" in line and accepted in line, line
    assert not any(tmp_path.iterdir())


def test_scale_without_task_sr_is_refused(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *cli_runs.TINY, "--steps", "1", "--out", str(tmp_path / "r"),
                 "--scale", "4"]) == 2
    assert "--scale" in _error_line(capsys, "train")


def test_the_train_seed_range_is_the_trainers(tmp_path: Path) -> None:
    # TRAIN-4 encodes the seed in 22 bits of the step generators' seeds: the CLI's range must be
    # exactly the range step_generator takes.
    step_generator(2**22 - 1, 0)
    with pytest.raises(ValueError, match="seed"):
        step_generator(2**22, 0)
    cli_runs.train(tmp_path / "run", "--seed", str(2**22 - 1), steps=1)


def test_the_largest_sampling_seed_is_accepted(tiny_run: Path, tmp_path: Path) -> None:
    # torch's CPU generator keeps the low 32 bits of a seed (s and s + 2^32 draw the same): the
    # CLI takes [0, 2^32), so each seed names its own stream.
    for seed in ("0", str(2**32 - 1)):
        assert main(["sample", str(tiny_run), "--n", "1", "--steps", "2", "--quiet",
                     "--seed", seed, "--out", str(tmp_path / f"{seed}.png")]) == 0
    assert (tmp_path / "0.png").read_bytes() != (tmp_path / f"{2**32 - 1}.png").read_bytes()


# --- every sampling flag has its effect: the CLI's picture is the library call it names -------

def _quantize(x: torch.Tensor) -> np.ndarray:
    """IMG-1 from its statement: ⌊(clip(x, −1, 1) + 1)·127.5 + 0.5⌋ (grey: channel 0)."""
    values = np.clip(x.detach().double().cpu().numpy()[:, 0], -1.0, 1.0)
    return np.floor((values + 1.0) * 127.5 + 0.5).astype(np.uint8)


def _grid_cells(png: Path, count: int, columns: int, side: int = 8) -> np.ndarray:
    """The ``count`` side×side images of a --scale 1 grid with 1-pixel borders, row by row."""
    picture = np.asarray(Image.open(png))
    cells = []
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = 1 + row * (side + 1), 1 + column * (side + 1)
        cells.append(picture[top : top + side, left : left + side])
    return np.stack(cells)


def _sample(run: Path, out: Path, *options: str) -> np.ndarray:
    """The images ``specdiff sample RUN --scale 1 OPTIONS`` writes, cut from its grid."""
    assert main(["sample", str(run), "--scale", "1", "--quiet", "--device", "cpu",
                 "--out", str(out), *options]) == 0
    count = int(options[len(options) - 1 - options[::-1].index("--n") + 1])  # the last --n
    return _grid_cells(out, count, math.ceil(math.sqrt(count)))


SAMPLER_FLAGS = {  # options beyond --n 3 --steps 5 → the generate() arguments they mean
    "defaults": ([], {}),
    "--eta 1": (["--eta", "1"], {"eta": 1.0}),
    "--sampler pndm": (["--sampler", "pndm"], {"sampler": "pndm"}),
    "--sampler dpm_solver_pp": (["--sampler", "dpm_solver_pp"], {"sampler": "dpm_solver_pp"}),
    "--sampler ddpm": (["--sampler", "ddpm"], {"sampler": "ddpm", "steps": None}),
    "--sampler heun": (["--sampler", "heun"], {"sampler": "heun"}),
    "--sampler dpmpp_sde --eta 1": (["--sampler", "dpmpp_sde", "--eta", "1"],
                                    {"sampler": "dpmpp_sde", "eta": 1.0}),
    "--steps 3": (["--steps", "3"], {"steps": 3}),
    "--seed 7": (["--seed", "7"], {"seed": 7}),
    "--n 5": (["--n", "5"], {"n": 5}),
}


@pytest.mark.parametrize("flags", sorted(SAMPLER_FLAGS))
def test_each_sampling_flag_gives_the_library_call_it_names(flags: str, tiny_run: Path,
                                                            tmp_path: Path) -> None:
    options, meaning = SAMPLER_FLAGS[flags]
    call = {"n": 3, "steps": 5, "sampler": "ddim", "eta": 0.0, "seed": 0} | meaning
    diffusion, _, _ = load_for_sampling(tiny_run)
    expected = _quantize(diffusion.generate((call.pop("n"), 1, 8, 8), **call))
    written = _sample(tiny_run, tmp_path / "grid.png", "--n", "3", "--steps", "5", *options)
    np.testing.assert_array_equal(written, expected)
    if flags != "defaults":  # and the flag is not ignored
        defaults = _sample(tiny_run, tmp_path / "defaults.png", "--n", "3", "--steps", "5")
        assert not np.array_equal(written, defaults)


def test_scale_enlarges_each_pixel_and_ppm_holds_the_first_sample(tiny_run: Path,
                                                                   tmp_path: Path) -> None:
    common = ["sample", str(tiny_run), "--n", "2", "--steps", "3", "--quiet"]
    assert main([*common, "--scale", "1", "--out", str(tmp_path / "1.png"),
                 "--ppm", str(tmp_path / "first.ppm")]) == 0
    assert main([*common, "--scale", "3", "--out", str(tmp_path / "3.png")]) == 0
    small, large = (np.asarray(Image.open(tmp_path / name)) for name in ("1.png", "3.png"))
    np.testing.assert_array_equal(large, small.repeat(3, axis=0).repeat(3, axis=1))
    first = _grid_cells(tmp_path / "1.png", 1, 2)[0]
    np.testing.assert_array_equal(read_ppm(tmp_path / "first.ppm")[0],
                                  np.stack([first / 127.5 - 1.0] * 3))  # IMG-3


@pytest.fixture(scope="module", params=["epsilon", "v_prediction"])
def conditional_run(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A large learning rate, so that three steps make the samples depend on the class.
    return cli_runs.train(tmp_path_factory.mktemp("conditional") / "run", "--conditional",
                          "--prediction-type", request.param, "--lr", "0.05",
                          model="unet-tiny", steps=3)


def test_class_and_guidance_give_the_guided_model_at_w(conditional_run: Path,
                                                       tmp_path: Path) -> None:
    diffusion, config, _ = load_for_sampling(conditional_run)
    num_classes = config["model"]["config"]["num_classes"]
    labels = torch.full((3,), 3)

    def guided(w: float) -> np.ndarray:  # COND-2's model, sampled with the run's parameterization
        model = GuidedModel(diffusion.model, labels, w, num_classes)
        guided_diffusion = Diffusion(model, diffusion.schedule,
                                     prediction_type=diffusion.prediction_type)
        return _quantize(guided_diffusion.generate((3, 1, 8, 8), steps=4, seed=0))

    def cli(*options: str) -> np.ndarray:
        return _sample(conditional_run, tmp_path / "grid.png", "--n", "3", "--steps", "4",
                       *options)

    conditional = cli("--class", "3")
    np.testing.assert_array_equal(conditional, _quantize(diffusion.generate(
        (3, 1, 8, 8), steps=4, seed=0, conditioning={"class_labels": labels})))
    np.testing.assert_array_equal(conditional, guided(1.0))
    strong = cli("--class", "3", "--guidance", "2.5")
    np.testing.assert_array_equal(strong, guided(2.5))
    assert not np.array_equal(strong, conditional)
    assert not np.array_equal(cli("--class", "4"), conditional)
    np.testing.assert_array_equal(cli("--class", "3", "--guidance", "0"), guided(0.0))


@pytest.mark.parametrize("command", ["train", "sample", "inpaint", "upscale", "evaluate"])
def test_help_shows_each_number_options_range(command: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "--seed SEED in [0, 2**" in shown


def test_class_all_is_read_by_value_not_identity() -> None:
    # argv strings are not interned: a parser comparing with `is` would miss a built 'all'.
    assert class_choice("".join(["al", "l"])) == "all"
    assert class_choice("3") == 3


@pytest.mark.parametrize("command", ["train", "sample", "inpaint", "upscale", "evaluate"])
@pytest.mark.parametrize("threads", [None, "1", "3"])
def test_a_command_runs_with_the_threads_asked_for_and_restores_them(
    command: str, threads: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[int] = []

    def record_threads(_: object) -> int:
        seen.append(torch.get_num_threads())
        return 0

    monkeypatch.setattr(importlib.import_module(f"specdiff.cli.{command}"), "run", record_threads)
    before = torch.get_num_threads()
    arguments = {"train": ["--steps", "1", "--out", str(tmp_path / "run")],
                 "inpaint": [str(tmp_path), "--image", "x.png", "--mask", "m.png"],
                 "upscale": [str(tmp_path), "--image", "x.png"]}.get(command, [str(tmp_path)])
    assert main([command, *arguments, *(["--threads", threads] if threads else [])]) == 0
    assert seen == [int(threads) if threads else 1]  # one thread unless asked
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("threads", ["0", "-1", "1025", "2.5", "two"])
def test_a_thread_count_outside_its_range_is_refused_by_name(
    threads: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["sample", str(tmp_path), "--threads", threads]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--threads" in error and "[1, 1024]" in error


def _train_handed_over(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict[str, Any]:
    """What `specdiff train ARGV` hands the library: train_run's config and keywords (stubbed,
    so nothing trains)."""
    handed: dict[str, Any] = {}

    def fake_train_run(out: str, config: Any, **keywords: Any) -> Any:
        handed.update(config=config, **keywords)
        return SimpleNamespace(steps=config.steps, last_loss=0.5, checkpoint=f"{out}/ckpt")

    monkeypatch.setattr(train_command, "train_run", fake_train_run)
    assert main(["train", *argv]) == 0
    return handed


def test_train_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    # README "The command line": Adam with clipping at 1; `specdiff train --help` states the
    # rest. A changed default silently changes every run that leaves the option out.
    config = _train_handed_over(monkeypatch, ["--steps", "7", "--out", str(tmp_path)])["config"]
    assert (config.steps, config.grad_clip, config.learning_rate, config.warmup_steps,
            config.ema_decay, config.seed, config.batch_size) == (7, 1.0, 1e-4, 0, 0.999, 0, 64)
    assert config.horizontal_flip is False  # digits are not mirrored
    assert config.min_snr_gamma is None  # SAMP-8's plain mean unless asked


def test_train_hands_min_snr_gamma_to_the_trainer(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    argv = ["--steps", "7", "--out", str(tmp_path), "--min-snr-gamma", "5"]
    assert _train_handed_over(monkeypatch, argv)["config"].min_snr_gamma == 5.0


@pytest.mark.parametrize("rank", [0, 1])
def test_only_rank_0_prints_the_done_line(rank: int, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(train_command.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(train_command.dist, "get_rank", lambda: rank)
    _train_handed_over(monkeypatch, ["--steps", "3", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert printed == (f"done: step 3, loss 0.5000, checkpoint {tmp_path}/ckpt\n" if rank == 0
                       else "")
