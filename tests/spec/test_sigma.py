"""σ grids and their timesteps (SIGMA-3, SIGMA-4) and where the EDM sampler churns (KSAMP-5)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from specdiff import spec, typecheck
from specdiff.spec.karras import MAX_GAMMA, churned_timestep, edm_gamma
from specdiff.spec.sigma import (
    exponential_sigmas,
    karras_sigmas,
    polyexponential_sigmas,
    sigma_grid_timesteps,
    sigma_timesteps,
    sigmas_at,
)
from specdiff.spec.timesteps import karras_timesteps
from specdiff.testing import LinearSchedule, assert_close_to_spec, linear_schedules


@st.composite
def grid_ends(draw: st.DrawFn) -> tuple[float, float]:
    low = draw(st.floats(1e-3, 10.0))
    return low, low * draw(st.floats(1.5, 1e4))


@pytest.mark.spec("SIGMA-3")
@given(grid_ends(), st.integers(2, 60), st.floats(0.5, 10.0))
def test_grids_run_from_sigma_max_to_sigma_min_by_their_formulas(
    ends: tuple[float, float], n: int, rho: float
) -> None:
    low, high = ends
    u = np.arange(n) / (n - 1)
    grids = {
        "karras": (karras_sigmas(low, high, n, rho),
                   (high ** (1 / rho) * (1 - u) + low ** (1 / rho) * u) ** rho),
        "exponential": (exponential_sigmas(low, high, n), high * (low / high) ** u),
        "polyexponential": (polyexponential_sigmas(low, high, n, rho),
                            low * (high / low) ** ((1 - u) ** rho)),
    }
    for name, (grid, expected) in grids.items():
        assert grid.shape == (n,), name
        assert np.all(np.diff(grid) <= 0.0), name
        assert_close_to_spec(grid, expected, "elementwise", scale=high)
        assert_close_to_spec(grid[[0, -1]], np.array([high, low]), "elementwise", scale=high)
    assert_close_to_spec(polyexponential_sigmas(low, high, n, 1.0),
                         exponential_sigmas(low, high, n), "elementwise", scale=high)
    linear = karras_sigmas(low, high, n, 1.0)
    assert_close_to_spec(np.diff(linear), np.full(n - 1, (low - high) / (n - 1)), "elementwise",
                         scale=high)
    assert karras_sigmas(low, high, 1).tolist() == pytest.approx([high], rel=1e-12)


def strictly_decreasing_bars(schedule: LinearSchedule) -> np.ndarray:
    return spec.alpha_bars_linear(*schedule)


@pytest.mark.spec("SIGMA-4")
@given(linear_schedules(max_T=200, max_beta=0.3), st.data())
def test_grid_sigmas_map_to_interpolated_timesteps_and_table_sigmas_to_their_own(
    schedule: LinearSchedule, data: st.DataObject
) -> None:
    bars = strictly_decreasing_bars(schedule)
    T = schedule.T
    table = np.sqrt((1.0 - bars) / bars)
    if not np.all(np.diff(table) > 0.0):
        return
    # A table level maps to its own timestep; any subset of them, decreasing, is kept as is.
    chosen = sorted(set(data.draw(st.lists(st.integers(0, T - 1), min_size=1, max_size=T))),
                    reverse=True)
    assert sigma_timesteps(bars, table[chosen]).tolist() == chosen
    assert sigmas_at(bars, np.array(chosen, dtype=np.int64)).tolist() == [*table[chosen], 0.0]
    # A level between two table levels maps to the nearer one in log σ (halves up).
    if T >= 2:
        t = data.draw(st.integers(0, T - 2))
        w = data.draw(st.floats(0.0, 1.0))
        level = np.exp((1 - w) * np.log(table[t]) + w * np.log(table[t + 1]))
        expected = t + (1 if w >= 0.5 + 1e-9 else 0) if abs(w - 0.5) > 1e-9 else None
        if expected is not None:
            assert sigma_timesteps(bars, np.array([level])).tolist() == [expected]
    # Karras grids are TS-5, and every grid visits at most n decreasing timesteps from T−1.
    n = data.draw(st.integers(1, T))
    for grid in ("karras", "exponential", "polyexponential", "leading", "trailing", "linspace"):
        visited = sigma_grid_timesteps(bars, n, grid)  # type: ignore[arg-type]
        assert 1 <= visited.shape[0] <= n and np.all(np.diff(visited) < 0), grid
    if n >= 2:
        assert np.array_equal(sigma_grid_timesteps(bars, n, "karras"), karras_timesteps(bars, n))
        assert sigma_grid_timesteps(bars, n, "exponential")[0] == T - 1


@pytest.mark.spec("SIGMA-4")
def test_repeated_timesteps_are_dropped_and_levels_outside_the_table_refused() -> None:
    bars = spec.alpha_bars_linear(1000)
    table = np.sqrt((1.0 - bars) / bars)
    # Two levels rounding to the same timestep (or equal ones): the first is kept.
    assert sigma_timesteps(bars, table[[500, 500, 10]]).tolist() == [500, 10]
    close = np.array([table[500], table[500] * (1 - 1e-9), table[10]])
    assert sigma_timesteps(bars, close).tolist() == [500, 10]
    # A Karras grid with many steps crowds near σ_min: fewer timesteps than levels.
    assert sigma_grid_timesteps(bars, 1000, "karras").shape[0] < 1000
    with pytest.raises(ValueError, match="sigmas must be in"):
        sigma_timesteps(bars, np.array([table[-1] * 1.01]))
    with pytest.raises(ValueError, match="sigmas must be non-increasing"):
        sigma_timesteps(bars, np.array([table[3], table[5]]))
    with pytest.raises(ValueError, match="rho applies"):
        sigma_grid_timesteps(bars, 10, "exponential", rho=2.0)
    with typecheck(False), pytest.raises(ValueError, match="grid must be one of"):
        sigma_grid_timesteps(bars, 10, "cosine")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_steps must be in"):
        sigma_grid_timesteps(bars, 1001, "karras")


@pytest.mark.spec("KSAMP-5")
@given(st.floats(0.0, 100.0), st.integers(1, 50), st.floats(0.0, 50.0), st.floats(0.0, 200.0),
       st.floats(0.0, 200.0))
def test_edm_churns_inside_its_window_by_at_most_sqrt2(
    level: float, n: int, s_churn: float, s_tmin: float, width: float
) -> None:
    s_tmax = s_tmin + width
    gamma = edm_gamma(level, n, s_churn, s_tmin, s_tmax)
    inside = s_tmin <= level <= s_tmax
    assert gamma == (min(s_churn / n, np.sqrt(2.0) - 1.0) if inside else 0.0)
    assert 0.0 <= gamma <= MAX_GAMMA


@pytest.mark.spec("KSAMP-5")
@given(st.integers(0, 999), st.floats(0.0, float(np.sqrt(2.0) - 1.0)))
def test_the_churned_level_is_the_table_level_of_the_raised_sigma(t: int, gamma: float) -> None:
    bars = spec.alpha_bars_linear(1000)
    table = np.sqrt((1.0 - bars) / bars)
    t_hat = churned_timestep(bars, t, gamma)
    assert t <= t_hat <= 999
    assert churned_timestep(bars, t, 0.0) == t
    target = np.log(min((1.0 + gamma) * table[t], table[-1]))
    # The nearest table level in log σ (ties excepted): no other timestep is closer.
    distance = np.abs(np.log(table) - target)
    assert distance[t_hat] <= distance.min() + 1e-9
