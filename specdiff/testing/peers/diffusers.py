"""Adapter for diffusers' schedulers, and the configurations in the conformance matrix.

:func:`diffusers_adapter` wraps any diffusers-style scheduler (``set_timesteps``,
``init_noise_sigma``, ``scale_model_input``, ``step(...).prev_sample``) as a
:class:`~specdiff.testing.conformance.SamplerAdapter`: the loop of diffusers' own pipelines, so
the σ-space schedulers (Euler, Heun, LMS, KDPM2) get their scaled inputs. diffusers itself is
imported only by :func:`cases` (``pip install diffusers``, the ``interop`` extra).

Each case names the sampler of ours it is compared with. Euler with the schedule's own σ at our
timesteps is DDIM η = 0 (the Euler step of the probability-flow ODE in x/√ᾱ is the DDIM step),
and Euler ancestral is DDIM with the same η; Heun, LMS, UniPC and the SDE variant of
DPM-Solver++ are our σ samplers (specs/sigma.md); samplers with no law of ours yet (KDPM2, DEIS,
single-step DPM-Solver) are checked for CONF-2, CONF-6 and, where our spacing law gives their
timesteps, CONF-1. Every deterministic case states its sampler's order for CONF-6 (the authors'
order: DPM-Solver++(2M), DPM-Solver-2 single-step, DEIS-2, Heun and KDPM2 2, UniPC-bh2 with its
corrector 3, LMS 4, PNDM's PLMS 4, DDIM/Euler 1) and runs on the convergence schedule through
``trained_betas``.
"""

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch

from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.testing.conformance import MakeAdapter, Reference, SamplerAdapter, VPModel
from specdiff.testing.peers import references as ours
from specdiff.testing.peers.divergences import (
    DEIS_LAST_STEP,
    DPM_LEADING,
    KARRAS,
    LMS_LAST_STEP,
    PNDM_LAST_STEP,
    PNDM_ORDER,
    PNDM_V,
    SD_BETAS,
    SIGMOID,
    STRIDE,
)
from specdiff.testing.peers.matrix import PeerCase

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
    """The diffusers configurations of the matrix (T = 1000, diffusers' default linear β). Each
    deterministic one also runs, for CONF-6, with ``trained_betas`` of the convergence schedule."""
    d = load()
    schedule = NoiseSchedule.linear(1000)
    leading = ours.visited(schedule, steps, "leading")
    trailing = ours.visited(schedule, steps, "trailing")
    karras = ours.karras_visited(schedule, steps)

    def case(name: str, scheduler: str, settings: dict[str, Any], reference: Reference | None,
             compared_with: str, num_steps: int = steps, schedule: NoiseSchedule = schedule,
             step_kwargs: dict[str, Any] | None = None, order: int | None = None,
             **case_options: Any) -> PeerCase:
        """``d.<scheduler>(**settings)``; ``case_options``: PeerCase's prediction_type,
        num_samples, explained."""
        kind = getattr(d, scheduler)
        extra = step_kwargs or {}

        def at_steps(n: int, problem: NoiseSchedule) -> MakeAdapter:
            betas = problem.betas.tolist()
            return diffusers_adapter(lambda: kind(
                **settings, num_train_timesteps=len(betas), trained_betas=betas), n, **extra)

        return PeerCase(LIBRARY, name, diffusers_adapter(lambda: kind(**settings), num_steps,
                                                         **extra),
                        schedule, reference, compared_with, order=order,
                        at_steps=at_steps if order is not None else None, **case_options)

    tr = {"timestep_spacing": "trailing"}
    no_clip = {"clip_sample": False}
    pndm = {"skip_prk_steps": True, "set_alpha_to_one": True}
    ddpm_betas = {"beta_start": 0.0001, "beta_end": 0.02}  # Heun's and KDPM2's defaults differ
    sigmoid = NoiseSchedule.sigmoid(1000)
    return [
        case("DDIMScheduler(clip_sample=False), η = 0", "DDIMScheduler", no_clip,
             ours.ddim(schedule, leading, 0.0), "DDIM η = 0 (REV-5), leading", order=1),
        case("DDIMScheduler(clip_sample=False), η = 1", "DDIMScheduler", no_clip,
             ours.ddim(schedule, leading, 1.0), "DDIM η = 1 (REV-5/6), leading",
             step_kwargs={"eta": 1.0}),
        case("DDIMScheduler(trailing, clip_sample=False), 30 steps, η = 0", "DDIMScheduler",
             {**no_clip, **tr}, ours.ddim(schedule, ours.visited(schedule, 30, "trailing"), 0.0),
             "DDIM η = 0 (REV-5), trailing", num_steps=30, order=1,
             explained={"CONF-3": STRIDE}),
        case("DDPMScheduler(clip_sample=False)", "DDPMScheduler", no_clip,
             ours.ddim(schedule, leading, 1.0), "DDIM η = 1 (REV-6: the DDPM posterior), leading"),
        case("DDPMScheduler(beta_schedule=\"sigmoid\", clip_sample=False)", "DDPMScheduler",
             {"beta_schedule": "sigmoid", **no_clip}, ours.ddim(sigmoid, leading, 1.0),
             "DDIM η = 1 (REV-6), leading, our sigmoid schedule (SCHED-5)", schedule=sigmoid,
             explained={"CONF-4": SIGMOID}),
        case("DDPMScheduler(clip_sample=False), 1000 steps", "DDPMScheduler", no_clip,
             ours.ddpm(schedule), "DDPM ancestral (REV-9)", num_steps=1000, num_samples=2000),
        case("PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=True)", "PNDMScheduler", pndm,
             ours.pndm(schedule, leading), "PNDM (SOLV-3), leading", order=4,
             explained={"CONF-6": PNDM_ORDER}),
        case("PNDMScheduler(skip_prk_steps=True)", "PNDMScheduler", {"skip_prk_steps": True},
             ours.pndm(schedule, leading), "PNDM (SOLV-3), leading", order=4,
             explained={"CONF-3": PNDM_LAST_STEP, "CONF-6": PNDM_LAST_STEP}),
        case("PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=True, v_prediction), v-model",
             "PNDMScheduler", {**pndm, "prediction_type": "v_prediction"},
             ours.pndm(schedule, leading, "v_prediction"), "PNDM (SOLV-3), leading, v-model",
             prediction_type="v_prediction", order=4,
             explained={"CONF-3": PNDM_V, "CONF-4": PNDM_V, "CONF-6": PNDM_ORDER}),
        case("DPMSolverMultistepScheduler(trailing)", "DPMSolverMultistepScheduler", tr,
             ours.dpm_solver_pp(schedule, trailing), "DPM-Solver++(2M) (SOLV-4/5), trailing",
             order=2),
        case("DPMSolverMultistepScheduler(leading)", "DPMSolverMultistepScheduler",
             {"timestep_spacing": "leading"}, ours.dpm_solver_pp(schedule, leading),
             "DPM-Solver++(2M) (SOLV-4/5), leading", order=2,
             explained={"CONF-1": DPM_LEADING, "CONF-3": DPM_LEADING, "CONF-4": DPM_LEADING}),
        case("DPMSolverMultistepScheduler(use_karras_sigmas=True)", "DPMSolverMultistepScheduler",
             {"use_karras_sigmas": True}, ours.dpm_solver_pp(schedule, karras),
             "DPM-Solver++(2M) (SOLV-4/5), Karras (TS-5)", order=2,
             explained={"CONF-3": KARRAS}),
        case("DPMSolverMultistepScheduler(trailing, algorithm_type=\"sde-dpmsolver++\")",
             "DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", **tr},
             ours.sigma_sampler(schedule, trailing, "dpmpp_2m_sde", eta=1.0),
             f"{ours.sigma_law('dpmpp_2m_sde')}, η = 1, trailing"),
        case("DPMSolverMultistepScheduler(sde-dpmsolver++, use_karras_sigmas=True)",
             "DPMSolverMultistepScheduler",
             {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True},
             ours.sigma_sampler(schedule, karras, "dpmpp_2m_sde", eta=1.0),
             f"{ours.sigma_law('dpmpp_2m_sde')}, η = 1, Karras (TS-5)"),
        # Its default lower_order_final=False makes diffusers warn and set it to True.
        case("DPMSolverSinglestepScheduler(lower_order_final=True)",
             "DPMSolverSinglestepScheduler", {"lower_order_final": True}, None,
             "— (no single-step law yet)", order=2),
        case("EulerDiscreteScheduler(trailing)", "EulerDiscreteScheduler", tr,
             ours.ddim(schedule, trailing, 0.0), "DDIM η = 0 (REV-5) = Euler in σ, trailing",
             order=1),
        case("EulerDiscreteScheduler(use_karras_sigmas=True)", "EulerDiscreteScheduler",
             {"use_karras_sigmas": True}, ours.sigma_sampler(schedule, karras, "euler"),
             f"{ours.sigma_law('euler')}, Karras (TS-5)", order=1,
             explained={"CONF-1": KARRAS, "CONF-3": KARRAS}),
        case("EulerAncestralDiscreteScheduler(trailing)", "EulerAncestralDiscreteScheduler", tr,
             ours.ddim(schedule, trailing, 1.0),
             "DDIM η = 1 (REV-5/6) = Euler ancestral, trailing"),
        case("HeunDiscreteScheduler(trailing, beta_start=0.0001, beta_end=0.02)",
             "HeunDiscreteScheduler", {**tr, **ddpm_betas},
             ours.sigma_sampler(schedule, trailing, "heun"), f"{ours.sigma_law('heun')}, trailing",
             order=2),
        case("HeunDiscreteScheduler(trailing), its default β", "HeunDiscreteScheduler", tr,
             ours.sigma_sampler(schedule, trailing, "heun"), f"{ours.sigma_law('heun')}, trailing",
             explained={"CONF-3": SD_BETAS, "CONF-4": SD_BETAS}),
        case("LMSDiscreteScheduler(trailing)", "LMSDiscreteScheduler", tr,
             ours.sigma_sampler(schedule, trailing, "lms", order=4),
             f"{ours.sigma_law('lms')}, order 4, trailing", order=4,
             explained={"CONF-6": LMS_LAST_STEP}),
        case("KDPM2DiscreteScheduler(trailing, beta_start=0.0001, beta_end=0.02)",
             "KDPM2DiscreteScheduler", {**tr, **ddpm_betas}, None, "— (no KDPM2 law yet)",
             order=2),
        case("UniPCMultistepScheduler(trailing)", "UniPCMultistepScheduler", tr,
             ours.sigma_sampler(schedule, trailing, "unipc"),
             f"{ours.sigma_law('unipc')}, trailing", order=3),
        case("DEISMultistepScheduler(trailing)", "DEISMultistepScheduler", tr,
             ours.timesteps_only(trailing), "timesteps only (no DEIS law yet)", order=2,
             explained={"CONF-6": DEIS_LAST_STEP}),
    ]
