"""Torch schedules equal the spec's (SCHED-1, SCHED-2, SCHED-4, SCHED-5), rounded once."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from specdiff import spec
from specdiff.diffusion import alpha_bars, cosine_betas, linear_betas, sigmoid_betas
from specdiff.testing import beta_arrays, linear_schedules, num_timesteps


def assert_is_spec_rounded(actual: torch.Tensor, expected: np.ndarray, dtype: torch.dtype) -> None:
    """Computed in float64 through the spec, then cast: exactly the rounded spec value."""
    assert actual.dtype == dtype
    rounded = torch.from_numpy(expected).to(dtype)
    assert torch.equal(actual.cpu(), rounded)


@pytest.mark.spec("SCHED-1")
@given(schedule=linear_schedules(max_T=200))
def test_linear_betas_equal_spec(schedule: tuple[int, float, float], device: str,
                                 dtype: torch.dtype) -> None:
    betas = linear_betas(*schedule, dtype=dtype, device=device)
    assert betas.device.type == device
    assert_is_spec_rounded(betas, spec.linear_betas(*schedule), dtype)


@pytest.mark.spec("SCHED-4")
@given(T=num_timesteps(200), s=st.floats(0.0, 0.1), max_beta=st.floats(0.5, 0.999))
def test_cosine_betas_equal_spec(T: int, s: float, max_beta: float, device: str,
                                 dtype: torch.dtype) -> None:
    betas = cosine_betas(T, s, max_beta, dtype=dtype, device=device)
    assert_is_spec_rounded(betas, spec.cosine_betas(T, s, max_beta), dtype)


@pytest.mark.spec("SCHED-5")
@given(T=num_timesteps(200), start=st.floats(-5.0, 0.0), width=st.floats(0.5, 10.0),
       tau=st.floats(0.2, 2.0))
def test_sigmoid_betas_equal_spec(T: int, start: float, width: float, tau: float, device: str,
                                  dtype: torch.dtype) -> None:
    betas = sigmoid_betas(T, start, start + width, tau, dtype=dtype, device=device)
    assert_is_spec_rounded(betas, spec.sigmoid_betas(T, start, start + width, tau), dtype)


@pytest.mark.spec("SCHED-2")
@given(betas=beta_arrays(high=0.5))
def test_alpha_bars_equal_spec_and_keep_dtype_and_device(betas: np.ndarray, device: str,
                                                          dtype: torch.dtype) -> None:
    given_betas = torch.from_numpy(betas).to(device=device, dtype=dtype)
    bars = alpha_bars(given_betas)
    assert bars.device == given_betas.device
    # The spec sees the betas the torch function was given (rounded to dtype).
    assert_is_spec_rounded(bars, spec.alpha_bars(given_betas.double().cpu().numpy()), dtype)


@pytest.mark.spec("SCHED-6")
def test_alpha_bars_rejects_betas_outside_the_unit_interval() -> None:
    with pytest.raises(ValueError, match="betas"):
        alpha_bars(torch.tensor([0.1, 1.0], dtype=torch.float64))
