"""Torch mirror of DPM-Solver++ in the σ view (specs/sigma.md, KSAMP-6, -12, -14, -16): the DPM++
2M, 2M SDE, 2S ancestral and SDE steps on tensors and their samplers on any σ grid, each one loop
that is its chain in ``spec.dpmpp``. The previous step's (σ, D) is kept in the loop and passed
explicitly; every draw after x_T is made in step order.
"""

import math

import torch
from jaxtyping import Float

from specdiff._typecheck import typechecked
from specdiff.diffusion._validate import require_same_shape
from specdiff.diffusion.karras import euler_ancestral_step, euler_step
from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.diffusion.samplers import EpsModel, _initial_noise, _progress
from specdiff.diffusion.sigma import SigmaSampling, sigma_sampling, ve_from_vp
from specdiff.spec._validate import require_real_in
from specdiff.spec.dpmpp import dpmpp_2m_orders, dpmpp_2s_midpoint
from specdiff.spec.karras import euler_ancestral_sigmas
from specdiff.spec.parameterization import PredictionType
from specdiff.spec.sigma import SigmaGridName


@typechecked
def dpmpp_2m_step(
    sigma: float,
    sigma_next: float,
    x: Float[torch.Tensor, "batch *shape"],
    denoised: Float[torch.Tensor, "batch *shape"],
    previous: tuple[float, Float[torch.Tensor, "batch *shape"]] | None,
) -> Float[torch.Tensor, "batch *shape"]:
    """KSAMP-6: x' = (σ'/σ)·x + (1 − e^{−h})·(D + (D − D_last)/(2r)), h = log(σ/σ'), with
    previous = (σ_last, D_last): r = h_last/h, h_last = log(σ_last/σ); first order (None):
    x' = (σ'/σ)·x + (1 − e^{−h})·D, which is D at σ' = 0."""
    require_real_in("sigma", sigma, 0.0, float("inf"), low_open=True, high_open=True)
    require_real_in("sigma_next", sigma_next, 0.0, sigma, high_open=True)
    require_same_shape("denoised", denoised, "x", x)
    data_term = denoised
    if previous is not None:
        sigma_last, denoised_last = previous
        require_real_in("previous sigma", sigma_last, sigma, float("inf"), low_open=True,
                        high_open=True)
        require_real_in("sigma_next (with previous)", sigma_next, 0.0, sigma, low_open=True,
                        high_open=True)
        require_same_shape("previous denoised", denoised_last, "x", x)
        ratio = math.log(sigma / sigma_next) / math.log(sigma_last / sigma)  # h/h_last = 1/r
        data_term = denoised + (0.5 * ratio) * (denoised - denoised_last)
    decay = sigma_next / sigma  # e^{−h}
    return decay * x + (1.0 - decay) * data_term


@typechecked
def dpmpp_2m_sde_step(
    sigma: float,
    sigma_next: float,
    x: Float[torch.Tensor, "batch *shape"],
    denoised: Float[torch.Tensor, "batch *shape"],
    previous: tuple[float, Float[torch.Tensor, "batch *shape"]] | None,
    eta: float,
    z: Float[torch.Tensor, "batch *shape"] | None,
) -> Float[torch.Tensor, "batch *shape"]:
    """KSAMP-12: for σ' > 0, x' = c·x + (1 − c)·(D + (D − D_last)·h/(2·h_last)) +
    σ'·√(1 − e^{−2ηh})·z with c = (σ'/σ)·e^{−ηh}, h = log(σ/σ'), h_last = log(σ_last/σ) (no
    D_last term when previous is None); x' = D at σ' = 0. ``z`` may be None only when η = 0 or
    σ' = 0."""
    require_real_in("eta", eta, 0.0, float("inf"), high_open=True)
    if sigma_next == 0.0 or eta == 0.0:
        return dpmpp_2m_step(sigma, sigma_next, x, denoised, previous)
    require_real_in("sigma", sigma, 0.0, float("inf"), low_open=True, high_open=True)
    require_real_in("sigma_next", sigma_next, 0.0, sigma, high_open=True)
    require_same_shape("denoised", denoised, "x", x)
    if z is None:
        raise ValueError(f"z must be given when the step adds noise (eta = {eta}), got None")
    require_same_shape("z", z, "x", x)
    h = math.log(sigma / sigma_next)
    data_term = denoised
    if previous is not None:
        sigma_last, denoised_last = previous
        require_real_in("previous sigma", sigma_last, sigma, float("inf"), low_open=True,
                        high_open=True)
        require_same_shape("previous denoised", denoised_last, "x", x)
        data_term = denoised + (0.5 * h / math.log(sigma_last / sigma)) * (
            denoised - denoised_last)
    decay = sigma_next / sigma * math.exp(-eta * h)
    noise = sigma_next * math.sqrt(-math.expm1(-2.0 * eta * h))
    return decay * x + (1.0 - decay) * data_term + noise * z


def _multistep(sampling: SigmaSampling, model: EpsModel, x: torch.Tensor,
               prediction_type: PredictionType, eta: float, generator: torch.Generator,
               progress: bool, name: str) -> torch.Tensor:
    """The loop of DPM++ 2M (η = 0: no draws) and 2M SDE from x_ve at the first visited σ."""
    orders = dpmpp_2m_orders(len(sampling.visited))
    previous: tuple[float, torch.Tensor] | None = None
    indices = range(len(sampling.visited))
    for i in _progress(indices, len(indices), name, progress):
        sigma, sigma_next = sampling.sigmas[i], sampling.sigmas[i + 1]
        denoised = sampling.denoise(model, x, sampling.visited[i], prediction_type)
        z = (torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
             if eta > 0.0 and sigma_next > 0.0 else None)
        x_next = dpmpp_2m_sde_step(sigma, sigma_next, x, denoised,
                                   previous if orders[i] == 2 else None, eta, z)
        previous, x = (sigma, denoised), x_next
    return x


@typechecked
def sample_dpmpp_2m(
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
    """KSAMP-7: DPM++ 2M on the σ grid ``grid`` (SIGMA-4; "karras" is "DPM++ 2M Karras"), step
    orders by dpmpp_2m_orders; n model calls; equals ``spec.dpmpp.dpmpp_2m_chain``."""
    sampling = sigma_sampling(schedule, steps, grid, rho, prediction_type, "sample_dpmpp_2m")
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        x = ve_from_vp(sampling.alpha_bars[sampling.visited[0]], x)
        return _multistep(sampling, model, x, prediction_type, 0.0, generator, progress,
                          "DPM++ 2M")


@typechecked
def sample_dpmpp_2m_sde(
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
    """KSAMP-7: DPM++ 2M SDE (midpoint) with noise level ``eta`` on the σ grid ``grid``
    (SIGMA-4): one draw per step but the last, after x_T, in step order (k-diffusion draws these
    from a Brownian tree; its increments over the steps are the same independent normals);
    equals ``spec.dpmpp.dpmpp_2m_sde_chain``; at η = 0 it is ``sample_dpmpp_2m`` bit for bit."""
    require_real_in("eta", eta, 0.0, float("inf"), high_open=True)
    sampling = sigma_sampling(schedule, steps, grid, rho, prediction_type, "sample_dpmpp_2m_sde")
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        x = ve_from_vp(sampling.alpha_bars[sampling.visited[0]], x)
        return _multistep(sampling, model, x, prediction_type, eta, generator, progress,
                          "DPM++ 2M SDE")


@typechecked
def dpmpp_2s_ancestral_step(
    sigma: float,
    sigma_next: float,
    x: Float[torch.Tensor, "batch *shape"],
    denoised: Float[torch.Tensor, "batch *shape"],
    midpoint: tuple[float, Float[torch.Tensor, "batch *shape"]] | None,
    eta: float,
    z: Float[torch.Tensor, "batch *shape"] | None,
) -> Float[torch.Tensor, "batch *shape"]:
    """KSAMP-14: with (σ_down, σ_up) of KSAMP-3 and midpoint = (σ_s, D_s), D_s the denoiser at
    x_s = euler_step(σ, σ_s, x, D): x' = (σ_down/σ)·x + (1 − σ_down/σ)·((1 − 1/(2r))·D +
    D_s/(2r)) + σ_up·z, r = log(σ/σ_s)/log(σ/σ_down); without a midpoint
    x' = euler_step(σ, σ_down, x, D) + σ_up·z."""
    down, up = euler_ancestral_sigmas(sigma, sigma_next, eta)
    if midpoint is None:
        x_next = euler_step(sigma, down, x, denoised)
    else:
        sigma_mid, denoised_mid = midpoint
        require_real_in("sigma_down", down, 0.0, sigma, low_open=True, high_open=True)
        require_real_in("midpoint sigma", sigma_mid, 0.0, sigma, low_open=True, high_open=True)
        require_same_shape("denoised", denoised, "x", x)
        require_same_shape("midpoint denoised", denoised_mid, "x", x)
        weight = 0.5 * math.log(sigma / down) / math.log(sigma / sigma_mid)  # 1/(2r)
        decay = down / sigma
        x_next = decay * x + (1.0 - decay) * ((1.0 - weight) * denoised + weight * denoised_mid)
    if up == 0.0:
        return x_next
    if z is None:
        raise ValueError(f"z must be given when the step adds noise (sigma_up = {up}), got None")
    require_same_shape("z", z, "x", x)
    return x_next + up * z


@typechecked
def sample_dpmpp_2s_ancestral(
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
    """KSAMP-7: DPM++ 2S ancestral with noise level ``eta`` on the σ grid ``grid`` (SIGMA-4): the
    midpoint in λ is the table level of dpmpp_2s_midpoint (one more model call when it lies below
    σ_i), then one draw per step with σ_up > 0; equals ``spec.dpmpp.dpmpp_2s_ancestral_chain``."""
    require_real_in("eta", eta, 0.0, 1.0)
    sampling = sigma_sampling(schedule, steps, grid, rho, prediction_type,
                              "sample_dpmpp_2s_ancestral")
    host_alpha_bars = schedule.alpha_bars.to("cpu", torch.float64).numpy()
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        x = ve_from_vp(sampling.alpha_bars[sampling.visited[0]], x)
        indices = range(len(sampling.visited))
        for i in _progress(indices, len(indices), "DPM++ 2S ancestral", progress):
            t, sigma, sigma_next = sampling.visited[i], sampling.sigmas[i], sampling.sigmas[i + 1]
            denoised = sampling.denoise(model, x, t, prediction_type)
            down, up = euler_ancestral_sigmas(sigma, sigma_next, eta)
            midpoint = None
            t_mid = dpmpp_2s_midpoint(host_alpha_bars, t, down) if down > 0.0 else t
            if t_mid < t:
                sigma_mid = sampling.sigma_table[t_mid]
                x_mid = euler_step(sigma, sigma_mid, x, denoised)
                midpoint = (sigma_mid, sampling.denoise(model, x_mid, t_mid, prediction_type))
            z = (torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
                 if up > 0.0 else None)
            x = dpmpp_2s_ancestral_step(sigma, sigma_next, x, denoised, midpoint, eta, z)
    return x


@typechecked
def dpmpp_sde_noises(
    sigma: float,
    sigma_mid: float,
    sigma_next: float,
    z_first: Float[torch.Tensor, "batch *shape"],
    z_second: Float[torch.Tensor, "batch *shape"],
) -> tuple[Float[torch.Tensor, "batch *shape"], Float[torch.Tensor, "batch *shape"]]:
    """KSAMP-16: n_1 = z_1, n_2 = (√(σ − σ_s)·z_1 + √(σ_s − σ')·z_2)/√(σ − σ'), for
    0 ≤ σ' < σ_s < σ."""
    require_real_in("sigma", sigma, 0.0, float("inf"), low_open=True, high_open=True)
    require_real_in("sigma_mid", sigma_mid, 0.0, sigma, low_open=True, high_open=True)
    require_real_in("sigma_next", sigma_next, 0.0, sigma_mid, high_open=True)
    require_same_shape("z_second", z_second, "z_first", z_first)
    span = math.sqrt(sigma - sigma_next)
    first, second = math.sqrt(sigma - sigma_mid) / span, math.sqrt(sigma_mid - sigma_next) / span
    return z_first, first * z_first + second * z_second


@typechecked
def dpmpp_sde_step(
    sigma: float,
    sigma_next: float,
    x: Float[torch.Tensor, "batch *shape"],
    denoised: Float[torch.Tensor, "batch *shape"],
    midpoint: tuple[float, Float[torch.Tensor, "batch *shape"]],
    eta: float,
    noise: Float[torch.Tensor, "batch *shape"] | None,
) -> Float[torch.Tensor, "batch *shape"]:
    """KSAMP-16: x' = (σ_down/σ)·x + (1 − σ_down/σ)·((1 − 1/(2r))·D + D_s/(2r)) + σ_up·n_2,
    (σ_down, σ_up) = euler_ancestral_sigmas(σ, σ', η), r = log(σ/σ_s)/log(σ/σ')."""
    down, up = euler_ancestral_sigmas(sigma, sigma_next, eta)
    sigma_mid, denoised_mid = midpoint
    require_real_in("sigma_next", sigma_next, 0.0, sigma, low_open=True, high_open=True)
    require_real_in("midpoint sigma", sigma_mid, 0.0, sigma, low_open=True, high_open=True)
    require_same_shape("denoised", denoised, "x", x)
    require_same_shape("midpoint denoised", denoised_mid, "x", x)
    weight = 0.5 * math.log(sigma / sigma_next) / math.log(sigma / sigma_mid)  # 1/(2r)
    decay = down / sigma
    x_next = decay * x + (1.0 - decay) * ((1.0 - weight) * denoised + weight * denoised_mid)
    if up == 0.0:
        return x_next
    if noise is None:
        raise ValueError(f"noise must be given when the step adds noise (sigma_up = {up}), got "
                         "None")
    require_same_shape("noise", noise, "x", x)
    return x_next + up * noise


@typechecked
def sample_dpmpp_sde(
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
    """KSAMP-7: DPM++ SDE (k-diffusion's sample_dpmpp_sde, r = ½) with noise level ``eta`` on the
    σ grid ``grid`` (SIGMA-4): the midpoint on a table level, two draws per step with a midpoint
    (one without), none on the last; equals ``spec.dpmpp.dpmpp_sde_chain``."""
    require_real_in("eta", eta, 0.0, 1.0)
    sampling = sigma_sampling(schedule, steps, grid, rho, prediction_type, "sample_dpmpp_sde")
    host_alpha_bars = schedule.alpha_bars.to("cpu", torch.float64).numpy()
    count = len(sampling.visited)

    def draw(like: torch.Tensor) -> torch.Tensor | None:
        return (torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
                if eta > 0.0 else None)

    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        x = ve_from_vp(sampling.alpha_bars[sampling.visited[0]], x)
        for i in _progress(range(count), count, "DPM++ SDE", progress):
            t, sigma, sigma_next = sampling.visited[i], sampling.sigmas[i], sampling.sigmas[i + 1]
            denoised = sampling.denoise(model, x, t, prediction_type)
            if i + 1 == count:
                x = euler_step(sigma, sigma_next, x, denoised)
                continue
            t_mid = dpmpp_2s_midpoint(host_alpha_bars, t, sigma_next)
            if not sampling.visited[i + 1] < t_mid < t:
                x = euler_ancestral_step(sigma, sigma_next, x, denoised, eta, draw(x))
                continue
            sigma_mid = sampling.sigma_table[t_mid]
            first = draw(x)
            second = draw(x)
            if first is not None and second is not None:
                first, second = dpmpp_sde_noises(sigma, sigma_mid, sigma_next, first, second)
            x_mid = euler_ancestral_step(sigma, sigma_mid, x, denoised, eta, first)
            midpoint = (sigma_mid, sampling.denoise(model, x_mid, t_mid, prediction_type))
            x = dpmpp_sde_step(sigma, sigma_next, x, denoised, midpoint, eta, second)
    return x
