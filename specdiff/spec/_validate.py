"""Boundary checks shared by the spec and its torch mirror.

Every message names the argument, the accepted range and the value received, e.g.
``t must be in [0, T) = [0, 1000), got 1000``.
"""

import math
from typing import Any

import numpy as np


def require_int_at_least(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def require_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """One of a fixed list of names (a spacing, a variance, a prediction type, …).

    Such arguments are annotated with a ``Literal`` for type checkers only (``if TYPE_CHECKING``)
    and as ``str`` at run time, so beartype lets any string through to this check: a name
    outside the list is the same ValueError with run-time type checks on or off.
    """
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def require_real_in(
    name: str,
    value: float,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real in the interval written with the given open/closed ends."""
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number in {interval}, got {value}")
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if too_low or too_high:
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return number


def require_finite(name: str, array: Any) -> None:
    """Reject NaN and ±inf anywhere in ``array`` (numpy array or anything ``np.isfinite`` takes)."""
    finite = np.isfinite(array)
    if not bool(np.all(finite)):
        bad = int(np.size(finite) - np.count_nonzero(finite))
        raise ValueError(f"{name} must be finite everywhere, got {bad} NaN/inf value(s)")


def require_values_in(
    name: str, array: Any, low: float, high: float, *, low_open: bool, high_open: bool
) -> None:
    """Every element finite and inside the interval; the message shows the first offender."""
    require_finite(name, array)
    values = np.asarray(array, dtype=np.float64)
    too_low = values <= low if low_open else values < low
    too_high = values >= high if high_open else values > high
    outside = too_low | too_high
    if bool(np.any(outside)):
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        first = values[outside].flat[0]
        raise ValueError(f"{name} must be in {interval} everywhere, got {first!r}")


def require_alpha_bar_table(alpha_bars: Any) -> None:
    """A schedule's ᾱ table: every ᾱ_t in (0, 1), except ᾱ_{T−1}, which may also be 0 (zero
    terminal SNR, SCHED-8: the one ᾱ = 0 a schedule can have)."""
    require_finite("alpha_bars", alpha_bars)
    values = np.asarray(alpha_bars, dtype=np.float64).reshape(-1)
    is_last = np.arange(values.size) == values.size - 1
    outside = (values >= 1.0) | (values < 0.0) | ((values == 0.0) & ~is_last)
    if bool(np.any(outside)):
        index = int(np.argmax(outside))
        raise ValueError(
            "alpha_bars must be in (0, 1) everywhere, except alpha_bars[T-1], which may be 0 "
            f"(zero terminal SNR), got {values[index]!r} at t = {index}"
        )


def require_example_size(name: str, shape: tuple[int, ...]) -> None:
    """Every example of a (batch, …) array has at least one element (a per-example mean over
    none would be a silent NaN); an empty batch is allowed."""
    if math.prod(shape[1:]) == 0:
        raise ValueError(f"{name} must have at least one element per example, got shape "
                         f"{tuple(shape)}")


def require_timesteps(name: str, t: Any, num_timesteps: int) -> None:
    """Integer timestep(s) in [0, T)."""
    values = np.asarray(t)
    if not np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_:
        raise TypeError(f"{name} must be an integer timestep or array of them, got {values.dtype}")
    if values.size and (values.min() < 0 or values.max() >= num_timesteps):
        offender = values.min() if values.min() < 0 else values.max()
        raise ValueError(
            f"{name} must be in [0, T) = [0, {num_timesteps}), got {int(offender)}"
        )


def require_ndim(name: str, array: Any, ndim: int, layout: str) -> None:
    if np.ndim(array) != ndim:
        raise ValueError(f"{name} must have {ndim} dims ({layout}), got shape {np.shape(array)}")


def require_batch_size(name: str, values: Any, batch: int) -> None:
    """``values`` is a scalar or has exactly one entry per batch element."""
    if np.ndim(values) != 0 and np.shape(values) != (batch,):
        raise ValueError(
            f"{name} must be a scalar or have shape ({batch},) (one per batch element), "
            f"got shape {np.shape(values)}"
        )
