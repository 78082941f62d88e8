"""DPM-Solver++ in the σ view, on any σ grid: DPM++ 2M (Lu et al. 2022, Alg. 2, as k-diffusion's
``sample_dpmpp_2m``), DPM++ 2M SDE (``sample_dpmpp_2m_sde``, midpoint) and DPM++ 2S ancestral
(``sample_dpmpp_2s_ancestral``) and DPM++ SDE (``sample_dpmpp_sde``) (specs/sigma.md, KSAMP).

In x_ve = x_vp/√ᾱ (SIGMA-1) the half log-SNR is λ = −log σ, and the data-prediction solver
steps x_ve with the denoiser D of SIGMA-2; the previous step's (σ, D) is an explicit argument.
"""

import math
from collections.abc import Iterable, Sequence

import numpy as np
from jaxtyping import Float, Float64

from specdiff._typecheck import typechecked
from specdiff.spec._validate import require_finite, require_real_in
from specdiff.spec.chains import NumpyModel
from specdiff.spec.karras import euler_ancestral_sigmas, euler_ancestral_step, euler_step
from specdiff.spec.parameterization import PredictionType
from specdiff.spec.sigma import (
    model_denoised,
    sigma_from_alpha_bar,
    sigma_timesteps,
    sigmas_at,
    ve_from_vp,
)


@typechecked
def dpmpp_2m_step(
    sigma: float,
    sigma_next: float,
    x: Float[np.ndarray, "batch *shape"],
    denoised: Float[np.ndarray, "batch *shape"],
    previous: tuple[float, Float[np.ndarray, "batch *shape"]] | None,
) -> Float64[np.ndarray, "batch *shape"]:
    """KSAMP-6: x' = (σ'/σ)·x + (1 − e^{−h})·(D + (D − D_last)/(2r)), h = log(σ/σ'), with
    previous = (σ_last, D_last): r = h_last/h, h_last = log(σ_last/σ); first order (None):
    x' = (σ'/σ)·x + (1 − e^{−h})·D, which is D at σ' = 0."""
    require_real_in("sigma", sigma, 0.0, float("inf"), low_open=True, high_open=True)
    require_real_in("sigma_next", sigma_next, 0.0, sigma, high_open=True)
    require_finite("x", x)
    require_finite("denoised", denoised)
    data_term = np.asarray(denoised, dtype=np.float64)
    if previous is not None:
        sigma_last, denoised_last = previous
        # 2M needs finite log-σ steps on both sides: σ_last > σ and σ' > 0.
        require_real_in("previous sigma", sigma_last, sigma, float("inf"), low_open=True,
                        high_open=True)
        require_real_in("sigma_next (with previous)", sigma_next, 0.0, sigma, low_open=True,
                        high_open=True)
        require_finite("previous denoised", denoised_last)
        ratio = math.log(sigma / sigma_next) / math.log(sigma_last / sigma)  # h/h_last = 1/r
        data_term = data_term + 0.5 * ratio * (denoised - denoised_last)
    # e^{−h} = σ'/σ: finite (0) at σ' = 0, where the step lands on D.
    decay = sigma_next / sigma
    return np.asarray(decay * x + (1.0 - decay) * data_term, dtype=np.float64)


@typechecked
def dpmpp_2m_sde_step(
    sigma: float,
    sigma_next: float,
    x: Float[np.ndarray, "batch *shape"],
    denoised: Float[np.ndarray, "batch *shape"],
    previous: tuple[float, Float[np.ndarray, "batch *shape"]] | None,
    eta: float,
    z: Float[np.ndarray, "batch *shape"] | None,
) -> Float64[np.ndarray, "batch *shape"]:
    """KSAMP-12: for σ' > 0, x' = c·x + (1 − c)·(D + (D − D_last)·h/(2·h_last)) +
    σ'·√(1 − e^{−2ηh})·z with c = (σ'/σ)·e^{−ηh}, h = log(σ/σ'), h_last = log(σ_last/σ) (no
    D_last term when previous is None); x' = D at σ' = 0 (k-diffusion's sample_dpmpp_2m_sde,
    midpoint). ``z`` may be None only when η = 0 or σ' = 0."""
    require_real_in("eta", eta, 0.0, float("inf"), high_open=True)
    if sigma_next == 0.0 or eta == 0.0:
        return dpmpp_2m_step(sigma, sigma_next, x, denoised, previous)
    require_real_in("sigma", sigma, 0.0, float("inf"), low_open=True, high_open=True)
    require_real_in("sigma_next", sigma_next, 0.0, sigma, high_open=True)
    require_finite("x", x)
    require_finite("denoised", denoised)
    if z is None:
        raise ValueError(f"z must be given when the step adds noise (eta = {eta}), got None")
    require_finite("z", z)
    h = math.log(sigma / sigma_next)
    data_term = np.asarray(denoised, dtype=np.float64)
    if previous is not None:
        sigma_last, denoised_last = previous
        require_real_in("previous sigma", sigma_last, sigma, float("inf"), low_open=True,
                        high_open=True)
        require_finite("previous denoised", denoised_last)
        data_term = data_term + 0.5 * (h / math.log(sigma_last / sigma)) * (
            denoised - denoised_last)
    decay = sigma_next / sigma * math.exp(-eta * h)
    noise = sigma_next * math.sqrt(-math.expm1(-2.0 * eta * h))
    return np.asarray(decay * x + (1.0 - decay) * data_term + noise * z, dtype=np.float64)


def dpmpp_2m_orders(num_steps: int) -> list[int]:
    """KSAMP-6: over n steps, 1 for the first (no history) and the last (it lands on σ = 0,
    h = ∞), 2 otherwise (as SOLV-5 on a grid with finite σ_max)."""
    return [1 if i in (0, num_steps - 1) else 2 for i in range(num_steps)]


def dpmpp_2m_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
                   x_T: np.ndarray, *, prediction_type: PredictionType) -> np.ndarray:
    """KSAMP-7: dpmpp_2m_step from σ_i to σ_{i+1} with D at t_i and, where dpmpp_2m_orders says
    2, the previous (σ, D) as history; x_T at the first visited timestep; n model calls."""
    sigmas = sigmas_at(alpha_bars, np.asarray(visited, dtype=np.int64))
    x = ve_from_vp(float(alpha_bars[visited[0]]), x_T)
    orders = dpmpp_2m_orders(len(visited))
    previous: tuple[float, np.ndarray] | None = None
    for i, t in enumerate(visited):
        denoised = model_denoised(alpha_bars, model, x, t, prediction_type)
        x_next = dpmpp_2m_step(float(sigmas[i]), float(sigmas[i + 1]), x, denoised,
                               previous if orders[i] == 2 else None)
        previous, x = (float(sigmas[i]), denoised), x_next
    return x


def dpmpp_2m_sde_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
                       x_T: np.ndarray, noises: Iterable[np.ndarray], *, eta: float,
                       prediction_type: PredictionType) -> np.ndarray:
    """KSAMP-7: dpmpp_2m_sde_step from σ_i to σ_{i+1} with D at t_i, history as dpmpp_2m_chain,
    one draw per step with η > 0 and σ_{i+1} > 0 (every step but the last)."""
    draws = iter(noises)
    sigmas = sigmas_at(alpha_bars, np.asarray(visited, dtype=np.int64))
    x = ve_from_vp(float(alpha_bars[visited[0]]), x_T)
    orders = dpmpp_2m_orders(len(visited))
    previous: tuple[float, np.ndarray] | None = None
    for i, t in enumerate(visited):
        denoised = model_denoised(alpha_bars, model, x, t, prediction_type)
        noisy = eta > 0.0 and sigmas[i + 1] > 0.0
        x_next = dpmpp_2m_sde_step(float(sigmas[i]), float(sigmas[i + 1]), x, denoised,
                                   previous if orders[i] == 2 else None, eta,
                                   next(draws) if noisy else None)
        previous, x = (float(sigmas[i]), denoised), x_next
    return x


def dpmpp_2s_midpoint(alpha_bars: np.ndarray, t: int, sigma_down: float) -> int:
    """KSAMP-14: the timestep of the 2S midpoint: SIGMA-4's timestep of √(σ_t·σ_down) (the
    midpoint in λ = −log σ), raised to σ_0 when below the table."""
    table = sigma_from_alpha_bar(alpha_bars)
    require_real_in("sigma_down", sigma_down, 0.0, float(table[t]), low_open=True,
                    high_open=True)
    level = max(math.sqrt(float(table[t]) * sigma_down), float(table[0]))
    return int(sigma_timesteps(alpha_bars, np.array([level]))[0])


@typechecked
def dpmpp_2s_ancestral_step(
    sigma: float,
    sigma_next: float,
    x: Float[np.ndarray, "batch *shape"],
    denoised: Float[np.ndarray, "batch *shape"],
    midpoint: tuple[float, Float[np.ndarray, "batch *shape"]] | None,
    eta: float,
    z: Float[np.ndarray, "batch *shape"] | None,
) -> Float64[np.ndarray, "batch *shape"]:
    """KSAMP-14: with (σ_down, σ_up) of KSAMP-3 and midpoint = (σ_s, D_s), D_s the denoiser at
    x_s = euler_step(σ, σ_s, x, D): x' = (σ_down/σ)·x + (1 − σ_down/σ)·((1 − 1/(2r))·D +
    D_s/(2r)) + σ_up·z, r = log(σ/σ_s)/log(σ/σ_down); without a midpoint (σ_down = 0, or no
    table level below σ) x' = euler_step(σ, σ_down, x, D) + σ_up·z."""
    down, up = euler_ancestral_sigmas(sigma, sigma_next, eta)
    if midpoint is None:
        x_next = euler_step(sigma, down, x, denoised)
    else:
        sigma_mid, denoised_mid = midpoint
        require_real_in("sigma_down", down, 0.0, sigma, low_open=True, high_open=True)
        require_real_in("midpoint sigma", sigma_mid, 0.0, sigma, low_open=True, high_open=True)
        require_finite("x", x)
        require_finite("denoised", denoised)
        require_finite("midpoint denoised", denoised_mid)
        weight = 0.5 * math.log(sigma / down) / math.log(sigma / sigma_mid)  # 1/(2r)
        decay = down / sigma
        x_next = np.asarray(decay * x + (1.0 - decay) * (
            (1.0 - weight) * denoised + weight * denoised_mid), dtype=np.float64)
    if up == 0.0:
        return x_next
    if z is None:
        raise ValueError(f"z must be given when the step adds noise (sigma_up = {up}), got None")
    require_finite("z", z)
    return np.asarray(x_next + up * z, dtype=np.float64)


def dpmpp_2s_ancestral_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
                             x_T: np.ndarray, noises: Iterable[np.ndarray], *, eta: float,
                             prediction_type: PredictionType) -> np.ndarray:
    """KSAMP-7: at step i, D at t_i; when σ_down > 0 and t_s = dpmpp_2s_midpoint(ᾱ, t_i, σ_down)
    < t_i, D_s at (euler_step(σ_i, σ_{t_s}, x, D), t_s); then dpmpp_2s_ancestral_step with one
    draw when σ_up > 0."""
    draws = iter(noises)
    sigmas = sigmas_at(alpha_bars, np.asarray(visited, dtype=np.int64))
    table = sigma_from_alpha_bar(alpha_bars)
    x = ve_from_vp(float(alpha_bars[visited[0]]), x_T)
    for i, t in enumerate(visited):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        denoised = model_denoised(alpha_bars, model, x, t, prediction_type)
        down, up = euler_ancestral_sigmas(sigma, sigma_next, eta)
        midpoint = None
        t_mid = dpmpp_2s_midpoint(alpha_bars, t, down) if down > 0.0 else t
        if t_mid < t:
            sigma_mid = float(table[t_mid])
            x_mid = euler_step(sigma, sigma_mid, x, denoised)
            midpoint = (sigma_mid, model_denoised(alpha_bars, model, x_mid, t_mid,
                                                  prediction_type))
        x = dpmpp_2s_ancestral_step(sigma, sigma_next, x, denoised, midpoint, eta,
                                    next(draws) if up > 0.0 else None)
    return x


@typechecked
def dpmpp_sde_noises(
    sigma: float,
    sigma_mid: float,
    sigma_next: float,
    z_first: Float[np.ndarray, "batch *shape"],
    z_second: Float[np.ndarray, "batch *shape"],
) -> tuple[Float64[np.ndarray, "batch *shape"], Float64[np.ndarray, "batch *shape"]]:
    """KSAMP-16: the normalized Brownian increments over [σ_s, σ] and [σ', σ] from two
    independent draws: n_1 = z_1, n_2 = (√(σ − σ_s)·z_1 + √(σ_s − σ')·z_2)/√(σ − σ'), for
    0 ≤ σ' < σ_s < σ (k-diffusion's Brownian-tree noise sampler, made explicit)."""
    require_real_in("sigma", sigma, 0.0, float("inf"), low_open=True, high_open=True)
    require_real_in("sigma_mid", sigma_mid, 0.0, sigma, low_open=True, high_open=True)
    require_real_in("sigma_next", sigma_next, 0.0, sigma_mid, high_open=True)
    require_finite("z_first", z_first)
    require_finite("z_second", z_second)
    span = math.sqrt(sigma - sigma_next)
    first, second = math.sqrt(sigma - sigma_mid) / span, math.sqrt(sigma_mid - sigma_next) / span
    return (np.asarray(z_first, dtype=np.float64),
            np.asarray(first * z_first + second * z_second, dtype=np.float64))


@typechecked
def dpmpp_sde_step(
    sigma: float,
    sigma_next: float,
    x: Float[np.ndarray, "batch *shape"],
    denoised: Float[np.ndarray, "batch *shape"],
    midpoint: tuple[float, Float[np.ndarray, "batch *shape"]],
    eta: float,
    noise: Float[np.ndarray, "batch *shape"] | None,
) -> Float64[np.ndarray, "batch *shape"]:
    """KSAMP-16: the second stage of DPM++ SDE: with (σ_down, σ_up) = euler_ancestral_sigmas(σ,
    σ', η), r = log(σ/σ_s)/log(σ/σ'), midpoint = (σ_s, D_s): x' = (σ_down/σ)·x +
    (1 − σ_down/σ)·((1 − 1/(2r))·D + D_s/(2r)) + σ_up·n_2; ``noise`` (n_2) may be None only
    when σ_up = 0."""
    down, up = euler_ancestral_sigmas(sigma, sigma_next, eta)
    sigma_mid, denoised_mid = midpoint
    require_real_in("sigma_next", sigma_next, 0.0, sigma, low_open=True, high_open=True)
    require_real_in("midpoint sigma", sigma_mid, 0.0, sigma, low_open=True, high_open=True)
    require_finite("x", x)
    require_finite("denoised", denoised)
    require_finite("midpoint denoised", denoised_mid)
    weight = 0.5 * math.log(sigma / sigma_next) / math.log(sigma / sigma_mid)  # 1/(2r)
    decay = down / sigma
    x_next = np.asarray(decay * x + (1.0 - decay) * (
        (1.0 - weight) * denoised + weight * denoised_mid), dtype=np.float64)
    if up == 0.0:
        return x_next
    if noise is None:
        raise ValueError(f"noise must be given when the step adds noise (sigma_up = {up}), got "
                         "None")
    require_finite("noise", noise)
    return np.asarray(x_next + up * noise, dtype=np.float64)


def dpmpp_sde_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
                    x_T: np.ndarray, noises: Iterable[np.ndarray], *, eta: float,
                    prediction_type: PredictionType) -> np.ndarray:
    """KSAMP-7: at step i, D at t_i; to σ' = 0 euler_step; else with the midpoint timestep
    t_s = dpmpp_2s_midpoint(ᾱ, t_i, σ') strictly between t_{i+1} and t_i: draws z_1, z_2 (η > 0),
    (n_1, n_2) = dpmpp_sde_noises, x_s = euler_ancestral_step(σ, σ_s, x, D, η, n_1), D_s at
    (x_s, t_s), x' = dpmpp_sde_step(…, n_2); without such a midpoint euler_ancestral_step(σ, σ',
    x, D, η, z) with one draw."""
    draws = iter(noises)
    sigmas = sigmas_at(alpha_bars, np.asarray(visited, dtype=np.int64))
    table = sigma_from_alpha_bar(alpha_bars)
    x = ve_from_vp(float(alpha_bars[visited[0]]), x_T)
    landings: list[int | None] = [*visited[1:], None]
    for i, (t, t_next) in enumerate(zip(visited, landings, strict=True)):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        denoised = model_denoised(alpha_bars, model, x, t, prediction_type)
        if t_next is None:
            x = euler_step(sigma, sigma_next, x, denoised)
            continue
        t_mid = dpmpp_2s_midpoint(alpha_bars, t, sigma_next)
        if not t_next < t_mid < t:
            x = euler_ancestral_step(sigma, sigma_next, x, denoised, eta,
                                     next(draws) if eta > 0.0 else None)
            continue
        sigma_mid = float(table[t_mid])
        first: np.ndarray | None = None
        second: np.ndarray | None = None
        if eta > 0.0:
            first, second = dpmpp_sde_noises(sigma, sigma_mid, sigma_next, next(draws),
                                             next(draws))
        x_mid = euler_ancestral_step(sigma, sigma_mid, x, denoised, eta, first)
        midpoint = (sigma_mid, model_denoised(alpha_bars, model, x_mid, t_mid, prediction_type))
        x = dpmpp_sde_step(sigma, sigma_next, x, denoised, midpoint, eta, second)
    return x
