"""Tiny runs and input files for the CLI tests, each made in a second or two."""

import contextlib
import io
from pathlib import Path

import numpy as np

from specdiff.cli import main
from specdiff.testing import write_png

# 8×8 digits, T = 20, batch 8: the smallest run the CLI trains.
TINY = ["--data", "digits", "--image-size", "8", "--timesteps", "20", "--batch-size", "8",
        "--quiet"]


def train(out: Path, *options: str, model: str = "epsconv", steps: int = 2) -> Path:
    """``specdiff train`` into ``out`` (its output swallowed); returns ``out``."""
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", *TINY, "--model", model, "--steps", str(steps), "--out", str(out),
                     *options])
    assert code == 0, f"training the fixture run {out} failed"
    return out


def write_inputs(folder: Path) -> dict[str, Path]:
    """An 8×8 grey image, its half mask (left kept) and a 4×4 low-res image, as PNGs."""
    image = np.random.default_rng(0).integers(0, 256, (8, 8))
    mask = np.zeros((8, 8))
    mask[:, :4] = 255
    files = {"image": folder / "in.png", "mask": folder / "mask.png", "small": folder / "small.png"}
    write_png(files["image"], image)
    write_png(files["mask"], mask)
    write_png(files["small"], np.full((4, 4), 128))
    return files
