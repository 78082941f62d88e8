"""The ``specdiff`` command: train, sample and evaluate diffusion models.

    specdiff train --data digits --image-size 8 --model unet-digits --steps 1500 --out runs/digits
    specdiff sample runs/digits --n 64 --out samples.png
    specdiff evaluate runs/digits

Also: ``inpaint`` (RePaint) and ``upscale`` (a ``train --task sr`` run). Each subcommand's
``--help`` lists its options and every number's accepted range.

Bad input — a value outside its range, an output path that cannot be written, a run or image
file that cannot be read — exits with status 2 and one line on stderr,
``specdiff COMMAND: error: ...``, naming the option or file; nothing is written. Numbers are
parsed strictly (ASCII digits, finite), and every range is checked while parsing, before any
run is loaded. Seeds: sample, inpaint, upscale and evaluate take [0, 2**32) (torch's CPU
generator keeps only the low 32 bits of a seed, so a larger range would give two seeds one
stream); train [0, 2**22) (TRAIN-4: the step generators' seeds encode the seed in 22 bits).
"""

import argparse
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import torch
import torch.distributed as dist
from safetensors import SafetensorError

from specdiff.data import load_image, uint8_to_unit_range
from specdiff.diffusion import Diffusion, GuidedModel, sample_inpaint
from specdiff.diffusion.api import SAMPLERS
from specdiff.evaluation import evaluate_run, write_json_atomic
from specdiff.nn import SuperResolutionUNet
from specdiff.spec.images import write_ppm
from specdiff.train.config import TrainConfig
from specdiff.train.models import MODELS, SCHEDULES
from specdiff.train.run import load_for_sampling, resolve_device, train_run
from specdiff.visualize import image_grid, write_png

# --- what each option accepts, checked while parsing --------------------------------------------

# ASCII digits only: int() and float() also take "³", "١", "１", "1_0" and " 5".
_INTEGER = re.compile(r"-?[0-9]{1,40}")
_REAL = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,4})?")


def _bound(value: float) -> str:
    """A range end as written in messages and --help: 2**22 for large powers of two."""
    if isinstance(value, int) and value > 2**20 and value & (value - 1) == 0:
        return f"2**{value.bit_length() - 1}"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class IntegerIn:
    """An argparse type: an integer in [low, high], or [low, high) with ``high_open``."""

    low: int
    high: int
    high_open: bool = False

    def __call__(self, text: str) -> int:
        value = int(text) if _INTEGER.fullmatch(text) else None
        if value is None or not self.low <= value <= self.high or \
                (self.high_open and value == self.high):
            raise argparse.ArgumentTypeError(f"must be an integer in {self}, got {text!r}")
        return value

    def __str__(self) -> str:
        return f"[{_bound(self.low)}, {_bound(self.high)}{')' if self.high_open else ']'}"


@dataclass(frozen=True)
class RealIn:
    """An argparse type: a finite decimal number in the interval with the given ends."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def __call__(self, text: str) -> float:
        value = float(text) if _REAL.fullmatch(text) else math.nan
        inside = (self.low < value if self.low_open else self.low <= value) and \
                 (value < self.high if self.high_open else value <= self.high)
        if not inside:  # NaN and ±inf are never inside
            raise argparse.ArgumentTypeError(f"must be a number in {self}, got {text!r}")
        return value

    def __str__(self) -> str:
        return (f"{'(' if self.low_open else '['}{_bound(self.low)}, {_bound(self.high)}"
                f"{')' if self.high_open else ']'}")


# The ranges. Sizes stop at documented maxima so that a typo fails here, not in an allocation.
STEPS = IntegerIn(1, 10**9)  # train --steps, --checkpoint-every
WARMUP = IntegerIn(0, 10**9)
BATCH_SIZE = IntegerIn(1, 2**16)
IMAGE_SIDE = IntegerIn(8, 1024)
TIMESTEPS = IntegerIn(1, 100_000)  # train --timesteps and every count of them
SR_SCALE = IntegerIn(2, 64)
SAMPLE_COUNT = IntegerIn(1, 2**16)  # sample --n, evaluate --n-samples
PNG_SCALE = IntegerIn(1, 32)
RESAMPLE = IntegerIn(1, 1000)
SAMPLING_SEED = IntegerIn(0, 2**32, high_open=True)
EVALUATE_SEED = SAMPLING_SEED
TRAIN_SEED = IntegerIn(0, 2**22, high_open=True)
LEARNING_RATE = RealIn(0.0, 1.0, low_open=True)
GRAD_CLIP = RealIn(0.0, 1e6, low_open=True)
EMA_DECAY = RealIn(0.0, 1.0, high_open=True)
PROBABILITY = RealIn(0.0, 1.0)  # --p-uncond, --eta
GUIDANCE = RealIn(0.0, 100.0)
DEVICES = ("auto", "cpu", "cuda")
SR_DEFAULT_SCALE = 2


def class_choice(text: str) -> int | Literal["all"]:
    """``--class``: 'all' or a class index (checked against the run's classes once loaded)."""
    if text == "all":
        return "all"
    if not _INTEGER.fullmatch(text) or int(text) < 0:
        raise argparse.ArgumentTypeError(f"must be 'all' or an integer >= 0 (a class index), "
                                         f"got {text!r}")
    return int(text)


def output_file(text: str) -> str:
    """An argparse type: a file path that can be written (its missing folders created)."""
    return _usable_path(text, _output_problem)


def run_folder(text: str) -> str:
    """An argparse type: a folder that exists or can be created, and takes new files."""
    return _usable_path(text, _run_folder_problem)


def _usable_path(text: str, problem_of: Callable[[Path], str | None]) -> str:
    try:
        problem = problem_of(Path(text))
    except OSError as error:  # e.g. a name longer than the file system takes
        problem = f"cannot be used as a path ({error.strerror or error})"
    if problem:
        raise argparse.ArgumentTypeError(f"{text}: {problem}")
    return text


def _run_folder_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a run folder, or None."""
    if path.exists() and not path.is_dir():
        return "is a file, not a run folder"
    return _cannot_create_in(path)


def _output_problem(path: Path) -> str | None:
    """Why no file can be written at ``path``, or None."""
    if path.is_dir():
        return "is an existing folder; give a file name"
    return _cannot_create_in(path.parent, path.name)


def _cannot_create_in(folder: Path, file_name: str = "") -> str | None:
    """Why no file (named ``file_name``, if given) can be created in ``folder``, its missing
    folders created first, or None."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    limit = os.pathconf(existing, "PC_NAME_MAX")
    new_names = [*folder.relative_to(existing).parts, file_name]
    if any(len(os.fsencode(name)) > limit for name in new_names):
        return f"a name in it is longer than the {limit} bytes the file system takes"
    try:  # a nameless (or at once removed) file: the only sure test, and it leaves nothing
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        return f"cannot create files in {existing} ({error.strerror or error})"
    return None


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
    if arguments.scale is not None and arguments.task != "sr":
        raise ValueError(f"--scale {arguments.scale} is the upscaling factor of --task sr: add "
                         f"--task sr, or leave --scale out")
    if arguments.task == "sr":
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


def _load_run(run_dir: str, device: torch.device) -> tuple[Diffusion, dict[str, Any]]:
    """The run for sampling, saying which checkpoint was loaded (CKPT-7)."""
    diffusion, config, checkpoint = load_for_sampling(run_dir, device)
    print(f"loaded {checkpoint.path} (step {checkpoint.step})")
    return diffusion, config


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


def sample(arguments: argparse.Namespace) -> int:
    device = resolve_device(arguments.device)
    diffusion, config = _load_run(arguments.run_dir, device)
    _require_generative(arguments, diffusion)
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


def _require_generative(arguments: argparse.Namespace, diffusion: Diffusion) -> None:
    """sample, inpaint and evaluate draw images from noise alone, which a --task sr model
    cannot: it needs the low-resolution image."""
    if isinstance(diffusion.model, SuperResolutionUNet):
        raise ValueError(f"{arguments.run_dir} is a super-resolution run (train --task sr): it "
                         f"makes an image from a low-resolution one, so it cannot "
                         f"{arguments.command}; use specdiff upscale {arguments.run_dir} "
                         f"--image LOW_RES.png")


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
    _require_generative(arguments, diffusion)
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
    out = arguments.out or Path(arguments.run_dir) / "metrics.json"
    problem = None if arguments.out else _output_problem(out)
    if problem:
        raise ValueError(f"cannot write {out}: {problem}; choose a file with --out")
    device = resolve_device(arguments.device)
    diffusion, config = _load_run(arguments.run_dir, device)
    _require_generative(arguments, diffusion)
    metrics = evaluate_run(diffusion, config, n_samples=arguments.n_samples,
                           vlb_timesteps=arguments.vlb_timesteps,
                           batch_size=arguments.batch_size, seed=arguments.seed)
    print(f"test loss {metrics['test_loss']:.4f}, {metrics['bits_per_dim']:.3f} bits/dim; "
          f"wrote {write_json_atomic(out, metrics)}")
    return 0


class _UsageError(Exception):
    """A command line argparse refused; its one-line message names the command and option."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors reach main as one line, not usage text and an exit."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="specdiff", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    trainer = commands.add_parser("train", help="train an eps-model; checkpoints go to --out")
    trainer.add_argument("--data", default="digits",
                         help="digits | cifar10:PATH | images:PATH (default: digits)")
    trainer.add_argument("--model", default="unet-digits", choices=sorted(MODELS))
    trainer.add_argument("--steps", type=STEPS, required=True, help=f"in {STEPS}")
    trainer.add_argument("--batch-size", type=BATCH_SIZE, default=64, help=f"in {BATCH_SIZE}")
    trainer.add_argument("--out", required=True, type=run_folder, help="run folder")
    trainer.add_argument("--resume", action="store_true",
                         help="continue from the latest checkpoint in --out")
    trainer.add_argument("--device", default="auto", choices=DEVICES)
    trainer.add_argument("--lr", type=LEARNING_RATE, default=1e-4, help=f"in {LEARNING_RATE}")
    trainer.add_argument("--warmup", type=WARMUP, default=0,
                         help=f"linear warmup steps, in {WARMUP}")
    trainer.add_argument("--grad-clip", type=GRAD_CLIP, default=1.0, help=f"in {GRAD_CLIP}")
    trainer.add_argument("--ema-decay", type=EMA_DECAY, default=0.999, help=f"in {EMA_DECAY}")
    trainer.add_argument("--seed", type=TRAIN_SEED, default=0, help=f"in {TRAIN_SEED}")
    trainer.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"],
                         help="autocast on CUDA")
    trainer.add_argument("--schedule", default="linear", choices=SCHEDULES)
    trainer.add_argument("--timesteps", type=TIMESTEPS, default=1000, help=f"T, in {TIMESTEPS}")
    trainer.add_argument("--zero-terminal-snr", action="store_true",
                         help="rescale β so ᾱ_{T-1} = 0 (needs --prediction-type v_prediction)")
    trainer.add_argument("--prediction-type", default="epsilon",
                         choices=["epsilon", "sample", "v_prediction"],
                         help="what the model predicts: ε, x0 or v")
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
    trainer.set_defaults(handler=train)

    sampler = commands.add_parser("sample", help="write a PNG grid of samples from a run")
    sampler.add_argument("run_dir")
    sampler.add_argument("--n", type=SAMPLE_COUNT, default=64, help=f"in {SAMPLE_COUNT}")
    sampler.add_argument("--sampler", default="ddim", choices=SAMPLERS,
                         help="the σ samplers (euler … unipc) are specs/sigma.md's; --eta is the "
                              "ancestral/SDE noise (EDM: S_churn = 40·eta)")
    sampler.add_argument("--steps", type=TIMESTEPS, default=50,
                         help=f"steps (not for ddpm: all T), in {TIMESTEPS} and at most T")
    sampler.add_argument("--eta", type=PROBABILITY, default=0.0,
                         help=f"ddim noise, in {PROBABILITY}")
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
    sampler.add_argument("--device", default="auto", choices=DEVICES)
    sampler.add_argument("--quiet", action="store_true")
    sampler.set_defaults(handler=sample)

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
    painter.set_defaults(handler=inpaint)

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
    upscaler.set_defaults(handler=upscale)

    evaluator = commands.add_parser(
        "evaluate", help="held-out loss, bits/dim and sample statistics into metrics.json")
    evaluator.add_argument("run_dir")
    evaluator.add_argument("--n-samples", type=SAMPLE_COUNT, default=256,
                           help=f"held-out images evaluated and samples generated (default "
                                f"256), in {SAMPLE_COUNT}")
    evaluator.add_argument("--vlb-timesteps", type=TIMESTEPS, default=None,
                           help=f"K: stratified bound estimate over K timesteps (default: all "
                                f"T), in {TIMESTEPS} and at most T")
    evaluator.add_argument("--batch-size", type=BATCH_SIZE, default=64, help=f"in {BATCH_SIZE}")
    evaluator.add_argument("--seed", type=EVALUATE_SEED, default=0,
                           help=f"in {EVALUATE_SEED} (batch i draws from seed + i)")
    evaluator.add_argument("--device", default="auto", choices=DEVICES)
    evaluator.add_argument("--out", type=output_file, default=None,
                           help="default: RUN_DIR/metrics.json")
    evaluator.set_defaults(handler=evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; bad input returns 2 after one line on stderr (see the module doc)."""
    try:
        arguments, unknown = build_parser().parse_known_args(argv)
    except _UsageError as error:
        return _fail(str(error))
    if unknown:  # argparse would blame "specdiff"; the command is known by now
        return _fail(f"specdiff {arguments.command}: error: unrecognized arguments: "
                     f"{' '.join(unknown)}")
    try:
        return int(arguments.handler(arguments))
    except SafetensorError as error:  # its messages name no file: name the run it came from
        run = getattr(arguments, "run_dir", None) or arguments.out
        return _fail(f"specdiff {arguments.command}: error: a checkpoint file of {run} is "
                     f"corrupt ({error})")
    except (ValueError, OSError) as error:  # bad values, unreadable or unwritable files
        return _fail(f"specdiff {arguments.command}: error: {error}")


def _fail(line: str) -> int:
    print(" ".join(line.split()), file=sys.stderr)  # one line, whatever the message held
    return 2


if __name__ == "__main__":
    sys.exit(main())
