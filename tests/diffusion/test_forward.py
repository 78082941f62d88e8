"""The torch forward process equals the spec (FWD-1, FWD-4, FWD-5) and validates (FWD-6)."""

import jaxtyping
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from specdiff import spec, typecheck
from specdiff.diffusion import (
    NoiseSchedule,
    add_noise,
    append_time_channel,
    noised_sample_from_eps,
    predict_eps,
    predict_x0,
)
from specdiff.testing import (
    NoisingCase,
    alpha_bar_values,
    as_tensor,
    assert_close_to_spec,
    eps_batches,
    image_batches,
    nchw_shapes,
    noising_cases,
    per_example,
    to_spec_array,
    unbounded_batches,
)


@st.composite
def per_example_alpha_bars(draw: st.DrawFn, batch: int, low: float = 1e-6,
                           high: float = 1.0 - 1e-9) -> float | np.ndarray:
    """One ᾱ for the whole batch, or one per example."""
    value = alpha_bar_values(low, high)
    return draw(st.one_of(value, st.lists(value, min_size=batch, max_size=batch).map(np.array)))


def as_alpha_bar(value: float | np.ndarray, device: str) -> float | torch.Tensor:
    # ᾱ tables and per-example ᾱ are float64 in the library (schedules are float64).
    return value if isinstance(value, float) else torch.from_numpy(value).to(device)


@pytest.mark.spec("FWD-1")
@given(case=noising_cases())
def test_noised_sample_from_eps_equals_spec(case: NoisingCase, device: str,
                                            dtype: torch.dtype) -> None:
    bars, x0, eps, t = case
    x0_t, eps_t = as_tensor(x0, device, dtype), as_tensor(eps, device, dtype)
    steps = t if isinstance(t, int) else torch.from_numpy(t).to(device)
    x_t, target = noised_sample_from_eps(torch.from_numpy(bars).to(device), x0_t, eps_t, steps)
    expected, _ = spec.noised_sample_from_eps(bars, to_spec_array(x0_t), to_spec_array(eps_t), t)
    assert target is eps_t
    assert_close_to_spec(x_t, expected, "elementwise", scale=1 + np.abs(x0) + np.abs(eps))


@pytest.mark.spec("FWD-1")
@given(t=st.integers(0, 9), seed=st.integers(0, 2**31))
def test_add_noise_is_noising_with_the_generators_next_draw(t: int, seed: int, device: str,
                                                             dtype: torch.dtype) -> None:
    schedule = NoiseSchedule.linear(10, 1e-3, 0.2).to(device)
    x0 = torch.linspace(-1, 1, 12, dtype=dtype, device=device).reshape(2, 1, 2, 3)
    x_t, eps = add_noise(schedule, x0, t, generator=torch.Generator(device).manual_seed(seed))
    draw = torch.randn(x0.shape, generator=torch.Generator(device).manual_seed(seed),
                       dtype=dtype, device=device)
    assert torch.equal(eps, draw)
    expected, _ = spec.noised_sample_from_eps(schedule.alpha_bars.cpu().numpy(),
                                              to_spec_array(x0), to_spec_array(eps), t)
    assert_close_to_spec(x_t, expected, "elementwise", scale=1 + np.abs(to_spec_array(eps)))


@pytest.mark.spec("FWD-4")
@given(data=st.data())
def test_predict_x0_equals_spec(data: st.DataObject, device: str, dtype: torch.dtype) -> None:
    shape = tuple(data.draw(nchw_shapes()))
    alpha_bar = data.draw(per_example_alpha_bars(shape[0], high=1.0))
    x_t = as_tensor(data.draw(unbounded_batches(shape)), device, dtype)
    eps_hat = as_tensor(data.draw(eps_batches(shape)), device, dtype)
    actual = predict_x0(as_alpha_bar(alpha_bar, device), x_t, eps_hat)
    expected = spec.predict_x0(alpha_bar, to_spec_array(x_t), to_spec_array(eps_hat))
    amplification = 1 / np.sqrt(per_example(alpha_bar, len(shape)))
    scale = 1 + (np.abs(to_spec_array(x_t)) + np.abs(to_spec_array(eps_hat))) * amplification
    assert_close_to_spec(actual, expected, "elementwise", scale=scale)


@pytest.mark.spec("FWD-4")
@given(data=st.data())
def test_predict_eps_equals_spec(data: st.DataObject, device: str, dtype: torch.dtype) -> None:
    shape = tuple(data.draw(nchw_shapes()))
    alpha_bar = data.draw(per_example_alpha_bars(shape[0], low=0.0))
    x_t = as_tensor(data.draw(unbounded_batches(shape)), device, dtype)
    x0 = as_tensor(data.draw(image_batches(shape)), device, dtype)
    actual = predict_eps(as_alpha_bar(alpha_bar, device), x_t, x0)
    expected = spec.predict_eps(alpha_bar, to_spec_array(x_t), to_spec_array(x0))
    amplification = 1 / np.sqrt(1 - per_example(alpha_bar, len(shape)))
    scale = 1 + (np.abs(to_spec_array(x_t)) + np.abs(to_spec_array(x0))) * amplification
    assert_close_to_spec(actual, expected, "elementwise", scale=scale)


@pytest.mark.spec("FWD-5")
@given(data=st.data())
def test_append_time_channel_equals_spec(data: st.DataObject, device: str,
                                         dtype: torch.dtype) -> None:
    shape = tuple(data.draw(nchw_shapes()))
    x = as_tensor(data.draw(image_batches(shape)), device, dtype)
    t_norm = data.draw(st.one_of(
        st.floats(0.0, 0.999),
        st.lists(st.floats(0.0, 0.999), min_size=shape[0], max_size=shape[0]).map(np.array),
    ))
    given_t = t_norm if isinstance(t_norm, float) else as_tensor(t_norm, device, dtype)
    actual = append_time_channel(x, given_t)
    expected = spec.append_time_channel(
        to_spec_array(x), t_norm if isinstance(t_norm, float) else to_spec_array(given_t))
    # Exact up to the one rounding of a float t_norm to the tensor's dtype.
    assert_close_to_spec(actual, expected, "elementwise")


@pytest.mark.spec("FWD-6")
def test_out_of_range_timesteps_and_alpha_bars_are_rejected_by_name() -> None:
    bars = torch.from_numpy(spec.alpha_bars_linear(10))
    x = torch.zeros(2, 1, 2, 2)
    with pytest.raises(ValueError, match=r"t must be in \[0, T\) = \[0, 10\), got 10"):
        noised_sample_from_eps(bars, x, x, torch.tensor([0, 10]))
    with pytest.raises(ValueError, match=r"t must be in \[0, T\) = \[0, 10\), got -1"):
        noised_sample_from_eps(bars, x, x, -1)
    # ᾱ = 0 would divide by zero: rejected instead of a silent inf/NaN.
    with pytest.raises(ValueError, match="alpha_bar must be in"):
        predict_x0(torch.tensor([0.5, 0.0], dtype=torch.float64), x, x)
    with pytest.raises(ValueError, match="alpha_bar must be in"):
        predict_eps(1.0, x, x)


@pytest.mark.spec("FWD-6")
def test_mismatched_shapes_name_the_argument_with_and_without_type_checking() -> None:
    x_t, eps_hat = torch.zeros(2, 1, 3, 3), torch.zeros(1, 1, 3, 3)
    with pytest.raises(jaxtyping.TypeCheckError, match="parameter 'eps_hat'"):
        predict_x0(0.5, x_t, eps_hat)
    with typecheck(False), pytest.raises(ValueError, match="eps_hat must have the shape of x_t"):
        predict_x0(0.5, x_t, eps_hat)
    # ᾱ comes first, so its length binds "batch" and x_t is the argument that disagrees.
    with pytest.raises(jaxtyping.TypeCheckError, match="parameter 'x_t'"):
        predict_x0(torch.full((3,), 0.5), x_t, x_t)
    with typecheck(False), pytest.raises(ValueError, match=r"alpha_bar must be .* shape \(2,\)"):
        predict_x0(torch.full((3,), 0.5), x_t, x_t)


@pytest.mark.spec("FWD-6")
def test_wrong_dtype_is_a_type_error_only_while_checking_is_on() -> None:
    x0, eps = torch.zeros(2, 1, 2, 2, dtype=torch.int64), torch.zeros(2, 1, 2, 2)
    bars = torch.from_numpy(spec.alpha_bars_linear(10))
    with pytest.raises(jaxtyping.TypeCheckError, match="parameter 'x0'"):
        noised_sample_from_eps(bars, x0, eps, 3)
    with typecheck(False):
        x_t, _ = noised_sample_from_eps(bars, x0, eps, 3)
    assert torch.equal(x_t, torch.zeros(2, 1, 2, 2))  # x0 = ε = 0 noises to 0
