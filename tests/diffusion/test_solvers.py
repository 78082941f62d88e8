"""Torch mirrors of the solver steps equal the spec (SOLV-1 … SOLV-4)."""

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from specdiff.diffusion import solvers as mirror
from specdiff.spec import solvers
from specdiff.testing import (
    alpha_bar_pairs,
    assert_close_to_spec,
    eps_batches,
    increasing_alpha_bar_triples,
    unbounded_batches,
)

SHAPE = (2, 1, 2, 2)


def tensor(array: np.ndarray, device: str, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(array).to(device, dtype)


@pytest.mark.spec("SOLV-1")
@given(pair=alpha_bar_pairs(), zero=st.booleans(), x0=eps_batches(SHAPE),
       eps=eps_batches(SHAPE), z=eps_batches(SHAPE), eta=st.sampled_from([0.0, 0.4, 1.0]))
def test_ddim_from_prediction_mirror(pair: tuple[float, float], zero: bool, x0: np.ndarray,
                                     eps: np.ndarray, z: np.ndarray, eta: float, device: str,
                                     dtype: torch.dtype) -> None:
    alpha_bar_prev, alpha_bar = pair[0], 0.0 if zero else pair[1]
    actual = mirror.ddim_step_from_prediction(alpha_bar_prev, alpha_bar, tensor(x0, device, dtype),
                                              tensor(eps, device, dtype), eta,
                                              tensor(z, device, dtype))
    expected = solvers.ddim_step_from_prediction(alpha_bar_prev, alpha_bar, x0, eps, eta, z)
    assert_close_to_spec(actual, expected, "elementwise",
                         scale=1.0 + np.abs(x0) + np.abs(eps) + np.abs(z))


@pytest.mark.spec("SOLV-2", "SOLV-3")
@given(pair=alpha_bar_pairs(), x=unbounded_batches(SHAPE),
       history=st.lists(eps_batches(SHAPE), min_size=1, max_size=5))
def test_pndm_mirror(pair: tuple[float, float], x: np.ndarray, history: list[np.ndarray],
                     device: str, dtype: torch.dtype) -> None:
    alpha_bar_prev, alpha_bar = pair
    torch_history = [tensor(e, device, dtype) for e in history]
    assert_close_to_spec(mirror.plms_eps(torch_history), solvers.plms_eps(history),
                         "elementwise", scale=1.0 + 4.0 * max(np.abs(e).max() for e in history))
    actual = mirror.pndm_step(alpha_bar_prev, alpha_bar, tensor(x, device, dtype), torch_history)
    expected = solvers.pndm_step(alpha_bar_prev, alpha_bar, x, history)
    largest = max(np.abs(e).max() for e in history)
    assert_close_to_spec(actual, expected, "elementwise",
                         scale=1.0 + (np.abs(x) + 4.0 * largest) / np.sqrt(alpha_bar))


@pytest.mark.spec("SOLV-4")
@example(x=np.zeros(SHAPE), x0=np.ones(SHAPE), last=np.zeros(SHAPE),
         bars=[1e-4, 1.0000000000000002e-4, 0.5], second_order=True, zero_start=False)
@given(x=unbounded_batches(SHAPE), x0=eps_batches(SHAPE), last=eps_batches(SHAPE),
       bars=st.one_of(st.lists(st.floats(1e-4, 1 - 1e-4), min_size=3, max_size=3, unique=True),
                      increasing_alpha_bar_triples().map(list)),
       second_order=st.booleans(), zero_start=st.booleans())
def test_dpm_solver_pp_mirror(x: np.ndarray, x0: np.ndarray, last: np.ndarray,
                              bars: list[float], second_order: bool, zero_start: bool,
                              device: str, dtype: torch.dtype) -> None:
    alpha_bar_last, alpha_bar, alpha_bar_prev = sorted(bars)
    if zero_start and not second_order:
        alpha_bar = 0.0
    previous = (alpha_bar_last, last) if second_order else None
    torch_previous = (alpha_bar_last, tensor(last, device, dtype)) if second_order else None
    actual = mirror.dpm_solver_pp_step(alpha_bar_prev, alpha_bar, tensor(x, device, dtype),
                                       tensor(x0, device, dtype), torch_previous)
    expected = solvers.dpm_solver_pp_step(alpha_bar_prev, alpha_bar, x, x0, previous)
    # The extrapolation weight h/h_last and σ_prev/σ amplify the inputs' rounding.
    ratio, _, weight = solvers.dpm_solver_pp_coefficients(
        alpha_bar_prev, alpha_bar, alpha_bar_last if second_order else None)
    scale = 1.0 + np.abs(x) * ratio + (1.0 + weight) * (np.abs(x0) + np.abs(last))
    assert_close_to_spec(actual, expected, "elementwise", scale=scale)
