"""``specdiff sample --trajectory``: x̂0 along the sampling path of the first samples, read by a
watcher of ``Diffusion.generate`` (SAMP-12), so the samples are those drawn without it."""

import math
import os
from pathlib import Path

import torch

from specdiff._atomic import write_atomically
from specdiff.evaluation.plots import figure_png, trajectory_figure

TRAJECTORY_ROWS = 4  # the samples whose path is drawn
TRAJECTORY_COLUMNS = 8  # without --trajectory-every, about this many model calls are shown


class Trajectory:
    """A ``watch`` for ``Diffusion.generate``: x̂0 of the first ``rows`` samples (on the CPU)
    and the timestep of every model call, in call order."""

    def __init__(self, rows: int = TRAJECTORY_ROWS) -> None:
        self.rows = rows
        self.timesteps: list[int] = []
        self.predictions: list[torch.Tensor] = []

    def __call__(self, call: int, t: int, x_t: torch.Tensor, x0_hat: torch.Tensor) -> None:
        self.timesteps.append(t)
        self.predictions.append(x0_hat[:self.rows].cpu())


def shown_calls(calls: int, every: int | None) -> list[int]:
    """The model calls drawn: 0, k, 2k, … below ``calls``, and the last one; k = ``every``, or
    ⌈calls/TRAJECTORY_COLUMNS⌉."""
    if calls < 1:
        raise ValueError(f"calls must be an int >= 1 (the sampler calls the model), got {calls}")
    step = every or math.ceil(calls / TRAJECTORY_COLUMNS)
    if step < 1:
        raise ValueError(f"every must be an int >= 1, got {every}")
    shown = list(range(0, calls, step))
    return shown if shown[-1] == calls - 1 else [*shown, calls - 1]


def write_trajectory(path: str | os.PathLike[str], trajectory: Trajectory,
                     samples: torch.Tensor, sampler: str, every: int | None) -> Path:
    """The PNG of x̂0 at the shown_calls, one row per recorded sample, its final sample
    last (written atomically)."""
    calls = shown_calls(len(trajectory.timesteps), every)
    predictions = torch.stack([trajectory.predictions[call] for call in calls], dim=1)
    figure = trajectory_figure(predictions, [trajectory.timesteps[call] for call in calls],
                               samples[:trajectory.rows], sampler)
    contents = figure_png(figure)
    return write_atomically(path, lambda stream: stream.write(contents))
