"""The ``specdiff`` command: train, sample and evaluate diffusion models.

    specdiff train --data digits --image-size 8 --model unet-digits --steps 1500 --out runs/digits
    specdiff sample runs/digits --n 64 --out samples.png
    specdiff evaluate runs/digits

Also: ``inpaint`` (RePaint) and ``upscale`` (a ``train --task sr`` run). Each subcommand's
``--help`` lists its options; bad arguments exit with status 2 and a message naming them.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from specdiff.data import load_image, uint8_to_unit_range
from specdiff.diffusion import Diffusion, GuidedModel, sample_inpaint
from specdiff.evaluation import evaluate_run, write_json_atomic
from specdiff.nn import SuperResolutionUNet
from specdiff.spec.images import write_ppm
from specdiff.train.config import TrainConfig
from specdiff.train.models import MODELS, SCHEDULES
from specdiff.train.run import load_for_sampling, resolve_device, train_run
from specdiff.visualize import image_grid, write_png


def train(arguments: argparse.Namespace) -> int:
    # Mirrored digits are not digits: flips default to on for photos only.
    flip = arguments.flip if arguments.flip is not None else arguments.data != "digits"
    config = TrainConfig(
        steps=arguments.steps, batch_size=arguments.batch_size,
        learning_rate=arguments.lr, warmup_steps=arguments.warmup, grad_clip=arguments.grad_clip,
        ema_decay=arguments.ema_decay, seed=arguments.seed, amp=arguments.amp,
        horizontal_flip=flip, compile=arguments.compile,
        class_conditional=arguments.conditional, p_uncond=arguments.p_uncond,
        checkpoint_every=arguments.checkpoint_every,
    )
    model, scale = arguments.model, None
    if arguments.task == "sr":
        model, scale = (model if model.startswith("sr-") else f"sr-{model}"), arguments.scale
    result = train_run(arguments.out, config, data=arguments.data, model=model,
                       schedule=arguments.schedule, timesteps=arguments.timesteps,
                       zero_terminal_snr=arguments.zero_terminal_snr,
                       prediction_type=arguments.prediction_type,
                       image_size=arguments.image_size, scale=scale, device=arguments.device,
                       resume=arguments.resume, progress=not arguments.quiet)
    if not dist.is_initialized() or dist.get_rank() == 0:
        print(f"done: step {result.steps}, loss {result.last_loss:.4f}, "
              f"checkpoint {result.checkpoint}")
    return 0


def _load_run(run_dir: str, device: torch.device) -> tuple[Diffusion, dict[str, Any]]:
    """The run for sampling, saying which checkpoint was loaded (CKPT-7)."""
    diffusion, config, checkpoint = load_for_sampling(run_dir, device)
    print(f"loaded {checkpoint.path} (step {checkpoint.step})")
    return diffusion, config


def class_labels_for(choice: str, n: int, num_classes: int) -> torch.Tensor:
    """``--class K``: n copies of K; ``--class all``: ⌊n/K⌋ of each class, class by class."""
    if choice == "all":
        if n < num_classes:
            raise ValueError(f"--n must be at least the {num_classes} classes for --class all, "
                             f"got {n}")
        return torch.arange(num_classes).repeat_interleave(n // num_classes)
    if not choice.isdigit() or int(choice) >= num_classes:
        raise ValueError(f"--class must be 'all' or in [0, {num_classes}), got {choice!r}")
    return torch.full((n,), int(choice), dtype=torch.int64)


def sample(arguments: argparse.Namespace) -> int:
    device = resolve_device(arguments.device)
    diffusion, config = _load_run(arguments.run_dir, device)
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
            diffusion = Diffusion(guided, diffusion.schedule).to(device)
    elif arguments.guidance != 1.0:
        raise ValueError("--guidance needs --class")
    steps = None if arguments.sampler == "ddpm" else arguments.steps
    images = diffusion.generate((n, *config["image_shape"]), steps=steps,
                                sampler=arguments.sampler, eta=arguments.eta, seed=arguments.seed,
                                progress=not arguments.quiet, conditioning=conditioning)
    path = write_png(arguments.out, image_grid(images, columns), scale=arguments.scale)
    print(f"wrote {arguments.n} samples to {path}")
    if arguments.ppm:
        first = write_ppm(arguments.ppm, images.double().cpu().numpy())
        print(f"wrote the first sample to {first}")
    return 0


def _read_image(path: str, channels: int, height: int, width: int) -> torch.Tensor:
    """A PNG/JPEG as a (1, C, H, W) float batch in [−1, 1], which must be H×W."""
    image = torch.from_numpy(load_image(path, channels))
    if tuple(image.shape[2:]) != (height, width):
        raise ValueError(f"{path} must be {width}x{height} pixels for this run, got "
                         f"{image.shape[3]}x{image.shape[2]}")
    return uint8_to_unit_range(image)


def inpaint(arguments: argparse.Namespace) -> int:
    device = resolve_device(arguments.device)
    diffusion, config = _load_run(arguments.run_dir, device)
    channels, height, width = config["image_shape"]
    image = _read_image(arguments.image, channels, height, width).to(device)
    # White (≥ 128) mask pixels are kept from the image; black ones are generated.
    mask = (_read_image(arguments.mask, 1, height, width) >= 0.0).to(device, image.dtype)
    generator = torch.Generator(device).manual_seed(arguments.seed)
    result = sample_inpaint(diffusion.predict_noise, diffusion.schedule, image, mask,
                            generator=generator, jump_length=arguments.jump,
                            resample=arguments.resample, progress=not arguments.quiet)
    # Side by side: the input with its unknown pixels greyed out, then the inpainted image.
    shown = torch.cat([image * mask, result]) if arguments.side_by_side else result
    path = write_png(arguments.out, image_grid(shown), scale=arguments.scale)
    print(f"wrote the inpainted image to {path}")
    return 0


def upscale(arguments: argparse.Namespace) -> int:
    device = resolve_device(arguments.device)
    diffusion, config = _load_run(arguments.run_dir, device)
    model = diffusion.model
    if not isinstance(model, SuperResolutionUNet):
        raise ValueError(f"{arguments.run_dir} is not a super-resolution run "
                         f"(train with --task sr)")
    channels, height, width = config["image_shape"]
    factor = model.config.scale
    small = _read_image(arguments.image, channels, height // factor, width // factor).to(device)
    steps = None if arguments.sampler == "ddpm" else arguments.steps
    large = diffusion.generate((1, channels, height, width), steps=steps,
                               sampler=arguments.sampler, seed=arguments.seed,
                               progress=not arguments.quiet, conditioning={"low_res": small})
    path = write_png(arguments.out, image_grid(large, padding=0), scale=arguments.scale)
    print(f"wrote the {factor}x upscaled image to {path}")
    return 0


def evaluate(arguments: argparse.Namespace) -> int:
    device = resolve_device(arguments.device)
    diffusion, config = _load_run(arguments.run_dir, device)
    metrics = evaluate_run(diffusion, config, n_samples=arguments.n_samples,
                           vlb_timesteps=arguments.vlb_timesteps,
                           batch_size=arguments.batch_size, seed=arguments.seed)
    out = arguments.out or Path(arguments.run_dir) / "metrics.json"
    print(f"test loss {metrics['test_loss']:.4f}, {metrics['bits_per_dim']:.3f} bits/dim; "
          f"wrote {write_json_atomic(out, metrics)}")
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
    trainer.add_argument("--zero-terminal-snr", action="store_true",
                         help="rescale β so ᾱ_{T-1} = 0 (needs --prediction-type v_prediction)")
    trainer.add_argument("--prediction-type", default="epsilon",
                         choices=["epsilon", "sample", "v_prediction"],
                         help="what the model predicts: ε, x0 or v")
    trainer.add_argument("--image-size", type=int, default=None,
                         help="digits: side to pad/upscale to (default 16); images: resize to")
    trainer.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                         help="random horizontal flips (default: on, except for digits)")
    trainer.add_argument("--compile", action="store_true", help="torch.compile the model")
    trainer.add_argument("--conditional", action="store_true",
                         help="class-conditional model trained on the labels")
    trainer.add_argument("--p-uncond", type=float, default=0.1,
                         help="--conditional: chance a label is dropped to the null class")
    trainer.add_argument("--checkpoint-every", type=int, default=500)
    trainer.add_argument("--task", default="generate", choices=["generate", "sr"],
                         help="sr: a super-resolution model conditioned on the downsampled image")
    trainer.add_argument("--scale", type=int, default=2, help="--task sr: upscaling factor")
    trainer.add_argument("--quiet", action="store_true", help="no progress bar")
    trainer.set_defaults(handler=train)

    sampler = commands.add_parser("sample", help="write a PNG grid of samples from a run")
    sampler.add_argument("run_dir")
    sampler.add_argument("--n", type=int, default=64)
    sampler.add_argument("--sampler", default="ddim",
                         choices=["ddim", "ddpm", "pndm", "dpm_solver_pp"])
    sampler.add_argument("--steps", type=int, default=50, help="steps (not for ddpm: all T)")
    sampler.add_argument("--eta", type=float, default=0.0)
    sampler.add_argument("--seed", type=int, default=0)
    sampler.add_argument("--out", default="samples.png")
    sampler.add_argument("--scale", type=int, default=4, help="PNG pixels per image pixel")
    sampler.add_argument("--ppm", default=None, help="also write the first sample as PPM here")
    sampler.add_argument("--class", dest="class_label", default=None,
                         help="class-conditional runs: a class index, or 'all' (a row each)")
    sampler.add_argument("--guidance", type=float, default=1.0,
                         help="guidance weight w (1: the conditional model, 0: unconditional)")
    sampler.add_argument("--device", default="auto")
    sampler.add_argument("--quiet", action="store_true")
    sampler.set_defaults(handler=sample)

    painter = commands.add_parser("inpaint", help="fill the masked-out pixels of an image")
    painter.add_argument("run_dir")
    painter.add_argument("--image", required=True, help="PNG/JPEG of the run's image size")
    painter.add_argument("--mask", required=True, help="PNG: white = keep, black = generate")
    painter.add_argument("--out", default="inpainted.png")
    painter.add_argument("--jump", type=int, default=1, help="RePaint jump length")
    painter.add_argument("--resample", type=int, default=1, help="RePaint resampling count")
    painter.add_argument("--side-by-side", action="store_true",
                         help="write the masked input next to the result")
    painter.add_argument("--seed", type=int, default=0)
    painter.add_argument("--scale", type=int, default=4, help="PNG pixels per image pixel")
    painter.add_argument("--device", default="auto")
    painter.add_argument("--quiet", action="store_true")
    painter.set_defaults(handler=inpaint)

    upscaler = commands.add_parser("upscale", help="upscale an image with a --task sr run")
    upscaler.add_argument("run_dir")
    upscaler.add_argument("--image", required=True, help="PNG/JPEG of 1/scale the run's size")
    upscaler.add_argument("--out", default="upscaled.png")
    upscaler.add_argument("--sampler", default="ddim", choices=["ddim", "ddpm"])
    upscaler.add_argument("--steps", type=int, default=50)
    upscaler.add_argument("--seed", type=int, default=0)
    upscaler.add_argument("--scale", type=int, default=4, help="PNG pixels per image pixel")
    upscaler.add_argument("--device", default="auto")
    upscaler.add_argument("--quiet", action="store_true")
    upscaler.set_defaults(handler=upscale)

    evaluator = commands.add_parser(
        "evaluate", help="held-out loss, bits/dim and sample statistics into metrics.json")
    evaluator.add_argument("run_dir")
    evaluator.add_argument("--n-samples", type=int, default=256,
                           help="held-out images evaluated and samples generated (default 256)")
    evaluator.add_argument("--vlb-timesteps", type=int, default=None,
                           help="K: stratified bound estimate over K timesteps (default: all T)")
    evaluator.add_argument("--batch-size", type=int, default=64)
    evaluator.add_argument("--seed", type=int, default=0)
    evaluator.add_argument("--device", default="auto")
    evaluator.add_argument("--out", default=None, help="default: RUN_DIR/metrics.json")
    evaluator.set_defaults(handler=evaluate)
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
