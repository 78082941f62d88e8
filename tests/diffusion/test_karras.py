"""The σ-view samplers: torch steps equal the spec (SIGMA-1, SIGMA-2, KSAMP-1 … 4, 6), samplers
are their spec chains (KSAMP-7), zero-noise twins (KSAMP-8), exact Gaussian laws (KSAMP-9),
convergence order (KSAMP-10) and argument validation (KSAMP-11)."""

import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from specdiff import spec, typecheck
from specdiff.diffusion import NoiseSchedule, sample_ddim, sample_dpm_solver_pp
from specdiff.diffusion import dpmpp as torch_dpmpp
from specdiff.diffusion import karras as torch_karras
from specdiff.diffusion import sigma as torch_sigma
from specdiff.diffusion import unipc as torch_unipc
from specdiff.diffusion.dpmpp import (
    sample_dpmpp_2m,
    sample_dpmpp_2m_sde,
    sample_dpmpp_2s_ancestral,
    sample_dpmpp_sde,
)
from specdiff.diffusion.karras import (
    sample_edm,
    sample_euler,
    sample_euler_ancestral,
    sample_heun,
    sample_lms,
)
from specdiff.diffusion.unipc import sample_unipc
from specdiff.spec import dpmpp, karras, sigma, unipc
from specdiff.spec.sigma import sigma_grid_timesteps
from specdiff.testing import (
    LinearSchedule,
    assert_close_to_spec,
    linear_schedules,
    twin_eps_models,
)
from specdiff.testing.affine_law import assert_gaussian_moments
from specdiff.testing.exact_law import GaussianPredictor, exact_moments

TYPES = ["epsilon", "sample", "v_prediction"]
GRIDS = ["karras", "exponential", "polyexponential", "leading", "trailing", "linspace"]
SHAPE = (2, 3)


def as_torch(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(dtype)


@st.composite
def step_case(draw: st.DrawFn) -> tuple[float, float, float, list[np.ndarray]]:
    """(σ', σ, σ_last) with 0 < σ' < σ < σ_last, and four arrays of one shape."""
    levels = draw(st.lists(st.floats(1e-2, 200.0), min_size=3, max_size=3, unique=True)
                  .map(sorted).filter(lambda v: v[1] > 1.01 * v[0] and v[2] > 1.01 * v[1]))
    arrays = [draw(st.lists(st.floats(-5.0, 5.0), min_size=6, max_size=6)
                   .map(lambda v: np.array(v).reshape(SHAPE))) for _ in range(4)]
    return levels[0], levels[1], levels[2], arrays


@pytest.mark.spec("SIGMA-1", "SIGMA-2")
@given(alpha_bar=st.floats(1e-4, 0.9999), prediction_type=st.sampled_from(TYPES),
       case=step_case())
def test_torch_change_of_variables_and_denoiser_equal_the_spec(
    alpha_bar: float, prediction_type: str, case: Any, dtype: torch.dtype
) -> None:
    x, output = case[3][0], case[3][1]
    scale = 1.0 + (np.abs(x) + np.abs(output)) / np.sqrt(alpha_bar)
    assert_close_to_spec(torch_sigma.ve_from_vp(alpha_bar, as_torch(x, dtype)),
                         sigma.ve_from_vp(alpha_bar, x), "elementwise", scale=scale)
    assert_close_to_spec(torch_sigma.vp_from_ve(alpha_bar, as_torch(x, dtype)),
                         sigma.vp_from_ve(alpha_bar, x), "elementwise", scale=scale)
    assert_close_to_spec(
        torch_sigma.denoised(alpha_bar, as_torch(x, dtype), as_torch(output, dtype),
                             prediction_type),  # type: ignore[arg-type]
        sigma.denoised(alpha_bar, x, output, prediction_type), "elementwise",  # type: ignore[arg-type]
        scale=scale * (1.0 + np.sqrt((1 - alpha_bar) / alpha_bar)))


@pytest.mark.spec("KSAMP-1", "KSAMP-2", "KSAMP-3", "KSAMP-4", "KSAMP-6", "KSAMP-12",
                  "KSAMP-13", "KSAMP-14", "KSAMP-15", "KSAMP-16")
@given(case=step_case(), eta=st.floats(0.0, 1.0), to_zero=st.booleans())
def test_torch_steps_equal_the_spec_steps(case: Any, eta: float, to_zero: bool,
                                          dtype: torch.dtype) -> None:
    level_next, level, level_last, (x, d, d_other, z) = case
    landing = 0.0 if to_zero else level_next
    t = [as_torch(a, dtype) for a in (x, d, d_other, z)]
    scale = 1.0 + (1.0 + level / level_next) * (np.abs(x) + np.abs(d) + np.abs(d_other)) + (
        level_last * np.abs(z))
    pairs = [
        (torch_karras.euler_step(level, landing, t[0], t[1]),
         karras.euler_step(level, landing, x, d)),
        (torch_karras.heun_step(level, level_next, t[0], t[1], t[2]),
         karras.heun_step(level, level_next, x, d, d_other)),
        (torch_karras.euler_ancestral_step(level, landing, t[0], t[1], eta, t[3]),
         karras.euler_ancestral_step(level, landing, x, d, eta, z)),
        (torch_karras.edm_churn(level, level_last, t[0], 1.0, t[3]),
         karras.edm_churn(level, level_last, x, 1.0, z)),
        (torch_dpmpp.dpmpp_2m_step(level, landing, t[0], t[1], None),
         dpmpp.dpmpp_2m_step(level, landing, x, d, None)),
        (torch_dpmpp.dpmpp_2m_step(level, level_next, t[0], t[1], (level_last, t[2])),
         dpmpp.dpmpp_2m_step(level, level_next, x, d, (level_last, d_other))),
        (torch_dpmpp.dpmpp_2m_sde_step(level, landing, t[0], t[1], None, eta, t[3]),
         dpmpp.dpmpp_2m_sde_step(level, landing, x, d, None, eta, z)),
        (torch_dpmpp.dpmpp_2m_sde_step(level, level_next, t[0], t[1], (level_last, t[2]), eta,
                                       t[3]),
         dpmpp.dpmpp_2m_sde_step(level, level_next, x, d, (level_last, d_other), eta, z)),
        (torch_dpmpp.dpmpp_2s_ancestral_step(level, level_next, t[0], t[1],
                                             (np.sqrt(level * level_next), t[2]), eta, t[3]),
         dpmpp.dpmpp_2s_ancestral_step(level, level_next, x, d,
                                       (np.sqrt(level * level_next), d_other), eta, z)),
        (torch_dpmpp.dpmpp_2s_ancestral_step(level, landing, t[0], t[1], None, eta, t[3]),
         dpmpp.dpmpp_2s_ancestral_step(level, landing, x, d, None, eta, z)),
        (torch_unipc.unipc_corrector_step(level, level_next, t[0], t[1], t[2], (level_last, t[3])),
         unipc.unipc_corrector_step(level, level_next, x, d, d_other, (level_last, z))),
        (torch_dpmpp.dpmpp_sde_step(level, level_next, t[0], t[1],
                                    (np.sqrt(level * level_next), t[2]), eta, t[3]),
         dpmpp.dpmpp_sde_step(level, level_next, x, d, (np.sqrt(level * level_next), d_other),
                              eta, z)),
        (torch_dpmpp.dpmpp_sde_noises(level, np.sqrt(level * level_next), landing, t[0], t[3])[1],
         dpmpp.dpmpp_sde_noises(level, np.sqrt(level * level_next), landing, x, z)[1]),
        (torch_unipc.unipc_corrector_step(level, level_next, t[0], t[1], t[2], None),
         unipc.unipc_corrector_step(level, level_next, x, d, d_other, None)),
        (torch_karras.lms_step(landing, t[0], [(level_last, t[2]), (level, t[1])]),
         karras.lms_step(landing, x, [(level_last, d_other), (level, d)])),
    ]
    ratio = np.log(level / level_next) / np.log(level_last / level)
    for actual, expected in pairs:
        assert_close_to_spec(actual, expected, "elementwise", scale=scale * (1.0 + ratio))


def draws(generator: torch.Generator) -> Iterator[np.ndarray]:
    while True:
        yield torch.randn(SHAPE, generator=generator, dtype=torch.float64).numpy()


SAMPLERS = ["euler", "heun", "euler_ancestral", "edm", "lms", "dpmpp_2m", "dpmpp_2m_sde",
            "dpmpp_2s_ancestral", "dpmpp_sde", "unipc"]


def run_pair(sampler: str, bars: np.ndarray, schedule: NoiseSchedule, steps: int, grid: str,
             prediction_type: str, seed: int, T: int) -> tuple[torch.Tensor, np.ndarray]:
    torch_model, numpy_model = twin_eps_models(T, amplitude=0.5)
    visited = [int(t) for t in sigma_grid_timesteps(bars, steps, grid)]  # type: ignore[arg-type]
    noises = draws(torch.Generator().manual_seed(seed))
    x_T = next(noises)
    kwargs: dict[str, Any] = {"steps": steps, "grid": grid, "dtype": torch.float64,
                              "generator": torch.Generator().manual_seed(seed),
                              "prediction_type": prediction_type}
    common = (bars, visited, numpy_model, x_T)
    if sampler == "euler":
        return (sample_euler(torch_model, schedule, SHAPE, **kwargs),
                karras.euler_chain(*common, prediction_type=prediction_type))  # type: ignore[arg-type]
    if sampler == "heun":
        return (sample_heun(torch_model, schedule, SHAPE, **kwargs),
                karras.heun_chain(*common, prediction_type=prediction_type))  # type: ignore[arg-type]
    if sampler == "euler_ancestral":
        return (sample_euler_ancestral(torch_model, schedule, SHAPE, eta=0.7, **kwargs),
                karras.euler_ancestral_chain(*common, noises, eta=0.7,
                                             prediction_type=prediction_type))  # type: ignore[arg-type]
    if sampler == "edm":
        churn = {"s_churn": 5.0, "s_tmin": 0.05, "s_tmax": 50.0, "s_noise": 1.003}
        return (sample_edm(torch_model, schedule, SHAPE, **churn, **kwargs),
                karras.edm_chain(*common, noises, **churn, prediction_type=prediction_type))  # type: ignore[arg-type]
    if sampler == "lms":
        return (sample_lms(torch_model, schedule, SHAPE, order=3, **kwargs),
                karras.lms_chain(*common, order=3, prediction_type=prediction_type))  # type: ignore[arg-type]
    if sampler == "dpmpp_sde":
        return (sample_dpmpp_sde(torch_model, schedule, SHAPE, eta=0.9, **kwargs),
                dpmpp.dpmpp_sde_chain(*common, noises, eta=0.9,
                                      prediction_type=prediction_type))  # type: ignore[arg-type]
    if sampler == "unipc":
        return (sample_unipc(torch_model, schedule, SHAPE, **kwargs),
                unipc.unipc_chain(*common, prediction_type=prediction_type))  # type: ignore[arg-type]
    if sampler == "dpmpp_2s_ancestral":
        return (sample_dpmpp_2s_ancestral(torch_model, schedule, SHAPE, eta=0.6, **kwargs),
                dpmpp.dpmpp_2s_ancestral_chain(*common, noises, eta=0.6,
                                               prediction_type=prediction_type))  # type: ignore[arg-type]
    if sampler == "dpmpp_2m_sde":
        return (sample_dpmpp_2m_sde(torch_model, schedule, SHAPE, eta=0.8, **kwargs),
                dpmpp.dpmpp_2m_sde_chain(*common, noises, eta=0.8,
                                         prediction_type=prediction_type))  # type: ignore[arg-type]
    return (sample_dpmpp_2m(torch_model, schedule, SHAPE, **kwargs),
            dpmpp.dpmpp_2m_chain(*common, prediction_type=prediction_type))  # type: ignore[arg-type]


@pytest.mark.spec("KSAMP-7")
@given(schedule=linear_schedules(max_T=40, max_beta=0.3), data=st.data(),
       grid=st.sampled_from(GRIDS), prediction_type=st.sampled_from(TYPES),
       sampler=st.sampled_from(SAMPLERS), seed=st.integers(0, 2**31))
def test_sigma_samplers_are_their_spec_chains_on_their_draws(
    schedule: LinearSchedule, data: st.DataObject, grid: str, prediction_type: str,
    sampler: str, seed: int
) -> None:
    bars = spec.alpha_bars_linear(*schedule)
    if not np.all(np.diff(bars) < 0.0):
        return
    steps = data.draw(st.integers(1, schedule.T))
    actual, expected = run_pair(sampler, bars, NoiseSchedule.linear(*schedule), steps, grid,
                                prediction_type, seed, schedule.T)
    sigma_max = float(np.sqrt((1.0 - bars[-1]) / bars[-1]))
    amplification = 1.0 / np.sqrt(bars[-1]) + 1.0 / np.sqrt(1.0 - bars[0])
    assert_close_to_spec(actual, expected, "network", scale=amplification * np.sqrt(
        1.0 + sigma_max**2) * max(1.0, float(np.abs(expected).max())))


@pytest.mark.spec("KSAMP-7")
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_each_sigma_sampler_is_its_chain_with_every_kind_of_step(sampler: str) -> None:
    # 6 Karras levels on T = 40: every step has a table level between its ends (so 2S and SDE
    # take their two-stage steps and draw twice), and every stochastic step draws.
    bars = spec.alpha_bars_linear(40, 1e-4, 0.2)
    actual, expected = run_pair(sampler, bars, NoiseSchedule.linear(40, 1e-4, 0.2), 6, "karras",
                                "epsilon", 5, 40)
    sigma_max = float(np.sqrt((1.0 - bars[-1]) / bars[-1]))
    assert_close_to_spec(actual, expected, "network", scale=np.sqrt(1.0 + sigma_max**2) * max(
        1.0, float(np.abs(expected).max())) / np.sqrt(bars[-1]))


@pytest.mark.spec("KSAMP-7")
@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_on_spacing_grids_euler_is_ddim_and_dpmpp_2m_is_dpm_solver_pp(spacing: str) -> None:
    schedule = NoiseSchedule.linear(200)
    oracle = GaussianPredictor(schedule, np.array([0.3, -0.2]), np.array([0.5, 0.2]), "epsilon")
    x_T = torch.linspace(-2.0, 2.0, 8, dtype=torch.float64).reshape(4, 2)
    common: dict[str, Any] = {"steps": 12, "x_T": x_T, "generator": torch.Generator()}
    pairs = [
        (sample_euler(oracle, schedule, (4, 2), grid=spacing, **common),  # type: ignore[arg-type]
         sample_ddim(oracle, schedule, (4, 2), eta=0.0, clip=False, spacing=spacing, **common)),  # type: ignore[arg-type]
        (sample_dpmpp_2m(oracle, schedule, (4, 2), grid=spacing, **common),  # type: ignore[arg-type]
         sample_dpm_solver_pp(oracle, schedule, (4, 2), spacing=spacing, **common)),  # type: ignore[arg-type]
        (sample_euler_ancestral(oracle, schedule, (4, 2), eta=0.6, grid=spacing, steps=12,  # type: ignore[arg-type]
                                x_T=x_T, generator=torch.Generator().manual_seed(3)),
         sample_ddim(oracle, schedule, (4, 2), eta=0.6, clip=False, spacing=spacing, steps=12,  # type: ignore[arg-type]
                     x_T=x_T, generator=torch.Generator().manual_seed(3))),
    ]
    bars = schedule.alpha_bars.numpy()
    amplification = np.sqrt(1.0 / bars[-1]) * 3.0
    for actual, expected in pairs:
        assert_close_to_spec(actual, expected.numpy(), "network", scale=amplification)


@pytest.mark.spec("KSAMP-8")
@pytest.mark.parametrize("grid", ["karras", "trailing"])
def test_zero_noise_stochastic_samplers_are_their_deterministic_twins_bit_for_bit(
    grid: str, dtype: torch.dtype
) -> None:
    schedule = NoiseSchedule.linear(100)
    torch_model, _ = twin_eps_models(100, amplitude=0.5)
    def run(sampler: Callable[..., torch.Tensor], **kwargs: Any) -> tuple[torch.Tensor, Any]:
        generator = torch.Generator().manual_seed(7)
        x = sampler(torch_model, schedule, SHAPE, steps=8, grid=grid, generator=generator,
                    dtype=dtype, **kwargs)
        return x, generator.get_state()

    euler, euler_state = run(sample_euler)
    ancestral, ancestral_state = run(sample_euler_ancestral, eta=0.0)
    assert torch.equal(euler, ancestral) and torch.equal(euler_state, ancestral_state)
    two_m, two_m_state = run(sample_dpmpp_2m)
    sde, sde_state = run(sample_dpmpp_2m_sde, eta=0.0)
    assert torch.equal(two_m, sde) and torch.equal(two_m_state, sde_state)
    heun, heun_state = run(sample_heun)
    for churn in ({"s_churn": 0.0}, {"s_churn": 40.0, "s_tmin": 1e4}):
        edm, edm_state = run(sample_edm, **churn)
        assert torch.equal(heun, edm) and torch.equal(heun_state, edm_state), churn


DATA_MEAN, DATA_STD = np.array([0.3, -0.2]), np.array([0.5, 0.2])
EXACT_CASES = [("euler", "karras"), ("heun", "karras"), ("euler_ancestral", "karras"),
               ("edm", "karras"), ("dpmpp_2m", "karras"), ("dpmpp_2m_sde", "karras"),
               ("euler_ancestral", "exponential"),
               ("edm", "exponential")]


@pytest.mark.spec("KSAMP-9")
@pytest.mark.parametrize(("sampler", "grid"), EXACT_CASES)
def test_sigma_samplers_with_the_gaussian_oracle_have_their_exact_moments(sampler: str,
                                                                          grid: str) -> None:
    schedule = NoiseSchedule.linear(1000)
    bars = schedule.alpha_bars.numpy()
    oracle = GaussianPredictor(schedule, DATA_MEAN, DATA_STD, "epsilon")
    visited = [int(t) for t in sigma_grid_timesteps(bars, 10, grid)]  # type: ignore[arg-type]
    generator = torch.Generator().manual_seed(11)
    kwargs: dict[str, Any] = {"steps": 10, "grid": grid, "generator": generator}
    churn = {"s_churn": 10.0, "s_tmin": 0.0, "s_tmax": float("inf"), "s_noise": 1.0}
    shape = (4000, 2)
    chains: dict[str, Any] = {
        "euler": (lambda: sample_euler(oracle, schedule, shape, **kwargs),
                  lambda m, x, _: karras.euler_chain(bars, visited, m, x,
                                                     prediction_type="epsilon")),
        "heun": (lambda: sample_heun(oracle, schedule, shape, **kwargs),
                 lambda m, x, _: karras.heun_chain(bars, visited, m, x,
                                                   prediction_type="epsilon")),
        "euler_ancestral": (
            lambda: sample_euler_ancestral(oracle, schedule, shape, eta=1.0, **kwargs),
            lambda m, x, n: karras.euler_ancestral_chain(bars, visited, m, x, n, eta=1.0,
                                                         prediction_type="epsilon")),
        "edm": (lambda: sample_edm(oracle, schedule, shape, **churn, **kwargs),
                lambda m, x, n: karras.edm_chain(bars, visited, m, x, n, **churn,
                                                 prediction_type="epsilon")),
        "dpmpp_2s_ancestral": (
            lambda: sample_dpmpp_2s_ancestral(oracle, schedule, shape, eta=1.0, **kwargs),
            lambda m, x, n: dpmpp.dpmpp_2s_ancestral_chain(bars, visited, m, x, n, eta=1.0,
                                                           prediction_type="epsilon")),
        "dpmpp_sde": (
            lambda: sample_dpmpp_sde(oracle, schedule, shape, eta=1.0, **kwargs),
            lambda m, x, n: dpmpp.dpmpp_sde_chain(bars, visited, m, x, n, eta=1.0,
                                                  prediction_type="epsilon")),
        "unipc": (lambda: sample_unipc(oracle, schedule, shape, **kwargs),
                  lambda m, x, _: unipc.unipc_chain(bars, visited, m, x,
                                                    prediction_type="epsilon")),
        "lms": (lambda: sample_lms(oracle, schedule, shape, order=4, **kwargs),
                lambda m, x, _: karras.lms_chain(bars, visited, m, x, order=4,
                                                 prediction_type="epsilon")),
        "dpmpp_2m_sde": (
            lambda: sample_dpmpp_2m_sde(oracle, schedule, shape, eta=1.0, **kwargs),
            lambda m, x, n: dpmpp.dpmpp_2m_sde_chain(bars, visited, m, x, n, eta=1.0,
                                                     prediction_type="epsilon")),
        "dpmpp_2m": (lambda: sample_dpmpp_2m(oracle, schedule, shape, **kwargs),
                     lambda m, x, _: dpmpp.dpmpp_2m_chain(bars, visited, m, x,
                                                          prediction_type="epsilon")),
    }
    run, chain = chains[sampler]
    mean, variance = exact_moments(chain, bars, DATA_MEAN, DATA_STD, "epsilon", 20)
    samples = run().to(torch.float64).numpy()
    assert_gaussian_moments(samples, mean, variance, f"{sampler} on the {grid} grid")


def uniform_log_snr_schedule(T: int) -> NoiseSchedule:
    """ᾱ_t with λ = ½·log(ᾱ/(1 − ᾱ)) linear in t, from ᾱ_0 = 0.99 to ᾱ_{T−1} = 4·10⁻⁵."""
    lam = np.linspace(0.5 * np.log(0.99 / 0.01), 0.5 * np.log(4e-5 / (1 - 4e-5)), T)
    bars = 1.0 / (1.0 + np.exp(-2.0 * lam))
    return NoiseSchedule.from_betas(1.0 - bars / np.concatenate([[1.0], bars[:-1]]))


@pytest.mark.spec("KSAMP-10")
@pytest.mark.parametrize(("sampler", "order"), [
    (sample_euler, 0.8), (sample_heun, 1.5), (sample_dpmpp_2m, 1.5),
    (functools.partial(sample_dpmpp_2s_ancestral, eta=0.0), 1.5), (sample_unipc, 2.5)])
def test_deterministic_sigma_samplers_converge_at_their_order(
    sampler: Callable[..., torch.Tensor], order: float
) -> None:
    mean, std = 0.3, 0.5
    schedule = uniform_log_snr_schedule(1025)  # 1024 = 128·8: every linspace grid below is exact
    bars = schedule.alpha_bars.numpy()

    def s(alpha_bar: float) -> float:
        return float(np.sqrt(alpha_bar * std**2 + 1.0 - alpha_bar))

    # The exact flow keeps the quantile (as SOLV-8); the last step lands on D(x; σ_0).
    x_T = np.array([0.0, 1.0])
    flow = np.sqrt(bars[0]) * mean + s(bars[0]) / s(bars[-1]) * (x_T - np.sqrt(bars[-1]) * mean)
    exact = mean + np.sqrt(bars[0]) * std**2 / s(bars[0]) ** 2 * (flow - np.sqrt(bars[0]) * mean)
    oracle = GaussianPredictor(schedule, np.array([mean]), np.array([std]), "epsilon")
    counts, errors = [17, 33, 65, 129], []
    for steps in counts:
        x = sampler(oracle, schedule, (2, 1), steps=steps, grid="linspace",
                    x_T=torch.from_numpy(x_T).reshape(2, 1), generator=torch.Generator())
        errors.append(float(np.abs(x[:, 0].numpy() - exact).max()))
    slope = -np.polyfit(np.log(np.array(counts) - 1), np.log(errors), 1)[0]
    assert min(errors) > 1e-10, f"errors {errors} are near float64 rounding"
    assert slope >= order, f"log-log slope {slope:.2f} of errors {errors} at steps {counts}"


@pytest.mark.spec("KSAMP-10")
@pytest.mark.parametrize(("order", "slope_bound"), [(2, 1.5), (3, 2.3), (4, 3.2)])
def test_lms_converges_at_its_order_to_its_own_last_step(order: int, slope_bound: float) -> None:
    mean, std = 0.3, 0.5
    schedule = uniform_log_snr_schedule(1025)
    bars = schedule.alpha_bars.numpy()
    table = np.sqrt((1.0 - bars) / bars)
    x_T = np.array([0.0, 1.0])

    def s(alpha_bar: float) -> float:
        return float(np.sqrt(alpha_bar * std**2 + 1.0 - alpha_bar))

    def exact_ve(t: int) -> np.ndarray:  # the exact flow from x_T, in x_ve = x_vp/√ᾱ
        vp = np.sqrt(bars[t]) * mean + s(bars[t]) / s(bars[-1]) * (x_T - np.sqrt(bars[-1]) * mean)
        return np.asarray(vp / np.sqrt(bars[t]))

    def exact_slope(t: int) -> np.ndarray:  # d = (x − D)/σ = E[ε | x_t] of the Gaussian
        return np.asarray(np.sqrt(1.0 - bars[t]) * (np.sqrt(bars[t]) * exact_ve(t)
                          - np.sqrt(bars[t]) * mean) / s(bars[t]) ** 2)

    oracle = GaussianPredictor(schedule, np.array([mean]), np.array([std]), "epsilon")
    counts, errors = [17, 33, 65, 129], []
    for steps in counts:
        last = [int(t) for t in sigma_grid_timesteps(bars, steps, "linspace")[-order:]]
        reference = exact_ve(0) + sum(
            c * exact_slope(t) for c, t in zip(
                karras.lms_coefficients([float(table[t]) for t in last], 0.0), last, strict=True))
        x = sample_lms(oracle, schedule, (2, 1), steps=steps, order=order, grid="linspace",
                       x_T=torch.from_numpy(x_T).reshape(2, 1), generator=torch.Generator())
        errors.append(float(np.abs(x[:, 0].numpy() - reference).max()))
    slope = -np.polyfit(np.log(np.array(counts) - 1), np.log(errors), 1)[0]
    assert min(errors) > 1e-10, f"errors {errors} are near float64 rounding"
    assert slope >= slope_bound, f"log-log slope {slope:.2f} of errors {errors} at {counts}"


@pytest.mark.spec("KSAMP-11")
@pytest.mark.parametrize("checks", [True, False])
def test_sigma_sampler_arguments_are_validated(checks: bool) -> None:
    schedule = NoiseSchedule.linear(20)
    model, _ = twin_eps_models(20)
    generator = torch.Generator()
    bad: list[tuple[Callable[..., Any], dict[str, Any], str]] = [
        (sample_euler, {"steps": 0}, "steps must be in"),
        (sample_euler, {"steps": 21}, "steps must be in"),
        (sample_dpmpp_2m, {"rho": 0.0}, "rho must be in"),
        (sample_dpmpp_2m, {"grid": "trailing", "rho": 7.0}, "rho applies"),
        (sample_euler_ancestral, {"eta": 1.5}, "eta must be in"),
        (sample_edm, {"s_churn": -1.0}, "s_churn must be in"),
        (sample_edm, {"s_tmin": 2.0, "s_tmax": 1.0}, "s_tmax must be >="),
        (sample_edm, {"s_noise": -0.1}, "s_noise must be in"),
        (sample_dpmpp_2m_sde, {"eta": -0.5}, "eta must be in"),
        (sample_lms, {"order": 5}, "order must be in"),
        (sample_dpmpp_2s_ancestral, {"eta": 1.2}, "eta must be in"),
        (sample_unipc, {"steps": 0}, "steps must be in"),
        (sample_dpmpp_sde, {"eta": -0.1}, "eta must be in"),
        (sample_lms, {"order": 0}, "order must be an int >= 1"),
        (sample_euler, {"x_T": torch.zeros(3, 3)}, "x_T must have shape"),
    ]
    if not checks:  # with checks on, the Literal annotation refuses it first (a TypeCheckError)
        bad.append((sample_heun, {"grid": "cosine"}, "grid must be one of"))
    with typecheck(checks):
        for sampler, kwargs, message in bad:
            with pytest.raises(ValueError, match=message):
                sampler(model, schedule, SHAPE, generator=generator, **kwargs)
        zero_snr = NoiseSchedule.rescaled_to_zero_terminal_snr(schedule.betas)
        with pytest.raises(ValueError, match="zero terminal SNR"):
            sample_euler(model, zero_snr, SHAPE, generator=generator,
                         prediction_type="v_prediction")
        x = torch.zeros(SHAPE)
        with pytest.raises(ValueError, match="sigma_next must be in"):
            torch_karras.euler_step(1.0, 2.0, x, x)
        with pytest.raises(ValueError, match="z must be given"):
            torch_karras.euler_ancestral_step(2.0, 1.0, x, x, 1.0, None)
        with pytest.raises(ValueError, match="z must be given"):
            karras.euler_ancestral_step(2.0, 1.0, x.numpy(), x.numpy(), 1.0, None)
        with pytest.raises(ValueError, match="z must be given"):
            torch_dpmpp.dpmpp_2m_sde_step(2.0, 1.0, x, x, None, 0.5, None)
        with pytest.raises(ValueError, match="older sigma must be in"):
            unipc.unipc_corrector_step(2.0, 1.0, x.numpy(), x.numpy(), x.numpy(),
                                       (1.5, x.numpy()))
        with pytest.raises(ValueError, match="previous sigma must be in"):
            dpmpp.dpmpp_2m_step(2.0, 1.0, x.numpy(), x.numpy(), (1.5, x.numpy()))


@pytest.mark.spec("KSAMP-7")
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_diffusion_generate_runs_each_sigma_sampler(sampler: str) -> None:
    from torch import nn

    from specdiff.diffusion import Diffusion

    class Twin(nn.Module):
        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return twin_eps_models(50, amplitude=0.5)[0](x, t)

    schedule = NoiseSchedule.linear(50)
    diffusion = Diffusion(Twin(), schedule)
    samples = diffusion.generate(SHAPE, steps=6, sampler=sampler, eta=0.5, seed=3)  # type: ignore[arg-type]
    runs = {"euler": lambda g: sample_euler(diffusion, schedule, SHAPE, steps=6, generator=g),
            "heun": lambda g: sample_heun(diffusion, schedule, SHAPE, steps=6, generator=g),
            "euler_ancestral": lambda g: sample_euler_ancestral(diffusion, schedule, SHAPE,
                                                                steps=6, eta=0.5, generator=g),
            "edm": lambda g: sample_edm(diffusion, schedule, SHAPE, steps=6, s_churn=20.0,
                                        generator=g),
            "lms": lambda g: sample_lms(diffusion, schedule, SHAPE, steps=6, generator=g),
            "unipc": lambda g: sample_unipc(diffusion, schedule, SHAPE, steps=6, generator=g),
            "dpmpp_sde": lambda g: sample_dpmpp_sde(diffusion, schedule, SHAPE, steps=6, eta=0.5,
                                                    generator=g),
            "dpmpp_2s_ancestral": lambda g: sample_dpmpp_2s_ancestral(
                diffusion, schedule, SHAPE, steps=6, eta=0.5, generator=g),
            "dpmpp_2m": lambda g: sample_dpmpp_2m(diffusion, schedule, SHAPE, steps=6,
                                                  generator=g),
            "dpmpp_2m_sde": lambda g: sample_dpmpp_2m_sde(diffusion, schedule, SHAPE, steps=6,
                                                          eta=0.5, generator=g)}
    assert torch.equal(samples, runs[sampler](torch.Generator().manual_seed(3)))
