"""The conformance kit against diffusers' schedulers: which of our laws each one satisfies.

    python examples/conformance_report.py     # needs the interop extra (diffusers)

Prints one Markdown row per scheduler configuration (the README's table): CONF-1 the model is
called at our law's timesteps, CONF-2 a seed reproduces a run, CONF-3 a deterministic sampler
follows our spec chain from the same x_T, CONF-4 the Gaussian-oracle moments match our exact
law (k = 6). A "—" means the law does not apply (stochastic samplers have no fixed path).
"""

from collections.abc import Callable
from typing import Any

import diffusers
import numpy as np

from specdiff import spec
from specdiff.diffusion import NoiseSchedule
from specdiff.testing.conformance import Reference, check_conformance, diffusers_adapter
from specdiff.testing.exact_law import (
    ddim_reference,
    ddpm_reference,
    dpm_solver_pp_reference,
    pndm_reference,
)

T, STEPS = 1000, 10
SCHEDULE = NoiseSchedule.linear(T)  # diffusers' default: linear 1e-4 … 0.02
BARS = SCHEDULE.alpha_bars.numpy()
DATA = {"data_mean": np.array([0.3, -0.2]), "data_std": np.array([0.5, 0.2])}
LEADING = [int(t) for t in spec.ddim_timesteps(T, STEPS, "leading")]
TRAILING = [int(t) for t in spec.ddim_timesteps(T, STEPS, "trailing")]
TRAILING_30 = [int(t) for t in spec.ddim_timesteps(T, 30, "trailing")]
HEUN_CALLS = [LEADING[0], LEADING[1], *LEADING[1:]]  # PNDM's warm-up evaluates τ_1 twice


def case(make: Callable[[], Any], steps: int, reference: Reference, **step_kwargs: Any
         ) -> tuple[Callable[[Any], Any], Reference]:
    return diffusers_adapter(make, steps, **step_kwargs), reference


def ddim(visited: list[int], eta: float) -> Reference:
    return Reference(visited, ddim_reference(BARS, visited, eta=eta, prediction_type="epsilon"),
                     deterministic=eta == 0.0, max_draws=len(visited))


CASES = {
    "DDIMScheduler(clip_sample=False), 10 steps, η = 0": case(
        lambda: diffusers.DDIMScheduler(clip_sample=False), STEPS, ddim(LEADING, 0.0)),
    "DDIMScheduler(clip_sample=False), 10 steps, η = 1": case(
        lambda: diffusers.DDIMScheduler(clip_sample=False), STEPS, ddim(LEADING, 1.0), eta=1.0),
    "DDIMScheduler(trailing, clip_sample=False), 30 steps, η = 0": case(
        lambda: diffusers.DDIMScheduler(clip_sample=False, timestep_spacing="trailing"), 30,
        ddim(TRAILING_30, 0.0)),
    "DDPMScheduler(clip_sample=False), 1000 steps": case(
        lambda: diffusers.DDPMScheduler(clip_sample=False), T,
        Reference(list(range(T - 1, -1, -1)), ddpm_reference(
            BARS, variance="fixed_small", prediction_type="epsilon"),
            deterministic=False, max_draws=T)),
    "PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=True), 10 steps": case(
        lambda: diffusers.PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=True), STEPS,
        Reference(HEUN_CALLS, pndm_reference(BARS, LEADING, prediction_type="epsilon"),
                  deterministic=True)),
    "PNDMScheduler(skip_prk_steps=True) (default set_alpha_to_one=False), 10 steps": case(
        lambda: diffusers.PNDMScheduler(skip_prk_steps=True), STEPS,
        Reference(HEUN_CALLS, pndm_reference(BARS, LEADING, prediction_type="epsilon"),
                  deterministic=True)),
    "DPMSolverMultistepScheduler(trailing), 10 steps": case(
        lambda: diffusers.DPMSolverMultistepScheduler(timestep_spacing="trailing"), STEPS,
        Reference(TRAILING, dpm_solver_pp_reference(BARS, TRAILING, prediction_type="epsilon"),
                  deterministic=True)),
}
LAWS = ("CONF-1", "CONF-2", "CONF-3", "CONF-4")


def main() -> None:
    print(f"diffusers {diffusers.__version__}, T = {T}, Gaussian oracle data N(μ, σ²) in 2-D\n")
    print("| diffusers scheduler | " + " | ".join(LAWS) + " |")
    print("|---|" + "---|" * len(LAWS))
    for name, (make_adapter, reference) in CASES.items():
        report = check_conformance(make_adapter, SCHEDULE, reference,
                                   num_samples=2000 if "DDPM" in name else 4000, **DATA)
        laws = {check.law for check in report.checks}
        cells = [("holds" if report.holds(law) else "**fails**") if law in laws else "—"
                 for law in LAWS]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
