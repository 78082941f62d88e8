"""Reverse (denoising) steps: DDIM and the DDPM posterior (specs/reverse.md)."""

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from jaxtyping import Float, Float64, Int

from specdiff._typecheck import typechecked
from specdiff.spec._batch import per_batch
from specdiff.spec._validate import (
    require_alpha_bar_table,
    require_batch_size,
    require_choice,
    require_finite,
    require_ndim,
    require_real_in,
    require_timesteps,
)
from specdiff.spec.forward import predict_x0

VARIANCES = ("fixed_small", "fixed_large")
if TYPE_CHECKING:
    Variance = Literal["fixed_small", "fixed_large"]
else:
    Variance = str  # checked by require_choice, with run-time type checks on or off


def _check_ddim_pair(alpha_bar_prev: float, alpha_bar: float) -> None:
    require_real_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=True, high_open=True)
    require_real_in("alpha_bar_prev", alpha_bar_prev, alpha_bar, 1.0)


@typechecked
def ddim_prev(
    alpha_bar_prev: float,
    alpha_bar: float,
    x_t: Float[np.ndarray, "batch *shape"],
    eps_hat: Float[np.ndarray, "batch *shape"],
) -> Float64[np.ndarray, "batch *shape"]:
    """REV-1: x_prev = √ᾱ_prev·clip(x̂0, −1, 1) + √(1 − ᾱ_prev)·ε̂, x̂0 = (x_t − √(1−ᾱ)·ε̂)/√ᾱ.

    ε̂ is used as given, not re-derived from the clipped x̂0: this is diffusers' DDIMScheduler
    with ``clip_sample=True, eta=0`` and epsilon prediction.
    """
    _check_ddim_pair(alpha_bar_prev, alpha_bar)
    require_finite("x_t", x_t)
    require_finite("eps_hat", eps_hat)
    x0_hat = np.clip((x_t - np.sqrt(1.0 - alpha_bar) * eps_hat) / np.sqrt(alpha_bar), -1.0, 1.0)
    return np.asarray(
        np.sqrt(alpha_bar_prev) * x0_hat + np.sqrt(1.0 - alpha_bar_prev) * eps_hat,
        dtype=np.float64,
    )


def ddim_noise_split(alpha_bar_prev: float, alpha_bar: float, eta: float) -> tuple[float, float]:
    """REV-5: (σ, √(1 − ᾱ_prev − σ²)) of a DDIM step, for 0 ≤ ᾱ ≤ ᾱ_prev ≤ 1, ᾱ < 1, η ∈ [0, 1]
    (arguments already validated). With s = (1 − ᾱ_prev)/(1 − ᾱ), r = ᾱ/ᾱ_prev and
    g = 1 − r = (ᾱ_prev − ᾱ)/ᾱ_prev: σ² = η²·s·g and 1 − ᾱ_prev − σ² = s·(r·(1 − ᾱ_prev) +
    (1 − η²)·g), sums of non-negative terms. The differences as written cancel: for neighbouring
    ᾱ, 1 − ᾱ/ᾱ_prev keeps no digit, and at ᾱ = 0, η = 1 the direction √(1 − ᾱ_prev − σ²) is
    √(rounding) ≈ 1e-8 instead of 0. At ᾱ = 0 this is SOLV-1's limit σ = η·√(1 − ᾱ_prev)."""
    share = (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
    ratio, gap = (alpha_bar / alpha_bar_prev, (alpha_bar_prev - alpha_bar) / alpha_bar_prev
                  ) if alpha_bar_prev > 0.0 else (0.0, 1.0)
    sigma = eta * math.sqrt(share * gap)
    if sigma == 0.0:
        return 0.0, math.sqrt(1.0 - alpha_bar_prev)
    kept = ratio * (1.0 - alpha_bar_prev) + (1.0 - eta) * (1.0 + eta) * gap
    return sigma, math.sqrt(share * kept)


@typechecked
def ddim_sigma(alpha_bar_prev: float, alpha_bar: float, eta: float) -> float:
    """REV-5: σ = η·√((1 − ᾱ_prev)/(1 − ᾱ))·√(1 − ᾱ/ᾱ_prev), for 0 < ᾱ ≤ ᾱ_prev ≤ 1, η ∈ [0, 1]."""
    _check_ddim_pair(alpha_bar_prev, alpha_bar)
    require_real_in("eta", eta, 0.0, 1.0)
    return ddim_noise_split(alpha_bar_prev, alpha_bar, eta)[0]


@typechecked
def ddim_step(
    alpha_bar_prev: float,
    alpha_bar: float,
    x_t: Float[np.ndarray, "batch *shape"],
    eps_hat: Float[np.ndarray, "batch *shape"],
    eta: float,
    z: Float[np.ndarray, "batch *shape"] | None,
    clip: bool,
) -> Float64[np.ndarray, "batch *shape"]:
    """REV-5: x_prev = √ᾱ_prev·x̂0 + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z, x̂0 clipped to [−1, 1] if clip.

    σ = ddim_sigma(ᾱ_prev, ᾱ, η); ``z`` (standard normal noise) may be None only when σ = 0.
    """
    ddim_sigma(alpha_bar_prev, alpha_bar, eta)  # validates the step's scalars
    x0_hat = predict_x0(alpha_bar, x_t, eps_hat)
    if clip:
        x0_hat = np.clip(x0_hat, -1.0, 1.0)
    return ddim_update(alpha_bar_prev, alpha_bar, eta, x0_hat, eps_hat, z)


def ddim_update(alpha_bar_prev: float, alpha_bar: float, eta: float, x0_hat: np.ndarray,
                eps_hat: np.ndarray, z: np.ndarray | None) -> np.ndarray:
    """REV-5's update once x̂0 is known: √ᾱ_prev·x̂0 + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z (also SOLV-1's),
    with (σ, √(1 − ᾱ_prev − σ²)) = ddim_noise_split(ᾱ_prev, ᾱ, η)."""
    sigma, direction = ddim_noise_split(alpha_bar_prev, alpha_bar, eta)
    x_prev = np.sqrt(alpha_bar_prev) * x0_hat + direction * eps_hat
    if sigma > 0.0:
        if z is None:
            raise ValueError(f"z must be given when sigma > 0 (eta = {eta}), got None")
        require_finite("z", z)
        x_prev = x_prev + sigma * z
    return np.asarray(x_prev, dtype=np.float64)


def _posterior_terms(
    alpha_bars: np.ndarray, t: int | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ᾱ_t, ᾱ_{t−1} with ᾱ_{−1} = 1, β_t = 1 − ᾱ_t/ᾱ_{t−1}) at the given timestep(s); ᾱ_{T−1}
    may be 0 (zero terminal SNR: β_{T−1} = 1, and every coefficient of REV-7 stays finite).
    β_t is computed as (ᾱ_{t−1} − ᾱ_t)/ᾱ_{t−1} (implied_beta)."""
    require_ndim("alpha_bars", alpha_bars, 1, "T")
    require_alpha_bar_table(alpha_bars)
    require_timesteps("t", t, alpha_bars.shape[0])
    alpha_bars = np.asarray(alpha_bars, dtype=np.float64)
    with_start = np.concatenate([[1.0], alpha_bars])
    alpha_bar = alpha_bars[t]
    alpha_bar_prev = with_start[t]
    return alpha_bar, alpha_bar_prev, implied_beta(alpha_bar_prev, alpha_bar)


def implied_beta(alpha_bar_prev: Any, alpha_bar: Any) -> Any:
    """REV-7: β_t = 1 − ᾱ_t/ᾱ_{t−1} as (ᾱ_{t−1} − ᾱ_t)/ᾱ_{t−1}: the difference of two close ᾱ is
    exact in floating point, while 1 − (a rounded ratio near 1) keeps only ~u/β_t of relative
    precision (1e-12 for the DDPM schedule's β_0 = 10⁻⁴). Arrays, tensors or floats."""
    return (alpha_bar_prev - alpha_bar) / alpha_bar_prev


@typechecked
def ddpm_posterior(
    alpha_bars: Float[np.ndarray, "T"],
    t: int | Int[np.ndarray, "batch"],
    x0: Float[np.ndarray, "batch *shape"],
    x_t: Float[np.ndarray, "batch *shape"],
) -> tuple[
    Float64[np.ndarray, "batch *shape"],
    Float64[np.ndarray, "*tshape"],
    Float64[np.ndarray, "*tshape"],
]:
    """REV-7: q(x_{t−1} | x_t, x0) = N(μ̃, β̃_t) with
    μ̃ = √ᾱ_{t−1}·β_t/(1 − ᾱ_t)·x0 + √(1 − β_t)·(1 − ᾱ_{t−1})/(1 − ᾱ_t)·x_t,
    β̃_t = β_t·(1 − ᾱ_{t−1})/(1 − ᾱ_t), ᾱ_{−1} = 1; log-variance clipped: log β̃_1 at t = 0.

    Returns (mean, variance, log_variance_clipped); variance has the shape of ``t``.
    """
    alpha_bar, alpha_bar_prev, beta = _posterior_terms(alpha_bars, t)
    require_batch_size("t", t, x0.shape[0])
    require_finite("x0", x0)
    require_finite("x_t", x_t)
    x0_coef = per_batch(np.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar), x0.ndim)
    xt_coef = per_batch(np.sqrt(1.0 - beta) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar), x0.ndim)
    variance = beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
    mean = x0_coef * x0 + xt_coef * x_t
    return np.asarray(mean, dtype=np.float64), np.asarray(variance, dtype=np.float64), (
        _clipped_log_variance(np.asarray(alpha_bars, dtype=np.float64), t, variance)
    )


def _clipped_log_variance(alpha_bars: np.ndarray, t: int | np.ndarray, variance: np.ndarray
                          ) -> np.ndarray:
    # β̃_0 = 0, so DDPM clips the log at t = 0 to log β̃_1 (log β_0 when T = 1).
    if alpha_bars.shape[0] > 1:
        beta_1 = implied_beta(alpha_bars[0], alpha_bars[1])
        floor = beta_1 * (1.0 - alpha_bars[0]) / (1.0 - alpha_bars[1])
    else:
        floor = 1.0 - alpha_bars[0]
    return np.asarray(np.log(np.where(np.asarray(t) == 0, floor, variance)), dtype=np.float64)


@typechecked
def ddpm_prev(
    alpha_bars: Float[np.ndarray, "T"],
    t: int | Int[np.ndarray, "batch"],
    x_t: Float[np.ndarray, "batch *shape"],
    eps_hat: Float[np.ndarray, "batch *shape"],
    z: Float[np.ndarray, "batch *shape"],
    clip: bool,
    variance: Variance = "fixed_small",
) -> Float64[np.ndarray, "batch *shape"]:
    """REV-9: x_{t−1} = μ̃(x̂0, x_t) + 1[t > 0]·σ_t·z, x̂0 = predict_x0(ᾱ_t, x_t, ε̂) (clipped to
    [−1, 1] if clip), σ_t² = β̃_t ("fixed_small") or β_t ("fixed_large")."""
    require_choice("variance", variance, VARIANCES)
    alpha_bar, _, beta = _posterior_terms(alpha_bars, t)
    require_batch_size("t", t, x_t.shape[0])
    require_finite("z", z)
    x0_hat = predict_x0(alpha_bar, x_t, eps_hat)
    if clip:
        x0_hat = np.clip(x0_hat, -1.0, 1.0)
    mean, small_variance, _ = ddpm_posterior(alpha_bars, t, x0_hat, x_t)
    step_variance = small_variance if variance == "fixed_small" else beta
    sigma = np.where(np.asarray(t) > 0, np.sqrt(step_variance), 0.0)
    return np.asarray(mean + per_batch(sigma, x_t.ndim) * z, dtype=np.float64)
