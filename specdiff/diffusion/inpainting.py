"""Inpainting with RePaint's resampling jumps, in torch (specs/conditioning.md, COND-5 … COND-8).

Mirrors of ``specdiff.spec.inpainting`` and the sampler that walks its level sequence. Draw order
(COND-8): x_T (unless given), then, along ``repaint_levels``, one z of the batch's shape per reverse
step at t > 0 and one noise draw per forward (jump) step. The reverse step's z also noises the
known pixels: a pixel is either known or unknown, so each pixel uses each draw once. With no known
pixel and no jump, the draws — and so the samples — are exactly those of ``sample_ddpm``.
"""

import math
from itertools import pairwise

import torch
from jaxtyping import Float, Int64
from tqdm.auto import tqdm

from specdiff._typecheck import typechecked
from specdiff.diffusion._validate import require_same_shape, require_tensor_values_in
from specdiff.diffusion.forward import noised_sample_from_eps
from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.diffusion.reverse import ddpm_step
from specdiff.diffusion.samplers import EpsModel
from specdiff.spec._validate import require_choice, require_timesteps
from specdiff.spec.inpainting import repaint_levels, require_mask
from specdiff.spec.reverse import VARIANCES, Variance, implied_beta


@typechecked
def forward_step(
    alpha_bars: Float[torch.Tensor, "T"],
    t: int,
    x_prev: Float[torch.Tensor, "batch *shape"],
    noise: Float[torch.Tensor, "batch *shape"],
) -> Float[torch.Tensor, "batch *shape"]:
    """COND-7: x_t = √(1 − β_t)·x_{t−1} + √β_t·noise, β_t = 1 − ᾱ_t/ᾱ_{t−1}, ᾱ_{−1} = 1."""
    require_tensor_values_in("alpha_bars", alpha_bars, 0.0, 1.0, low_open=True, high_open=True)
    require_timesteps("t", t, alpha_bars.shape[0])
    require_same_shape("noise", noise, "x_prev", x_prev)
    alpha_bar_prev = 1.0 if t == 0 else float(alpha_bars[t - 1])
    beta = implied_beta(alpha_bar_prev, float(alpha_bars[t]))
    return math.sqrt(1.0 - beta) * x_prev + math.sqrt(beta) * noise


@typechecked
def inpaint_step(
    alpha_bars: Float[torch.Tensor, "T"],
    t: int,
    x_t: Float[torch.Tensor, "batch *shape"],
    eps_hat: Float[torch.Tensor, "batch *shape"],
    image: Float[torch.Tensor, "batch *shape"],
    mask: Float[torch.Tensor, "..."],
    noise: Float[torch.Tensor, "batch *shape"],
    z: Float[torch.Tensor, "batch *shape"],
    clip: bool,
    variance: Variance = "fixed_small",
) -> Float[torch.Tensor, "batch *shape"]:
    """COND-5: x_{t−1} = where(mask = 1, known, unknown), known = √ᾱ_{t−1}·image +
    √(1−ᾱ_{t−1})·noise (FWD-1; = image at t = 0),
    unknown = ddpm_prev(ᾱ, t, x_t, ε̂, z, clip, variance) (REV-9)."""
    unknown = ddpm_step(alpha_bars, t, x_t, eps_hat, z, clip, variance)
    known = image if t == 0 else noised_sample_from_eps(alpha_bars, image, noise, t - 1)[0]
    return torch.where(mask == 1, known.to(unknown.dtype), unknown)


def _timestep_batch(t: int, x: torch.Tensor) -> Int64[torch.Tensor, "batch"]:
    return torch.full((x.shape[0],), t, dtype=torch.int64, device=x.device)


@typechecked
def sample_inpaint(
    model: EpsModel,
    schedule: NoiseSchedule,
    image: Float[torch.Tensor, "batch *shape"],
    mask: Float[torch.Tensor, "..."],
    *,
    generator: torch.Generator,
    jump_length: int = 1,
    resample: int = 1,
    clip: bool = True,
    variance: Variance = "fixed_small",
    x_T: Float[torch.Tensor, "batch *shape"] | None = None,
    progress: bool = False,
) -> Float[torch.Tensor, "batch *shape"]:
    """COND-8: RePaint inpainting of ``image`` where ``mask`` = 0 (mask = 1: keep the pixel).

    Walks ``repaint_levels(T, jump_length, resample)`` (COND-6): a reverse step is ``inpaint_step``
    with the model's ε̂ (COND-5), a jump is ``forward_step`` (COND-7). ``mask`` holds 0s and 1s and
    broadcasts to ``image`` (e.g. (1, 1, H, W)). Samples live on ``generator``'s device, in
    ``image``'s dtype; ``model`` is any ``(x_t, t) -> ε̂`` (wrap conditioning with a partial).
    """
    require_choice("variance", variance, VARIANCES)
    levels = repaint_levels(schedule.num_timesteps, jump_length, resample)
    require_mask(mask.detach().to("cpu").numpy(), tuple(image.shape))
    device = generator.device
    image, mask = image.to(device), mask.to(device=device, dtype=image.dtype)
    alpha_bars = schedule.to(device).alpha_bars
    with torch.no_grad():
        if x_T is None:
            x = torch.randn(image.shape, generator=generator, dtype=image.dtype, device=device)
        else:
            require_same_shape("x_T", x_T, "image", image)
            x = x_T.to(device)

        def draw() -> torch.Tensor:
            return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=device)

        steps = tqdm(pairwise(levels), total=len(levels) - 1, desc="RePaint", disable=not progress)
        for level, next_level in steps:
            if next_level > level:
                x = forward_step(alpha_bars, next_level, x, draw())
                continue
            t = level
            eps_hat = model(x, _timestep_batch(t, x))
            # Unused at t = 0 (no noise is added, the known part is the image): not drawn there.
            z = draw() if t > 0 else torch.zeros_like(x)
            x = inpaint_step(alpha_bars, t, x, eps_hat, image, mask, z, z, clip, variance)
    return x
