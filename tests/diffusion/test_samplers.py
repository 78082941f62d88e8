"""Samplers (specs/samplers.md): the steps they take (SAMP-2), their draws and composition
(SAMP-3, SAMP-4, SAMP-9), and what they produce with exact oracles (SAMP-6, SAMP-7)."""

from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from specdiff import spec
from specdiff.diffusion import NoiseSchedule, sample_ddim, sample_ddpm
from specdiff.testing import (
    GaussianMixtureOracle,
    GaussianOracle,
    LinearSchedule,
    assert_close_to_spec,
    linear_schedules,
    twin_eps_models,
)

# Statistical laws accept k = 6 standard errors (specs/README.md).
STANDARD_ERRORS = 6.0
SPACINGS = ["leading", "trailing", "linspace"]
SHAPE = (2, 1, 2, 2)


class RecordingModel:
    """Predicts ε̂ = 0 and records every timestep tensor it is called with."""

    def __init__(self) -> None:
        self.calls: list[torch.Tensor] = []

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append(t.clone())
        return torch.zeros_like(x_t)

    def visited(self, batch: int) -> list[int]:
        for t in self.calls:
            assert t.dtype == torch.int64 and t.shape == (batch,)
            assert bool((t == t[0]).all())
        return [int(t[0]) for t in self.calls]


def draw(generator: torch.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return torch.randn(shape, generator=generator, dtype=torch.float64,
                       device=generator.device).cpu().numpy()


@pytest.mark.spec("SAMP-2")
@given(T=st.integers(1, 30), data=st.data(), spacing=st.sampled_from(SPACINGS))
def test_ddim_visits_the_spec_timesteps_once_each(T: int, data: st.DataObject,
                                                  spacing: str) -> None:
    steps = data.draw(st.integers(1, T))
    model = RecordingModel()
    sample_ddim(model, NoiseSchedule.linear(T, 1e-3, 0.2), SHAPE, steps=steps,
                spacing=spacing, generator=torch.Generator().manual_seed(0))  # type: ignore[arg-type]
    assert model.visited(SHAPE[0]) == list(spec.ddim_timesteps(T, steps, spacing))  # type: ignore[arg-type]


@pytest.mark.spec("SAMP-2")
@given(T=st.integers(1, 30))
def test_ddpm_visits_every_timestep_downwards(T: int) -> None:
    model = RecordingModel()
    sample_ddpm(model, NoiseSchedule.linear(T, 1e-3, 0.2), SHAPE,
                generator=torch.Generator().manual_seed(0))
    assert model.visited(SHAPE[0]) == list(range(T - 1, -1, -1))


@pytest.mark.spec("SAMP-2")
@pytest.mark.parametrize("steps", [0, 11, -1])
def test_steps_outside_zero_to_num_timesteps_are_rejected_by_name(steps: int) -> None:
    with pytest.raises(ValueError, match=r"steps must be in \(0, T\] = \(0, 10\]"):
        sample_ddim(RecordingModel(), NoiseSchedule.linear(10), SHAPE, steps=steps,
                    generator=torch.Generator())


@pytest.mark.spec("SAMP-3")
@given(schedule=linear_schedules(max_T=40, max_beta=0.3), data=st.data(),
       spacing=st.sampled_from(SPACINGS), eta=st.sampled_from([0.0, 0.3, 1.0]),
       clip=st.booleans(), seed=st.integers(0, 2**31))
def test_ddim_sampler_is_the_spec_steps_on_its_draws(
    schedule: LinearSchedule, data: st.DataObject, spacing: str, eta: float, clip: bool,
    seed: int, device: str
) -> None:
    steps = data.draw(st.integers(1, schedule.T))
    torch_model, numpy_model = twin_eps_models(schedule.T)
    actual = sample_ddim(torch_model, NoiseSchedule.linear(*schedule), SHAPE, steps=steps,
                         eta=eta, spacing=spacing, clip=clip, dtype=torch.float64,  # type: ignore[arg-type]
                         generator=torch.Generator(device).manual_seed(seed))
    bars = spec.alpha_bars_linear(*schedule)
    visited = spec.ddim_timesteps(schedule.T, steps, spacing)  # type: ignore[arg-type]
    generator = torch.Generator(device).manual_seed(seed)
    x = draw(generator, SHAPE)
    for i, t in enumerate(visited):
        landing = bars[visited[i + 1]] if i + 1 < len(visited) else 1.0
        noisy = spec.ddim_sigma(landing, bars[t], eta) > 0.0
        z = draw(generator, SHAPE) if noisy else None
        x = spec.ddim_step(landing, bars[t], x, numpy_model(x, t), eta, z, clip)
    assert actual.device.type == device
    assert_close_to_spec(actual, x, "network")


@pytest.mark.spec("SAMP-3")
@given(schedule=linear_schedules(max_T=40, max_beta=0.3), clip=st.booleans(),
       variance=st.sampled_from(["fixed_small", "fixed_large"]), seed=st.integers(0, 2**31))
def test_ddpm_sampler_is_the_spec_steps_on_its_draws(
    schedule: LinearSchedule, clip: bool, variance: str, seed: int, device: str
) -> None:
    torch_model, numpy_model = twin_eps_models(schedule.T)
    actual = sample_ddpm(torch_model, NoiseSchedule.linear(*schedule), SHAPE, clip=clip,
                         variance=variance, dtype=torch.float64,  # type: ignore[arg-type]
                         generator=torch.Generator(device).manual_seed(seed))
    bars = spec.alpha_bars_linear(*schedule)
    generator = torch.Generator(device).manual_seed(seed)
    x = draw(generator, SHAPE)
    for t in range(schedule.T - 1, -1, -1):
        z = draw(generator, SHAPE) if t > 0 else np.zeros(SHAPE)
        x = spec.ddpm_prev(bars, t, x, numpy_model(x, t), z, clip, variance)  # type: ignore[arg-type]
    assert_close_to_spec(actual, x, "network")


@pytest.mark.spec("SAMP-4")
@given(seed=st.integers(0, 2**31), steps=st.integers(1, 20))
def test_ddim_with_eta_zero_is_deterministic_given_the_initial_noise(seed: int, steps: int,
                                                       device: str) -> None:
    schedule = NoiseSchedule.linear(20, 1e-3, 0.2)
    torch_model, _ = twin_eps_models(20)
    x_T = torch.randn(SHAPE, generator=torch.Generator(device).manual_seed(seed), device=device)
    generator = torch.Generator(device).manual_seed(seed + 1)
    state = generator.get_state()
    first = sample_ddim(torch_model, schedule, SHAPE, steps=steps, eta=0.0, x_T=x_T,
                        generator=generator)
    assert torch.equal(generator.get_state(), state)  # no draw was made
    second = sample_ddim(torch_model, schedule, SHAPE, steps=steps, eta=0.0, x_T=x_T,
                         generator=torch.Generator(device).manual_seed(seed + 2))
    assert torch.equal(first, second)


@pytest.mark.spec("SAMP-9")
@pytest.mark.parametrize("sampler", ["ddpm", "ddim_eta_1"])
def test_a_seed_reproduces_a_sample_and_the_global_rng_is_untouched(sampler: str,
                                                                     device: str) -> None:
    schedule = NoiseSchedule.linear(20, 1e-3, 0.2)
    torch_model, _ = twin_eps_models(20)

    def run(seed: int) -> torch.Tensor:
        generator = torch.Generator(device).manual_seed(seed)
        if sampler == "ddpm":
            return sample_ddpm(torch_model, schedule, SHAPE, generator=generator)
        return sample_ddim(torch_model, schedule, SHAPE, steps=10, eta=1.0, generator=generator)

    global_state = torch.get_rng_state()
    first, again, other = run(7), run(7), run(8)
    assert torch.equal(torch.get_rng_state(), global_state)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


# --- exact oracles: the sampler's own law (SAMP-6) and the mixture's mode weights (SAMP-7) ---

DATA_MEAN = torch.tensor([0.3, -0.2], dtype=torch.float64)
DATA_STD = torch.tensor([0.5, 0.2], dtype=torch.float64)
NUM_SAMPLES = 20_000

AffineStep = Callable[[np.ndarray, np.ndarray], np.ndarray]


def exact_moments(steps: list[AffineStep], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of x_0 when x_T ~ N(0, 1) and each step is x ← A·x + B + S·z.

    A, B, S are read off the (affine) step at unit inputs; the recursion is exact in float64.
    """
    zeros, ones = np.zeros((1, size)), np.ones((1, size))
    mean, variance = np.zeros(size), np.ones(size)
    for step in steps:
        offset = step(zeros, zeros)[0]
        slope, noise_scale = step(ones, zeros)[0] - offset, step(zeros, ones)[0] - offset
        mean, variance = slope * mean + offset, slope**2 * variance + noise_scale**2
    return mean, variance


def oracle_eps(oracle: GaussianOracle, x: np.ndarray, t: int) -> np.ndarray:
    steps = torch.full((x.shape[0],), t, dtype=torch.int64)
    return oracle(torch.from_numpy(x), steps).numpy()


def ddpm_steps(oracle: GaussianOracle, bars: np.ndarray, variance: str) -> list[AffineStep]:
    def step_at(t: int) -> AffineStep:
        return lambda x, z: spec.ddpm_prev(bars, t, x, oracle_eps(oracle, x, t), z, False,
                                           variance)  # type: ignore[arg-type]
    return [step_at(t) for t in range(bars.shape[0] - 1, -1, -1)]


def ddim_steps(oracle: GaussianOracle, bars: np.ndarray, steps: int, eta: float
               ) -> list[AffineStep]:
    visited = spec.ddim_timesteps(bars.shape[0], steps, "leading")
    landings = [*bars[visited[1:]], 1.0]

    def step_at(t: int, landing: float) -> AffineStep:
        return lambda x, z: spec.ddim_step(landing, bars[t], x, oracle_eps(oracle, x, t), eta, z,
                                           False)
    return [step_at(int(t), landing) for t, landing in zip(visited, landings, strict=True)]


def assert_moments_match(samples: torch.Tensor, mean: np.ndarray, variance: np.ndarray) -> None:
    """k = 6 bounds on the sample mean and variance of each coordinate (specs/README.md)."""
    values = samples.to(torch.float64).cpu().numpy()
    n = values.shape[0]
    sample_mean, sample_variance = values.mean(axis=0), values.var(axis=0, ddof=1)
    gap = (f"sampler's exact law: mean {mean}, variance {variance}; data: mean "
           f"{DATA_MEAN.numpy()}, variance {DATA_STD.numpy() ** 2}")
    assert np.all(np.abs(sample_mean - mean) <= STANDARD_ERRORS * np.sqrt(variance / n)), (
        f"sample mean {sample_mean}; {gap}")
    bound = STANDARD_ERRORS * variance * np.sqrt(2.0 / (n - 1))
    assert np.all(np.abs(sample_variance - variance) <= bound), (
        f"sample variance {sample_variance}; {gap}")


@pytest.mark.spec("SAMP-6")
@pytest.mark.parametrize(("T", "variance"), [(1000, "fixed_small"), (100, "fixed_large")])
def test_ddpm_with_the_gaussian_oracle_has_its_exact_moments(T: int, variance: str) -> None:
    schedule = NoiseSchedule.linear(1000) if T == 1000 else NoiseSchedule.linear(T, 1e-3, 0.2)
    oracle = GaussianOracle(schedule, DATA_MEAN, DATA_STD)
    samples = sample_ddpm(oracle, schedule, (NUM_SAMPLES, 2), clip=False,
                          variance=variance,  # type: ignore[arg-type]
                          generator=torch.Generator().manual_seed(0))
    bars = schedule.alpha_bars.numpy()
    assert_moments_match(samples, *exact_moments(ddpm_steps(oracle, bars, variance), 2))


@pytest.mark.spec("SAMP-6")
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_with_the_gaussian_oracle_has_its_exact_moments(eta: float) -> None:
    schedule = NoiseSchedule.linear(100, 1e-3, 0.2)
    oracle = GaussianOracle(schedule, DATA_MEAN, DATA_STD)
    samples = sample_ddim(oracle, schedule, (NUM_SAMPLES, 2), steps=20, eta=eta, clip=False,
                          generator=torch.Generator().manual_seed(1))
    bars = schedule.alpha_bars.numpy()
    assert_moments_match(samples, *exact_moments(ddim_steps(oracle, bars, 20, eta), 2))


MODE_MEANS = torch.tensor([-0.5, 0.5])
MODE_WEIGHTS = torch.tensor([0.3, 0.7], dtype=torch.float64)
MODE_STD = 0.05  # |μ_1 − μ_0| = 1 ≥ 10·σ: the modes are well separated (SAMP-7's domain)


def mixture_oracle() -> GaussianMixtureOracle:
    schedule = NoiseSchedule.linear(100, 1e-3, 0.2)
    return GaussianMixtureOracle(schedule, MODE_MEANS, torch.full((2,), MODE_STD), MODE_WEIGHTS)


@pytest.mark.spec("SAMP-7")
@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_samplers_keep_the_mode_weights_of_a_mixture(sampler: str) -> None:
    oracle, n = mixture_oracle(), 10_000
    generator = torch.Generator().manual_seed(2)
    if sampler == "ddpm":
        samples = sample_ddpm(oracle, oracle.schedule, (n, 1), generator=generator)
    else:
        samples = sample_ddim(oracle, oracle.schedule, (n, 1), steps=50, generator=generator)
    # The nearest mean of a sample in 1-D with means ±0.5 is given by its sign.
    upper_fraction = float((samples > 0).double().mean())
    weight = float(MODE_WEIGHTS[1])
    bound = STANDARD_ERRORS * np.sqrt(weight * (1 - weight) / n)
    assert abs(upper_fraction - weight) <= bound, (upper_fraction, weight, bound)


@pytest.mark.spec("SAMP-7")
@pytest.mark.parametrize("label", [0, 1])
def test_class_labels_restrict_sampling_to_one_mode(label: int) -> None:
    oracle, n = mixture_oracle(), 1_000
    labels = torch.full((n,), label, dtype=torch.int64)
    samples = sample_ddim(lambda x, t: oracle(x, t, labels), oracle.schedule, (n, 1), steps=50,
                          generator=torch.Generator().manual_seed(3))
    nearest = (samples > 0).long().flatten()
    assert torch.equal(nearest, labels)
