"""Fast solvers of the reverse process: DDIM from a prediction pair, PNDM/PLMS and DPM-Solver++(2M)
(specs/solvers.md).

Multistep solvers reuse earlier model outputs; here that history is an explicit argument (the
previous ε̂ or x̂0, newest last), never state kept between calls.
"""

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from jaxtyping import Float, Float64

from specdiff._typecheck import typechecked
from specdiff.spec._validate import require_finite, require_real_in
from specdiff.spec.reverse import ddim_noise_split, ddim_step, ddim_update

# Adams–Bashforth weights of the last 1, 2, 3, 4 ε̂ (oldest first), as in Liu et al. 2022, eq. 12.
PLMS_WEIGHTS: dict[int, tuple[float, ...]] = {
    1: (1.0,),
    2: (-1.0 / 2.0, 3.0 / 2.0),
    3: (5.0 / 12.0, -16.0 / 12.0, 23.0 / 12.0),
    4: (-9.0 / 24.0, 37.0 / 24.0, -59.0 / 24.0, 55.0 / 24.0),
}


def ddim_sigma_extended(alpha_bar_prev: float, alpha_bar: float, eta: float) -> float:
    """SOLV-1: σ = ddim_sigma(ᾱ_prev, ᾱ, η) (REV-5) for ᾱ > 0, and its limit η·√(1 − ᾱ_prev) at
    ᾱ = 0 (zero terminal SNR), where REV-5's formula would divide by 1 − ᾱ = 1 and ᾱ_prev."""
    require_real_in("alpha_bar", alpha_bar, 0.0, 1.0, high_open=True)
    require_real_in("alpha_bar_prev", alpha_bar_prev, alpha_bar, 1.0)
    require_real_in("eta", eta, 0.0, 1.0)
    return ddim_noise_split(alpha_bar_prev, alpha_bar, eta)[0]


@typechecked
def ddim_step_from_prediction(
    alpha_bar_prev: float,
    alpha_bar: float,
    x0_hat: Float[np.ndarray, "batch *shape"],
    eps_hat: Float[np.ndarray, "batch *shape"],
    eta: float,
    z: Float[np.ndarray, "batch *shape"] | None,
) -> Float64[np.ndarray, "batch *shape"]:
    """SOLV-1: x_prev = √ᾱ_prev·x̂0 + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z, σ = ddim_sigma_extended
    (REV-5's σ, and η·√(1 − ᾱ_prev) at ᾱ = 0); ``z`` may be None only when σ = 0."""
    ddim_sigma_extended(alpha_bar_prev, alpha_bar, eta)  # validates the step's scalars
    require_finite("x0_hat", x0_hat)
    require_finite("eps_hat", eps_hat)
    return ddim_update(alpha_bar_prev, alpha_bar, eta, x0_hat, eps_hat, z)


@typechecked
def plms_eps(
    eps_history: Sequence[Float[np.ndarray, "batch *shape"]],
) -> Float64[np.ndarray, "batch *shape"]:
    """SOLV-2: ε' = Σ_j w_j·ε̂_j over the last n = min(len, 4) ε̂ (oldest first), with the
    Adams–Bashforth weights w = (1), (−1, 3)/2, (5, −16, 23)/12, (−9, 37, −59, 55)/24."""
    if not eps_history:
        raise ValueError("eps_history must hold at least one eps_hat, got none")
    recent = list(eps_history)[-4:]
    for eps_hat in recent:
        require_finite("eps_history", eps_hat)
    weights = PLMS_WEIGHTS[len(recent)]
    return np.asarray(sum(w * e for w, e in zip(weights, recent, strict=True)), dtype=np.float64)


@typechecked
def pndm_step(
    alpha_bar_prev: float,
    alpha_bar: float,
    x_t: Float[np.ndarray, "batch *shape"],
    eps_history: Sequence[Float[np.ndarray, "batch *shape"]],
) -> Float64[np.ndarray, "batch *shape"]:
    """SOLV-3: x_prev = φ(x_t, ε') with ε' = plms_eps(eps_history) (SOLV-2) and the transfer
    φ = ddim_step(ᾱ_prev, ᾱ, x_t, ε', η = 0, clip = False) (Liu et al. 2022, eq. 11 = DDIM)."""
    return ddim_step(alpha_bar_prev, alpha_bar, x_t, plms_eps(eps_history), 0.0, None, False)


def log_snr_step(alpha_bar_from: float, alpha_bar_to: float) -> float:
    """SOLV-4: λ(ᾱ_to) − λ(ᾱ_from), λ = ½·log(ᾱ/(1 − ᾱ)), for 0 < ᾱ_from < ᾱ_to < 1, as
    ½·(log(ᾱ_to/ᾱ_from) + log1p(d/(1 − ᾱ_to))), d = ᾱ_to − ᾱ_from: two positive terms, so the
    step keeps its relative precision and is > 0 even where the two λ round to one float."""
    gap = alpha_bar_to - alpha_bar_from
    if alpha_bar_to > 2.0 * alpha_bar_from:
        # log(b/a) could overflow for a subnormal a; the difference of logs cannot cancel here.
        signal = math.log(alpha_bar_to) - math.log(alpha_bar_from)
    else:
        signal = math.log1p(gap / alpha_bar_from)
    return 0.5 * (signal + math.log1p(gap / (1.0 - alpha_bar_to)))


class DpmSolverPPCoefficients(NamedTuple):
    """SOLV-4's scalars: x_prev = decay_ratio·x_t + growth·(x̂0 + ½·weight·(x̂0 − x̂0_last))."""

    decay_ratio: float  # σ_prev/σ
    growth: float  # α_prev·(1 − e^{−h})
    weight: float  # h/h_last (0 for a first-order step)


def dpm_solver_pp_coefficients(alpha_bar_prev: float, alpha_bar: float,
                               alpha_bar_last: float | None) -> DpmSolverPPCoefficients:
    """SOLV-4: (σ_prev/σ, α_prev·(1 − e^{−h}), h/h_last) of one DPM-Solver++ step, validated;
    ``alpha_bar_last`` None for first order. Shared by the spec and the torch mirror."""
    require_real_in("alpha_bar", alpha_bar, 0.0, 1.0, high_open=True)
    require_real_in("alpha_bar_prev", alpha_bar_prev, alpha_bar, 1.0, low_open=True)
    weight = 0.0
    if alpha_bar_last is not None:
        # 2M needs finite log-SNR steps on both sides: h_last > 0 and h < ∞.
        require_real_in("previous alpha_bar", alpha_bar_last, 0.0, alpha_bar, low_open=True,
                        high_open=True)
        require_real_in("alpha_bar_prev (with previous)", alpha_bar_prev, alpha_bar, 1.0,
                        low_open=True, high_open=True)
        weight = (log_snr_step(alpha_bar, alpha_bar_prev)
                  / log_snr_step(alpha_bar_last, alpha_bar))
    # h = ∞ when the step starts at ᾱ = 0 or lands on ᾱ_prev = 1; then 1 − e^{−h} = 1.
    finite = alpha_bar > 0.0 and alpha_bar_prev < 1.0
    h = log_snr_step(alpha_bar, alpha_bar_prev) if finite else math.inf
    return DpmSolverPPCoefficients(
        decay_ratio=math.sqrt((1.0 - alpha_bar_prev) / (1.0 - alpha_bar)),
        growth=math.sqrt(alpha_bar_prev) * -math.expm1(-h),  # no 1 − e^{−h} cancellation
        weight=weight,
    )


@typechecked
def dpm_solver_pp_step(
    alpha_bar_prev: float,
    alpha_bar: float,
    x_t: Float[np.ndarray, "batch *shape"],
    x0_hat: Float[np.ndarray, "batch *shape"],
    previous: tuple[float, Float[np.ndarray, "batch *shape"]] | None,
) -> Float64[np.ndarray, "batch *shape"]:
    """SOLV-4: x_prev = (σ_prev/σ)·x_t + α_prev·(1 − e^{−h})·(D0 + D1/2), α = √ᾱ, σ = √(1 − ᾱ),
    h = λ_prev − λ, λ = log(α/σ), D0 = x̂0, and D1 = (x̂0 − x̂0_last)·h/h_last for 2M (previous =
    (ᾱ_last, x̂0_last), h_last = λ − λ_last) or D1 = 0 for first order (None)."""
    coefficients = dpm_solver_pp_coefficients(alpha_bar_prev, alpha_bar,
                                              None if previous is None else previous[0])
    require_finite("x_t", x_t)
    require_finite("x0_hat", x0_hat)
    data_term = np.asarray(x0_hat, dtype=np.float64)
    if previous is not None:
        require_finite("previous x0_hat", previous[1])
        data_term = data_term + 0.5 * coefficients.weight * (x0_hat - previous[1])
    x_prev = coefficients.decay_ratio * x_t + coefficients.growth * data_term
    return np.asarray(x_prev, dtype=np.float64)


def dpm_solver_pp_orders(visited_alpha_bars: Sequence[float]) -> list[int]:
    """SOLV-5: the order (1 or 2) of each DPM-Solver++(2M) step over the visited ᾱ (decreasing t,
    landing on ᾱ = 1 after the last): 1 for the first step (no history), for the last (it lands
    on σ = 0, h = ∞: diffusers' lower_order_final, here at every step count) and for a step whose
    history point has ᾱ = 0 (h_last = ∞); 2 otherwise."""
    n = len(visited_alpha_bars)
    return [1 if i in (0, n - 1) or visited_alpha_bars[i - 1] == 0.0 else 2 for i in range(n)]
