"""Tiny runs of the models the library ships, with the DDPM CIFAR-10 preset's layout and its
dropout 0.1, for tests/train/test_dropout_determinism.py (TRAIN-4, TRAIN-5, TRAIN-11).

usage: python -m tests.train._dropout_run RUN_DIR STEPS [--resume]

Trains the tiny CIFAR-layout U-Net up to STEPS (checkpointing at the end), after resuming
RUN_DIR's latest checkpoint with --resume: a fresh process, so none of the test process's torch
random state is carried into the run.
"""

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import torch

from specdiff.data import ImageDataset
from specdiff.diffusion import Diffusion
from specdiff.nn import SuperResolutionConfig, UNetConfig
from specdiff.train import TrainConfig, Trainer
from specdiff.train.models import build_model, build_schedule, model_record, schedule_record

TIMESTEPS = 20
IMAGE_SHAPE = (3, 8, 8)
# The shipped models, each with the preset's dropout where it has one: the U-Net, its
# class-conditional and super-resolution forms, and the eps conv net (no dropout, no draws).
MODEL_KINDS = ("unet", "conditional", "sr", "epsconv")


def tiny_cifar_layout(num_classes: int | None = None,
                      gradient_checkpointing: bool = False) -> UNetConfig:
    """UNetConfig.ddpm_cifar10() shrunk to 8×8 and 8 base channels: the same four levels,
    two res blocks each, attention one level down, dropout 0.1, bottom-right padding."""
    return dataclasses.replace(UNetConfig.ddpm_cifar10(), image_size=8, base_channels=8,
                               attention_resolutions=(4,), norm_groups=4,
                               num_timesteps=TIMESTEPS, num_classes=num_classes,
                               gradient_checkpointing=gradient_checkpointing)


def noise_dataset(labeled: bool) -> ImageDataset:
    """32 uint8 noise images (and labels of 2 classes): data with every pixel value in play."""
    generator = torch.Generator().manual_seed(1234)
    images = torch.randint(0, 256, (32, *IMAGE_SHAPE), generator=generator, dtype=torch.uint8)
    if not labeled:
        return ImageDataset(images)
    labels = torch.randint(0, 2, (32,), generator=generator)
    return ImageDataset(images, labels, class_names=("a", "b"))


def _record(name: str, config: Any) -> dict[str, Any]:
    return {"name": name, "config": json.loads(json.dumps(dataclasses.asdict(config)))}


def model_of(kind: str, gradient_checkpointing: bool = False) -> dict[str, Any]:
    if kind == "unet":
        return _record("unet-cifar10", tiny_cifar_layout(None, gradient_checkpointing))
    if kind == "conditional":
        return _record("unet-cifar10", tiny_cifar_layout(num_classes=2))
    if kind == "sr":
        return _record("sr-unet-cifar10", SuperResolutionConfig.from_unet(tiny_cifar_layout(), 2))
    if kind == "epsconv":
        return model_record("epsconv", IMAGE_SHAPE, TIMESTEPS)
    raise ValueError(f"kind must be one of {MODEL_KINDS}, got {kind!r}")


def dropout_trainer(run_dir: Path, *, steps: int, kind: str = "unet", seed: int = 0,
                    checkpoint_every: int = 1000, gradient_checkpointing: bool = False,
                    **settings: Any) -> Trainer:
    dataset = noise_dataset(labeled=kind == "conditional")
    identity = {"model": model_of(kind, gradient_checkpointing),
                "schedule": schedule_record("linear", TIMESTEPS), "data": "noise-32",
                "image_shape": list(IMAGE_SHAPE)}
    diffusion = Diffusion(build_model(identity["model"], seed),
                          build_schedule(identity["schedule"]))
    defaults = {"batch_size": 4, "learning_rate": 1e-3, "warmup_steps": 2, "ema_decay": 0.9,
                "log_every": 1000, "class_conditional": kind == "conditional"}
    config = TrainConfig(steps=steps, seed=seed, checkpoint_every=checkpoint_every,
                         **(defaults | settings))
    return Trainer(diffusion, dataset, config, run_dir, identity=identity, progress=False)


def main(arguments: list[str]) -> None:
    run_dir, steps = Path(arguments[0]), int(arguments[1])
    trainer = dropout_trainer(run_dir, steps=steps)
    if "--resume" in arguments[2:]:
        trainer.resume()
    trainer.fit()


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1:])
