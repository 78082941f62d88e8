"""DATA-8: any folder of PNG/JPEG images, with class subfolders as labels."""

import math
import re
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from specdiff.data import load_image, load_image_folder
from specdiff.testing import write_png
from specdiff.testing.image_files import ImageFile, image_files


def _random_rgb(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.spec("DATA-8")
@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6),
                                      st.just(3))))
def test_unlabeled_png_pixels_are_read_back_exactly_in_nchw(
    tmp_path_factory: pytest.TempPathFactory, images: np.ndarray
) -> None:
    folder = tmp_path_factory.mktemp("images")
    for index, image in enumerate(images):
        write_png(folder / f"{index:03d}.png", image)
    dataset = load_image_folder(folder)
    assert not dataset.has_labels
    np.testing.assert_array_equal(dataset.images.numpy(), images.transpose(0, 3, 1, 2))


@pytest.mark.spec("DATA-8")
def test_class_subfolders_become_labels_in_sorted_order(tmp_path: Path) -> None:
    write_png(tmp_path / "dog" / "b.png", _random_rgb(0, 4, 4))
    write_png(tmp_path / "cat" / "x.PNG", _random_rgb(1, 4, 4))
    write_png(tmp_path / "dog" / "a.png", _random_rgb(2, 4, 4))
    (tmp_path / "notes.txt").write_text("not an image")
    dataset = load_image_folder(tmp_path)
    assert dataset.class_names == ("cat", "dog")
    assert dataset.labels.tolist() == [0, 1, 1]
    np.testing.assert_array_equal(dataset.images[1].numpy(),
                                  _random_rgb(2, 4, 4).transpose(2, 0, 1))


@pytest.mark.spec("DATA-8")
def test_grey_conversion_and_jpeg(tmp_path: Path) -> None:
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    write_png(tmp_path / "grey.png", grey)
    Image.fromarray(_random_rgb(0, 8, 8)).save(tmp_path / "photo.jpg", quality=95)
    dataset = load_image_folder(tmp_path, channels=1)
    assert dataset.images.shape == (2, 1, 8, 8)
    np.testing.assert_array_equal(dataset.images[0, 0].numpy(), grey)
    assert load_image_folder(tmp_path, channels=3).images.shape == (2, 3, 8, 8)


@pytest.mark.spec("DATA-8")
def test_mixed_sizes_are_rejected_unless_a_size_is_given(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", _random_rgb(0, 4, 6))
    write_png(tmp_path / "b.png", _random_rgb(1, 5, 5))
    with pytest.raises(ValueError, match=r"different sizes .*a.png: 6x4, .*b.png: 5x5.*size="):
        load_image_folder(tmp_path)
    resized = load_image_folder(tmp_path, size=3)
    assert resized.images.shape == (2, 3, 3, 3)
    # Centre square crop: columns 1..4 of the 4x6 image, then resize 4x4 → 3x3.
    expected = np.asarray(Image.fromarray(_random_rgb(0, 4, 6)).crop((1, 0, 5, 4))
                          .resize((3, 3), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(resized.images[0].numpy(), expected.transpose(2, 0, 1))


@pytest.mark.spec("DATA-8")
def test_folder_errors_name_the_path_and_the_expectation(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images"):
        load_image_folder(tmp_path)
    write_png(tmp_path / "top.png", _random_rgb(0, 4, 4))
    write_png(tmp_path / "cls" / "inner.png", _random_rgb(1, 4, 4))
    with pytest.raises(ValueError, match="both directly inside and in subfolders"):
        load_image_folder(tmp_path)
    with pytest.raises(ValueError, match=r"channels must be 1 .* or 3"):
        load_image_folder(tmp_path / "cls", channels=4)


@pytest.mark.spec("DATA-8")
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_or_corrupt_image_is_rejected(tmp_path: Path, suffix: str) -> None:
    Image.fromarray(_random_rgb(0, 32, 32)).save(tmp_path / f"a{suffix}")
    data = (tmp_path / f"a{suffix}").read_bytes()
    (tmp_path / f"a{suffix}").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"a\{suffix}: not a readable PNG/JPEG"):
        load_image_folder(tmp_path)
    (tmp_path / f"a{suffix}").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable"):
        load_image_folder(tmp_path)


# --- every Pillow mode, 16-bit grey, bombs: read by the law or refused (DATA-8) ---------------

def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma rounded half up: ⌊(299 R + 587 G + 114 B + 500) / 1000⌋."""
    r, g, b = (rgb[..., index].astype(np.int64) for index in range(3))
    return ((299 * r + 587 * g + 114 * b + 500) // 1000).astype(np.uint8)


def _transparent(source: Image.Image, values: np.ndarray) -> np.ndarray:
    """Where the source's tRNS value (grey, RGB triple or palette index) occurs."""
    if "transparency" not in source.info:
        return np.zeros(values.shape[:2], dtype=bool)
    key = np.asarray(source.info["transparency"])
    return (values == key).all(axis=-1) if values.ndim == 3 else values == key


def _expected_native(file: ImageFile) -> np.ndarray | str:
    """DATA-8 from the source pixels: (H, W, 1) grey or (H, W, 3) RGB uint8, or the pattern of
    the refusal's reason."""
    source, mode = file.source, file.source.mode
    if file.container not in ("PNG", "JPEG"):
        return rf"is a {file.container} file, not a PNG/JPEG"
    if file.container == "JPEG":  # lossy: the decoded pixels are the JPEG decoder's
        if mode == "CMYK":
            return "CMYK"
        decoded = np.asarray(Image.open(file.path))
        return decoded.reshape(*decoded.shape[:2], -1)
    if mode in ("I;16", "I;16B"):
        values = np.asarray(source).astype(np.int64)
        native = np.array([[round(Fraction(int(v) * 255, 65535)) for v in row] for row in values])
    elif mode == "P":
        values = np.asarray(source)
        native = np.asarray(source.getpalette("RGB")).reshape(-1, 3)[values]
    elif mode == "1":
        values = np.asarray(source)
        native = 255 * values.astype(np.int64)
    else:  # L, LA, RGB, RGBA
        values = np.asarray(source)
        native = values[..., :-1] if mode in ("LA", "RGBA") else values
        if mode in ("LA", "RGBA") and (values[..., -1] != 255).any():
            return "transparent"
    if _transparent(source, values).any():
        return "transparent"
    return native.reshape(*values.shape[:2], -1).astype(np.uint8)


@pytest.mark.spec("DATA-8")
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), channels=st.sampled_from([1, 3]))
def test_every_pillow_mode_is_read_by_the_law_or_refused_naming_the_file(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, channels: int
) -> None:
    folder = tmp_path_factory.mktemp("modes")
    file = data.draw(image_files(folder), label="file")
    native = _expected_native(file)
    if isinstance(native, str):
        with pytest.raises(ValueError, match=rf"{re.escape(str(file.path))}: .*{native}"):
            load_image(file.path, channels)
        with pytest.raises(ValueError, match=native):
            load_image_folder(folder, channels=channels)
        return
    if channels == 1 and native.shape[-1] == 3:
        expected = _luma(native)[..., np.newaxis]
    else:
        expected = np.broadcast_to(native, (*native.shape[:2], channels))
    batch = load_image(file.path, channels)
    np.testing.assert_array_equal(batch, expected.transpose(2, 0, 1)[np.newaxis])
    np.testing.assert_array_equal(load_image_folder(folder, channels=channels).images.numpy(),
                                  batch)


@pytest.mark.spec("DATA-8")
@given(st.lists(st.integers(0, 65535), min_size=1, max_size=64)
       | st.just([0, 128, 129, 385, 386, 65406, 65407, 65535]))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_16_bit_grey_png_is_scaled_to_8_bits_with_rounding(
    tmp_path_factory: pytest.TempPathFactory, values: list[int]
) -> None:
    # v8 = round(v16 · 255 / 65535); never a tie. 128 ↦ 0 (0.498), 129 ↦ 1 (0.502), 65535 ↦ 255.
    path = tmp_path_factory.mktemp("grey16") / "deep.png"
    Image.frombytes("I;16", (len(values), 1), np.array(values, "<u2").tobytes()).save(path)
    expected = [round(Fraction(value * 255, 65535)) for value in values]
    assert load_image(path, 1)[0, 0, 0].tolist() == expected
    assert load_image(path, 3)[0, :, 0].tolist() == [expected] * 3


def _png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG written chunk by chunk, for the layouts Pillow cannot write."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.mark.spec("DATA-8")
@pytest.mark.parametrize(("colour_type", "samples"), [(2, 3), (4, 2), (6, 4)])
def test_16_bit_colour_png_is_refused(tmp_path: Path, colour_type: int, samples: int) -> None:
    # Pillow keeps only the high byte of each 16-bit sample: that is not the law's rounding.
    row = b"\x00" + struct.pack(f">{samples}H", *[0x80FF] * samples)
    (tmp_path / "deep.png").write_bytes(_png(1, 1, 16, colour_type, row))
    with pytest.raises(ValueError, match=r"deep.png: .*16-bit colour"):
        load_image(tmp_path / "deep.png")


@pytest.mark.spec("DATA-8")
@pytest.mark.parametrize("side", [8193, 20_000, 100_000])
def test_decompression_bombs_are_refused_before_decoding(tmp_path: Path, side: int) -> None:
    # A header claiming side × side pixels over a one-row IDAT: decoding it would need
    # gigabytes; the size alone must refuse it (8193² is just above MAX_IMAGE_PIXELS = 8192²,
    # 20 000² trips Pillow's own bomb error first).
    (tmp_path / "bomb.png").write_bytes(_png(side, side, 8, 0, b"\x00" * (side + 1)))
    with pytest.raises(ValueError, match=r"bomb.png: .*at most 67108864 pixels"):
        load_image(tmp_path / "bomb.png")
    with pytest.raises(ValueError, match="at most 67108864 pixels"):
        load_image_folder(tmp_path)


@pytest.mark.spec("DATA-8")
@given(st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=1, max_size=16)
       | st.just([(0, 0, 250), (0, 4, 168), (255, 255, 255), (255, 0, 0)]))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_rgb_becomes_grey_by_601_luma_rounded_half_up(
    tmp_path_factory: pytest.TempPathFactory, colours: list[tuple[int, int, int]]
) -> None:
    # (0, 0, 250) has luma exactly 28.5: half up gives 29 (Pillow's fixed point gives 28).
    path = tmp_path_factory.mktemp("luma") / "colours.png"
    write_png(path, np.array([colours]))
    expected = [math.floor(Fraction(299 * r + 587 * g + 114 * b, 1000) + Fraction(1, 2))
                for r, g, b in colours]
    assert load_image(path, 1)[0, 0, 0].tolist() == expected
