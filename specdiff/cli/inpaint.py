"""``specdiff inpaint``: fill the masked-out pixels of an image (RePaint)."""

import argparse
from typing import Any

import torch

from specdiff.cli.loading import load_run, read_image, require_generative
from specdiff.cli.options import DEVICES, PNG_SCALE, RESAMPLE, SAMPLING_SEED, TIMESTEPS, output_file
from specdiff.diffusion import sample_inpaint
from specdiff.train.run import resolve_device
from specdiff.visualize import image_grid, write_png


def add_parser(commands: Any) -> None:
    """Adds the command, its options and their accepted ranges, to ``commands``."""
    painter = commands.add_parser("inpaint", help="fill the masked-out pixels of an image")
    painter.add_argument("run_dir")
    painter.add_argument("--image", required=True, help="PNG/JPEG of the run's image size")
    painter.add_argument("--mask", required=True, help="PNG: white = keep, black = generate")
    painter.add_argument("--out", type=output_file, default="inpainted.png")
    painter.add_argument("--jump", type=TIMESTEPS, default=1,
                         help=f"RePaint jump length, in {TIMESTEPS}")
    painter.add_argument("--resample", type=RESAMPLE, default=1,
                         help=f"RePaint resampling count, in {RESAMPLE}")
    painter.add_argument("--side-by-side", action="store_true",
                         help="write the masked input next to the result")
    painter.add_argument("--seed", type=SAMPLING_SEED, default=0, help=f"in {SAMPLING_SEED}")
    painter.add_argument("--scale", type=PNG_SCALE, default=4,
                         help=f"PNG pixels per image pixel, in {PNG_SCALE}")
    painter.add_argument("--device", default="auto", choices=DEVICES)
    painter.add_argument("--quiet", action="store_true")
    painter.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    device = resolve_device(arguments.device)
    diffusion, config = load_run(arguments.run_dir, device)
    require_generative(arguments, diffusion)
    channels, height, width = config["image_shape"]
    image = read_image(arguments.image, channels, height, width).to(device)
    # White (≥ 128) mask pixels are kept from the image; black ones are generated.
    mask = (read_image(arguments.mask, 1, height, width) >= 0.0).to(device, image.dtype)
    generator = torch.Generator(device).manual_seed(arguments.seed)
    result = sample_inpaint(diffusion.predict_noise, diffusion.schedule, image, mask,
                            generator=generator, jump_length=arguments.jump,
                            resample=arguments.resample, progress=not arguments.quiet)
    # Side by side: the input with its unknown pixels greyed out, then the inpainted image.
    shown = torch.cat([image * mask, result]) if arguments.side_by_side else result
    path = write_png(arguments.out, image_grid(shown), scale=arguments.scale)
    print(f"wrote the inpainted image to {path}")
    return 0
