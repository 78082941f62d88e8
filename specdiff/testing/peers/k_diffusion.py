"""Adapter for k-diffusion's samplers (``k_diffusion.sampling.sample_*``), and the configurations
in the conformance matrix.

k-diffusion works in the σ (variance-exploding) view: x_ve = x_vp/√ᾱ = x_vp·√(1 + σ²),
σ = √((1 − ᾱ)/ᾱ). The adapter wraps our VP ε-model in k-diffusion's own
``external.DiscreteEpsDDPMDenoiser`` (ᾱ in float32, as from a checkpoint; ``quantize=True``: a model
trained at integer timesteps is called at the timestep nearest to each σ),
starts the sampler at x_T·√(1 + σ_max²), and returns x at σ = 0, where both views agree. The
samplers draw from torch's global generator (``torch.randn_like``, and the seed of the
``BrownianTreeNoiseSampler`` of the SDE samplers): the adapter runs them under
``torch.random.fork_rng`` seeded from its generator, so a seed reproduces a run and the caller's
global generator is untouched.

Loading: k-diffusion 0.1.1's package ``__init__`` imports its training stack (clean-fid, CLIP,
kornia, scikit-image, wandb) and its ``utils`` module imports torchvision, which its samplers
never call. Only ``k_diffusion.sampling`` and ``k_diffusion.external`` are loaded, with what they
import (scipy, torchdiffeq, torchsde, tqdm), by
:func:`specdiff.testing.peers._imports.import_peer_modules` (see there for torchvision).

Compared with: Euler on the schedule's own σ at our timesteps is DDIM η = 0 (REV-5), Euler
ancestral is DDIM with the same η, DPM++ 2M is our DPM-Solver++(2M) (SOLV-4/5); the others have no
law of ours yet (CONF-2, and CONF-1 where they call the model only at the grid).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import torch

from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.testing.conformance import MakeAdapter, Reference, SamplerAdapter, VPModel
from specdiff.testing.peers import references as ours
from specdiff.testing.peers._imports import import_peer_modules
from specdiff.testing.peers.matrix import PeerCase

INSTALL = ('pip install --no-deps k-diffusion==0.1.1.post1 && '
           'pip install "specdiff[conformance]"')
LIBRARY = "k-diffusion"

# A σ grid from the denoiser (its σ table, σ_min, σ_max), ending at 0.
SigmaGrid = Callable[[Any], torch.Tensor]


def load() -> tuple[ModuleType, ModuleType]:
    """(k_diffusion.sampling, k_diffusion.external), or an ImportError saying what to install."""
    sampling, external = import_peer_modules("k_diffusion", ("sampling", "external"), INSTALL)
    return sampling, external


@dataclass
class _KDiffusionSampler:
    sampler: str  # the name of a k_diffusion.sampling function, e.g. "sample_euler"
    grid: SigmaGrid
    alpha_bars: torch.Tensor
    generator: torch.Generator
    options: dict[str, Any] = field(default_factory=dict)

    def sample(self, model: VPModel, x_T: torch.Tensor) -> torch.Tensor:
        sampling, external = load()
        denoiser = external.DiscreteEpsDDPMDenoiser(model, self.alpha_bars, quantize=True)
        sigmas = self.grid(denoiser)
        seed = int(torch.randint(2**62, (), generator=self.generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            x_0: torch.Tensor = getattr(sampling, self.sampler)(
                denoiser, x_T * (1.0 + sigmas[0] ** 2).sqrt(), sigmas, disable=True,
                **self.options)
        return x_0


def k_diffusion_adapter(sampler: str, grid: SigmaGrid, schedule: NoiseSchedule,
                        **options: Any) -> MakeAdapter:
    """``make_adapter`` for ``k_diffusion.sampling.<sampler>`` on the σ ``grid`` of ``schedule``;
    ``options`` (e.g. ``eta=1.0``) go to the sampler."""
    alpha_bars = schedule.alpha_bars.to(torch.float32)

    def make(generator: torch.Generator) -> SamplerAdapter:
        return _KDiffusionSampler(sampler, grid, alpha_bars, generator, options)

    return make


def cases(steps: int = 10) -> list[PeerCase]:
    """The k-diffusion configurations of the matrix (T = 1000, linear β)."""
    sampling, _ = load()
    schedule = NoiseSchedule.linear(1000)
    trailing = ours.visited(schedule, steps, "trailing")

    def at_our_timesteps(denoiser: Any) -> torch.Tensor:
        grid: torch.Tensor = sampling.append_zero(denoiser.sigmas[trailing])
        return grid

    def karras(denoiser: Any) -> torch.Tensor:
        grid: torch.Tensor = sampling.get_sigmas_karras(
            steps, float(denoiser.sigma_min), float(denoiser.sigma_max))
        return grid

    def own(denoiser: Any) -> torch.Tensor:
        grid: torch.Tensor = denoiser.get_sigmas(steps)
        return grid

    ddim_0, ddim_1 = ours.ddim(schedule, trailing, 0.0), ours.ddim(schedule, trailing, 1.0)
    grid_only = ours.timesteps_only(trailing)
    table: list[tuple[str, SigmaGrid, str, Reference | None, str, dict[str, Any]]] = [
        ("sample_euler", at_our_timesteps, "σ at our timesteps", ddim_0,
         "DDIM η = 0 (REV-5) = Euler in σ, trailing", {}),
        ("sample_euler_ancestral", at_our_timesteps, "σ at our timesteps", ddim_1,
         "DDIM η = 1 (REV-5/6) = Euler ancestral, trailing", {}),
        ("sample_euler_ancestral", at_our_timesteps, "σ at our timesteps, eta=0", ddim_0,
         "DDIM η = 0 (REV-5), trailing", {"eta": 0.0}),
        ("sample_dpmpp_2m", at_our_timesteps, "σ at our timesteps",
         ours.dpm_solver_pp(schedule, trailing), "DPM-Solver++(2M) (SOLV-4/5), trailing", {}),
        ("sample_heun", at_our_timesteps, "σ at our timesteps", None, "— (no Heun law yet)", {}),
        ("sample_lms", at_our_timesteps, "σ at our timesteps", grid_only,
         "timesteps only (no LMS law yet)", {}),
        ("sample_dpmpp_2s_ancestral", at_our_timesteps, "σ at our timesteps", None,
         "— (no DPM++ 2S law yet)", {}),
        ("sample_dpmpp_sde", at_our_timesteps, "σ at our timesteps", None,
         "— (no DPM++ SDE law yet)", {}),
        ("sample_dpmpp_2m_sde", at_our_timesteps, "σ at our timesteps", grid_only,
         "timesteps only (no DPM++ 2M SDE law yet)", {}),
        ("sample_euler", karras, "Karras σ (ρ = 7)", None, "— (no Karras-σ law yet)", {}),
        ("sample_dpmpp_2m", karras, "Karras σ (ρ = 7)", None, "— (no Karras-σ law yet)", {}),
        ("sample_dpmpp_2m", own, "its get_sigmas(n)", None, "— (no law for this grid yet)", {}),
    ]
    return [PeerCase(LIBRARY, f"{name}, {grid_name}",
                     k_diffusion_adapter(name, grid, schedule, **options), schedule, reference,
                     compared_with)
            for name, grid, grid_name, reference, compared_with, options in table]
