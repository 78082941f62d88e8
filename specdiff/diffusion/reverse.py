"""Torch mirrors of the reverse (denoising) steps: DDIM and the DDPM posterior (specs/reverse.md).

Scalars of a step (ᾱ, σ, the posterior coefficients) are computed in float64 and rounded once to
the samples' dtype.
"""

import math

import torch
from jaxtyping import Float, Int

from specdiff._typecheck import typechecked
from specdiff.diffusion._batch import per_batch
from specdiff.diffusion._posterior import PosteriorCoefficients, posterior_coefficients
from specdiff.diffusion._validate import (
    require_same_shape,
    require_tensor_alpha_bar_table,
    require_tensor_timesteps,
)
from specdiff.diffusion.forward import predict_x0
from specdiff.spec._validate import require_choice, require_real_in
from specdiff.spec.reverse import VARIANCES, Variance, ddim_noise_split, ddim_sigma


def _check_ddim_pair(alpha_bar_prev: float, alpha_bar: float) -> None:
    require_real_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=True, high_open=True)
    require_real_in("alpha_bar_prev", alpha_bar_prev, alpha_bar, 1.0)


@typechecked
def ddim_prev(
    alpha_bar_prev: float,
    alpha_bar: float,
    x_t: Float[torch.Tensor, "batch *shape"],
    eps_hat: Float[torch.Tensor, "batch *shape"],
) -> Float[torch.Tensor, "batch *shape"]:
    """REV-1: x_prev = √ᾱ_prev·clip(x̂0, −1, 1) + √(1 − ᾱ_prev)·ε̂, x̂0 = (x_t − √(1−ᾱ)·ε̂)/√ᾱ."""
    _check_ddim_pair(alpha_bar_prev, alpha_bar)
    require_same_shape("eps_hat", eps_hat, "x_t", x_t)
    x0_hat = ((x_t - math.sqrt(1.0 - alpha_bar) * eps_hat) / math.sqrt(alpha_bar)).clamp(-1, 1)
    return math.sqrt(alpha_bar_prev) * x0_hat + math.sqrt(1.0 - alpha_bar_prev) * eps_hat


@typechecked
def ddim_step(
    alpha_bar_prev: float,
    alpha_bar: float,
    x_t: Float[torch.Tensor, "batch *shape"],
    eps_hat: Float[torch.Tensor, "batch *shape"],
    eta: float,
    z: Float[torch.Tensor, "batch *shape"] | None,
    clip: bool,
) -> Float[torch.Tensor, "batch *shape"]:
    """REV-5: x_prev = √ᾱ_prev·x̂0 + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z, x̂0 clipped to [−1, 1] if clip.

    σ = ddim_sigma(ᾱ_prev, ᾱ, η); ``z`` (standard normal noise) may be None only when σ = 0.
    """
    ddim_sigma(alpha_bar_prev, alpha_bar, eta)  # validates the step's scalars
    x0_hat = predict_x0(alpha_bar, x_t, eps_hat)
    if clip:
        x0_hat = x0_hat.clamp(-1.0, 1.0)
    if z is not None:
        require_same_shape("z", z, "x_t", x_t)
    return ddim_update(alpha_bar_prev, alpha_bar, eta, x0_hat, eps_hat, z)


def ddim_update(alpha_bar_prev: float, alpha_bar: float, eta: float, x0_hat: torch.Tensor,
                eps_hat: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
    """REV-5's update once x̂0 is known: √ᾱ_prev·x̂0 + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z (also SOLV-1's),
    with (σ, √(1 − ᾱ_prev − σ²)) = ddim_noise_split(ᾱ_prev, ᾱ, η)."""
    sigma, direction = ddim_noise_split(alpha_bar_prev, alpha_bar, eta)
    x_prev = math.sqrt(alpha_bar_prev) * x0_hat + direction * eps_hat
    if sigma > 0.0:
        if z is None:
            raise ValueError(f"z must be given when sigma > 0 (eta = {eta}), got None")
        x_prev = x_prev + sigma * z
    return x_prev


def _posterior_terms(
    alpha_bars: torch.Tensor, t: int | torch.Tensor, batch: int
) -> PosteriorCoefficients:
    require_tensor_alpha_bar_table(alpha_bars)
    require_tensor_timesteps("t", t, alpha_bars.shape[0], batch)
    return posterior_coefficients(alpha_bars, t)


@typechecked
def ddpm_posterior(
    alpha_bars: Float[torch.Tensor, "T"],
    t: int | Int[torch.Tensor, "batch"],
    x0: Float[torch.Tensor, "batch *shape"],
    x_t: Float[torch.Tensor, "batch *shape"],
) -> tuple[
    Float[torch.Tensor, "batch *shape"],
    Float[torch.Tensor, "*tshape"],
    Float[torch.Tensor, "*tshape"],
]:
    """REV-7: q(x_{t−1} | x_t, x0) = N(μ̃, β̃_t) with
    μ̃ = √ᾱ_{t−1}·β_t/(1 − ᾱ_t)·x0 + √(1 − β_t)·(1 − ᾱ_{t−1})/(1 − ᾱ_t)·x_t,
    β̃_t = β_t·(1 − ᾱ_{t−1})/(1 − ᾱ_t), ᾱ_{−1} = 1; log-variance clipped: log β̃_1 at t = 0.

    Returns (mean, variance, log_variance_clipped); the last two have the shape of ``t`` and are
    float64 (they are per-timestep constants, not per-pixel values).
    """
    terms = _posterior_terms(alpha_bars, t, x0.shape[0])
    require_same_shape("x_t", x_t, "x0", x0)
    mean = per_batch(terms.x0_coef, x0) * x0 + per_batch(terms.xt_coef, x0) * x_t
    return mean, terms.variance, terms.log_variance_clipped


@typechecked
def ddpm_prev(
    alpha_bars: Float[torch.Tensor, "T"],
    t: int | Int[torch.Tensor, "batch"],
    x_t: Float[torch.Tensor, "batch *shape"],
    eps_hat: Float[torch.Tensor, "batch *shape"],
    z: Float[torch.Tensor, "batch *shape"],
    clip: bool,
    variance: Variance = "fixed_small",
) -> Float[torch.Tensor, "batch *shape"]:
    """REV-9: x_{t−1} = μ̃(x̂0, x_t) + 1[t > 0]·σ_t·z, x̂0 = predict_x0(ᾱ_t, x_t, ε̂) (clipped to
    [−1, 1] if clip), σ_t² = β̃_t ("fixed_small") or β_t ("fixed_large")."""
    require_choice("variance", variance, VARIANCES)
    terms = _posterior_terms(alpha_bars, t, x_t.shape[0])
    require_same_shape("z", z, "x_t", x_t)
    x0_hat = predict_x0(terms.alpha_bar, x_t, eps_hat)
    if clip:
        x0_hat = x0_hat.clamp(-1.0, 1.0)
    mean, small_variance, _ = ddpm_posterior(alpha_bars, t, x0_hat, x_t)
    step_variance = small_variance if variance == "fixed_small" else terms.beta
    steps = torch.as_tensor(t, device=step_variance.device)
    sigma = torch.where(steps > 0, step_variance.sqrt(), 0.0)
    return mean + per_batch(sigma, x_t) * z


# The name the samplers use, parallel to ddim_step; the law is REV-9 either way.
ddpm_step = ddpm_prev
