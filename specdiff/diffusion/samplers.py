"""Samplers: loops of reverse steps from x_T ~ N(0, I) to x_0 (specs/samplers.md).

A model is any callable ``model(x_t, t) -> eps_hat`` taking the noisy batch and one **integer**
timestep per example (int64, in [0, T)); models that want a normalized time compute it
themselves. Every random draw comes from ``generator``, in a fixed order (SAMP-3): x_T first (if
not given), then one z of the batch's shape per step that adds noise. So a seed reproduces a
sample bit for bit, and the global torch RNG is never touched.
"""

from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
from jaxtyping import Float, Int64
from tqdm.auto import tqdm

from specdiff._typecheck import typechecked
from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.diffusion.reverse import ddim_step, ddpm_step
from specdiff.spec.reverse import Variance, ddim_sigma
from specdiff.spec.timesteps import Spacing, ddim_timesteps

EpsModel = Callable[
    [Float[torch.Tensor, "batch *shape"], Int64[torch.Tensor, "batch"]],
    Float[torch.Tensor, "batch *shape"],
]

Step = TypeVar("Step")


def _initial_noise(
    shape: tuple[int, ...],
    x_T: torch.Tensor | None,
    generator: torch.Generator,
    dtype: torch.dtype,
) -> torch.Tensor:
    if x_T is not None:
        if tuple(x_T.shape) != tuple(shape):
            raise ValueError(f"x_T must have shape {tuple(shape)}, got {tuple(x_T.shape)}")
        return x_T.to(generator.device)
    if len(shape) == 0 or any(size < 1 for size in shape):
        raise ValueError(f"shape must be (batch, ...) with every size >= 1, got {tuple(shape)}")
    return torch.randn(shape, generator=generator, dtype=dtype, device=generator.device)


def _timestep_batch(t: int, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), t, dtype=torch.int64, device=x.device)


def _progress(steps: Iterable[Step], total: int, name: str, shown: bool) -> Iterable[Step]:
    shown_steps: Iterable[Step] = tqdm(steps, total=total, desc=name, disable=not shown)
    return shown_steps


@typechecked
def sample_ddpm(
    model: EpsModel,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    *,
    generator: torch.Generator,
    clip: bool = True,
    variance: Variance = "fixed_small",
    x_T: Float[torch.Tensor, "..."] | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> Float[torch.Tensor, "..."]:
    """SAMP-2: ancestral DDPM sampling, x_{t−1} = ddpm_step(ᾱ, t, x_t, model(x_t, t), z) for
    t = T−1, …, 0 (REV-9); samples live on ``generator``'s device, in ``dtype`` (or x_T's)."""
    T = schedule.num_timesteps
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        alpha_bars = schedule.to(x.device).alpha_bars
        for t in _progress(reversed(range(T)), T, "DDPM", progress):
            eps_hat = model(x, _timestep_batch(t, x))
            # z is unused at t = 0 (no noise is added), so it is not drawn there.
            z = (torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
                 if t > 0 else torch.zeros_like(x))
            x = ddpm_step(alpha_bars, t, x, eps_hat, z, clip, variance)
    return x


@typechecked
def sample_ddim(
    model: EpsModel,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    *,
    steps: int = 50,
    eta: float = 0.0,
    spacing: Spacing = "leading",
    generator: torch.Generator,
    clip: bool = True,
    x_T: Float[torch.Tensor, "..."] | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> Float[torch.Tensor, "..."]:
    """SAMP-2: DDIM over the timesteps τ = ddim_timesteps(T, steps, spacing) (TS-1), decreasing:
    x_{τ_{i+1}} = ddim_step(ᾱ_{τ_{i+1}}, ᾱ_{τ_i}, x, model(x, τ_i), η, z) (REV-5), with ᾱ = 1
    after the last; samples live on ``generator``'s device, in ``dtype`` (or x_T's)."""
    T = schedule.num_timesteps
    if isinstance(steps, bool) or not 0 < steps <= T:
        raise ValueError(f"steps must be in (0, T] = (0, {T}], got {steps}")
    visited = [int(t) for t in ddim_timesteps(T, steps, spacing)]
    # One host copy before the loop: the steps take ᾱ as Python floats (float64, no sync).
    alpha_bars = schedule.alpha_bars.to("cpu", torch.float64).tolist()
    landing = [alpha_bars[t] for t in visited[1:]] + [1.0]
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        pairs = zip(visited, landing, strict=True)
        for t, alpha_bar_prev in _progress(pairs, len(visited), "DDIM", progress):
            eps_hat = model(x, _timestep_batch(t, x))
            noisy = ddim_sigma(alpha_bar_prev, alpha_bars[t], eta) > 0.0
            z = (torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
                 if noisy else None)
            x = ddim_step(alpha_bar_prev, alpha_bars[t], x, eps_hat, eta, z, clip)
    return x
