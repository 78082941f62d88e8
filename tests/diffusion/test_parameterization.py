"""Torch mirrors of the prediction-type conversions equal the spec (PARAM-1 … PARAM-6)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from specdiff.diffusion import parameterization as mirror
from specdiff.spec import parameterization as param
from specdiff.testing import (
    alpha_bar_values,
    as_tensor,
    assert_close_to_spec,
    eps_batches,
    unbounded_batches,
)

SHAPE = (3, 1, 2, 2)
TYPES = ["epsilon", "sample", "v_prediction"]


@pytest.mark.spec("PARAM-1", "PARAM-3")
@given(alpha_bar=st.one_of(st.just(0.0), alpha_bar_values()), a=unbounded_batches(SHAPE),
       b=eps_batches(SHAPE))
def test_v_conversions_equal_the_spec(alpha_bar: float, a: np.ndarray, b: np.ndarray,
                                      device: str, dtype: torch.dtype) -> None:
    ta, tb = as_tensor(a, device, dtype), as_tensor(b, device, dtype)
    scale = 1.0 + np.abs(a) + np.abs(b)
    for name in ("v_from_eps_x0", "x0_from_v", "eps_from_v"):
        actual = getattr(mirror, name)(alpha_bar, ta, tb)
        assert actual.dtype == dtype and actual.device.type == device
        assert_close_to_spec(actual, getattr(param, name)(alpha_bar, a, b), "elementwise",
                             scale=scale)
    assert_close_to_spec(mirror.prediction_target(alpha_bar, ta, tb, "v_prediction"),
                         param.prediction_target(alpha_bar, a, b, "v_prediction"),
                         "elementwise", scale=scale)


@pytest.mark.spec("PARAM-2")
@given(data=st.data(), prediction_type=st.sampled_from(TYPES))
def test_split_prediction_equals_the_spec(data: st.DataObject, prediction_type: str,
                                          device: str, dtype: torch.dtype) -> None:
    alpha_bar = data.draw(alpha_bar_values(1e-3, 1.0 - 1e-3))
    x_t, output = data.draw(unbounded_batches(SHAPE)), data.draw(eps_batches(SHAPE))
    actual = mirror.split_prediction(alpha_bar, as_tensor(x_t, device, dtype),
                                     as_tensor(output, device, dtype), prediction_type)  # type: ignore[arg-type]
    expected = param.split_prediction(alpha_bar, x_t, output, prediction_type)  # type: ignore[arg-type]
    scale = (1.0 + np.abs(x_t) + np.abs(output)) * (1.0 / np.sqrt(alpha_bar)
                                                    + 1.0 / np.sqrt(1.0 - alpha_bar))
    for got, want in zip(actual, expected, strict=True):
        assert_close_to_spec(got, want, "elementwise", scale=scale)


@pytest.mark.spec("PARAM-4")
def test_eps_prediction_at_zero_snr_is_refused_by_the_mirror(device: str) -> None:
    x = torch.zeros(SHAPE, device=device)
    with pytest.raises(ValueError, match="prediction_type='epsilon'"):
        mirror.split_prediction(torch.tensor([0.5, 0.0, 0.2], dtype=torch.float64), x, x,
                                "epsilon")


@pytest.mark.spec("PARAM-6")
@given(alpha_bar=st.lists(st.one_of(st.sampled_from([0.0, 1.0]), alpha_bar_values()),
                          min_size=1, max_size=4),
       gamma=st.one_of(st.sampled_from([1e-6, 5.0, 1e6]), st.floats(1e-6, 1e6)),
       prediction_type=st.sampled_from(TYPES))
def test_min_snr_weight_equals_the_spec(alpha_bar: list[float], gamma: float,
                                        prediction_type: str, device: str,
                                        dtype: torch.dtype) -> None:
    # Each type's open end is moved inside (PARAM-6's domain), after rounding to the dtype (a
    # float32 ᾱ within 3e-8 of 1 is 1); the spec reads the ᾱ the mirror got.
    alpha = torch.tensor(alpha_bar, dtype=dtype, device=device)
    open_end = {"epsilon": 0.0, "sample": 1.0}.get(prediction_type)
    if open_end is not None:
        alpha = torch.where(alpha == open_end, torch.full_like(alpha, 0.5), alpha)
    actual = mirror.min_snr_weight(alpha, gamma, prediction_type)  # type: ignore[arg-type]
    assert actual.dtype == torch.float64 and actual.device.type == device
    expected = param.min_snr_weight(alpha.double().cpu().numpy(), gamma, prediction_type)  # type: ignore[arg-type]
    assert_close_to_spec(actual, expected, "elementwise", scale=1.0 + gamma)


@pytest.mark.spec("PARAM-5")
def test_the_mirror_rejects_bad_gammas_and_alpha_bars_by_name(device: str) -> None:
    alpha = torch.tensor([0.5, 0.0], dtype=torch.float64, device=device)
    for gamma in (0.0, -2.0, 2e6, float("nan")):
        with pytest.raises(ValueError, match="min_snr_gamma must be"):
            mirror.min_snr_weight(alpha, gamma, "v_prediction")
    with pytest.raises(ValueError, match="alpha_bar must be in"):
        mirror.min_snr_weight(alpha, 5.0, "epsilon")  # ε's weight divides by ᾱ
