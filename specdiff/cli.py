"""The ``specdiff`` command: train, sample and evaluate diffusion models.

    specdiff train --data digits --model unet-digits --steps 3000 --out runs/digits
    specdiff sample runs/digits --n 64 --out samples.png
    specdiff evaluate runs/digits
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from specdiff.data import ImageDataset, load_cifar10, load_digits, load_image_folder
from specdiff.diffusion import Diffusion
from specdiff.spec.images import write_ppm
from specdiff.train.checkpoint import latest_checkpoint, load_checkpoint, read_checkpoint_info
from specdiff.train.config import TrainConfig
from specdiff.train.models import (
    MODELS,
    SCHEDULES,
    build_model,
    build_schedule,
    model_record,
    schedule_record,
)
from specdiff.train.trainer import Trainer
from specdiff.visualize import image_grid, write_png


def load_dataset(spec: str, image_size: int | None) -> ImageDataset:
    """``digits``, ``cifar10:PATH`` or ``images:PATH`` (a folder of PNG/JPEG files)."""
    kind, _, path = spec.partition(":")
    if kind == "digits" and not path:
        return load_digits(image_size or 16, split="train")
    if kind == "cifar10" and path:
        return load_cifar10(path, split="train")
    if kind == "images" and path:
        return load_image_folder(path, size=image_size)
    raise ValueError(f"--data must be 'digits', 'cifar10:PATH' or 'images:PATH', got {spec!r}")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def train(arguments: argparse.Namespace) -> int:
    out = Path(arguments.out)
    if latest_checkpoint(out) is not None and not arguments.resume:
        raise ValueError(f"--out {out} already holds checkpoints: pass --resume to continue "
                         f"that run, or choose another folder (nothing was overwritten)")
    dataset = load_dataset(arguments.data, arguments.image_size)
    schedule = schedule_record(arguments.schedule, arguments.timesteps)
    if arguments.conditional and not dataset.has_labels:
        raise ValueError(f"--conditional needs labels, and {arguments.data} has none")
    num_classes = len(dataset.class_names) if arguments.conditional else None
    record = model_record(arguments.model, dataset.image_shape, arguments.timesteps, num_classes)
    config = TrainConfig(
        steps=arguments.steps, batch_size=arguments.batch_size,
        learning_rate=arguments.lr, warmup_steps=arguments.warmup, grad_clip=arguments.grad_clip,
        ema_decay=arguments.ema_decay, seed=arguments.seed, amp=arguments.amp,
        horizontal_flip=arguments.flip, compile=arguments.compile,
        class_conditional=arguments.conditional, p_uncond=arguments.p_uncond,
        checkpoint_every=arguments.checkpoint_every,
    )
    identity = {"model": record, "schedule": schedule, "data": arguments.data,
                "image_shape": list(dataset.image_shape)}
    diffusion = Diffusion(build_model(record, arguments.seed), build_schedule(schedule))
    trainer = Trainer(diffusion, dataset, config, out, identity=identity,
                      device=resolve_device(arguments.device), progress=not arguments.quiet)
    if arguments.resume:
        start = trainer.resume()
        print(f"resuming {out} at step {start}")
    parameters = sum(p.numel() for p in diffusion.model.parameters())
    print(f"training {arguments.model} ({parameters:,} parameters) on {dataset!r} "
          f"for {config.steps} steps on {trainer.device}")
    result = trainer.fit()
    print(f"done: step {result.steps}, loss {result.last_loss:.4f}, checkpoint {result.checkpoint}")
    return 0


def load_for_sampling(run_dir: str, device: torch.device) -> tuple[Diffusion, dict[str, Any]]:
    """The run's latest checkpoint as a Diffusion whose model holds the EMA weights."""
    info = read_checkpoint_info(run_dir)
    model, ema_model = build_model(info.config["model"]), build_model(info.config["model"])
    load_checkpoint(info.path, model=model, ema=ema_model, restore_global_rng=False)
    diffusion = Diffusion(ema_model, build_schedule(info.config["schedule"])).to(device).eval()
    return diffusion, info.config


def sample(arguments: argparse.Namespace) -> int:
    device = resolve_device(arguments.device)
    diffusion, config = load_for_sampling(arguments.run_dir, device)
    shape = (arguments.n, *config["image_shape"])
    steps = None if arguments.sampler == "ddpm" else arguments.steps
    images = diffusion.generate(shape, steps=steps, sampler=arguments.sampler, eta=arguments.eta,
                                seed=arguments.seed, progress=not arguments.quiet)
    path = write_png(arguments.out, image_grid(images), scale=arguments.scale)
    print(f"wrote {arguments.n} samples to {path}")
    if arguments.ppm:
        first = write_ppm(arguments.ppm, images.double().cpu().numpy())
        print(f"wrote the first sample to {first}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specdiff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    trainer = commands.add_parser("train", help="train an eps-model; checkpoints go to --out")
    trainer.add_argument("--data", default="digits",
                         help="digits | cifar10:PATH | images:PATH (default: digits)")
    trainer.add_argument("--model", default="unet-digits", choices=sorted(MODELS))
    trainer.add_argument("--steps", type=int, required=True)
    trainer.add_argument("--batch-size", type=int, default=64)
    trainer.add_argument("--out", required=True, help="run folder")
    trainer.add_argument("--resume", action="store_true",
                         help="continue from the latest checkpoint in --out")
    trainer.add_argument("--device", default="auto", help="auto | cpu | cuda")
    trainer.add_argument("--lr", type=float, default=1e-4)
    trainer.add_argument("--warmup", type=int, default=0, help="linear warmup steps")
    trainer.add_argument("--grad-clip", type=float, default=1.0)
    trainer.add_argument("--ema-decay", type=float, default=0.999)
    trainer.add_argument("--seed", type=int, default=0)
    trainer.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"],
                         help="autocast on CUDA")
    trainer.add_argument("--schedule", default="linear", choices=SCHEDULES)
    trainer.add_argument("--timesteps", type=int, default=1000)
    trainer.add_argument("--image-size", type=int, default=None,
                         help="digits: side to pad/upscale to (default 16); images: resize to")
    trainer.add_argument("--no-flip", dest="flip", action="store_false",
                         help="no random horizontal flips (on by default)")
    trainer.add_argument("--compile", action="store_true", help="torch.compile the model")
    trainer.add_argument("--conditional", action="store_true",
                         help="class-conditional model trained on the labels")
    trainer.add_argument("--p-uncond", type=float, default=0.1,
                         help="--conditional: chance a label is dropped to the null class")
    trainer.add_argument("--checkpoint-every", type=int, default=500)
    trainer.add_argument("--quiet", action="store_true", help="no progress bar")
    trainer.set_defaults(handler=train)

    sampler = commands.add_parser("sample", help="write a PNG grid of samples from a run")
    sampler.add_argument("run_dir")
    sampler.add_argument("--n", type=int, default=64)
    sampler.add_argument("--sampler", default="ddim", choices=["ddim", "ddpm"])
    sampler.add_argument("--steps", type=int, default=50, help="DDIM steps")
    sampler.add_argument("--eta", type=float, default=0.0)
    sampler.add_argument("--seed", type=int, default=0)
    sampler.add_argument("--out", default="samples.png")
    sampler.add_argument("--scale", type=int, default=4, help="PNG pixels per image pixel")
    sampler.add_argument("--ppm", default=None, help="also write the first sample as PPM here")
    sampler.add_argument("--device", default="auto")
    sampler.add_argument("--quiet", action="store_true")
    sampler.set_defaults(handler=sample)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        return int(arguments.handler(arguments))
    except (ValueError, FileNotFoundError) as error:
        print(f"specdiff {arguments.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
