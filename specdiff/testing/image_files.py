"""Hypothesis strategies for image files of every Pillow mode, in every container that holds it.

An image loader must read each such file by its documented law or refuse it clearly; these
strategies draw the files a hostile or careless user might hand it (a 16-bit grey PNG, a CMYK
JPEG, a palette PNG with a transparent entry, a TIFF named ``.png``, ...).
"""

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hypothesis import strategies as st
from PIL import Image

# Every mode Pillow can build from raw bytes; some are held by no file format at all.
PILLOW_MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr",
                "LAB", "HSV", "I", "I;16", "I;16B", "I;16L", "F")
CONTAINERS = ("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP", "PPM")
# Modes whose PNG file may carry a tRNS chunk: one transparent grey value, colour or index.
TRANSPARENCY_MODES = ("L", "RGB", "P", "I;16")


@dataclass(frozen=True)
class ImageFile:
    """``source`` (its ``info`` may hold "transparency") saved as ``container`` at ``path``."""

    source: Image.Image
    container: str
    path: Path


@cache
def containers_for(mode: str) -> tuple[str, ...]:
    """The CONTAINERS Pillow can write an image of ``mode`` to and read back."""
    found = []
    for container in CONTAINERS:
        try:
            stream = io.BytesIO()
            Image.new(mode, (2, 2)).save(stream, format=container)
            stream.seek(0)
            Image.open(stream).load()
        except (OSError, ValueError, KeyError):
            continue
        found.append(container)
    return tuple(found)


@st.composite
def pil_images(draw: st.DrawFn, modes: tuple[str, ...] = PILLOW_MODES, max_side: int = 5
               ) -> Image.Image:
    """An image of a drawn mode and size (1..max_side each way) from drawn raw bytes; a "P"
    image gets a drawn 256-colour palette."""
    mode = draw(st.sampled_from(modes))
    size = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    length = len(Image.new(mode, size).tobytes())
    image = Image.frombytes(mode, size, draw(st.binary(min_size=length, max_size=length)))
    if mode == "P":
        image.putpalette(draw(st.binary(min_size=768, max_size=768)))
    return image


@st.composite
def image_files(draw: st.DrawFn, folder: Path, suffixes: tuple[str, ...] = (".png", ".jpg")
                ) -> ImageFile:
    """A pil_images() image saved in a container that holds its mode, under a name with one of
    ``suffixes`` (so a TIFF may be named ``.png``); a PNG of a TRANSPARENCY_MODES image may mark
    one drawn value transparent."""
    source = draw(pil_images().filter(lambda image: bool(containers_for(image.mode))))
    container = draw(st.sampled_from(containers_for(source.mode)))
    if container == "PNG" and source.mode in TRANSPARENCY_MODES and draw(st.booleans()):
        source.info["transparency"] = draw(_transparent_values(source))
    path = folder / f"image{draw(st.sampled_from(suffixes))}"
    source.save(path, format=container)
    return ImageFile(source, container, path)


def _transparent_values(image: Image.Image) -> st.SearchStrategy[object]:
    """A pixel's own value (so the file has a transparent pixel) or any value of the mode."""
    band = st.integers(0, 65535) if image.mode == "I;16" else st.integers(0, 255)
    any_value = st.tuples(band, band, band) if image.mode == "RGB" else band
    pixel = st.builds(lambda x, y: image.getpixel((x, y)),
                      st.integers(0, image.width - 1), st.integers(0, image.height - 1))
    return st.one_of(pixel, any_value)
