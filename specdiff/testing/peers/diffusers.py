"""Adapter for diffusers' schedulers, and the configurations in the conformance matrix.

:func:`diffusers_adapter` wraps any diffusers-style scheduler (``set_timesteps``,
``init_noise_sigma``, ``scale_model_input``, ``step(...).prev_sample``) as a
:class:`~specdiff.testing.conformance.SamplerAdapter`: the loop of diffusers' own pipelines, so
the σ-space schedulers (Euler, Heun, LMS, KDPM2) get their scaled inputs. diffusers itself is
imported only by :func:`cases` (``pip install diffusers``, the ``interop`` extra).

Each case names the sampler of ours it is compared with. Euler with the schedule's own σ at our
timesteps is DDIM η = 0 (the Euler step of the probability-flow ODE in x/√ᾱ is the DDIM step),
and Euler ancestral is DDIM with the same η; samplers with no law of ours yet (Heun, LMS, KDPM2,
UniPC, DEIS, single-step and SDE DPM-Solver, Karras σ with continuous steps) are checked for
CONF-2 and, where our spacing law gives their timesteps, CONF-1.
"""

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch

from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.spec.timesteps import karras_timesteps
from specdiff.testing.conformance import MakeAdapter, Reference, SamplerAdapter, VPModel
from specdiff.testing.peers import references as ours
from specdiff.testing.peers.matrix import PeerCase

# The items of specs/conformance.md (CONF-5) that explain this library's failing cells.
STRIDE = "DDIM/PNDM step back by ⌊T/n⌋"
SIGMOID = "diffusers' \"sigmoid\" is another curve than SCHED-5"
PNDM_LAST_STEP = "PNDM's last step lands on ᾱ_0"
PNDM_V = "PNDM combines raw v outputs"
DPM_LEADING = "DPM-Solver \"leading\" uses ⌊T/(n+1)⌋"

INSTALL = 'pip install diffusers (or: pip install "specdiff[interop]")'
LIBRARY = "diffusers"


def load() -> ModuleType:
    """diffusers, or an ImportError that says how to install it."""
    try:
        return importlib.import_module("diffusers")
    except ImportError as error:
        raise ImportError(f"the diffusers adapter needs diffusers: {INSTALL}") from error


@dataclass
class _DiffusersSampler:
    scheduler: Any
    generator: torch.Generator
    step_kwargs: dict[str, Any]

    def sample(self, model: VPModel, x_T: torch.Tensor) -> torch.Tensor:
        # Deterministic schedulers (PNDM, UniPC) take no generator argument.
        takes_generator = "generator" in inspect.signature(self.scheduler.step).parameters
        extra = {"generator": self.generator} if takes_generator else {}
        x: torch.Tensor = x_T * self.scheduler.init_noise_sigma
        for t in self.scheduler.timesteps:
            model_input = self.scheduler.scale_model_input(x, t)
            output = model(model_input, torch.full((x.shape[0],), float(t)))
            x = self.scheduler.step(output, t, x, **extra, **self.step_kwargs).prev_sample
        return x


def diffusers_adapter(make_scheduler: Callable[[], Any], num_steps: int,
                      **step_kwargs: Any) -> MakeAdapter:
    """``make_adapter`` for a diffusers-style scheduler: a fresh ``make_scheduler()`` with
    ``set_timesteps(num_steps)``; ``step_kwargs`` (e.g. ``eta=1.0``) go to every ``step``."""

    def make(generator: torch.Generator) -> SamplerAdapter:
        scheduler = make_scheduler()
        scheduler.set_timesteps(num_steps)
        return _DiffusersSampler(scheduler, generator, step_kwargs)

    return make


def cases(steps: int = 10) -> list[PeerCase]:
    """The diffusers configurations of the matrix (T = 1000, diffusers' default linear β)."""
    d = load()
    schedule = NoiseSchedule.linear(1000)
    leading = ours.visited(schedule, steps, "leading")
    trailing = ours.visited(schedule, steps, "trailing")
    trailing_30 = ours.visited(schedule, 30, "trailing")

    def case(name: str, make: Callable[[], Any], reference: Reference | None,
             compared_with: str, num_steps: int = steps, schedule: NoiseSchedule = schedule,
             step_kwargs: dict[str, Any] | None = None, **case_options: Any) -> PeerCase:
        """``case_options``: PeerCase's prediction_type, num_samples, explained."""
        return PeerCase(LIBRARY, name, diffusers_adapter(make, num_steps, **(step_kwargs or {})),
                        schedule, reference, compared_with, **case_options)

    tr = {"timestep_spacing": "trailing"}
    karras = [int(t) for t in karras_timesteps(schedule.alpha_bars.numpy(), steps)]
    return [
        case("DDIMScheduler(clip_sample=False), η = 0", lambda: d.DDIMScheduler(
            clip_sample=False), ours.ddim(schedule, leading, 0.0), "DDIM η = 0 (REV-5), leading"),
        case("DDIMScheduler(clip_sample=False), η = 1", lambda: d.DDIMScheduler(
            clip_sample=False), ours.ddim(schedule, leading, 1.0), "DDIM η = 1 (REV-5/6), leading",
             step_kwargs={"eta": 1.0}),
        case("DDIMScheduler(trailing, clip_sample=False), 30 steps, η = 0",
             lambda: d.DDIMScheduler(clip_sample=False, **tr), ours.ddim(
                 schedule, trailing_30, 0.0), "DDIM η = 0 (REV-5), trailing", num_steps=30,
             explained={"CONF-3": STRIDE}),
        case("DDPMScheduler(clip_sample=False)", lambda: d.DDPMScheduler(clip_sample=False),
             ours.ddim(schedule, leading, 1.0), "DDIM η = 1 (REV-6: the DDPM posterior), leading"),
        case("DDPMScheduler(beta_schedule=\"sigmoid\", clip_sample=False)",
             lambda: d.DDPMScheduler(beta_schedule="sigmoid", clip_sample=False),
             ours.ddim(NoiseSchedule.sigmoid(1000), leading, 1.0),
             "DDIM η = 1 (REV-6), leading, our sigmoid schedule (SCHED-5)",
             schedule=NoiseSchedule.sigmoid(1000), explained={"CONF-4": SIGMOID}),
        case("DDPMScheduler(clip_sample=False), 1000 steps", lambda: d.DDPMScheduler(
            clip_sample=False), ours.ddpm(schedule), "DDPM ancestral (REV-9)", num_steps=1000,
             num_samples=2000),
        case("PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=True)", lambda: d.PNDMScheduler(
            skip_prk_steps=True, set_alpha_to_one=True), ours.pndm(schedule, leading),
             "PNDM (SOLV-3), leading"),
        case("PNDMScheduler(skip_prk_steps=True)", lambda: d.PNDMScheduler(skip_prk_steps=True),
             ours.pndm(schedule, leading), "PNDM (SOLV-3), leading",
             explained={"CONF-3": PNDM_LAST_STEP}),
        case("PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=True, v_prediction), v-model",
             lambda: d.PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=True,
                                     prediction_type="v_prediction"),
             ours.pndm(schedule, leading, "v_prediction"), "PNDM (SOLV-3), leading, v-model",
             prediction_type="v_prediction", explained={"CONF-3": PNDM_V, "CONF-4": PNDM_V}),
        case("DPMSolverMultistepScheduler(trailing)", lambda: d.DPMSolverMultistepScheduler(**tr),
             ours.dpm_solver_pp(schedule, trailing), "DPM-Solver++(2M) (SOLV-4/5), trailing"),
        case("DPMSolverMultistepScheduler(leading)", lambda: d.DPMSolverMultistepScheduler(
            timestep_spacing="leading"), ours.dpm_solver_pp(schedule, leading),
             "DPM-Solver++(2M) (SOLV-4/5), leading",
             explained={"CONF-1": DPM_LEADING, "CONF-3": DPM_LEADING, "CONF-4": DPM_LEADING}),
        case("DPMSolverMultistepScheduler(use_karras_sigmas=True)",
             lambda: d.DPMSolverMultistepScheduler(use_karras_sigmas=True),
             ours.dpm_solver_pp(schedule, karras), "DPM-Solver++(2M) (SOLV-4/5), Karras (TS-5)"),
        case("DPMSolverMultistepScheduler(trailing, algorithm_type=\"sde-dpmsolver++\")",
             lambda: d.DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++", **tr),
             ours.timesteps_only(trailing), "timesteps only (no SDE law yet)"),
        case("DPMSolverMultistepScheduler(sde-dpmsolver++, use_karras_sigmas=True)",
             lambda: d.DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++",
                                                   use_karras_sigmas=True),
             ours.timesteps_only(karras), "timesteps only (no SDE law yet)"),
        case("DPMSolverSinglestepScheduler()", d.DPMSolverSinglestepScheduler, None,
             "— (no single-step law yet)"),
        case("EulerDiscreteScheduler(trailing)", lambda: d.EulerDiscreteScheduler(**tr),
             ours.ddim(schedule, trailing, 0.0), "DDIM η = 0 (REV-5) = Euler in σ, trailing"),
        case("EulerDiscreteScheduler(use_karras_sigmas=True)", lambda: d.EulerDiscreteScheduler(
            use_karras_sigmas=True), None, "— (continuous Karras σ: no law yet)"),
        case("EulerAncestralDiscreteScheduler(trailing)",
             lambda: d.EulerAncestralDiscreteScheduler(**tr), ours.ddim(schedule, trailing, 1.0),
             "DDIM η = 1 (REV-5/6) = Euler ancestral, trailing"),
        case("HeunDiscreteScheduler(trailing)", lambda: d.HeunDiscreteScheduler(**tr), None,
             "— (no Heun law yet)"),
        case("LMSDiscreteScheduler(trailing)", lambda: d.LMSDiscreteScheduler(**tr),
             ours.timesteps_only(trailing), "timesteps only (no LMS law yet)"),
        case("KDPM2DiscreteScheduler(trailing)", lambda: d.KDPM2DiscreteScheduler(**tr), None,
             "— (no KDPM2 law yet)"),
        case("UniPCMultistepScheduler(trailing)", lambda: d.UniPCMultistepScheduler(**tr),
             ours.timesteps_only(trailing), "timesteps only (no UniPC law yet)"),
        case("DEISMultistepScheduler(trailing)", lambda: d.DEISMultistepScheduler(**tr),
             ours.timesteps_only(trailing), "timesteps only (no DEIS law yet)"),
    ]
