"""Samplers with prediction types and the multistep solvers: composition of spec steps (SOLV-6),
exact Gaussian-oracle moments (SOLV-7), DPM-Solver++'s order (SOLV-8), zero terminal SNR (PARAM-4)
and the Diffusion API's prediction type (PARAM-3)."""


import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from specdiff import spec
from specdiff.diffusion import Diffusion, NoiseSchedule, sample_ddim, sample_ddpm
from specdiff.diffusion.multistep import sample_dpm_solver_pp, sample_pndm
from specdiff.spec import chains
from specdiff.spec.timesteps import karras_timesteps
from specdiff.testing import (
    LinearSchedule,
    assert_close_to_spec,
    linear_schedules,
    twin_eps_models,
)
from specdiff.testing.exact_law import (
    GaussianPredictor,
    ddim_reference,
    dpm_solver_pp_reference,
    exact_moments,
    pndm_reference,
)

STANDARD_ERRORS = 6.0
TYPES = ["epsilon", "sample", "v_prediction"]
SPACINGS = ["leading", "trailing", "linspace"]
SHAPE = (2, 3)


def draws(generator: torch.Generator):  # type: ignore[no-untyped-def]
    while True:
        yield torch.randn(SHAPE, generator=generator, dtype=torch.float64,
                          device=generator.device).cpu().numpy()


@pytest.mark.spec("SOLV-6")
@given(schedule=linear_schedules(max_T=40, max_beta=0.3), data=st.data(),
       spacing=st.sampled_from(SPACINGS), prediction_type=st.sampled_from(TYPES),
       sampler=st.sampled_from(["pndm", "dpm_solver_pp", "ddim", "ddpm"]),
       seed=st.integers(0, 2**31))
def test_samplers_are_their_spec_chains_on_their_draws(
    schedule: LinearSchedule, data: st.DataObject, spacing: str, prediction_type: str,
    sampler: str, seed: int, device: str
) -> None:
    T = schedule.T
    steps = data.draw(st.integers(1, T))
    torch_model, numpy_model = twin_eps_models(T, amplitude=0.5)
    noise = NoiseSchedule.linear(*schedule)
    bars = spec.alpha_bars_linear(*schedule)
    visited = list(spec.ddim_timesteps(T, steps, spacing))  # type: ignore[arg-type]
    kwargs = {"generator": torch.Generator(device).manual_seed(seed), "dtype": torch.float64,
              "prediction_type": prediction_type}
    generator = torch.Generator(device).manual_seed(seed)
    noises = draws(generator)
    x_T = next(noises)
    if sampler == "pndm":
        actual = sample_pndm(torch_model, noise, SHAPE, steps=steps, spacing=spacing, **kwargs)  # type: ignore[arg-type]
        expected = chains.pndm_chain(bars, visited, numpy_model, x_T,
                                     prediction_type=prediction_type)  # type: ignore[arg-type]
    elif sampler == "dpm_solver_pp":
        actual = sample_dpm_solver_pp(torch_model, noise, SHAPE, steps=steps, spacing=spacing,  # type: ignore[arg-type]
                                      **kwargs)
        expected = chains.dpm_solver_pp_chain(bars, visited, numpy_model, x_T,
                                              prediction_type=prediction_type)  # type: ignore[arg-type]
    elif sampler == "ddim":
        actual = sample_ddim(torch_model, noise, SHAPE, steps=steps, spacing=spacing, eta=0.5,  # type: ignore[arg-type]
                             clip=True, **kwargs)
        expected = chains.ddim_chain(bars, visited, numpy_model, x_T, noises, eta=0.5, clip=True,
                                     prediction_type=prediction_type)  # type: ignore[arg-type]
    else:
        actual = sample_ddpm(torch_model, noise, SHAPE, clip=True, **kwargs)  # type: ignore[arg-type]
        expected = chains.ddpm_chain(bars, numpy_model, x_T, noises, clip=True,
                                     variance="fixed_small", prediction_type=prediction_type)  # type: ignore[arg-type]
    assert actual.device.type == device
    # x0- and v-outputs pass through the FWD-4 divisions by √ᾱ and √(1 − ᾱ).
    amplification = 1.0 / np.sqrt(bars[-1]) + 1.0 / np.sqrt(1.0 - bars[0])
    assert_close_to_spec(actual, expected, "network", scale=amplification * max(
        1.0, float(np.abs(expected).max())))


@pytest.mark.spec("SOLV-6")
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_pndm_calls_the_model_once_more_than_its_steps(steps: int) -> None:
    calls: list[int] = []

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        calls.append(int(t[0]))
        return torch.zeros_like(x)

    sample_pndm(model, NoiseSchedule.linear(20), SHAPE, steps=steps,
                generator=torch.Generator().manual_seed(0))
    visited = [int(t) for t in spec.ddim_timesteps(20, steps, "leading")]
    assert calls == (visited if steps == 1 else [visited[0], visited[1], *visited[1:]])


# --- SOLV-7: the exact law of each sampler with the Gaussian oracle ---

DATA_MEAN, DATA_STD = np.array([0.3, -0.2]), np.array([0.5, 0.2])
NUM_SAMPLES = 4000
SCHEDULE = NoiseSchedule.linear(1000)


def assert_moments(samples: torch.Tensor, mean: np.ndarray, variance: np.ndarray) -> None:
    values = samples.to(torch.float64).cpu().numpy()
    n = values.shape[0]
    sample_mean, sample_variance = values.mean(axis=0), values.var(axis=0, ddof=1)
    law = f"exact law: mean {mean}, variance {variance}"
    assert np.all(np.abs(sample_mean - mean) <= STANDARD_ERRORS * np.sqrt(variance / n)), (
        f"sample mean {sample_mean}; {law}")
    assert np.all(np.abs(sample_variance - variance)
                  <= STANDARD_ERRORS * variance * np.sqrt(2.0 / (n - 1))), (
        f"sample variance {sample_variance}; {law}")


@pytest.mark.spec("SOLV-7")
@pytest.mark.parametrize("steps", [5, 10, 20, 50])
@pytest.mark.parametrize("sampler", ["ddim_eta_0", "ddim_eta_1", "pndm", "dpm_solver_pp"])
def test_samplers_with_the_gaussian_oracle_have_their_exact_moments(sampler: str,
                                                                    steps: int) -> None:
    bars = SCHEDULE.alpha_bars.numpy()
    spacing = "trailing" if sampler == "dpm_solver_pp" else "leading"
    visited = list(spec.ddim_timesteps(1000, steps, spacing))
    oracle = GaussianPredictor(SCHEDULE, DATA_MEAN, DATA_STD, "epsilon")
    generator = torch.Generator().manual_seed(steps)
    shape = (NUM_SAMPLES, 2)
    if sampler.startswith("ddim"):
        eta = float(sampler[-1])
        samples = sample_ddim(oracle, SCHEDULE, shape, steps=steps, eta=eta, clip=False,
                              generator=generator)
        chain = ddim_reference(bars, visited, eta=eta, prediction_type="epsilon")
    elif sampler == "pndm":
        samples = sample_pndm(oracle, SCHEDULE, shape, steps=steps, generator=generator)
        chain = pndm_reference(bars, visited, prediction_type="epsilon")
    else:
        samples = sample_dpm_solver_pp(oracle, SCHEDULE, shape, steps=steps, generator=generator)
        chain = dpm_solver_pp_reference(bars, visited, prediction_type="epsilon")
    assert_moments(samples, *exact_moments(chain, bars, DATA_MEAN, DATA_STD, "epsilon", steps))


@pytest.mark.spec("SOLV-7", "PARAM-4")
@pytest.mark.parametrize("sampler", ["ddim_eta_1", "dpm_solver_pp"])
@pytest.mark.parametrize("prediction_type", ["v_prediction", "sample"])
def test_zero_terminal_snr_samplers_have_their_exact_moments(sampler: str,
                                                             prediction_type: str) -> None:
    schedule = NoiseSchedule.rescaled_to_zero_terminal_snr(SCHEDULE.betas)
    bars = schedule.alpha_bars.numpy()
    visited = list(spec.ddim_timesteps(1000, 10, "trailing"))
    model = GaussianPredictor(schedule, DATA_MEAN, DATA_STD, prediction_type)  # type: ignore[arg-type]
    generator = torch.Generator().manual_seed(1)
    if sampler == "dpm_solver_pp":
        samples = sample_dpm_solver_pp(model, schedule, (NUM_SAMPLES, 2), steps=10,
                                       generator=generator, prediction_type=prediction_type)  # type: ignore[arg-type]
        chain = dpm_solver_pp_reference(bars, visited, prediction_type=prediction_type)  # type: ignore[arg-type]
    else:
        samples = sample_ddim(model, schedule, (NUM_SAMPLES, 2), steps=10, eta=1.0, clip=False,
                              spacing="trailing", generator=generator,
                              prediction_type=prediction_type)  # type: ignore[arg-type]
        chain = ddim_reference(bars, visited, eta=1.0, prediction_type=prediction_type)  # type: ignore[arg-type]
    mean, variance = exact_moments(chain, bars, DATA_MEAN, DATA_STD, prediction_type, 10)  # type: ignore[arg-type]
    # Starting exactly at ᾱ = 0, the sampler's x_T ~ N(0, 1) is the true marginal: no start gap.
    assert np.allclose(mean, DATA_MEAN, atol=1e-12)
    assert_moments(samples, mean, variance)


@pytest.mark.spec("PARAM-4")
def test_zero_terminal_snr_refuses_eps_prediction_and_samplers_that_cannot_start_there() -> None:
    schedule = NoiseSchedule.rescaled_to_zero_terminal_snr(NoiseSchedule.linear(20).betas)
    model = GaussianPredictor(schedule, DATA_MEAN, DATA_STD, "v_prediction")
    generator = torch.Generator()
    with pytest.raises(ValueError, match="prediction_type must be 'v_prediction' or 'sample'"):
        sample_ddim(model, schedule, (4, 2), steps=5, spacing="trailing", generator=generator)
    with pytest.raises(ValueError, match="spacing must be 'trailing'"):
        sample_ddim(model, schedule, (4, 2), steps=5, generator=generator,
                    prediction_type="v_prediction")
    for sampler in (sample_ddpm, sample_pndm):
        with pytest.raises(ValueError, match="zero terminal SNR"):
            sampler(model, schedule, (4, 2), generator=generator,  # type: ignore[operator]
                    prediction_type="v_prediction")
    with pytest.raises(ValueError, match="prediction_type must be"):
        Diffusion(nn.Identity(), schedule)


# --- SOLV-8: DPM-Solver++(2M) converges at second order ---

def uniform_log_snr_schedule(T: int) -> NoiseSchedule:
    """ᾱ_t with λ = ½·log(ᾱ/(1 − ᾱ)) linear in t, from ᾱ_0 = 0.99 to ᾱ_{T−1} = 4·10⁻⁵."""
    lam = np.linspace(0.5 * np.log(0.99 / 0.01), 0.5 * np.log(4e-5 / (1 - 4e-5)), T)
    bars = 1.0 / (1.0 + np.exp(-2.0 * lam))
    return NoiseSchedule.from_betas(1.0 - bars / np.concatenate([[1.0], bars[:-1]]))


@pytest.mark.spec("SOLV-8")
def test_dpm_solver_pp_error_shrinks_at_second_order() -> None:
    mean, std = 0.3, 0.5
    schedule = uniform_log_snr_schedule(1281)  # 1280 = 160·8: every grid below is exact
    bars = schedule.alpha_bars.numpy()
    # The exact flow keeps the quantile: x(ᾱ) = √ᾱ·μ + s(ᾱ)·(x_T − √ᾱ_T·μ)/s(ᾱ_T), s² = ᾱσ² + 1 − ᾱ;
    # the last step (to ᾱ = 1) is x̂0 = μ + √ᾱ·σ²/s²·(x − √ᾱ·μ) at t = 0.
    def s(alpha_bar: float) -> float:
        return float(np.sqrt(alpha_bar * std**2 + 1.0 - alpha_bar))

    x_T = np.array([0.0, 1.0])
    flow = np.sqrt(bars[0]) * mean + s(bars[0]) / s(bars[-1]) * (x_T - np.sqrt(bars[-1]) * mean)
    exact = mean + np.sqrt(bars[0]) * std**2 / s(bars[0]) ** 2 * (flow - np.sqrt(bars[0]) * mean)
    oracle = GaussianPredictor(schedule, np.array([mean]), np.array([std]), "epsilon")
    counts, errors = [20, 40, 80, 160], []
    for steps in counts:
        x = sample_dpm_solver_pp(oracle, schedule, (2, 1), steps=steps, spacing="linspace",
                                 x_T=torch.from_numpy(x_T).reshape(2, 1),
                                 generator=torch.Generator())
        errors.append(float(np.abs(x[:, 0].numpy() - exact).max()))
    slope = -np.polyfit(np.log(counts), np.log(errors), 1)[0]
    assert min(errors) > 1e-9, f"errors {errors} are near float64 rounding"
    assert slope >= 1.5, f"log-log slope {slope:.2f} of errors {errors} at steps {counts}"


# --- PARAM-3: the Diffusion API trains and samples every prediction type ---

class PassThrough(nn.Module):
    """Outputs x_t itself, whatever t: a model whose loss is easy to write down."""

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x_t

@pytest.mark.spec("PARAM-3")
@pytest.mark.parametrize("prediction_type", TYPES)
def test_loss_targets_the_prediction_type(prediction_type: str) -> None:
    schedule = NoiseSchedule.linear(20, 1e-3, 0.2)
    diffusion = Diffusion(PassThrough(), schedule, prediction_type)  # type: ignore[arg-type]
    x0 = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(3, 4)
    eps = torch.linspace(2, -1, 12, dtype=torch.float64).reshape(3, 4)
    t = torch.tensor([0, 7, 19])
    bars = schedule.alpha_bars.numpy()[t.numpy()]
    x_t, _ = spec.noised_sample_from_eps(schedule.alpha_bars.numpy(), x0.numpy(), eps.numpy(),
                                         t.numpy())
    target = spec.parameterization.prediction_target(bars, x0.numpy(), eps.numpy(),
                                                     prediction_type)  # type: ignore[arg-type]
    expected = np.mean((x_t - target) ** 2)  # the identity model predicts x_t
    assert_close_to_spec(diffusion.compute_loss(x0, t=t, eps=eps), expected, "reduction")


@pytest.mark.spec("PARAM-3")
@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "pndm", "dpm_solver_pp"])
def test_generate_runs_every_sampler_with_the_models_prediction_type(sampler: str) -> None:
    schedule = NoiseSchedule.linear(20, 1e-3, 0.2)
    diffusion = Diffusion(GaussianPredictor(schedule, DATA_MEAN, DATA_STD, "v_prediction"),
                          schedule, "v_prediction")
    steps = None if sampler == "ddpm" else 5
    first = diffusion.generate((3, 2), steps=steps, sampler=sampler, seed=3, clip=False)  # type: ignore[arg-type]
    again = diffusion.generate((3, 2), steps=steps, sampler=sampler, seed=3, clip=False)  # type: ignore[arg-type]
    assert first.shape == (3, 2) and torch.equal(first, again)


@pytest.mark.spec("SOLV-6", "TS-5")
def test_dpm_solver_pp_with_karras_sigmas_visits_the_karras_timesteps() -> None:
    calls: list[int] = []

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        calls.append(int(t[0]))
        return torch.zeros_like(x)

    sample_dpm_solver_pp(model, SCHEDULE, SHAPE, steps=10, use_karras_sigmas=True,
                         generator=torch.Generator().manual_seed(0))
    assert calls == list(karras_timesteps(SCHEDULE.alpha_bars.numpy(), 10))
