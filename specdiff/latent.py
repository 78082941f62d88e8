"""Latent diffusion (Rombach et al. 2022): diffusion on the scaled latents of a frozen autoencoder.

``LatentDiffusion`` is a thin layer over ``Diffusion`` (specs/latent.md, LAT-8 … LAT-10): the
latent of an image is the autoencoder's posterior **mean** (deterministic, so the loss is a
function of (x0, t, ε)), multiplied by ``scale_factor`` so that the latents have about unit
variance, the variance the noise schedule assumes of its data.
"""

import math
from typing import Protocol, runtime_checkable

import torch
from jaxtyping import Float, Int
from torch import nn

from specdiff._typecheck import typechecked
from specdiff.diffusion.api import Diffusion, SamplerName
from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.spec._validate import require_real_in


@runtime_checkable
class LatentAutoencoder(Protocol):
    """What latent diffusion needs of a first stage (``specdiff.nn.Autoencoder`` has it)."""

    def latent_shape(self, image_shape: tuple[int, ...]) -> tuple[int, ...]: ...
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...
    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


def _scaled_latents(autoencoder: LatentAutoencoder, images: torch.Tensor, scale_factor: float
                    ) -> torch.Tensor:
    """scale_factor · mean of q(z | images), without gradients: the autoencoder is frozen."""
    with torch.no_grad():
        mean, _ = autoencoder.encode(images)
    return scale_factor * mean


@typechecked
def estimate_scale_factor(
    autoencoder: LatentAutoencoder, images: Float[torch.Tensor, "batch channel height width"]
) -> float:
    """LAT-9: 1/std of the latent means of ``images`` over all their elements (unbiased std),
    as Rombach et al. (2022) set it from a batch of training images."""
    std = float(_scaled_latents(autoencoder, images, 1.0).to(torch.float64).std())
    if not math.isfinite(std) or std <= 0.0:
        raise ValueError(f"images must give latents of finite positive std (at least two "
                         f"distinct latent values), got std {std}")
    return 1.0 / std


class LatentDiffusion(nn.Module):
    """An eps-model ``unet(z_t, t)`` diffusing z = scale_factor·mean(encode(x)); ``generate``
    samples z and returns decode(z / scale_factor)."""

    def __init__(self, autoencoder: LatentAutoencoder, unet: nn.Module,
                 schedule: NoiseSchedule, scale_factor: float) -> None:
        super().__init__()
        if not isinstance(autoencoder, nn.Module):
            raise TypeError(f"autoencoder must be an nn.Module, got {type(autoencoder).__name__}")
        self.autoencoder: LatentAutoencoder = autoencoder
        self.diffusion = Diffusion(unet, schedule)
        self.scale_factor = require_real_in("scale_factor", scale_factor, 0.0, math.inf,
                                            low_open=True, high_open=True)

    @typechecked
    def compute_loss(
        self,
        x0: Float[torch.Tensor, "batch channel height width"],
        *,
        t: Int[torch.Tensor, "batch"] | None = None,
        eps: Float[torch.Tensor, "batch latent latent_height latent_width"] | None = None,
        generator: torch.Generator | None = None,
    ) -> Float[torch.Tensor, ""]:
        """LAT-8: SAMP-8's loss on z0 = scale_factor·mean(encode(x0)); ε has the latents' shape.
        Gradients reach the eps-model only."""
        z0 = _scaled_latents(self.autoencoder, x0, self.scale_factor)
        return self.diffusion.compute_loss(z0, t=t, eps=eps, generator=generator)

    def generate(
        self,
        shape_of_images: tuple[int, ...],
        *,
        steps: int | None = None,
        sampler: SamplerName = "ddim",
        eta: float = 0.0,
        seed: int | None = None,
        progress: bool = False,
    ) -> Float[torch.Tensor, "batch channel height width"]:
        """LAT-10: decode(z / scale_factor), z = ``Diffusion.generate`` of the latent shape
        (LAT-1) with the same arguments and clip = False: latents are not confined to [−1, 1]."""
        latent_shape = self.autoencoder.latent_shape(tuple(shape_of_images))
        z = self.diffusion.generate(latent_shape, steps=steps, sampler=sampler, eta=eta,
                                    seed=seed, clip=False, progress=progress)
        with torch.no_grad():
            return self.autoencoder.decode(z / self.scale_factor)
