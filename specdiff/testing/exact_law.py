"""The exact output law of a sampler driven by the Gaussian oracle (specs/solvers.md, SOLV-7).

For data x0 ~ N(μ, σ²) per element, E[x0 | x_t] and E[ε | x_t] are affine in x_t, so every step
of every sampler here is linear in (x_T, z_1, z_2, …) plus a constant: x_0 = b + a·x_T + Σ s_k·z_k,
exactly Gaussian with mean b and variance a² + Σ s_k². :func:`exact_moments` finds (b, a, s) by
running a spec chain (specdiff.spec.chains) on *affine forms*: arrays whose batch axis holds the
coefficients of (1, x_T, z_1, …). The spec steps are linear in their array arguments, so they map
forms to forms; nothing of the torch sampler is used.
"""

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from jaxtyping import Float, Int

from specdiff._typecheck import typechecked
from specdiff.diffusion._validate import require_tensor_timesteps
from specdiff.diffusion.noise_schedule import ModuleWithSchedule, NoiseSchedule
from specdiff.spec import chains
from specdiff.spec.chains import NumpyModel
from specdiff.spec.parameterization import PredictionType, require_prediction_type
from specdiff.spec.reverse import Variance

# A spec chain with everything but (model, x_T, noises) bound, e.g. a partial of ddim_chain.
Chain = Callable[[NumpyModel, np.ndarray, Iterable[np.ndarray]], np.ndarray]


def ddpm_reference(alpha_bars: np.ndarray, *, variance: Variance,
                   prediction_type: PredictionType) -> Chain:
    """``ddpm_chain`` without clipping, as a :data:`Chain`."""
    return lambda model, x_T, noises: chains.ddpm_chain(
        alpha_bars, model, x_T, noises, clip=False, variance=variance,
        prediction_type=prediction_type)


def ddim_reference(alpha_bars: np.ndarray, visited: Sequence[int], *, eta: float,
                   prediction_type: PredictionType) -> Chain:
    """``ddim_chain`` without clipping, as a :data:`Chain`."""
    return lambda model, x_T, noises: chains.ddim_chain(
        alpha_bars, visited, model, x_T, noises, eta=eta, clip=False,
        prediction_type=prediction_type)


def pndm_reference(alpha_bars: np.ndarray, visited: Sequence[int], *,
                   prediction_type: PredictionType) -> Chain:
    """``pndm_chain`` as a :data:`Chain` (it draws nothing)."""
    return lambda model, x_T, _: chains.pndm_chain(alpha_bars, visited, model, x_T,
                                                   prediction_type=prediction_type)


def dpm_solver_pp_reference(alpha_bars: np.ndarray, visited: Sequence[int], *,
                            prediction_type: PredictionType) -> Chain:
    """``dpm_solver_pp_chain`` as a :data:`Chain` (it draws nothing)."""
    return lambda model, x_T, _: chains.dpm_solver_pp_chain(
        alpha_bars, visited, model, x_T, prediction_type=prediction_type)


def model_calls(chain: Chain, size: int = 1) -> list[int]:
    """The timesteps at which ``chain`` calls the model, in order: the chain run on x_T = 0 with
    a model that returns 0 and zero draws (which timestep a σ sampler visits next depends on the
    grid alone)."""
    calls: list[int] = []

    def zero_model(x: np.ndarray, t: int) -> np.ndarray:
        calls.append(int(t))
        return np.zeros_like(x)

    zeros: Iterator[np.ndarray] = itertools.repeat(np.zeros((1, size)))
    chain(zero_model, np.zeros((1, size)), zeros)
    return calls


def gaussian_posterior(alpha_bar: float, mean: np.ndarray, std: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(g, x0_slope, eps_slope) with E[x0 | x_t] = μ + x0_slope·g, E[ε | x_t] = eps_slope·g,
    g = x_t − √ᾱ·μ: s² = ᾱσ² + 1 − ᾱ, x0_slope = √ᾱ·σ²/s², eps_slope = √(1 − ᾱ)/s²."""
    marginal = alpha_bar * std**2 + 1.0 - alpha_bar
    return (np.sqrt(alpha_bar) * mean, np.sqrt(alpha_bar) * std**2 / marginal,
            np.sqrt(1.0 - alpha_bar) / marginal)


def exact_flow_endpoint(alpha_bar_start: float, alpha_bar_end: float, x: np.ndarray,
                        mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The Gaussian oracle's probability-flow ODE from (x, ᾱ_start) to ᾱ_end, then the exact
    x̂0 there (the last step of a sampler that lands on σ = 0): the flow keeps the quantile,
    x(ᾱ) = √ᾱ·μ + s(ᾱ)/s(ᾱ_start)·(x − √ᾱ_start·μ), s² = ᾱσ² + 1 − ᾱ (SOLV-8), and x̂0 is
    μ + √ᾱ·σ²/s²·(x(ᾱ) − √ᾱ·μ) (:func:`gaussian_posterior`); together
    μ + √ᾱ_end·σ²/(s(ᾱ_end)·s(ᾱ_start))·(x − √ᾱ_start·μ)."""
    def marginal_std(alpha_bar: float) -> np.ndarray:
        return np.asarray(np.sqrt(alpha_bar * std**2 + 1.0 - alpha_bar))

    gain = np.sqrt(alpha_bar_end) * std**2 / (marginal_std(alpha_bar_end)
                                               * marginal_std(alpha_bar_start))
    return np.asarray(mean + gain * (x - np.sqrt(alpha_bar_start) * mean))


def _output(prediction_type: PredictionType, alpha_bar: float, x0: np.ndarray,
            eps: np.ndarray) -> np.ndarray:
    if prediction_type == "epsilon":
        return eps
    if prediction_type == "sample":
        return x0
    velocity: np.ndarray = np.sqrt(alpha_bar) * eps - np.sqrt(1.0 - alpha_bar) * x0
    return velocity


class GaussianPredictor(ModuleWithSchedule):
    """The exact ε̂, x̂0 or v̂ (by ``prediction_type``) for x0 ~ N(μ, σ²) per element of a
    (batch, size) input, from the closed forms of :func:`gaussian_posterior`; also defined at
    ᾱ = 0 (zero terminal SNR), where x̂0 = μ, ε̂ = x_t and v̂ = −μ."""

    def __init__(self, schedule: NoiseSchedule, mean: np.ndarray, std: np.ndarray,
                 prediction_type: PredictionType) -> None:
        super().__init__(schedule)
        require_prediction_type(prediction_type)
        self.mean, self.std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
        self.prediction_type: PredictionType = prediction_type

    @typechecked
    def forward(self, x_t: Float[torch.Tensor, "batch size"], t: Int[torch.Tensor, "batch"]
                ) -> Float[torch.Tensor, "batch size"]:
        require_tensor_timesteps("t", t, self.schedule.num_timesteps, x_t.shape[0])
        steps = t.detach().cpu().tolist()
        if len(set(steps)) != 1:
            raise ValueError(f"t must hold one timestep for the whole batch, got {set(steps)}")
        alpha_bar = float(self.schedule.alpha_bars[steps[0]])
        shift, x0_slope, eps_slope = gaussian_posterior(alpha_bar, self.mean, self.std)
        x = x_t.detach().to("cpu", torch.float64).numpy()
        offset = x - shift
        output = _output(self.prediction_type, alpha_bar, self.mean + x0_slope * offset,
                         eps_slope * offset)
        return torch.from_numpy(np.ascontiguousarray(output)).to(x_t.device, x_t.dtype)


def exact_moments(chain: Chain, alpha_bars: np.ndarray, mean: np.ndarray, std: np.ndarray,
                  prediction_type: PredictionType, max_draws: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """SOLV-7: mean and variance of ``chain``'s x_0 with x_T ~ N(0, 1) and the Gaussian oracle of
    N(mean, std²) (one entry per element), for a chain making at most ``max_draws`` draws."""
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    rows, size = max_draws + 2, mean.shape[0]
    constant = np.zeros((rows, size))
    constant[0] = 1.0

    def basis(row: int) -> np.ndarray:
        form = np.zeros((rows, size))
        form[row] = 1.0
        return form

    def oracle(x: np.ndarray, t: int) -> np.ndarray:
        shift, x0_slope, eps_slope = gaussian_posterior(float(alpha_bars[t]), mean, std)
        offset = x - shift * constant  # a form: the constant lives in row 0
        return _output(prediction_type, float(alpha_bars[t]), mean * constant + x0_slope * offset,
                       eps_slope * offset)

    def draws() -> Iterator[np.ndarray]:
        for row in range(2, rows):
            yield basis(row)
        raise ValueError(f"max_draws must cover the chain's draws, got {max_draws}")

    form = chain(oracle, basis(1), draws())
    return form[0], np.sum(form[1:] ** 2, axis=0)
