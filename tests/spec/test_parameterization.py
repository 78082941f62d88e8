"""Prediction types (specs/parameterization.md): v and its inversions (PARAM-1), the split of a
model output into (x̂0, ε̂) (PARAM-2), targets (PARAM-3), ᾱ = 0 (PARAM-4), errors (PARAM-5)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from specdiff import spec
from specdiff._typecheck import typecheck
from specdiff.spec import parameterization as param
from specdiff.testing import alpha_bar_values, assert_close_to_spec, eps_batches, image_batches

SHAPE = (2, 1, 2, 3)
TYPES = ["epsilon", "sample", "v_prediction"]
edge_alpha_bars = st.one_of(st.sampled_from([0.0, 1.0]), alpha_bar_values())


def roundoff_scale(x0: np.ndarray, eps: np.ndarray) -> np.ndarray:
    return 1.0 + np.abs(x0) + np.abs(eps)


@pytest.mark.spec("PARAM-1")
@given(alpha_bar=edge_alpha_bars, x0=image_batches(SHAPE), eps=eps_batches(SHAPE))
def test_v_inverts_to_x0_and_eps_for_every_alpha_bar(alpha_bar: float, x0: np.ndarray,
                                                     eps: np.ndarray) -> None:
    x_t = np.sqrt(alpha_bar) * x0 + np.sqrt(1.0 - alpha_bar) * eps
    v = param.v_from_eps_x0(alpha_bar, eps, x0)
    assert_close_to_spec(param.x0_from_v(alpha_bar, x_t, v), x0, "elementwise",
                         scale=roundoff_scale(x0, eps))
    assert_close_to_spec(param.eps_from_v(alpha_bar, x_t, v), eps, "elementwise",
                         scale=roundoff_scale(x0, eps))


@pytest.mark.spec("PARAM-2")
@given(alpha_bar=alpha_bar_values(), x0=image_batches(SHAPE), eps=eps_batches(SHAPE),
       prediction_type=st.sampled_from(TYPES))
def test_splitting_the_target_of_each_prediction_type_recovers_x0_and_eps(
    alpha_bar: float, x0: np.ndarray, eps: np.ndarray, prediction_type: str
) -> None:
    x_t, _ = spec.noised_sample_from_eps(np.array([alpha_bar]), x0, eps, 0)
    target = param.prediction_target(alpha_bar, x0, eps, prediction_type)  # type: ignore[arg-type]
    x0_hat, eps_hat = param.split_prediction(alpha_bar, x_t, target, prediction_type)  # type: ignore[arg-type]
    # The FWD-4 divisions amplify rounding by 1/√ᾱ (x0 from ε) and 1/√(1 − ᾱ) (ε from x0).
    amplification = 1.0 / np.sqrt(alpha_bar) + 1.0 / np.sqrt(1.0 - alpha_bar)
    scale = roundoff_scale(x0, eps) * amplification
    assert_close_to_spec(x0_hat, x0, "elementwise", scale=scale)
    assert_close_to_spec(eps_hat, eps, "elementwise", scale=scale)


@pytest.mark.spec("PARAM-3")
@given(alpha_bar=edge_alpha_bars, x0=image_batches(SHAPE), eps=eps_batches(SHAPE))
def test_training_targets_are_eps_x0_and_v(alpha_bar: float, x0: np.ndarray,
                                           eps: np.ndarray) -> None:
    assert np.array_equal(param.prediction_target(alpha_bar, x0, eps, "epsilon"), eps)
    assert np.array_equal(param.prediction_target(alpha_bar, x0, eps, "sample"), x0)
    expected = np.sqrt(alpha_bar) * eps - np.sqrt(1.0 - alpha_bar) * x0
    assert np.array_equal(param.prediction_target(alpha_bar, x0, eps, "v_prediction"), expected)


@pytest.mark.spec("PARAM-4")
@given(x_t=eps_batches(SHAPE), output=eps_batches(SHAPE))
def test_at_zero_snr_v_and_x0_are_defined_and_eps_is_refused(x_t: np.ndarray,
                                                             output: np.ndarray) -> None:
    x0_hat, eps_hat = param.split_prediction(0.0, x_t, output, "v_prediction")
    assert np.array_equal(x0_hat, -output) and np.array_equal(eps_hat, x_t)
    x0_hat, eps_hat = param.split_prediction(0.0, x_t, output, "sample")
    assert np.array_equal(x0_hat, output) and np.array_equal(eps_hat, x_t)
    with pytest.raises(ValueError, match="prediction_type='epsilon'"):
        param.split_prediction(0.0, x_t, output, "epsilon")


@pytest.mark.spec("PARAM-5")
def test_bad_prediction_types_and_alpha_bars_are_rejected_by_name() -> None:
    x = np.zeros(SHAPE)
    # The Literal annotation is checked first when type checking is on; the ValueError is what
    # users with checking off (SPECDIFF_TYPECHECK=0) get.
    with typecheck(False), pytest.raises(ValueError, match="prediction_type must be one of"):
        param.split_prediction(0.5, x, x, "velocity")  # type: ignore[arg-type]
    with typecheck(False), pytest.raises(ValueError, match="prediction_type must be one of"):
        param.prediction_target(0.5, x, x, "x0")  # type: ignore[arg-type]
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="alpha_bar must be"):
            param.x0_from_v(bad, x, x)
    with pytest.raises(ValueError, match="alpha_bar must be"):
        param.split_prediction(1.0, x, x, "sample")  # ε from x0 divides by √(1 − ᾱ)
