"""Torch mirror of DPM-Solver++ in the σ view (specs/sigma.md, KSAMP-6): the DPM++ 2M step on
tensors and its sampler on any σ grid, one loop that is ``spec.dpmpp.dpmpp_2m_chain``.
Deterministic given x_T; the previous step's (σ, D) is kept in the loop and passed explicitly.
"""

import math

import torch
from jaxtyping import Float

from specdiff._typecheck import typechecked
from specdiff.diffusion._validate import require_same_shape
from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.diffusion.samplers import EpsModel, _initial_noise, _progress
from specdiff.diffusion.sigma import sigma_sampling, ve_from_vp
from specdiff.spec._validate import require_real_in
from specdiff.spec.dpmpp import dpmpp_2m_orders
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
    orders = dpmpp_2m_orders(len(sampling.visited))
    previous: tuple[float, torch.Tensor] | None = None
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        x = ve_from_vp(sampling.alpha_bars[sampling.visited[0]], x)
        indices = range(len(sampling.visited))
        for i in _progress(indices, len(indices), "DPM++ 2M", progress):
            sigma = sampling.sigmas[i]
            denoised = sampling.denoise(model, x, sampling.visited[i], prediction_type)
            x_next = dpmpp_2m_step(sigma, sampling.sigmas[i + 1], x, denoised,
                                   previous if orders[i] == 2 else None)
            previous, x = (sigma, denoised), x_next
    return x
