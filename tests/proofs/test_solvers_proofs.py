"""Proofs of the fast-solver laws SOLV-1 … SOLV-4 (specs/solvers.md), each tied to the spec
function on Hypothesis-drawn points."""

from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from specdiff.spec import ddim_step_from_prediction, dpm_solver_pp_step, plms_eps, pndm_step
from specdiff.testing import (
    alpha_bar_pairs,
    alpha_bar_values,
    assert_close_to_spec,
    eps_batches,
    image_batches,
    nchw_shapes,
    symbolic,
    unbounded_batches,
)
from specdiff.testing.symbolic import ETA_DOMAIN, REVERSE_STEP_DOMAIN, is_identically_zero, p, q
from specdiff.testing.symbolic import SYMBOLS as S

# Below this ᾱ the division x̂0 = (x_t − √(1−ᾱ)ε̂)/√ᾱ, not the law, dominates float64 rounding.
PAIR_FLOOR = 1e-6


def at_50_digits(law: Any) -> Callable[..., np.ndarray]:
    """The proven expression evaluated elementwise in 50-digit arithmetic at the float64 inputs:
    a float64 evaluation of the closed form loses a vanishing radicand (1 − ᾱ_prev − σ² as η → 1
    is the difference of two numbers near 1 − ᾱ_prev) where the spec keeps it."""
    exact = sp.lambdify(law.arguments, law.expression, "mpmath")

    def evaluate(*arguments: Any) -> np.ndarray:
        inputs = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in arguments))
        values = np.empty(inputs[0].shape)
        with mpmath.workdps(50):
            for index in np.ndindex(values.shape):
                values[index] = float(exact(*(mpmath.mpf(float(a[index])) for a in inputs)))
        return values

    return evaluate


def small_shapes() -> st.SearchStrategy[tuple[int, ...]]:
    return nchw_shapes(max_batch=2, max_side=4).map(tuple)


@pytest.mark.spec("SOLV-1")
def test_ddim_from_the_prediction_pair_is_rev5_and_extends_it_to_zero_snr() -> None:
    # With x̂0 = predict_x0(ᾱ, x_t, ε̂) the step is REV-5's ddim_step; at ᾱ = 0 the extended σ is
    # the limit of REV-5's σ as ᾱ → 0⁺ (for ᾱ_prev = 1/(1+p) > 0), and the update keeps
    # 1 − ᾱ_prev − σ² = (1 − ᾱ_prev)(1 − η²) ≥ 0 there.
    law = symbolic.ddim_step_from_prediction()
    with_x0_hat = law.expression.subs(S.x0_hat, symbolic.predict_x0().expression)
    assert is_identically_zero(with_x0_hat - symbolic.ddim_step().expression,
                               {**REVERSE_STEP_DOMAIN, **ETA_DOMAIN})
    sigma = symbolic.ddim_sigma().expression.subs(S.alpha_bar_prev, 1 / (1 + p))
    limit = sp.limit(sigma, S.alpha_bar, 0, "+")
    assert sp.simplify(limit - S.eta * sp.sqrt(1 - 1 / (1 + p))) == 0
    assert sp.simplify(1 - 1 / (1 + p) - limit**2 - p / (1 + p) * (1 - S.eta**2)) == 0
    step_of = at_50_digits(law)
    pairs = st.one_of(alpha_bar_pairs(PAIR_FLOOR), alpha_bar_values().map(lambda a: (a, 0.0)))

    @given(pairs, st.floats(0.0, 1.0), small_shapes().flatmap(
        lambda shape: st.tuples(image_batches(shape), eps_batches(shape), eps_batches(shape))))
    # η one ulp below 1 at ᾱ = 0: the direction term is √(1.1e-16·(1 − ᾱ_prev)) ≈ 7e-9, which
    # a float64 evaluation of the proven form rounds away (found with --hypothesis-seed=20261203).
    @example((0.75, 0.0), 1.0 - 2.0**-53, (np.full((1, 1, 1, 1), -1.0), np.ones((1, 1, 1, 1)),
                                          np.zeros((1, 1, 1, 1))))
    def spec_is_the_proven_form(pair: tuple[float, float], eta: float,
                                arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        alpha_bar_prev, alpha_bar = pair
        x0_hat, eps_hat, z = arrays
        assert_close_to_spec(
            ddim_step_from_prediction(alpha_bar_prev, alpha_bar, x0_hat, eps_hat, eta, z),
            step_of(alpha_bar_prev, alpha_bar, x0_hat, eps_hat, eta, z), "elementwise",
            scale=1.0 + np.abs(x0_hat) + np.abs(eps_hat) + np.abs(z))

    spec_is_the_proven_form()


@st.composite
def histories(draw: st.DrawFn) -> list[np.ndarray]:
    """1 to 6 ε̂ of one small shape, oldest first."""
    shape = draw(small_shapes())
    return draw(st.lists(eps_batches(shape), min_size=1, max_size=6))


def _plms_combination(history: list[np.ndarray]) -> np.ndarray:
    """Σ_j w_j·ε̂_j over the last n ≤ 4 entries with the proven rational weights."""
    recent = history[-4:]
    weights = symbolic.plms_weights(len(recent))
    return np.asarray(sum(float(w) * h for w, h in zip(weights, recent, strict=True)))


@pytest.mark.spec("SOLV-2")
def test_plms_weights_integrate_polynomials_up_to_their_order() -> None:
    # Adams–Bashforth with n points: for ε̂_j = f(j) at the nodes j = 0 … n−1 (oldest first),
    # Σ_j w_j·f(j) = ∫_{n−1}^{n} f for every polynomial f of degree < n (exact rationals), and not
    # for degree n: the order is exactly n. Degree 0 is "the weights sum to 1".
    s = sp.Symbol("s")
    for n in range(1, 5):
        weights = symbolic.plms_weights(n)
        for degree in range(n + 1):
            combination = sum(w * sp.Integer(j) ** degree for j, w in enumerate(weights))
            exact = sp.integrate(s**degree, (s, n - 1, n))
            assert (combination == exact) == (degree < n), (n, degree, combination, exact)

    @given(histories())
    def spec_is_the_proven_form(history: list[np.ndarray]) -> None:
        scale = 1.0 + 4.0 * max(float(np.max(np.abs(h))) for h in history)
        assert_close_to_spec(plms_eps(history), _plms_combination(history), "elementwise",
                             scale=scale)

    spec_is_the_proven_form()


@pytest.mark.spec("SOLV-3")
def test_the_pndm_transfer_is_ddim_with_eta_zero() -> None:
    # Liu et al.'s φ(x, ε, t → t') equals ddim_step(ᾱ', ᾱ, x, ε, η = 0, clip off) on
    # 0 < ᾱ < ᾱ' < 1 (and at ᾱ' = 1 by continuity).
    ddim = symbolic.ddim_step().expression.subs(S.eta, 0)
    transfer = symbolic.pndm_transfer()
    assert is_identically_zero(transfer.expression - ddim, REVERSE_STEP_DOMAIN)
    transfer_of = transfer.numeric()

    @given(alpha_bar_pairs(PAIR_FLOOR), st.data())
    def spec_is_the_proven_form(pair: tuple[float, float], data: st.DataObject) -> None:
        alpha_bar_prev, alpha_bar = pair
        history = data.draw(histories())
        x_t = data.draw(unbounded_batches(history[0].shape))
        eps_prime = _plms_combination(history)
        scale = 1.0 + (np.abs(x_t) + 4.0 * max(float(np.max(np.abs(h))) for h in history)
                       ) / np.sqrt(alpha_bar)
        assert_close_to_spec(pndm_step(alpha_bar_prev, alpha_bar, x_t, history),
                             transfer_of(alpha_bar_prev, alpha_bar, x_t, eps_prime),
                             "elementwise", scale=scale)

    spec_is_the_proven_form()


@st.composite
def dpm_cases(draw: st.DrawFn) -> tuple[float, float, float]:
    """(ᾱ_last, ᾱ, ᾱ_prev) with 0 < ᾱ_last < ᾱ < ᾱ_prev < 1 (a 2M step with its history)."""
    values = draw(st.lists(alpha_bar_values(1e-4, 1.0 - 1e-6), min_size=3, max_size=3,
                           unique=True).map(sorted))
    return values[0], values[1], values[2]


@pytest.mark.spec("SOLV-4")
def test_dpm_solver_pp_first_order_is_ddim_with_eta_zero() -> None:
    # e^{−h} = e^{−(λ_prev − λ)} = σ_prev·α/(α_prev·σ); the first-order step equals
    # ddim_step_from_prediction(ᾱ_prev, ᾱ, x̂0, predict_eps(ᾱ, x_t, x̂0), η = 0), also at the ends
    # ᾱ = 0 and ᾱ_prev = 1 (substituted directly); the 2M step with x̂0_last = x̂0 is first order.
    first, second = symbolic.dpm_solver_pp_step(), symbolic.dpm_solver_pp_step(second_order=True)
    h = symbolic.half_log_snr(S.alpha_bar_prev) - symbolic.half_log_snr(S.alpha_bar)
    decay = sp.sqrt(1 - S.alpha_bar_prev) * sp.sqrt(S.alpha_bar) / (
        sp.sqrt(S.alpha_bar_prev) * sp.sqrt(1 - S.alpha_bar))
    assert is_identically_zero(sp.expand(sp.exp(-h).subs(REVERSE_STEP_DOMAIN)) - decay,
                               REVERSE_STEP_DOMAIN)
    eps_hat = symbolic.predict_eps().expression.subs(S.x0, S.x0_hat)
    ddim = symbolic.ddim_step_from_prediction().expression.subs({S.eta: 0, S.eps_hat: eps_hat})
    assert is_identically_zero(first.expression - ddim, REVERSE_STEP_DOMAIN)
    difference = first.expression - ddim
    assert is_identically_zero(difference.subs(S.alpha_bar, 0), {S.alpha_bar_prev: 1 / (1 + p)})
    assert is_identically_zero(difference.subs(S.alpha_bar_prev, 1), {S.alpha_bar: 1 / (1 + q)})
    assert sp.simplify(second.expression.subs(S.x0_last, S.x0_hat) - first.expression) == 0
    first_of, second_of = first.numeric(), second.numeric()

    @given(dpm_cases(), st.booleans(), small_shapes().flatmap(
        lambda shape: st.tuples(unbounded_batches(shape, 5.0), image_batches(shape),
                                image_batches(shape))))
    def spec_is_the_proven_form(case: tuple[float, float, float], at_zero: bool,
                                arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        alpha_bar_last, alpha_bar, alpha_bar_prev = case
        x_t, x0_hat, x0_last = arrays
        start = 0.0 if at_zero else alpha_bar  # first order also from ᾱ = 0
        sigma = np.sqrt(1.0 - start)
        assert_close_to_spec(dpm_solver_pp_step(alpha_bar_prev, start, x_t, x0_hat, None),
                             first_of(alpha_bar_prev, start, x_t, x0_hat), "elementwise",
                             scale=1.0 + np.abs(x_t) / sigma + np.abs(x0_hat))
        lam = [np.log(a / (1.0 - a)) / 2 for a in (alpha_bar_last, alpha_bar, alpha_bar_prev)]
        if lam[1] == lam[0]:
            # ᾱ_last and ᾱ a few ulps apart: the proven form evaluated in float64 divides by an
            # h_last rounded to 0 (the spec does not: SOLV-4's log_snr_step); tests/spec/
            # test_solvers.py checks these triples against the law in 50-digit arithmetic.
            return
        step_ratio = (lam[2] - lam[1]) / (lam[1] - lam[0])  # h/h_last
        assert_close_to_spec(
            dpm_solver_pp_step(alpha_bar_prev, alpha_bar, x_t, x0_hat, (alpha_bar_last, x0_last)),
            second_of(alpha_bar_prev, alpha_bar, x_t, x0_hat, alpha_bar_last, x0_last),
            "elementwise", scale=1.0 + np.abs(x_t) / np.sqrt(1.0 - alpha_bar)
            + (1.0 + step_ratio) * (np.abs(x0_hat) + np.abs(x0_last)))

    spec_is_the_proven_form()
