"""Torch mirrors of the forward-process laws (specs/forward.md)."""

import torch
from jaxtyping import Float, Int

from specdiff._typecheck import typechecked
from specdiff.diffusion._batch import as_float64, per_batch
from specdiff.diffusion._validate import (
    require_per_batch,
    require_same_shape,
    require_tensor_finite,
    require_tensor_timesteps,
    require_tensor_values_in,
)
from specdiff.diffusion.noise_schedule import NoiseSchedule


@typechecked
def append_time_channel(
    x: Float[torch.Tensor, "batch channel height width"],
    t_norm: float | Float[torch.Tensor, "batch"],
) -> Float[torch.Tensor, "batch channel+1 height width"]:
    """FWD-5: out[:, :C] = x and out[n, C] = t_norm[n] everywhere; convention t_norm = t / T."""
    batch, _, height, width = x.shape
    time = torch.as_tensor(t_norm, dtype=x.dtype, device=x.device)
    time_plane = time.reshape(-1, 1, 1, 1).expand(batch, 1, height, width)
    return torch.cat([x, time_plane], dim=1)


# ᾱ of one reverse or inversion step: a scalar, or one per batch element.
PerExampleAlphaBar = float | Float[torch.Tensor, ""] | Float[torch.Tensor, "batch"]


def _check_alpha_bars(alpha_bars: torch.Tensor) -> None:
    require_tensor_values_in("alpha_bars", alpha_bars, 0.0, 1.0, low_open=False, high_open=False)


@typechecked
def noised_sample_from_eps(
    alpha_bars: Float[torch.Tensor, "T"],
    x0: Float[torch.Tensor, "batch *shape"],
    eps: Float[torch.Tensor, "batch *shape"],
    t: int | Int[torch.Tensor, "batch"],
) -> tuple[Float[torch.Tensor, "batch *shape"], Float[torch.Tensor, "batch *shape"]]:
    """FWD-1: x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·eps; the training target is eps."""
    _check_alpha_bars(alpha_bars)
    require_tensor_timesteps("t", t, alpha_bars.shape[0], x0.shape[0])
    require_same_shape("eps", eps, "x0", x0)
    require_tensor_finite("x0", x0)
    require_tensor_finite("eps", eps)
    steps = torch.as_tensor(t, device=alpha_bars.device)
    alpha_bar = alpha_bars.to(torch.float64)[steps]
    x_t = per_batch(alpha_bar.sqrt(), x0) * x0 + per_batch((1.0 - alpha_bar).sqrt(), x0) * eps
    return x_t, eps


@typechecked
def add_noise(
    schedule: NoiseSchedule,
    x0: Float[torch.Tensor, "batch *shape"],
    t: int | Int[torch.Tensor, "batch"],
    *,
    generator: torch.Generator | None,
) -> tuple[Float[torch.Tensor, "batch *shape"], Float[torch.Tensor, "batch *shape"]]:
    """FWD-1 with eps ~ N(0, I) drawn from ``generator`` (on x0's device; None: torch's default).

    Returns (x_t, eps): one draw of x0's shape, so a seeded generator reproduces it exactly.
    """
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    return noised_sample_from_eps(schedule.alpha_bars, x0, eps, t)


def _check_alpha_bar(alpha_bar: float | torch.Tensor, batch: int, *, low_open: bool,
                     high_open: bool) -> None:
    require_per_batch("alpha_bar", alpha_bar, batch)
    require_tensor_values_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=low_open,
                             high_open=high_open)


@typechecked
def predict_x0(
    alpha_bar: PerExampleAlphaBar,
    x_t: Float[torch.Tensor, "batch *shape"],
    eps_hat: Float[torch.Tensor, "batch *shape"],
) -> Float[torch.Tensor, "batch *shape"]:
    """FWD-4: x̂0 = (x_t − √(1 − ᾱ)·ε̂) / √ᾱ, for ᾱ ∈ (0, 1]."""
    _check_alpha_bar(alpha_bar, x_t.shape[0], low_open=True, high_open=False)
    require_same_shape("eps_hat", eps_hat, "x_t", x_t)
    alpha = as_float64(alpha_bar)
    return (x_t - per_batch((1.0 - alpha).sqrt(), x_t) * eps_hat) / per_batch(alpha.sqrt(), x_t)


@typechecked
def predict_eps(
    alpha_bar: PerExampleAlphaBar,
    x_t: Float[torch.Tensor, "batch *shape"],
    x0: Float[torch.Tensor, "batch *shape"],
) -> Float[torch.Tensor, "batch *shape"]:
    """FWD-4: ε̂ = (x_t − √ᾱ·x0) / √(1 − ᾱ), for ᾱ ∈ [0, 1)."""
    _check_alpha_bar(alpha_bar, x_t.shape[0], low_open=False, high_open=True)
    require_same_shape("x0", x0, "x_t", x_t)
    alpha = as_float64(alpha_bar)
    return (x_t - per_batch(alpha.sqrt(), x_t) * x0) / per_batch((1.0 - alpha).sqrt(), x_t)
