"""assert_close_to_spec applies the tolerance policy of specs/README.md: it passes just inside
each row's bound and raises just outside it. The rows are typed here as the README states them,
not read from the module, so a changed table or bound formula fails these tests."""

import numpy as np
import pytest
import torch

from specdiff.testing import assert_close_to_spec

# specs/README.md, "Tolerance policy": rtol = atol = the entry; kinds in the table's order.
KINDS = ("elementwise", "reduction", "conv", "network")
README_TABLE = {
    "float64": (1e-12, 1e-12, 1e-12, 1e-10),
    "float32": (1e-5, 1e-5, 1e-4, 1e-3),
    "float16": (4e-3, 1e-2, 2e-2, 5e-2),
    "bfloat16": (2e-2, 4e-2, 8e-2, 1.5e-1),
}
ROWS = [(dtype, kind, entry) for dtype, entries in README_TABLE.items()
        for kind, entry in zip(KINDS, entries, strict=True)]
EXPECTED = np.array([0.0, 0.5, -3.0, 8.0])


def readme_bound(entry: float, kind: str, scale: np.ndarray | float | None) -> np.ndarray:
    """|a − e| ≤ rtol·|e| + atol·scale, scale 1 (elementwise) or max(1, max|e|) by default."""
    if scale is None:
        scale = 1.0 if kind == "elementwise" else max(1.0, float(np.abs(EXPECTED).max()))
    return np.asarray(entry * np.abs(EXPECTED) + entry * np.asarray(scale))


@pytest.mark.parametrize(("dtype", "kind", "entry"), ROWS)
@pytest.mark.parametrize("scale", [None, 3.0, np.array([1.0, 2.0, 5.0, 0.5])],
                         ids=["default-scale", "scalar-scale", "array-scale"])
def test_passes_just_inside_and_raises_just_outside_each_row(
    dtype: str, kind: str, entry: float, scale: np.ndarray | float | None
) -> None:
    bound = readme_bound(entry, kind, scale)
    signs = np.array([1.0, -1.0, 1.0, -1.0])
    assert_close_to_spec(EXPECTED + 0.99 * signs * bound, EXPECTED, kind,  # type: ignore[arg-type]
                         scale=scale, dtype=dtype)
    for index in range(EXPECTED.size):
        outside = EXPECTED.copy()
        outside[index] += 1.01 * signs[index] * bound[index]
        with pytest.raises(AssertionError, match=f"not within the {kind} tolerance"):
            assert_close_to_spec(outside, EXPECTED, kind, scale=scale,  # type: ignore[arg-type]
                                 dtype=dtype)


@pytest.mark.parametrize(("torch_dtype", "entry"),
                         [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_the_row_is_the_actual_values_dtype(torch_dtype: torch.dtype, entry: float) -> None:
    expected = np.array([1.0, -2.0])
    actual = torch.tensor(expected, dtype=torch_dtype)
    assert_close_to_spec(actual, expected, "elementwise")
    # Outside the float64 row (2e-12 at |e| = 1) but inside the float32 one (2e-5).
    shifted = torch.tensor(expected + np.array([3e-6, 0.0]), dtype=torch_dtype)
    if torch_dtype == torch.float64:
        with pytest.raises(AssertionError):
            assert_close_to_spec(shifted, expected, "elementwise")
    else:
        assert_close_to_spec(shifted, expected, "elementwise")
    with pytest.raises(AssertionError, match="NaN/inf"):
        assert_close_to_spec(torch.tensor([np.nan, -2.0], dtype=torch_dtype), expected,
                             "elementwise")
    with pytest.raises(AssertionError, match="shape mismatch"):
        assert_close_to_spec(actual[:1], expected, "elementwise")


def test_unknown_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        assert_close_to_spec(EXPECTED, EXPECTED, "pointwise")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype must be one of"):
        assert_close_to_spec(EXPECTED, EXPECTED, "elementwise", dtype="float8")
