"""Laws IMG-1 … IMG-4 (specs/images.md)."""

import math
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specdiff import typecheck
from specdiff.spec import encode_ppm, quantize_uint8, read_ppm, write_ppm
from specdiff.testing import NCHWShape, nchw_shapes, unbounded_batches

HALF_STEP = 0.5 / 127.5


@pytest.mark.spec("IMG-1")
@given(hnp.arrays(np.float64, st.integers(1, 64), elements=st.floats(-3.0, 3.0)))
def test_quantization_is_the_rounded_affine_map(x: np.ndarray) -> None:
    v = quantize_uint8(x)
    assert v.dtype == np.uint8
    clipped = np.clip(x, -1.0, 1.0)
    assert np.all(np.abs(v / 127.5 - 1.0 - clipped) <= HALF_STEP + 1e-12)
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(v[order].astype(int)) >= 0)


def quantized_by_the_law(x: float) -> int:
    """IMG-1 as written, in exact rational arithmetic (every float is a rational)."""
    clipped = min(max(Fraction(x), Fraction(-1)), Fraction(1))
    return math.floor((clipped + 1) * Fraction(255, 2) + Fraction(1, 2))


def floats_around(value: float, count: int) -> list[float]:
    """``value`` and the ``count`` floats on either side of it."""
    below, above, around = value, value, [value]
    for _ in range(count):
        below, above = float(np.nextafter(below, -math.inf)), float(np.nextafter(above, math.inf))
        around += [below, above]
    return around


@pytest.mark.spec("IMG-1")
def test_quantization_breaks_ties_up_and_is_exact_next_to_every_midpoint() -> None:
    # The one exact tie of the law on [−1, 1]: (0 + 1)·127.5 + 0.5 = 128 = ⌊128⌋, not 127.
    assert quantized_by_the_law(0.0) == 128
    assert quantize_uint8(np.array([0.0, -0.0])).tolist() == [128, 128]
    # Every other midpoint (2k + 1)/255 − 1 between grid values is not a float: the floats next
    # to it lie strictly on one side, and the law says which grid value each is nearest to. A
    # float64 evaluation of (x + 1)·127.5 rounds many of them onto k + 0.5 exactly and then
    # breaks that tie (up, to even, …): off by one against the law.
    inputs = [x for k in range(255) for x in floats_around((2 * k + 1) / 255 - 1, 4)]
    expected = [quantized_by_the_law(x) for x in inputs]
    actual = quantize_uint8(np.array(inputs)).tolist()
    wrong = [(x, e, a) for x, e, a in zip(inputs, expected, actual, strict=True) if e != a]
    assert not wrong, f"{len(wrong)} of {len(inputs)} off, e.g. (x, law, actual) {wrong[:3]}"


@pytest.mark.spec("IMG-1")
@given(st.one_of(st.floats(-1.5, 1.5), st.floats(-1e-300, 1e-300)))
def test_quantization_is_the_law_in_exact_arithmetic(x: float) -> None:
    assert int(quantize_uint8(np.array(x))) == quantized_by_the_law(x)


@pytest.mark.spec("IMG-1")
def test_quantization_endpoints_and_grid_inverse() -> None:
    assert quantize_uint8(np.array([-1.0, 1.0, -7.0, 7.0])).tolist() == [0, 255, 0, 255]
    grid = np.arange(256)
    np.testing.assert_array_equal(quantize_uint8(grid / 127.5 - 1.0), grid)


@pytest.mark.spec("IMG-1")
def test_quantization_rejects_non_finite() -> None:
    with pytest.raises(ValueError, match=r"^x must be finite"):
        quantize_uint8(np.array([0.0, np.nan]))


def _parse(text: str) -> tuple[list[str], list[list[int]]]:
    lines = text.split("\n")
    return lines[:3], [[int(v) for v in line.split(" ")] for line in lines[3:-1]]


@pytest.mark.spec("IMG-2")
@given(st.data(), nchw_shapes(channels=(1, 3)))
def test_ppm_text_is_the_header_then_one_line_per_row_of_the_first_image(
    data: st.DataObject, shape: NCHWShape
) -> None:
    x = data.draw(unbounded_batches(tuple(shape), bound=1.5))
    text = encode_ppm(x)
    header, rows = _parse(text)
    assert header == ["P3", f"{shape.width} {shape.height}", "255"]
    assert text.endswith("\n") and len(rows) == shape.height
    first = quantize_uint8(x[0])
    for i, row in enumerate(rows):
        assert len(row) == 3 * shape.width
        for j in range(shape.width):
            expected = [int(first[0 if shape.channels == 1 else c, i, j]) for c in range(3)]
            assert row[3 * j: 3 * j + 3] == expected


@pytest.mark.spec("IMG-2")
@pytest.mark.parametrize("checks", [True, False], ids=["checks-on", "checks-off"])
@pytest.mark.parametrize("shape", [(0, 3, 2, 2), (0, 1, 0, 0), (1, 3, 0, 2), (2, 1, 2, 0)])
def test_an_empty_batch_or_image_is_a_value_error(shape: tuple[int, ...], checks: bool) -> None:
    with typecheck(checks), pytest.raises(ValueError, match=r"^x must hold at least one image"):
        encode_ppm(np.zeros(shape))


@pytest.mark.spec("IMG-3")
@given(st.data(), nchw_shapes(channels=(1, 3)))
def test_ppm_round_trip_is_exact_on_the_grid(data: st.DataObject, shape: NCHWShape,
                                             ) -> None:
    x = data.draw(unbounded_batches(tuple(shape), bound=1.5))
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"specdiff-roundtrip-{os.getpid()}.ppm"
    try:
        write_ppm(path, x)
        back = read_ppm(path)
    finally:
        path.unlink(missing_ok=True)
    assert back.shape == (1, 3, shape.height, shape.width)
    expected = np.broadcast_to(quantize_uint8(x[:1]) / 127.5 - 1.0, back.shape)
    np.testing.assert_array_equal(back, expected)
    assert np.all(np.abs(back - np.clip(x[:1], -1, 1)) <= HALF_STEP + 1e-12)


@pytest.mark.spec("IMG-3")
def test_read_ppm_accepts_comments(tmp_path: Path) -> None:
    path = tmp_path / "c.ppm"
    path.write_text("P3\n# made by hand\n1 1\n255\n0 255 # a comment\n 128\n", encoding="ascii")
    np.testing.assert_array_equal(read_ppm(path)[0, :, 0, 0], [-1.0, 1.0, 128 / 127.5 - 1.0])


@pytest.mark.spec("IMG-3")
@pytest.mark.parametrize(
    ("content", "message"),
    [("P6\n1 1\n255\n0 0 0\n", "P3"), ("P3\n1 1\n65535\n0 0 0\n", "max value"),
     ("P3\n2 1\n255\n0 0 0\n", "truncated"), ("P3\n1 1\n255\n0 0 256\n", r"\[0, 255\]"),
     ("P3\n1 1\n255\n0 x 0\n", "integers"), ("P3\n", "header")],
)
def test_read_ppm_rejects_malformed_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.ppm"
    path.write_text(content, encoding="ascii")
    with pytest.raises(ValueError, match=message):
        read_ppm(path)


@pytest.mark.spec("IMG-4")
@pytest.mark.parametrize(
    "bad",
    [np.full((1, 3, 2, 2), np.nan), np.zeros((1, 2, 2, 2)), np.zeros((1, 4, 2, 2)),
     np.zeros((0, 3, 2, 2)), np.zeros((1, 3, 0, 2))],
)
def test_bad_input_writes_nothing_and_keeps_the_old_file(tmp_path: Path, bad: np.ndarray) -> None:
    path = tmp_path / "keep.ppm"
    write_ppm(path, np.zeros((1, 3, 1, 1)))
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_ppm(path, bad)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.ppm"]


@pytest.mark.spec("IMG-4")
def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keep.ppm"
    write_ppm(path, np.zeros((1, 3, 2, 2)))
    before = path.read_bytes()

    def crash(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        write_ppm(path, np.ones((1, 3, 2, 2)))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.ppm"]
