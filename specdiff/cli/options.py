"""What each option of the ``specdiff`` command accepts, checked while parsing: numbers in their
ranges (ASCII digits, finite) and paths that can be written."""

import argparse
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from specdiff.diffusion.api import SAMPLERS
from specdiff.spec.parameterization import MIN_SNR_GAMMA_RANGE

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
MIN_SNR_GAMMA = RealIn(*MIN_SNR_GAMMA_RANGE, low_open=True)
EMA_DECAY = RealIn(0.0, 1.0, high_open=True)
PROBABILITY = RealIn(0.0, 1.0)  # --p-uncond, --eta
GUIDANCE = RealIn(0.0, 100.0)
DEVICES = ("auto", "cpu", "cuda")
THREADS = IntegerIn(1, 1024)
# One thread per command: on a 2-core machine shared with other work, torch's default (one per
# core) spins its threads against the neighbours' and a training step gets about ten times
# slower (benchmarks/train.py, README "Threads"); alone on the machine, more threads gain less.
DEFAULT_THREADS = 1
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
    return _usable_path(text, output_problem)


def run_folder(text: str) -> str:
    """An argparse type: a folder that exists or can be created, and takes new files."""
    return _usable_path(text, _run_folder_problem)


def new_folder(text: str) -> str:
    """An argparse type: a folder that does not exist yet (or is empty) and can be created."""
    return _usable_path(text, _new_folder_problem)


def _new_folder_problem(path: Path) -> str | None:
    """Why ``path`` cannot be made a new folder, or None."""
    if os.path.lexists(path) and (path.is_symlink() or not path.is_dir() or any(path.iterdir())):
        return "already exists and is not an empty folder; choose a new folder"
    return _cannot_create_in(path)


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


def output_problem(path: Path) -> str | None:
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


def add_sampler_options(parser: argparse.ArgumentParser) -> None:
    """``--sampler``, ``--steps`` and ``--eta``: which of Diffusion.generate's samplers draws the
    samples, shared by the commands that draw them."""
    parser.add_argument("--sampler", default="ddim", choices=SAMPLERS,
                        help="the σ samplers (euler … unipc) are specs/sigma.md's; --eta is the "
                             "ancestral/SDE noise (EDM: S_churn = 40·eta)")
    parser.add_argument("--steps", type=TIMESTEPS, default=50,
                        help=f"steps (not for ddpm: all T), in {TIMESTEPS} and at most T")
    parser.add_argument("--eta", type=PROBABILITY, default=0.0,
                        help=f"ddim noise, in {PROBABILITY}")


def sampler_steps(arguments: argparse.Namespace) -> int | None:
    """The steps ``--steps`` asks of the sampler: DDPM visits every timestep (None)."""
    return None if arguments.sampler == "ddpm" else int(arguments.steps)
