"""Inpainting by replacement with RePaint's resampling jumps (specs/conditioning.md).

Lugmayr et al. (2022): at every reverse step the known pixels (mask = 1) are overwritten with the
original noised to the level the step lands on, and the unknown ones (mask = 0) come from the
model's DDPM step. A resampling jump noises the whole image forward again by ``jump_length``
levels, so the model can harmonize the unknown pixels with the known ones.

Levels: the sampler's state is at level ℓ ∈ {T−1, …, 0, −1}, where x at level ℓ is what the model
reads at t = ℓ and level −1 is clean data (ᾱ_{−1} = 1). A reverse step at t goes from level t to
t − 1; a forward step goes from level ℓ to ℓ + 1.
"""

from typing import Any

import numpy as np
from jaxtyping import Float, Float64

from specdiff._typecheck import typechecked
from specdiff.spec._validate import (
    require_finite,
    require_int_at_least,
    require_ndim,
    require_timesteps,
    require_values_in,
)
from specdiff.spec.forward import noised_sample_from_eps
from specdiff.spec.reverse import Variance, ddpm_prev, implied_beta


@typechecked
def repaint_levels(num_timesteps: int, jump_length: int, resample: int) -> list[int]:
    """COND-6: the levels RePaint's state visits, from T − 1 down to −1 in steps of ±1.

    After a reverse step lands on level ℓ with (ℓ + 1) a multiple of jump_length and
    ℓ + 1 < T − jump_length, the state jumps up jump_length levels, at most resample − 1 times per
    such ℓ (diffusers' ``RePaintScheduler.set_timesteps`` with every training step visited).
    """
    T = require_int_at_least("num_timesteps", num_timesteps, 1)
    require_int_at_least("jump_length", jump_length, 1)
    require_int_at_least("resample", resample, 1)
    jumps_left = {start - 1: resample - 1 for start in range(0, T - jump_length, jump_length)}
    level, levels = T - 1, [T - 1]
    while level >= 0:
        level -= 1
        levels.append(level)
        if jumps_left.get(level, 0) > 0:
            jumps_left[level] -= 1
            levels.extend(range(level + 1, level + jump_length + 1))
            level += jump_length
    return levels


@typechecked
def forward_step(
    alpha_bars: Float[np.ndarray, "T"],
    t: int,
    x_prev: Float[np.ndarray, "batch *shape"],
    noise: Float[np.ndarray, "batch *shape"],
) -> Float64[np.ndarray, "batch *shape"]:
    """COND-7: q(x_t | x_{t−1}): x_t = √(1 − β_t)·x_{t−1} + √β_t·noise, β_t = 1 − ᾱ_t/ᾱ_{t−1},
    ᾱ_{−1} = 1 (so t = 0 noises clean data to level 0)."""
    require_ndim("alpha_bars", alpha_bars, 1, "T")
    require_values_in("alpha_bars", alpha_bars, 0.0, 1.0, low_open=True, high_open=True)
    require_timesteps("t", t, alpha_bars.shape[0])
    require_finite("x_prev", x_prev)
    require_finite("noise", noise)
    alpha_bar_prev = 1.0 if t == 0 else float(alpha_bars[t - 1])
    beta = implied_beta(alpha_bar_prev, float(alpha_bars[t]))
    return np.asarray(np.sqrt(1.0 - beta) * x_prev + np.sqrt(beta) * noise, dtype=np.float64)


def require_mask(mask: Any, shape: tuple[int, ...]) -> None:
    """A mask of 0s (unknown) and 1s (known) that broadcasts to the image's shape, same ndim."""
    values = np.asarray(mask)
    broadcasts = values.ndim == len(shape) and all(
        size in (1, full) for size, full in zip(values.shape, shape, strict=True))
    if not broadcasts:
        raise ValueError(f"mask must broadcast to the image's shape {shape} (same number of "
                         f"dims, each size 1 or the image's), got shape {values.shape}")
    if not bool(np.all((values == 0) | (values == 1))):
        raise ValueError("mask must hold only 0 (unknown) and 1 (known), got other values")


@typechecked
def inpaint_step(
    alpha_bars: Float[np.ndarray, "T"],
    t: int,
    x_t: Float[np.ndarray, "batch *shape"],
    eps_hat: Float[np.ndarray, "batch *shape"],
    image: Float[np.ndarray, "batch *shape"],
    mask: Float[np.ndarray, "..."],
    noise: Float[np.ndarray, "batch *shape"],
    z: Float[np.ndarray, "batch *shape"],
    clip: bool,
    variance: Variance = "fixed_small",
) -> Float64[np.ndarray, "batch *shape"]:
    """COND-5: x_{t−1} = where(mask = 1, known, unknown), known = √ᾱ_{t−1}·image +
    √(1−ᾱ_{t−1})·noise (FWD-1; = image at t = 0),
    unknown = ddpm_prev(ᾱ, t, x_t, ε̂, z, clip, variance) (REV-9)."""
    require_mask(mask, x_t.shape)
    require_finite("image", image)
    unknown = ddpm_prev(alpha_bars, t, x_t, eps_hat, z, clip, variance)
    known = (np.asarray(image, dtype=np.float64) if t == 0
             else noised_sample_from_eps(alpha_bars, image, noise, t - 1)[0])
    return np.asarray(np.where(np.asarray(mask) == 1, known, unknown), dtype=np.float64)
