"""Classifier-free guidance in the spec: the combination and its ends (COND-1), validation
(COND-13)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from specdiff import typecheck
from specdiff.spec.guidance import cfg_eps
from specdiff.testing import assert_close_to_spec, eps_batches, nchw_shapes

scales = st.floats(-10.0, 10.0, allow_nan=False)


@st.composite
def eps_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    shape = draw(nchw_shapes())
    return draw(eps_batches(shape)), draw(eps_batches(shape))


@pytest.mark.spec("COND-1")
@given(eps_pairs(), scales)
def test_cfg_eps_is_the_unconditional_plus_w_times_the_difference(
    pair: tuple[np.ndarray, np.ndarray], w: float
) -> None:
    cond, uncond = pair
    scale = 1.0 + abs(w) * (np.abs(cond) + np.abs(uncond))
    assert_close_to_spec(cfg_eps(cond, uncond, w), uncond + w * (cond - uncond), "elementwise",
                         scale=scale)


@pytest.mark.spec("COND-1")
@given(eps_pairs())
def test_cfg_eps_at_one_is_the_conditional_and_at_zero_the_unconditional_exactly(
    pair: tuple[np.ndarray, np.ndarray]
) -> None:
    cond, uncond = pair
    assert np.array_equal(cfg_eps(cond, uncond, 1.0), cond)
    assert np.array_equal(cfg_eps(cond, uncond, 0.0), uncond)


@pytest.mark.spec("COND-1")
@given(eps_pairs(), scales, scales, st.floats(0.0, 1.0))
def test_cfg_eps_is_affine_in_the_guidance_scale(
    pair: tuple[np.ndarray, np.ndarray], w1: float, w2: float, weight: float
) -> None:
    cond, uncond = pair
    mixed = cfg_eps(cond, uncond, weight * w1 + (1 - weight) * w2)
    combined = weight * cfg_eps(cond, uncond, w1) + (1 - weight) * cfg_eps(cond, uncond, w2)
    scale = 1.0 + (abs(w1) + abs(w2)) * (np.abs(cond) + np.abs(uncond))
    assert_close_to_spec(mixed, combined, "elementwise", scale=scale)


@pytest.mark.spec("COND-13")
def test_cfg_eps_rejects_a_non_finite_scale_and_mismatched_shapes() -> None:
    eps = np.zeros((2, 3))
    with pytest.raises(ValueError, match="guidance_scale"):
        cfg_eps(eps, eps, float("inf"))
    with pytest.raises(ValueError, match="eps_cond"):
        cfg_eps(eps + np.nan, eps, 1.0)
    with typecheck(False), pytest.raises(ValueError, match="eps_uncond"):
        cfg_eps(eps, np.zeros((2, 4)), 1.0)
