"""Atomic, resumable checkpoints (specs/checkpoints.md).

A checkpoint is a folder ``run_dir/checkpoint-{step:08d}`` holding safetensors files for the
tensors (model, EMA, optimizer state, RNG states) and ``checkpoint.json`` for everything else
(step, config, extra, the optimizer's non-tensor state, the specdiff version, each file's size
and SHA-256). It is written into a hidden temp folder, every file and the folder are fsynced,
and only then is the folder renamed to its final name: a kill at any moment leaves either the
complete checkpoint or no checkpoint of that step, and never touches the older ones (CKPT-2).
Reading goes through ``specdiff.train.run_folder``, which checks every file it reads (CKPT-7, 8).
"""

import functools
import json
import os
import re
import shutil
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

import specdiff
from specdiff._atomic import fsync_path
from specdiff.spec._validate import require_int_at_least
from specdiff.train._state_tree import join_state, split_state
from specdiff.train.run_folder import (
    FORMAT_VERSION,
    MANIFEST,
    CheckpointContents,
    CheckpointError,
    file_record,
    latest_checkpoint,
    list_checkpoints,
    open_checkpoint,
)

# A model or EMA: a module (its state_dict is saved and loaded strictly) or a mapping of named
# tensors (loaded by copying into the mapping's tensors in place).
TensorState = torch.nn.Module | MutableMapping[str, torch.Tensor]

__all__ = ["CheckpointError", "CheckpointInfo", "TensorState", "latest_checkpoint",
           "list_checkpoints", "load_checkpoint", "read_checkpoint_info", "save_checkpoint"]

# Temp folders of saves in progress (.tmp) and checkpoints being replaced or deleted (.old).
_TEMPORARY_NAME = re.compile(r"^\.checkpoint-\d{8,}\.(\d+)\.(tmp|old)$")


@dataclass(frozen=True)
class CheckpointInfo:
    """What checkpoint.json records besides tensors."""

    path: Path
    step: int
    config: dict[str, Any]
    extra: dict[str, Any]
    specdiff_version: str


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    step: int,
    *,
    model: TensorState,
    config: Mapping[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    ema: TensorState | None = None,
    generators: Mapping[str, torch.Generator] | None = None,
    extra: Mapping[str, Any] | None = None,
    keep: int | None = 3,
) -> Path:
    """CKPT-1, CKPT-2, CKPT-3: write ``run_dir/checkpoint-{step:08d}`` atomically; return it.

    Saved: model and EMA tensors, the optimizer's state_dict, the named generators' states and
    the global torch RNG states (CPU, and every CUDA device once CUDA is initialized); ``config``
    and ``extra`` must be JSON-serializable. A checkpoint of the same step is replaced. Then all
    but the ``keep`` highest-step complete checkpoints are deleted (None keeps all).
    """
    step = require_int_at_least("step", step, 0)
    if keep is not None:
        require_int_at_least("keep", keep, 1)
    manifest = {
        "format_version": FORMAT_VERSION,
        "specdiff_version": specdiff.__version__,
        "step": step,
        "config": _json_ready("config", config),
        "extra": _json_ready("extra", extra or {}),
    }
    files: dict[str, dict[str, torch.Tensor]] = {"model": _tensors_of(model)}
    if ema is not None:
        files["ema"] = _tensors_of(ema)
    if optimizer is not None:
        manifest["optimizer"], files["optimizer"] = split_state(optimizer.state_dict(), "state")
    files["rng"] = _rng_states(generators or {})

    root = Path(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(root)
    final = root / f"checkpoint-{step:08d}"
    temp = root / f".checkpoint-{step:08d}.{os.getpid()}.tmp"
    temp.mkdir()
    try:
        records = {}
        for name, tensors in files.items():
            data = save({key: value.detach().contiguous() for key, value in tensors.items()})
            _write_new_file(temp / f"{name}.safetensors", data)
            records[f"{name}.safetensors"] = file_record(data)
        manifest["files"] = records
        _write_new_file(temp / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
        fsync_path(temp)
        _rename_into_place(temp, final)
        fsync_path(root)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    if keep is not None:
        for old in list_checkpoints(root)[:-keep]:
            if old != final:
                _delete_checkpoint(old)
    return final


def read_checkpoint_info(path: str | os.PathLike[str]) -> CheckpointInfo:
    """The step, config and extra of a checkpoint folder, or of the newest usable checkpoint
    in a run folder (CKPT-7: a damaged newer one is skipped with a warning).

    Use it to build the model from the saved config before calling load_checkpoint.
    """
    return _info(open_checkpoint(path))


def load_checkpoint(
    path: str | os.PathLike[str] | CheckpointContents,
    *,
    model: TensorState,
    optimizer: torch.optim.Optimizer | None = None,
    ema: TensorState | None = None,
    generators: Mapping[str, torch.Generator] | None = None,
    expected_config: Mapping[str, Any] | None = None,
    restore_global_rng: bool = True,
) -> CheckpointInfo:
    """CKPT-1, CKPT-4, CKPT-5, CKPT-7: load a checkpoint folder, the newest usable checkpoint
    of a run folder, or a checkpoint already read by ``run_folder.open_checkpoint``.

    Every file loaded is checked against its SHA-256 first (CKPT-7). Everything is checked
    before anything is changed: the config equals ``expected_config`` (when given), the tensor
    names and shapes match ``model``/``ema``, and the checkpoint holds the optimizer and every
    generator asked for. Objects passed as None are not loaded.
    """
    restores_rng = bool(generators) or restore_global_rng
    needed = ["model", *(["ema"] if ema is not None else []),
              *(["optimizer"] if optimizer is not None else []), *(["rng"] if restores_rng else [])]
    contents = path if isinstance(path, CheckpointContents) else open_checkpoint(
        path, [f"{name}.safetensors" for name in needed])
    info = _info(contents)
    if expected_config is not None:
        _check_config(info, _json_ready("expected_config", expected_config))
    # Checks first, each yielding the change it allows; the changes run once all checks pass.
    changes = [functools.partial(_restore_tensors, model,
                                 _checked_tensors(contents, "model", model))]
    if ema is not None:
        changes.append(functools.partial(_restore_tensors, ema,
                                         _checked_tensors(contents, "ema", ema)))
    if optimizer is not None:
        changes.append(functools.partial(optimizer.load_state_dict,
                                         _checked_optimizer_state(contents, optimizer)))
    rng = _tensor_file(contents, "rng") if restores_rng else {}
    wanted = [f"generator/{name}" for name in generators or {}]
    missing = sorted(key.split("/", 1)[1] for key in wanted if key not in rng)
    if missing:
        saved = sorted(key.split("/", 1)[1] for key in rng if key.startswith("generator/"))
        raise CheckpointError(f"{info.path}: has no state for generator(s) {missing}; "
                              f"it saved the generators {saved}")
    if restore_global_rng and "torch/cpu" not in rng:
        raise CheckpointError(f"{info.path / 'rng.safetensors'}: has no torch/cpu RNG state")

    for change in changes:
        change()
    for name, generator in (generators or {}).items():
        generator.set_state(rng[f"generator/{name}"])
    if restore_global_rng:
        torch.set_rng_state(rng["torch/cpu"])
        for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
            if f"torch/cuda/{index}" in rng:
                torch.cuda.set_rng_state(rng[f"torch/cuda/{index}"], index)
    return info


def _info(contents: CheckpointContents) -> CheckpointInfo:
    manifest = contents.manifest
    return CheckpointInfo(contents.path, manifest["step"], manifest["config"], manifest["extra"],
                          manifest["specdiff_version"])


def _tensors_of(state: TensorState) -> dict[str, torch.Tensor]:
    return dict(state.state_dict() if isinstance(state, torch.nn.Module) else state)


def _rng_states(generators: Mapping[str, torch.Generator]) -> dict[str, torch.Tensor]:
    states = {f"generator/{name}": generator.get_state() for name, generator in generators.items()}
    states["torch/cpu"] = torch.get_rng_state()
    # Never initialize CUDA here: a process that has not used it has no CUDA RNG state to save.
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            states[f"torch/cuda/{index}"] = state
    return states


def _json_ready(name: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as it reads back from JSON (tuples become lists), or a TypeError naming it."""
    try:
        result: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be JSON-serializable (dicts, lists, str, finite numbers, "
                        f"bool, None): {error}") from None
    return result


def _write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` (mode 0666 less the umask, like other tools), write, fsync."""
    with path.open("xb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def _rename_into_place(temp: Path, final: Path) -> None:
    """Rename ``temp`` to ``final``; an existing ``final`` is moved aside first, then deleted
    (a symbolic link in its place is removed, never what it points to: CKPT-8)."""
    if not os.path.lexists(final):
        os.rename(temp, final)
        return
    aside = final.with_name(f".{final.name}.{os.getpid()}.old")
    os.rename(final, aside)
    try:
        os.rename(temp, final)
    except BaseException:
        os.rename(aside, final)
        raise
    if aside.is_symlink():
        aside.unlink()
    else:
        shutil.rmtree(aside)


def _delete_checkpoint(folder: Path) -> None:
    """Rename out of the checkpoint namespace first, so a kill mid-delete leaves no half folder."""
    aside = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    os.rename(folder, aside)
    shutil.rmtree(aside)


def _remove_stale_temporaries(root: Path) -> None:
    """Delete what killed or failed saves left behind; saves of running processes are kept."""
    for entry in root.iterdir():
        match = _TEMPORARY_NAME.match(entry.name)
        if match and (int(match.group(1)) == os.getpid() or not _is_running(int(match.group(1)))):
            shutil.rmtree(entry, ignore_errors=True)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def _check_config(info: CheckpointInfo, expected: dict[str, Any]) -> None:
    """CKPT-4: refuse a config that differs, naming each differing key and both values."""
    saved, wanted = _flatten(info.config), _flatten(expected)
    differences = [
        f"{key}: checkpoint has {saved.get(key, '<missing>')!r}, "
        f"expected {wanted.get(key, '<missing>')!r}"
        for key in sorted(saved.keys() | wanted.keys())
        if key not in saved or key not in wanted or saved[key] != wanted[key]
    ]
    if differences:
        raise CheckpointError(f"{info.path}: config does not match the expected config: "
                              + "; ".join(differences))


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys, so a message names the exact differing entry."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _tensor_file(contents: CheckpointContents, name: str) -> dict[str, torch.Tensor]:
    """The tensors of ``name``.safetensors, from bytes checked against the manifest (CKPT-7)."""
    file = f"{name}.safetensors"
    if file not in contents.manifest["files"]:
        raise CheckpointError(f"{contents.path / MANIFEST}: files lists no {file}: the "
                              f"checkpoint has no {name} state, but a {name} was given")
    try:
        return load(contents.file(file))
    except SafetensorError as error:
        raise CheckpointError(f"{contents.path / file}: is not a safetensors file: "
                              f"{error}") from None


def _checked_tensors(contents: CheckpointContents, name: str, target: TensorState
                     ) -> dict[str, torch.Tensor]:
    """CKPT-5: the saved tensors of ``name``, refused unless names and shapes match ``target``."""
    saved = _tensor_file(contents, name)
    file = contents.path / f"{name}.safetensors"
    expected = _tensors_of(target)
    missing, unexpected = sorted(expected.keys() - saved.keys()), sorted(saved.keys() -
                                                                          expected.keys())
    if missing or unexpected:
        raise CheckpointError(f"{file}: tensor names do not match the {name}: missing from the "
                              f"checkpoint {missing}, unexpected in the checkpoint {unexpected}")
    wrong = [f"{key}: checkpoint {tuple(saved[key].shape)}, {name} {tuple(value.shape)}"
             for key, value in expected.items() if saved[key].shape != value.shape]
    if wrong:
        raise CheckpointError(f"{file}: tensor shapes do not match the {name}: " + "; ".join(wrong))
    return saved


def _checked_optimizer_state(contents: CheckpointContents, optimizer: torch.optim.Optimizer
                             ) -> dict[str, Any]:
    """CKPT-5: the saved optimizer state_dict, refused unless its groups fit ``optimizer``."""
    if "optimizer" not in contents.manifest:
        raise CheckpointError(f"{contents.path / MANIFEST}: has no optimizer state, but an "
                              f"optimizer was given")
    tensors = _tensor_file(contents, "optimizer")
    try:
        state: dict[str, Any] = join_state(contents.manifest["optimizer"], tensors)
        saved_sizes = [len(group["params"]) for group in state["param_groups"]]
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise CheckpointError(f"{contents.path / MANIFEST}: optimizer is not an optimizer "
                              f"state ({type(error).__name__}: {error})") from None
    sizes = [len(group["params"]) for group in optimizer.param_groups]
    if saved_sizes != sizes:
        raise CheckpointError(f"{contents.path}: the optimizer's parameter groups hold {sizes} "
                              f"parameters, the checkpoint's hold {saved_sizes}")
    return state


def _restore_tensors(target: TensorState, tensors: dict[str, torch.Tensor]) -> None:
    if isinstance(target, torch.nn.Module):
        target.load_state_dict(tensors, strict=True)
        return
    with torch.no_grad():
        for key, value in target.items():
            value.copy_(tensors[key])
