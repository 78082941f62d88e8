"""The embedded default dataset: scikit-learn's 1,797 handwritten 8×8 digits (no download)."""

import numpy as np
import sklearn.datasets
from jaxtyping import UInt8

from specdiff._typecheck import typechecked
from specdiff.data.dataset import ImageDataset
from specdiff.spec._validate import require_int_at_least

DIGITS_SIDE = 8
DIGITS_MAX_VALUE = 16  # sklearn stores ink as integers 0..16 (4×4 blocks of a 32×32 bitmap)


@typechecked
def upscale_and_pad(
    images: UInt8[np.ndarray, "batch channel height width"], size: int
) -> UInt8[np.ndarray, "batch channel {size} {size}"]:
    """DATA-3: nearest-neighbour upscale by k = ⌊size / max(H, W)⌋, then zero padding to size×size.

    The k·H × k·W block sits at offset (⌊(size − k·H)/2⌋, ⌊(size − k·W)/2⌋), so pixel (i, j)
    covers out[k·i + top : k·(i+1) + top, k·j + left : k·(j+1) + left]; every other pixel is 0.
    """
    height, width = images.shape[2:]
    require_int_at_least("size", size, max(height, width))
    factor = size // max(height, width)
    upscaled = images.repeat(factor, axis=2).repeat(factor, axis=3)
    top = (size - factor * height) // 2
    left = (size - factor * width) // 2
    padding = ((0, 0), (0, 0), (top, size - factor * height - top),
               (left, size - factor * width - left))
    return np.pad(upscaled, padding)


def digits_to_uint8(values: np.ndarray) -> np.ndarray:
    """DATA-2: v = ⌊(255·d + 8) / 16⌋, i.e. 255·d/16 rounded half up: 0 ↦ 0, 16 ↦ 255."""
    ink = np.asarray(values).astype(np.int64)
    return ((255 * ink + DIGITS_MAX_VALUE // 2) // DIGITS_MAX_VALUE).astype(np.uint8)


# The held-out split: sklearn's last 297 digits (its order is fixed), the first 1,500 train.
DIGITS_TRAIN_COUNT = 1500
DIGITS_SPLITS = {"all": slice(None), "train": slice(0, DIGITS_TRAIN_COUNT),
                 "test": slice(DIGITS_TRAIN_COUNT, None)}


def load_digits(size: int = 16, split: str = "all") -> ImageDataset:
    """DATA-2, DATA-3: the 1,797 digits as (1797, 1, size, size) uint8 with labels 0..9, or
    their "train" (first 1,500) or "test" (last 297) split.

    Ink is bright on a black (v = 0, x = −1) background. ``size`` ≥ 8: 16 gives a 2× upscale,
    20 a 2× upscale centred in a 2-pixel black border, 32 a 4× upscale.
    """
    require_int_at_least("size", size, DIGITS_SIDE)
    if split not in DIGITS_SPLITS:
        raise ValueError(f"split must be one of {sorted(DIGITS_SPLITS)}, got {split!r}")
    bunch = sklearn.datasets.load_digits()
    part = DIGITS_SPLITS[split]
    images = digits_to_uint8(bunch.images[part])[:, np.newaxis]  # (N, 8, 8) → (N, 1, 8, 8)
    class_names = [str(int(name)) for name in bunch.target_names]
    return ImageDataset(upscale_and_pad(images, size), bunch.target[part], class_names)
