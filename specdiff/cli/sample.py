"""``specdiff sample``: a PNG grid of samples from a run, with any sampler of Diffusion.generate."""

import argparse
from pathlib import Path
from typing import Any, Literal

import torch

from specdiff.cli.loading import load_run, require_generative
from specdiff.cli.options import (
    DEVICES,
    GUIDANCE,
    PNG_SCALE,
    SAMPLE_COUNT,
    SAMPLING_SEED,
    TIMESTEPS,
    add_sampler_options,
    class_choice,
    output_file,
    sampler_steps,
)
from specdiff.diffusion import Diffusion, GuidedModel
from specdiff.evaluation.plots import PLOTS_EXTRA, require_matplotlib
from specdiff.evaluation.trajectory import TRAJECTORY_COLUMNS, Trajectory, write_trajectory
from specdiff.spec.images import write_ppm
from specdiff.train.run import resolve_device
from specdiff.visualize import image_grid, write_png


def add_parser(commands: Any) -> None:
    """Adds the command, its options and their accepted ranges, to ``commands``."""
    sampler = commands.add_parser("sample", help="write a PNG grid of samples from a run")
    sampler.add_argument("run_dir")
    sampler.add_argument("--n", type=SAMPLE_COUNT, default=64, help=f"in {SAMPLE_COUNT}")
    add_sampler_options(sampler)
    sampler.add_argument("--seed", type=SAMPLING_SEED, default=0, help=f"in {SAMPLING_SEED}")
    sampler.add_argument("--out", type=output_file, default="samples.png")
    sampler.add_argument("--scale", type=PNG_SCALE, default=4,
                         help=f"PNG pixels per image pixel, in {PNG_SCALE}")
    sampler.add_argument("--ppm", type=output_file, default=None,
                         help="also write the first sample as PPM here")
    sampler.add_argument("--class", dest="class_label", type=class_choice, default=None,
                         help="class-conditional runs: a class index, or 'all' (a row each)")
    sampler.add_argument("--guidance", type=GUIDANCE, default=1.0,
                         help=f"guidance weight w in {GUIDANCE} (1: the conditional model, "
                              f"0: unconditional)")
    sampler.add_argument("--trajectory", type=output_file, default=None,
                         help=f"also draw x̂0 along the sampling path of the first samples into "
                              f"this PNG (matplotlib: {PLOTS_EXTRA})")
    sampler.add_argument("--trajectory-every", type=TIMESTEPS, default=None,
                         help=f"draw x̂0 after every K-th model call (default: about "
                              f"{TRAJECTORY_COLUMNS} columns), in {TIMESTEPS}")
    sampler.add_argument("--device", default="auto", choices=DEVICES)
    sampler.add_argument("--quiet", action="store_true")
    sampler.set_defaults(handler=run)


def class_labels_for(choice: int | Literal["all"], n: int, num_classes: int) -> torch.Tensor:
    """``--class K``: n copies of K; ``--class all``: ⌊n/K⌋ of each class, class by class."""
    if choice == "all":
        if n < num_classes:
            raise ValueError(f"--n must be at least the {num_classes} classes for --class all, "
                             f"got {n}")
        return torch.arange(num_classes).repeat_interleave(n // num_classes)
    if choice >= num_classes:
        raise ValueError(f"--class must be 'all' or in [0, {num_classes}), got {choice}")
    return torch.full((n,), choice, dtype=torch.int64)


def run(arguments: argparse.Namespace) -> int:
    if arguments.trajectory_every is not None and arguments.trajectory is None:
        raise ValueError("--trajectory-every needs --trajectory")
    if arguments.trajectory:  # before any work
        require_matplotlib()
        if Path(arguments.trajectory).resolve() == Path(arguments.out).resolve():
            raise ValueError(f"--trajectory must name another file than --out, got "
                             f"{arguments.trajectory} for both (one would overwrite the other)")
    device = resolve_device(arguments.device)
    diffusion, config = load_run(arguments.run_dir, device)
    require_generative(arguments, diffusion)
    num_classes = config["model"]["config"].get("num_classes")
    n, columns, conditioning = arguments.n, None, None
    if arguments.class_label is not None:
        if num_classes is None:
            raise ValueError("--class needs a class-conditional run (train with --conditional)")
        labels = class_labels_for(arguments.class_label, n, num_classes).to(device)
        n = labels.shape[0]
        if arguments.class_label == "all":
            columns = n // num_classes  # one row per class
        if arguments.guidance == 1.0:  # w = 1 is the conditional model: no second pass
            conditioning = {"class_labels": labels}
        else:
            guided = GuidedModel(diffusion.model, labels, arguments.guidance, num_classes)
            diffusion = Diffusion(guided, diffusion.schedule,
                                  prediction_type=diffusion.prediction_type).to(device)
    elif arguments.guidance != 1.0:
        raise ValueError("--guidance needs --class")
    trajectory = Trajectory() if arguments.trajectory else None
    images = diffusion.generate((n, *config["image_shape"]), steps=sampler_steps(arguments),
                                sampler=arguments.sampler, eta=arguments.eta, seed=arguments.seed,
                                progress=not arguments.quiet, conditioning=conditioning,
                                watch=trajectory)
    path = write_png(arguments.out, image_grid(images, columns), scale=arguments.scale)
    print(f"wrote {arguments.n} samples to {path}")
    if trajectory is not None:
        drawn = write_trajectory(arguments.trajectory, trajectory, images, arguments.sampler,
                                 arguments.trajectory_every)
        print(f"wrote the sampling path of the first {min(trajectory.rows, n)} samples to "
              f"{drawn}")
    if arguments.ppm:
        first = write_ppm(arguments.ppm, images.double().cpu().numpy())
        print(f"wrote the first sample to {first}")
    return 0
