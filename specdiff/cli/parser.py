"""The ``specdiff`` command: train, sample and evaluate diffusion models.

    specdiff train --data digits --image-size 8 --steps 1000 --lr 1e-3 --warmup 100 \
        --min-snr-gamma 5 --out runs/digits
    specdiff sample runs/digits --n 64 --sampler dpmpp_sde --steps 20 --eta 1 --out samples.png
    specdiff evaluate runs/digits --sampler dpmpp_sde --steps 20 --eta 1

Also: ``inpaint`` (RePaint), ``upscale`` (a ``train --task sr`` run), ``export`` (a run as a
diffusers pipeline folder), ``import`` (a diffusers pipeline folder as a run) and ``conformance``
(the peer libraries' samplers judged by our laws). Each subcommand's
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
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

import torch
from safetensors import SafetensorError

from specdiff.cli import (
    conformance,
    evaluate,
    export,
    import_run,
    inpaint,
    sample,
    train,
    upscale,
)
from specdiff.cli.options import DEFAULT_THREADS, THREADS


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
    for command in (train, sample, inpaint, upscale, evaluate, export, import_run, conformance):
        command.add_parser(commands)
    for command_parser in commands.choices.values():
        command_parser.add_argument(
            "--threads", type=THREADS, default=DEFAULT_THREADS,
            help=f"torch CPU threads, in {THREADS} (default {DEFAULT_THREADS}: a shared machine "
                 f"stays fast; the thread count changes how reductions round, so a run is a "
                 f"function of its seed and its thread count)")
    return parser


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op CPU threads set to ``count`` for one command, restored after it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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
        with torch_threads(arguments.threads):
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
