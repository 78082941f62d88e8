"""The conformance kit itself (specs/conformance.md, CONF-1 … CONF-4, CONF-6): it passes a
sampler that follows our laws and catches each kind of defect, whichever adapter shape the peer
needs. The peers' own matrix is tests/testing/test_peers.py."""

import itertools
import math
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from specdiff import spec
from specdiff.diffusion import NoiseSchedule
from specdiff.diffusion.reverse import ddim_step
from specdiff.testing import assert_close_to_spec
from specdiff.testing.conformance import (
    ConformanceReport,
    Convergence,
    LawCheck,
    Reference,
    VPModel,
    alpha_bar_between,
    check_conformance,
    conformance_tests,
)
from specdiff.testing.exact_law import ddim_reference, exact_flow_endpoint
from specdiff.testing.peers.matrix import PeerCase, render_matrix, summarize_matrix

T, STEPS = 1000, 10
SCHEDULE = NoiseSchedule.linear(T)
BARS = SCHEDULE.alpha_bars.numpy()
DATA = {"data_mean": np.array([0.3, -0.2]), "data_std": np.array([0.5, 0.2])}
LEADING = [int(t) for t in spec.ddim_timesteps(T, STEPS, "leading")]


def our_ddim(eta: float) -> Reference:
    return Reference(LEADING, ddim_reference(BARS, LEADING, eta=eta, prediction_type="epsilon"),
                     deterministic=eta == 0.0, max_draws=STEPS)


@dataclass
class StepwiseDDIM:
    """A user's step-wise DDIM (a SchedulerAdapter), with one switch per defect the kit must see."""

    eta: float
    generator: torch.Generator
    model_timestep_shift: int = 0  # calls the model one timestep off
    landing_shift: int = 0  # steps to ᾱ of the wrong timestep
    global_noise: bool = False  # draws from torch's global generator, not the given one
    noise_scale: float = 1.0
    stray_noise: float = 0.0  # a "deterministic" sampler that adds a little noise

    @property
    def timesteps(self) -> list[int]:
        return [t + self.model_timestep_shift for t in LEADING]

    def step(self, model_output: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor:
        index = self.timesteps.index(t)
        landing = (float(BARS[LEADING[index + 1] + self.landing_shift])
                   if index + 1 < STEPS else 1.0)
        draw = (torch.randn(x.shape, dtype=x.dtype) if self.global_noise
                else torch.randn(x.shape, dtype=x.dtype, generator=self.generator))
        z = draw * self.noise_scale if self.eta > 0 else None
        x_prev = ddim_step(landing, float(BARS[LEADING[index]]), x, model_output, self.eta, z,
                           clip=False)
        return x_prev + self.stray_noise * torch.randn(x.shape, dtype=x.dtype,
                                                       generator=self.generator)


def check(eta: float, **defect: float) -> ConformanceReport:
    return check_conformance(lambda g: StepwiseDDIM(eta, g, **defect), SCHEDULE, our_ddim(eta),
                             **DATA)


@pytest.mark.spec("CONF-1", "CONF-2", "CONF-3", "CONF-4")
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_a_sampler_that_follows_rev5_holds_every_law(eta: float) -> None:
    report = check(eta)
    expected = ["CONF-1", "CONF-2", "CONF-3", "CONF-4"] if eta == 0.0 else [
        "CONF-1", "CONF-2", "CONF-4"]
    assert [c.law for c in report.checks] == expected
    assert all(c.holds for c in report.checks), str(report)


@pytest.mark.spec("CONF-1")
def test_conf1_catches_a_model_called_one_timestep_off() -> None:
    report = check(0.0, model_timestep_shift=1)
    assert not report.holds("CONF-1")
    assert report.cell("CONF-1") == "fails (call 1: t = 901, ours 900)"


@pytest.mark.spec("CONF-2")
def test_conf2_catches_draws_from_the_global_generator() -> None:
    report = check(1.0, global_noise=True)
    assert report.holds("CONF-1") and not report.holds("CONF-2"), str(report)


@pytest.mark.spec("CONF-3")
def test_conf3_catches_a_landing_one_timestep_off_that_the_moments_miss() -> None:
    report = check(0.0, landing_shift=1)
    assert not report.holds("CONF-3"), str(report)
    assert report.holds("CONF-4"), str(report)  # why the path law exists


@pytest.mark.spec("CONF-3")
def test_conf3_catches_a_deterministic_sampler_that_draws() -> None:
    report = check(0.0, stray_noise=1e-2)
    assert report.holds("CONF-2") and not report.holds("CONF-3"), str(report)


@pytest.mark.spec("CONF-4")
def test_conf4_catches_noise_ten_percent_too_large() -> None:
    report = check(1.0, noise_scale=1.1)
    assert not report.holds("CONF-4"), str(report)
    assert "standard errors" in report.cell("CONF-4")


@dataclass
class LoopDDIM:
    """A user's whole-loop sampler (a SamplerAdapter) that draws its own x_T, as
    denoising-diffusion-pytorch does: CONF-3 follows it from the x_T it started at."""

    generator: torch.Generator

    def sample(self, model: VPModel, x_T: torch.Tensor) -> torch.Tensor:
        x = torch.randn(x_T.shape, dtype=x_T.dtype, generator=self.generator)
        for index, t in enumerate(LEADING):
            landing = float(BARS[LEADING[index + 1]]) if index + 1 < STEPS else 1.0
            eps = model(x, torch.full((x.shape[0],), t))
            x = ddim_step(landing, float(BARS[t]), x, eps, 0.0, None, clip=False)
        return x


@pytest.mark.spec("CONF-1", "CONF-2", "CONF-3", "CONF-4")
def test_a_whole_loop_sampler_that_draws_its_own_start_is_checked_from_it() -> None:
    report = check_conformance(LoopDDIM, SCHEDULE, our_ddim(0.0), **DATA)
    assert all(c.holds for c in report.checks) and len(report.checks) == 4, str(report)


@pytest.mark.spec("CONF-1", "CONF-2")
def test_without_a_chain_of_ours_only_the_timesteps_and_reproducibility_apply() -> None:
    timesteps_only = check_conformance(lambda g: StepwiseDDIM(1.0, g), SCHEDULE,
                                       Reference(LEADING, None, deterministic=False), **DATA)
    assert [c.law for c in timesteps_only.checks] == ["CONF-1", "CONF-2"]
    nothing = check_conformance(lambda g: StepwiseDDIM(1.0, g), SCHEDULE, None, **DATA)
    assert [c.law for c in nothing.checks] == ["CONF-2"]
    assert [nothing.cell(law) for law in ("CONF-1", "CONF-2", "CONF-3")] == ["—", "holds", "—"]


def test_alpha_bar_between_timesteps_interpolates_log_sigma() -> None:
    assert alpha_bar_between(BARS, 500.0) == BARS[500]
    # Halfway, σ is the geometric mean of its neighbours: σ² = σ_500·σ_501.
    sigma = [math.sqrt((1 - BARS[t]) / BARS[t]) for t in (500, 501)]
    expected = 1.0 / (1.0 + sigma[0] * sigma[1])
    assert abs(alpha_bar_between(BARS, 500.5) - expected) <= 1e-12 * expected


@pytest.mark.spec("CONF-1", "CONF-3")
def test_conformance_tests_gives_one_test_per_law_that_fails_alone() -> None:
    test = conformance_tests(lambda g: StepwiseDDIM(0.0, g, landing_shift=1), SCHEDULE,
                             our_ddim(0.0), **DATA)
    (mark,) = test.pytestmark  # type: ignore[attr-defined]
    assert mark.args[1] == ["CONF-1", "CONF-2", "CONF-3", "CONF-4"]
    assert mark.kwargs["ids"][2] == "CONF-3-follows-our-path-from-the-same-x_T"
    test("CONF-1")
    with pytest.raises(AssertionError, match="CONF-3 fails: max"):
        test("CONF-3")
    with pytest.raises(AssertionError, match="CONF-3 fails"):
        test()  # called directly: every law


USER_TEST_FILE = """
    import numpy as np
    from specdiff.diffusion import NoiseSchedule
    from specdiff.testing import conformance_tests
    from tests.testing.test_conformance import DATA, SCHEDULE, StepwiseDDIM, our_ddim

    test_stepwise_ddim = conformance_tests(lambda g: StepwiseDDIM(0.0, g), SCHEDULE,
                                           our_ddim(0.0), **DATA)
"""


@pytest.mark.spec("CONF-1", "CONF-2", "CONF-3", "CONF-4")
def test_conformance_tests_in_a_user_test_file_is_collected_and_passes(tmp_path: Path) -> None:
    check(0.0)  # the laws' code, in this process too
    user_test = tmp_path / "test_user.py"
    user_test.write_text(textwrap.dedent(USER_TEST_FILE), encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), str(user_test)], capture_output=True, text=True, timeout=300,
        check=False, cwd=root, env={"PYTHONPATH": str(root), "OMP_NUM_THREADS": "1",
                                    "PATH": "/usr/bin:/bin"})
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    for test_id in ("CONF-1-timesteps-visited", "CONF-2-reproducible",
                    "CONF-3-follows-our-path-from-the-same-x_T", "CONF-4-exact-Gaussian-law"):
        assert f"test_stepwise_ddim[{test_id}] PASSED" in completed.stdout, completed.stdout


def test_render_matrix_writes_one_row_per_case_and_one_column_per_law() -> None:
    case = PeerCase("lib", "Sampler(a|b)", lambda g: StepwiseDDIM(0.0, g), SCHEDULE, None,
                    "DDIM", explained={"CONF-3": "a known convention"})
    report = ConformanceReport((LawCheck("CONF-2", True, ""),
                                LawCheck("CONF-3", False, "", "max deviation 1.0e-02")))
    assert render_matrix([(case, report)]).splitlines() == [
        "| library | configuration | compared with | CONF-1 timesteps visited | "
        "CONF-2 reproducible | CONF-3 follows our path from the same x_T | "
        "CONF-4 exact Gaussian law | CONF-6 converges at its order |",
        "|---|---|---|---|---|---|---|---|",
        "| lib | Sampler(a\\|b) | DDIM | — | holds | fails (max deviation 1.0e-02) — CONF-5: "
        "a known convention | — | — |",
    ]


def test_summarize_matrix_counts_cells_and_unexplained_failures() -> None:
    explained = PeerCase("lib", "A", lambda g: StepwiseDDIM(0.0, g), SCHEDULE, None, "DDIM",
                         explained={"CONF-3": "a known convention"})
    unexplained = PeerCase("other", "B", lambda g: StepwiseDDIM(0.0, g), SCHEDULE, None, "DDIM")
    report = ConformanceReport((LawCheck("CONF-2", True, ""), LawCheck("CONF-3", False, "")))
    assert summarize_matrix([(explained, report)]) == (
        "1 configurations (lib 1): of 5 cells, 1 hold, 3 do not apply and 1 fail, each explained "
        "in CONF-5.\n")
    assert summarize_matrix([(explained, report), (unexplained, report)]).endswith(
        "2 fail, 1 of them not explained in CONF-5.\n")


@dataclass
class UserDDIM:
    """A user's DDIM on any schedule and step count (leading spacing), computing in ``dtype``,
    for CONF-3's bound and CONF-6: ``landing_scale`` multiplies every ᾱ it lands on (a sampler
    stepping on slightly other noise levels than it evaluates, as continuous Karras σ do), and
    ``offset`` is added to its x_0 (an error that does not shrink with the step count)."""

    schedule: NoiseSchedule
    steps: int
    generator: torch.Generator
    dtype: torch.dtype = torch.float64
    landing_scale: float = 1.0
    offset: float = 0.0

    @property
    def timesteps(self) -> list[int]:
        return [int(t) for t in spec.ddim_timesteps(self.schedule.num_timesteps, self.steps,
                                                    "leading")]

    def step(self, model_output: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor:
        bars, visited = self.schedule.alpha_bars.numpy(), self.timesteps
        index = visited.index(t)
        landing = (float(bars[visited[index + 1]]) * self.landing_scale
                   if index + 2 < len(visited) else  # the landing on t = 0 stays below 1
                   float(bars[visited[-1]]) if index + 1 < len(visited) else 1.0)
        x_prev = ddim_step(landing, float(bars[t]), x.to(self.dtype),
                           model_output.to(self.dtype), 0.0, None, clip=False)
        return x_prev.to(torch.float64) + (self.offset if index + 1 == len(visited) else 0.0)


def user_ddim(**options: Any) -> Callable[[torch.Generator], UserDDIM]:
    return lambda generator: UserDDIM(SCHEDULE, STEPS, generator, **options)


def ddim_convergence(order: int, **options: Any) -> Convergence:
    return Convergence(order, lambda n, schedule: lambda generator: UserDDIM(
        schedule, n, generator, **options))


@pytest.mark.spec("CONF-3")
def test_conf3_passes_a_float32_sampler_and_catches_a_convention_of_that_size() -> None:
    rounded = check_conformance(user_ddim(dtype=torch.float32), SCHEDULE, our_ddim(0.0), **DATA)
    assert rounded.holds("CONF-3"), str(rounded)
    # Landing on ᾱ·(1 + 3·10⁻⁴): a path 1.2·10⁻³ away, which the former float32 network bound
    # (10⁻³·(1 + 1)·max(1, max|x|)) let pass as rounding.
    shifted = check_conformance(user_ddim(landing_scale=1.0003), SCHEDULE, our_ddim(0.0), **DATA)
    assert not shifted.holds("CONF-3"), str(shifted)
    deviation = float(shifted.cell("CONF-3").split()[-1].rstrip(")"))
    assert 1e-4 < deviation < 2e-3, shifted.cell("CONF-3")


@pytest.mark.spec("CONF-3")
def test_conf3_bound_is_elementwise_rounding_of_the_peers_dtype() -> None:
    # The same float32 sampler judged as if it computed in float64: its rounding is a deviation.
    as_float64 = check_conformance(user_ddim(dtype=torch.float32), SCHEDULE, our_ddim(0.0),
                                   dtype="float64", **DATA)
    assert not as_float64.holds("CONF-3"), str(as_float64)
    exact = check_conformance(user_ddim(), SCHEDULE, our_ddim(0.0), dtype="float64", **DATA)
    assert exact.holds("CONF-3"), str(exact)


@pytest.mark.spec("CONF-6")
def test_conf6_holds_for_ddim_at_its_first_order_and_not_at_a_claimed_second() -> None:
    first = check_conformance(user_ddim(), SCHEDULE, None, convergence=ddim_convergence(1),
                              **DATA)
    assert [c.law for c in first.checks] == ["CONF-2", "CONF-6"]
    assert first.holds("CONF-6"), str(first)
    slope = float(first.cell("CONF-6") and first.checks[1].deviation.split()[-1])
    assert 0.9 <= slope <= 1.1, first.checks[1].detail  # DDIM is first order
    claimed = check_conformance(user_ddim(), SCHEDULE, None, convergence=ddim_convergence(2),
                                **DATA)
    assert claimed.cell("CONF-6") == f"fails (slope {slope:.2f})", str(claimed)


@pytest.mark.spec("CONF-6")
def test_conf6_catches_an_error_that_does_not_shrink_with_the_steps() -> None:
    # As PNDM's landing on ᾱ_0 or DEIS's on σ_0 (CONF-5): the sampler stops converging.
    biased = check_conformance(user_ddim(), SCHEDULE, None, **DATA,
                               convergence=ddim_convergence(1, offset=0.1))
    assert not biased.holds("CONF-6"), str(biased)


def test_exact_flow_endpoint_is_the_probability_flow_ode_then_the_denoiser() -> None:
    # Independent of the closed form: RK4 on dx/dσ = (x − D(x; σ))/σ in the σ view, with
    # D(x; σ) = μ + s²/(s² + σ²)·(x − μ) the Gaussian's posterior mean, then D at the end.
    mean, std = np.array([0.3, -0.2]), np.array([0.5, 0.2])
    alpha_start, alpha_end = float(BARS[700]), float(BARS[20])
    x_vp = np.array([[1.3, -0.4], [-2.0, 0.7]])

    def denoised(x: np.ndarray, sigma: float) -> np.ndarray:
        return np.asarray(mean + std**2 / (std**2 + sigma**2) * (x - mean))

    def slope(x: np.ndarray, sigma: float) -> np.ndarray:
        return (x - denoised(x, sigma)) / sigma

    sigmas = np.linspace(math.sqrt((1 - alpha_start) / alpha_start),
                         math.sqrt((1 - alpha_end) / alpha_end), 4001)
    x = x_vp / math.sqrt(alpha_start)
    for sigma, after in itertools.pairwise(sigmas):
        h = after - sigma
        k1 = slope(x, sigma)
        k2 = slope(x + h / 2 * k1, sigma + h / 2)
        k3 = slope(x + h / 2 * k2, sigma + h / 2)
        k4 = slope(x + h * k3, after)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    expected = denoised(x, float(sigmas[-1]))
    assert_close_to_spec(exact_flow_endpoint(alpha_start, alpha_end, x_vp, mean, std), expected,
                         "elementwise", dtype="float32")  # RK4's own error is ~1e-9 here
