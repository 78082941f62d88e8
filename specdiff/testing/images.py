"""Public helper for tests that read image files."""

from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, pixels: np.ndarray) -> None:
    """Write ``pixels`` (H, W) or (H, W, 3), values in [0, 255], as a lossless uint8 PNG at
    ``path``, creating its parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
