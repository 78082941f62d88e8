"""``specdiff upscale``: upscale an image with a super-resolution (``train --task sr``) run."""

import argparse
from typing import Any

from specdiff.cli.loading import load_run, read_image
from specdiff.cli.options import DEVICES, PNG_SCALE, SAMPLING_SEED, TIMESTEPS, output_file
from specdiff.nn import SuperResolutionUNet
from specdiff.train.run import resolve_device
from specdiff.visualize import image_grid, write_png


def add_parser(commands: Any) -> None:
    """Adds the command, its options and their accepted ranges, to ``commands``."""
    upscaler = commands.add_parser("upscale", help="upscale an image with a --task sr run")
    upscaler.add_argument("run_dir")
    upscaler.add_argument("--image", required=True, help="PNG/JPEG of 1/scale the run's size")
    upscaler.add_argument("--out", type=output_file, default="upscaled.png")
    upscaler.add_argument("--sampler", default="ddim", choices=["ddim", "ddpm"])
    upscaler.add_argument("--steps", type=TIMESTEPS, default=50,
                          help=f"in {TIMESTEPS} and at most T")
    upscaler.add_argument("--seed", type=SAMPLING_SEED, default=0, help=f"in {SAMPLING_SEED}")
    upscaler.add_argument("--scale", type=PNG_SCALE, default=4,
                          help=f"PNG pixels per image pixel, in {PNG_SCALE}")
    upscaler.add_argument("--device", default="auto", choices=DEVICES)
    upscaler.add_argument("--quiet", action="store_true")
    upscaler.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    device = resolve_device(arguments.device)
    diffusion, config = load_run(arguments.run_dir, device)
    model = diffusion.model
    if not isinstance(model, SuperResolutionUNet):
        raise ValueError(f"{arguments.run_dir} is not a super-resolution run "
                         f"(train with --task sr)")
    channels, height, width = config["image_shape"]
    factor = model.config.scale
    small = read_image(arguments.image, channels, height // factor, width // factor).to(device)
    steps = None if arguments.sampler == "ddpm" else arguments.steps
    large = diffusion.generate((1, channels, height, width), steps=steps,
                               sampler=arguments.sampler, seed=arguments.seed,
                               progress=not arguments.quiet, conditioning={"low_res": small})
    path = write_png(arguments.out, image_grid(large, padding=0), scale=arguments.scale)
    print(f"wrote the {factor}x upscaled image to {path}")
    return 0
