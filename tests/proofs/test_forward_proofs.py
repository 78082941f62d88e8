"""Proofs of the forward laws FWD-1, FWD-3 and FWD-4 (specs/forward.md).

Each test proves its identity with SymPy from the closed forms of ``specdiff.testing.symbolic``
and, in the same test, ties the proof to the code: the spec function must equal the proven
expression (lambdified) on Hypothesis-drawn points of the law's domain.
"""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given

from specdiff.spec import noised_sample_from_eps, predict_eps, predict_x0
from specdiff.testing import (
    NoisingCase,
    alpha_bar_values,
    assert_close_to_spec,
    eps_batches,
    nchw_shapes,
    noising_cases,
    per_example,
    symbolic,
    unbounded_batches,
)
from specdiff.testing.symbolic import (
    ALPHA_BAR_DOMAIN,
    is_identically_zero,
    is_nonnegative,
    p,
)
from specdiff.testing.symbolic import SYMBOLS as S
from tests.proofs.lemmas import forward_kernel_keeps_the_marginal


def _tie_noised_sample_to_the_code() -> None:
    noised = symbolic.noised_sample().numeric()

    @given(noising_cases())
    def spec_is_the_proven_form(case: NoisingCase) -> None:
        bars, x0, eps, t = case
        x_t, target = noised_sample_from_eps(bars, x0, eps, t)
        alpha_bar = per_example(np.broadcast_to(bars[t], (x0.shape[0],)), x0.ndim)
        assert_close_to_spec(x_t, noised(alpha_bar, x0, eps), "elementwise")
        np.testing.assert_array_equal(target, eps)

    spec_is_the_proven_form()


@pytest.mark.spec("FWD-1")
def test_noised_sample_is_the_marginal_of_the_one_step_kernels() -> None:
    # x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε is N(√ᾱ_t·x0, 1 − ᾱ_t) given x0, and by induction on t (the
    # lemma is the step) it is the marginal of the chain x_t = √(1−β_t)·x_{t−1} + √β_t·n_t.
    forward_kernel_keeps_the_marginal()
    _tie_noised_sample_to_the_code()


@pytest.mark.spec("FWD-3")
def test_noised_sample_tends_to_the_data_with_the_triangle_bound() -> None:
    # x_t − x0 = −(1 − √ᾱ)·x0 + √(1 − ᾱ)·ε with both coefficients ≥ 0, so by the triangle
    # inequality |x_t − x0| ≤ (1 − √ᾱ)·|x0| + √(1 − ᾱ)·|ε|; at ᾱ = 1 both vanish. The domain
    # ᾱ = 1/(1+p)² (p > 0 covers (0, 1)) makes √ᾱ rational, so 1 − √ᾱ = p/(1+p) is visibly ≥ 0.
    x_t = symbolic.noised_sample().expression
    squared_domain = {S.alpha_bar: 1 / (1 + p) ** 2}
    data_weight, noise_weight = 1 - sp.sqrt(S.alpha_bar), sp.sqrt(1 - S.alpha_bar)
    assert is_identically_zero(x_t - S.x0 - (-data_weight * S.x0 + noise_weight * S.eps),
                               squared_domain)
    assert is_nonnegative(data_weight, squared_domain)
    assert is_nonnegative(noise_weight, squared_domain)
    assert x_t.subs(S.alpha_bar, 1) == S.x0
    _tie_noised_sample_to_the_code()


def _division_scale(alpha_bar: float, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """FWD-4's tolerance scale: 1 + (|first| + |second|)/√(the divisor's radicand)."""
    return np.asarray(1.0 + (np.abs(first) + np.abs(second)) / np.sqrt(alpha_bar))


@pytest.mark.spec("FWD-4")
def test_predictions_invert_the_noising() -> None:
    x_t = symbolic.noised_sample().expression
    x0_law, eps_law = symbolic.predict_x0(), symbolic.predict_eps()
    x0_hat = x0_law.expression.subs({S.x_t: x_t, S.eps_hat: S.eps})
    eps_hat = eps_law.expression.subs({S.x_t: x_t})
    assert is_identically_zero(x0_hat - S.x0, ALPHA_BAR_DOMAIN)
    assert is_identically_zero(eps_hat - S.eps, ALPHA_BAR_DOMAIN)
    # The two inversions agree with each other: ε̂ → x̂0 → ε̂ is the identity for any x_t.
    round_trip = eps_law.expression.subs(S.x0, x0_law.expression)
    assert is_identically_zero(round_trip - S.eps_hat, ALPHA_BAR_DOMAIN)

    x0_of, eps_of = x0_law.numeric(), eps_law.numeric()

    @given(alpha_bar_values(), nchw_shapes().flatmap(
        lambda shape: unbounded_batches(tuple(shape), 5.0).flatmap(
            lambda x: eps_batches(x.shape).map(lambda other: (x, other)))))
    def spec_is_the_proven_form(alpha_bar: float, arrays: tuple[np.ndarray, np.ndarray]) -> None:
        x, other = arrays
        assert_close_to_spec(predict_x0(alpha_bar, x, other), x0_of(alpha_bar, x, other),
                             "elementwise", scale=_division_scale(alpha_bar, x, other))
        assert_close_to_spec(predict_eps(alpha_bar, x, other), eps_of(alpha_bar, x, other),
                             "elementwise", scale=_division_scale(1.0 - alpha_bar, x, other))

    spec_is_the_proven_form()
