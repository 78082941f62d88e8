"""Noise schedules (specs/schedules.md): β_t for t ∈ {0, …, T−1} and ᾱ_t = ∏_{s≤t} (1 − β_s)."""

import math
from collections.abc import Callable

import numpy as np
from jaxtyping import Float, Float64

from specdiff._typecheck import typechecked
from specdiff.spec._validate import (
    require_int_at_least,
    require_ndim,
    require_real_in,
    require_timesteps,
    require_values_in,
)


def _check_linear_range(beta_start: float, beta_end: float) -> None:
    require_real_in("beta_start", beta_start, 0.0, 1.0, low_open=True, high_open=True)
    require_real_in("beta_end", beta_end, beta_start, 1.0, high_open=True)


@typechecked
def linear_beta(T: int, beta_start: float, beta_end: float, t: int) -> float:
    """SCHED-1: β_t = β_start + (β_end − β_start)·t/(T−1), and β_0 = β_start when T = 1."""
    require_int_at_least("T", T, 1)
    _check_linear_range(beta_start, beta_end)
    require_timesteps("t", t, T)
    if T == 1:
        return float(beta_start)
    return float(beta_start + (beta_end - beta_start) * (t / (T - 1)))


@typechecked
def linear_betas(
    T: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> Float64[np.ndarray, "{T}"]:
    """SCHED-1: the array (linear_beta(T, β_start, β_end, t))_t; defaults are the DDPM paper's."""
    require_int_at_least("T", T, 1)
    _check_linear_range(beta_start, beta_end)
    if T == 1:
        return np.array([float(beta_start)])
    # Same operation order as linear_beta, so the array equals the scalar law bit for bit.
    fraction = np.arange(T, dtype=np.float64) / (T - 1)
    return np.asarray(beta_start + (beta_end - beta_start) * fraction, dtype=np.float64)


# Where a curve is flat to float64 precision its ratio rounds to exactly 1; flooring β there
# keeps every β in (0, 1), so ᾱ stays strictly decreasing (SCHED-2).
MIN_CURVE_BETA = 1e-12


def _betas_from_alpha_bar_curve(
    T: int, alpha_bar_curve: Callable[[np.ndarray], np.ndarray], max_beta: float
) -> np.ndarray:
    """β_t = clip(1 − ā((t+1)/T) / ā(t/T), 1e-12, max_beta) for a continuous curve ā on [0, 1]."""
    u = np.arange(T + 1, dtype=np.float64) / T
    curve = alpha_bar_curve(u)
    # Once a saturating curve has reached 0 in float64 the ratio is 0/0; the step is then all
    # noise (β = 1), clipped to max_beta like any other.
    ratio = np.divide(curve[1:], curve[:-1], out=np.zeros(T), where=curve[:-1] > 0.0)
    betas = np.clip(1.0 - ratio, MIN_CURVE_BETA, max_beta)
    return np.asarray(betas, dtype=np.float64)


@typechecked
def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> Float64[np.ndarray, "{T}"]:
    """SCHED-4: ā(u) = cos²((u + s)/(1 + s)·π/2);
    β_t = clip(1 − ā((t+1)/T)/ā(t/T), 1e-12, max_beta)."""
    require_int_at_least("T", T, 1)
    require_real_in("s", s, 0.0, 1.0)
    require_real_in("max_beta", max_beta, 0.0, 1.0, low_open=True, high_open=True)

    def curve(u: np.ndarray) -> np.ndarray:
        return np.asarray(np.cos((u + s) / (1.0 + s) * (math.pi / 2.0)) ** 2)

    return _betas_from_alpha_bar_curve(T, curve, max_beta)


@typechecked
def sigmoid_betas(
    T: int,
    start: float = -3.0,
    end: float = 3.0,
    tau: float = 1.0,
    max_beta: float = 0.999,
) -> Float64[np.ndarray, "{T}"]:
    """SCHED-5: ā(u) = (σ(end/τ) − σ((start + u·(end − start))/τ)) / (σ(end/τ) − σ(start/τ));
    β_t = clip(1 − ā((t+1)/T)/ā(t/T), 1e-12, max_beta)."""
    require_int_at_least("T", T, 1)
    require_real_in("start", start, -1e3, 1e3)
    require_real_in("end", end, start, 1e3, low_open=True)
    require_real_in("tau", tau, 0.0, 1e3, low_open=True)
    require_real_in("max_beta", max_beta, 0.0, 1.0, low_open=True, high_open=True)

    def logistic(v: np.ndarray | float) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(v, dtype=np.float64))))

    top, bottom = logistic(end / tau), logistic(start / tau)

    def curve(u: np.ndarray) -> np.ndarray:
        return np.asarray((top - logistic((start + u * (end - start)) / tau)) / (top - bottom))

    return _betas_from_alpha_bar_curve(T, curve, max_beta)


@typechecked
def alpha_bars(betas: Float[np.ndarray, "T"]) -> Float64[np.ndarray, "T"]:
    """SCHED-2: ᾱ_t = ∏_{s≤t} (1 − β_s), for β_s ∈ (0, 1)."""
    require_ndim("betas", betas, 1, "T")
    if betas.shape[0] == 0:
        raise ValueError("betas must have at least one entry (T >= 1), got an empty array")
    require_values_in("betas", betas, 0.0, 1.0, low_open=True, high_open=True)
    bars = np.cumprod(1.0 - np.asarray(betas, dtype=np.float64))
    smallest_normal = np.finfo(np.float64).tiny
    if bars[-1] < smallest_normal:
        first = int(np.argmax(bars < smallest_normal))
        raise ValueError(
            f"betas must keep ᾱ_t = ∏(1 − β_s) >= {smallest_normal:.3g} (float64's smallest "
            f"normal number), but ᾱ underflows at t = {first}"
        )
    return bars


@typechecked
def alpha_bars_linear(
    T: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> Float64[np.ndarray, "{T}"]:
    """SCHED-3: alpha_bars_linear(T, β0, β1) = alpha_bars(linear_betas(T, β0, β1))."""
    return alpha_bars(linear_betas(T, beta_start, beta_end))


@typechecked
def rescale_zero_terminal_snr(betas: Float[np.ndarray, "T"]) -> Float64[np.ndarray, "T"]:
    """SCHED-7: √ᾱ' = (√ᾱ − √ᾱ_{T−1})·√ᾱ_0/(√ᾱ_0 − √ᾱ_{T−1}), β'_t = 1 − ᾱ'_t/ᾱ'_{t−1}: the
    affine rescale of √ᾱ with ᾱ'_{T−1} = 0 (β'_{T−1} = 1) and √ᾱ'_0 = √ᾱ_0 (Lin et al. 2024)."""
    bars = alpha_bars(betas)
    if bars.shape[0] < 2 or not bars[0] > bars[-1]:
        raise ValueError(
            "betas must have T >= 2 entries with ᾱ_0 > ᾱ_{T-1} (the rescale divides by "
            f"√ᾱ_0 − √ᾱ_(T-1)), got T = {bars.shape[0]}"
        )
    roots = np.sqrt(bars)
    first, last = roots[0], roots[-1]
    rescaled = (roots - last) * (first / (first - last))
    rescaled_bars = rescaled**2
    ratios = rescaled_bars[1:] / rescaled_bars[:-1]
    rescaled_betas = np.concatenate([[1.0 - rescaled_bars[0]], 1.0 - ratios])
    # A plateau of ᾱ (β below float64's resolution) would round a rescaled β to 0.
    require_values_in("rescaled betas[:-1]", rescaled_betas[:-1], 0.0, 1.0, low_open=True,
                      high_open=True)
    return np.asarray(rescaled_betas, dtype=np.float64)


@typechecked
def alpha_bars_zero_terminal_snr(betas: Float[np.ndarray, "T"]) -> Float64[np.ndarray, "T"]:
    """SCHED-8: ᾱ_t = ∏_{s≤t} (1 − β_s) for t < T−1 (SCHED-2) and ᾱ_{T−1} = 0 exactly, for
    β_{T−1} = 1 and β_t ∈ (0, 1) otherwise: the one schedule shape allowed to reach ᾱ = 0."""
    require_ndim("betas", betas, 1, "T")
    if betas.shape[0] < 2 or betas[-1] != 1.0:
        raise ValueError(
            "betas must have T >= 2 entries and end with β_(T-1) = 1 (zero terminal SNR), "
            f"got T = {betas.shape[0]}, last {betas[-1] if betas.shape[0] else None!r}"
        )
    return np.concatenate([alpha_bars(betas[:-1]), [0.0]])
