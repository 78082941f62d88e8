"""Batch augmentations for the trainer; every random draw comes from an explicit torch.Generator."""

import torch
from jaxtyping import Bool, Shaped

from specdiff._typecheck import typechecked
from specdiff.spec._validate import require_real_in


@typechecked
def horizontal_flip(
    images: Shaped[torch.Tensor, "batch channel height width"],
    flip: Bool[torch.Tensor, "batch"],
) -> Shaped[torch.Tensor, "batch channel height width"]:
    """DATA-6: out[n] = images[n] with its width axis reversed where flip[n], else images[n]."""
    mirrored = torch.flip(images, dims=(-1,))
    return torch.where(flip.to(images.device).reshape(-1, 1, 1, 1), mirrored, images)


@typechecked
def random_horizontal_flip(
    images: Shaped[torch.Tensor, "batch channel height width"],
    generator: torch.Generator,
    probability: float = 0.5,
) -> Shaped[torch.Tensor, "batch channel height width"]:
    """DATA-7: horizontal_flip with flip[n] = (u[n] < probability), u ~ U[0, 1) from ``generator``.

    The draw happens on the generator's device, so a CUDA generator flips a CUDA batch without
    a host round trip and a CPU generator gives the same flips on every device.
    """
    require_real_in("probability", probability, 0.0, 1.0)
    uniform = torch.rand(images.shape[0], generator=generator, device=generator.device)
    return horizontal_flip(images, uniform < probability)
