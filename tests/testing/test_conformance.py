"""The conformance kit against diffusers' schedulers (specs/conformance.md, CONF-1 … CONF-5)."""

import numpy as np
import pytest

from specdiff import spec
from specdiff.diffusion import NoiseSchedule
from specdiff.testing.conformance import Reference, check_conformance, diffusers_adapter
from specdiff.testing.exact_law import (
    ddim_reference,
    ddpm_reference,
    dpm_solver_pp_reference,
    pndm_reference,
)

diffusers = pytest.importorskip("diffusers")

T, STEPS = 1000, 10
SCHEDULE = NoiseSchedule.linear(T)  # diffusers' default config: linear 1e-4 … 0.02, T = 1000
BARS = SCHEDULE.alpha_bars.numpy()
DATA = {"data_mean": np.array([0.3, -0.2]), "data_std": np.array([0.5, 0.2])}
LEADING = list(spec.ddim_timesteps(T, STEPS, "leading"))
TRAILING = list(spec.ddim_timesteps(T, STEPS, "trailing"))


def assert_all_hold(report: object, laws: list[str]) -> None:
    for law in laws:
        assert report.holds(law), f"{law} fails:\n{report}"  # type: ignore[attr-defined]


@pytest.mark.spec("CONF-1", "CONF-2", "CONF-3", "CONF-4")
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_diffusers_ddim_conforms_to_rev5(eta: float) -> None:
    make = diffusers_adapter(lambda: diffusers.DDIMScheduler(clip_sample=False), STEPS, eta=eta)
    reference = Reference(LEADING, ddim_reference(BARS, LEADING, eta=eta,
                                                  prediction_type="epsilon"),
                          deterministic=eta == 0.0, max_draws=STEPS)
    report = check_conformance(make, SCHEDULE, reference, **DATA)
    assert_all_hold(report, ["CONF-1", "CONF-2", "CONF-3", "CONF-4"])


@pytest.mark.spec("CONF-1", "CONF-2", "CONF-4")
def test_diffusers_ddpm_conforms_to_rev9() -> None:
    make = diffusers_adapter(lambda: diffusers.DDPMScheduler(clip_sample=False), T)
    reference = Reference(list(range(T - 1, -1, -1)),
                          ddpm_reference(BARS, variance="fixed_small", prediction_type="epsilon"),
                          deterministic=False, max_draws=T)
    report = check_conformance(make, SCHEDULE, reference, num_samples=2000, **DATA)
    assert_all_hold(report, ["CONF-1", "CONF-2", "CONF-4"])


@pytest.mark.spec("CONF-1", "CONF-3", "CONF-4")
def test_diffusers_pndm_with_alpha_one_conforms_to_our_plms() -> None:
    make = diffusers_adapter(lambda: diffusers.PNDMScheduler(skip_prk_steps=True,
                                                             set_alpha_to_one=True), STEPS)
    calls = [LEADING[0], LEADING[1], *LEADING[1:]]  # the Heun warm-up evaluates τ_1 twice
    reference = Reference(calls, pndm_reference(BARS, LEADING, prediction_type="epsilon"),
                          deterministic=True)
    assert_all_hold(check_conformance(make, SCHEDULE, reference, **DATA),
                    ["CONF-1", "CONF-2", "CONF-3", "CONF-4"])


@pytest.mark.spec("CONF-1", "CONF-3", "CONF-4")
def test_diffusers_dpm_solver_pp_trailing_conforms_to_our_2m() -> None:
    make = diffusers_adapter(
        lambda: diffusers.DPMSolverMultistepScheduler(timestep_spacing="trailing"), STEPS)
    reference = Reference(TRAILING, dpm_solver_pp_reference(BARS, TRAILING,
                                                            prediction_type="epsilon"),
                          deterministic=True)
    assert_all_hold(check_conformance(make, SCHEDULE, reference, **DATA),
                    ["CONF-1", "CONF-2", "CONF-3", "CONF-4"])


@pytest.mark.spec("CONF-5")
def test_the_report_names_the_documented_divergences() -> None:
    # PNDM's default set_alpha_to_one=False ends on ᾱ_0 instead of 1 (specs/conformance.md).
    make = diffusers_adapter(lambda: diffusers.PNDMScheduler(skip_prk_steps=True), STEPS)
    calls = [LEADING[0], LEADING[1], *LEADING[1:]]
    reference = Reference(calls, pndm_reference(BARS, LEADING, prediction_type="epsilon"),
                          deterministic=True)
    report = check_conformance(make, SCHEDULE, reference, **DATA)
    assert report.holds("CONF-1") and not report.holds("CONF-3"), str(report)
    # DDIM's previous timestep is t − T//n: with trailing spacing and n ∤ T it is not the next
    # visited timestep, so the path differs from REV-5 over the visited ones.
    steps = 30
    trailing = list(spec.ddim_timesteps(T, steps, "trailing"))
    make = diffusers_adapter(lambda: diffusers.DDIMScheduler(clip_sample=False,
                                                             timestep_spacing="trailing"), steps)
    reference = Reference(trailing, ddim_reference(BARS, trailing, eta=0.0,
                                                   prediction_type="epsilon"), deterministic=True)
    report = check_conformance(make, SCHEDULE, reference, **DATA)
    assert not report.holds("CONF-3"), str(report)
