"""The Karras/EDM sampler family in the σ view: Euler, Heun, Euler ancestral, the EDM
stochastic sampler (Karras et al. 2022, Alg. 1 and 2) and linear multistep (LMS) of order k, as
k-diffusion samples them (specs/sigma.md, KSAMP).

Each step is a pure function of (σ, σ', x_ve, D, draws) with x_ve = x_vp/√ᾱ (SIGMA-1) and
D = D(x_ve; σ) the denoiser of SIGMA-2; each chain is the whole sampler over the visited
timesteps (SIGMA-4), stepping on their table σ and landing on σ = 0 after the last, where
x_ve = x_0. ``model(x_vp, t)`` and ``noises`` are as in specdiff.spec.chains: the chains start
from a VP x_T at the first visited timestep, so every sampler here starts from the same x_T as
DDIM does.
"""

import itertools
import math
from collections.abc import Iterable, Sequence

import numpy as np
from jaxtyping import Float, Float64

from specdiff._typecheck import typechecked
from specdiff.spec._validate import require_finite, require_int_at_least, require_real_in
from specdiff.spec.chains import NumpyModel
from specdiff.spec.parameterization import PredictionType
from specdiff.spec.sigma import (
    model_denoised,
    sigma_from_alpha_bar,
    sigma_timesteps,
    sigmas_at,
    ve_from_vp,
)

# EDM's cap on the churn per step: σ̂ ≤ √2·σ, so at most doubling the variance (Alg. 2, line 4).
MAX_GAMMA = math.sqrt(2.0) - 1.0


def require_sigma_step(sigma: float, sigma_next: float) -> None:
    """A step down the σ grid: σ ∈ (0, ∞), σ' ∈ [0, σ)."""
    require_real_in("sigma", sigma, 0.0, float("inf"), low_open=True, high_open=True)
    require_real_in("sigma_next", sigma_next, 0.0, sigma, high_open=True)


@typechecked
def euler_step(
    sigma: float,
    sigma_next: float,
    x: Float[np.ndarray, "batch *shape"],
    denoised: Float[np.ndarray, "batch *shape"],
) -> Float64[np.ndarray, "batch *shape"]:
    """KSAMP-1: x' = x + (σ' − σ)·d, d = (x − D)/σ (Alg. 1, first order), for 0 ≤ σ' < σ; at
    σ' = 0 it is D."""
    require_sigma_step(sigma, sigma_next)
    require_finite("x", x)
    require_finite("denoised", denoised)
    return np.asarray(x + (sigma_next - sigma) / sigma * (x - denoised), dtype=np.float64)


@typechecked
def heun_step(
    sigma: float,
    sigma_next: float,
    x: Float[np.ndarray, "batch *shape"],
    denoised: Float[np.ndarray, "batch *shape"],
    denoised_next: Float[np.ndarray, "batch *shape"],
) -> Float64[np.ndarray, "batch *shape"]:
    """KSAMP-2: x' = x + (σ' − σ)·(d + d')/2, d = (x − D)/σ, d' = (x_E − D')/σ', x_E =
    euler_step(σ, σ', x, D), D' = D(x_E; σ') (Alg. 1, second order), for 0 < σ' < σ."""
    require_real_in("sigma_next", sigma_next, 0.0, sigma, low_open=True, high_open=True)
    euler = euler_step(sigma, sigma_next, x, denoised)
    require_finite("denoised_next", denoised_next)
    slope = (x - denoised) / sigma
    slope_next = (euler - denoised_next) / sigma_next
    return np.asarray(x + (sigma_next - sigma) * 0.5 * (slope + slope_next), dtype=np.float64)


def euler_ancestral_sigmas(sigma: float, sigma_next: float, eta: float) -> tuple[float, float]:
    """KSAMP-3: (σ_down, σ_up) with σ_up = η·√(σ'²·(σ² − σ'²)/σ²), σ_down = √(σ'² − σ_up²)
    (σ_down = σ' exactly when σ_up = 0), for 0 ≤ σ' < σ, η ∈ [0, 1]."""
    require_sigma_step(sigma, sigma_next)
    require_real_in("eta", eta, 0.0, 1.0)
    up = eta * math.sqrt(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2)
    down = sigma_next if up == 0.0 else math.sqrt(sigma_next**2 - up**2)
    return down, up


@typechecked
def euler_ancestral_step(
    sigma: float,
    sigma_next: float,
    x: Float[np.ndarray, "batch *shape"],
    denoised: Float[np.ndarray, "batch *shape"],
    eta: float,
    z: Float[np.ndarray, "batch *shape"] | None,
) -> Float64[np.ndarray, "batch *shape"]:
    """KSAMP-3: x' = euler_step(σ, σ_down, x, D) + σ_up·z, (σ_down, σ_up) =
    euler_ancestral_sigmas(σ, σ', η); ``z`` may be None only when σ_up = 0."""
    down, up = euler_ancestral_sigmas(sigma, sigma_next, eta)
    x_next = euler_step(sigma, down, x, denoised)
    if up == 0.0:
        return x_next
    if z is None:
        raise ValueError(f"z must be given when the step adds noise (sigma_up = {up}), got None")
    require_finite("z", z)
    return np.asarray(x_next + up * z, dtype=np.float64)


def edm_gamma(sigma: float, num_steps: int, s_churn: float, s_tmin: float,
              s_tmax: float) -> float:
    """KSAMP-5: γ = min(S_churn/N, √2 − 1) when S_tmin ≤ σ ≤ S_tmax, else 0 (Alg. 2, line 4)."""
    require_int_at_least("num_steps", num_steps, 1)
    require_churn(s_churn, s_tmin, s_tmax, 1.0)
    return min(s_churn / num_steps, MAX_GAMMA) if s_tmin <= sigma <= s_tmax else 0.0


def require_churn(s_churn: float, s_tmin: float, s_tmax: float, s_noise: float) -> None:
    """KSAMP-11: S_churn ≥ 0, 0 ≤ S_tmin ≤ S_tmax (S_tmax may be ∞), S_noise ≥ 0."""
    require_real_in("s_churn", s_churn, 0.0, float("inf"), high_open=True)
    require_real_in("s_tmin", s_tmin, 0.0, float("inf"), high_open=True)
    if not s_tmax >= s_tmin:  # also rejects NaN; ∞ is the paper's default
        raise ValueError(f"s_tmax must be >= s_tmin = {s_tmin}, got {s_tmax}")
    require_real_in("s_noise", s_noise, 0.0, float("inf"), high_open=True)


def churned_timestep(alpha_bars: Float[np.ndarray, "T"], t: int, gamma: float) -> int:
    """KSAMP-5: the timestep t̂ whose table σ is the churned level: sigma_timesteps (SIGMA-4) of
    min((1 + γ)·σ_t, σ_{T−1}) (the table has no higher level); t̂ ≥ t."""
    require_real_in("gamma", gamma, 0.0, MAX_GAMMA)
    table = sigma_from_alpha_bar(alpha_bars)
    level = min((1.0 + gamma) * float(table[t]), float(table[-1]))
    return int(sigma_timesteps(alpha_bars, np.array([level]))[0])


@typechecked
def edm_churn(
    sigma: float,
    sigma_hat: float,
    x: Float[np.ndarray, "batch *shape"],
    s_noise: float,
    z: Float[np.ndarray, "batch *shape"],
) -> Float64[np.ndarray, "batch *shape"]:
    """KSAMP-4: x̂ = x + S_noise·√(σ̂² − σ²)·z (Alg. 2, line 6), for 0 < σ ≤ σ̂, S_noise ≥ 0."""
    require_real_in("sigma", sigma, 0.0, float("inf"), low_open=True, high_open=True)
    require_real_in("sigma_hat", sigma_hat, sigma, float("inf"), high_open=True)
    require_real_in("s_noise", s_noise, 0.0, float("inf"), high_open=True)
    require_finite("x", x)
    require_finite("z", z)
    return np.asarray(x + s_noise * math.sqrt(sigma_hat**2 - sigma**2) * z, dtype=np.float64)


# The largest LMS order: k-diffusion's default (4); higher orders extrapolate from nodes so
# far back that they gain nothing on the grids samplers use.
MAX_LMS_ORDER = 4


def lms_coefficients(sigmas: Sequence[float], sigma_next: float) -> list[float]:
    """KSAMP-13: c_j = ∫_{σ_n}^{σ'} ℓ_j(τ) dτ for the Lagrange basis ℓ_j of the nodes σ_0 … σ_n
    (oldest first, the newest σ_n the step starts from); Σ_j c_j·p(σ_j) = ∫ p for every
    polynomial p of degree ≤ n. One node: c = σ' − σ_n (Euler)."""
    if not 1 <= len(sigmas) <= MAX_LMS_ORDER:
        raise ValueError(f"sigmas must hold 1 to {MAX_LMS_ORDER} nodes (the LMS order), got "
                         f"{len(sigmas)}")
    nodes = [require_real_in("sigmas", s, 0.0, float("inf"), low_open=True, high_open=True)
             for s in sigmas]
    if not all(later < earlier for earlier, later in itertools.pairwise(nodes)):
        raise ValueError(f"sigmas must be strictly decreasing (oldest first), got {nodes}")
    require_real_in("sigma_next", sigma_next, 0.0, nodes[-1], high_open=True)
    coefficients = []
    for j, node in enumerate(nodes):
        others = [other for k, other in enumerate(nodes) if k != j]
        basis = np.polynomial.Polynomial([1.0])
        for other in others:  # ℓ_j = Π_{k≠j} (τ − σ_k)/(σ_j − σ_k)
            basis = basis * np.polynomial.Polynomial([-other, 1.0]) / (node - other)
        antiderivative = basis.integ()
        coefficients.append(float(antiderivative(sigma_next) - antiderivative(nodes[-1])))
    return coefficients


@typechecked
def lms_step(
    sigma_next: float,
    x: Float[np.ndarray, "batch *shape"],
    history: Sequence[tuple[float, Float[np.ndarray, "batch *shape"]]],
) -> Float64[np.ndarray, "batch *shape"]:
    """KSAMP-13: x' = x + Σ_j c_j·d_j over history = ((σ_j, d_j), …) oldest first, the newest at
    the σ the step starts from, c = lms_coefficients(σ_j, σ'), d_j = (x_j − D_j)/σ_j."""
    if not history:
        raise ValueError("history must hold at least one (sigma, slope), got none")
    coefficients = lms_coefficients([sigma for sigma, _ in history], sigma_next)
    require_finite("x", x)
    total = np.asarray(x, dtype=np.float64)
    for coefficient, (_, slope) in zip(coefficients, history, strict=True):
        require_finite("history slope", slope)
        total = total + coefficient * slope
    return total


def _start(alpha_bars: np.ndarray, visited: Sequence[int], x_T: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """(σ of each visited timestep then 0, x_ve at the first one)."""
    sigmas = sigmas_at(alpha_bars, np.asarray(visited, dtype=np.int64))
    return sigmas, ve_from_vp(float(alpha_bars[visited[0]]), x_T)


def _heun_to(alpha_bars: np.ndarray, model: NumpyModel, prediction_type: PredictionType,
             sigma: float, x: np.ndarray, denoised: np.ndarray, sigma_next: float,
             t_next: int | None) -> np.ndarray:
    """One step of Alg. 1 from (σ, x, D): Heun to σ' > 0 (one more model call, at t_next),
    Euler to σ' = 0 (the last step)."""
    if t_next is None:
        return euler_step(sigma, sigma_next, x, denoised)
    euler = euler_step(sigma, sigma_next, x, denoised)
    denoised_next = model_denoised(alpha_bars, model, euler, t_next, prediction_type)
    return heun_step(sigma, sigma_next, x, denoised, denoised_next)


def euler_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
                x_T: np.ndarray, *, prediction_type: PredictionType) -> np.ndarray:
    """KSAMP-7: euler_step from σ_i to σ_{i+1} with D at the visited t_i; n model calls."""
    sigmas, x = _start(alpha_bars, visited, x_T)
    for i, t in enumerate(visited):
        x = euler_step(float(sigmas[i]), float(sigmas[i + 1]), x,
                       model_denoised(alpha_bars, model, x, t, prediction_type))
    return x


def heun_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
               x_T: np.ndarray, *, prediction_type: PredictionType) -> np.ndarray:
    """KSAMP-7: heun_step from σ_i to σ_{i+1} (D at t_i, D' at t_{i+1}); the last step, to
    σ = 0, is euler_step; 2n − 1 model calls."""
    sigmas, x = _start(alpha_bars, visited, x_T)
    landings: list[int | None] = [*visited[1:], None]
    for i, (t, t_next) in enumerate(zip(visited, landings, strict=True)):
        denoised = model_denoised(alpha_bars, model, x, t, prediction_type)
        x = _heun_to(alpha_bars, model, prediction_type, float(sigmas[i]), x, denoised,
                     float(sigmas[i + 1]), t_next)
    return x


def euler_ancestral_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
                          x_T: np.ndarray, noises: Iterable[np.ndarray], *, eta: float,
                          prediction_type: PredictionType) -> np.ndarray:
    """KSAMP-7: euler_ancestral_step from σ_i to σ_{i+1} with D at t_i; one draw per step with
    σ_up > 0 (none at η = 0 or on the last step)."""
    draws = iter(noises)
    sigmas, x = _start(alpha_bars, visited, x_T)
    for i, t in enumerate(visited):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        noisy = euler_ancestral_sigmas(sigma, sigma_next, eta)[1] > 0.0
        x = euler_ancestral_step(sigma, sigma_next, x,
                                 model_denoised(alpha_bars, model, x, t, prediction_type), eta,
                                 next(draws) if noisy else None)
    return x


def edm_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
              x_T: np.ndarray, noises: Iterable[np.ndarray], *, s_churn: float, s_tmin: float,
              s_tmax: float, s_noise: float, prediction_type: PredictionType) -> np.ndarray:
    """KSAMP-7: Alg. 2 at step i: γ = edm_gamma(σ_i, n, …), t̂ = churned_timestep(ᾱ, t_i, γ),
    σ̂ = σ_t̂; when t̂ > t_i one draw z and x̂ = edm_churn(σ_i, σ̂, x, S_noise, z), else x̂ = x;
    then the Heun step of heun_chain from (σ̂, x̂, D(x̂; t̂)) to σ_{i+1}."""
    require_churn(s_churn, s_tmin, s_tmax, s_noise)
    draws = iter(noises)
    sigmas, x = _start(alpha_bars, visited, x_T)
    table = sigma_from_alpha_bar(alpha_bars)
    landings: list[int | None] = [*visited[1:], None]
    for i, (t, t_next) in enumerate(zip(visited, landings, strict=True)):
        gamma = edm_gamma(float(sigmas[i]), len(visited), s_churn, s_tmin, s_tmax)
        t_hat = churned_timestep(alpha_bars, t, gamma) if gamma > 0.0 else t
        sigma_hat = float(table[t_hat])
        if t_hat > t:
            x = edm_churn(float(sigmas[i]), sigma_hat, x, s_noise, next(draws))
        denoised = model_denoised(alpha_bars, model, x, t_hat, prediction_type)
        x = _heun_to(alpha_bars, model, prediction_type, sigma_hat, x, denoised,
                     float(sigmas[i + 1]), t_next)
    return x


def lms_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
              x_T: np.ndarray, *, order: int, prediction_type: PredictionType) -> np.ndarray:
    """KSAMP-7: lms_step from σ_i to σ_{i+1} with the slopes d = (x − D)/σ of the last
    min(i + 1, order) visited points (k-diffusion's sample_lms, also on the last step); n model
    calls."""
    require_lms_order(order)
    sigmas, x = _start(alpha_bars, visited, x_T)
    history: list[tuple[float, np.ndarray]] = []
    for i, t in enumerate(visited):
        slope = (x - model_denoised(alpha_bars, model, x, t, prediction_type)) / sigmas[i]
        history = [*history, (float(sigmas[i]), slope)][-order:]
        x = lms_step(float(sigmas[i + 1]), x, history)
    return x


def require_lms_order(order: int) -> None:
    """KSAMP-11: the LMS order is an int in [1, 4]."""
    require_int_at_least("order", order, 1)
    if order > MAX_LMS_ORDER:
        raise ValueError(f"order must be in [1, {MAX_LMS_ORDER}], got {order}")
