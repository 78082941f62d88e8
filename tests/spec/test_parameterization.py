"""Prediction types (specs/parameterization.md): v and its inversions (PARAM-1), the split of a
model output into (x̂0, ε̂) (PARAM-2), targets (PARAM-3), ᾱ = 0 (PARAM-4), min-SNR-γ weights
(PARAM-6), errors (PARAM-5)."""

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


# γ of PARAM-6 over its whole domain (0, 10⁶], both tails included.
gammas = st.one_of(st.sampled_from([1e-6, 1.0, 5.0, 1e6]), st.floats(1e-6, 1e6))


def weighting_domain(prediction_type: str) -> st.SearchStrategy[list[float]]:
    """A batch of two ᾱ from PARAM-6's domain for the type, with the ends it includes."""
    ends = {"epsilon": [1.0], "sample": [0.0], "v_prediction": [0.0, 1.0]}[prediction_type]
    return st.lists(st.one_of(st.sampled_from(ends), alpha_bar_values()), min_size=2,
                    max_size=2)


@pytest.mark.spec("PARAM-6")
@given(data=st.data(), prediction_type=st.sampled_from(TYPES), gamma=gammas)
def test_min_snr_weighting_makes_every_squared_error_the_clipped_x0_error(
        data: st.DataObject, prediction_type: str, gamma: float) -> None:
    alpha_bar = np.array(data.draw(weighting_domain(prediction_type)))
    x0, eps = data.draw(image_batches(SHAPE)), data.draw(eps_batches(SHAPE))
    output = data.draw(eps_batches(SHAPE))
    root = np.sqrt(alpha_bar).reshape(-1, 1, 1, 1)
    x_t = root * x0 + np.sqrt(1.0 - alpha_bar).reshape(-1, 1, 1, 1) * eps  # FWD-1
    target = param.prediction_target(alpha_bar, x0, eps, prediction_type)  # type: ignore[arg-type]
    x0_hat, _ = param.split_prediction(alpha_bar, x_t, output, prediction_type)  # type: ignore[arg-type]
    weight = param.min_snr_weight(alpha_bar, gamma, prediction_type)  # type: ignore[arg-type]
    with np.errstate(divide="ignore"):  # SNR = ∞ at ᾱ = 1, where min(SNR, γ) = γ
        clipped_snr = np.minimum(alpha_bar / (1.0 - alpha_bar), gamma).reshape(-1, 1, 1, 1)
    # x̂0 of an ε output divides the rounding by √ᾱ (PARAM-2); the other two divide nothing.
    amplification = 1.0 / root if prediction_type == "epsilon" else 1.0
    scale = (1.0 + gamma) * (1.0 + np.abs(x0) + np.abs(eps) + np.abs(output)) ** 2 * amplification
    assert_close_to_spec(weight.reshape(-1, 1, 1, 1) * (target - output) ** 2,
                         clipped_snr * (x0 - x0_hat) ** 2, "elementwise", scale=scale)


@pytest.mark.spec("PARAM-6")
@given(alpha_bar=st.lists(alpha_bar_values(), min_size=1, max_size=4), gamma=gammas)
def test_eps_weight_is_one_where_the_snr_is_at_most_gamma(alpha_bar: list[float],
                                                          gamma: float) -> None:
    # SAMP-8's plain ε loss is the special case where nothing is clipped.
    alpha = np.array(alpha_bar)
    weight = param.min_snr_weight(alpha, gamma, "epsilon")
    unclipped = alpha <= gamma * (1.0 - alpha)
    assert np.all(weight[unclipped] == 1.0)
    assert np.all(weight[~unclipped] < 1.0)


@pytest.mark.spec("PARAM-5")
@pytest.mark.parametrize("gamma", [0.0, -1.0, 1e6 * (1 + 1e-9), float("nan"), float("inf")])
def test_bad_min_snr_gammas_are_rejected_by_name(gamma: float) -> None:
    with pytest.raises(ValueError, match=r"min_snr_gamma must be .*in \(0"):
        param.min_snr_weight(np.array([0.5]), gamma, "epsilon")


@pytest.mark.spec("PARAM-5")
@pytest.mark.parametrize(("prediction_type", "alpha_bar"),
                         [("epsilon", 0.0), ("sample", 1.0), ("v_prediction", 1.5),
                          ("v_prediction", float("nan"))])
def test_alpha_bars_outside_the_weights_domain_are_rejected_by_name(
        prediction_type: str, alpha_bar: float) -> None:
    with pytest.raises(ValueError, match=r"alpha_bar must be (in|finite)"):
        param.min_snr_weight(np.array([0.5, alpha_bar]), 5.0, prediction_type)  # type: ignore[arg-type]
