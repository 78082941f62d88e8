"""Sample grids as PNG files (Pillow), quantized by the spec's law IMG-1."""

import io
import math
import os
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from PIL import Image

from specdiff._atomic import write_atomically
from specdiff._typecheck import typechecked
from specdiff.spec.images import quantize_uint8


@typechecked
def image_grid(
    images: Float[torch.Tensor, "batch channel height width"]
    | Float[np.ndarray, "batch channel height width"],
    columns: int | None = None,
    padding: int = 1,
) -> np.ndarray:
    """A uint8 (rows·(H+p)+p, columns·(W+p)+p, C) mosaic of the images, row-major, on black.

    Pixels are quantized with IMG-1; C = 1 stays grey, C = 3 is RGB. ``columns`` defaults to
    ⌈√batch⌉.
    """
    array = images.detach().cpu().double().numpy() if isinstance(images, torch.Tensor) else images
    batch, channels, height, width = array.shape
    if channels not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {channels}")
    columns = columns or math.ceil(math.sqrt(batch))
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    rows = math.ceil(batch / columns)
    grid = np.zeros((rows * (height + padding) + padding, columns * (width + padding) + padding,
                     channels), dtype=np.uint8)
    pixels = quantize_uint8(array).transpose(0, 2, 3, 1)
    for index in range(batch):
        row, column = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        grid[top : top + height, left : left + width] = pixels[index]
    return grid


def png_bytes(grid: np.ndarray, scale: int = 1) -> bytes:
    """A uint8 (H, W, C) array as PNG file contents, each pixel enlarged to scale×scale."""
    picture = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale),
                                 Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: str | os.PathLike[str], grid: np.ndarray, scale: int = 1) -> Path:
    """Write a uint8 (H, W, C) array as PNG atomically (temp file in the folder, then rename;
    missing folders are created), each pixel enlarged to scale×scale."""
    contents = png_bytes(grid, scale)
    return write_atomically(path, lambda stream: stream.write(contents))
