"""Laws LIK-1 … LIK-5 and LIK-8 on the numpy reference (specs/likelihood.md)."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specdiff import typecheck
from specdiff.spec import (
    alpha_bars_zero_terminal_snr,
    ddpm_posterior,
    discretized_gaussian_log_likelihood,
    eps_from_v,
    linear_betas,
    noised_sample_from_eps,
    normal_kl,
    prior_bpd,
    rescale_zero_terminal_snr,
    vlb_term,
    x0_from_v,
)
from specdiff.testing import (
    alpha_bar_arrays,
    assert_close_to_spec,
    batched_timesteps,
    betas_values,
    eps_batches,
    image_batches,
    nchw_shapes,
    timesteps,
)
from tests.spec.exact_steps import law_beta

GRID = np.arange(256) / 127.5 - 1.0  # the 256 values uint8 images take in [−1, 1]
means = st.floats(-5.0, 5.0)
log_variances = st.floats(-12.0, 4.0)


def gaussian_parameters(shape: tuple[int, ...]) -> st.SearchStrategy[tuple[np.ndarray, ...]]:
    """(m1, lv1, m2, lv2) arrays of one shape."""
    return st.tuples(hnp.arrays(np.float64, shape, elements=means),
                     hnp.arrays(np.float64, shape, elements=log_variances),
                     hnp.arrays(np.float64, shape, elements=means),
                     hnp.arrays(np.float64, shape, elements=log_variances))


@pytest.mark.spec("LIK-1")
@given(gaussian_parameters((5,)))
def test_normal_kl_is_the_closed_form(parameters: tuple[np.ndarray, ...]) -> None:
    m1, lv1, m2, lv2 = parameters
    expected = 0.5 * (-1.0 + lv2 - lv1 + np.exp(lv1 - lv2) + (m1 - m2) ** 2 * np.exp(-lv2))
    # The direct formula adds terms as large as e^{lv1−lv2} and (m1−m2)²e^{−lv2}, then cancels.
    scale = 1.0 + np.abs(lv1) + np.abs(lv2) + np.exp(lv1 - lv2) + (m1 - m2) ** 2 * np.exp(-lv2)
    assert_close_to_spec(normal_kl(m1, lv1, m2, lv2), expected, "elementwise", scale=scale)


@pytest.mark.spec("LIK-1")
@given(gaussian_parameters((5,)))
def test_normal_kl_is_zero_exactly_for_equal_gaussians_and_positive_otherwise(
    parameters: tuple[np.ndarray, ...],
) -> None:
    m1, lv1, m2, lv2 = parameters
    assert np.all(normal_kl(m1, lv1, m1, lv1) == 0.0)
    differ = (np.abs(m1 - m2) >= 1e-6) | (np.abs(lv1 - lv2) >= 1e-6)
    kl = normal_kl(m1, lv1, m2, lv2)
    assert np.all(kl >= 0.0)
    assert np.all(kl[differ] > 0.0), f"KL = 0 for distinct Gaussians: {kl[differ]}"


@pytest.mark.spec("LIK-2")
@given(m1=means, lv1=st.floats(-6.0, 3.0), m2=means, lv2=st.floats(-6.0, 3.0))
def test_normal_kl_equals_its_monte_carlo_estimate(m1: float, lv1: float, m2: float,
                                                   lv2: float) -> None:
    n = 20_000
    z = np.random.default_rng(0).standard_normal(n)
    x = m1 + math.exp(0.5 * lv1) * z
    # log N(x; m1, v1) − log N(x; m2, v2) = a·z + b·z² + const, so its variance is a² + 2b².
    log_ratio = 0.5 * (lv2 - lv1 - z**2 + (x - m2) ** 2 * math.exp(-lv2))
    a = math.exp(0.5 * lv1) * (m1 - m2) * math.exp(-lv2)
    b = 0.5 * (math.exp(lv1 - lv2) - 1.0)
    standard_error = math.sqrt((a**2 + 2.0 * b**2) / n)
    kl = float(normal_kl(m1, lv1, m2, lv2))
    assert abs(log_ratio.mean() - kl) <= 6.0 * standard_error + 1e-12 * (1.0 + kl)


@pytest.mark.spec("LIK-3")
@given(mean=st.floats(-3.0, 3.0), log_scale=st.floats(-12.0, 4.0))
def test_discretized_bins_partition_the_real_line(mean: float, log_scale: float) -> None:
    log_p = discretized_gaussian_log_likelihood(GRID, np.full(256, mean), log_scale)
    # Each of the 256 bins is floored at 1e-12, which can add up to 256e-12 of mass.
    assert -1e-12 <= np.exp(log_p).sum() - 1.0 <= 256e-12 + 1e-12
    assert np.all(log_p <= 0.0) and np.all(log_p >= math.log(1e-12))


@pytest.mark.spec("LIK-3")
@given(mean=st.floats(-1.0, 1.0), log_scale=st.floats(-4.0, 1.0))
def test_discretized_likelihood_is_the_normal_cdf_difference(mean: float, log_scale: float
                                                             ) -> None:
    scale = math.exp(log_scale)

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-(x - mean) / (scale * math.sqrt(2.0)))

    edges = [-math.inf, *(GRID[:-1] + 1 / 255), math.inf]
    probability = np.array([cdf(high) - cdf(low) for low, high in itertools.pairwise(edges)])
    actual = discretized_gaussian_log_likelihood(GRID, np.full(256, mean), log_scale)
    # Bins at least 1e-6 likely: below that the direct difference loses digits to cancellation.
    likely = probability > 1e-6
    assert_close_to_spec(actual[likely], np.log(probability[likely]), "elementwise",
                         scale=1.0 / probability[likely])


@pytest.mark.spec("LIK-4")
@given(bars=alpha_bar_arrays(), shape=nchw_shapes(), data=st.data())
def test_prior_is_the_kl_to_the_standard_normal_and_vanishes_with_alpha_bar(
    bars: np.ndarray, shape: tuple[int, ...], data: st.DataObject
) -> None:
    x0 = data.draw(image_batches(tuple(shape)))
    alpha_bar = bars[-1]
    kl = normal_kl(np.sqrt(alpha_bar) * x0, math.log1p(-alpha_bar), 0.0, 0.0)
    expected = kl.reshape(x0.shape[0], -1).mean(axis=1) / math.log(2.0)
    prior = prior_bpd(bars, x0)
    assert_close_to_spec(prior, expected, "reduction")
    # For |x0| ≤ 1: KL ≤ ½(−ᾱ − log(1 − ᾱ)) + ½ᾱ·x0² ≤ ½·ᾱ/(1 − ᾱ), since −log(1 − a) ≤ a/(1 − a).
    bound = alpha_bar / (2.0 * (1.0 - alpha_bar) * math.log(2.0))
    assert np.all(prior >= 0.0) and np.all(prior <= bound * (1 + 1e-12) + 1e-300)


@st.composite
def vlb_cases(draw: st.DrawFn) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """(ᾱ table with T ≥ 2, t ≥ 1, x0, ε)."""
    bars = draw(alpha_bar_arrays().filter(lambda table: table.shape[0] >= 2))
    t = draw(timesteps(bars.shape[0]).filter(lambda step: step >= 1))
    shape = tuple(draw(nchw_shapes()))
    return bars, t, draw(image_batches(shape)), draw(eps_batches(shape))


@pytest.mark.spec("LIK-5")
@given(vlb_cases(), st.booleans())
def test_vlb_term_with_the_true_noise_is_only_the_variance_mismatch(
    case: tuple[np.ndarray, int, np.ndarray, np.ndarray], clip: bool
) -> None:
    bars, t, x0, eps = case
    x_t, _ = noised_sample_from_eps(bars, x0, eps, t)
    # ε̂ = ε gives x̂0 = x0 ∈ [−1, 1] (clip inactive), so the means agree (REV-8).
    small = vlb_term(bars, t, x0, x_t, eps, clip, "fixed_small")
    beta = 1.0 - bars[t] / bars[t - 1]
    ratio = (1.0 - bars[t - 1]) / (1.0 - bars[t])  # β̃_t / β_t
    mismatch = 0.5 * (ratio - 1.0 - math.log(ratio)) / math.log(2.0)
    large = vlb_term(bars, t, x0, x_t, eps, clip, "fixed_large")
    # With exact arithmetic small = 0. In float64 the two means differ by rounding, δ ≈ a few ulps
    # of (1 + |x_t| + (|x_t| + |ε|)/√ᾱ_t) (x̂0 divides by √ᾱ_t), and the KL is δ²/(2β̃_t) nats.
    ulps = 8.0 * np.finfo(np.float64).eps
    delta = ulps * (1.0 + np.max(np.abs(x_t) + (np.abs(x_t) + np.abs(eps)) / math.sqrt(bars[t])))
    noise = delta**2 / (2.0 * beta * ratio * math.log(2.0))
    assert np.all(small >= 0.0) and np.all(small <= noise), (small, noise)
    assert np.all(np.abs(large - mismatch) <= noise + 1e-12 * (1.0 + mismatch)), (large, mismatch)


@pytest.mark.spec("LIK-5")
@given(bars=alpha_bar_arrays(), shape=nchw_shapes(), data=st.data())
def test_vlb_term_at_t0_is_the_decoder_nll_in_bits(bars: np.ndarray, shape: tuple[int, ...],
                                                   data: st.DataObject) -> None:
    x0 = data.draw(image_batches(tuple(shape)))
    eps, eps_hat = data.draw(eps_batches(x0.shape)), data.draw(eps_batches(x0.shape))
    x_t, _ = noised_sample_from_eps(bars, x0, eps, 0)
    x0_hat = np.clip((x_t - np.sqrt(1 - bars[0]) * eps_hat) / np.sqrt(bars[0]), -1, 1)
    # At t = 0 the posterior mean is x0 itself (β̃_0 = 0): μ_θ = x̂0.
    if bars.shape[0] > 1:
        beta_1 = float(law_beta(bars[0], bars[1]))
        log_variance = math.log(beta_1 * (1.0 - bars[0]) / (1.0 - bars[1]))
    else:
        log_variance = math.log(1.0 - bars[0])
    nll = -discretized_gaussian_log_likelihood(x0, x0_hat, 0.5 * log_variance)
    expected = nll.reshape(x0.shape[0], -1).mean(axis=1) / math.log(2.0)
    for variance in ("fixed_small", "fixed_large"):
        assert_close_to_spec(vlb_term(bars, 0, x0, x_t, eps_hat, True, variance), expected,
                             "reduction")


@st.composite
def v_model_cases(draw: st.DrawFn) -> tuple[np.ndarray, int | np.ndarray, np.ndarray,
                                            np.ndarray, np.ndarray]:
    """(ᾱ table, t as one int or one per example, x0, x_t noised from x0, a v-model's output)."""
    bars = draw(alpha_bar_arrays())
    shape = tuple(draw(nchw_shapes()))
    T, batch = bars.shape[0], shape[0]
    t = draw(st.one_of(timesteps(T), batched_timesteps(T, batch)))
    x0, eps = draw(image_batches(shape)), draw(eps_batches(shape))
    x_t, _ = noised_sample_from_eps(bars, x0, eps, t)
    return bars, t, x0, x_t, draw(eps_batches(shape, bound=3.0))


@pytest.mark.spec("LIK-9")
@given(case=v_model_cases(), clip=st.booleans(),
       variance=st.sampled_from(["fixed_small", "fixed_large"]))
def test_vlb_term_is_one_bound_for_every_parameterization(case: tuple, clip: bool,
                                                          variance: str) -> None:
    bars, t, x0, x_t, v = case
    alpha_bar = bars[t]
    eps_hat, x0_hat = eps_from_v(alpha_bar, x_t, v), x0_from_v(alpha_bar, x_t, v)
    by_v = vlb_term(bars, t, x0, x_t, v, clip, variance,  # type: ignore[arg-type]
                    prediction_type="v_prediction")
    # The ε-model's x̂0 = predict_x0(ε̂) rounds through a division by √ᾱ_t, and the KL amplifies
    # the means' rounding by |Δμ|/σ² (as in the torch-vs-spec test of LIK-5).
    per_batch = (-1, *(1,) * (x0.ndim - 1))
    alpha = np.reshape(alpha_bar, per_batch) if np.ndim(t) else alpha_bar
    amplification = 1.0 + (np.abs(x_t) + np.abs(eps_hat)) / np.sqrt(alpha)
    floor = np.exp(ddpm_posterior(bars, t, x0, x_t)[2])
    floor = np.reshape(floor, per_batch) if np.ndim(t) else floor
    model_x0 = np.clip(x0_hat, -1.0, 1.0) if clip else x0_hat
    gap = np.abs(model_x0 - x0) * amplification / floor
    scale = 1.0 + gap.reshape(x0.shape[0], -1).mean(axis=1) + np.abs(by_v)
    for output, kind in ((eps_hat, "epsilon"), (x0_hat, "sample")):
        other = vlb_term(bars, t, x0, x_t, output, clip, variance,  # type: ignore[arg-type]
                         prediction_type=kind)  # type: ignore[arg-type]
        assert_close_to_spec(other, by_v, "reduction", scale=scale)


@pytest.mark.spec("LIK-10", "LIK-4", "REV-7")
@given(T=st.integers(2, 40), first=betas_values(1e-4, 0.3), last=betas_values(1e-4, 0.3),
       shape=nchw_shapes(), data=st.data(), clip=st.booleans(),
       variance=st.sampled_from(["fixed_small", "fixed_large"]),
       prediction_type=st.sampled_from(["v_prediction", "sample"]))
def test_zero_terminal_snr_bound_is_defined_without_dividing_by_root_alpha_bar(
    T: int, first: float, last: float, shape: tuple[int, ...], data: st.DataObject, clip: bool,
    variance: str, prediction_type: str
) -> None:
    bars = alpha_bars_zero_terminal_snr(rescale_zero_terminal_snr(
        linear_betas(T, min(first, last), max(first, last))))
    x0 = data.draw(image_batches(tuple(shape)))
    eps, output = data.draw(eps_batches(x0.shape)), data.draw(eps_batches(x0.shape))
    x_t, _ = noised_sample_from_eps(bars, x0, eps, T - 1)  # = ε: no signal left
    # q(x_{T−1} | x0) = N(0, I) is the prior itself.
    assert np.array_equal(prior_bpd(bars, x0), np.zeros(x0.shape[0]))
    # β_{T−1} = 1: q(x_{T−2} | x_{T−1}, x0) = N(√ᾱ_{T−2}·x0, 1 − ᾱ_{T−2}), and the model's mean is
    # √ᾱ_{T−2}·x̂0 with x̂0 = −v or the x0-output at ᾱ = 0 (PARAM-4).
    x0_hat = -output if prediction_type == "v_prediction" else output
    x0_hat = np.clip(x0_hat, -1.0, 1.0) if clip else x0_hat
    kept = bars[T - 2]
    model_variance = 1.0 - kept if variance == "fixed_small" else 1.0
    ratio = (1.0 - kept) / model_variance
    kl = 0.5 * (ratio - 1.0 - math.log(ratio)) + kept * (x0 - x0_hat) ** 2 / (2.0 * model_variance)
    expected = kl.reshape(x0.shape[0], -1).mean(axis=1) / math.log(2.0)
    actual = vlb_term(bars, T - 1, x0, x_t, output, clip, variance,  # type: ignore[arg-type]
                      prediction_type=prediction_type)  # type: ignore[arg-type]
    assert_close_to_spec(actual, expected, "reduction")
    with pytest.raises(ValueError, match="prediction_type"):
        vlb_term(bars, T - 1, x0, x_t, output, clip, variance)  # type: ignore[arg-type]


@pytest.mark.spec("LIK-4", "LIK-5", "LIK-8")
def test_an_empty_batch_has_an_empty_bound_and_an_empty_example_is_refused() -> None:
    bars = np.array([0.9, 0.5])
    empty = np.zeros((0, 1, 2, 2))
    assert prior_bpd(bars, empty).shape == (0,)
    assert vlb_term(bars, 1, empty, empty, empty, True).shape == (0,)
    assert vlb_term(bars, np.zeros(0, dtype=np.int64), empty, empty, empty, True).shape == (0,)
    no_pixels = np.zeros((2, 1, 0, 2))
    for call in (lambda: prior_bpd(bars, no_pixels),
                 lambda: vlb_term(bars, 1, no_pixels, no_pixels, no_pixels, True)):
        with pytest.raises(ValueError, match=r"^x0 must have at least one element per example"):
            call()


@pytest.mark.spec("LIK-8")
def test_likelihood_arguments_are_validated() -> None:
    bars = np.array([0.9, 0.5])
    x = np.zeros((1, 1, 2, 2))
    with pytest.raises(ValueError, match="x must be in"):
        discretized_gaussian_log_likelihood(x + 1.5, x, 0.0)
    with pytest.raises(ValueError, match="log_scales must be finite"):
        discretized_gaussian_log_likelihood(x, x, math.inf)
    with pytest.raises(ValueError, match="must broadcast together"):
        normal_kl(np.zeros(2), 0.0, np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="logvar2 must be finite"):
        normal_kl(0.0, 0.0, 0.0, math.nan)
    with typecheck(False), pytest.raises(ValueError, match="variance must be"):
        vlb_term(bars, 1, x, x, x, True, "learned")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"t must be in \[0, T\) = \[0, 2\)"):
        vlb_term(bars, 2, x, x, x, True)
    with pytest.raises(ValueError, match="x0 must be in"):
        vlb_term(bars, 1, x - 2.0, x, x, True)
    with pytest.raises(ValueError, match="alpha_bars must be in"):
        prior_bpd(np.array([0.9, 1.0]), x)
