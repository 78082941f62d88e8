"""Laws REV-1 … REV-10 on the numpy reference (specs/reverse.md)."""

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, example, given
from hypothesis import strategies as st

from specdiff.spec import (
    alpha_bars,
    ddim_prev,
    ddim_sigma,
    ddim_step,
    ddpm_posterior,
    ddpm_prev,
    noised_sample_from_eps,
    predict_x0,
)
from specdiff.testing import (
    NCHWShape,
    alpha_bar_arrays,
    alpha_bar_pairs,
    assert_close_to_spec,
    batched_timesteps,
    beta_arrays,
    eps_batches,
    image_batches,
    nchw_shapes,
    timesteps,
    unbounded_batches,
)
from tests.spec.exact_steps import exact_ddim_coefficients, law_beta

# ᾱ below this makes x̂0 = (x_t − √(1−ᾱ)ε̂)/√ᾱ so large that float64 rounding of the division,
# not the law, dominates; the strategies' 1e-6 floor is kept for laws without that division.
PAIR_FLOOR = 1e-6


def _rounding_scale(alpha_bar: float | np.ndarray, x_t: np.ndarray, eps: np.ndarray
                    ) -> np.ndarray:
    """The magnitude a step's rounding scales with: 1 + (|x_t| + |ε̂|)/√ᾱ (specs/reverse.md)."""
    return np.asarray(1.0 + (np.abs(x_t) + np.abs(eps)) / np.sqrt(alpha_bar))


@st.composite
def ddim_cases(draw: st.DrawFn) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
    alpha_bar_prev, alpha_bar = draw(alpha_bar_pairs(PAIR_FLOOR))
    shape = tuple(draw(nchw_shapes()))
    return (alpha_bar_prev, alpha_bar, draw(unbounded_batches(shape)), draw(eps_batches(shape)),
            draw(eps_batches(shape)))


Case = tuple[float, float, np.ndarray, np.ndarray, np.ndarray]


@pytest.mark.spec("REV-1")
@given(ddim_cases())
def test_ddim_prev_is_the_clamped_formula_with_eps_used_as_given(case: Case) -> None:
    alpha_bar_prev, alpha_bar, x_t, eps_hat, _ = case
    x0_hat = np.clip((x_t - np.sqrt(1 - alpha_bar) * eps_hat) / np.sqrt(alpha_bar), -1, 1)
    expected = np.sqrt(alpha_bar_prev) * x0_hat + np.sqrt(1 - alpha_bar_prev) * eps_hat
    assert_close_to_spec(ddim_prev(alpha_bar_prev, alpha_bar, x_t, eps_hat), expected,
                         "elementwise", scale=_rounding_scale(alpha_bar, x_t, eps_hat))


@pytest.mark.spec("REV-2")
@given(st.data(), alpha_bar_pairs(PAIR_FLOOR), nchw_shapes())
def test_ddim_with_true_eps_lands_on_the_noising_line(
    data: st.DataObject, pair: tuple[float, float], shape: NCHWShape
) -> None:
    alpha_bar_prev, alpha_bar = pair
    x0 = data.draw(image_batches(tuple(shape)))
    eps = data.draw(eps_batches(tuple(shape)))
    x_t, _ = noised_sample_from_eps(np.array([alpha_bar]), x0, eps, 0)
    expected = np.sqrt(alpha_bar_prev) * x0 + np.sqrt(1 - alpha_bar_prev) * eps
    scale = _rounding_scale(alpha_bar, x_t, eps)
    assert_close_to_spec(ddim_prev(alpha_bar_prev, alpha_bar, x_t, eps), expected,
                         "elementwise", scale=scale)
    assert_close_to_spec(ddim_step(alpha_bar_prev, alpha_bar, x_t, eps, 0.0, None, False),
                         expected, "elementwise", scale=scale)


@pytest.mark.spec("REV-3")
@given(ddim_cases())
def test_ddim_prev_implied_x0_is_in_the_data_range(case: Case) -> None:
    alpha_bar_prev, alpha_bar, x_t, eps_hat, _ = case
    x_prev = ddim_prev(alpha_bar_prev, alpha_bar, x_t, eps_hat)
    implied = (x_prev - np.sqrt(1 - alpha_bar_prev) * eps_hat) / np.sqrt(alpha_bar_prev)
    slack = 1e-12 * (1.0 + (np.abs(x_prev) + np.abs(eps_hat)) / np.sqrt(alpha_bar_prev))
    assert np.all(np.abs(implied) <= 1.0 + slack)


@pytest.mark.spec("REV-4")
@given(ddim_cases(), st.booleans())
def test_ddim_step_with_eta_zero_and_clip_is_ddim_prev(case: Case, pass_noise: bool) -> None:
    alpha_bar_prev, alpha_bar, x_t, eps_hat, z = case
    step = ddim_step(alpha_bar_prev, alpha_bar, x_t, eps_hat, 0.0, z if pass_noise else None, True)
    assert_close_to_spec(step, ddim_prev(alpha_bar_prev, alpha_bar, x_t, eps_hat), "elementwise",
                         scale=_rounding_scale(alpha_bar, x_t, eps_hat))


@pytest.mark.spec("REV-4")
@given(ddim_cases())
def test_ddim_with_eta_zero_is_deterministic(case: Case) -> None:
    alpha_bar_prev, alpha_bar, x_t, eps_hat, z = case
    with_noise = ddim_step(alpha_bar_prev, alpha_bar, x_t, eps_hat, 0.0, z, True)
    without = ddim_step(alpha_bar_prev, alpha_bar, x_t, eps_hat, 0.0, np.zeros_like(z), True)
    np.testing.assert_array_equal(with_noise, without)


@pytest.mark.spec("REV-5")
@given(ddim_cases(), st.floats(0.0, 1.0), st.booleans())
def test_ddim_step_is_the_general_formula(case: Case, eta: float, clip: bool) -> None:
    alpha_bar_prev, alpha_bar, x_t, eps_hat, z = case
    # Eq. 16 in 50 digits: in float64, 1 − ᾱ/ᾱ_prev cancels for close ᾱ (issue 10).
    root, direction, sigma = exact_ddim_coefficients(alpha_bar_prev, alpha_bar, eta)
    assert ddim_sigma(alpha_bar_prev, alpha_bar, eta) == pytest.approx(sigma, rel=1e-12, abs=0)
    x0_hat = (x_t - np.sqrt(1 - alpha_bar) * eps_hat) / np.sqrt(alpha_bar)
    if clip:
        x0_hat = np.clip(x0_hat, -1, 1)
    expected = root * x0_hat + direction * eps_hat + sigma * z
    assert_close_to_spec(ddim_step(alpha_bar_prev, alpha_bar, x_t, eps_hat, eta, z, clip),
                         expected, "elementwise",
                         scale=_rounding_scale(alpha_bar, x_t, eps_hat) + np.abs(z))


@pytest.mark.spec("REV-6")
def test_ddim_with_eta_one_is_the_ddpm_posterior_symbolically() -> None:
    # a = ᾱ_{t−1} = 1/(1+p) and β = 1/(1+q) with p, q > 0 cover exactly (0, 1)², and make every
    # radicand a ratio of positive polynomials, so SymPy can take the square roots exactly.
    p, q = sp.symbols("p q", positive=True)
    x0, x_t = sp.symbols("x0 x_t", real=True)

    def root(expression: sp.Expr) -> sp.Expr:
        return sp.sqrt(sp.factor(sp.together(expression)))

    a, beta = 1 / (1 + p), 1 / (1 + q)
    alpha_bar = a * (1 - beta)
    sigma_squared = sp.factor(sp.together((1 - a) / (1 - alpha_bar) * (1 - alpha_bar / a)))
    eps_hat = (x_t - root(alpha_bar) * x0) / root(1 - alpha_bar)  # ε̂ whose x̂0 is x0
    ddim_mean = root(a) * x0 + root(1 - a - sigma_squared) * eps_hat
    posterior_mean = (root(a) * beta / (1 - alpha_bar) * x0
                      + root(1 - beta) * (1 - a) / (1 - alpha_bar) * x_t)
    posterior_variance = beta * (1 - a) / (1 - alpha_bar)
    assert sp.simplify(sigma_squared - posterior_variance) == 0
    assert sp.simplify(ddim_mean - posterior_mean) == 0
    # The σ proven about is the spec's: ddim_sigma(η = 1)² at a point of (0, 1)².
    at = {p: sp.Rational(1, 3), q: sp.Rational(2, 5)}
    assert_close_to_spec(ddim_sigma(float(a.subs(at)), float(alpha_bar.subs(at)), 1.0) ** 2,
                         float(sigma_squared.subs(at)), "elementwise")


@pytest.mark.spec("REV-6")
@given(st.data(), st.floats(1e-3, 1.0), st.floats(1e-4, 0.999), nchw_shapes())
def test_ddim_with_eta_one_is_the_ddpm_posterior_numerically(
    data: st.DataObject, alpha_bar_prev: float, beta: float, shape: NCHWShape
) -> None:
    alpha_bar = alpha_bar_prev * (1 - beta)
    assume(alpha_bar_prev < 1.0)
    x_t = data.draw(unbounded_batches(tuple(shape), bound=5.0))
    eps_hat = data.draw(eps_batches(tuple(shape)))
    z = data.draw(eps_batches(tuple(shape)))
    x0_hat = predict_x0(alpha_bar, x_t, eps_hat)
    mean, variance, _ = ddpm_posterior(np.array([alpha_bar_prev, alpha_bar]), 1, x0_hat, x_t)
    at_zero = ddim_step(alpha_bar_prev, alpha_bar, x_t, eps_hat, 1.0, np.zeros_like(z), False)
    at_z = ddim_step(alpha_bar_prev, alpha_bar, x_t, eps_hat, 1.0, z, False)
    scale = _rounding_scale(alpha_bar, x_t, eps_hat) + np.abs(z)
    assert_close_to_spec(at_zero, mean, "elementwise", scale=scale)
    assert_close_to_spec(at_z - at_zero, np.sqrt(variance) * z, "elementwise", scale=scale)


@st.composite
def posterior_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    bars = draw(alpha_bar_arrays())
    shape = draw(nchw_shapes())
    T = bars.shape[0]
    t = draw(st.one_of(timesteps(T).map(np.int64), batched_timesteps(T, shape.batch)))
    return bars, t, draw(image_batches(tuple(shape))), draw(unbounded_batches(tuple(shape), 5.0))


PosteriorCase = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _timestep_argument(t: np.ndarray) -> int | np.ndarray:
    return int(t) if t.ndim == 0 else t


def _per_example(values: np.ndarray, batch: int, ndim: int) -> np.ndarray:
    values = np.broadcast_to(values, (batch,))
    return values.reshape((batch,) + (1,) * (ndim - 1))


@pytest.mark.spec("REV-7")
@given(posterior_cases())
def test_ddpm_posterior_is_the_conditional_of_the_joint_gaussian(case: PosteriorCase) -> None:
    bars, t, x0, x_t = case
    mean, variance, log_variance = ddpm_posterior(bars, _timestep_argument(t), x0, x_t)
    batch = x0.shape[0]
    bar_t = _per_example(bars[t], batch, x0.ndim)
    bar_prev = _per_example(np.concatenate([[1.0], bars])[t], batch, x0.ndim)
    alpha = bar_t / bar_prev
    # x_{t−1} = √ᾱ_{t−1}x0 + √(1−ᾱ_{t−1})e1 and x_t = √α_t·x_{t−1} + √(1−α_t)e2, so given x0:
    # Cov(x_{t−1}, x_t) = √α_t(1 − ᾱ_{t−1}), Var(x_t) = 1 − ᾱ_t; condition on x_t.
    covariance = np.sqrt(alpha) * (1 - bar_prev)
    expected_mean = np.sqrt(bar_prev) * x0 + covariance / (1 - bar_t) * (x_t - np.sqrt(bar_t) * x0)
    expected_variance = (1 - bar_prev) - covariance**2 / (1 - bar_t)
    # β_t = 1 − ᾱ_t/ᾱ_{t−1} is known from the ᾱ inputs only to ±u, i.e. to relative u/β_t, so
    # both formulas may drift apart by that amplification of the terms' magnitude.
    beta = 1 - bars[t] / np.concatenate([[1.0], bars])[t]
    amplification = 1.0 / _per_example(beta, batch, x0.ndim)
    assert_close_to_spec(mean, expected_mean, "elementwise",
                         scale=(1 + np.abs(x0) + np.abs(x_t)) * amplification)
    assert_close_to_spec(variance, np.squeeze(expected_variance, axis=(1, 2, 3))
                         if t.ndim else expected_variance.flat[0], "elementwise", scale=1 / beta)
    bars_prev = np.concatenate([[1.0], bars[:-1]])
    small = law_beta(bars_prev, bars) * (1 - bars_prev) / (1 - bars)
    clipped_floor = small[1] if bars.shape[0] > 1 else 1 - bars[0]
    expected_log = np.log(np.where(t == 0, clipped_floor, small[t]))
    assert_close_to_spec(log_variance, expected_log, "elementwise", scale=1 / beta)


@pytest.mark.spec("REV-7")
def test_ddpm_posterior_variance_vanishes_at_t_zero() -> None:
    bars = np.array([0.9, 0.8])
    _, variance, log_variance = ddpm_posterior(bars, 0, np.zeros((1, 2)), np.zeros((1, 2)))
    assert variance == 0.0
    beta_1 = 1 - 0.8 / 0.9
    assert log_variance == pytest.approx(np.log(beta_1 * (1 - 0.9) / (1 - 0.8)), rel=1e-12)


@pytest.mark.spec("REV-7")
@example(bars=alpha_bars(np.array([1e-4, 1e-6, 3e-9])), data=None)
@given(bars=st.one_of(beta_arrays(max_T=6, low=1e-9, high=1e-5),
                      beta_arrays(max_T=6, low=1e-9, high=0.5)).map(alpha_bars), data=st.data())
def test_posterior_coefficients_are_exact_for_small_betas(bars: np.ndarray,
                                                          data: st.DataObject | None) -> None:
    # REV-7 in 50-digit arithmetic from the ᾱ table as given; in float64, 1 − ᾱ_t/ᾱ_{t−1} keeps
    # only ~u/β_t of relative precision for a small β_t (10⁻⁴ at the DDPM start: 1e-12).
    # The example: every t of a table with small β (data is None there).
    for t in [data.draw(timesteps(bars.shape[0]))] if data else range(bars.shape[0]):
        check_posterior_coefficients(bars, t)


def check_posterior_coefficients(bars: np.ndarray, t: int) -> None:
    with mpmath.workdps(50):
        current = mpmath.mpf(bars[t])
        previous = mpmath.mpf(bars[t - 1]) if t > 0 else mpmath.mpf(1)
        beta = 1 - current / previous
        exact = [float(mpmath.sqrt(previous) * beta / (1 - current)),
                 float(mpmath.sqrt(1 - beta) * (1 - previous) / (1 - current)),
                 float(beta * (1 - previous) / (1 - current))]
    ones, zeros = np.ones((1, 1)), np.zeros((1, 1))
    x0_coef = ddpm_posterior(bars, t, ones, zeros)[0].item()
    xt_coef, variance, _ = (value.item() for value in ddpm_posterior(bars, t, zeros, ones))
    assert_close_to_spec(np.array([x0_coef, xt_coef, variance]), np.array(exact), "elementwise",
                         scale=0.0)


@pytest.mark.spec("REV-8")
@given(posterior_cases(), st.data())
def test_posterior_mean_from_x0_equals_the_eps_form(case: PosteriorCase, data: st.DataObject
                                                    ) -> None:
    bars, t, _, x_t = case
    eps_hat = data.draw(eps_batches(x_t.shape))
    batch = x_t.shape[0]
    bar_t = _per_example(bars[t], batch, x_t.ndim)
    bar_prev = _per_example(np.concatenate([[1.0], bars])[t], batch, x_t.ndim)
    beta = law_beta(bar_prev, bar_t)
    x0_hat = predict_x0(bars[t] if t.ndim else float(bars[t]), x_t, eps_hat)
    mean, _, _ = ddpm_posterior(bars, _timestep_argument(t), x0_hat, x_t)
    eps_form = (x_t - beta / np.sqrt(1 - bar_t) * eps_hat) / np.sqrt(1 - beta)
    scale = _rounding_scale(bar_t, x_t, eps_hat) / (1 - bar_t)
    assert_close_to_spec(mean, eps_form, "elementwise", scale=scale)
    no_noise = ddpm_prev(bars, _timestep_argument(t), x_t, eps_hat, np.zeros_like(x_t), False)
    assert_close_to_spec(no_noise, eps_form, "elementwise", scale=scale)


@pytest.mark.spec("REV-9")
@given(posterior_cases(), st.data(), st.booleans(),
       st.sampled_from(["fixed_small", "fixed_large"]))
def test_ddpm_prev_adds_the_chosen_variance_except_at_t_zero(
    case: PosteriorCase, data: st.DataObject, clip: bool, variance: str
) -> None:
    bars, t, _, x_t = case
    eps_hat = data.draw(eps_batches(x_t.shape))
    z = data.draw(eps_batches(x_t.shape))
    argument = _timestep_argument(t)
    x0_hat = predict_x0(bars[t] if t.ndim else float(bars[t]), x_t, eps_hat)
    if clip:
        x0_hat = np.clip(x0_hat, -1, 1)
    mean, small, _ = ddpm_posterior(bars, argument, x0_hat, x_t)
    bar_prev = np.concatenate([[1.0], bars])[t]
    chosen = small if variance == "fixed_small" else 1 - bars[t] / bar_prev
    sigma = _per_example(np.where(t > 0, np.sqrt(chosen), 0.0), x_t.shape[0], x_t.ndim)
    step = ddpm_prev(bars, argument, x_t, eps_hat, z, clip, variance)  # type: ignore[arg-type]
    bar_t = _per_example(bars[t], x_t.shape[0], x_t.ndim)
    scale = _rounding_scale(bar_t, x_t, eps_hat) / (1 - bar_t) + np.abs(z)
    assert_close_to_spec(step, mean + sigma * z, "elementwise", scale=scale)
    if np.all(t == 0):
        np.testing.assert_array_equal(step, ddpm_prev(bars, argument, x_t, eps_hat,
                                                      np.zeros_like(z), clip, variance))  # type: ignore[arg-type]


X = np.zeros((1, 1, 2, 2))
BARS = np.array([0.9, 0.5, 0.1])
BAD_REVERSE_CALLS = [
    (lambda: ddim_prev(0.5, 0.0, X, X), "alpha_bar"),
    (lambda: ddim_prev(0.5, 1.0, X, X), "alpha_bar"),
    (lambda: ddim_prev(0.4, 0.5, X, X), "alpha_bar_prev"),
    (lambda: ddim_prev(1.5, 0.5, X, X), "alpha_bar_prev"),
    (lambda: ddim_prev(0.9, 0.5, X + np.nan, X), "x_t"),
    (lambda: ddim_prev(0.9, 0.5, X, X + np.inf), "eps_hat"),
    (lambda: ddim_step(0.9, 0.5, X, X, 1.5, X, True), "eta"),
    (lambda: ddim_step(0.9, 0.5, X, X, -0.1, X, True), "eta"),
    (lambda: ddim_step(0.9, 0.5, X, X, 0.5, None, True), "z"),
    (lambda: ddim_step(0.9, 0.5, X, X, 0.5, X + np.nan, True), "z"),
    (lambda: ddpm_posterior(BARS, 3, X, X), "t"),
    (lambda: ddpm_posterior(np.array([1.0, 0.5]), 1, X, X), "alpha_bars"),
    (lambda: ddpm_prev(BARS, 1, X, X, X + np.nan, True), "z"),
    (lambda: ddpm_prev(BARS, 1, X, X, X, True, "learned"), "variance"),  # type: ignore[arg-type]
]


@pytest.mark.spec("REV-10")
@pytest.mark.parametrize(("call", "argument"), BAD_REVERSE_CALLS)
def test_reverse_arguments_out_of_domain_are_rejected_by_name(call: object, argument: str
                                                              ) -> None:
    with pytest.raises((ValueError, TypeError), match=rf"{argument}"):
        call()  # type: ignore[operator]
