"""Guidance in torch: the mirror (COND-1), one-forward batching (COND-2), what guided DDPM samples
with exact oracles (COND-3, COND-4), the null-class oracle (COND-10) and validation (COND-13)."""

import dataclasses
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from specdiff import spec
from specdiff.diffusion import NoiseSchedule, sample_ddpm
from specdiff.diffusion.guidance import GuidedModel, cfg_eps
from specdiff.nn import UNet, UNetConfig
from specdiff.spec.guidance import cfg_eps as spec_cfg_eps
from specdiff.testing import GaussianMixtureOracle, assert_close_to_spec, eps_batches, nchw_shapes
from specdiff.testing.affine_law import (
    STANDARD_ERRORS,
    AffineStep,
    affine_gaussian_law,
    assert_gaussian_moments,
)
from specdiff.testing.conditional_oracles import NullClassMixtureOracle
from specdiff.testing.nets import randomized_module, to_spec_array

SCHEDULE = NoiseSchedule.linear(100, 1e-3, 0.2)
CLASS_MEANS = torch.tensor([[-0.4, 0.3], [0.5, -0.2]], dtype=torch.float64)
CLASS_STDS = torch.tensor([0.3, 0.2], dtype=torch.float64)
PER_CLASS = 3000


def mixture_oracle() -> NullClassMixtureOracle:
    weights = torch.tensor([0.5, 0.5], dtype=torch.float64)
    return NullClassMixtureOracle(GaussianMixtureOracle(SCHEDULE, CLASS_MEANS, CLASS_STDS, weights))


@pytest.mark.spec("COND-1")
@given(nchw_shapes().flatmap(lambda shape: st.tuples(eps_batches(shape), eps_batches(shape))),
       st.floats(-10.0, 10.0))
def test_torch_cfg_eps_equals_its_spec(device: str, dtype: torch.dtype,
                                       pair: tuple[np.ndarray, np.ndarray], w: float) -> None:
    cond, uncond = (torch.as_tensor(a, dtype=dtype, device=device) for a in pair)
    actual = cfg_eps(cond, uncond, w)
    seen_cond, seen_uncond = to_spec_array(cond), to_spec_array(uncond)
    assert_close_to_spec(actual, spec_cfg_eps(seen_cond, seen_uncond, w), "elementwise",
                         scale=1.0 + abs(w) * (np.abs(seen_cond) + np.abs(seen_uncond)))
    assert torch.equal(cfg_eps(cond, uncond, 1.0), cond)
    assert torch.equal(cfg_eps(cond, uncond, 0.0), uncond)


class CountingModel(torch.nn.Module):
    """Records every call's batch and labels, and forwards to ``model``."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor
                ) -> torch.Tensor:
        self.calls.append((x, t, class_labels))
        out: torch.Tensor = self.model(x, t, class_labels=class_labels)
        return out


def class_conditional_unet(device: str, seed: int) -> UNet:
    config = dataclasses.replace(UNetConfig.tiny(), num_classes=3, num_timesteps=100)
    return randomized_module(UNet(config), seed, torch.float64, device)


@pytest.mark.spec("COND-2")
@pytest.mark.parametrize("w", [0.0, 1.0, 2.5, -0.5])
def test_guided_model_is_one_forward_equal_to_two_separate_ones(device: str, w: float) -> None:
    unet = CountingModel(class_conditional_unet(device, seed=3))
    generator = torch.Generator(device).manual_seed(0)
    x = torch.randn((2, 3, 8, 8), generator=generator, dtype=torch.float64, device=device)
    t = torch.tensor([5, 71], device=device)
    labels = torch.tensor([2, 0], device=device)
    guided = GuidedModel(unet, labels, w, null_class=3).to(device)
    actual = guided(x, t)
    assert len(unet.calls) == 1
    batch, steps, sent_labels = unet.calls[0]
    assert torch.equal(batch, torch.cat([x, x])) and torch.equal(steps, torch.cat([t, t]))
    assert sent_labels.tolist() == [2, 0, 3, 3]
    with torch.no_grad():
        cond, uncond = unet.model(x, t, labels), unet.model(x, t, None)
    assert_close_to_spec(actual, spec_cfg_eps(to_spec_array(cond), to_spec_array(uncond), w),
                         "network")


@pytest.mark.spec("COND-2")
@pytest.mark.parametrize("w", [0.0, 1.0])
def test_guided_oracle_at_one_and_zero_is_exactly_the_conditional_or_unconditional(
    w: float
) -> None:
    oracle = mixture_oracle()
    x = torch.randn((4, 2), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = torch.tensor([0, 10, 50, 99])
    labels = torch.tensor([0, 1, 1, 0])
    expected = oracle(x, t, labels) if w == 1.0 else oracle(x, t)
    assert torch.equal(GuidedModel(oracle, labels, w, oracle.null_class)(x, t), expected)


def guided_samples(w: float, seed: int) -> torch.Tensor:
    oracle = mixture_oracle()
    labels = torch.arange(2).repeat_interleave(PER_CLASS)
    guided = GuidedModel(oracle, labels, w, oracle.null_class)
    return sample_ddpm(guided, SCHEDULE, (2 * PER_CLASS, 2), clip=False,
                       generator=torch.Generator().manual_seed(seed))


@pytest.mark.spec("COND-3")
def test_guided_ddpm_at_one_samples_each_class_gaussian() -> None:
    samples = guided_samples(1.0, seed=0).numpy()
    bars = SCHEDULE.alpha_bars.numpy()
    oracle = mixture_oracle()
    for label in range(2):
        guided = GuidedModel(oracle, torch.tensor([label]), 1.0, oracle.null_class)

        def step_at(t: int, guided: GuidedModel = guided) -> AffineStep:
            def step(x: np.ndarray, z: np.ndarray) -> np.ndarray:
                eps = guided(torch.from_numpy(x), torch.tensor([t])).numpy()
                return spec.ddpm_prev(bars, t, x, eps, z, False)
            return step

        mean, covariance = affine_gaussian_law([step_at(t) for t in reversed(range(100))], 2)
        class_samples = samples[label * PER_CLASS : (label + 1) * PER_CLASS]
        assert_gaussian_moments(class_samples, mean, np.diag(covariance), f"class {label}")


@pytest.mark.spec("COND-4")
def test_larger_guidance_moves_samples_away_from_the_other_class() -> None:
    distances = []
    for w in (1.0, 2.0, 4.0):
        samples = guided_samples(w, seed=5).numpy()
        other = CLASS_MEANS.numpy()[1 - np.arange(2).repeat(PER_CLASS)]
        distances.append(np.linalg.norm(samples - other, axis=1))
    for closer, farther in itertools.pairwise(distances):
        increase = farther - closer
        bound = STANDARD_ERRORS * increase.std(ddof=1) / np.sqrt(increase.shape[0])
        assert increase.mean() > bound, (increase.mean(), bound)


@pytest.mark.spec("COND-10")
def test_null_class_oracle_is_the_component_or_the_whole_mixture() -> None:
    oracle = mixture_oracle()
    x = torch.randn((3, 2), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    t = torch.tensor([3, 40, 99])
    labels = torch.tensor([1, 2, 0])
    mixed = oracle(x, t, labels)
    assert torch.equal(mixed[[0, 2]], oracle.mixture(x, t, torch.tensor([1, 1, 0]))[[0, 2]])
    assert torch.equal(mixed[1], oracle.mixture(x, t)[1])
    assert torch.equal(oracle(x, t), oracle.mixture(x, t))
    with pytest.raises(ValueError, match="class_labels"):
        oracle(x, t, torch.tensor([0, 3, 1]))


@pytest.mark.spec("COND-13")
def test_guided_model_rejects_bad_labels_scales_and_batches() -> None:
    oracle = mixture_oracle()
    with pytest.raises(ValueError, match="class_labels"):
        GuidedModel(oracle, torch.tensor([[0, 1]]), 1.0, 2)
    with pytest.raises(ValueError, match="class_labels"):
        GuidedModel(oracle, torch.tensor([0.0, 1.0]), 1.0, 2)
    with pytest.raises(ValueError, match="guidance_scale"):
        GuidedModel(oracle, torch.tensor([0, 1]), float("nan"), 2)
    with pytest.raises(ValueError, match="null_class"):
        GuidedModel(oracle, torch.tensor([0, 1]), 1.0, -1)
    guided = GuidedModel(oracle, torch.tensor([0, 1]), 1.0, 2)
    with pytest.raises(ValueError, match="x_t"):
        guided(torch.zeros((3, 2), dtype=torch.float64), torch.tensor([0, 0, 0]))
