"""Multistep samplers: PNDM/PLMS and DPM-Solver++(2M) (specs/solvers.md, SOLV-6).

Both are deterministic given x_T: the generator draws x_T only (when not given). Each reuses the
model outputs of earlier steps, kept here in a local history and passed to the step explicitly.
"""

import torch
from jaxtyping import Float

from specdiff._typecheck import typechecked
from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.diffusion.parameterization import split_prediction
from specdiff.diffusion.samplers import (
    EpsModel,
    _initial_noise,
    _progress,
    _timestep_batch,
    require_steps,
    require_zero_snr_support,
)
from specdiff.diffusion.solvers import dpm_solver_pp_step, pndm_step
from specdiff.spec.parameterization import PredictionType
from specdiff.spec.solvers import dpm_solver_pp_orders
from specdiff.spec.timesteps import Spacing, ddim_timesteps, karras_timesteps


def _visited_and_landings(schedule: NoiseSchedule, visited: list[int]
                          ) -> tuple[list[float], list[float]]:
    """ᾱ at each visited timestep and at the one each step lands on (1 after the last)."""
    alpha_bars = schedule.alpha_bars.to("cpu", torch.float64).tolist()
    at = [alpha_bars[t] for t in visited]
    return at, [*at[1:], 1.0]


@typechecked
def sample_pndm(
    model: EpsModel,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    *,
    steps: int = 50,
    spacing: Spacing = "leading",
    generator: torch.Generator,
    prediction_type: PredictionType = "epsilon",
    x_T: Float[torch.Tensor, "..."] | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> Float[torch.Tensor, "..."]:
    """SOLV-6: PLMS (Liu et al. 2022) over τ = ddim_timesteps(T, steps, spacing), with the
    pseudo-improved-Euler (Heun) warm-up diffusers uses instead of the paper's Runge–Kutta steps:
    one extra model call (n + 1 in all) instead of nine, and the same samples as the deployed
    ``PNDMScheduler(skip_prk_steps=True)``. Equals ``spec.chains.pndm_chain``."""
    T = schedule.num_timesteps
    require_zero_snr_support(schedule, "sample_pndm", None, prediction_type)
    require_steps(steps, T)
    visited = [int(t) for t in ddim_timesteps(T, steps, spacing)]
    at, landings = _visited_and_landings(schedule, visited)

    def eps_at(x: torch.Tensor, i: int) -> torch.Tensor:
        output = model(x, _timestep_batch(visited[i], x))
        return split_prediction(at[i], x, output, prediction_type)[1]

    history: list[torch.Tensor] = []
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        for i in _progress(range(len(visited)), len(visited), "PNDM", progress):
            history = [*history[-3:], eps_at(x, i)]
            if i == 0 and len(visited) > 1:
                # Heun warm-up: an Euler step predicts x at τ_1; its ε̂ averages with ε̂_0.
                euler = pndm_step(landings[0], at[0], x, history)
                averaged = 0.5 * (history[0] + eps_at(euler, 1))
                x = pndm_step(landings[0], at[0], x, [averaged])
            else:
                x = pndm_step(landings[i], at[i], x, history)
    return x


@typechecked
def sample_dpm_solver_pp(
    model: EpsModel,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    *,
    steps: int = 20,
    spacing: Spacing = "trailing",
    use_karras_sigmas: bool = False,
    generator: torch.Generator,
    prediction_type: PredictionType = "epsilon",
    x_T: Float[torch.Tensor, "..."] | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> Float[torch.Tensor, "..."]:
    """SOLV-6: DPM-Solver++(2M) (Lu et al. 2022) in data-prediction form over τ =
    ddim_timesteps(T, steps, spacing) or, with ``use_karras_sigmas``, karras_timesteps (TS-5);
    step orders by dpm_solver_pp_orders (SOLV-5). Equals ``spec.chains.dpm_solver_pp_chain``.

    The default spacing is trailing: it ends at t = round(T/n) − 1 like diffusers' DPM "linspace"
    (which drops t = 0); a grid ending at t = 0 makes the last 2M step span a log-SNR interval
    far longer than the one before, and the extrapolation D1·h/h_last overshoots."""
    T = schedule.num_timesteps
    require_steps(steps, T)
    if use_karras_sigmas:
        if schedule.has_zero_terminal_snr:
            raise ValueError("use_karras_sigmas must be False for a zero-terminal-SNR schedule "
                             "(σ_max = √((1 − ᾱ)/ᾱ) is infinite at ᾱ = 0)")
        visited = [int(t) for t in karras_timesteps(schedule.alpha_bars.numpy(), steps)]
    else:
        require_zero_snr_support(schedule, "sample_dpm_solver_pp", spacing, prediction_type)
        visited = [int(t) for t in ddim_timesteps(T, steps, spacing)]
    at, landings = _visited_and_landings(schedule, visited)
    orders = dpm_solver_pp_orders(at)
    previous: tuple[float, torch.Tensor] | None = None
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        for i in _progress(range(len(visited)), len(visited), "DPM-Solver++", progress):
            output = model(x, _timestep_batch(visited[i], x))
            x0_hat, _ = split_prediction(at[i], x, output, prediction_type)
            x_next = dpm_solver_pp_step(landings[i], at[i], x, x0_hat,
                                        previous if orders[i] == 2 else None)
            previous, x = (at[i], x0_hat), x_next
    return x
