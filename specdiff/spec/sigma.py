"""The σ (variance-exploding) view of a VP schedule, and the σ grids samplers step on
(specs/sigma.md).

A VP sample x_vp = √ᾱ·x0 + √(1 − ᾱ)·ε is, divided by √ᾱ, the VE sample x_ve = x0 + σ·ε with
σ = √((1 − ᾱ)/ᾱ) (Karras et al. 2022, eq. 2 and table 1). The Karras/EDM samplers step x_ve
along a decreasing grid of σ down to σ = 0, where x_ve = x_vp = x_0. Our models take integer
timesteps, so a grid σ not in the schedule's table is mapped to a timestep (SIGMA-4) and the
sampler steps on the table σ of that timestep: the model is only ever asked what it was trained
on, and the sampler's σ and its model's timestep always agree.
"""

from typing import Literal

import numpy as np
from jaxtyping import Float, Float64, Int64

from specdiff._typecheck import typechecked
from specdiff.spec._validate import (
    require_finite,
    require_int_at_least,
    require_ndim,
    require_real_in,
    require_timesteps,
    require_values_in,
)
from specdiff.spec.chains import NumpyModel
from specdiff.spec.parameterization import PredictionType, split_prediction

# Grids of σ: Karras et al.'s ρ-ramp, uniform in log σ, k-diffusion's polyexponential, or the
# schedule's own σ at the timesteps a DDIM-style spacing visits (specs/timesteps.md, TS-1).
SigmaGridName = Literal["karras", "exponential", "polyexponential", "leading", "trailing",
                        "linspace"]
SIGMA_GRIDS: tuple[SigmaGridName, ...] = ("karras", "exponential", "polyexponential", "leading",
                                          "trailing", "linspace")
# The ρ of each grid that has one when the caller gives none (Karras et al.; k-diffusion).
DEFAULT_RHO: dict[str, float] = {"karras": 7.0, "polyexponential": 1.0}
# A grid's end points are powers and exponentials of log σ_min, log σ_max: they may leave
# [σ_min, σ_max] by a few float64 roundings, which SIGMA-4 still maps to the end timesteps.
_EDGE_SLACK = 1e-12


@typechecked
def sigma_from_alpha_bar(
    alpha_bar: float | Float[np.ndarray, "*shape"],
) -> Float64[np.ndarray, "*shape"]:
    """SIGMA-1: σ = √((1 − ᾱ)/ᾱ), for ᾱ ∈ (0, 1]."""
    require_values_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=True, high_open=False)
    values = np.asarray(alpha_bar, dtype=np.float64)
    return np.asarray(np.sqrt((1.0 - values) / values), dtype=np.float64)


@typechecked
def alpha_bar_from_sigma(
    sigma: float | Float[np.ndarray, "*shape"],
) -> Float64[np.ndarray, "*shape"]:
    """SIGMA-1: ᾱ = 1/(1 + σ²), the inverse of sigma_from_alpha_bar, for σ ∈ [0, ∞)."""
    require_values_in("sigma", sigma, 0.0, float("inf"), low_open=False, high_open=True)
    values = np.asarray(sigma, dtype=np.float64)
    return np.asarray(1.0 / (1.0 + values**2), dtype=np.float64)


@typechecked
def ve_from_vp(alpha_bar: float, x_vp: Float[np.ndarray, "batch *shape"]
               ) -> Float64[np.ndarray, "batch *shape"]:
    """SIGMA-1: x_ve = x_vp/√ᾱ, for ᾱ ∈ (0, 1]."""
    require_real_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=True)
    require_finite("x_vp", x_vp)
    return np.asarray(x_vp / np.sqrt(alpha_bar), dtype=np.float64)


@typechecked
def vp_from_ve(alpha_bar: float, x_ve: Float[np.ndarray, "batch *shape"]
               ) -> Float64[np.ndarray, "batch *shape"]:
    """SIGMA-1: x_vp = √ᾱ·x_ve, the inverse of ve_from_vp, for ᾱ ∈ (0, 1]."""
    require_real_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=True)
    require_finite("x_ve", x_ve)
    return np.asarray(np.sqrt(alpha_bar) * x_ve, dtype=np.float64)


@typechecked
def denoised(
    alpha_bar: float,
    x_ve: Float[np.ndarray, "batch *shape"],
    model_output: Float[np.ndarray, "batch *shape"],
    prediction_type: PredictionType,
) -> Float64[np.ndarray, "batch *shape"]:
    """SIGMA-2: D(x_ve; σ) = x̂0 of PARAM-2 for the model's output at x_vp = √ᾱ·x_ve: ε-model
    x_ve − σ·ε̂; x0-model x̂0; v-model x_ve/(1 + σ²) − σ/√(1 + σ²)·v̂ (σ = √((1 − ᾱ)/ᾱ))."""
    x0_hat, _ = split_prediction(alpha_bar, vp_from_ve(alpha_bar, x_ve), model_output,
                                 prediction_type)
    return x0_hat


def _ramp(num_steps: int) -> np.ndarray:
    """k/(n − 1) for k < n (0 when n = 1: a one-step grid is σ_max alone)."""
    return np.arange(num_steps, dtype=np.float64) / max(num_steps - 1, 1)


def _require_grid(sigma_min: float, sigma_max: float, num_steps: int) -> None:
    require_real_in("sigma_min", sigma_min, 0.0, float("inf"), low_open=True, high_open=True)
    require_real_in("sigma_max", sigma_max, sigma_min, float("inf"), high_open=True)
    require_int_at_least("num_steps", num_steps, 1)


def _require_rho(rho: float) -> None:
    require_real_in("rho", rho, 0.0, 1e3, low_open=True)


@typechecked
def karras_sigmas(sigma_min: float, sigma_max: float, num_steps: int, rho: float = 7.0
                  ) -> Float64[np.ndarray, "n"]:
    """SIGMA-3: σ_k = (σ_max^{1/ρ} + k/(n − 1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, k < n (Karras
    et al. 2022, eq. 5)."""
    _require_grid(sigma_min, sigma_max, num_steps)
    _require_rho(rho)
    high, low = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
    return np.asarray((high + _ramp(num_steps) * (low - high)) ** rho, dtype=np.float64)


@typechecked
def exponential_sigmas(sigma_min: float, sigma_max: float, num_steps: int
                       ) -> Float64[np.ndarray, "n"]:
    """SIGMA-3: σ_k = exp(log σ_max + k/(n − 1)·(log σ_min − log σ_max)), k < n (uniform in
    log σ)."""
    _require_grid(sigma_min, sigma_max, num_steps)
    high, low = np.log(sigma_max), np.log(sigma_min)
    return np.asarray(np.exp(high + _ramp(num_steps) * (low - high)), dtype=np.float64)


@typechecked
def polyexponential_sigmas(sigma_min: float, sigma_max: float, num_steps: int,
                           rho: float = 1.0) -> Float64[np.ndarray, "n"]:
    """SIGMA-3: σ_k = exp(log σ_min + (1 − k/(n − 1))^ρ·(log σ_max − log σ_min)), k < n
    (k-diffusion's get_sigmas_polyexponential; ρ = 1 is the exponential grid)."""
    _require_grid(sigma_min, sigma_max, num_steps)
    _require_rho(rho)
    high, low = np.log(sigma_max), np.log(sigma_min)
    return np.asarray(np.exp(low + (1.0 - _ramp(num_steps)) ** rho * (high - low)),
                      dtype=np.float64)


def _log_sigma_table(alpha_bars: np.ndarray) -> np.ndarray:
    """log σ_t for t < T; the table must be strictly increasing for interpolation."""
    require_ndim("alpha_bars", alpha_bars, 1, "T")
    require_values_in("alpha_bars", alpha_bars, 0.0, 1.0, low_open=True, high_open=True)
    if not np.all(np.diff(alpha_bars) < 0.0):
        raise ValueError("alpha_bars must be strictly decreasing for a sigma grid (each sigma "
                         "needs one timestep)")
    log_sigmas: np.ndarray = 0.5 * np.log((1.0 - alpha_bars) / alpha_bars)
    flat = np.diff(log_sigmas) <= 0.0
    if bool(np.any(flat)):
        # Neighbouring ᾱ (e.g. 1e-4 and the next float) whose log σ round to one float leave
        # the σ → t interpolation without a unique answer.
        t = int(np.argmax(flat))
        raise ValueError(
            f"alpha_bars must give log sigma = ½·log((1 − ᾱ)/ᾱ) strictly increasing in float64 "
            f"for a sigma grid; ᾱ at t = {t} and t = {t + 1} are too close to tell apart"
        )
    return log_sigmas


@typechecked
def sigma_timesteps(alpha_bars: Float[np.ndarray, "T"], sigmas: Float[np.ndarray, "n"]
                    ) -> Int64[np.ndarray, "m"]:
    """SIGMA-4: the model timestep of each σ of a non-increasing grid: t linearly interpolated in
    log σ between the integer timesteps of σ_t = √((1 − ᾱ_t)/ᾱ_t), rounded half up; repeats
    dropped (the first kept). σ ∈ [σ_0, σ_{T−1}] (within a relative 1e-12)."""
    log_sigmas = _log_sigma_table(alpha_bars)
    require_ndim("sigmas", sigmas, 1, "n")
    low, high = float(np.exp(log_sigmas[0])), float(np.exp(log_sigmas[-1]))
    require_values_in("sigmas", sigmas, low * (1.0 - _EDGE_SLACK), high * (1.0 + _EDGE_SLACK),
                      low_open=False, high_open=False)
    if not np.all(np.diff(sigmas) <= 0.0):
        raise ValueError("sigmas must be non-increasing (a grid runs from sigma_max down)")
    fractional = np.interp(np.log(sigmas), log_sigmas,
                           np.arange(alpha_bars.shape[0], dtype=np.float64))
    rounded = np.floor(fractional + 0.5).astype(np.int64)
    _, first = np.unique(rounded, return_index=True)
    kept: np.ndarray = np.ascontiguousarray(rounded[np.sort(first)], dtype=np.int64)
    return kept


@typechecked
def sigma_grid_timesteps(alpha_bars: Float[np.ndarray, "T"], num_steps: int,
                         grid: SigmaGridName = "karras", rho: float | None = None
                         ) -> Int64[np.ndarray, "m"]:
    """SIGMA-4: the timesteps a σ sampler visits, decreasing: for "karras", "exponential" and
    "polyexponential", sigma_timesteps of that grid from σ_max = σ_{T−1} to σ_min = σ_0 (ρ: 7
    and 1 unless given); for a spacing, ddim_timesteps(T, n, spacing) (TS-1). m ≤ n."""
    from specdiff.spec.timesteps import ddim_timesteps  # timesteps.py builds on this module

    if grid not in SIGMA_GRIDS:
        raise ValueError(f"grid must be one of {SIGMA_GRIDS}, got {grid!r}")
    if rho is not None and grid not in DEFAULT_RHO:
        raise ValueError(f"rho applies to the 'karras' and 'polyexponential' grids only, got "
                         f"rho={rho} with grid={grid!r}")
    log_sigmas = _log_sigma_table(alpha_bars)
    T = alpha_bars.shape[0]
    require_int_at_least("num_steps", num_steps, 1)
    if num_steps > T:
        raise ValueError(f"num_steps must be in (0, T] = (0, {T}], got {num_steps}")
    if grid in ("leading", "trailing", "linspace"):
        return ddim_timesteps(T, num_steps, grid)
    sigma_min, sigma_max = float(np.exp(log_sigmas[0])), float(np.exp(log_sigmas[-1]))
    if grid == "karras":
        sigmas = karras_sigmas(sigma_min, sigma_max, num_steps, DEFAULT_RHO[grid] if rho is None
                               else rho)
    elif grid == "polyexponential":
        sigmas = polyexponential_sigmas(sigma_min, sigma_max, num_steps,
                                        DEFAULT_RHO[grid] if rho is None else rho)
    else:
        sigmas = exponential_sigmas(sigma_min, sigma_max, num_steps)
    return sigma_timesteps(alpha_bars, sigmas)


@typechecked
def sigmas_at(alpha_bars: Float[np.ndarray, "T"], timesteps: Int64[np.ndarray, "m"]
              ) -> Float64[np.ndarray, "m_plus_one"]:
    """SIGMA-4: the σ a sampler steps on: σ_t = √((1 − ᾱ_t)/ᾱ_t) at each visited timestep, then
    σ = 0 (x_ve = x_vp = x_0) after the last."""
    require_timesteps("timesteps", timesteps, alpha_bars.shape[0])
    table = sigma_from_alpha_bar(alpha_bars)
    return np.concatenate([table[timesteps], [0.0]]).astype(np.float64)


def model_denoised(alpha_bars: np.ndarray, model: NumpyModel, x_ve: np.ndarray, t: int,
                   prediction_type: PredictionType) -> np.ndarray:
    """SIGMA-2 at a table timestep: D(x_ve; σ_t) from ``model`` called on (√ᾱ_t·x_ve, t)."""
    alpha_bar = float(alpha_bars[t])
    return denoised(alpha_bar, x_ve, model(vp_from_ve(alpha_bar, x_ve), t), prediction_type)
