"""The forward (noising) process and its inversions (specs/forward.md)."""

import numpy as np
from jaxtyping import Float, Float64, Int

from specdiff._typecheck import typechecked
from specdiff.spec._batch import per_batch
from specdiff.spec._validate import (
    require_batch_size,
    require_finite,
    require_ndim,
    require_timesteps,
    require_values_in,
)


@typechecked
def append_time_channel(
    x: Float[np.ndarray, "batch channel height width"],
    t_norm: float | Float[np.ndarray, "batch"],
) -> Float64[np.ndarray, "batch channel+1 height width"]:
    """FWD-5: out[:, :C] = x and out[n, C] = t_norm[n] everywhere; convention t_norm = t / T."""
    require_finite("x", x)
    require_finite("t_norm", t_norm)
    require_batch_size("t_norm", t_norm, x.shape[0])
    batch, _, height, width = x.shape
    time_plane = np.broadcast_to(per_batch(t_norm, 4), (batch, 1, height, width))
    return np.concatenate([np.asarray(x, dtype=np.float64), time_plane], axis=1)


def _check_alpha_bars(alpha_bars: np.ndarray) -> None:
    require_ndim("alpha_bars", alpha_bars, 1, "T")
    require_values_in("alpha_bars", alpha_bars, 0.0, 1.0, low_open=False, high_open=False)


@typechecked
def noised_sample_from_eps(
    alpha_bars: Float[np.ndarray, "T"],
    x0: Float[np.ndarray, "batch *shape"],
    eps: Float[np.ndarray, "batch *shape"],
    t: int | Int[np.ndarray, "batch"],
) -> tuple[Float64[np.ndarray, "batch *shape"], Float64[np.ndarray, "batch *shape"]]:
    """FWD-1: x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·eps; the training target is eps."""
    _check_alpha_bars(alpha_bars)
    require_timesteps("t", t, alpha_bars.shape[0])
    require_batch_size("t", t, x0.shape[0])
    require_finite("x0", x0)
    require_finite("eps", eps)
    alpha_bar = per_batch(np.asarray(alpha_bars, dtype=np.float64)[t], x0.ndim)
    x_t = np.sqrt(alpha_bar) * x0 + np.sqrt(1.0 - alpha_bar) * eps
    return np.asarray(x_t, dtype=np.float64), np.array(eps, dtype=np.float64)


def _check_alpha_bar(alpha_bar: float | np.ndarray, batch: int, *, low_open: bool,
                     high_open: bool) -> None:
    require_batch_size("alpha_bar", alpha_bar, batch)
    require_values_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=low_open, high_open=high_open)


@typechecked
def predict_x0(
    alpha_bar: float | Float[np.ndarray, "batch"],
    x_t: Float[np.ndarray, "batch *shape"],
    eps_hat: Float[np.ndarray, "batch *shape"],
) -> Float64[np.ndarray, "batch *shape"]:
    """FWD-4: x̂0 = (x_t − √(1 − ᾱ)·ε̂) / √ᾱ, for ᾱ ∈ (0, 1]."""
    _check_alpha_bar(alpha_bar, x_t.shape[0], low_open=True, high_open=False)
    require_finite("x_t", x_t)
    require_finite("eps_hat", eps_hat)
    alpha = per_batch(alpha_bar, x_t.ndim)
    return np.asarray((x_t - np.sqrt(1.0 - alpha) * eps_hat) / np.sqrt(alpha), dtype=np.float64)


@typechecked
def predict_eps(
    alpha_bar: float | Float[np.ndarray, "batch"],
    x_t: Float[np.ndarray, "batch *shape"],
    x0: Float[np.ndarray, "batch *shape"],
) -> Float64[np.ndarray, "batch *shape"]:
    """FWD-4: ε̂ = (x_t − √ᾱ·x0) / √(1 − ᾱ), for ᾱ ∈ [0, 1)."""
    _check_alpha_bar(alpha_bar, x_t.shape[0], low_open=False, high_open=True)
    require_finite("x_t", x_t)
    require_finite("x0", x0)
    alpha = per_batch(alpha_bar, x_t.ndim)
    return np.asarray((x_t - np.sqrt(alpha) * x0) / np.sqrt(1.0 - alpha), dtype=np.float64)
