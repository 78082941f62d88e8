"""Which timesteps a shortened (DDIM-style) sampler visits (specs/timesteps.md)."""

from typing import Literal

import numpy as np
from jaxtyping import Int64

from specdiff._typecheck import typechecked
from specdiff.spec._validate import require_int_at_least

Spacing = Literal["leading", "trailing", "linspace"]


def _round_half_up(numerator: np.ndarray, denominator: int) -> np.ndarray:
    """round(numerator / denominator), halves up, in exact integer arithmetic."""
    return (2 * numerator + denominator) // (2 * denominator)


@typechecked
def ddim_timesteps(T: int, num_steps: int, spacing: Spacing = "leading") -> Int64[np.ndarray, "n"]:
    """TS-1: n = num_steps distinct timesteps in [0, T), returned in decreasing order.

    Ascending, the k-th (k = 0, …, n−1) is — leading: k·⌊T/n⌋; trailing: round((k+1)·T/n) − 1;
    linspace: round(k·(T−1)/(n−1)) (0 when n = 1). Rounding is half-up, in exact integers.
    """
    require_int_at_least("T", T, 1)
    require_int_at_least("num_steps", num_steps, 1)
    if num_steps > T:
        raise ValueError(f"num_steps must be in (0, T] = (0, {T}], got {num_steps}")
    index = np.arange(num_steps, dtype=np.int64)
    if spacing == "leading":
        ascending = index * (T // num_steps)
    elif spacing == "trailing":
        ascending = (_round_half_up(T * (index + 1), num_steps) - 1)
    elif spacing == "linspace":
        ascending = index * 0 if num_steps == 1 else _round_half_up(index * (T - 1), num_steps - 1)
    else:
        raise ValueError(
            f"spacing must be one of 'leading', 'trailing', 'linspace', got {spacing!r}"
        )
    descending: np.ndarray = np.ascontiguousarray(ascending[::-1], dtype=np.int64)
    return descending
