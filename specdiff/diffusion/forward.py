"""Torch mirrors of the forward-process laws (specs/forward.md)."""

import torch
from jaxtyping import Float

from specdiff._typecheck import typechecked


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
