"""Torch mirrors of the fast solvers' steps (specs/solvers.md): DDIM from a prediction pair,
PNDM/PLMS and DPM-Solver++(2M). Step scalars are Python floats (float64), rounded once to the
samples' dtype; the history of earlier model outputs is an explicit argument.
"""

from collections.abc import Sequence

import torch
from jaxtyping import Float

from specdiff._typecheck import typechecked
from specdiff.diffusion._validate import require_same_shape
from specdiff.diffusion.reverse import ddim_step, ddim_update
from specdiff.spec.solvers import PLMS_WEIGHTS, ddim_sigma_extended, dpm_solver_pp_coefficients


@typechecked
def ddim_step_from_prediction(
    alpha_bar_prev: float,
    alpha_bar: float,
    x0_hat: Float[torch.Tensor, "batch *shape"],
    eps_hat: Float[torch.Tensor, "batch *shape"],
    eta: float,
    z: Float[torch.Tensor, "batch *shape"] | None,
) -> Float[torch.Tensor, "batch *shape"]:
    """SOLV-1: x_prev = √ᾱ_prev·x̂0 + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z, σ = ddim_sigma_extended
    (REV-5's σ, and η·√(1 − ᾱ_prev) at ᾱ = 0); ``z`` may be None only when σ = 0."""
    ddim_sigma_extended(alpha_bar_prev, alpha_bar, eta)  # validates the step's scalars
    require_same_shape("eps_hat", eps_hat, "x0_hat", x0_hat)
    if z is not None:
        require_same_shape("z", z, "x0_hat", x0_hat)
    return ddim_update(alpha_bar_prev, alpha_bar, eta, x0_hat, eps_hat, z)


@typechecked
def plms_eps(
    eps_history: Sequence[Float[torch.Tensor, "batch *shape"]],
) -> Float[torch.Tensor, "batch *shape"]:
    """SOLV-2: ε' = Σ_j w_j·ε̂_j over the last n = min(len, 4) ε̂ (oldest first), with the
    Adams–Bashforth weights w = (1), (−1, 3)/2, (5, −16, 23)/12, (−9, 37, −59, 55)/24."""
    if not eps_history:
        raise ValueError("eps_history must hold at least one eps_hat, got none")
    recent = list(eps_history)[-4:]
    weights = PLMS_WEIGHTS[len(recent)]
    combined = weights[0] * recent[0]
    for weight, eps_hat in zip(weights[1:], recent[1:], strict=True):
        require_same_shape("eps_history", eps_hat, "eps_history[0]", recent[0])
        combined = combined + weight * eps_hat
    return combined


@typechecked
def pndm_step(
    alpha_bar_prev: float,
    alpha_bar: float,
    x_t: Float[torch.Tensor, "batch *shape"],
    eps_history: Sequence[Float[torch.Tensor, "batch *shape"]],
) -> Float[torch.Tensor, "batch *shape"]:
    """SOLV-3: x_prev = ddim_step(ᾱ_prev, ᾱ, x_t, plms_eps(eps_history), η = 0, clip = False)."""
    return ddim_step(alpha_bar_prev, alpha_bar, x_t, plms_eps(eps_history), 0.0, None, False)


@typechecked
def dpm_solver_pp_step(
    alpha_bar_prev: float,
    alpha_bar: float,
    x_t: Float[torch.Tensor, "batch *shape"],
    x0_hat: Float[torch.Tensor, "batch *shape"],
    previous: tuple[float, Float[torch.Tensor, "batch *shape"]] | None,
) -> Float[torch.Tensor, "batch *shape"]:
    """SOLV-4: x_prev = (σ_prev/σ)·x_t + α_prev·(1 − e^{−h})·(D0 + D1/2), α = √ᾱ, σ = √(1 − ᾱ),
    h = λ_prev − λ, λ = log(α/σ), D0 = x̂0, and D1 = (x̂0 − x̂0_last)·h/h_last for 2M (previous =
    (ᾱ_last, x̂0_last), h_last = λ − λ_last) or D1 = 0 for first order (None)."""
    coefficients = dpm_solver_pp_coefficients(alpha_bar_prev, alpha_bar,
                                              None if previous is None else previous[0])
    require_same_shape("x0_hat", x0_hat, "x_t", x_t)
    data_term = x0_hat
    if previous is not None:
        require_same_shape("previous x0_hat", previous[1], "x_t", x_t)
        data_term = x0_hat + (0.5 * coefficients.weight) * (x0_hat - previous[1])
    return coefficients.decay_ratio * x_t + coefficients.growth * data_term
