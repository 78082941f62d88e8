"""The inpainting sampler in torch: mirrors (COND-5, COND-7), composition and limits (COND-8),
its exact law with a correlated Gaussian (COND-9), the correlated oracle (COND-10), validation
(COND-13)."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from specdiff import spec
from specdiff.diffusion import NoiseSchedule, sample_ddpm
from specdiff.diffusion.inpainting import forward_step, inpaint_step, sample_inpaint
from specdiff.spec.inpainting import forward_step as spec_forward_step
from specdiff.spec.inpainting import inpaint_step as spec_inpaint_step
from specdiff.spec.inpainting import repaint_levels
from specdiff.testing import (
    GaussianOracle,
    alpha_bar_arrays,
    as_tensor,
    assert_close_to_spec,
    eps_batches,
    image_batches,
    nchw_shapes,
    to_spec_array,
    unbounded_batches,
)
from specdiff.testing.affine_law import (
    STANDARD_ERRORS,
    AffineStep,
    affine_gaussian_law,
    assert_gaussian_moments,
)
from specdiff.testing.conditional_oracles import CorrelatedGaussianOracle

SCHEDULE = NoiseSchedule.linear(100, 1e-3, 0.2)
MEAN = torch.tensor([0.2, -0.1], dtype=torch.float64)
STDS = (0.5, 0.4)
RHO = 0.9
COVARIANCE = torch.tensor([[STDS[0] ** 2, RHO * STDS[0] * STDS[1]],
                           [RHO * STDS[0] * STDS[1], STDS[1] ** 2]], dtype=torch.float64)
KNOWN_VALUE = 0.6
MASK = torch.tensor([1.0, 0.0], dtype=torch.float64).reshape(1, 1, 1, 2)  # pixel 0 known



@pytest.mark.spec("COND-5")
@given(alpha_bar_arrays(), nchw_shapes(), st.data())
def test_torch_inpaint_step_equals_its_spec(device: str, dtype: torch.dtype,
                                            bars: np.ndarray, shape: tuple[int, ...],
                                            data: st.DataObject) -> None:
    t = data.draw(st.integers(0, bars.shape[0] - 1))
    x_t, eps_hat, image, noise, z = (
        as_tensor(data.draw(strategy), device, dtype) for strategy in (
            unbounded_batches(shape, 5.0), eps_batches(shape), image_batches(shape),
            eps_batches(shape), eps_batches(shape)))
    mask = as_tensor(np.asarray(data.draw(st.lists(
        st.sampled_from([0.0, 1.0]), min_size=shape[2] * shape[3], max_size=shape[2] * shape[3]
    ))).reshape(1, 1, *shape[2:]), device, dtype)
    actual = inpaint_step(as_tensor(bars, device, torch.float64), t, x_t, eps_hat, image, mask,
                          noise, z, True)
    seen_x, seen_eps, seen_image, seen_mask, seen_noise, seen_z = (
        to_spec_array(v) for v in (x_t, eps_hat, image, mask, noise, z))
    expected = spec_inpaint_step(bars, t, seen_x, seen_eps, seen_image, seen_mask, seen_noise,
                                 seen_z, True)
    scale = 1.0 + (np.abs(seen_x) + np.abs(seen_eps)) / np.sqrt(bars[t])
    assert_close_to_spec(actual, expected, "elementwise", scale=scale)


@pytest.mark.spec("COND-7")
@given(alpha_bar_arrays(), nchw_shapes(), st.data())
def test_torch_forward_step_equals_its_spec(device: str, dtype: torch.dtype, bars: np.ndarray,
                                            shape: tuple[int, ...], data: st.DataObject) -> None:
    t = data.draw(st.integers(0, bars.shape[0] - 1))
    x_prev = as_tensor(data.draw(unbounded_batches(shape, 5.0)), device, dtype)
    noise = as_tensor(data.draw(eps_batches(shape)), device, dtype)
    actual = forward_step(as_tensor(bars, device, torch.float64), t, x_prev, noise)
    seen_x, seen_noise = to_spec_array(x_prev), to_spec_array(noise)
    assert_close_to_spec(actual, spec_forward_step(bars, t, seen_x, seen_noise), "elementwise",
                         scale=1.0 + np.abs(seen_x) + np.abs(seen_noise))


def correlated_oracle() -> CorrelatedGaussianOracle:
    return CorrelatedGaussianOracle(SCHEDULE, MEAN, COVARIANCE)


def known_image(batch: int) -> torch.Tensor:
    image = torch.zeros((batch, 1, 1, 2), dtype=torch.float64)
    image[:, 0, 0, 0] = KNOWN_VALUE
    return image


def spec_transitions(model: torch.nn.Module, image: np.ndarray, mask: np.ndarray,
                     jump_length: int, resample: int) -> list[AffineStep]:
    """The sampler's transitions as spec functions of (x, draw), in repaint_levels order."""
    bars = SCHEDULE.alpha_bars.numpy()

    def transition(level: int, next_level: int) -> AffineStep:
        if next_level > level:
            return lambda x, draw: spec_forward_step(bars, next_level, x, draw)

        def reverse(x: np.ndarray, draw: np.ndarray) -> np.ndarray:
            steps = torch.full((x.shape[0],), level)
            eps = model(torch.from_numpy(x), steps).numpy()
            z = draw if level > 0 else np.zeros_like(x)
            return spec_inpaint_step(bars, level, x, eps, image, mask, z, z, False)
        return reverse

    levels = repaint_levels(SCHEDULE.num_timesteps, jump_length, resample)
    return [transition(a, b) for a, b in itertools.pairwise(levels)]


@pytest.mark.spec("COND-8")
def test_sample_inpaint_is_the_spec_steps_on_its_draws_in_order() -> None:
    model, image, batch = correlated_oracle(), known_image(3), 3
    out = sample_inpaint(model, SCHEDULE, image, MASK, generator=torch.Generator().manual_seed(4),
                         jump_length=3, resample=2, clip=False)
    generator = torch.Generator().manual_seed(4)

    def draw() -> np.ndarray:
        return torch.randn((batch, 1, 1, 2), generator=generator, dtype=torch.float64).numpy()

    x = draw()
    levels = repaint_levels(SCHEDULE.num_timesteps, 3, 2)
    transitions = spec_transitions(model, image.numpy(), MASK.numpy(), 3, 2)
    for (level, next_level), transition in zip(itertools.pairwise(levels),
                                               transitions, strict=True):
        drawn = draw() if next_level > level or level > 0 else np.zeros_like(x)
        x = transition(x.reshape(batch, 1, 1, 2), drawn)
    assert_close_to_spec(out, x, "network")


@pytest.mark.spec("COND-8")
@pytest.mark.parametrize(("jump_length", "resample"), [(1, 1), (2, 3)])
def test_sample_inpaint_with_everything_known_returns_the_image(device: str, jump_length: int,
                                                                 resample: int) -> None:
    schedule = NoiseSchedule.linear(20, 1e-3, 0.2)
    image = torch.rand((2, 3, 4, 4), generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = sample_inpaint(GaussianOracle(schedule, 0.1, 0.5).to(device), schedule, image,
                         torch.ones((1, 1, 4, 4)), generator=torch.Generator(device).manual_seed(1),
                         jump_length=jump_length, resample=resample)
    assert torch.equal(out.cpu(), image)


@pytest.mark.spec("COND-8")
def test_sample_inpaint_with_nothing_known_is_ddpm_with_the_same_seed(device: str) -> None:
    schedule = NoiseSchedule.linear(20, 1e-3, 0.2)
    oracle = GaussianOracle(schedule, 0.1, 0.5).to(device)
    image = torch.zeros((2, 3, 4, 4), device=device)
    inpainted = sample_inpaint(oracle, schedule, image, torch.zeros((1, 1, 4, 4)),
                               generator=torch.Generator(device).manual_seed(6))
    sampled = sample_ddpm(oracle, schedule, (2, 3, 4, 4),
                          generator=torch.Generator(device).manual_seed(6))
    assert torch.equal(inpainted, sampled)


def inpainted_law(jump_length: int, resample: int) -> tuple[np.ndarray, np.ndarray]:
    transitions = spec_transitions(correlated_oracle(), known_image(1).numpy(), MASK.numpy(),
                                   jump_length, resample)

    def flat(step: AffineStep) -> AffineStep:
        return lambda x, draw: step(x.reshape(1, 1, 1, 2), draw.reshape(1, 1, 1, 2)).reshape(1, 2)

    mean, covariance = affine_gaussian_law([flat(step) for step in transitions], 2)
    return mean, np.diag(covariance)


@pytest.fixture(scope="module")
def inpainted_laws() -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """inpainted_law of each (jump_length, resample) tested, computed once (about 10 s)."""
    return {pair: inpainted_law(*pair) for pair in [(1, 1), (5, 5)]}


@pytest.mark.spec("COND-9")
@pytest.mark.parametrize(("jump_length", "resample"), [(1, 1), (5, 5)])
def test_inpainted_pixel_follows_the_samplers_exact_law(
        inpainted_laws: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]],
        jump_length: int, resample: int) -> None:
    n = 4000
    samples = sample_inpaint(correlated_oracle(), SCHEDULE, known_image(n), MASK,
                             generator=torch.Generator().manual_seed(jump_length), clip=False,
                             jump_length=jump_length, resample=resample)
    mean, variance = inpainted_laws[jump_length, resample]
    assert np.array_equal(samples[:, 0, 0, 0].numpy(), np.full(n, KNOWN_VALUE))
    assert_gaussian_moments(samples[:, 0, 0, 1:].numpy(), mean[1:], variance[1:],
                            f"j={jump_length}, r={resample}")


@pytest.mark.spec("COND-9")
def test_resampling_moves_the_inpainted_mean_toward_the_conditional(
        inpainted_laws: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]) -> None:
    conditional_mean = MEAN[1] + RHO * STDS[1] / STDS[0] * (KNOWN_VALUE - MEAN[0])
    replacement, resampled = inpainted_laws[1, 1][0][1], inpainted_laws[5, 5][0][1]
    print(f"inpainted mean: replacement {replacement:.4f}, j=r=5 {resampled:.4f}, "
          f"conditional {float(conditional_mean):.4f}")
    assert abs(resampled - conditional_mean) < abs(replacement - conditional_mean)


@pytest.mark.spec("COND-10")
def test_correlated_oracle_with_diagonal_covariance_is_the_gaussian_oracle() -> None:
    stds = torch.tensor([0.5, 0.2], dtype=torch.float64)
    correlated = CorrelatedGaussianOracle(SCHEDULE, MEAN, torch.diag(stds**2))
    x = torch.randn((5, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t = torch.tensor([0, 1, 30, 70, 99])
    expected = to_spec_array(GaussianOracle(SCHEDULE, MEAN, stds)(x, t))
    assert_close_to_spec(correlated(x, t), expected, "elementwise")


@pytest.mark.spec("COND-10")
@pytest.mark.parametrize("t", [0, 40, 99])
def test_correlated_oracle_residual_is_centred_and_uncorrelated_with_x_t(t: int) -> None:
    n = 20_000
    rng = np.random.default_rng(t)
    x0 = rng.multivariate_normal(MEAN.numpy(), COVARIANCE.numpy(), size=n)
    eps = rng.standard_normal((n, 2))
    bars = SCHEDULE.alpha_bars.numpy()
    x_t = spec.noised_sample_from_eps(bars, x0, eps, t)[0]
    residual = eps - correlated_oracle()(torch.from_numpy(x_t), torch.full((n,), t)).numpy()
    spread = residual.std(axis=0, ddof=1)
    assert np.all(np.abs(residual.mean(axis=0)) <= STANDARD_ERRORS * spread / np.sqrt(n))
    centred = x_t - x_t.mean(axis=0)
    for i in range(2):
        for j in range(2):
            products = residual[:, i] * centred[:, j]
            bound = STANDARD_ERRORS * products.std(ddof=1) / np.sqrt(n)
            assert abs(products.mean()) <= bound, (i, j, products.mean(), bound)


@pytest.mark.spec("COND-13")
def test_sample_inpaint_rejects_bad_masks_and_jumps() -> None:
    schedule = NoiseSchedule.linear(10, 1e-3, 0.2)
    oracle, image = GaussianOracle(schedule, 0.0, 1.0), torch.zeros((1, 1, 2, 2))
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="mask"):
        sample_inpaint(oracle, schedule, image, torch.full((1, 1, 2, 2), 0.5), generator=generator)
    with pytest.raises(ValueError, match="mask"):
        sample_inpaint(oracle, schedule, image, torch.ones((1, 2, 2)), generator=generator)
    with pytest.raises(ValueError, match="jump_length"):
        sample_inpaint(oracle, schedule, image, torch.ones((1, 1, 2, 2)), generator=generator,
                       jump_length=0)
    with pytest.raises(ValueError, match="resample"):
        sample_inpaint(oracle, schedule, image, torch.ones((1, 1, 2, 2)), generator=generator,
                       resample=0)
    with pytest.raises(ValueError, match="covariance"):
        CorrelatedGaussianOracle(SCHEDULE, MEAN, torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="covariance"):
        CorrelatedGaussianOracle(SCHEDULE, MEAN, -torch.eye(2, dtype=torch.float64))
