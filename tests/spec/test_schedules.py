"""Laws SCHED-1 … SCHED-6 on the numpy reference (specs/schedules.md)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from specdiff.spec import (
    alpha_bars,
    alpha_bars_linear,
    cosine_betas,
    linear_beta,
    linear_betas,
    sigmoid_betas,
)
from specdiff.testing import (
    LinearSchedule,
    assert_close_to_spec,
    beta_arrays,
    linear_schedules,
    num_timesteps,
)


@pytest.mark.spec("SCHED-1")
@given(linear_schedules())
def test_linear_betas_equal_the_scalar_law_and_span_the_range(schedule: LinearSchedule) -> None:
    T, beta_start, beta_end = schedule
    betas = linear_betas(T, beta_start, beta_end)
    assert betas.shape == (T,) and betas.dtype == np.float64
    scalar_law = [linear_beta(T, beta_start, beta_end, t) for t in range(T)]
    assert betas.tolist() == scalar_law
    assert betas[0] == beta_start
    if T >= 2:
        assert math.isclose(betas[-1], beta_end, rel_tol=1e-15)
    assert np.all(betas >= beta_start) and np.all(betas <= beta_end * (1 + 1e-15))
    assert np.all(np.diff(betas) >= 0)


@pytest.mark.spec("SCHED-1")
@given(linear_schedules(), st.data())
def test_linear_beta_is_the_affine_interpolation(schedule: LinearSchedule, data: st.DataObject
                                                 ) -> None:
    T, beta_start, beta_end = schedule
    t = data.draw(st.integers(0, T - 1))
    fraction = t / (T - 1) if T > 1 else 0.0
    expected = beta_start + (beta_end - beta_start) * fraction
    assert_close_to_spec(np.array(linear_beta(T, beta_start, beta_end, t)), np.array(expected),
                         "elementwise")


@pytest.mark.spec("SCHED-1")
def test_linear_betas_defaults_are_the_ddpm_papers() -> None:
    betas = linear_betas(1000)
    assert betas[0] == 1e-4 and math.isclose(betas[-1], 0.02, rel_tol=1e-15)


@pytest.mark.spec("SCHED-2")
@given(beta_arrays(max_T=300, high=0.9))
def test_alpha_bars_is_the_cumulative_product_strictly_decreasing_in_unit_interval(
    betas: np.ndarray,
) -> None:
    bars = alpha_bars(betas)
    assert bars.shape == betas.shape
    assert bars[0] == 1.0 - betas[0]
    # The recursion ᾱ_t = ᾱ_{t−1}(1 − β_t), written out independently of the implementation.
    recursion = np.empty_like(betas)
    running = 1.0
    for index, beta in enumerate(betas):
        running *= 1.0 - beta
        recursion[index] = running
    assert_close_to_spec(bars, recursion, "reduction")
    assert np.all(bars > 0.0) and np.all(bars < 1.0)
    assert np.all(np.diff(bars) < 0.0)


@pytest.mark.spec("SCHED-2")
@given(st.integers(250, 2000))
def test_alpha_bars_that_would_underflow_are_rejected(T: int) -> None:
    # (1 − 0.95)^T < 2.2e-308 for T ≥ 237: float64 would silently give ᾱ = 0.
    with pytest.raises(ValueError, match=r"^betas must keep .* underflows at t = 236$"):
        alpha_bars(np.full(T, 0.95))


@pytest.mark.spec("SCHED-2")
def test_alpha_bars_of_the_ddpm_schedule_end_near_zero() -> None:
    # Known from Ho et al.: ᾱ_999 ≈ 4.04e-5 for the linear 1e-4 … 0.02 schedule (T = 1000).
    bars = alpha_bars(linear_betas(1000))
    assert 3.9e-5 < bars[-1] < 4.2e-5


@pytest.mark.spec("SCHED-3")
@given(linear_schedules(max_beta=0.5))
def test_alpha_bars_linear_is_alpha_bars_of_linear_betas(schedule: LinearSchedule) -> None:
    T, beta_start, beta_end = schedule
    expected = alpha_bars(linear_betas(T, beta_start, beta_end))
    np.testing.assert_array_equal(alpha_bars_linear(T, beta_start, beta_end), expected)


# SCHED-4, SCHED-5: β_t = clip(1 − ā((t+1)/T)/ā(t/T), 10⁻¹², max_beta): the law's floor.
BETA_FLOOR = 1e-12


def _first_clipped(betas: np.ndarray, max_beta: float) -> int:
    clipped = np.nonzero((betas >= max_beta) | (betas <= BETA_FLOOR))[0]
    return int(clipped[0]) if clipped.size else betas.shape[0]


@pytest.mark.spec("SCHED-4")
@given(
    num_timesteps(2000),
    st.floats(0.0, 0.5),
    st.floats(0.5, 0.999),
)
def test_cosine_alpha_bars_match_the_closed_form_before_clipping(
    T: int, s: float, max_beta: float
) -> None:
    betas = cosine_betas(T, s, max_beta)
    assert betas.shape == (T,)
    assert np.all(betas >= BETA_FLOOR) and np.all(betas <= max_beta)
    assert np.all(np.diff(betas) >= -1e-15)

    def curve(u: np.ndarray) -> np.ndarray:
        return np.cos((u + s) / (1 + s) * np.pi / 2) ** 2

    unclipped = _first_clipped(betas, max_beta)
    t = np.arange(unclipped)
    closed_form = curve((t + 1) / T) / curve(np.zeros(1))
    assert_close_to_spec(np.cumprod(1.0 - betas[:unclipped]), closed_form, "reduction")


@pytest.mark.spec("SCHED-4", "SCHED-5")
def test_a_curve_flat_to_float64_is_floored_at_the_laws_floor() -> None:
    # Sigmoid from start = −1000: σ((start + u·(end − start))/τ) underflows to 0 for the first
    # nine steps, so ā = 1 there and the ratio is exactly 1 (β = 0 before the floor); the last
    # step reaches ā(1) = 0 and is clipped at max_beta.
    betas = sigmoid_betas(10, -1000.0, 10.0, 1.0, 0.999)
    assert betas[:9].tolist() == [BETA_FLOOR] * 9 and betas[9] == 0.999
    # Cosine with s = 0 and T = 2·10⁶: β_0 = sin²(π/(4·10⁶)) ≈ 6.2e-13 is below the floor.
    first, second = cosine_betas(2_000_000, 0.0)[:2]
    assert first == BETA_FLOOR and BETA_FLOOR < second < 3 * BETA_FLOOR


@pytest.mark.spec("SCHED-4")
def test_cosine_schedule_clips_the_last_beta() -> None:
    # ā(1) = cos²(π/2) = 0, so the last ratio would give β = 1 without the clip.
    assert cosine_betas(1000)[-1] == 0.999


@pytest.mark.spec("SCHED-5")
@given(
    num_timesteps(2000),
    st.floats(-10.0, 0.0),
    st.floats(0.5, 10.0),
    st.floats(0.1, 2.0),
)
def test_sigmoid_alpha_bars_match_the_closed_form_before_clipping(
    T: int, start: float, end: float, tau: float
) -> None:
    max_beta = 0.999
    betas = sigmoid_betas(T, start, end, tau, max_beta)
    assert betas.shape == (T,)
    assert np.all(betas >= BETA_FLOOR) and np.all(betas <= max_beta)

    def logistic(v: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-v))

    def curve(u: np.ndarray) -> np.ndarray:
        top, bottom = logistic(np.array(end / tau)), logistic(np.array(start / tau))
        return (top - logistic((start + u * (end - start)) / tau)) / (top - bottom)

    unclipped = _first_clipped(betas, max_beta)
    closed_form = curve((np.arange(unclipped) + 1) / T)
    assert_close_to_spec(np.cumprod(1.0 - betas[:unclipped]), closed_form, "reduction")


BAD_SCHEDULE_CALLS = [
    (lambda: linear_betas(0), ValueError, "T"),
    (lambda: linear_betas(-3), ValueError, "T"),
    (lambda: linear_betas(10, 0.0, 0.02), ValueError, "beta_start"),
    (lambda: linear_betas(10, 1e-4, 1.0), ValueError, "beta_end"),
    (lambda: linear_betas(10, 0.02, 1e-4), ValueError, "beta_end"),
    (lambda: linear_betas(10, float("nan"), 0.02), ValueError, "beta_start"),
    (lambda: linear_betas(10, 1e-4, float("inf")), ValueError, "beta_end"),
    (lambda: linear_beta(10, 1e-4, 0.02, 10), ValueError, "t"),
    (lambda: linear_beta(10, 1e-4, 0.02, -1), ValueError, "t"),
    (lambda: alpha_bars(np.array([0.1, 1.0])), ValueError, "betas"),
    (lambda: alpha_bars(np.array([0.1, 0.0])), ValueError, "betas"),
    (lambda: alpha_bars(np.array([0.1, np.nan])), ValueError, "betas"),
    (lambda: alpha_bars(np.zeros(0)), ValueError, "betas"),
    (lambda: cosine_betas(0), ValueError, "T"),
    (lambda: cosine_betas(10, max_beta=1.0), ValueError, "max_beta"),
    (lambda: cosine_betas(10, s=-0.1), ValueError, "s"),
    (lambda: sigmoid_betas(10, 3.0, -3.0), ValueError, "end"),
    (lambda: sigmoid_betas(10, tau=0.0), ValueError, "tau"),
]


@pytest.mark.spec("SCHED-6")
@pytest.mark.parametrize(("call", "error", "argument"), BAD_SCHEDULE_CALLS)
def test_schedule_arguments_out_of_domain_are_rejected_by_name(
    call: object, error: type[Exception], argument: str
) -> None:
    with pytest.raises(error, match=rf"^{argument} must"):
        call()  # type: ignore[operator]


@pytest.mark.spec("SCHED-6")
def test_non_integer_or_wrong_rank_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError):
        linear_betas(10.0)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="betas"):
        alpha_bars(np.full((2, 2), 0.1))
