"""Torch mirrors of the Karras/EDM family (specs/sigma.md, KSAMP): the steps of
specdiff.spec.karras on tensors, and the samplers Euler, Heun, Euler ancestral and EDM, each one
loop that is its spec chain. Step scalars (σ, σ_down, σ_up, γ) are Python floats (float64) from
the spec, rounded once to the samples' dtype.

A sampler visits the timesteps of its σ grid (SIGMA-4), starts from x_T (drawn from
``generator`` unless given, a VP sample at the first visited timestep, as for DDIM), steps
x_ve = x_T/√ᾱ down the table σ to σ = 0 and returns x_ve = x_0 there. Its only draws after x_T
are the z of the steps that add noise, in step order (SAMP-3).
"""

import math
from collections.abc import Sequence

import torch
from jaxtyping import Float

from specdiff._typecheck import typechecked
from specdiff.diffusion._validate import require_same_shape
from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.diffusion.samplers import EpsModel, _initial_noise, _progress
from specdiff.diffusion.sigma import SigmaSampling, sigma_sampling, ve_from_vp
from specdiff.spec._validate import require_real_in
from specdiff.spec.karras import (
    churned_timestep,
    edm_gamma,
    euler_ancestral_sigmas,
    lms_coefficients,
    require_churn,
    require_lms_order,
    require_sigma_step,
)
from specdiff.spec.parameterization import PredictionType
from specdiff.spec.sigma import SigmaGridName


@typechecked
def euler_step(
    sigma: float,
    sigma_next: float,
    x: Float[torch.Tensor, "batch *shape"],
    denoised: Float[torch.Tensor, "batch *shape"],
) -> Float[torch.Tensor, "batch *shape"]:
    """KSAMP-1: x' = x + (σ' − σ)·d, d = (x − D)/σ (Alg. 1, first order), for 0 ≤ σ' < σ."""
    require_sigma_step(sigma, sigma_next)
    require_same_shape("denoised", denoised, "x", x)
    return x + ((sigma_next - sigma) / sigma) * (x - denoised)


@typechecked
def heun_step(
    sigma: float,
    sigma_next: float,
    x: Float[torch.Tensor, "batch *shape"],
    denoised: Float[torch.Tensor, "batch *shape"],
    denoised_next: Float[torch.Tensor, "batch *shape"],
) -> Float[torch.Tensor, "batch *shape"]:
    """KSAMP-2: x' = x + (σ' − σ)·(d + d')/2, d = (x − D)/σ, d' = (x_E − D')/σ', x_E =
    euler_step(σ, σ', x, D), D' = D(x_E; σ') (Alg. 1, second order), for 0 < σ' < σ."""
    require_real_in("sigma_next", sigma_next, 0.0, sigma, low_open=True, high_open=True)
    euler = euler_step(sigma, sigma_next, x, denoised)
    require_same_shape("denoised_next", denoised_next, "x", x)
    slope = (x - denoised) / sigma
    slope_next = (euler - denoised_next) / sigma_next
    return x + ((sigma_next - sigma) * 0.5) * (slope + slope_next)


@typechecked
def euler_ancestral_step(
    sigma: float,
    sigma_next: float,
    x: Float[torch.Tensor, "batch *shape"],
    denoised: Float[torch.Tensor, "batch *shape"],
    eta: float,
    z: Float[torch.Tensor, "batch *shape"] | None,
) -> Float[torch.Tensor, "batch *shape"]:
    """KSAMP-3: x' = euler_step(σ, σ_down, x, D) + σ_up·z, (σ_down, σ_up) =
    euler_ancestral_sigmas(σ, σ', η); ``z`` may be None only when σ_up = 0."""
    down, up = euler_ancestral_sigmas(sigma, sigma_next, eta)
    x_next = euler_step(sigma, down, x, denoised)
    if up == 0.0:
        return x_next
    if z is None:
        raise ValueError(f"z must be given when the step adds noise (sigma_up = {up}), got None")
    require_same_shape("z", z, "x", x)
    return x_next + up * z


@typechecked
def edm_churn(
    sigma: float,
    sigma_hat: float,
    x: Float[torch.Tensor, "batch *shape"],
    s_noise: float,
    z: Float[torch.Tensor, "batch *shape"],
) -> Float[torch.Tensor, "batch *shape"]:
    """KSAMP-4: x̂ = x + S_noise·√(σ̂² − σ²)·z (Alg. 2, line 6), for 0 < σ ≤ σ̂, S_noise ≥ 0."""
    require_real_in("sigma", sigma, 0.0, float("inf"), low_open=True, high_open=True)
    require_real_in("sigma_hat", sigma_hat, sigma, float("inf"), high_open=True)
    require_real_in("s_noise", s_noise, 0.0, float("inf"), high_open=True)
    require_same_shape("z", z, "x", x)
    return x + (s_noise * math.sqrt(sigma_hat**2 - sigma**2)) * z


@typechecked
def lms_step(
    sigma_next: float,
    x: Float[torch.Tensor, "batch *shape"],
    history: Sequence[tuple[float, Float[torch.Tensor, "batch *shape"]]],
) -> Float[torch.Tensor, "batch *shape"]:
    """KSAMP-13: x' = x + Σ_j c_j·d_j over history = ((σ_j, d_j), …) oldest first, the newest at
    the σ the step starts from, c = lms_coefficients(σ_j, σ'), d_j = (x_j − D_j)/σ_j."""
    if not history:
        raise ValueError("history must hold at least one (sigma, slope), got none")
    coefficients = lms_coefficients([sigma for sigma, _ in history], sigma_next)
    total = x
    for coefficient, (_, slope) in zip(coefficients, history, strict=True):
        require_same_shape("history slope", slope, "x", x)
        total = total + coefficient * slope
    return total


def _draw(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def _heun_to(grid: SigmaSampling, model: EpsModel, prediction_type: PredictionType,
             sigma: float, x: torch.Tensor, denoised: torch.Tensor, i: int) -> torch.Tensor:
    """One step of Alg. 1 from (σ, x, D) to σ_{i+1}: Heun (one more model call, at t_{i+1}), or
    Euler on the last step (to σ = 0)."""
    sigma_next = grid.sigmas[i + 1]
    euler = euler_step(sigma, sigma_next, x, denoised)
    if i + 1 == len(grid.visited):
        return euler
    denoised_next = grid.denoise(model, euler, grid.visited[i + 1], prediction_type)
    return heun_step(sigma, sigma_next, x, denoised, denoised_next)


@typechecked
def sample_euler(
    model: EpsModel,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    *,
    steps: int = 20,
    grid: SigmaGridName = "karras",
    rho: float | None = None,
    generator: torch.Generator,
    prediction_type: PredictionType = "epsilon",
    x_T: Float[torch.Tensor, "..."] | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> Float[torch.Tensor, "..."]:
    """KSAMP-7: Euler (Karras et al. 2022, Alg. 1, first order) on the σ grid ``grid`` (SIGMA-4);
    deterministic given x_T; equals ``spec.karras.euler_chain``."""
    sampling = sigma_sampling(schedule, steps, grid, rho, prediction_type, "sample_euler")
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        x = ve_from_vp(sampling.alpha_bars[sampling.visited[0]], x)
        indices = range(len(sampling.visited))
        for i in _progress(indices, len(indices), "Euler", progress):
            denoised = sampling.denoise(model, x, sampling.visited[i], prediction_type)
            x = euler_step(sampling.sigmas[i], sampling.sigmas[i + 1], x, denoised)
    return x


@typechecked
def sample_heun(
    model: EpsModel,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    *,
    steps: int = 20,
    grid: SigmaGridName = "karras",
    rho: float | None = None,
    generator: torch.Generator,
    prediction_type: PredictionType = "epsilon",
    x_T: Float[torch.Tensor, "..."] | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> Float[torch.Tensor, "..."]:
    """KSAMP-7: Heun (Alg. 1, second order; the last step, to σ = 0, Euler) on the σ grid
    ``grid`` (SIGMA-4): 2n − 1 model calls; deterministic given x_T; equals
    ``spec.karras.heun_chain``."""
    sampling = sigma_sampling(schedule, steps, grid, rho, prediction_type, "sample_heun")
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        x = ve_from_vp(sampling.alpha_bars[sampling.visited[0]], x)
        indices = range(len(sampling.visited))
        for i in _progress(indices, len(indices), "Heun", progress):
            denoised = sampling.denoise(model, x, sampling.visited[i], prediction_type)
            x = _heun_to(sampling, model, prediction_type, sampling.sigmas[i], x, denoised, i)
    return x


@typechecked
def sample_euler_ancestral(
    model: EpsModel,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    *,
    steps: int = 20,
    eta: float = 1.0,
    grid: SigmaGridName = "karras",
    rho: float | None = None,
    generator: torch.Generator,
    prediction_type: PredictionType = "epsilon",
    x_T: Float[torch.Tensor, "..."] | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> Float[torch.Tensor, "..."]:
    """KSAMP-7: Euler ancestral with noise level ``eta`` on the σ grid ``grid`` (SIGMA-4): one
    draw per step with σ_up > 0, after x_T; equals ``spec.karras.euler_ancestral_chain``; at
    η = 0 it is ``sample_euler`` bit for bit."""
    require_real_in("eta", eta, 0.0, 1.0)
    sampling = sigma_sampling(schedule, steps, grid, rho, prediction_type,
                              "sample_euler_ancestral")
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        x = ve_from_vp(sampling.alpha_bars[sampling.visited[0]], x)
        indices = range(len(sampling.visited))
        for i in _progress(indices, len(indices), "Euler ancestral", progress):
            sigma, sigma_next = sampling.sigmas[i], sampling.sigmas[i + 1]
            denoised = sampling.denoise(model, x, sampling.visited[i], prediction_type)
            noisy = euler_ancestral_sigmas(sigma, sigma_next, eta)[1] > 0.0
            x = euler_ancestral_step(sigma, sigma_next, x, denoised, eta,
                                     _draw(x, generator) if noisy else None)
    return x


@typechecked
def sample_edm(
    model: EpsModel,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    *,
    steps: int = 20,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
    grid: SigmaGridName = "karras",
    rho: float | None = None,
    generator: torch.Generator,
    prediction_type: PredictionType = "epsilon",
    x_T: Float[torch.Tensor, "..."] | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> Float[torch.Tensor, "..."]:
    """KSAMP-7: the EDM stochastic sampler (Alg. 2) on the σ grid ``grid`` (SIGMA-4): at each
    step with γ = edm_gamma(σ_i, n, S_churn, S_tmin, S_tmax) > 0 the level rises to the table σ
    of churned_timestep, with one draw when it does rise, then a Heun step; equals
    ``spec.karras.edm_chain``; at S_churn = 0 it is ``sample_heun`` bit for bit."""
    require_churn(s_churn, s_tmin, s_tmax, s_noise)
    sampling = sigma_sampling(schedule, steps, grid, rho, prediction_type, "sample_edm")
    host_alpha_bars = schedule.alpha_bars.to("cpu", torch.float64).numpy()
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        x = ve_from_vp(sampling.alpha_bars[sampling.visited[0]], x)
        indices = range(len(sampling.visited))
        for i in _progress(indices, len(indices), "EDM", progress):
            t, sigma = sampling.visited[i], sampling.sigmas[i]
            gamma = edm_gamma(sigma, len(indices), s_churn, s_tmin, s_tmax)
            t_hat = churned_timestep(host_alpha_bars, t, gamma) if gamma > 0.0 else t
            sigma_hat = sampling.sigma_table[t_hat]
            if t_hat > t:
                x = edm_churn(sigma, sigma_hat, x, s_noise, _draw(x, generator))
            denoised = sampling.denoise(model, x, t_hat, prediction_type)
            x = _heun_to(sampling, model, prediction_type, sigma_hat, x, denoised, i)
    return x


@typechecked
def sample_lms(
    model: EpsModel,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    *,
    steps: int = 20,
    order: int = 4,
    grid: SigmaGridName = "karras",
    rho: float | None = None,
    generator: torch.Generator,
    prediction_type: PredictionType = "epsilon",
    x_T: Float[torch.Tensor, "..."] | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> Float[torch.Tensor, "..."]:
    """KSAMP-7: linear multistep of order ``order`` (1 to 4; k-diffusion's sample_lms) on the σ
    grid ``grid`` (SIGMA-4), each step with the slopes of the last min(i + 1, order) points; n
    model calls; deterministic given x_T; equals ``spec.karras.lms_chain``."""
    require_lms_order(order)
    sampling = sigma_sampling(schedule, steps, grid, rho, prediction_type, "sample_lms")
    history: list[tuple[float, torch.Tensor]] = []
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        x = ve_from_vp(sampling.alpha_bars[sampling.visited[0]], x)
        indices = range(len(sampling.visited))
        for i in _progress(indices, len(indices), "LMS", progress):
            sigma = sampling.sigmas[i]
            denoised = sampling.denoise(model, x, sampling.visited[i], prediction_type)
            history = [*history, (sigma, (x - denoised) / sigma)][-order:]
            x = lms_step(sampling.sigmas[i + 1], x, history)
    return x
