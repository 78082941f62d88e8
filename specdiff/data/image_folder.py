"""Any folder of PNG/JPEG images, read with Pillow; class subfolders become labels (DATA-8)."""

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from specdiff.data.dataset import ImageDataset
from specdiff.data.png_rows import missing_png_data
from specdiff.spec._validate import require_int_at_least

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CHANNELS = (1, 3)  # grey, RGB
# Larger images are refused before decoding (decompression bombs): 8192² pixels, below Pillow's
# own warning threshold, so this limit is the one a user meets.
MAX_IMAGE_PIXELS = 8192 * 8192
PNG_GREY = 0  # the IHDR colour type of a grey PNG without alpha


class RefusedImageError(ValueError):
    """A readable image file that DATA-8 refuses (format, size, mode, transparency)."""


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
    if channels not in CHANNELS:
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    if size is not None:
        require_int_at_least("size", size, 1)
    files, labels, class_names = _find_images(root)
    images = [_read_image(file, channels, size) for file in files]
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
    if channels not in CHANNELS:
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"image file {file} does not exist")
    image = _read_image(file, channels, None).transpose(2, 0, 1)
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


def _read_image(file: Path, channels: int, size: int | None) -> np.ndarray:
    """(H, W, channels) uint8 by DATA-8; with ``size``, centre-square-cropped and resized."""
    pixels = _to_channels(_decode(file), channels)
    if size is None:
        return pixels
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize(
        (size, size), Image.Resampling.BICUBIC
    )
    return np.asarray(image, dtype=np.uint8).reshape(size, size, channels)


def _decode(file: Path) -> np.ndarray:
    """The file's pixels as (H, W, 1) grey or (H, W, 3) RGB uint8 (DATA-8), or a ValueError
    naming the file and why it is refused."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as opened:
                _require_supported(file, opened)
                pixels = _pixels(file, opened)  # decodes the whole file: truncation shows here
                # Pillow pads with black a PNG whose data ends cleanly after too few rows.
                short = missing_png_data(file) if opened.format == "PNG" else None
                if short:
                    raise RefusedImageError(f"{file}: {short}")
                return pixels
    except RefusedImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise RefusedImageError(f"{file}: refused as a decompression bomb: images may have at "
                                f"most {MAX_IMAGE_PIXELS} pixels ({error})") from error
    # What Pillow raises on bytes it cannot parse; the file is untrusted input, not our bug.
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError, ValueError,
            struct.error, zlib.error) as error:
        raise ValueError(f"{file}: not a readable PNG/JPEG image ({error})") from error


def _require_supported(file: Path, image: Image.Image) -> None:
    """Refuse, before decoding, what DATA-8 does not read: other formats, bombs, 16-bit colour."""
    if image.format not in ("PNG", "JPEG"):
        raise RefusedImageError(f"{file}: is a {image.format} file, not a PNG/JPEG image")
    if image.width * image.height > MAX_IMAGE_PIXELS:
        raise RefusedImageError(f"{file}: {image.width}x{image.height} is too large: images may "
                                f"have at most {MAX_IMAGE_PIXELS} pixels (a decompression bomb?)")
    if image.format == "PNG":
        with file.open("rb") as stream:  # Pillow opened it: the IHDR is there, after 16 bytes
            bit_depth, colour_type = stream.read(26)[24:26]
        if bit_depth == 16 and colour_type != PNG_GREY:
            raise RefusedImageError(
                f"{file}: 16-bit colour PNGs are not supported (Pillow would keep only the high "
                f"byte of each sample); save it with 8 bits per sample")


def _pixels(file: Path, image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):  # a 16-bit grey PNG (older Pillow says "I")
        values = np.asarray(image).astype(np.int64)
        _require_opaque(file, values == image.info.get("transparency", -1))
        # DATA-8: v8 = round(v16 · 255/65535) = ⌊(v16 + 128)/257⌋ (exact: there are no ties).
        return ((values + 128) // 257).astype(np.uint8)[..., np.newaxis]
    if mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
        raise RefusedImageError(f"{file}: images of mode {mode} are not supported (expected "
                                f"grey, RGB, palette or 16-bit grey; convert it to RGB first)")
    grey = mode in ("1", "L", "LA")
    if "A" not in mode and "transparency" not in image.info:
        return np.asarray(image.convert("L" if grey else "RGB")).reshape(
            image.height, image.width, -1)
    with_alpha = np.asarray(image.convert("LA" if grey else "RGBA"))
    _require_opaque(file, with_alpha[..., -1] != 255)
    return with_alpha[..., :-1]


def _require_opaque(file: Path, transparent: np.ndarray) -> None:
    if np.any(transparent):
        raise RefusedImageError(f"{file}: has {int(np.sum(transparent))} transparent pixel(s); "
                                f"flatten it onto a background first (its alpha would be lost)")


def _to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """Grey is repeated into R, G, B; RGB becomes ITU-R 601 luma ⌊(299R + 587G + 114B + 500)/1000⌋
    (Pillow's fixed-point luma is 1 off from this for 9,040 of the 2²⁴ colours)."""
    if pixels.shape[-1] == channels:
        return pixels
    if channels == 3:
        return np.repeat(pixels, 3, axis=-1)
    weights = np.array([299, 587, 114], dtype=np.int64)
    return ((pixels.astype(np.int64) @ weights + 500) // 1000).astype(np.uint8)[..., np.newaxis]


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"
