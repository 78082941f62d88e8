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

from specdiff.data import ImageDataset
from specdiff.data.splits import load_split
from specdiff.diffusion import Diffusion
from specdiff.spec.parameterization import PREDICTION_TYPES, PredictionType
from specdiff.train.checkpoint import (
    CheckpointInfo,
    latest_checkpoint,
    load_checkpoint,
    read_checkpoint_info,
)
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
    model: str | None = None,
    schedule: str | None = None,
    timesteps: int | None = None,
    zero_terminal_snr: bool = False,
    prediction_type: PredictionType | None = None,
    image_size: int | None = None,
    scale: int | None = None,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` (default unet-digits) on ``data`` into the run folder ``out``; ``scale``
    is the factor of a super-resolution ("sr-…") model, trained on (image, its downsampled copy)
    pairs; the model predicts ε (the default), x0 ("sample") or v ("v_prediction") as
    ``prediction_type`` says (PARAM-3), under ``schedule`` (default linear) with ``timesteps``
    (default 1000).

    A folder that already holds checkpoints is refused unless ``resume`` (TRAIN-9): nothing a
    user has trained is overwritten. Resuming an imported run (``specdiff import``) fine-tunes
    it (INTEROP-12): model, schedule, prediction type and image size are the run's, so those
    arguments must be left out; its first fine-tuning starts at step 0 from the imported
    weights with a fresh optimizer.
    """
    out = Path(out)
    # One writer per run folder (CKPT-6): under torchrun only rank 0 writes, so only it locks.
    writes = int(os.environ.get("RANK", "0")) == 0
    with run_lock(out) if writes else contextlib.nullcontext(out):
        if latest_checkpoint(out) is not None and not resume:
            raise ValueError(f"out folder {out} already holds checkpoints: resume that run, or "
                             f"choose another folder (nothing was overwritten)")
        newest = read_checkpoint_info(out) if resume and latest_checkpoint(out) else None
        if newest is not None and "imported" in newest.config:
            given = {"model": model, "schedule": schedule, "timesteps": timesteps,
                     "zero_terminal_snr": zero_terminal_snr or None,
                     "prediction_type": prediction_type, "image_size": image_size,
                     "scale": scale}
            dataset, identity = _fine_tuning(newest.config, data, config, given)
        else:
            dataset, identity = _new_identity(
                data, config, model or "unet-digits", schedule or "linear",
                1000 if timesteps is None else timesteps, zero_terminal_snr,
                prediction_type or "epsilon", image_size, scale)
        diffusion = Diffusion(build_model(identity["model"], config.seed),
                              build_schedule(identity["schedule"]),
                              prediction_type=identity["prediction_type"])
        trainer = Trainer(diffusion, dataset, config, out, identity=identity,
                          device=join_distributed(resolve_device(device)), progress=progress)
        if newest is not None and "train" not in newest.config:  # an import, never trained
            start = trainer.start_from_weights(newest.path)
            if trainer.rank == 0:
                print(f"fine-tuning the imported {newest.path} from step {start}")
        elif resume:
            start = trainer.resume()
            if trainer.rank == 0:
                print(f"resuming {out} at step {start}")
        if trainer.rank == 0:
            parameters = sum(p.numel() for p in diffusion.model.parameters())
            print(f"training {identity['model']['name']} ({parameters:,} parameters) on "
                  f"{dataset!r} for {config.steps} steps on {trainer.device} × "
                  f"{trainer.world_size} process(es)")
        return trainer.fit()


def _new_identity(data: str, config: TrainConfig, model: str, schedule: str, timesteps: int,
                  zero_terminal_snr: bool, prediction_type: PredictionType,
                  image_size: int | None, scale: int | None
                  ) -> tuple[ImageDataset, dict[str, Any]]:
    """The training data and the identity of a run of the named model and schedule."""
    dataset = load_split(data, "train", image_size)
    if config.class_conditional and not dataset.has_labels:
        raise ValueError(f"class-conditional training needs labels, and {data} has none")
    num_classes = len(dataset.class_names) if config.class_conditional else None
    identity = {"model": model_record(model, dataset.image_shape, timesteps, num_classes, scale),
                "schedule": schedule_record(schedule, timesteps, zero_terminal_snr),
                "data": data, "image_size": image_size,
                "image_shape": list(dataset.image_shape), "prediction_type": prediction_type}
    return dataset, identity


def _fine_tuning(imported: dict[str, Any], data: str, config: TrainConfig,
                 given: dict[str, Any]) -> tuple[ImageDataset, dict[str, Any]]:
    """INTEROP-12: the training data and the identity of a run that fine-tunes the imported
    run whose newest checkpoint records ``imported``: its model, schedule, prediction type,
    image size and import record, with the data given now."""
    named = sorted(name for name, value in given.items() if value is not None)
    if named:
        raise ValueError(f"{', '.join(named)}: an imported run keeps its own model, schedule, "
                         f"prediction type and image size; leave them out to fine-tune it")
    _check_identity(imported)
    identity = {key: imported[key] for key in ("model", "schedule", "image_size",
                                               "image_shape", "prediction_type", "imported")}
    dataset = load_split(data, "train", identity["image_size"])
    if list(dataset.image_shape) != identity["image_shape"]:
        raise ValueError(f"data {data} has images of shape {list(dataset.image_shape)}, but the "
                         f"imported model takes {identity['image_shape']}")
    num_classes = identity["model"]["config"].get("num_classes")
    if config.class_conditional != (num_classes is not None):
        raise ValueError(f"the imported model is {'' if num_classes else 'not '}"
                         f"class-conditional: fine-tune it "
                         f"{'with' if num_classes else 'without'} --conditional")
    if num_classes is not None and len(dataset.class_names) != num_classes:
        raise ValueError(f"data {data} has {len(dataset.class_names)} classes, the imported "
                         f"model {num_classes}")
    return dataset, {**identity, "data": data}


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
