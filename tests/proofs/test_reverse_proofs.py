"""Proofs of the reverse-step laws REV-2 … REV-8 (specs/reverse.md).

Domain substitutions (specdiff.testing.symbolic): ᾱ_prev = 1/(1+p) and ᾱ = ᾱ_prev/(1+q) with
p, q > 0 cover 0 < ᾱ < ᾱ_prev < 1 (one DDPM step: β = q/(1+q)); η = 1/(1+e) covers 0 < η < 1;
the edges ᾱ_prev ∈ {ᾱ, 1}, η ∈ {0, 1} follow by continuity, or are substituted directly where a
law is about an edge. Each proof is tied to the spec function on Hypothesis-drawn points.
"""

from collections.abc import Callable

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from specdiff.spec import ddim_prev, ddim_sigma, ddim_step, ddpm_posterior, ddpm_prev, predict_x0
from specdiff.testing import (
    alpha_bar_arrays,
    alpha_bar_pairs,
    assert_close_to_spec,
    eps_batches,
    image_batches,
    nchw_shapes,
    symbolic,
    timesteps,
    unbounded_batches,
)
from specdiff.testing.symbolic import (
    ETA_DOMAIN,
    REVERSE_STEP_DOMAIN,
    is_identically_zero,
    is_nonnegative,
    unclip,
)
from specdiff.testing.symbolic import SYMBOLS as S

# Below this ᾱ the division x̂0 = (x_t − √(1−ᾱ)ε̂)/√ᾱ, not the law, dominates float64 rounding.
PAIR_FLOOR = 1e-6

DDIMCase = tuple[float, float, np.ndarray, np.ndarray, np.ndarray]


@st.composite
def ddim_cases(draw: st.DrawFn) -> DDIMCase:
    """(ᾱ_prev, ᾱ, x_t, ε̂, z) of one DDIM step, edges ᾱ_prev ∈ {ᾱ, 1} included."""
    alpha_bar_prev, alpha_bar = draw(alpha_bar_pairs(PAIR_FLOOR))
    shape = tuple(draw(nchw_shapes(max_batch=2, max_side=4)))
    return (alpha_bar_prev, alpha_bar, draw(unbounded_batches(shape)), draw(eps_batches(shape)),
            draw(eps_batches(shape)))


def _rounding_scale(alpha_bar: float | np.ndarray, x_t: np.ndarray, eps: np.ndarray
                    ) -> np.ndarray:
    """REV-1's tolerance scale: 1 + (|x_t| + |ε̂|)/√ᾱ (the x̂0 division amplifies rounding)."""
    return np.asarray(1.0 + (np.abs(x_t) + np.abs(eps)) / np.sqrt(alpha_bar))


def _tie_ddim_prev_to_the_code() -> None:
    law = symbolic.ddim_prev().numeric()

    @given(ddim_cases())
    def spec_is_the_proven_form(case: DDIMCase) -> None:
        alpha_bar_prev, alpha_bar, x_t, eps_hat, _ = case
        assert_close_to_spec(ddim_prev(alpha_bar_prev, alpha_bar, x_t, eps_hat),
                             law(alpha_bar_prev, alpha_bar, x_t, eps_hat), "elementwise",
                             scale=_rounding_scale(alpha_bar, x_t, eps_hat))

    spec_is_the_proven_form()


@pytest.mark.spec("REV-2")
def test_ddim_with_the_true_noise_lands_on_the_noising_line() -> None:
    # With x_t = FWD-1(x0, ε) and ε̂ = ε, x̂0 = x0 (FWD-4); for x0 ∈ [−1, 1] the clip is inactive
    # (x0 = (1 − w)/(1 + w), w > 0, covers (−1, 1)), and the step is FWD-1 at ᾱ_prev.
    w = sp.Symbol("w", positive=True)
    x_t = symbolic.noised_sample().expression
    step = symbolic.ddim_prev().expression.subs({S.x_t: x_t, S.eps_hat: S.eps})
    step = unclip(step, {**REVERSE_STEP_DOMAIN, S.x0: (1 - w) / (1 + w)})
    on_the_line = x_t.subs(S.alpha_bar, S.alpha_bar_prev)
    assert is_identically_zero(step - on_the_line, REVERSE_STEP_DOMAIN)
    _tie_ddim_prev_to_the_code()


@pytest.mark.spec("REV-3")
def test_the_x0_implied_by_the_clamped_step_is_the_clipped_estimate() -> None:
    # (x_prev − √(1−ᾱ_prev)·ε̂)/√ᾱ_prev = clip(x̂0, −1, 1) identically, and clip's range is
    # [−1, 1] by its definition, whatever x_t and ε̂ are.
    step = symbolic.ddim_prev().expression
    implied = (step - sp.sqrt(1 - S.alpha_bar_prev) * S.eps_hat) / sp.sqrt(S.alpha_bar_prev)
    clipped = symbolic.clip(symbolic.predict_x0().expression)
    assert is_identically_zero(implied - clipped, REVERSE_STEP_DOMAIN)
    _tie_ddim_prev_to_the_code()


@pytest.mark.spec("REV-4")
def test_ddim_with_eta_zero_and_clip_is_the_clamped_step() -> None:
    # At η = 0, σ = 0: √(1 − ᾱ_prev − σ²) = √(1 − ᾱ_prev), and z has coefficient σ = 0.
    general = symbolic.ddim_step(clipped=True).expression.subs(S.eta, 0)
    assert is_identically_zero(general - symbolic.ddim_prev().expression, REVERSE_STEP_DOMAIN)
    assert sp.diff(general, S.z) == 0
    clamped = symbolic.ddim_prev().numeric()

    @given(ddim_cases(), st.booleans())
    def spec_is_the_proven_form(case: DDIMCase, pass_noise: bool) -> None:
        alpha_bar_prev, alpha_bar, x_t, eps_hat, z = case
        step = ddim_step(alpha_bar_prev, alpha_bar, x_t, eps_hat, 0.0, z if pass_noise else None,
                         True)
        assert_close_to_spec(step, clamped(alpha_bar_prev, alpha_bar, x_t, eps_hat),
                             "elementwise", scale=_rounding_scale(alpha_bar, x_t, eps_hat))

    spec_is_the_proven_form()


@pytest.mark.spec("REV-5")
def test_the_ddim_noise_fits_in_the_remaining_variance() -> None:
    # 1 − ᾱ_prev − σ² = p·(p·(1+e)² + q·(1+p)·e·(2+e)) / ((1+p)·(p+q+pq)·(1+e)²) on the domain:
    # a ratio of polynomials with positive coefficients, so ≥ 0, and σ ≥ 0 (η ≥ 0).
    sigma = symbolic.ddim_sigma()
    domain = {**REVERSE_STEP_DOMAIN, **ETA_DOMAIN}
    assert is_nonnegative(1 - S.alpha_bar_prev - sigma.expression**2, domain)
    assert is_nonnegative(sigma.expression, domain)
    # The edges: η = 1 (REV-6's posterior variance) still leaves a nonnegative remainder.
    assert is_nonnegative(1 - S.alpha_bar_prev - sigma.expression.subs(S.eta, 1) ** 2,
                          REVERSE_STEP_DOMAIN)
    sigma_of = sigma.numeric()
    unclipped, clamped = symbolic.ddim_step().numeric(), symbolic.ddim_step(True).numeric()

    @given(ddim_cases(), st.floats(0.0, 1.0), st.booleans())
    def spec_is_the_proven_form(case: DDIMCase, eta: float, clip: bool) -> None:
        alpha_bar_prev, alpha_bar, x_t, eps_hat, z = case
        assert_close_to_spec(ddim_sigma(alpha_bar_prev, alpha_bar, eta),
                             sigma_of(alpha_bar_prev, alpha_bar, eta), "elementwise")
        law = clamped if clip else unclipped
        assert_close_to_spec(ddim_step(alpha_bar_prev, alpha_bar, x_t, eps_hat, eta, z, clip),
                             law(alpha_bar_prev, alpha_bar, x_t, eps_hat, eta, z), "elementwise",
                             scale=_rounding_scale(alpha_bar, x_t, eps_hat) + np.abs(z))

    spec_is_the_proven_form()


@pytest.mark.spec("REV-6")
def test_ddim_with_eta_one_is_the_ddpm_posterior() -> None:
    # One step t → t−1: ddim_step(η = 1) = μ̃(x̂0, x_t) + σ·z with σ² = β̃_t.
    step = symbolic.ddim_step().expression.subs(S.eta, 1)
    x0_hat = symbolic.predict_x0().expression
    posterior_mean = symbolic.ddpm_posterior_mean().expression.subs(S.x0, x0_hat)
    posterior_variance = symbolic.ddpm_posterior_variance().expression
    assert is_identically_zero(step.subs(S.z, 0) - posterior_mean, REVERSE_STEP_DOMAIN)
    assert is_identically_zero(sp.diff(step, S.z) ** 2 - posterior_variance, REVERSE_STEP_DOMAIN)
    # The posterior form divides by 1 − ᾱ and β = 1 − ᾱ/ᾱ_prev, which float64 rounds badly as
    # they → 0 while the step itself stays well conditioned: evaluate it with 50 digits.
    posterior_step = _with_50_digits(
        (S.alpha_bar_prev, S.alpha_bar, S.x_t, S.eps_hat, S.z),
        posterior_mean + sp.sqrt(posterior_variance) * S.z)

    one = np.ones((1, 1, 1, 1))

    @given(ddim_cases())
    @example((0.999996218174653, 0.99999, one, 0 * one, 0 * one))  # float64 posterior form off
    def spec_is_the_proven_form(case: DDIMCase) -> None:
        alpha_bar_prev, alpha_bar, x_t, eps_hat, z = case
        expected = posterior_step(alpha_bar_prev, alpha_bar, x_t, eps_hat, z)
        assert_close_to_spec(ddim_step(alpha_bar_prev, alpha_bar, x_t, eps_hat, 1.0, z, False),
                             expected, "elementwise",
                             scale=_rounding_scale(alpha_bar, x_t, eps_hat) + np.abs(z))

    spec_is_the_proven_form()


def _with_50_digits(arguments: tuple[sp.Symbol, ...], expression: sp.Expr
                    ) -> Callable[..., np.ndarray]:
    """``expression`` as an elementwise numpy function evaluated in 50-digit arithmetic."""
    exact = sp.lambdify(arguments, expression, "mpmath")

    def evaluate(*values: float | np.ndarray) -> np.ndarray:
        with mpmath.workdps(50):
            return np.vectorize(
                lambda *point: float(exact(*(mpmath.mpf(float(v)) for v in point))),
                otypes=[np.float64])(*values)

    return evaluate


PosteriorCase = tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]


@st.composite
def posterior_cases(draw: st.DrawFn) -> PosteriorCase:
    """(ᾱ table, t, x0, x_t, ε̂) for one DDPM posterior at a scalar t."""
    bars = draw(alpha_bar_arrays())
    shape = tuple(draw(nchw_shapes(max_batch=2, max_side=4)))
    return (bars, draw(timesteps(bars.shape[0])), draw(image_batches(shape)),
            draw(unbounded_batches(shape, 5.0)), draw(eps_batches(shape)))


def _previous(bars: np.ndarray, t: int) -> float:
    """ᾱ_{t−1}, with ᾱ_{−1} = 1."""
    return 1.0 if t == 0 else float(bars[t - 1])


@pytest.mark.spec("REV-7")
def test_the_ddpm_posterior_is_the_gaussian_conditional() -> None:
    # Given x0: x_{t−1} = √ᾱ_{t−1}·x0 + √(1−ᾱ_{t−1})·n1 (FWD-1) and x_t = COND-7's kernel of
    # x_{t−1} with noise n2. Conditioning the jointly Gaussian pair on x_t gives
    # E = E[x_{t−1}] + C/V·(x_t − E[x_t]) and Var = Var[x_{t−1}] − C²/V (C = Cov, V = Var x_t).
    n1, n2 = sp.symbols("n1 n2", real=True)
    x_prev = symbolic.noised_sample().expression.subs({S.alpha_bar: S.alpha_bar_prev,
                                                        S.eps: n1})
    x_t = symbolic.forward_step().expression.subs({S.x_prev: x_prev, S.noise: n2})

    def covariance(a: sp.Expr, b: sp.Expr) -> sp.Expr:
        return sum(sp.diff(a, n) * sp.diff(b, n) for n in (n1, n2))

    def mean(a: sp.Expr) -> sp.Expr:
        return a.subs({n1: 0, n2: 0})

    ratio = covariance(x_prev, x_t) / covariance(x_t, x_t)
    conditional_mean = mean(x_prev) + ratio * (S.x_t - mean(x_t))
    conditional_variance = covariance(x_prev, x_prev) - ratio * covariance(x_prev, x_t)
    mean_law, variance_law = symbolic.ddpm_posterior_mean(), symbolic.ddpm_posterior_variance()
    assert is_identically_zero(conditional_mean - mean_law.expression, REVERSE_STEP_DOMAIN)
    assert is_identically_zero(conditional_variance - variance_law.expression,
                               REVERSE_STEP_DOMAIN)
    assert variance_law.expression.subs(S.alpha_bar_prev, 1) == 0  # β̃_0 = 0 (ᾱ_{−1} = 1)
    mean_of, variance_of = mean_law.numeric(), variance_law.numeric()

    @given(posterior_cases())
    def spec_is_the_proven_form(case: PosteriorCase) -> None:
        bars, t, x0, x_t, _ = case
        mean, variance, _ = ddpm_posterior(bars, t, x0, x_t)
        previous = _previous(bars, t)
        assert_close_to_spec(mean, mean_of(previous, bars[t], x0, x_t), "elementwise",
                             scale=1.0 + np.abs(x0) + np.abs(x_t))
        assert_close_to_spec(variance, variance_of(previous, bars[t]), "elementwise")

    spec_is_the_proven_form()


@pytest.mark.spec("REV-8")
def test_the_two_forms_of_the_posterior_mean_agree() -> None:
    x0_hat = symbolic.predict_x0().expression
    from_x0 = symbolic.ddpm_posterior_mean().expression.subs(S.x0, x0_hat)
    eps_form = symbolic.ddpm_posterior_mean_from_eps()
    assert is_identically_zero(from_x0 - eps_form.expression, REVERSE_STEP_DOMAIN)
    eps_form_of = eps_form.numeric()

    @given(posterior_cases())
    def spec_is_the_proven_form(case: PosteriorCase) -> None:
        bars, t, _, x_t, eps_hat = case
        expected = eps_form_of(_previous(bars, t), bars[t], x_t, eps_hat)
        # The x̂0 division amplifies rounding by 1/√ᾱ_t and μ̃'s coefficients by 1/(1 − ᾱ_t).
        scale = _rounding_scale(bars[t], x_t, eps_hat) / (1.0 - bars[t])
        mean, _, _ = ddpm_posterior(bars, t, predict_x0(float(bars[t]), x_t, eps_hat), x_t)
        assert_close_to_spec(mean, expected, "elementwise", scale=scale)
        no_noise = ddpm_prev(bars, t, x_t, eps_hat, np.zeros_like(x_t), False)
        assert_close_to_spec(no_noise, expected, "elementwise", scale=scale)

    spec_is_the_proven_form()
