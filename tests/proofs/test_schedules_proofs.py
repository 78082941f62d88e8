"""Proofs of the schedule laws SCHED-1, SCHED-4, SCHED-5 and SCHED-7 (specs/schedules.md), each
tied to the spec function on Hypothesis-drawn points."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from specdiff.spec import (
    alpha_bars,
    cosine_betas,
    linear_beta,
    linear_betas,
    rescale_zero_terminal_snr,
    sigmoid_betas,
)
from specdiff.spec.schedules import MIN_CURVE_BETA
from specdiff.testing import assert_close_to_spec, linear_schedules, num_timesteps, symbolic
from specdiff.testing.symbolic import SYMBOLS as S
from specdiff.testing.symbolic import is_identically_zero, is_nonnegative, is_positive, p
from tests.proofs.lemmas import telescopes


@pytest.mark.spec("SCHED-1")
def test_linear_betas_run_from_start_to_end_without_decreasing() -> None:
    # On T = t + m + 1 ≥ 2, β_end = β_start + d (d, m > 0; the edges by continuity): β_0 =
    # β_start, β_{T−1} = β_end, β_start ≤ β_t ≤ β_end and β_{t+1} − β_t = d/(T − 1) ≥ 0.
    law = symbolic.linear_beta()
    beta = law.expression
    assert sp.simplify(beta.subs(S.t, 0) - S.beta_start) == 0
    assert sp.simplify(beta.subs(S.t, S.T - 1) - S.beta_end) == 0
    assert is_nonnegative(beta - S.beta_start, law.substitution)
    assert is_nonnegative(S.beta_end - beta, law.substitution)
    assert is_nonnegative(beta.subs(S.t, S.t + 1) - beta, law.substitution)
    beta_of = law.numeric()

    @given(linear_schedules().filter(lambda schedule: schedule.T >= 2), st.data())
    def spec_is_the_proven_form(schedule: tuple[int, float, float], data: st.DataObject) -> None:
        T, beta_start, beta_end = schedule
        t = data.draw(st.integers(0, T - 1))
        expected = beta_of(T, beta_start, beta_end, t)
        assert_close_to_spec(linear_beta(T, beta_start, beta_end, t), expected, "elementwise")
        assert_close_to_spec(linear_betas(T, beta_start, beta_end),
                             beta_of(T, beta_start, beta_end, np.arange(T)), "elementwise")

    spec_is_the_proven_form()


def _clipped_curve_betas(curve: np.ndarray, max_beta: float) -> np.ndarray:
    """clip(1 − ā((t+1)/T)/ā(t/T), 10⁻¹², max_beta) from the curve's values at t/T, t ≤ T."""
    return np.asarray(np.clip(1.0 - curve[1:] / curve[:-1], MIN_CURVE_BETA, max_beta))


def _ratio_scale(curve: np.ndarray) -> np.ndarray:
    """Near 0, ā is known only to its absolute rounding, which the ratio ā((t+1)/T)/ā(t/T)
    amplifies by 1/ā: scale = 1 + 1/ā(t/T) + 1/ā((t+1)/T)."""
    inverse = 1.0 / np.maximum(np.abs(curve), 1e-300)
    return np.asarray(1.0 + inverse[:-1] + inverse[1:])


def _check_alpha_bars_before_clipping(betas: np.ndarray, curve: np.ndarray,
                                      max_beta: float) -> None:
    """ᾱ_t = ā((t+1)/T)/ā(0) for every t before the first clipped β."""
    clipped = np.nonzero((betas >= max_beta) | (betas <= MIN_CURVE_BETA))[0]
    unclipped = int(clipped[0]) if clipped.size else betas.shape[0]
    assert_close_to_spec(alpha_bars(betas)[:unclipped], curve[1:unclipped + 1] / curve[0],
                         "reduction")


@pytest.mark.spec("SCHED-4")
def test_cosine_betas_telescope_and_do_not_decrease() -> None:
    telescopes(sp.Function("a"), S.T)
    # With b(u) = (u + s)/(1 + s)·π/2, ā = cos²∘b and b((t+1)/T) = b(t/T) + h, h = π/(2T(1+s)):
    # 1 − β_t = (cos(b + h)/cos(b))², and d/db cos(b + h)/cos(b) = −sin(h)/cos²(b) ≤ 0 since
    # h ∈ (0, π/2] (T ≥ 1, s ≥ 0). The ratio is ≥ 0 (b + h ≤ π/2), so its square decreases in t
    # and β_t does not decrease; the clip, a non-decreasing map, keeps that order.
    b, h = sp.symbols("b h", real=True)
    angle = (S.u + S.s) / (1 + S.s) * sp.pi / 2
    step = angle.subs(S.u, S.u + 1 / S.T) - angle
    assert sp.simplify(step - sp.pi / (2 * S.T * (1 + S.s))) == 0
    assert sp.simplify(symbolic.cosine_alpha_bar_curve().expression - sp.cos(angle) ** 2) == 0
    assert sp.simplify(sp.diff(sp.cos(b + h) / sp.cos(b), b) + sp.sin(h) / sp.cos(b) ** 2) == 0
    curve_of = symbolic.cosine_alpha_bar_curve().numeric()

    @given(num_timesteps(2000), st.floats(0.0, 0.5), st.floats(0.5, 0.999))
    def spec_is_the_proven_form(T: int, s: float, max_beta: float) -> None:
        curve = curve_of(np.arange(T + 1) / T, s)
        betas = cosine_betas(T, s, max_beta)
        assert_close_to_spec(betas, _clipped_curve_betas(curve, max_beta), "elementwise",
                             scale=_ratio_scale(curve))
        assert np.all(np.diff(betas) >= -1e-15)
        _check_alpha_bars_before_clipping(betas, curve, max_beta)

    spec_is_the_proven_form()


@pytest.mark.spec("SCHED-5")
def test_sigmoid_betas_telescope_from_one() -> None:
    # ā(0) = 1 and ā(1) = 0, so the telescoped product ᾱ_t = ā((t+1)/T)/ā(0) = ā((t+1)/T); and ā
    # decreases, so every unclipped β is in (0, 1): dā/du = −σ'(v)·v'/(σ(end/τ) − σ(start/τ))
    # with v = (start + u·(end − start))/τ, σ' > 0, v' = (end − start)/τ > 0, and the denominator
    # is > 0: with A = e^{−start/τ} > 0 and e^{−end/τ} = A·c, c = e^{−(end−start)/τ} = 1/(1 + r),
    # r > 0, it is a ratio of polynomials with positive coefficients in A and r.
    telescopes(sp.Function("a"), S.T)
    law = symbolic.sigmoid_alpha_bar_curve()
    assert sp.simplify(law.expression.subs(S.u, 0) - 1) == 0
    assert sp.simplify(law.expression.subs(S.u, 1)) == 0
    v = sp.Symbol("v", real=True)
    logistic = 1 / (1 + sp.exp(-v))
    inner = (S.start + S.u * (S.end - S.start)) / S.tau
    spread = logistic.subs(v, S.end / S.tau) - logistic.subs(v, S.start / S.tau)
    slope = -sp.diff(logistic, v).subs(v, inner) * sp.diff(inner, S.u) / spread
    assert sp.simplify(sp.diff(law.expression, S.u) - slope) == 0
    assert sp.diff(logistic, v).is_positive
    assert is_positive(sp.diff(inner, S.u), law.substitution)
    A, r = sp.symbols("A r", positive=True)
    exponentials = {sp.exp(-S.start / S.tau): A, sp.exp(-p / S.tau): 1 / (1 + r)}
    spread_in_a_r = sp.expand(spread.subs(law.substitution), power_exp=True).subs(exponentials)
    assert is_positive(spread_in_a_r, {})
    curve_of = law.numeric()

    @given(num_timesteps(2000), st.floats(-10.0, 0.0), st.floats(0.5, 10.0), st.floats(0.5, 2.0))
    def spec_is_the_proven_form(T: int, start: float, end: float, tau: float) -> None:
        max_beta = 0.999
        curve = curve_of(np.arange(T + 1) / T, start, end, tau)
        betas = sigmoid_betas(T, start, end, tau, max_beta)
        assert_close_to_spec(betas, _clipped_curve_betas(curve, max_beta), "elementwise",
                             scale=_ratio_scale(curve))
        _check_alpha_bars_before_clipping(betas, curve, max_beta)

    spec_is_the_proven_form()


@pytest.mark.spec("SCHED-7")
def test_the_zero_terminal_snr_rescale_ends_at_zero_and_keeps_every_beta_inside() -> None:
    # r(x) = (x − L)·F/(F − L) on roots L = √ᾱ_{T−1} < F = √ᾱ_0: r(L) = 0, r(F) = F, slope
    # F/(F − L) > 0. For consecutive roots L < y < x (y = L + a, x = y + b, a, b > 0; ᾱ strictly
    # decreases), β' = 1 − r(y)²/r(x)² ∈ (0, 1); at the end r(L) = 0 gives β'_{T−1} = 1, and
    # β'_0 = 1 − r(F)² = 1 − ᾱ_0.
    law = symbolic.rescaled_root_alpha_bar()
    r = law.expression
    assert r.subs(S.root, S.last) == 0
    assert sp.simplify(r.subs(S.root, S.first) - S.first) == 0
    assert is_positive(sp.diff(r, S.root), law.substitution)
    a, b = sp.symbols("a b", positive=True)
    beta = 1 - r.subs(S.root, S.last + a) ** 2 / r.subs(S.root, S.last + a + b) ** 2
    assert is_positive(beta, law.substitution)
    assert is_positive(1 - beta, law.substitution)
    assert is_identically_zero(1 - r.subs(S.root, S.last) ** 2 / r.subs(S.root, S.last + a) ** 2
                               - 1, law.substitution)
    r_of = law.numeric()

    @given(linear_schedules(max_T=400, max_beta=0.3).filter(lambda schedule: schedule.T >= 2))
    def spec_is_the_proven_form(schedule: tuple[int, float, float]) -> None:
        betas = linear_betas(*schedule)
        roots = np.sqrt(alpha_bars(betas))
        rescaled = r_of(roots, roots[0], roots[-1]) ** 2
        expected = 1.0 - rescaled / np.concatenate([[1.0], rescaled[:-1]])
        actual = rescale_zero_terminal_snr(betas)
        assert actual[-1] == 1.0
        assert_close_to_spec(actual, expected, "elementwise")

    spec_is_the_proven_form()
