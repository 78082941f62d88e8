"""Proofs of the likelihood laws LIK-1, LIK-4 and LIK-5 (specs/likelihood.md), each tied to the
spec function on Hypothesis-drawn points."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sympy.codegen.cfunctions import expm1

from specdiff.spec import noised_sample_from_eps, normal_kl, prior_bpd, vlb_term
from specdiff.testing import (
    alpha_bar_arrays,
    assert_close_to_spec,
    eps_batches,
    image_batches,
    nchw_shapes,
    symbolic,
)
from specdiff.testing.symbolic import (
    ALPHA_BAR_DOMAIN,
    REVERSE_STEP_DOMAIN,
    is_identically_zero,
    is_nonnegative,
    unclip,
)
from specdiff.testing.symbolic import SYMBOLS as S
from tests.proofs.lemmas import exp_gap

VARIANCES = ("fixed_small", "fixed_large")


def log_normal_density(x: sp.Expr, mean: sp.Expr, log_variance: sp.Expr) -> sp.Expr:
    """log N(x; mean, e^log_variance)."""
    return (-sp.log(2 * sp.pi) / 2 - log_variance / 2
            - (x - mean) ** 2 * sp.exp(-log_variance) / 2)


@pytest.mark.spec("LIK-1")
def test_the_gaussian_kl_is_the_expected_log_ratio_and_is_nonnegative() -> None:
    law = symbolic.normal_kl()
    m1, lv1, m2, lv2 = law.arguments
    # KL = E[log N(x; m1, e^lv1) − log N(x; m2, e^lv2)] for x = m1 + e^{lv1/2}·z: the log-ratio is
    # a quadratic in z, whose expectation uses E[z] = 0 and E[z²] = 1.
    z = sp.Symbol("z", real=True)
    x = m1 + sp.exp(lv1 / 2) * z
    log_ratio = sp.expand(log_normal_density(x, m1, lv1) - log_normal_density(x, m2, lv2))
    expectation = log_ratio.subs(z**2, 1).subs(z, 0)
    assert sp.simplify(expectation - law.expression) == 0
    # The evaluation form ½(expm1(d) − d + (m1 − m2)²·e^{−lv2}), d = lv1 − lv2, is the same.
    d = lv1 - lv2
    evaluated = (expm1(d) - d + (m1 - m2) ** 2 * sp.exp(-lv2)) / 2
    assert sp.expand(evaluated.rewrite(sp.exp) - law.expression) == 0
    # KL = ½·g(d) + ½·(m1 − m2)²·e^{−lv2} with g(d) = e^d − 1 − d: both terms ≥ 0, and both 0
    # only at d = 0 and m1 = m2 (exp_gap), so KL ≥ 0 with equality only for equal Gaussians.
    assert sp.expand(law.expression - exp_gap(d) / 2 - (m1 - m2) ** 2 * sp.exp(-lv2) / 2) == 0
    assert ((m1 - m2) ** 2 * sp.exp(-lv2)).is_nonnegative
    kl_of = law.numeric()
    values = st.floats(-5.0, 5.0)
    log_variances = st.floats(-12.0, 4.0)

    @given(st.tuples(st.integers(1, 3), st.integers(1, 4)).flatmap(lambda shape: st.tuples(
        *(hnp.arrays(np.float64, shape, elements=e)
          for e in (values, log_variances, values, log_variances)))))
    def spec_is_the_proven_form(parameters: tuple[np.ndarray, ...]) -> None:
        mean1, logvar1, mean2, logvar2 = parameters
        # LIK-1's scale: the magnitudes of the terms the formula cancels.
        scale = (1.0 + np.abs(logvar1) + np.abs(logvar2) + np.exp(logvar1 - logvar2)
                 + (mean1 - mean2) ** 2 * np.exp(-logvar2))
        assert_close_to_spec(normal_kl(mean1, logvar1, mean2, logvar2),
                             kl_of(mean1, logvar1, mean2, logvar2), "elementwise", scale=scale)

    spec_is_the_proven_form()


@pytest.mark.spec("LIK-4")
def test_the_prior_term_is_bounded_by_the_terminal_signal() -> None:
    # KL(N(√ᾱ·x0, 1 − ᾱ) ‖ N(0, 1)) = ½(ᾱ·x0² − ᾱ − log(1 − ᾱ)). For x0² ≤ 1 it is at most
    # −½·log(1 − ᾱ) (the gap is ½ᾱ(1 − x0²) ≥ 0), and −log(1 − ᾱ) ≤ ᾱ/(1 − ᾱ): with
    # y = −log(1 − ᾱ) ≥ 0 the difference ᾱ/(1 − ᾱ) − y is g(y) = e^y − 1 − y ≥ 0 (exp_gap). It is
    # ≥ 0 by LIK-1, so 0 ≤ prior_bpd ≤ ᾱ/(2(1 − ᾱ)·ln 2).
    kl = symbolic.normal_kl().expression
    prior = kl.subs({S.mean1: sp.sqrt(S.alpha_bar) * S.x0, S.logvar1: sp.log(1 - S.alpha_bar),
                     S.mean2: 0, S.logvar2: 0})
    closed = (S.alpha_bar * S.x0**2 - S.alpha_bar - sp.log(1 - S.alpha_bar)) / 2
    assert is_identically_zero(prior - closed, ALPHA_BAR_DOMAIN)
    assert sp.expand(closed.subs(S.x0, 1) - closed - S.alpha_bar * (1 - S.x0**2) / 2) == 0
    y = sp.Symbol("y", positive=True)
    gap = (S.alpha_bar / (1 - S.alpha_bar) + sp.log(1 - S.alpha_bar)).subs(
        S.alpha_bar, 1 - sp.exp(-y))
    assert sp.simplify(gap - exp_gap(y)) == 0
    prior_of = sp.lambdify((S.alpha_bar, S.x0), closed, "numpy")

    @given(alpha_bar_arrays(), nchw_shapes(max_side=4).flatmap(
        lambda shape: image_batches(tuple(shape))))
    def spec_is_the_proven_form(bars: np.ndarray, x0: np.ndarray) -> None:
        per_element = prior_of(bars[-1], x0) / math.log(2.0)
        expected = per_element.reshape(x0.shape[0], -1).mean(axis=1)
        assert_close_to_spec(prior_bpd(bars, x0), expected, "reduction")

    spec_is_the_proven_form()


@pytest.mark.spec("LIK-5")
def test_with_the_true_noise_a_term_is_only_the_variance_mismatch() -> None:
    # With ε̂ = ε, x̂0 = x0 ∈ [−1, 1] (FWD-4; the clip is inactive), so μ_θ = μ̃ and the term is
    # KL(N(μ̃, β̃) ‖ N(μ̃, σ²)) = ½(r − 1 − log r), r = β̃/σ²: 0 for σ² = β̃ ("fixed_small") and
    # the mismatch with r = β̃/β = (1 − ᾱ_{t−1})/(1 − ᾱ_t) for σ² = β ("fixed_large").
    w = sp.Symbol("w", positive=True)
    x_t = symbolic.noised_sample().expression
    x0_hat = symbolic.clip(symbolic.predict_x0().expression.subs({S.x_t: x_t,
                                                                   S.eps_hat: S.eps}))
    assert unclip(x0_hat, {**ALPHA_BAR_DOMAIN, S.x0: (1 - w) / (1 + w)}) == S.x0
    small = symbolic.ddpm_posterior_variance().expression
    large = 1 - S.alpha_bar / S.alpha_bar_prev
    kl = symbolic.normal_kl().expression.subs({S.mean1: S.x0, S.mean2: S.x0})
    for model_variance, ratio in ((small, 1), (large, (1 - S.alpha_bar_prev) / (1 - S.alpha_bar))):
        term = kl.subs({S.logvar1: sp.log(small), S.logvar2: sp.log(model_variance)})
        mismatch = (ratio - 1 - sp.log(ratio)) / 2
        on_domain = symbolic.canonical(term - mismatch, REVERSE_STEP_DOMAIN)
        assert sp.simplify(sp.expand_log(on_domain, force=True)) == 0
        assert is_nonnegative(ratio, REVERSE_STEP_DOMAIN)
    kl_of = symbolic.normal_kl().numeric()
    mean_of = symbolic.ddpm_posterior_mean().numeric()
    variance_of = symbolic.ddpm_posterior_variance().numeric()
    x0_hat_of = symbolic.predict_x0().numeric()

    @given(alpha_bar_arrays().filter(lambda bars: bars.shape[0] >= 2), st.data(), st.booleans(),
           st.sampled_from(VARIANCES))
    def spec_is_the_proven_form(bars: np.ndarray, data: st.DataObject, clip: bool,
                                variance: str) -> None:
        t = data.draw(st.integers(1, bars.shape[0] - 1))
        shape = tuple(data.draw(nchw_shapes(max_batch=2, max_side=4)))
        x0, eps = data.draw(image_batches(shape)), data.draw(eps_batches(shape))
        eps_hat = data.draw(st.one_of(st.just(eps), eps_batches(shape)))
        x_t, _ = noised_sample_from_eps(bars, x0, eps, t)
        previous, current = float(bars[t - 1]), float(bars[t])
        x0_hat = x0_hat_of(current, x_t, eps_hat)
        if clip:
            x0_hat = np.clip(x0_hat, -1.0, 1.0)
        posterior_variance = variance_of(previous, current)
        model_variance = posterior_variance if variance == "fixed_small" else (
            1.0 - current / previous)
        kl = kl_of(mean_of(previous, current, x0, x_t), math.log(posterior_variance),
                   mean_of(previous, current, x0_hat, x_t), math.log(model_variance))
        expected = kl.reshape(shape[0], -1).mean(axis=1) / math.log(2.0)
        # The KL's (Δμ)²/2σ² amplifies the means' rounding by |Δμ|/σ² (LIK-5's tolerance).
        amplification = (np.abs(x0_hat - x0) * (1.0 + (np.abs(x_t) + np.abs(eps_hat))
                                                / math.sqrt(current)) / posterior_variance)
        scale = 1.0 + amplification.reshape(shape[0], -1).mean(axis=1)
        assert_close_to_spec(vlb_term(bars, t, x0, x_t, eps_hat, clip, variance), expected,
                             "reduction", scale=scale)

    spec_is_the_proven_form()
