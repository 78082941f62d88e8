"""DATA-8: a PNG whose image data holds fewer rows than its header says is refused."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from specdiff.data import load_image
from specdiff.data.png_rows import expected_data_bytes


def _png(width: int, height: int, bit_depth: int, colour_type: int, data: bytes,
         interlaced: bool = False) -> bytes:
    """A PNG written chunk by chunk: IHDR, one IDAT holding zlib(data), IEND."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, int(interlaced))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(data))
            + chunk(b"IEND", b""))


def _inflated_image_data(png: bytes) -> int:
    """The IDAT chunks of a PNG file, concatenated and inflated: their length."""
    offset, compressed = 8, b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        if png[offset + 4 : offset + 8] == b"IDAT":
            compressed += png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return len(zlib.decompress(compressed))


@pytest.mark.spec("DATA-8")
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "I;16"]),
       width=st.integers(1, 20), height=st.integers(1, 5))
def test_expected_bytes_are_what_pillow_writes(tmp_path_factory: pytest.TempPathFactory,
                                               mode: str, width: int, height: int) -> None:
    path = tmp_path_factory.mktemp("png") / "image.png"
    Image.new(mode, (width, height)).save(path)
    png = path.read_bytes()
    depth, colour_type = png[24], png[25]
    assert expected_data_bytes(width, height, depth, colour_type, False) == \
        _inflated_image_data(png)


# A 3×3 grey Adam7 image: passes 1, 4, 5, 6, 7 hold 1, 1, 2 (2×1), 2 (1×2) and 3 (3×1) pixels,
# each row with a filter byte: 2 + 2 + 3 + 2·2 + 4 = 15 bytes. Pixel (row, column) is 10·row +
# column, stored pass by pass.
ADAM7_3X3 = bytes([0, 0,  0, 2,  0, 20, 22,  0, 1,  0, 21,  0, 10, 11, 12])


@pytest.mark.spec("DATA-8")
def test_an_interlaced_png_is_read_whole_and_one_byte_short_is_refused(tmp_path: Path) -> None:
    assert expected_data_bytes(3, 3, 8, 0, True) == len(ADAM7_3X3)
    (tmp_path / "whole.png").write_bytes(_png(3, 3, 8, 0, ADAM7_3X3, interlaced=True))
    expected = 10 * np.arange(3)[:, np.newaxis] + np.arange(3)
    np.testing.assert_array_equal(load_image(tmp_path / "whole.png", 1)[0, 0], expected)
    (tmp_path / "short.png").write_bytes(_png(3, 3, 8, 0, ADAM7_3X3[:-1], interlaced=True))
    with pytest.raises(ValueError, match=r"short.png: .*truncated"):
        load_image(tmp_path / "short.png", 1)


@pytest.mark.spec("DATA-8")
@pytest.mark.parametrize(("rows", "colour_type", "samples"), [(0, 0, 1), (1, 0, 1), (3, 2, 3)])
def test_a_png_with_fewer_rows_than_its_header_is_refused(tmp_path: Path, rows: int,
                                                          colour_type: int,
                                                          samples: int) -> None:
    # A complete zlib stream of `rows` rows under a header of 4: Pillow notices some such files
    # and fills the missing rows of others with 0; either way the file must be refused.
    data = (b"\x00" + bytes([200] * 4 * samples)) * rows
    (tmp_path / "short.png").write_bytes(_png(4, 4, 8, colour_type, data))
    with pytest.raises(ValueError, match=r"short.png: .*truncated"):
        load_image(tmp_path / "short.png")
