"""Torch mirror of UniPC-bh2 of order 2 in the σ view (specs/sigma.md, KSAMP-15): the corrector
step on tensors and the sampler, one loop that is ``spec.unipc.unipc_chain``; its predictor is
the DPM++ 2M step. Deterministic given x_T; n model calls.
"""

import math

import torch
from jaxtyping import Float

from specdiff._typecheck import typechecked
from specdiff.diffusion._validate import require_same_shape
from specdiff.diffusion.dpmpp import dpmpp_2m_step
from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.diffusion.samplers import EpsModel, _initial_noise, _progress
from specdiff.diffusion.sigma import sigma_sampling, ve_from_vp
from specdiff.spec._validate import require_real_in
from specdiff.spec.dpmpp import dpmpp_2m_orders
from specdiff.spec.parameterization import PredictionType
from specdiff.spec.sigma import SigmaGridName
from specdiff.spec.unipc import unic_weights


@typechecked
def unipc_corrector_step(
    sigma_last: float,
    sigma: float,
    x_last: Float[torch.Tensor, "batch *shape"],
    denoised_last: Float[torch.Tensor, "batch *shape"],
    denoised: Float[torch.Tensor, "batch *shape"],
    older: tuple[float, Float[torch.Tensor, "batch *shape"]] | None,
) -> Float[torch.Tensor, "batch *shape"]:
    """KSAMP-15: x^c = (σ/σ_last)·x_last + (1 − e^{−h})·(D_last + ρ_o·(D_older − D_last)/r +
    ρ_n·(D − D_last)), h = log(σ_last/σ), r = −log(σ_older/σ_last)/h, (ρ_o, ρ_n) = unic_weights."""
    require_real_in("sigma_last", sigma_last, 0.0, float("inf"), low_open=True, high_open=True)
    require_real_in("sigma", sigma, 0.0, sigma_last, low_open=True, high_open=True)
    require_same_shape("denoised_last", denoised_last, "x_last", x_last)
    require_same_shape("denoised", denoised, "x_last", x_last)
    h = math.log(sigma_last / sigma)
    data_term = denoised_last
    if older is None:
        weight_older, weight_new = unic_weights(h, None)
    else:
        sigma_older, denoised_older = older
        require_real_in("older sigma", sigma_older, sigma_last, float("inf"), low_open=True,
                        high_open=True)
        require_same_shape("older denoised", denoised_older, "x_last", x_last)
        ratio = -math.log(sigma_older / sigma_last) / h
        weight_older, weight_new = unic_weights(h, ratio)
        data_term = data_term + (weight_older / ratio) * (denoised_older - denoised_last)
    data_term = data_term + weight_new * (denoised - denoised_last)
    decay = sigma / sigma_last
    return decay * x_last + (1.0 - decay) * data_term


@typechecked
def sample_unipc(
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
    """KSAMP-7: UniPC-bh2 of order 2 (diffusers' UniPCMultistepScheduler with predict_x0,
    solver_type="bh2", lower_order_final) on the σ grid ``grid`` (SIGMA-4); equals
    ``spec.unipc.unipc_chain``."""
    sampling = sigma_sampling(schedule, steps, grid, rho, prediction_type, "sample_unipc")
    orders = dpmpp_2m_orders(len(sampling.visited))
    history: list[tuple[float, torch.Tensor]] = []
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        x = ve_from_vp(sampling.alpha_bars[sampling.visited[0]], x)
        start = x
        indices = range(len(sampling.visited))
        for i in _progress(indices, len(indices), "UniPC", progress):
            sigma = sampling.sigmas[i]
            denoised = sampling.denoise(model, x, sampling.visited[i], prediction_type)
            if i > 0:
                x = unipc_corrector_step(history[-1][0], sigma, start, history[-1][1], denoised,
                                         history[-2] if i >= 2 else None)
            history = [*history, (sigma, denoised)][-2:]
            start = x
            x = dpmpp_2m_step(sigma, sampling.sigmas[i + 1], x, denoised,
                              history[-2] if orders[i] == 2 else None)
    return x
