"""Image encoders of the spec: uint8 quantization and the ASCII PPM (P3) format (specs/images.md).

A PPM holds the **first** image of an NCHW batch. C = 3 is written as RGB; C = 1 is written as
grey, i.e. as RGB with R = G = B, so ``read_ppm`` always returns 3 channels.
"""

import os
from pathlib import Path

import numpy as np
from jaxtyping import Float, Float64, UInt8

from specdiff._atomic import write_atomically
from specdiff._typecheck import typechecked
from specdiff.spec._validate import require_finite, require_ndim

PPM_MAX_VALUE = 255


@typechecked
def quantize_uint8(x: Float[np.ndarray, "*shape"]) -> UInt8[np.ndarray, "*shape"]:
    """IMG-1: v = ⌊(clip(x, −1, 1) + 1)·127.5 + 0.5⌋ = 128 + ⌊127.5·clip(x, −1, 1)⌋ ∈ {0, …, 255}
    in exact arithmetic (the nearest grid value v/127.5 − 1, the one tie x = 0 going up to 128);
    non-finite x is rejected."""
    require_finite("x", x)
    clipped = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    # 127.5·x needs 61 significant bits: in float64 it rounds, onto k + ½ or across an integer,
    # next to the midpoints between grid values, and the floor is then one off. Exactly: x =
    # m·2^(e−53) with m an integer of at most 53 bits (frexp), so ⌊127.5·x⌋ = ⌊255·m/2^(54−e)⌋,
    # an arithmetic (flooring) shift of an int64. |x| ≤ 1 makes e ≤ 1, a shift ≥ 53; |255·m| < 2^61
    # shifts to 0 or −1 alike by 62 or more, so larger shifts (tiny x) are capped there.
    fraction, exponent = np.frexp(clipped)
    mantissa = (fraction * 2.0**53).astype(np.int64)
    shift = np.minimum(54 - exponent.astype(np.int64), 62)
    return np.asarray(128 + ((255 * mantissa) >> shift), dtype=np.uint8)


@typechecked
def encode_ppm(x: Float[np.ndarray, "batch channel height width"]) -> str:
    """IMG-2: "P3\\n{W} {H}\\n255\\n", then one line per row of "R G B" triples (row-major)."""
    require_ndim("x", x, 4, "batch channel height width")
    if x.shape[0] < 1 or x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError("x must hold at least one image of at least 1x1 pixels (batch, height, "
                         f"width >= 1), got shape {tuple(x.shape)}")
    channels = x.shape[1]
    if channels not in (1, 3):
        raise ValueError(f"x must have 1 (grey) or 3 (RGB) channels, got {channels}")
    values = quantize_uint8(np.asarray(x[0]))
    rgb = np.repeat(values, 3, axis=0) if channels == 1 else values
    height, width = rgb.shape[1], rgb.shape[2]
    pixels = rgb.transpose(1, 2, 0).reshape(height, width * 3)
    rows = "\n".join(" ".join(str(int(v)) for v in row) for row in pixels)
    return f"P3\n{width} {height}\n{PPM_MAX_VALUE}\n{rows}\n"


@typechecked
def write_ppm(path: str | os.PathLike[str], x: Float[np.ndarray, "batch channel height width"]
              ) -> Path:
    """IMG-4: write encode_ppm(x) atomically: a temp file in the same folder, fsync, rename.

    A failure at any point leaves an existing file at ``path`` untouched and no temp file behind.
    """
    text = encode_ppm(x)  # encode first: bad input must not touch the file system
    return write_atomically(path, lambda stream: stream.write(text.encode("ascii")))


def _tokens(text: str) -> list[str]:
    """PPM tokens: whitespace-separated, with '#' comments running to the end of the line."""
    return [token for line in text.splitlines() for token in line.split("#", 1)[0].split()]


@typechecked
def read_ppm(path: str | os.PathLike[str]) -> Float64[np.ndarray, "1 3 height width"]:
    """IMG-3: parse an ASCII P3 file into a (1, 3, H, W) batch with x = v/127.5 − 1."""
    tokens = _tokens(Path(path).read_text(encoding="ascii"))
    if len(tokens) < 4 or tokens[0] != "P3":
        raise ValueError(f"{path}: not an ASCII PPM (expected magic 'P3' and a header)")
    try:
        width, height, max_value = (int(token) for token in tokens[1:4])
        values = np.array([int(token) for token in tokens[4:]], dtype=np.int64)
    except ValueError as error:
        raise ValueError(f"{path}: PPM header and pixels must be integers ({error})") from None
    if width < 1 or height < 1:
        raise ValueError(f"{path}: PPM width and height must be >= 1, got {width}x{height}")
    if max_value != PPM_MAX_VALUE:
        raise ValueError(f"{path}: PPM max value must be {PPM_MAX_VALUE}, got {max_value}")
    if values.size != 3 * width * height:
        raise ValueError(
            f"{path}: expected {3 * width * height} values for {width}x{height} RGB, "
            f"got {values.size} (truncated or corrupt file)"
        )
    if values.size and (values.min() < 0 or values.max() > max_value):
        raise ValueError(f"{path}: PPM values must be in [0, {max_value}]")
    image = values.reshape(height, width, 3).transpose(2, 0, 1)[np.newaxis]
    return np.asarray(image.astype(np.float64) / 127.5 - 1.0, dtype=np.float64)
