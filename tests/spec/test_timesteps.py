"""Laws TS-1 … TS-4 (specs/timesteps.md)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from specdiff.spec import ddim_timesteps
from specdiff.testing import num_timesteps

SPACINGS = ["leading", "trailing", "linspace"]


@st.composite
def step_counts(draw: st.DrawFn) -> tuple[int, int]:
    T = draw(num_timesteps(2000))
    return T, draw(st.one_of(st.sampled_from(sorted({1, T})), st.integers(1, T)))


def _round_half_up(value: Fraction) -> int:
    return int((value + Fraction(1, 2)).__floor__())


def _law(T: int, n: int, spacing: str) -> list[int]:
    """The ascending list of TS-1, in exact rational arithmetic."""
    if spacing == "leading":
        return [k * (T // n) for k in range(n)]
    if spacing == "trailing":
        return [_round_half_up(Fraction((k + 1) * T, n)) - 1 for k in range(n)]
    if n == 1:
        return [0]
    return [_round_half_up(Fraction(k * (T - 1), n - 1)) for k in range(n)]


@pytest.mark.spec("TS-1")
@given(step_counts(), st.sampled_from(SPACINGS))
def test_timesteps_are_n_distinct_in_range_descending_and_follow_the_law(
    counts: tuple[int, int], spacing: str
) -> None:
    T, n = counts
    steps = ddim_timesteps(T, n, spacing)  # type: ignore[arg-type]
    assert steps.dtype == np.int64 and steps.shape == (n,)
    assert np.all((steps >= 0) & (steps < T))
    assert np.all(np.diff(steps) < 0)
    assert steps[::-1].tolist() == _law(T, n, spacing)


@pytest.mark.spec("TS-2")
@given(step_counts())
def test_first_and_last_timesteps_per_spacing(counts: tuple[int, int]) -> None:
    T, n = counts
    leading = ddim_timesteps(T, n, "leading")
    assert (leading[0], leading[-1]) == ((n - 1) * (T // n), 0)
    trailing = ddim_timesteps(T, n, "trailing")
    assert (trailing[0], trailing[-1]) == (T - 1, _round_half_up(Fraction(T, n)) - 1)
    if n >= 2:
        linspace = ddim_timesteps(T, n, "linspace")
        assert (linspace[0], linspace[-1]) == (T - 1, 0)


@pytest.mark.spec("TS-2")
def test_ddim_paper_setting_matches_the_diffusers_values() -> None:
    # T = 1000, 50 steps: leading 980, 960, …, 0; trailing 999, 979, …, 19 (Lin et al. 2024).
    assert ddim_timesteps(1000, 50, "leading").tolist() == list(range(980, -1, -20))
    assert ddim_timesteps(1000, 50, "trailing").tolist() == list(range(999, 18, -20))


@pytest.mark.spec("TS-3")
@given(num_timesteps(2000), st.sampled_from(SPACINGS))
def test_all_steps_visit_every_timestep(T: int, spacing: str) -> None:
    assert ddim_timesteps(T, T, spacing).tolist() == list(range(T - 1, -1, -1))  # type: ignore[arg-type]


@pytest.mark.spec("TS-4")
@pytest.mark.parametrize(
    ("arguments", "name"),
    [((1000, 0, "leading"), "num_steps"), ((1000, 1001, "trailing"), "num_steps"),
     ((0, 1, "leading"), "T"), ((10, 5, "uniform"), "spacing")],
)
def test_out_of_domain_step_counts_are_rejected_by_name(arguments: tuple[int, int, str],
                                                        name: str) -> None:
    with pytest.raises((ValueError, TypeError), match=name):
        ddim_timesteps(*arguments)  # type: ignore[arg-type]


@pytest.mark.spec("TS-4")
def test_the_message_gives_the_accepted_range() -> None:
    with pytest.raises(ValueError, match=r"num_steps must be in \(0, T\] = \(0, 1000\], got 1001"):
        ddim_timesteps(1000, 1001)
