"""Which timesteps a shortened (DDIM-style) sampler visits (specs/timesteps.md)."""

from typing import TYPE_CHECKING, Literal

import numpy as np
from jaxtyping import Float, Int64

from specdiff._typecheck import typechecked
from specdiff.spec._validate import (
    require_choice,
    require_int_at_least,
    require_ndim,
    require_values_in,
)
from specdiff.spec.sigma import sigma_grid_timesteps

SPACINGS = ("leading", "trailing", "linspace")
if TYPE_CHECKING:
    Spacing = Literal["leading", "trailing", "linspace"]
else:
    Spacing = str  # checked by require_choice, with run-time type checks on or off


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
    require_choice("spacing", spacing, SPACINGS)
    if num_steps > T:
        raise ValueError(f"num_steps must be in (0, T] = (0, {T}], got {num_steps}")
    index = np.arange(num_steps, dtype=np.int64)
    if spacing == "leading":
        ascending = index * (T // num_steps)
    elif spacing == "trailing":
        ascending = (_round_half_up(T * (index + 1), num_steps) - 1)
    else:  # linspace
        ascending = index * 0 if num_steps == 1 else _round_half_up(index * (T - 1), num_steps - 1)
    descending: np.ndarray = np.ascontiguousarray(ascending[::-1], dtype=np.int64)
    return descending


@typechecked
def karras_timesteps(
    alpha_bars: Float[np.ndarray, "T"], num_steps: int, rho: float = 7.0
) -> Int64[np.ndarray, "m"]:
    """TS-5: σ_k = (σ_max^{1/ρ} + k/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, k < n,
    σ_t = √((1−ᾱ_t)/ᾱ_t), σ_max = σ_{T−1}, σ_min = σ_0 (Karras et al. 2022); each σ_k maps to
    the t interpolated linearly in log σ between integer timesteps, rounded half up; repeats are
    dropped."""
    require_ndim("alpha_bars", alpha_bars, 1, "T")
    require_values_in("alpha_bars", alpha_bars, 0.0, 1.0, low_open=True, high_open=True)
    T = alpha_bars.shape[0]
    require_int_at_least("num_steps", num_steps, 2)
    if num_steps > T:
        raise ValueError(f"num_steps must be in [2, T] = [2, {T}], got {num_steps}")
    return sigma_grid_timesteps(alpha_bars, num_steps, "karras", rho)
