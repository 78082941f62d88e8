"""What the commands that read a run share: loading it (saying which checkpoint), refusing a
super-resolution run where noise alone is sampled, and reading an input image."""

import argparse
from typing import Any

import torch

from specdiff.data import load_image, uint8_to_unit_range
from specdiff.diffusion import Diffusion
from specdiff.nn import SuperResolutionUNet
from specdiff.train.run import load_for_sampling


def load_run(run_dir: str, device: torch.device) -> tuple[Diffusion, dict[str, Any]]:
    """The run for sampling, saying which checkpoint was loaded (CKPT-7)."""
    diffusion, config, checkpoint = load_for_sampling(run_dir, device)
    print(f"loaded {checkpoint.path} (step {checkpoint.step})")
    return diffusion, config


def require_generative(arguments: argparse.Namespace, diffusion: Diffusion) -> None:
    """sample, inpaint and evaluate draw images from noise alone, which a --task sr model
    cannot: it needs the low-resolution image."""
    if isinstance(diffusion.model, SuperResolutionUNet):
        raise ValueError(f"{arguments.run_dir} is a super-resolution run (train --task sr): it "
                         f"makes an image from a low-resolution one, so it cannot "
                         f"{arguments.command}; use specdiff upscale {arguments.run_dir} "
                         f"--image LOW_RES.png")


def read_image(path: str, channels: int, height: int, width: int) -> torch.Tensor:
    """A PNG/JPEG as a (1, C, H, W) float batch in [−1, 1], which must be H×W."""
    image = torch.from_numpy(load_image(path, channels))
    if tuple(image.shape[2:]) != (height, width):
        raise ValueError(f"{path} must be {width}x{height} pixels for this run, got "
                         f"{image.shape[3]}x{image.shape[2]}")
    return uint8_to_unit_range(image)
