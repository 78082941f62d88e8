"""The inpainting spec: the step (COND-5), RePaint's levels (COND-6), the forward step (COND-7),
validation (COND-13)."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from specdiff import spec, typecheck
from specdiff.spec.inpainting import forward_step, inpaint_step, repaint_levels
from specdiff.testing import (
    alpha_bar_arrays,
    assert_close_to_spec,
    eps_batches,
    image_batches,
    nchw_shapes,
    unbounded_batches,
)
from specdiff.testing.affine_law import STANDARD_ERRORS
from tests.spec.exact_steps import law_beta


@st.composite
def inpaint_cases(draw: st.DrawFn) -> dict[str, np.ndarray]:
    shape = draw(nchw_shapes())
    mask_shape = (1, 1, *shape[2:]) if draw(st.booleans()) else shape
    return {
        "x_t": draw(unbounded_batches(shape, 5.0)),
        "eps_hat": draw(eps_batches(shape)),
        "image": draw(image_batches(shape)),
        "mask": np.asarray(draw(st.lists(st.sampled_from([0.0, 1.0]),
                                         min_size=int(np.prod(mask_shape)),
                                         max_size=int(np.prod(mask_shape))))),
        "mask_shape": np.array(mask_shape),
        "noise": draw(eps_batches(shape)),
        "z": draw(eps_batches(shape)),
    }


@pytest.mark.spec("COND-5")
@given(alpha_bar_arrays(), inpaint_cases(), st.data())
def test_inpaint_step_takes_known_pixels_noised_and_unknown_ones_from_ddpm(
    bars: np.ndarray, case: dict[str, np.ndarray], data: st.DataObject
) -> None:
    t = data.draw(st.integers(0, bars.shape[0] - 1))
    mask = np.reshape(case["mask"], tuple(case["mask_shape"]))
    out = inpaint_step(bars, t, case["x_t"], case["eps_hat"], case["image"], mask, case["noise"],
                       case["z"], True)
    known = np.broadcast_to(mask, out.shape) == 1
    unknown = spec.ddpm_prev(bars, t, case["x_t"], case["eps_hat"], case["z"], True)
    noised = (case["image"] if t == 0
              else spec.noised_sample_from_eps(bars, case["image"], case["noise"], t - 1)[0])
    assert np.array_equal(out[~known], unknown[~known])
    assert np.array_equal(out[known], noised[known])
    if t == 0:
        assert np.array_equal(out[known], case["image"][known])


@pytest.mark.spec("COND-6")
@given(st.integers(1, 40), st.integers(1, 12), st.integers(1, 5))
def test_repaint_levels_walk_from_the_top_to_clean_data_in_unit_steps(
    T: int, jump_length: int, resample: int
) -> None:
    levels = repaint_levels(T, jump_length, resample)
    assert levels[0] == T - 1 and levels[-1] == -1
    assert all(abs(b - a) == 1 for a, b in itertools.pairwise(levels))
    assert min(levels) == -1 and max(levels) == T - 1
    reverse_steps = sum(b < a for a, b in itertools.pairwise(levels))
    jump_points = len(range(0, T - jump_length, jump_length))
    assert reverse_steps == T + (resample - 1) * jump_length * jump_points
    if resample == 1:
        assert levels == list(range(T - 1, -2, -1))


@pytest.mark.spec("COND-6")
@pytest.mark.parametrize(("T", "jump_length", "resample"),
                         [(10, 1, 1), (10, 1, 2), (10, 3, 2), (25, 4, 3), (7, 10, 3)])
def test_repaint_levels_equal_diffusers_repaint_timesteps(T: int, jump_length: int,
                                                          resample: int) -> None:
    diffusers = pytest.importorskip("diffusers")
    scheduler = diffusers.RePaintScheduler(num_train_timesteps=T)
    scheduler.set_timesteps(T, jump_length=jump_length, jump_n_sample=resample)
    timesteps = [int(t) for t in scheduler.timesteps]
    # A timestep below the previous one is a reverse step at it; one above, a forward step.
    levels, previous = [timesteps[0]], timesteps[0] + 1
    for t in timesteps:
        levels.append(t - 1 if t < previous else previous)
        previous = t
    assert levels == repaint_levels(T, jump_length, resample)


@pytest.mark.spec("COND-7")
@given(alpha_bar_arrays(), nchw_shapes(), st.data())
def test_forward_step_is_the_one_step_kernel(bars: np.ndarray, shape: tuple[int, ...],
                                             data: st.DataObject) -> None:
    t = data.draw(st.integers(0, bars.shape[0] - 1))
    x_prev, noise = data.draw(unbounded_batches(shape, 5.0)), data.draw(eps_batches(shape))
    beta = float(law_beta(bars[t - 1] if t else 1.0, bars[t]))
    assert_close_to_spec(forward_step(bars, t, x_prev, noise),
                         np.sqrt(1 - beta) * x_prev + np.sqrt(beta) * noise, "elementwise",
                         scale=1.0 + np.abs(x_prev) + np.abs(noise))


@pytest.mark.spec("COND-7")
@pytest.mark.parametrize("t", [0, 1, 50, 99])
def test_forward_step_from_the_marginal_at_t_minus_1_gives_the_marginal_at_t(t: int) -> None:
    bars = spec.alpha_bars(spec.linear_betas(100, 1e-3, 0.2))
    rng = np.random.default_rng(t)
    n, x0 = 20_000, 0.4
    x_prev = np.full((n, 1), x0)
    if t > 0:
        x_prev = spec.noised_sample_from_eps(bars, x_prev, rng.standard_normal((n, 1)), t - 1)[0]
    x_t = forward_step(bars, t, x_prev, rng.standard_normal((n, 1)))[:, 0]
    variance = 1.0 - bars[t]
    assert abs(x_t.mean() - np.sqrt(bars[t]) * x0) <= STANDARD_ERRORS * np.sqrt(variance / n)
    assert abs(x_t.var(ddof=1) - variance) <= STANDARD_ERRORS * variance * np.sqrt(2 / (n - 1))


@pytest.mark.spec("COND-13")
def test_inpainting_arguments_are_validated() -> None:
    bars = spec.alpha_bars(spec.linear_betas(10, 1e-3, 0.2))
    x = np.zeros((2, 1, 2, 2))
    for name, args in [("num_timesteps", (0, 1, 1)), ("jump_length", (10, 0, 1)),
                       ("resample", (10, 1, 0))]:
        with pytest.raises(ValueError, match=name):
            repaint_levels(*args)
    with pytest.raises(ValueError, match="mask"):
        inpaint_step(bars, 3, x, x, x, np.full((1, 1, 2, 2), 0.5), x, x, False)
    with pytest.raises(ValueError, match="mask"):
        inpaint_step(bars, 3, x, x, x, np.ones((1, 1, 3, 2)), x, x, False)
    with pytest.raises(ValueError, match="t must be in"):
        forward_step(bars, 10, x, x)
    with typecheck(False), pytest.raises(ValueError, match="noise"):
        forward_step(bars, 1, x, x + np.inf)
