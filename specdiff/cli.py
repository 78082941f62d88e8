"""The ``specdiff`` command: train, sample and evaluate diffusion models.

    specdiff train --data digits --model unet-digits --steps 3000 --out runs/digits
    specdiff sample runs/digits --n 64 --out samples.png
    specdiff evaluate runs/digits
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from specdiff.evaluation import evaluate_run, write_json_atomic
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
    result = train_run(arguments.out, config, data=arguments.data, model=arguments.model,
                       schedule=arguments.schedule, timesteps=arguments.timesteps,
                       image_size=arguments.image_size, device=arguments.device,
                       resume=arguments.resume, progress=not arguments.quiet)
    print(f"done: step {result.steps}, loss {result.last_loss:.4f}, checkpoint {result.checkpoint}")
    return 0


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


def evaluate(arguments: argparse.Namespace) -> int:
    device = resolve_device(arguments.device)
    diffusion, config = load_for_sampling(arguments.run_dir, device)
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
