"""CKPT-1..5: exact, atomic, pruned checkpoints that refuse what does not fit."""

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from specdiff.train import (
    CheckpointError,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_checkpoint_info,
    save_checkpoint,
)
from tests.train.checkpoint_writer import CONFIG as WRITER_CONFIG
from tests.train.checkpoint_writer import (
    FREE_RUNNING_DELAYS,
    KILL_POINTS,
    adam_with_state,
    model_of,
)

CONFIG = {"model": {"channels": 8, "depth": 2}, "lr": 1e-3, "betas": [0.9, 0.999]}
WRITER = Path(__file__).with_name("checkpoint_writer.py")


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.SiLU(),
                         nn.Conv2d(4, 1, 3, padding=1))


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
           steps: int) -> None:
    """Steps whose data come from ``generator`` and whose dropout-like noise comes from the
    global RNG, so resuming is exact only if both RNG states are restored."""
    for _ in range(steps):
        x = torch.randn(2, 1, 6, 6, generator=generator)
        noise = torch.randn(2, 1, 6, 6)
        loss = (model(x) - noise).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _assert_same_state(actual: Any, expected: Any, where: str = "state") -> None:
    """Same structure, same types (any mapping for a mapping), bit-equal tensors and dtypes."""
    if isinstance(expected, Mapping):
        assert isinstance(actual, Mapping), f"{where}: {type(actual)} is not a mapping"
    else:
        assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, torch.Tensor):
        assert actual.dtype == expected.dtype and torch.equal(actual, expected), where
    elif isinstance(expected, Mapping):
        assert list(actual) == list(expected), f"{where}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            _assert_same_state(actual[key], expected[key], f"{where}/{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same_state(a, e, f"{where}/{index}")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.mark.spec("CKPT-1")
def test_save_then_load_is_bit_exact(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model, ema = _net(), _net()
    ema_as_dict = {name: tensor.clone() + 1 for name, tensor in _net().state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.99))
    generator = torch.Generator().manual_seed(5)
    _train(model, optimizer, generator, steps=3)
    path = save_checkpoint(tmp_path, 3, model=model, optimizer=optimizer, ema=ema,
                           generators={"data": generator}, config=CONFIG,
                           extra={"loss": 0.25, "tag": "x"})
    save_checkpoint(tmp_path / "dict-ema", 3, model=model, ema=ema_as_dict, config=CONFIG)
    expected_draws = (torch.rand(4, generator=generator), torch.rand(4))
    torch.manual_seed(123)  # disturb the global RNG and the generator before loading
    generator.manual_seed(123)

    torch.manual_seed(99)
    model2, ema2, ema2_dict = _net(), _net(), {k: torch.zeros_like(v) for k, v in
                                                ema_as_dict.items()}
    optimizer2 = torch.optim.Adam(model2.parameters(), lr=1e-2, betas=(0.8, 0.99))
    generator2 = torch.Generator()
    load_checkpoint(tmp_path / "dict-ema", model=_net(), ema=ema2_dict)
    info = load_checkpoint(tmp_path, model=model2, optimizer=optimizer2, ema=ema2,
                           generators={"data": generator2}, expected_config=CONFIG)

    assert (info.path, info.step, info.config, info.extra) == (path, 3, CONFIG,
                                                               {"loss": 0.25, "tag": "x"})
    _assert_same_state(model2.state_dict(), model.state_dict(), "model")
    _assert_same_state(ema2.state_dict(), ema.state_dict(), "ema")
    _assert_same_state(ema2_dict, ema_as_dict, "ema dict")
    _assert_same_state(optimizer2.state_dict(), optimizer.state_dict(), "optimizer")
    assert torch.equal(torch.rand(4, generator=generator2), expected_draws[0])
    assert torch.equal(torch.rand(4), expected_draws[1])
    assert read_checkpoint_info(path).config == CONFIG


@pytest.mark.spec("CKPT-1")
def test_resumed_training_is_bit_identical_to_uninterrupted_training(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(1)
    _train(model, optimizer, generator, steps=2)
    save_checkpoint(tmp_path, 2, model=model, optimizer=optimizer,
                    generators={"data": generator}, config=CONFIG)
    _train(model, optimizer, generator, steps=3)

    torch.manual_seed(7)
    resumed = _net()
    resumed_optimizer = torch.optim.Adam(resumed.parameters(), lr=1e-2)
    resumed_generator = torch.Generator()
    load_checkpoint(tmp_path, model=resumed, optimizer=resumed_optimizer,
                    generators={"data": resumed_generator})
    _train(resumed, resumed_optimizer, resumed_generator, steps=3)
    _assert_same_state(resumed.state_dict(), model.state_dict(), "model")
    _assert_same_state(resumed_optimizer.state_dict(), optimizer.state_dict(), "optimizer")


@pytest.mark.spec("CKPT-3")
def test_keeps_the_last_k_and_replaces_a_step_saved_again(tmp_path: Path) -> None:
    model = _net()
    for step in (10, 20, 30, 40):
        save_checkpoint(tmp_path, step, model=model, config=CONFIG, keep=2)
    assert [path.name for path in list_checkpoints(tmp_path)] == ["checkpoint-00000030",
                                                                  "checkpoint-00000040"]
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["checkpoint-00000030",
                                                                  "checkpoint-00000040"]
    save_checkpoint(tmp_path, 40, model=model, config=CONFIG, extra={"again": True}, keep=2)
    assert read_checkpoint_info(tmp_path).extra == {"again": True}
    # An older step saved after newer ones is kept even though it is not among the K newest.
    save_checkpoint(tmp_path, 5, model=model, config=CONFIG, keep=1)
    assert [path.name for path in list_checkpoints(tmp_path)] == ["checkpoint-00000005",
                                                                  "checkpoint-00000040"]
    save_checkpoint(tmp_path, 50, model=model, config=CONFIG, keep=None)
    assert len(list_checkpoints(tmp_path)) == 3
    with pytest.raises(ValueError, match="keep must be an int >= 1, got 0"):
        save_checkpoint(tmp_path, 60, model=model, config=CONFIG, keep=0)


@pytest.mark.spec("CKPT-2")
def test_partial_and_corrupt_folders_are_ignored(tmp_path: Path) -> None:
    model = _net()
    assert latest_checkpoint(tmp_path / "no-run-yet") is None
    good = save_checkpoint(tmp_path, 1, model=model, config=CONFIG)
    # A save killed before its rename, a folder without manifest, a truncated file, junk.
    (tmp_path / ".checkpoint-00000002.999999999.tmp").mkdir()
    (tmp_path / "checkpoint-00000003").mkdir()
    truncated = save_checkpoint(tmp_path / "other", 4, model=model, config=CONFIG)
    os.rename(truncated, tmp_path / "checkpoint-00000004")
    model_file = tmp_path / "checkpoint-00000004" / "model.safetensors"
    model_file.write_bytes(model_file.read_bytes()[:-8])
    corrupt_manifest = tmp_path / "checkpoint-00000005"
    corrupt_manifest.mkdir()
    (corrupt_manifest / "checkpoint.json").write_text('{"files": {"model.saf')
    (tmp_path / "checkpoint-latest").mkdir()
    assert latest_checkpoint(tmp_path) == good
    assert list_checkpoints(tmp_path) == [good]
    with pytest.raises(CheckpointError, match=r"model.safetensors: is 732 bytes, but "
                                              r"checkpoint.json "
                                              r"records 740 \(truncated or replaced\)"):
        load_checkpoint(tmp_path / "checkpoint-00000004", model=model)
    # The next save deletes the leftover of the dead process.
    save_checkpoint(tmp_path, 6, model=model, config=CONFIG)
    assert not (tmp_path / ".checkpoint-00000002.999999999.tmp").exists()


@pytest.mark.spec("CKPT-4")
def test_a_different_config_is_refused_naming_each_key_and_both_values(tmp_path: Path) -> None:
    model = _net()
    save_checkpoint(tmp_path, 1, model=model, config=CONFIG)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    other = {"model": {"channels": 16, "depth": 2}, "lr": 1e-3, "betas": (0.9, 0.999),
             "dropout": 0.1}
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(tmp_path, model=_net(), expected_config=other)
    message = str(refused.value)
    assert "model.channels: checkpoint has 8, expected 16" in message
    assert "dropout: checkpoint has '<missing>', expected 0.1" in message
    assert "betas" not in message and "lr" not in message  # a tuple equals its JSON list
    _assert_same_state(model.state_dict(), before)
    with pytest.raises(TypeError, match="config must be JSON-serializable"):
        save_checkpoint(tmp_path, 2, model=model, config={"device": torch.device("cpu")})


@pytest.mark.spec("CKPT-5")
def test_tensors_that_do_not_fit_are_refused_before_anything_changes(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, 1, model=_net(), config=CONFIG)
    target = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.GroupNorm(2, 4))
    with pytest.raises(CheckpointError, match=r"missing from the checkpoint \[\], "
                                              r"unexpected in the checkpoint \['3.bias', "
                                              r"'3.weight'\]"):
        load_checkpoint(tmp_path, model=target)
    wider = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.SiLU(),
                          nn.Conv2d(8, 1, 3, padding=1))
    with pytest.raises(CheckpointError, match=r"0.weight: checkpoint \(4, 1, 3, 3\), "
                                              r"model \(8, 1, 3, 3\)"):
        load_checkpoint(tmp_path, model=wider)
    model = _net()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(CheckpointError, match="has no optimizer state"):
        load_checkpoint(tmp_path, model=model, optimizer=optimizer)
    with pytest.raises(CheckpointError, match="has no ema state"):
        load_checkpoint(tmp_path, model=model, ema=_net())
    with pytest.raises(CheckpointError, match=r"no state for generator\(s\) \['noise'\]"):
        load_checkpoint(tmp_path, model=model, generators={"noise": torch.Generator()})
    _assert_same_state(model.state_dict(), before)
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(FileNotFoundError, match="neither a checkpoint"):
        load_checkpoint(tmp_path / "empty-run", model=model)


def _assert_loads_one_steps_contents(run_dir: Path) -> int:
    """The latest checkpoint loads, and every tensor in it is of the same step; returns it."""
    path = latest_checkpoint(run_dir)
    assert path is not None
    model, ema = model_of(0), model_of(0)
    optimizer = adam_with_state(model, 0)
    info = load_checkpoint(run_dir, model=model, optimizer=optimizer, ema=ema,
                           expected_config=WRITER_CONFIG, restore_global_rng=False)
    step = info.step
    assert info.extra == {"step": step} and path.name == f"checkpoint-{step:08d}"
    assert all(bool((parameter == step).all()) for parameter in model.parameters())
    assert all(bool((parameter == step + 0.5).all()) for parameter in ema.parameters())
    for state in optimizer.state.values():
        assert all(bool((state[key] == step).all()) for key in ("exp_avg", "exp_avg_sq", "step"))
    return step


@pytest.mark.spec("CKPT-2")
def test_sigkill_at_any_point_of_a_save_leaves_a_complete_checkpoint(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, str(WRITER), str(tmp_path)], capture_output=True,
                              text=True, timeout=60, check=True)
    endings = dict(line.split() for line in finished.stdout.splitlines())
    assert set(endings.values()) == {str(int(signal.SIGKILL))}, finished.stdout
    for point in KILL_POINTS:
        run_dir = tmp_path / f"kill-at-{point}"
        leftovers = [entry.name for entry in run_dir.iterdir() if entry.name.startswith(".")]
        assert bool(leftovers) == (point < 7), leftovers  # killed mid-save, for real
        # Killed before the rename: the previous checkpoint; after it: the new one.
        assert _assert_loads_one_steps_contents(run_dir) == (2 if point < 7 else 3)
    for delay in FREE_RUNNING_DELAYS:
        _assert_loads_one_steps_contents(tmp_path / f"free-{delay}")
    # The run goes on: the next save cleans up what the kill left and prunes as usual.
    run_dir = tmp_path / "kill-at-1"
    save_checkpoint(run_dir, 4, model=model_of(4), config=WRITER_CONFIG, keep=2)
    assert sorted(entry.name for entry in run_dir.iterdir()) == ["checkpoint-00000002",
                                                                 "checkpoint-00000004"]


def _flip_a_byte(path: Path) -> None:
    """Flip one byte in the middle of the file: inside the tensor data, not the header."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2 + 1] ^= 0x10
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-8])


def _malformed_manifest(folder: Path) -> None:
    (folder / "checkpoint.json").write_text('{"files": {"model.saf')


def _manifest_step_as_text(folder: Path) -> None:
    manifest = json.loads((folder / "checkpoint.json").read_text())
    (folder / "checkpoint.json").write_text(json.dumps({**manifest, "step": "2"}))


@pytest.mark.spec("CKPT-7")
@pytest.mark.parametrize("name", ["model.safetensors", "ema.safetensors"])
def test_a_flipped_byte_in_a_tensor_file_is_refused_naming_the_file(tmp_path: Path,
                                                                     name: str) -> None:
    path = save_checkpoint(tmp_path, 1, model=_net(), ema=_net(), config=CONFIG)
    manifest = json.loads((path / "checkpoint.json").read_text())
    assert manifest["format_version"] == 2
    for file in path.glob("*.safetensors"):  # a digest anyone can recompute, for every file
        assert manifest["files"][file.name] == {
            "size": file.stat().st_size, "sha256": hashlib.sha256(file.read_bytes()).hexdigest()}
    _flip_a_byte(path / name)
    model = _net()
    before = {key: tensor.clone() for key, tensor in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=rf"{path / name}: .*SHA-256"):
        load_checkpoint(path, model=model, ema=_net())
    _assert_same_state(model.state_dict(), before)


@pytest.mark.spec("CKPT-7")
@pytest.mark.parametrize("damage", [
    lambda folder: _flip_a_byte(folder / "model.safetensors"),
    lambda folder: _truncate(folder / "rng.safetensors"),
    _malformed_manifest,
    _manifest_step_as_text,
], ids=["flipped", "truncated", "malformed-manifest", "step-as-text"])
def test_a_damaged_latest_checkpoint_is_skipped_out_loud_or_refused_when_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Any) -> None:
    torch.manual_seed(0)
    first, second = _net(), _net()
    good = save_checkpoint(tmp_path, 1, model=first, config=CONFIG)
    damaged = save_checkpoint(tmp_path, 2, model=second, config=CONFIG)
    damage(damaged)
    capsys.readouterr()
    loaded = _net()
    assert load_checkpoint(tmp_path, model=loaded).step == 1
    _assert_same_state(loaded.state_dict(), first.state_dict())
    warning = capsys.readouterr().err.splitlines()
    assert len(warning) == 1 and str(damaged) in warning[0]
    assert f"using {good} (step 1) instead" in warning[0]
    with pytest.raises(CheckpointError, match=str(damaged)):
        load_checkpoint(damaged, model=_net())
    assert capsys.readouterr().err == ""  # a named checkpoint is never replaced by another


@pytest.mark.spec("CKPT-7")
def test_a_run_without_an_intact_checkpoint_names_each_damaged_one(tmp_path: Path) -> None:
    paths = [save_checkpoint(tmp_path, step, model=_net(), config=CONFIG) for step in (1, 2)]
    for path in paths:
        _flip_a_byte(path / "model.safetensors")
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(tmp_path, model=_net())
    assert all(str(path / "model.safetensors") in str(refused.value) for path in paths)


@pytest.mark.spec("CKPT-7")
def test_sample_says_which_checkpoint_it_loaded(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from specdiff.cli import main

    run = tmp_path / "run"
    assert main(["train", "--data", "digits", "--image-size", "8", "--model", "epsconv",
                 "--timesteps", "20", "--batch-size", "8", "--quiet", "--steps", "2",
                 "--out", str(run)]) == 0
    capsys.readouterr()
    for command in (["sample", "--n", "2", "--steps", "2", "--quiet",
                     "--out", str(tmp_path / "grid.png")],
                    ["evaluate", "--n-samples", "2", "--vlb-timesteps", "2",
                     "--out", str(tmp_path / "metrics.json")]):
        assert main([command[0], str(run), *command[1:]]) == 0
        assert f"loaded {run / 'checkpoint-00000002'} (step 2)" in capsys.readouterr().out


@pytest.mark.spec("CKPT-7")
def test_a_format_1_checkpoint_loads_checked_by_size_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _net()
    path = save_checkpoint(tmp_path, 1, model=model, config=CONFIG)
    manifest = json.loads((path / "checkpoint.json").read_text())
    manifest["format_version"] = 1
    manifest["files"] = {name: record["size"] for name, record in manifest["files"].items()}
    (path / "checkpoint.json").write_text(json.dumps(manifest))
    loaded = _net()
    assert load_checkpoint(path, model=loaded).step == 1
    _assert_same_state(loaded.state_dict(), model.state_dict())
    assert "format 1" in capsys.readouterr().err
    _truncate(path / "model.safetensors")
    with pytest.raises(CheckpointError, match=str(path / "model.safetensors")):
        load_checkpoint(path, model=_net())
