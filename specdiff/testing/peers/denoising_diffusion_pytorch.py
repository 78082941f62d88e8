"""Adapter for denoising-diffusion-pytorch's ``GaussianDiffusion`` sampling loops, and the
configurations in the conformance matrix.

``GaussianDiffusion(model, …).sample(batch_size)`` runs ``p_sample_loop`` (ancestral, all T
timesteps) or, when ``sampling_timesteps < timesteps``, ``ddim_sample``. The adapter builds a
``GaussianDiffusion`` around our oracle (wrapped as the ``Unet`` it expects: images of
(channels, 1, 1), ``auto_normalize=False`` since our data is not in [0, 1]) and calls ``sample``,
the user's call. Those loops draw x_T themselves, with torch's global generator: the adapter runs
them under ``torch.random.fork_rng`` seeded from its generator (so a seed reproduces a run), it
cannot start them at a given x_T, and the kit's CONF-3 compares with our chain from the x_T the
loop started at (the input of its first model call). Both loops clip x̂0 to [−1, 1]
(``clip_denoised=True``, ``clip_x_start=True``, not configurable), which makes a step nonlinear:
the cases use data N(μ, σ²) narrow enough (σ ≤ 0.1, |μ| ≤ 0.3) that the clip never binds
(E[x0 | x_t] stays within 7σ of μ).

Loading: its ``denoising_diffusion_pytorch.py`` imports torchvision (dataset transforms and
``save_image`` of its Trainer; torchvision 0.28/0.29 fail to load with CPU torch 2.13), einops,
ema-pytorch and accelerate. Only that module is loaded, without the package ``__init__``, by
:func:`specdiff.testing.peers._imports.import_peer_modules` (see there for torchvision).
"""

import functools
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from unittest import mock

import torch
from torch import nn
from tqdm.auto import tqdm

from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.spec.parameterization import PredictionType
from specdiff.testing.conformance import MakeAdapter, Reference, SamplerAdapter, VPModel
from specdiff.testing.peers import references as ours
from specdiff.testing.peers._imports import import_peer_modules
from specdiff.testing.peers.divergences import TRUNCATED
from specdiff.testing.peers.matrix import PeerCase

INSTALL = ('pip install --no-deps denoising-diffusion-pytorch==2.3.4 && '
           'pip install "specdiff[conformance]"')
LIBRARY = "denoising-diffusion-pytorch"
DATA_MEAN, DATA_STD = (0.3, -0.2), (0.1, 0.05)  # x̂0 never reaches the clip at ±1
CONVERGENCE_STD = (0.35, 0.25)  # CONF-6's data, N(0, σ²): the clip never binds either
OBJECTIVES: dict[PredictionType, str] = {
    "epsilon": "pred_noise", "sample": "pred_x0", "v_prediction": "pred_v"}


def load() -> ModuleType:
    """denoising_diffusion_pytorch.denoising_diffusion_pytorch, or an ImportError saying what to
    install."""
    (module,) = import_peer_modules("denoising_diffusion_pytorch",
                                    ("denoising_diffusion_pytorch",), INSTALL)
    # Our own copy of the module (import_peer_modules keeps it out of sys.modules): its loops'
    # progress bars would print one line per sampling run.
    setattr(module, "tqdm", functools.partial(tqdm, disable=True))  # noqa: B010
    return module


class _OracleUnet(nn.Module):
    """Our (batch, size) model as the image model GaussianDiffusion expects."""

    def __init__(self, model: VPModel, channels: int) -> None:
        super().__init__()
        self.model, self.channels, self.out_dim = model, channels, channels
        self.self_condition = False

    def forward(self, x: torch.Tensor, t: torch.Tensor, x_self_cond: Any = None) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], -1), t).reshape(x.shape)


@dataclass
class _GaussianDiffusionSampler:
    options: dict[str, Any]  # GaussianDiffusion's keyword arguments
    generator: torch.Generator
    betas: torch.Tensor | None  # a β table in place of its named schedule

    def sample(self, model: VPModel, x_T: torch.Tensor) -> torch.Tensor:
        module = load()
        unet = _OracleUnet(model, x_T.shape[1])
        if self.betas is None:
            diffusion = module.GaussianDiffusion(unet, image_size=1, auto_normalize=False,
                                                 **self.options)
        else:  # GaussianDiffusion takes schedules by name only: lend it ours under one
            betas = self.betas
            with mock.patch.object(module, "linear_beta_schedule", lambda timesteps: betas):
                diffusion = module.GaussianDiffusion(
                    unet, image_size=1, auto_normalize=False, **self.options,
                    timesteps=len(betas), beta_schedule="linear")
        seed = int(torch.randint(2**62, (), generator=self.generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            images: torch.Tensor = diffusion.sample(batch_size=x_T.shape[0])
        return images.reshape(x_T.shape[0], -1)


def gaussian_diffusion_adapter(betas: torch.Tensor | None = None, **options: Any
                               ) -> MakeAdapter:
    """``make_adapter`` for ``GaussianDiffusion(model, image_size=1, auto_normalize=False,
    **options).sample``; ``options``: timesteps, sampling_timesteps, objective, beta_schedule,
    ddim_sampling_eta. ``betas`` (float64) replaces the named schedule and T, for CONF-6: the
    class builds its tables from it as from its own schedules."""

    def make(generator: torch.Generator) -> SamplerAdapter:
        return _GaussianDiffusionSampler(options, generator, betas)

    return make


def cases(steps: int = 10) -> list[PeerCase]:
    """The denoising-diffusion-pytorch configurations of the matrix (T = 1000)."""
    load()
    schedules = {"linear": NoiseSchedule.linear(1000), "cosine": NoiseSchedule.cosine(1000),
                 "sigmoid": NoiseSchedule.sigmoid(1000)}

    def case(name: str, beta_schedule: str, reference: Reference, compared_with: str,
             prediction_type: PredictionType = "epsilon", num_samples: int = 4000,
             explained: dict[str, str] | None = None, **options: Any) -> PeerCase:
        """``options``: GaussianDiffusion's sampling_timesteps and ddim_sampling_eta; DDIM with
        η = 0 (order 1) also runs, for CONF-6, on the convergence schedule."""
        objective = OBJECTIVES[prediction_type]
        make = gaussian_diffusion_adapter(timesteps=1000, beta_schedule=beta_schedule,
                                          objective=objective, **options)

        def at_steps(n: int, problem: NoiseSchedule) -> MakeAdapter:
            return gaussian_diffusion_adapter(problem.betas.to(torch.float64),
                                              objective=objective, sampling_timesteps=n,
                                              ddim_sampling_eta=0.0)

        order = 1 if reference.deterministic else None
        return PeerCase(LIBRARY, name, make, schedules[beta_schedule], reference, compared_with,
                        prediction_type, DATA_MEAN, DATA_STD, num_samples, explained or {},
                        order=order, at_steps=at_steps if order else None,
                        convergence_std=CONVERGENCE_STD)

    def ddim(schedule: str, eta: float, prediction_type: PredictionType = "epsilon",
             num_steps: int = steps) -> Reference:
        visited = ours.visited(schedules[schedule], num_steps, "trailing")
        return ours.ddim(schedules[schedule], visited, eta, prediction_type)

    def sampled(schedule: str, objective: str, num_steps: int = steps, eta: float = 0.0) -> str:
        return (f"GaussianDiffusion(beta_schedule=\"{schedule}\", objective=\"{objective}\", "
                f"sampling_timesteps={num_steps}, ddim_sampling_eta={eta:g}).sample")

    return [
        case("GaussianDiffusion(beta_schedule=\"linear\", objective=\"pred_noise\").sample "
             "(p_sample_loop, 1000 steps)", "linear", ours.ddpm(schedules["linear"]),
             "DDPM ancestral (REV-9)", num_samples=2000),
        case(sampled("linear", "pred_noise"), "linear", ddim("linear", 0.0),
             "DDIM η = 0 (REV-5), trailing", sampling_timesteps=steps),
        case(sampled("linear", "pred_noise", eta=1.0), "linear", ddim("linear", 1.0),
             "DDIM η = 1 (REV-5/6), trailing", sampling_timesteps=steps, ddim_sampling_eta=1.0),
        case(sampled("linear", "pred_noise", 30), "linear", ddim("linear", 0.0, num_steps=30),
             "DDIM η = 0 (REV-5), trailing", sampling_timesteps=30,
             explained={"CONF-1": TRUNCATED, "CONF-3": TRUNCATED}),
        case(sampled("linear", "pred_x0"), "linear", ddim("linear", 0.0, "sample"),
             "DDIM η = 0 (REV-5), trailing, x0-model", "sample", sampling_timesteps=steps),
        case(sampled("linear", "pred_v"), "linear", ddim("linear", 0.0, "v_prediction"),
             "DDIM η = 0 (REV-5), trailing, v-model", "v_prediction", sampling_timesteps=steps),
        case(sampled("cosine", "pred_noise"), "cosine", ddim("cosine", 0.0),
             "DDIM η = 0 (REV-5), trailing, cosine (SCHED-4)", sampling_timesteps=steps),
        case(sampled("sigmoid", "pred_v"), "sigmoid", ddim("sigmoid", 0.0, "v_prediction"),
             "DDIM η = 0 (REV-5), trailing, sigmoid (SCHED-5), v-model", "v_prediction",
             sampling_timesteps=steps),
    ]
