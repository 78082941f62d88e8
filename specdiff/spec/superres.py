"""Super-resolution (SR3-style) conditioning: the image resampling and the model's input layout
(specs/conditioning.md, COND-11 and COND-12).

Downsampling is **average pooling** over non-overlapping scale×scale blocks; upsampling is
**nearest neighbour** (each pixel repeated scale×scale times). With these two, downsampling an
upsampled image gives it back, and a constant image is a fixed point of both. The SR model reads
[x_t ; upsample_image(low_res)] stacked on the channel axis: x_t's C channels first.
"""

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
from jaxtyping import Float, Float64, Int

from specdiff._typecheck import typechecked
from specdiff.spec._validate import require_finite, require_int_at_least
from specdiff.spec.unet import UNetLayout, unet


@runtime_checkable
class SuperResolutionLayout(UNetLayout, Protocol):
    """A U-Net layout (data_channels = C, the output's) plus the integer upscaling factor."""

    @property
    def scale(self) -> int: ...


def _require_divisible(name: str, x: np.ndarray, scale: int) -> None:
    require_int_at_least("scale", scale, 1)
    height, width = x.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(f"{name} height and width must be multiples of scale = {scale}, got "
                         f"shape {x.shape}")


@typechecked
def downsample_image(
    x: Float[np.ndarray, "batch channel height width"], scale: int
) -> Float64[np.ndarray, "batch channel low_height low_width"]:
    """COND-11: out[n, c, i, j] = mean of x[n, c, s·i + a, s·j + b] over a, b ∈ [0, s) (average
    pooling by the integer factor s = scale; height and width multiples of s)."""
    _require_divisible("x", x, scale)
    require_finite("x", x)
    batch, channels, height, width = x.shape
    blocks = np.asarray(x, dtype=np.float64).reshape(
        batch, channels, height // scale, scale, width // scale, scale)
    return np.asarray(blocks.mean(axis=(3, 5)), dtype=np.float64)


@typechecked
def upsample_image(
    x: Float[np.ndarray, "batch channel low_height low_width"], scale: int
) -> Float64[np.ndarray, "batch channel height width"]:
    """COND-11: out[n, c, i, j] = x[n, c, ⌊i/s⌋, ⌊j/s⌋] (nearest neighbour by s = scale)."""
    require_int_at_least("scale", scale, 1)
    require_finite("x", x)
    values = np.asarray(x, dtype=np.float64)
    return np.repeat(np.repeat(values, scale, axis=2), scale, axis=3)


@typechecked
def superres_input(
    x_t: Float[np.ndarray, "batch channel height width"],
    low_res: Float[np.ndarray, "batch channel low_height low_width"],
    scale: int,
) -> Float64[np.ndarray, "batch 2*channel height width"]:
    """COND-12: the SR model's first-layer input, concat([x_t, upsample_image(low_res, s)]) on
    the channel axis."""
    require_int_at_least("scale", scale, 1)
    if low_res.shape[-2] * scale != x_t.shape[-2] or low_res.shape[-1] * scale != x_t.shape[-1]:
        raise ValueError(f"low_res must be x_t's size divided by scale = {scale}: x_t has shape "
                         f"{x_t.shape}, low_res {low_res.shape}")
    upsampled = upsample_image(low_res, scale)
    return np.concatenate([np.asarray(x_t, dtype=np.float64), upsampled], axis=1)


class _ConcatenatedInputLayout:
    """``layout`` as the inner U-Net sees it: 2·C input (and output) channels."""

    def __init__(self, layout: UNetLayout) -> None:
        self._layout = layout

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layout, name)

    @property
    def data_channels(self) -> int:
        return 2 * self._layout.data_channels


@typechecked
def superres_unet(
    params: Mapping[str, np.ndarray],
    config: SuperResolutionLayout,
    x_t: Float[np.ndarray, "batch channel height width"],
    t: Int[np.ndarray, "batch"],
    low_res: Float[np.ndarray, "batch channel low_height low_width"],
) -> Float64[np.ndarray, "batch channel height width"]:
    """COND-12: ε̂ = unet(params["unet.*"], 2·C channels, superres_input(x_t, low_res, s), t)[:, :C].

    The inner U-Net (NET-16) has 2·C input and output channels; its last C outputs are unused.
    ``params`` are the keys of ``specdiff.nn.SuperResolutionUNet.state_dict()``.
    """
    inner = {key.removeprefix("unet."): value for key, value in params.items()
             if key.startswith("unet.")}
    layout: Any = _ConcatenatedInputLayout(config)
    out = unet(inner, layout, superres_input(x_t, low_res, config.scale), t)
    return np.asarray(out[:, : config.data_channels], dtype=np.float64)
