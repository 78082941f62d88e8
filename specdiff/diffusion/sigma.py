"""Torch mirror of the σ (VE) view of a VP schedule (specs/sigma.md): the change of variables
and the denoiser a σ sampler steps with. ᾱ is a Python float (float64), rounded once to the
samples' dtype; the σ grids themselves are the spec's (specdiff.spec.sigma), computed on the host.
"""

import math
from typing import NamedTuple

import torch
from jaxtyping import Float

from specdiff._typecheck import typechecked
from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.diffusion.parameterization import split_prediction
from specdiff.diffusion.samplers import EpsModel, _timestep_batch, require_steps
from specdiff.spec._validate import require_real_in
from specdiff.spec.parameterization import PredictionType, require_prediction_type
from specdiff.spec.sigma import (
    SigmaGridName,
    sigma_from_alpha_bar,
    sigma_grid_timesteps,
    sigmas_at,
)


@typechecked
def ve_from_vp(alpha_bar: float, x_vp: Float[torch.Tensor, "batch *shape"]
               ) -> Float[torch.Tensor, "batch *shape"]:
    """SIGMA-1: x_ve = x_vp/√ᾱ, for ᾱ ∈ (0, 1]."""
    require_real_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=True)
    return x_vp * (1.0 / math.sqrt(alpha_bar))


@typechecked
def vp_from_ve(alpha_bar: float, x_ve: Float[torch.Tensor, "batch *shape"]
               ) -> Float[torch.Tensor, "batch *shape"]:
    """SIGMA-1: x_vp = √ᾱ·x_ve, the inverse of ve_from_vp, for ᾱ ∈ (0, 1]."""
    require_real_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=True)
    return x_ve * math.sqrt(alpha_bar)


@typechecked
def denoised(
    alpha_bar: float,
    x_ve: Float[torch.Tensor, "batch *shape"],
    model_output: Float[torch.Tensor, "batch *shape"],
    prediction_type: PredictionType,
) -> Float[torch.Tensor, "batch *shape"]:
    """SIGMA-2: D(x_ve; σ) = x̂0 of PARAM-2 for the model's output at x_vp = √ᾱ·x_ve: ε-model
    x_ve − σ·ε̂; x0-model x̂0; v-model x_ve/(1 + σ²) − σ/√(1 + σ²)·v̂ (σ = √((1 − ᾱ)/ᾱ))."""
    x0_hat, _ = split_prediction(alpha_bar, vp_from_ve(alpha_bar, x_ve), model_output,
                                 prediction_type)
    return x0_hat


class SigmaSampling(NamedTuple):
    """What a σ sampler steps on: the visited timesteps (decreasing), ᾱ at every timestep of the
    schedule, σ at every timestep, and σ of each visited timestep then 0 (SIGMA-4), all host
    floats (float64)."""

    visited: list[int]
    alpha_bars: list[float]
    sigma_table: list[float]
    sigmas: list[float]

    def denoise(self, model: EpsModel, x_ve: torch.Tensor, t: int,
                prediction_type: PredictionType) -> torch.Tensor:
        """SIGMA-2 at a table timestep: D(x_ve; σ_t) from ``model`` called on (√ᾱ_t·x_ve, t)."""
        alpha_bar = self.alpha_bars[t]
        x_vp = vp_from_ve(alpha_bar, x_ve)
        return denoised(alpha_bar, x_ve, model(x_vp, _timestep_batch(t, x_vp)),
                        prediction_type)


def sigma_sampling(schedule: NoiseSchedule, steps: int, grid: SigmaGridName,
                   rho: float | None, prediction_type: PredictionType,
                   sampler: str) -> SigmaSampling:
    """The visited timesteps of sigma_grid_timesteps (SIGMA-4) and their σ; a schedule with zero
    terminal SNR has σ_max = ∞ and is refused."""
    require_prediction_type(prediction_type)
    if schedule.has_zero_terminal_snr:
        raise ValueError(f"schedule must have alpha_bars in (0, 1) for {sampler} (it has zero "
                         "terminal SNR: sigma_max = sqrt((1 - alpha_bar)/alpha_bar) is infinite "
                         "at alpha_bar = 0); use sample_ddim or sample_dpm_solver_pp")
    require_steps(steps, schedule.num_timesteps)
    host = schedule.alpha_bars.to("cpu", torch.float64).numpy()
    visited = sigma_grid_timesteps(host, steps, grid, rho)
    return SigmaSampling([int(t) for t in visited], host.tolist(),
                         sigma_from_alpha_bar(host).tolist(), sigmas_at(host, visited).tolist())
