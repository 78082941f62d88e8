"""Torch mirrors of the prediction-type conversions equal the spec (PARAM-1 … PARAM-4)."""

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
