"""``specdiff train``: train a model into a run folder (checkpoints, metrics)."""

import argparse
from typing import Any

import torch.distributed as dist

from specdiff.cli.options import (
    BATCH_SIZE,
    DEVICES,
    EMA_DECAY,
    GRAD_CLIP,
    IMAGE_SIDE,
    LEARNING_RATE,
    MIN_SNR_GAMMA,
    PROBABILITY,
    SR_DEFAULT_SCALE,
    SR_SCALE,
    STEPS,
    TIMESTEPS,
    TRAIN_SEED,
    WARMUP,
    run_folder,
)
from specdiff.spec.parameterization import PREDICTION_TYPES
from specdiff.train.config import TrainConfig
from specdiff.train.models import MODELS, SCHEDULES
from specdiff.train.run import train_run


def add_parser(commands: Any) -> None:
    """Adds the command, its options and their accepted ranges, to ``commands``."""
    trainer = commands.add_parser("train", help="train an eps-model; checkpoints go to --out")
    trainer.add_argument("--data", default="digits",
                         help="digits | cifar10:PATH | images:PATH (default: digits)")
    trainer.add_argument("--model", default=None, choices=sorted(MODELS),
                         help="default unet-digits (a resumed imported run keeps its own)")
    trainer.add_argument("--steps", type=STEPS, required=True, help=f"in {STEPS}")
    trainer.add_argument("--batch-size", type=BATCH_SIZE, default=64, help=f"in {BATCH_SIZE}")
    trainer.add_argument("--out", required=True, type=run_folder, help="run folder")
    trainer.add_argument("--resume", action="store_true",
                         help="continue from the latest checkpoint in --out (a run of "
                              "`specdiff import`: fine-tune it)")
    trainer.add_argument("--device", default="auto", choices=DEVICES)
    trainer.add_argument("--lr", type=LEARNING_RATE, default=1e-4, help=f"in {LEARNING_RATE}")
    trainer.add_argument("--warmup", type=WARMUP, default=0,
                         help=f"linear warmup steps, in {WARMUP}")
    trainer.add_argument("--grad-clip", type=GRAD_CLIP, default=1.0, help=f"in {GRAD_CLIP}")
    trainer.add_argument("--ema-decay", type=EMA_DECAY, default=0.999, help=f"in {EMA_DECAY}")
    trainer.add_argument("--min-snr-gamma", type=MIN_SNR_GAMMA, default=None,
                         help=f"weight each example's loss by min(SNR, γ) in x0 terms "
                              f"(Hang et al. 2023; 5 is theirs), in {MIN_SNR_GAMMA}; default: "
                              f"the plain mean")
    trainer.add_argument("--seed", type=TRAIN_SEED, default=0, help=f"in {TRAIN_SEED}")
    trainer.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"],
                         help="autocast on CUDA")
    trainer.add_argument("--schedule", default=None, choices=SCHEDULES,
                         help="default linear (a resumed imported run keeps its own)")
    trainer.add_argument("--timesteps", type=TIMESTEPS, default=None,
                         help=f"T, in {TIMESTEPS} (default 1000)")
    trainer.add_argument("--zero-terminal-snr", action="store_true",
                         help="rescale β so ᾱ_{T-1} = 0 (needs --prediction-type v_prediction)")
    trainer.add_argument("--prediction-type", default=None, choices=PREDICTION_TYPES,
                         help="what the model predicts: ε (default), x0 or v")
    trainer.add_argument("--image-size", type=IMAGE_SIDE, default=None,
                         help=f"digits: side to pad/upscale to (default 16); images: resize to; "
                              f"in {IMAGE_SIDE}")
    trainer.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                         help="random horizontal flips (default: on, except for digits)")
    trainer.add_argument("--compile", action="store_true", help="torch.compile the model")
    trainer.add_argument("--conditional", action="store_true",
                         help="class-conditional model trained on the labels")
    trainer.add_argument("--p-uncond", type=PROBABILITY, default=0.1,
                         help=f"--conditional: chance a label is dropped to the null class, "
                              f"in {PROBABILITY}")
    trainer.add_argument("--checkpoint-every", type=STEPS, default=500, help=f"in {STEPS}")
    trainer.add_argument("--task", default="generate", choices=["generate", "sr"],
                         help="sr: a super-resolution model conditioned on the downsampled image")
    trainer.add_argument("--scale", type=SR_SCALE, default=None,
                         help=f"--task sr: upscaling factor, in {SR_SCALE} (default "
                              f"{SR_DEFAULT_SCALE})")
    trainer.add_argument("--quiet", action="store_true", help="no progress bar")
    trainer.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    # Mirrored digits are not digits: flips default to on for photos only.
    flip = arguments.flip if arguments.flip is not None else arguments.data != "digits"
    config = TrainConfig(
        steps=arguments.steps, batch_size=arguments.batch_size,
        learning_rate=arguments.lr, warmup_steps=arguments.warmup, grad_clip=arguments.grad_clip,
        ema_decay=arguments.ema_decay, seed=arguments.seed, amp=arguments.amp,
        horizontal_flip=flip, compile=arguments.compile,
        class_conditional=arguments.conditional, p_uncond=arguments.p_uncond,
        checkpoint_every=arguments.checkpoint_every, min_snr_gamma=arguments.min_snr_gamma,
    )
    model, scale = arguments.model, None
    if arguments.scale is not None and arguments.task != "sr":
        raise ValueError(f"--scale {arguments.scale} is the upscaling factor of --task sr: add "
                         f"--task sr, or leave --scale out")
    if arguments.task == "sr":
        model = model or "unet-digits"
        model = model if model.startswith("sr-") else f"sr-{model}"
        scale = SR_DEFAULT_SCALE if arguments.scale is None else arguments.scale
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
