"""A whole training run from names: data spec, model preset, schedule, settings → run folder.

The ``specdiff train`` command and the example scripts both go through :func:`train_run`, so a
run folder always records the same identity (model, schedule, data, image shape) that
``specdiff sample``/``evaluate`` rebuild the model from.
"""

import contextlib
import os
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.distributed as dist

from specdiff.data.splits import load_split
from specdiff.diffusion import Diffusion
from specdiff.spec.parameterization import PREDICTION_TYPES, PredictionType
from specdiff.train.checkpoint import CheckpointInfo, latest_checkpoint, load_checkpoint
from specdiff.train.config import TrainConfig
from specdiff.train.models import (
    build_model,
    build_schedule,
    model_config,
    model_record,
    schedule_record,
)
from specdiff.train.run_folder import (
    MANIFEST,
    CheckpointContents,
    CheckpointError,
    open_checkpoint,
    run_lock,
)
from specdiff.train.trainer import Trainer, TrainResult

# The largest image side a run's recorded image_shape may have.
MAX_IMAGE_SIDE = 4096


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when present), ``cpu`` or ``cuda``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for, but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def join_distributed(device: torch.device) -> torch.device:
    """Under ``torchrun`` (WORLD_SIZE > 1) join the process group — NCCL with the GPU of
    LOCAL_RANK, or gloo on CPUs — and return this process's device (TRAIN-7)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def train_run(
    out: str | Path,
    config: TrainConfig,
    *,
    data: str = "digits",
    model: str = "unet-digits",
    schedule: str = "linear",
    timesteps: int = 1000,
    zero_terminal_snr: bool = False,
    prediction_type: PredictionType = "epsilon",
    image_size: int | None = None,
    scale: int | None = None,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` on ``data`` into the run folder ``out``; ``scale`` is the factor of a
    super-resolution ("sr-…") model, trained on (image, its downsampled copy) pairs; the model
    predicts ε, x0 ("sample") or v ("v_prediction") as ``prediction_type`` says (PARAM-3).

    A folder that already holds checkpoints is refused unless ``resume`` (TRAIN-9): nothing a
    user has trained is overwritten.
    """
    out = Path(out)
    # One writer per run folder (CKPT-6): under torchrun only rank 0 writes, so only it locks.
    writes = int(os.environ.get("RANK", "0")) == 0
    with run_lock(out) if writes else contextlib.nullcontext(out):
        if latest_checkpoint(out) is not None and not resume:
            raise ValueError(f"out folder {out} already holds checkpoints: resume that run, or "
                             f"choose another folder (nothing was overwritten)")
        dataset = load_split(data, "train", image_size)
        if config.class_conditional and not dataset.has_labels:
            raise ValueError(f"class-conditional training needs labels, and {data} has none")
        num_classes = len(dataset.class_names) if config.class_conditional else None
        record = model_record(model, dataset.image_shape, timesteps, num_classes, scale)
        schedule_description = schedule_record(schedule, timesteps, zero_terminal_snr)
        identity = {"model": record, "schedule": schedule_description, "data": data,
                    "image_size": image_size, "image_shape": list(dataset.image_shape),
                    "prediction_type": prediction_type}
        diffusion = Diffusion(build_model(record, config.seed),
                              build_schedule(schedule_description),
                              prediction_type=prediction_type)
        trainer = Trainer(diffusion, dataset, config, out, identity=identity,
                          device=join_distributed(resolve_device(device)), progress=progress)
        if resume:
            start = trainer.resume()
            if trainer.rank == 0:
                print(f"resuming {out} at step {start}")
        if trainer.rank == 0:
            parameters = sum(p.numel() for p in diffusion.model.parameters())
            print(f"training {model} ({parameters:,} parameters) on {dataset!r} for "
                  f"{config.steps} steps on {trainer.device} × {trainer.world_size} process(es)")
        return trainer.fit()


class SamplingRun(NamedTuple):
    """A run loaded for sampling: the Diffusion, the run's identity, the checkpoint read."""

    diffusion: Diffusion
    config: dict[str, Any]
    checkpoint: CheckpointInfo


def load_for_sampling(run_dir: str | Path, device: torch.device | str = "cpu") -> SamplingRun:
    """The newest usable checkpoint of a run folder, or the named checkpoint folder, as a
    Diffusion in eval mode whose model holds the EMA weights; the run's recorded identity; and
    which checkpoint that was. A damaged newer checkpoint is skipped with a warning, a damaged
    named one refused (CKPT-7); an identity that does not describe the saved tensors is a
    CheckpointError naming the file and the key (CKPT-9)."""
    contents = open_checkpoint(run_dir, ("model.safetensors", "ema.safetensors"),
                               accept=_check_for_sampling)
    identity = contents.manifest["config"]
    model, ema_model = build_model(identity["model"]), build_model(identity["model"])
    info = load_checkpoint(contents, model=model, ema=ema_model, restore_global_rng=False)
    diffusion = Diffusion(ema_model, build_schedule(identity["schedule"]),
                          prediction_type=identity.get("prediction_type", "epsilon"))
    return SamplingRun(diffusion.to(device).eval(), identity, info)


def _check_for_sampling(contents: CheckpointContents) -> None:
    """CKPT-9: the checkpoint's identity describes a model, schedule and image shape that fit
    each other and the saved tensors, checked before any weight is allocated (the model is
    first built on the meta device)."""
    identity = contents.manifest["config"]
    try:
        _check_identity(identity)
        with torch.device("meta"):
            probe = build_model(identity["model"])
        Diffusion(probe, build_schedule(identity["schedule"]),
                  prediction_type=identity.get("prediction_type", "epsilon"))
    except ValueError as error:
        raise CheckpointError(f"{contents.path / MANIFEST}: {error}") from None
    shapes = probe.state_dict()  # meta tensors: CKPT-5's check, nothing copied
    load_checkpoint(contents, model=shapes, ema=shapes, restore_global_rng=False)


def _check_identity(identity: Any) -> None:
    """CKPT-9: a run's recorded identity (a checkpoint's config), checked key by key; a
    ValueError names the first key (``config.model.config.image_size``, …) that does not fit."""
    if not isinstance(identity, dict):
        raise ValueError(f"config must be an object (the run's model, schedule, data), got "
                         f"{identity!r:.60}")
    for key in ("model", "schedule", "data", "image_size", "image_shape"):
        if key not in identity:
            raise ValueError(f"config.{key} is missing")
    try:
        network = model_config(identity["model"])
        schedule = build_schedule(identity["schedule"])
    except ValueError as error:
        raise ValueError(f"config.{error}") from None
    if schedule.num_timesteps != network.num_timesteps:
        raise ValueError(f"config.schedule.T = {schedule.num_timesteps} differs from the "
                         f"network's config.model.config.num_timesteps = "
                         f"{network.num_timesteps}")
    prediction_type = identity.get("prediction_type", "epsilon")
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"config.prediction_type must be one of {list(PREDICTION_TYPES)}, "
                         f"got {prediction_type!r:.60}")
    if not isinstance(identity["data"], str):
        raise ValueError(f"config.data must be a string, got {identity['data']!r:.60}")
    if identity["image_size"] is not None and not _is_side(identity["image_size"]):
        raise ValueError(f"config.image_size must be null or an int in [1, {MAX_IMAGE_SIDE}], "
                         f"got {identity['image_size']!r:.60}")
    shape = identity["image_shape"]
    if not (isinstance(shape, list) and len(shape) == 3 and all(map(_is_side, shape))):
        raise ValueError(f"config.image_shape must be [channels, height, width], each an int "
                         f"in [1, {MAX_IMAGE_SIDE}], got {shape!r:.60}")
    size = getattr(network, "image_size", None)
    expected = [network.data_channels, *([size, size] if size else shape[1:])]
    if shape != expected:
        raise ValueError(f"config.image_shape must be {expected} for this model (its "
                         f"data_channels{' and image_size' if size else ''}), got {shape}")


def _is_side(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and 1 <= value <= MAX_IMAGE_SIDE)
