"""Whole samplers as chains of spec steps, with every draw an argument (specs/solvers.md, SOLV-6).

A chain is the float64 law a torch sampler must reproduce: same visited timesteps, same order of
draws, same steps. ``model(x, t)`` is any numpy function of the batch and an integer timestep;
``noises`` yields the standard normal draws in the order the sampler makes them (only as many as
it needs). Being linear in (x_T, noises) for a Gaussian oracle, the chains also give a sampler's
exact output law (specdiff.testing.exact_law).
"""

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from specdiff.spec.parameterization import PredictionType, split_prediction
from specdiff.spec.reverse import Variance, ddpm_prev
from specdiff.spec.solvers import (
    ddim_sigma_extended,
    ddim_step_from_prediction,
    dpm_solver_pp_orders,
    dpm_solver_pp_step,
    pndm_step,
)

NumpyModel = Callable[[np.ndarray, int], np.ndarray]


def _landings(alpha_bars: np.ndarray, visited: Sequence[int]) -> list[float]:
    """ᾱ of the timestep each step lands on: the next visited one, or 1 after the last."""
    return [float(alpha_bars[t]) for t in visited[1:]] + [1.0]


def ddpm_chain(alpha_bars: np.ndarray, model: NumpyModel, x_T: np.ndarray,
               noises: Iterable[np.ndarray], *, clip: bool, variance: Variance,
               prediction_type: PredictionType) -> np.ndarray:
    """SAMP-3 with prediction types: ddpm_prev at t = T−1, …, 0 on ε̂ of the model's output;
    one draw per t > 0."""
    draws, x = iter(noises), x_T
    for t in range(alpha_bars.shape[0] - 1, -1, -1):
        _, eps_hat = split_prediction(float(alpha_bars[t]), x, model(x, t), prediction_type)
        z = next(draws) if t > 0 else np.zeros_like(x)
        x = ddpm_prev(alpha_bars, t, x, eps_hat, z, clip, variance)
    return x


def ddim_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
               x_T: np.ndarray, noises: Iterable[np.ndarray], *, eta: float, clip: bool,
               prediction_type: PredictionType) -> np.ndarray:
    """SAMP-3 with prediction types: ddim_step_from_prediction (SOLV-1) on (clipped x̂0, ε̂) of the
    model's output at each visited t; one draw per step with σ > 0."""
    draws, x = iter(noises), x_T
    for t, landing in zip(visited, _landings(alpha_bars, visited), strict=True):
        x0_hat, eps_hat = split_prediction(float(alpha_bars[t]), x, model(x, t), prediction_type)
        if clip:
            x0_hat = np.clip(x0_hat, -1.0, 1.0)
        noisy = ddim_sigma_extended(landing, float(alpha_bars[t]), eta) > 0.0
        x = ddim_step_from_prediction(landing, float(alpha_bars[t]), x0_hat, eps_hat, eta,
                                      next(draws) if noisy else None)
    return x


def pndm_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
               x_T: np.ndarray, *, prediction_type: PredictionType) -> np.ndarray:
    """SOLV-6: PLMS with the pseudo-improved-Euler warm-up: step 0 is Heun — ε̂_0 at x_T, an Euler
    step to x', ε̂' at (x', τ_1), then pndm_step with (ε̂_0 + ε̂')/2; step i ≥ 1 is pndm_step with
    the ε̂ at the visited points τ_0 … τ_i (last 4). n + 1 model calls for n ≥ 2 steps."""
    landings = _landings(alpha_bars, visited)

    def eps_at(x: np.ndarray, t: int) -> np.ndarray:
        return split_prediction(float(alpha_bars[t]), x, model(x, t), prediction_type)[1]

    history: list[np.ndarray] = []
    x = x_T
    for i, (t, landing) in enumerate(zip(visited, landings, strict=True)):
        history.append(eps_at(x, t))
        if i == 0 and len(visited) > 1:
            euler = pndm_step(landing, float(alpha_bars[t]), x, history)
            averaged = 0.5 * (history[0] + eps_at(euler, visited[1]))
            x = pndm_step(landing, float(alpha_bars[t]), x, [averaged])
        else:
            x = pndm_step(landing, float(alpha_bars[t]), x, history)
    return x


def dpm_solver_pp_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
                        x_T: np.ndarray, *, prediction_type: PredictionType) -> np.ndarray:
    """SOLV-6: DPM-Solver++(2M): dpm_solver_pp_step (SOLV-4) at each visited t on x̂0 of the
    model's output, with the previous (ᾱ, x̂0) as history where dpm_solver_pp_orders (SOLV-5)
    says 2."""
    bars = [float(alpha_bars[t]) for t in visited]
    orders = dpm_solver_pp_orders(bars)
    previous: tuple[float, np.ndarray] | None = None
    x = x_T
    for i, (t, landing) in enumerate(zip(visited, _landings(alpha_bars, visited), strict=True)):
        x0_hat, _ = split_prediction(bars[i], x, model(x, t), prediction_type)
        x_next = dpm_solver_pp_step(landing, bars[i], x, x0_hat,
                                    previous if orders[i] == 2 else None)
        previous, x = (bars[i], x0_hat), x_next
    return x
