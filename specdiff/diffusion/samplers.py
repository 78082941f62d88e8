"""Samplers: loops of reverse steps from x_T ~ N(0, I) to x_0 (specs/samplers.md).

A model is any callable ``model(x_t, t) -> output`` taking the noisy batch and one **integer**
timestep per example (int64, in [0, T)); models that want a normalized time compute it
themselves; its output is ε̂, x̂0 or v̂ as ``prediction_type`` says (specs/parameterization.md).
Every random draw comes from ``generator``, in a fixed order (SAMP-3): x_T first (if
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
from specdiff.diffusion.parameterization import split_prediction
from specdiff.diffusion.reverse import ddpm_step
from specdiff.diffusion.solvers import ddim_step_from_prediction
from specdiff.spec._validate import require_choice
from specdiff.spec.parameterization import PredictionType, require_prediction_type
from specdiff.spec.reverse import VARIANCES, Variance
from specdiff.spec.solvers import ddim_sigma_extended
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


def require_steps(steps: int, T: int) -> None:
    if isinstance(steps, bool) or not 0 < steps <= T:
        raise ValueError(f"steps must be in (0, T] = (0, {T}], got {steps}")


def require_zero_snr_support(schedule: NoiseSchedule, sampler: str, spacing: str | None,
                             prediction_type: str) -> None:
    """A zero-terminal-SNR schedule (ᾱ_{T−1} = 0) needs a sampler that starts at T−1
    (trailing spacing) and a model that predicts v or x0 (specs/parameterization.md, PARAM-4)."""
    require_prediction_type(prediction_type)
    if not schedule.has_zero_terminal_snr:
        return
    if spacing is None:
        raise ValueError(
            f"schedule must have alpha_bars in (0, 1) for {sampler} (it has zero terminal SNR, "
            "alpha_bars[T-1] = 0); use sample_ddim or sample_dpm_solver_pp with "
            "spacing='trailing' and prediction_type='v_prediction'"
        )
    if spacing != "trailing":
        raise ValueError(f"spacing must be 'trailing' for a zero-terminal-SNR schedule (so "
                         f"{sampler} starts at T-1, where alpha_bar = 0), got {spacing!r}")
    if prediction_type == "epsilon":
        raise ValueError(
            "prediction_type must be 'v_prediction' or 'sample' for a zero-terminal-SNR "
            "schedule (an eps-prediction says nothing about x0 at alpha_bar = 0), got 'epsilon'"
        )


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
    prediction_type: PredictionType = "epsilon",
) -> Float[torch.Tensor, "..."]:
    """SAMP-2: ancestral DDPM sampling, x_{t−1} = ddpm_step(ᾱ, t, x_t, ε̂, z) for t = T−1, …, 0
    (REV-9), ε̂ from the model's output by ``prediction_type`` (PARAM-2); samples live on
    ``generator``'s device, in ``dtype`` (or x_T's)."""
    require_choice("variance", variance, VARIANCES)
    require_zero_snr_support(schedule, "sample_ddpm", None, prediction_type)
    T = schedule.num_timesteps
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        alpha_bars = schedule.to(x.device).alpha_bars
        host_alpha_bars = schedule.alpha_bars.to("cpu", torch.float64).tolist()
        for t in _progress(reversed(range(T)), T, "DDPM", progress):
            output = model(x, _timestep_batch(t, x))
            _, eps_hat = split_prediction(host_alpha_bars[t], x, output, prediction_type)
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
    prediction_type: PredictionType = "epsilon",
) -> Float[torch.Tensor, "..."]:
    """SAMP-2: DDIM over the timesteps τ = ddim_timesteps(T, steps, spacing) (TS-1), decreasing:
    x_{τ_{i+1}} = ddim_step_from_prediction(ᾱ_{τ_{i+1}}, ᾱ_{τ_i}, x̂0, ε̂, η, z) (SOLV-1 = REV-5),
    (x̂0, ε̂) from the model's output by ``prediction_type`` (PARAM-2), x̂0 clipped if ``clip``,
    ᾱ = 1 after the last; samples live on ``generator``'s device, in ``dtype`` (or x_T's)."""
    T = schedule.num_timesteps
    require_steps(steps, T)
    require_zero_snr_support(schedule, "sample_ddim", spacing, prediction_type)
    visited = [int(t) for t in ddim_timesteps(T, steps, spacing)]
    # One host copy before the loop: the steps take ᾱ as Python floats (float64, no sync).
    alpha_bars = schedule.alpha_bars.to("cpu", torch.float64).tolist()
    landing = [alpha_bars[t] for t in visited[1:]] + [1.0]
    with torch.no_grad():
        x = _initial_noise(shape, x_T, generator, dtype)
        pairs = zip(visited, landing, strict=True)
        for t, alpha_bar_prev in _progress(pairs, len(visited), "DDIM", progress):
            output = model(x, _timestep_batch(t, x))
            x0_hat, eps_hat = split_prediction(alpha_bars[t], x, output, prediction_type)
            if clip:
                x0_hat = x0_hat.clamp(-1.0, 1.0)
            noisy = ddim_sigma_extended(alpha_bar_prev, alpha_bars[t], eta) > 0.0
            z = (torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
                 if noisy else None)
            x = ddim_step_from_prediction(alpha_bar_prev, alpha_bars[t], x0_hat, eps_hat, eta, z)
    return x
