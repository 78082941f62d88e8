"""The super-resolution conditioning path in torch (specs/conditioning.md, COND-11, COND-12);
twins in ``specdiff.spec.superres``: average-pool down, nearest up, [x_t ; up(low_res)]."""

import torch
from jaxtyping import Float
from torch.nn import functional

from specdiff._typecheck import typechecked
from specdiff.spec._validate import require_int_at_least


def _require_divisible(name: str, x: torch.Tensor, scale: int) -> None:
    require_int_at_least("scale", scale, 1)
    height, width = x.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(f"{name} height and width must be multiples of scale = {scale}, got "
                         f"shape {tuple(x.shape)}")


@typechecked
def downsample_image(
    x: Float[torch.Tensor, "batch channel height width"], scale: int
) -> Float[torch.Tensor, "batch channel low_height low_width"]:
    """COND-11: average pooling over non-overlapping scale×scale blocks."""
    _require_divisible("x", x, scale)
    return functional.avg_pool2d(x, scale)


@typechecked
def upsample_image(
    x: Float[torch.Tensor, "batch channel low_height low_width"], scale: int
) -> Float[torch.Tensor, "batch channel height width"]:
    """COND-11: out[n, c, i, j] = x[n, c, ⌊i/s⌋, ⌊j/s⌋] (nearest neighbour by s = scale)."""
    require_int_at_least("scale", scale, 1)
    return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)


@typechecked
def superres_input(
    x_t: Float[torch.Tensor, "batch channel height width"],
    low_res: Float[torch.Tensor, "batch channel low_height low_width"],
    scale: int,
) -> Float[torch.Tensor, "batch 2*channel height width"]:
    """COND-12: concat([x_t, upsample_image(low_res, s)]) on the channel axis, x_t first."""
    require_int_at_least("scale", scale, 1)
    if tuple(low_res.shape[-2:]) != (x_t.shape[-2] // scale, x_t.shape[-1] // scale) or (
        x_t.shape[-2] % scale or x_t.shape[-1] % scale
    ):
        raise ValueError(f"low_res must be x_t's size divided by scale = {scale}: x_t has shape "
                         f"{tuple(x_t.shape)}, low_res {tuple(low_res.shape)}")
    return torch.cat([x_t, upsample_image(low_res.to(x_t.dtype), scale)], dim=1)


@typechecked
def make_training_pair(
    x0: Float[torch.Tensor, "batch channel height width"], scale: int
) -> tuple[Float[torch.Tensor, "batch channel height width"],
           Float[torch.Tensor, "batch channel low_height low_width"]]:
    """COND-12: (target, low_res) = (x0, downsample_image(x0, s)); train with
    ``conditioning={"low_res": low_res}`` on the target x0."""
    return x0, downsample_image(x0, scale)
