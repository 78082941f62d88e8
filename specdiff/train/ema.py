"""Exponential moving average of a model's weights, used for sampling (specs/training.md)."""

import copy

import torch
from torch import nn


def ema_decay_at(decay: float, step: int) -> float:
    """TRAIN-3: d_k = min(decay, (1 + k)/(10 + k)): early averages forget the random init fast."""
    return min(decay, (1.0 + step) / (10.0 + step))


class EMA:
    """A frozen copy of a model whose parameters track θ̄ ← d_k·θ̄ + (1 − d_k)·θ (TRAIN-3).

    Buffers (e.g. normalization statistics) are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Fold the weights after optimizer step ``step`` (0-based) into the average."""
        weight = 1.0 - ema_decay_at(self.decay, step)
        for average, current in zip(self.model.parameters(), model.parameters(), strict=True):
            average.lerp_(current.detach(), weight)
        for average_buffer, buffer in zip(self.model.buffers(), model.buffers(), strict=True):
            average_buffer.copy_(buffer)
