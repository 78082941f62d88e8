"""Any folder of PNG/JPEG images, read with Pillow; class subfolders become labels (DATA-8)."""

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from specdiff.data.dataset import ImageDataset
from specdiff.spec._validate import require_int_at_least

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_PILLOW_MODES = {1: "L", 3: "RGB"}


def load_image_folder(
    path: str | os.PathLike[str], size: int | None = None, channels: int = 3
) -> ImageDataset:
    """DATA-8: every .png/.jpg/.jpeg file of ``path`` as (N, channels, H, W) uint8, sorted by path.

    Layout: either all images directly in ``path`` (unlabeled), or in class subfolders
    ``path/<class>/`` (label = index of <class> in the sorted subfolder names), not both.
    ``size`` None keeps the images' size, which must then be the same for all; an int crops each
    image to its centred square and resizes that to size×size (Pillow bicubic).
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist or is not a folder")
    if channels not in _PILLOW_MODES:
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    if size is not None:
        require_int_at_least("size", size, 1)
    files, labels, class_names = _find_images(root)
    images = [_read_image(file, _PILLOW_MODES[channels], size) for file in files]
    odd = next((i for i, image in enumerate(images) if image.shape != images[0].shape), None)
    if odd is not None:
        raise ValueError(
            f"{root}: images have different sizes ({files[0]}: {_size(images[0])}, "
            f"{files[odd]}: {_size(images[odd])}); pass size=... to resize all to one size"
        )
    stacked = np.stack(images).transpose(0, 3, 1, 2)  # NHWC (Pillow) → NCHW
    return ImageDataset(stacked, labels if class_names else None, class_names)


def load_image(path: str | os.PathLike[str], channels: int = 3) -> np.ndarray:
    """One PNG/JPEG file as a (1, channels, H, W) uint8 batch (grey or RGB, like DATA-8)."""
    if channels not in _PILLOW_MODES:
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"image file {file} does not exist")
    image = _read_image(file, _PILLOW_MODES[channels], None).transpose(2, 0, 1)
    batch: np.ndarray = image[np.newaxis].copy()  # writable (Pillow's buffer is read-only)
    return batch


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _find_images(root: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """(files, labels, class names); class names are empty when the images sit in ``root``."""
    direct = sorted(file for file in root.iterdir() if _is_image(file))
    class_folders = sorted(
        folder for folder in root.iterdir()
        if folder.is_dir() and any(_is_image(file) for file in folder.iterdir())
    )
    if direct and class_folders:
        raise ValueError(
            f"{root}: has images both directly inside and in subfolders "
            f"({', '.join(folder.name for folder in class_folders)}); expected one layout: "
            f"all images in {root}, or all in class subfolders"
        )
    if not direct and not class_folders:
        raise ValueError(
            f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in it or in its subfolders"
        )
    if direct:
        return direct, np.zeros(0, dtype=np.int64), []
    files, labels = [], []
    for label, folder in enumerate(class_folders):
        members = sorted(file for file in folder.iterdir() if _is_image(file))
        files += members
        labels += [label] * len(members)
    return files, np.array(labels, dtype=np.int64), [folder.name for folder in class_folders]


def _read_image(file: Path, mode: str, size: int | None) -> np.ndarray:
    """(H, W, C) uint8 in ``mode``; with ``size``, centre-square-cropped and resized first."""
    try:
        with Image.open(file) as opened:
            image = opened.convert(mode)  # convert() decodes the whole file: truncation shows here
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"{file}: not a readable PNG/JPEG image ({error})") from error
    if size is not None:
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize(
            (size, size), Image.Resampling.BICUBIC
        )
    return np.asarray(image, dtype=np.uint8).reshape(image.height, image.width, -1)


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"
