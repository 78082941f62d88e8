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
ancestral is DDIM with the same η; Heun, LMS, DPM++ 2M, 2S ancestral, SDE and 2M SDE are our σ
samplers of the same name (specs/sigma.md) on the table σ of the timesteps the grid visits. On
k-diffusion's own Karras grid the samplers step on continuous σ (CONF-5 explains the difference);
the grid of the denoiser's ``get_sigmas`` has no law of ours yet (CONF-2 and CONF-6 apply).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import torch

from specdiff import spec
from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.spec.sigma import sigma_grid_timesteps
from specdiff.testing.conformance import MakeAdapter, Reference, SamplerAdapter, VPModel
from specdiff.testing.peers import references as ours
from specdiff.testing.peers._imports import import_peer_modules
from specdiff.testing.peers.divergences import FRACTIONAL, KARRAS, LMS_LAST_STEP
from specdiff.testing.peers.matrix import PeerCase

INSTALL = ('pip install --no-deps k-diffusion==0.1.1.post1 && '
           'pip install "specdiff[conformance]"')
LIBRARY = "k-diffusion"

# A σ grid of n levels from the denoiser (its σ table, σ_min, σ_max), ending at 0.
SigmaGrid = Callable[[Any, int], torch.Tensor]


def load() -> tuple[ModuleType, ModuleType]:
    """(k_diffusion.sampling, k_diffusion.external), or an ImportError saying what to install."""
    sampling, external = import_peer_modules("k_diffusion", ("sampling", "external"), INSTALL)
    return sampling, external


@dataclass
class _KDiffusionSampler:
    sampler: str  # the name of a k_diffusion.sampling function, e.g. "sample_euler"
    grid: SigmaGrid
    num_steps: int
    alpha_bars: torch.Tensor
    generator: torch.Generator
    quantize: bool
    options: dict[str, Any] = field(default_factory=dict)

    def sample(self, model: VPModel, x_T: torch.Tensor) -> torch.Tensor:
        sampling, external = load()
        denoiser = external.DiscreteEpsDDPMDenoiser(model, self.alpha_bars,
                                                    quantize=self.quantize)
        sigmas = self.grid(denoiser, self.num_steps)
        seed = int(torch.randint(2**62, (), generator=self.generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            x_0: torch.Tensor = getattr(sampling, self.sampler)(
                denoiser, x_T * (1.0 + sigmas[0] ** 2).sqrt(), sigmas, disable=True,
                **self.options)
        return x_0


def k_diffusion_adapter(sampler: str, grid: SigmaGrid, num_steps: int, schedule: NoiseSchedule,
                        quantize: bool = True, **options: Any) -> MakeAdapter:
    """``make_adapter`` for ``k_diffusion.sampling.<sampler>`` on the σ ``grid`` of
    ``num_steps`` levels of ``schedule`` (ᾱ in float32, as from a checkpoint); ``quantize``: the
    model is called at the timestep nearest each σ (False: at k-diffusion's interpolated,
    fractional t); ``options`` (e.g. ``eta=1.0``) go to the sampler."""
    alpha_bars = schedule.alpha_bars.to(torch.float32)

    def make(generator: torch.Generator) -> SamplerAdapter:
        return _KDiffusionSampler(sampler, grid, num_steps, alpha_bars, generator, quantize,
                                  options)

    return make


def at_our_timesteps(denoiser: Any, num_steps: int) -> torch.Tensor:
    """The denoiser's table σ at our trailing timesteps (TS-1), then 0."""
    sampling, _ = load()
    visited = spec.ddim_timesteps(len(denoiser.sigmas), num_steps, "trailing")
    grid: torch.Tensor = sampling.append_zero(denoiser.sigmas[torch.from_numpy(visited)])
    return grid


def at_our_karras_timesteps(denoiser: Any, num_steps: int) -> torch.Tensor:
    """The denoiser's table σ at the timesteps of the Karras grid (SIGMA-4/TS-5), then 0."""
    sampling, _ = load()
    sigmas = denoiser.sigmas.to(torch.float64).numpy()
    visited = sigma_grid_timesteps(1.0 / (1.0 + sigmas**2), num_steps, "karras")
    grid: torch.Tensor = sampling.append_zero(denoiser.sigmas[torch.from_numpy(visited)])
    return grid


def karras(denoiser: Any, num_steps: int) -> torch.Tensor:
    """k-diffusion's own Karras grid (ρ = 7) from the denoiser's σ_min to σ_max."""
    sampling, _ = load()
    grid: torch.Tensor = sampling.get_sigmas_karras(
        num_steps, float(denoiser.sigma_min), float(denoiser.sigma_max))
    return grid


def own(denoiser: Any, num_steps: int) -> torch.Tensor:
    """The denoiser's ``get_sigmas(n)``: σ at n fractional timesteps, linspace(T − 1, 0, n)."""
    grid: torch.Tensor = denoiser.get_sigmas(num_steps)
    return grid


# The configurations: (sampler, grid, the grid's name, our sampler and its options for the
# reference (None: no law of ours), the stated order (None: stochastic), sampler options,
# quantize, CONF-5 items by law).
_Row = tuple[str, SigmaGrid, str, str | None, dict[str, Any], int | None, dict[str, Any], bool,
             dict[str, str]]


def cases(steps: int = 10) -> list[PeerCase]:
    """The k-diffusion configurations of the matrix (T = 1000, linear β); the deterministic ones
    also run, for CONF-6, with ᾱ of the convergence schedule."""
    load()
    schedule = NoiseSchedule.linear(1000)
    trailing = ours.visited(schedule, steps, "trailing")
    karras_steps = ours.karras_visited(schedule, steps)
    on_ours, on_karras = "σ at our timesteps", "σ at our Karras timesteps (TS-5)"
    karras_name = "Karras σ (ρ = 7)"
    explained_karras = {"CONF-3": KARRAS}
    table: list[_Row] = [
        ("sample_euler", at_our_timesteps, on_ours, "ddim", {}, 1, {}, True, {}),
        ("sample_euler_ancestral", at_our_timesteps, on_ours, "ddim", {"eta": 1.0}, None, {},
         True, {}),
        ("sample_euler_ancestral", at_our_timesteps, f"{on_ours}, eta=0", "ddim", {"eta": 0.0},
         1, {"eta": 0.0}, True, {}),
        ("sample_dpmpp_2m", at_our_timesteps, on_ours, "dpmpp_2m", {}, 2, {}, True, {}),
        ("sample_heun", at_our_timesteps, on_ours, "heun", {}, 2, {}, True, {}),
        ("sample_lms", at_our_timesteps, on_ours, "lms", {"order": 4}, 4, {}, True,
         {"CONF-6": LMS_LAST_STEP}),
        ("sample_dpmpp_2s_ancestral", at_our_timesteps, on_ours, "dpmpp_2s_ancestral",
         {"eta": 1.0}, None, {}, True, {}),
        ("sample_dpmpp_sde", at_our_timesteps, on_ours, "dpmpp_sde", {"eta": 1.0}, None, {},
         True, {}),
        ("sample_dpmpp_2m_sde", at_our_timesteps, on_ours, "dpmpp_2m_sde", {"eta": 1.0}, None,
         {}, True, {}),
        ("sample_heun", at_our_karras_timesteps, on_karras, "heun", {}, 2, {}, True, {}),
        ("sample_dpmpp_2m", at_our_karras_timesteps, on_karras, "dpmpp_2m", {}, 2, {}, True, {}),
        ("sample_euler", karras, karras_name, "euler", {}, 1, {}, True, explained_karras),
        ("sample_dpmpp_2m", karras, karras_name, "dpmpp_2m", {}, 2, {}, True, explained_karras),
        ("sample_euler", karras, f"{karras_name}, quantize=False", "euler", {}, 1, {}, False,
         {"CONF-1": FRACTIONAL, "CONF-3": FRACTIONAL}),
        ("sample_dpmpp_2m", own, "its get_sigmas(n)", None, {}, 2, {}, True, {}),
    ]

    def reference(sampler: str | None, visited: list[int], options: dict[str, Any]
                  ) -> tuple[Reference | None, str]:
        if sampler is None:
            return None, "— (no law for this grid yet)"
        if sampler == "ddim":
            eta = options["eta"] if options else 0.0
            return (ours.ddim(schedule, visited, eta),
                    f"DDIM η = {eta:g} (REV-5{'/6' if eta else ''}) = Euler"
                    f"{' ancestral' if eta else ''} in σ, trailing")
        grid = "trailing" if visited == trailing else "Karras (TS-5)"
        settings = ", ".join(f"{key} = {value:g}" for key, value in options.items())
        return (ours.sigma_sampler(schedule, visited, sampler, **options),
                f"{ours.sigma_law(sampler)}{', ' + settings if settings else ''}, {grid}")

    result = []
    for name, grid, grid_name, our_sampler, our_options, order, options, quantize, why in table:
        visited = trailing if grid is at_our_timesteps else karras_steps
        ours_reference, compared_with = reference(our_sampler, visited, our_options)

        def at_steps(n: int, problem: NoiseSchedule, name: str = name, grid: SigmaGrid = grid,
                     options: dict[str, Any] = options, quantize: bool = quantize
                     ) -> MakeAdapter:
            return k_diffusion_adapter(name, grid, n, problem, quantize, **options)

        result.append(PeerCase(
            LIBRARY, f"{name}, {grid_name}",
            k_diffusion_adapter(name, grid, steps, schedule, quantize, **options), schedule,
            ours_reference, compared_with, explained=why, order=order,
            at_steps=at_steps if order is not None else None))
    return result
