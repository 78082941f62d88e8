"""Public Hypothesis strategies over the domains of the laws in specs/.

Use them in your own property tests to check an implementation against ``specdiff.spec``; our
tests use the same ones. Every strategy covers its domain's edges (T = 1, β at its bounds,
ᾱ_prev = 1, ±1 pixels, 1×1 images) as well as its interior.
"""

from typing import NamedTuple

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specdiff.spec.schedules import alpha_bars

# Smallest and largest ᾱ the strategies draw by default: the laws hold on all of (0, 1), but
# below 1e-6 or above 1 − 1e-9 float64 itself cannot tell the inversion formulas apart.
ALPHA_BAR_MIN = 1e-6
ALPHA_BAR_MAX = 1.0 - 1e-9


class LinearSchedule(NamedTuple):
    """Arguments of ``linear_betas``: T ≥ 1 and 0 < beta_start ≤ beta_end < 1."""

    T: int
    beta_start: float
    beta_end: float


class NCHWShape(NamedTuple):
    batch: int
    channels: int
    height: int
    width: int


def num_timesteps(max_T: int = 1000) -> st.SearchStrategy[int]:
    """T ∈ [1, max_T], with 1, 2 and max_T favoured."""
    return st.one_of(st.sampled_from(sorted({1, 2, max_T})), st.integers(1, max_T))


def betas_values(low: float = 1e-6, high: float = 0.999) -> st.SearchStrategy[float]:
    """A single β ∈ [low, high] ⊂ (0, 1), edges included."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def linear_schedules(draw: st.DrawFn, max_T: int = 1000, max_beta: float = 0.999
                     ) -> LinearSchedule:
    """Valid (T, beta_start, beta_end): T ≥ 1, 0 < beta_start ≤ beta_end ≤ max_beta < 1.

    With max_beta ≤ 0.5 and T ≤ 1000 the schedule's ᾱ cannot underflow float64 (SCHED-2).
    """
    T = draw(num_timesteps(max_T))
    first, second = draw(betas_values(high=max_beta)), draw(betas_values(high=max_beta))
    beta_start, beta_end = min(first, second), max(first, second)
    if draw(st.booleans()):
        beta_end = beta_start  # a constant schedule is inside the domain
    return LinearSchedule(T, beta_start, beta_end)


def beta_arrays(max_T: int = 64, low: float = 1e-6, high: float = 0.999
                ) -> st.SearchStrategy[np.ndarray]:
    """Arbitrary (not necessarily monotone) β arrays of length 1..max_T with β ∈ [low, high]."""
    return hnp.arrays(np.float64, st.integers(1, max_T), elements=betas_values(low, high))


def alpha_bar_arrays(max_T: int = 64) -> st.SearchStrategy[np.ndarray]:
    """ᾱ arrays of valid schedules, ᾱ_t = ∏_{s≤t}(1 − β_s); β ≤ 0.5 keeps ᾱ_{T−1} ≥ 2^−max_T."""
    return beta_arrays(max_T, high=0.5).map(alpha_bars)


def alpha_bar_values(low: float = ALPHA_BAR_MIN, high: float = ALPHA_BAR_MAX
                     ) -> st.SearchStrategy[float]:
    """One ᾱ ∈ [low, high]."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def alpha_bar_pairs(draw: st.DrawFn, low: float = ALPHA_BAR_MIN) -> tuple[float, float]:
    """(ᾱ_prev, ᾱ) with low ≤ ᾱ < 1 and ᾱ ≤ ᾱ_prev ≤ 1: one reverse step, the last one
    (ᾱ_prev = 1) and the degenerate one (ᾱ_prev = ᾱ) included."""
    alpha_bar = draw(alpha_bar_values(low))
    alpha_bar_prev = draw(
        st.one_of(
            st.just(1.0),
            st.just(alpha_bar),
            st.floats(alpha_bar, 1.0, allow_nan=False, allow_infinity=False),
        )
    )
    return alpha_bar_prev, alpha_bar


def _floats_above(value: float, steps: int) -> float:
    """The float ``steps`` representable numbers above the positive float ``value`` (negative
    ``steps``: below); positive floats are ordered like their bit patterns."""
    bits = np.array(value, dtype=np.float64).view(np.int64) + steps
    return float(bits.view(np.float64))


@st.composite
def increasing_alpha_bar_triples(draw: st.DrawFn, low: float = ALPHA_BAR_MIN
                                 ) -> tuple[float, float, float]:
    """(ᾱ_last, ᾱ, ᾱ_prev) with low ≤ ᾱ_last < ᾱ < ᾱ_prev < 1: a multistep solver's history
    point, current point and landing. Neighbours are often a few ulps apart (up to 2^20), where
    differences of their log-SNRs cancel, as well as anywhere in the interval."""
    alpha_bar = draw(alpha_bar_values(low, 1.0 - 1e-6))

    def neighbour(direction: int, bound: float) -> float:
        if draw(st.booleans()):
            return _floats_above(alpha_bar, direction * draw(st.integers(1, 2**20)))
        return draw(st.floats(min(alpha_bar, bound), max(alpha_bar, bound), exclude_min=True,
                              exclude_max=True))

    alpha_bar_last, alpha_bar_prev = neighbour(-1, low / 2.0), neighbour(1, 1.0)
    assume(0.0 < alpha_bar_last < alpha_bar < alpha_bar_prev < 1.0)
    return alpha_bar_last, alpha_bar, alpha_bar_prev


def timesteps(T: int) -> st.SearchStrategy[int]:
    """t ∈ [0, T), first and last favoured."""
    return st.one_of(st.sampled_from(sorted({0, T - 1})), st.integers(0, T - 1))


def batched_timesteps(T: int, batch: int) -> st.SearchStrategy[np.ndarray]:
    """One t ∈ [0, T) per batch element, as an int64 array of shape (batch,)."""
    return hnp.arrays(np.int64, batch, elements=timesteps(T))


def nchw_shapes(max_batch: int = 3, channels: tuple[int, ...] = (1, 2, 3), max_side: int = 7
                ) -> st.SearchStrategy[NCHWShape]:
    """(N, C, H, W) with 1×1 and odd sides included."""
    return st.builds(
        NCHWShape,
        st.integers(1, max_batch),
        st.sampled_from(channels),
        st.integers(1, max_side),
        st.integers(1, max_side),
    )


def image_batches(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """float64 images in [−1, 1] (the data range), ±1 and 0 favoured."""
    pixel = st.one_of(st.sampled_from([-1.0, 0.0, 1.0]), st.floats(-1.0, 1.0))
    return hnp.arrays(np.float64, shape, elements=pixel)


def eps_batches(shape: tuple[int, ...], bound: float = 6.0) -> st.SearchStrategy[np.ndarray]:
    """float64 noise values in [−bound, bound]: a standard normal's support as samplers see it."""
    return hnp.arrays(np.float64, shape, elements=st.floats(-bound, bound))


def unbounded_batches(shape: tuple[int, ...], bound: float = 50.0
                      ) -> st.SearchStrategy[np.ndarray]:
    """float64 values in [−bound, bound]: inputs outside the data range, e.g. noised x_t."""
    return hnp.arrays(np.float64, shape, elements=st.floats(-bound, bound))
