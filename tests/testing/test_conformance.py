"""The conformance kit itself (specs/conformance.md, CONF-1 … CONF-4): it passes a sampler that
follows our laws and catches each kind of defect, whichever adapter shape the peer needs. The
peers' own matrix is tests/testing/test_peers.py."""

import math
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from specdiff import spec
from specdiff.diffusion import NoiseSchedule
from specdiff.diffusion.reverse import ddim_step
from specdiff.testing.conformance import (
    ConformanceReport,
    LawCheck,
    Reference,
    VPModel,
    alpha_bar_between,
    check_conformance,
    conformance_tests,
)
from specdiff.testing.exact_law import ddim_reference
from specdiff.testing.peers.matrix import PeerCase, render_matrix

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
        "CONF-4 exact Gaussian law |",
        "|---|---|---|---|---|---|---|",
        "| lib | Sampler(a\\|b) | DDIM | — | holds | fails (max deviation 1.0e-02) — CONF-5: "
        "a known convention | — |",
    ]
