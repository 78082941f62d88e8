"""A whole training run from names: data spec, model preset, schedule, settings → run folder.

The ``specdiff train`` command and the example scripts both go through :func:`train_run`, so a
run folder always records the same identity (model, schedule, data, image shape) that
``specdiff sample``/``evaluate`` rebuild the model from.
"""

import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from specdiff.data.splits import load_split
from specdiff.diffusion import Diffusion
from specdiff.spec.parameterization import PredictionType
from specdiff.train.checkpoint import latest_checkpoint, load_checkpoint, read_checkpoint_info
from specdiff.train.config import TrainConfig
from specdiff.train.models import build_model, build_schedule, model_record, schedule_record
from specdiff.train.trainer import Trainer, TrainResult


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
    diffusion = Diffusion(build_model(record, config.seed), build_schedule(schedule_description),
                          prediction_type=prediction_type)
    trainer = Trainer(diffusion, dataset, config, out, identity=identity,
                      device=join_distributed(resolve_device(device)), progress=progress)
    if resume:
        start = trainer.resume()
        if trainer.rank == 0:
            print(f"resuming {out} at step {start}")
    if trainer.rank == 0:
        parameters = sum(p.numel() for p in diffusion.model.parameters())
        print(f"training {model} ({parameters:,} parameters) on {dataset!r} for {config.steps} "
              f"steps on {trainer.device} × {trainer.world_size} process(es)")
    return trainer.fit()


def load_for_sampling(run_dir: str | Path, device: torch.device | str = "cpu"
                      ) -> tuple[Diffusion, dict[str, Any]]:
    """The run's latest checkpoint as a Diffusion in eval mode whose model holds the EMA weights,
    and the run's recorded identity."""
    info = read_checkpoint_info(run_dir)
    model, ema_model = build_model(info.config["model"]), build_model(info.config["model"])
    load_checkpoint(info.path, model=model, ema=ema_model, restore_global_rng=False)
    diffusion = Diffusion(ema_model, build_schedule(info.config["schedule"]),
                          prediction_type=info.config.get("prediction_type", "epsilon"))
    diffusion = diffusion.to(device).eval()
    return diffusion, info.config
