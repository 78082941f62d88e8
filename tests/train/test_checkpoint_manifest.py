"""CKPT-9: an edited checkpoint.json either loads the saved weights and samples, or is refused
with a ValueError naming the file (and the key); never another exception, never a hang."""

import copy
import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from safetensors.torch import load_file

from specdiff import typecheck
from specdiff.cli import main
from specdiff.nn import EpsConvNetConfig, UNetConfig
from specdiff.train import TrainConfig
from specdiff.train.run import load_for_sampling, train_run

RUNS = ("epsconv", "unet-tiny")
# What sampling reads; an edit elsewhere (extra, train settings, optimizer) must not change it.
IDENTITY = ("format_version", "files", "config/model", "config/schedule", "config/image_shape",
            "config/prediction_type")


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


class _AsText:
    def __repr__(self) -> str:
        return "AS_TEXT"


DELETE, AS_TEXT = _Delete(), _AsText()
VALUES = [None, True, 0, 1, -1, 3, 2.5, 2**64, float("nan"), float("inf"), "", "x", "epsilon",
          "cosine", "unet-tiny", [], {}, [1, 8, 8], [3, 8, 8], [1, 8]]
MODEL_FIELDS = sorted({field.name for config in (UNetConfig, EpsConvNetConfig)
                       for field in dataclasses.fields(config)})
PATHS: list[tuple[str | int, ...]] = [
    (), ("format_version",), ("specdiff_version",), ("step",), ("extra",), ("optimizer",),
    ("files",), ("files", "model.safetensors"), ("files", "ema.safetensors", "size"),
    ("files", "ema.safetensors", "sha256"), ("files", "evil/../../x.safetensors"),
    ("config",), ("config", "data"), ("config", "image_size"), ("config", "train"),
    ("config", "prediction_type"), ("config", "image_shape"),
    *[("config", "image_shape", index) for index in range(3)],
    ("config", "schedule"), ("config", "schedule", "kind"), ("config", "schedule", "T"),
    ("config", "schedule", "beta_end"), ("config", "schedule", "zero_terminal_snr"),
    ("config", "model"), ("config", "model", "name"), ("config", "model", "config"),
    *[("config", "model", "config", name) for name in MODEL_FIELDS],
    ("config", "model", "config", "channel_mults", 1),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny trained checkpoint per model kind."""
    root = tmp_path_factory.mktemp("runs")
    for model in RUNS:
        train_run(root / model, TrainConfig(steps=1, batch_size=4), model=model, timesteps=20,
                  image_size=8, device="cpu", progress=False)
    return {model: root / model / "checkpoint-00000001" for model in RUNS}


def _edited(manifest: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """``manifest`` with the entry at ``path`` deleted, turned into text or replaced (added);
    unchanged where ``path`` leads nowhere."""
    edited = copy.deepcopy(manifest)
    if not path:
        return str(edited) if value is AS_TEXT else edited if value is DELETE else value
    parent = edited
    for key in path[:-1]:
        if not _has(parent, key):
            return edited
        parent = parent[key]
    key = path[-1]
    if value is DELETE or value is AS_TEXT:
        if not _has(parent, key):
            return edited
        if value is DELETE:
            del parent[key]
        else:
            parent[key] = json.dumps(parent[key])
    elif isinstance(parent, dict) or _has(parent, key):
        parent[key] = value
    return edited


def _has(container: Any, key: str | int) -> bool:
    if isinstance(container, dict):
        return key in container
    return isinstance(container, list) and isinstance(key, int) and key < len(container)


def _copy_with_manifest(checkpoint: Path, folder: Path, manifest: Any) -> Path:
    """A copy of ``checkpoint`` (tensor files hard-linked) whose checkpoint.json is ``manifest``."""
    copy_folder = folder / checkpoint.name
    copy_folder.mkdir()
    for file in checkpoint.glob("*.safetensors"):
        os.link(file, copy_folder / file.name)
    (copy_folder / "checkpoint.json").write_text(json.dumps(manifest))
    return copy_folder


def _touches_identity(path: tuple[str | int, ...]) -> bool:
    joined = "/".join(str(key) for key in path)
    return any(joined == part or joined.startswith(f"{part}/") or part.startswith(f"{joined}/")
               for part in IDENTITY) or not path


@pytest.mark.spec("CKPT-9")
@given(model=st.sampled_from(RUNS),
       edits=st.lists(st.tuples(st.sampled_from(PATHS),
                                st.sampled_from([DELETE, AS_TEXT, *VALUES])),
                      min_size=1, max_size=3),
       checks=st.booleans())
@example(model="unet-tiny", edits=[(("config",), None)], checks=True)
@example(model="unet-tiny", edits=[(("config", "model"), "unet-tiny")], checks=True)
@example(model="unet-tiny", edits=[(("config", "model", "config", "channel_mults"), DELETE)],
         checks=False)
@example(model="epsconv", edits=[(("config", "image_shape"), [1, 8])], checks=True)
@example(model="epsconv", edits=[(("step",), 2.5)], checks=True)
@example(model="epsconv", edits=[(("step",), -1)], checks=False)
@example(model="unet-tiny", edits=[(("config", "schedule", "T"), 3)], checks=True)
@example(model="epsconv", edits=[(("config", "model", "name"), "x")], checks=True)
def test_an_edited_manifest_loads_correctly_or_is_refused_by_name(
        runs: dict[str, Path], model: str, edits: list[tuple[tuple[str | int, ...], Any]],
        checks: bool) -> None:
    checkpoint = runs[model]
    manifest = json.loads((checkpoint / "checkpoint.json").read_text())
    edited = manifest
    for path, value in edits:
        edited = _edited(edited, path, value)
    with tempfile.TemporaryDirectory() as folder, typecheck(checks):
        copy_folder = _copy_with_manifest(checkpoint, Path(folder), edited)
        try:
            diffusion, identity, info = load_for_sampling(copy_folder)
            samples = diffusion.generate((2, *identity["image_shape"]), steps=2, seed=0)
        except ValueError as error:
            assert str(copy_folder) in str(error), error
            assert "checkpoint.json" in str(error) or ".safetensors" in str(error), error
            assert "\n" not in str(error)
            return
    # It loaded: the model holds exactly the saved EMA weights, and the samples fit the run.
    saved = load_file(checkpoint / "ema.safetensors")
    loaded = diffusion.model.state_dict()
    assert loaded.keys() == saved.keys()
    assert all(torch.equal(loaded[key], saved[key]) for key in saved)
    assert info.step == manifest["step"]
    assert samples.shape == (2, *identity["image_shape"]) and bool(samples.isfinite().all())
    if edited == manifest or not any(_touches_identity(path) for path, _ in edits):
        reference, original, _ = load_for_sampling(checkpoint)
        assert torch.equal(samples, reference.generate((2, *original["image_shape"]), steps=2,
                                                       seed=0))


@pytest.mark.spec("CKPT-9")
@pytest.mark.parametrize(("model", "path", "value", "named"), [
    ("unet-tiny", ("config",), None, "config"),
    ("unet-tiny", ("config", "model"), "unet-tiny", "config.model"),
    ("unet-tiny", ("config", "model", "config", "channel_mults"), DELETE,
     "config.model.config.channel_mults"),
    ("unet-tiny", ("config", "model", "config", "dropout"), "0.1",
     "config.model.config.dropout"),
    ("epsconv", ("config", "image_shape"), [1, 8], "config.image_shape"),
    ("unet-tiny", ("config", "image_shape"), [1, 16, 16], "config.image_shape"),
    ("epsconv", ("step",), 2.5, "step"),
    ("epsconv", ("step",), -1, "step"),
    ("epsconv", ("step",), "1", "step"),
    ("unet-tiny", ("config", "schedule", "T"), 10, "config.schedule.T"),
    ("epsconv", ("config", "model", "name"), "transformer", "config.model.name"),
])
def test_sample_names_the_file_and_the_edited_key_in_one_line(
        runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str,
        path: tuple[str | int, ...], value: Any, named: str) -> None:
    manifest = json.loads((runs[model] / "checkpoint.json").read_text())
    folder = _copy_with_manifest(runs[model], tmp_path, _edited(manifest, path, value))
    assert main(["sample", str(folder), "--n", "2", "--steps", "2", "--quiet",
                 "--out", str(tmp_path / "grid.png")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"specdiff sample: error: {folder / 'checkpoint.json'}: {named} "), \
        error
    assert error.count("\n") == 1
    assert not (tmp_path / "grid.png").exists()
