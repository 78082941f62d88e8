"""Laws FWD-1 … FWD-6 on the numpy reference (specs/forward.md)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from specdiff import typecheck
from specdiff.spec import append_time_channel, noised_sample_from_eps, predict_eps, predict_x0
from specdiff.testing import (
    NCHWShape,
    NoisingCase,
    alpha_bar_values,
    assert_close_to_spec,
    eps_batches,
    image_batches,
    nchw_shapes,
    noising_cases,
    per_example,
    unbounded_batches,
)

# Statistical laws accept k = 6 standard errors (specs/README.md).
STANDARD_ERRORS = 6.0


@pytest.mark.spec("FWD-1")
@given(noising_cases())
def test_noised_sample_is_the_weighted_sum_and_the_target_is_eps(case: NoisingCase) -> None:
    bars, x0, eps, t = case
    x_t, target = noised_sample_from_eps(bars, x0, eps, t)
    alpha = per_example(np.broadcast_to(bars[t], (x0.shape[0],)), x0.ndim)
    # Per example, written out with the scalar formula of the law.
    for n in range(x0.shape[0]):
        expected = np.sqrt(alpha[n]) * x0[n] + np.sqrt(1 - alpha[n]) * eps[n]
        assert_close_to_spec(x_t[n], expected, "elementwise")
    np.testing.assert_array_equal(target, eps)
    assert target is not eps


@pytest.mark.spec("FWD-2")
@pytest.mark.parametrize("alpha_bar", [0.999, 0.5, 4.04e-5])
def test_noised_sample_has_the_forward_marginal_moments(alpha_bar: float) -> None:
    samples = 20_000
    rng = np.random.default_rng(20260101)
    x0 = np.array([[-1.0, -0.3, 0.0, 0.8, 1.0]])
    eps = rng.standard_normal((samples, x0.shape[1]))
    x_t, _ = noised_sample_from_eps(np.array([alpha_bar]), np.repeat(x0, samples, 0), eps, 0)
    variance = 1.0 - alpha_bar
    mean_bound = STANDARD_ERRORS * np.sqrt(variance / samples)
    variance_bound = STANDARD_ERRORS * variance * np.sqrt(2.0 / (samples - 1))
    assert np.all(np.abs(x_t.mean(axis=0) - np.sqrt(alpha_bar) * x0[0]) <= mean_bound)
    assert np.all(np.abs(x_t.var(axis=0, ddof=1) - variance) <= variance_bound)


@pytest.mark.spec("FWD-3")
@given(st.data(), nchw_shapes(), st.floats(0.0, 1e-3))
def test_noised_sample_tends_to_the_data_as_alpha_bar_tends_to_one(
    data: st.DataObject, shape: NCHWShape, one_minus_alpha_bar: float
) -> None:
    x0 = data.draw(image_batches(tuple(shape)))
    eps = data.draw(eps_batches(tuple(shape)))
    alpha_bar = 1.0 - one_minus_alpha_bar
    x_t, _ = noised_sample_from_eps(np.array([alpha_bar]), x0, eps, 0)
    bound = (1 - np.sqrt(alpha_bar)) * np.abs(x0) + np.sqrt(1 - alpha_bar) * np.abs(eps)
    assert np.all(np.abs(x_t - x0) <= bound + 1e-15)
    if one_minus_alpha_bar == 0.0:
        np.testing.assert_array_equal(x_t, x0)


@pytest.mark.spec("FWD-4")
@given(noising_cases())
def test_predictions_invert_the_noising(case: NoisingCase) -> None:
    bars, x0, eps, t = case
    x_t, _ = noised_sample_from_eps(bars, x0, eps, t)
    alpha = bars[t] if np.ndim(t) else float(bars[t])
    alpha_per_example = per_example(np.broadcast_to(bars[t], (x0.shape[0],)), x0.ndim)
    x0_scale = 1 + (np.abs(x_t) + np.abs(eps)) / np.sqrt(alpha_per_example)
    assert_close_to_spec(predict_x0(alpha, x_t, eps), x0, "elementwise", scale=x0_scale)
    if np.all(alpha_per_example < 1.0):
        eps_scale = 1 + (np.abs(x_t) + np.abs(x0)) / np.sqrt(1.0 - alpha_per_example)
        assert_close_to_spec(predict_eps(alpha, x_t, x0), eps, "elementwise", scale=eps_scale)


@pytest.mark.spec("FWD-4")
@given(st.data(), nchw_shapes(), alpha_bar_values())
def test_predictions_are_the_stated_formulas(
    data: st.DataObject, shape: NCHWShape, alpha_bar: float
) -> None:
    x_t = data.draw(unbounded_batches(tuple(shape)))
    other = data.draw(eps_batches(tuple(shape)))
    expected_x0 = (x_t - np.sqrt(1 - alpha_bar) * other) / np.sqrt(alpha_bar)
    expected_eps = (x_t - np.sqrt(alpha_bar) * other) / np.sqrt(1 - alpha_bar)
    np.testing.assert_array_equal(predict_x0(alpha_bar, x_t, other), expected_x0)
    np.testing.assert_array_equal(predict_eps(alpha_bar, x_t, other), expected_eps)


@pytest.mark.spec("FWD-5")
@given(st.data(), nchw_shapes(), st.booleans())
def test_time_channel_is_appended_constant_per_example(
    data: st.DataObject, shape: NCHWShape, batched: bool
) -> None:
    x = data.draw(unbounded_batches(tuple(shape)))
    unit = st.floats(0.0, 1.0, exclude_max=True)
    t_norm = (np.array(data.draw(st.lists(unit, min_size=shape.batch, max_size=shape.batch)))
              if batched else data.draw(unit))
    out = append_time_channel(x, t_norm)
    assert out.shape == (shape.batch, shape.channels + 1, shape.height, shape.width)
    np.testing.assert_array_equal(out[:, : shape.channels], x)
    per_example = np.broadcast_to(np.asarray(t_norm), (shape.batch,))
    for n in range(shape.batch):
        assert np.all(out[n, shape.channels] == per_example[n])


BARS = np.array([0.9, 0.5, 0.1])
X = np.zeros((2, 1, 2, 2))
BAD_FORWARD_CALLS = [
    (lambda: noised_sample_from_eps(BARS, X, X, 3), "t"),
    (lambda: noised_sample_from_eps(BARS, X, X, -1), "t"),
    (lambda: noised_sample_from_eps(np.array([0.5, 1.5]), X, X, 0), "alpha_bars"),
    (lambda: noised_sample_from_eps(BARS, X + np.nan, X, 0), "x0"),
    (lambda: noised_sample_from_eps(BARS, X, X + np.inf, 0), "eps"),
    (lambda: predict_x0(0.0, X, X), "alpha_bar"),
    (lambda: predict_x0(float("nan"), X, X), "alpha_bar"),
    (lambda: predict_eps(1.0, X, X), "alpha_bar"),
    (lambda: predict_x0(0.5, X + np.nan, X), "x_t"),
    (lambda: append_time_channel(X, np.array([0.1, np.nan])), "t_norm"),
]


@pytest.mark.spec("FWD-6")
@pytest.mark.parametrize(("call", "argument"), BAD_FORWARD_CALLS)
def test_forward_arguments_out_of_domain_are_rejected_by_name(call: object, argument: str
                                                              ) -> None:
    with pytest.raises(ValueError, match=rf"^{argument} must"):
        call()  # type: ignore[operator]


BATCH_MISMATCH_CALLS = [
    (lambda: noised_sample_from_eps(BARS, X, X, np.array([0, 1, 2])), "t"),
    (lambda: predict_x0(np.array([0.5, 0.5, 0.5]), X, X), "alpha_bar"),
    (lambda: append_time_channel(X, np.array([0.1, 0.2, 0.3])), "t_norm"),
]


@pytest.mark.spec("FWD-6")
@pytest.mark.parametrize(("call", "argument"), BATCH_MISMATCH_CALLS)
def test_per_batch_arguments_of_the_wrong_length_are_rejected_by_name(
    call: object, argument: str
) -> None:
    with pytest.raises(TypeError, match=rf"{argument}"):
        call()  # type: ignore[operator]
    with typecheck(False), pytest.raises(ValueError, match=rf"^{argument} must"):
        call()  # type: ignore[operator]


@pytest.mark.spec("FWD-6")
def test_mismatched_shapes_are_type_errors() -> None:
    with pytest.raises(TypeError, match="eps"):
        noised_sample_from_eps(BARS, X, np.zeros((2, 1, 2, 3)), 0)
    with pytest.raises(TypeError, match="x"):
        append_time_channel(np.zeros((2, 2, 2)), 0.5)
