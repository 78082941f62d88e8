"""Does a PNG's image data hold every row its header promises? (DATA-8)

Pillow decodes a PNG whose compressed data ends cleanly after fewer rows than the header's
height and fills the missing rows with black, without a word. This module counts the bytes.
"""

import math
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Samples per pixel of each PNG colour type: grey, RGB, palette, grey + alpha, RGBA.
SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7 passes: (first column, first row, column step, row step).
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2))


def expected_data_bytes(width: int, height: int, bit_depth: int, colour_type: int,
                        interlaced: bool) -> int:
    """The length of the decompressed image data: per row one filter byte and
    ⌈width·samples·bit_depth/8⌉ bytes; an Adam7 image is its seven passes' sub-images."""
    bits_per_pixel = SAMPLES[colour_type] * bit_depth
    passes = ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for column, row, column_step, row_step in passes:
        columns = math.ceil(max(width - column, 0) / column_step)
        rows = math.ceil(max(height - row, 0) / row_step)
        if columns and rows:
            total += rows * (1 + math.ceil(columns * bits_per_pixel / 8))
    return total


def missing_png_data(file: Path) -> str | None:
    """Why ``file``'s image data is shorter than its header says, or None when it is whole."""
    data = file.read_bytes()
    width, height, bit_depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB",
                                                                          data[16:29])
    expected = expected_data_bytes(width, height, bit_depth, colour_type, interlace == 1)
    found = _inflated_length(_image_data_chunks(data), expected)
    if found < expected:
        return (f"its image data ends after {found} of the {expected} bytes its "
                f"{width}x{height} header promises (truncated)")
    return None


def _image_data_chunks(data: bytes) -> Iterator[bytes]:
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"IEND":
            return
        if kind == b"IDAT":
            yield data[offset + 8 : offset + 8 + length]
        offset += 12 + length  # length, type, data, CRC


def _inflated_length(chunks: Iterator[bytes], enough: int) -> int:
    """How many bytes the zlib stream split over ``chunks`` inflates to, counted a megabyte at a
    time and no further than ``enough`` + 1 (the data is counted, never held whole)."""
    decompressor, total = zlib.decompressobj(), 0
    for chunk in chunks:
        pending = chunk
        while pending and total <= enough:
            total += len(decompressor.decompress(pending, 2**20))
            pending = decompressor.unconsumed_tail
        if total > enough:
            break
    return total
