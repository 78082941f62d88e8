"""The tolerance policy of specs/README.md, in one table, and the assertion that applies it.

An implementation value ``a`` matches the spec value ``e`` when, element by element,

    |a − e| ≤ rtol·|e| + atol·scale

where (rtol, atol) come from the table by the implementation's dtype and the kind of function,
and ``scale`` is the magnitude of the terms the law adds up: 1 for elementwise laws unless the
caller derives a larger one (e.g. an amplification 1/√ᾱ), and max(1, max|e|) for reductions,
convolutions and networks, whose rounding grows with their outputs.
"""

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Kind = Literal["elementwise", "reduction", "conv", "network"]
KINDS: tuple[Kind, ...] = ("elementwise", "reduction", "conv", "network")


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float


# Rows: the implementation's dtype (the spec is always float64). Unit roundoff u: float64 1.1e-16,
# float32 6.0e-8, float16 4.9e-4, bfloat16 3.9e-3. Bounds leave room for O(10–100) roundings per
# output in elementwise laws and O(√fan-in) growth in convolutions.
POLICY: dict[str, dict[Kind, Tolerance]] = {
    "float64": {
        "elementwise": Tolerance(1e-12, 1e-12),
        "reduction": Tolerance(1e-12, 1e-12),
        "conv": Tolerance(1e-12, 1e-12),
        "network": Tolerance(1e-10, 1e-10),
    },
    "float32": {
        "elementwise": Tolerance(1e-5, 1e-5),
        "reduction": Tolerance(1e-5, 1e-5),
        "conv": Tolerance(1e-4, 1e-4),
        "network": Tolerance(1e-3, 1e-3),
    },
    "float16": {
        "elementwise": Tolerance(4e-3, 4e-3),
        "reduction": Tolerance(1e-2, 1e-2),
        "conv": Tolerance(2e-2, 2e-2),
        "network": Tolerance(5e-2, 5e-2),
    },
    "bfloat16": {
        "elementwise": Tolerance(2e-2, 2e-2),
        "reduction": Tolerance(4e-2, 4e-2),
        "conv": Tolerance(8e-2, 8e-2),
        "network": Tolerance(1.5e-1, 1.5e-1),
    },
}


def tolerance_for(dtype: str, kind: Kind) -> Tolerance:
    """The policy's bound for an implementation computing in ``dtype`` (e.g. "float32")."""
    if dtype not in POLICY:
        raise ValueError(f"dtype must be one of {sorted(POLICY)}, got {dtype!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return POLICY[dtype][kind]


def _dtype_name(value: Any) -> str:
    dtype = getattr(value, "dtype", None)
    name = str(dtype).removeprefix("torch.") if dtype is not None else "float64"
    return name if name in POLICY else "float64"


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; imported lazily so spec users need no torch
        value = value.detach().to("cpu")
        if str(value.dtype) in ("torch.bfloat16", "torch.float16"):
            value = value.float()
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)


def assert_close_to_spec(
    actual: Any,
    expected: Any,
    kind: Kind,
    *,
    scale: Any = None,
    dtype: str | None = None,
) -> None:
    """Assert ``actual`` (numpy or torch, any float dtype) matches the float64 spec value.

    ``dtype`` defaults to ``actual``'s; ``scale`` (scalar or broadcastable array) defaults per
    kind as described in the module docstring. On failure the message names the shapes, how many
    elements are off, and the worst one with its index, values and bound.
    """
    tolerance = tolerance_for(dtype or _dtype_name(actual), kind)
    actual_array, expected_array = _to_numpy(actual), _to_numpy(expected)
    if actual_array.shape != expected_array.shape:
        raise AssertionError(
            f"shape mismatch: actual {actual_array.shape} vs spec {expected_array.shape}"
        )
    if not np.all(np.isfinite(actual_array)):
        raise AssertionError(f"actual has NaN/inf where the spec is {expected_array.ravel()[:4]}")
    if scale is None:
        scale = 1.0 if kind == "elementwise" else max(1.0, float(np.max(np.abs(expected_array),
                                                                            initial=0.0)))
    bound = tolerance.rtol * np.abs(expected_array) + tolerance.atol * np.asarray(scale)
    bound = np.broadcast_to(bound, expected_array.shape)
    error = np.abs(actual_array - expected_array)
    if np.all(error <= bound):
        return
    excess = error - bound
    worst = np.unravel_index(int(np.argmax(excess)), error.shape) if error.ndim else ()
    raise AssertionError(
        f"not within the {kind} tolerance (rtol={tolerance.rtol}, atol={tolerance.atol}) "
        f"for shape {expected_array.shape}: {int(np.sum(error > bound))} of {error.size} "
        f"elements off; worst at index {tuple(int(i) for i in worst)}: actual "
        f"{actual_array[worst]!r}, spec {expected_array[worst]!r}, |diff| {error[worst]:.3e} > "
        f"bound {bound[worst]:.3e}"
    )
