"""The torch reverse steps equal the spec (REV-1, REV-2, REV-5, REV-7, REV-9) and validate
(REV-10)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from specdiff import spec, typecheck
from specdiff.diffusion import (
    ddim_prev,
    ddim_step,
    ddpm_posterior,
    ddpm_prev,
    ddpm_step,
    noised_sample_from_eps,
)
from specdiff.testing import (
    alpha_bar_arrays,
    alpha_bar_pairs,
    as_tensor,
    assert_close_to_spec,
    batched_timesteps,
    eps_batches,
    image_batches,
    nchw_shapes,
    per_example,
    timesteps,
    to_spec_array,
    unbounded_batches,
)


def x0_amplified(x_t: torch.Tensor, eps_hat: torch.Tensor, alpha_bar: np.ndarray | float
                 ) -> np.ndarray:
    """(|x_t| + |ε̂|)/√ᾱ: how much x̂0 = predict_x0(ᾱ, x_t, ε̂) amplifies its inputs' rounding."""
    alpha = per_example(alpha_bar, x_t.ndim)
    return (np.abs(to_spec_array(x_t)) + np.abs(to_spec_array(eps_hat))) / np.sqrt(alpha)


@st.composite
def step_inputs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x_t, ε̂, z) of one NCHW shape: x_t beyond the data range, as during sampling."""
    shape = tuple(draw(nchw_shapes()))
    return (draw(unbounded_batches(shape)), draw(eps_batches(shape)), draw(eps_batches(shape)))


@st.composite
def posterior_cases(draw: st.DrawFn) -> tuple[np.ndarray, int | np.ndarray, np.ndarray,
                                              np.ndarray, np.ndarray, np.ndarray]:
    """(ᾱ table, t, x0, x_t, ε̂, z) with t one int or one per batch element."""
    bars = draw(alpha_bar_arrays())
    x_t, eps_hat, z = draw(step_inputs())
    T, batch = bars.shape[0], x_t.shape[0]
    t = draw(st.one_of(timesteps(T), batched_timesteps(T, batch)))
    return bars, t, draw(image_batches(x_t.shape)), x_t, eps_hat, z


def as_steps(t: int | np.ndarray, device: str) -> int | torch.Tensor:
    return t if isinstance(t, int) else torch.from_numpy(t).to(device)


@pytest.mark.spec("REV-1")
@given(pair=alpha_bar_pairs(), inputs=step_inputs())
def test_ddim_prev_equals_spec(pair: tuple[float, float], inputs: tuple, device: str,
                               dtype: torch.dtype) -> None:
    x_t, eps_hat = as_tensor(inputs[0], device, dtype), as_tensor(inputs[1], device, dtype)
    actual = ddim_prev(*pair, x_t, eps_hat)
    expected = spec.ddim_prev(*pair, to_spec_array(x_t), to_spec_array(eps_hat))
    assert_close_to_spec(actual, expected, "elementwise",
                         scale=1 + x0_amplified(x_t, eps_hat, pair[1]))


@pytest.mark.spec("REV-5")
@given(pair=alpha_bar_pairs(), inputs=step_inputs(), eta=st.floats(0.0, 1.0),
       clip=st.booleans())
def test_ddim_step_equals_spec(pair: tuple[float, float], inputs: tuple, eta: float, clip: bool,
                               device: str, dtype: torch.dtype) -> None:
    x_t, eps_hat, z = (as_tensor(array, device, dtype) for array in inputs)
    actual = ddim_step(*pair, x_t, eps_hat, eta, z, clip)
    expected = spec.ddim_step(*pair, to_spec_array(x_t), to_spec_array(eps_hat), eta,
                              to_spec_array(z), clip)
    scale = 1 + x0_amplified(x_t, eps_hat, pair[1]) + np.abs(to_spec_array(z))
    assert_close_to_spec(actual, expected, "elementwise", scale=scale)


@pytest.mark.spec("REV-2")
@given(pair=alpha_bar_pairs(), data=st.data(), clip=st.booleans())
def test_ddim_step_with_the_true_noise_lands_on_the_noised_sample(
    pair: tuple[float, float], data: st.DataObject, clip: bool, device: str, dtype: torch.dtype
) -> None:
    alpha_bar_prev, alpha_bar = pair
    shape = tuple(data.draw(nchw_shapes()))
    x0 = as_tensor(data.draw(image_batches(shape)), device, dtype)
    eps = as_tensor(data.draw(eps_batches(shape)), device, dtype)
    table = torch.tensor([alpha_bar], dtype=torch.float64, device=device)
    x_t, _ = noised_sample_from_eps(table, x0, eps, 0)
    actual = ddim_step(alpha_bar_prev, alpha_bar, x_t, eps, 0.0, None, clip)
    landing, _ = spec.noised_sample_from_eps(np.array([alpha_bar_prev]), to_spec_array(x0),
                                             to_spec_array(eps), 0)
    # x_t is rounded once more than x0 and ε, and x̂0 amplifies that by 1/√ᾱ.
    scale = (1 + np.sqrt(alpha_bar_prev) * x0_amplified(x_t, eps, alpha_bar)
             + np.abs(to_spec_array(eps)))
    assert_close_to_spec(actual, landing, "elementwise", scale=scale)


@pytest.mark.spec("REV-7")
@given(case=posterior_cases())
def test_ddpm_posterior_equals_spec(case: tuple, device: str, dtype: torch.dtype) -> None:
    bars, t, x0_array, x_t_array, _, _ = case
    x0, x_t = as_tensor(x0_array, device, dtype), as_tensor(x_t_array, device, dtype)
    mean, variance, log_variance = ddpm_posterior(
        torch.from_numpy(bars).to(device), as_steps(t, device), x0, x_t)
    expected_mean, expected_variance, expected_log = spec.ddpm_posterior(
        bars, t, to_spec_array(x0), to_spec_array(x_t))
    # Both posterior coefficients are ≤ 1 (β_t ≤ 1 − ᾱ_t), so the terms are |x0| and |x_t|.
    assert_close_to_spec(mean, expected_mean, "elementwise",
                         scale=1 + np.abs(to_spec_array(x0)) + np.abs(to_spec_array(x_t)))
    # The per-timestep constants stay float64 whatever the samples' dtype.
    assert variance.dtype == log_variance.dtype == torch.float64
    assert_close_to_spec(variance, expected_variance, "elementwise")
    assert_close_to_spec(log_variance, expected_log, "elementwise")


@pytest.mark.spec("REV-9")
@given(case=posterior_cases(), clip=st.booleans(),
       variance=st.sampled_from(["fixed_small", "fixed_large"]))
def test_ddpm_prev_equals_spec(case: tuple, clip: bool, variance: str, device: str,
                               dtype: torch.dtype) -> None:
    bars, t, _, x_t_array, eps_array, z_array = case
    x_t, eps_hat, z = (as_tensor(array, device, dtype) for array in (x_t_array, eps_array, z_array))
    actual = ddpm_prev(torch.from_numpy(bars).to(device), as_steps(t, device), x_t, eps_hat, z,
                       clip, variance)  # type: ignore[arg-type]
    expected = spec.ddpm_prev(bars, t, to_spec_array(x_t), to_spec_array(eps_hat),
                              to_spec_array(z), clip, variance)  # type: ignore[arg-type]
    scale = (1 + x0_amplified(x_t, eps_hat, bars[t]) + np.abs(to_spec_array(x_t))
             + np.abs(to_spec_array(z)))
    assert_close_to_spec(actual, expected, "elementwise", scale=scale)


def test_ddpm_step_is_ddpm_prev() -> None:
    assert ddpm_step is ddpm_prev


@pytest.mark.spec("REV-10")
def test_reverse_step_arguments_are_rejected_by_name() -> None:
    x = torch.zeros(2, 1, 2, 2)
    bars = torch.from_numpy(spec.alpha_bars_linear(10))
    with pytest.raises(ValueError, match="alpha_bar_prev must be in"):
        ddim_prev(0.4, 0.5, x, x)
    with pytest.raises(ValueError, match="eta must be in"):
        ddim_step(0.9, 0.5, x, x, 1.5, x, True)
    with pytest.raises(ValueError, match="z must be given when sigma > 0"):
        ddim_step(0.9, 0.5, x, x, 0.5, None, True)
    # An unknown name is a Literal violation (TypeCheckError) while checking is on.
    with typecheck(False), pytest.raises(ValueError, match="variance must be"):
        ddpm_prev(bars, 3, x, x, x, True, "learned")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"t must be in \[0, T\) = \[0, 10\), got 10"):
        ddpm_prev(bars, torch.tensor([1, 10]), x, x, x, True)
    # Only the last ᾱ may be 0 (zero terminal SNR, REV-7's domain); none may be 1.
    for table in ([0.0, 0.5], [0.9, 1.0]):
        with pytest.raises(ValueError, match="alpha_bars must be in"):
            ddpm_posterior(torch.tensor(table, dtype=torch.float64), 1, x, x)
