"""``Diffusion``: one object owning an eps-model and its noise schedule, for training and sampling.

It is a thin layer over the laws: noising is FWD-1, the loss is SAMP-8 with the target of the
model's prediction type (PARAM-3), generation is one of the samplers of
``specdiff.diffusion.samplers`` and ``specdiff.diffusion.multistep``.
"""

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal

import torch
from jaxtyping import Float, Int
from torch import nn
from torch.nn import functional

from specdiff._typecheck import typechecked
from specdiff.diffusion._validate import require_tensor_finite
from specdiff.diffusion.dpmpp import (
    sample_dpmpp_2m,
    sample_dpmpp_2m_sde,
    sample_dpmpp_2s_ancestral,
    sample_dpmpp_sde,
)
from specdiff.diffusion.forward import add_noise, noised_sample_from_eps
from specdiff.diffusion.karras import (
    sample_edm,
    sample_euler,
    sample_euler_ancestral,
    sample_heun,
    sample_lms,
)
from specdiff.diffusion.multistep import sample_dpm_solver_pp, sample_pndm
from specdiff.diffusion.noise_schedule import ModuleWithSchedule, NoiseSchedule
from specdiff.diffusion.parameterization import (
    min_snr_weight,
    prediction_target,
    split_prediction,
)
from specdiff.diffusion.samplers import EpsModel, sample_ddim, sample_ddpm
from specdiff.diffusion.unipc import sample_unipc
from specdiff.spec._validate import require_choice
from specdiff.spec.parameterization import PredictionType, require_prediction_type

SAMPLERS = ("ddim", "ddpm", "pndm", "dpm_solver_pp", "euler", "heun", "euler_ancestral", "edm",
            "lms", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_2s_ancestral", "dpmpp_sde", "unipc")
if TYPE_CHECKING:
    SamplerName = Literal["ddim", "ddpm", "pndm", "dpm_solver_pp", "euler", "heun",
                          "euler_ancestral", "edm", "lms", "dpmpp_2m", "dpmpp_2m_sde",
                          "dpmpp_2s_ancestral", "dpmpp_sde", "unipc"]
else:
    SamplerName = str  # checked by require_choice, with run-time type checks on or off
# EDM's S_churn for eta = 1 (Karras et al. 2022, table 5: 40 to 80 on ImageNet-64).
EDM_CHURN_PER_ETA = 40.0
# Extra keyword inputs of a conditional model, one entry per batch element.
Conditioning = Mapping[str, torch.Tensor]


# What ``Diffusion.generate(watch=…)`` calls after each model call: (call, t, x_t, x̂0).
PathWatcher = Callable[[int, int, torch.Tensor, torch.Tensor], None]


class _Watched:
    """SAMP-12: ``model`` unchanged, and after each call ``watch`` sees copies of x_t and of the
    x̂0 of its output (PARAM-2); no draws, so the sampler's draws and outputs stay the same."""

    def __init__(self, model: EpsModel, schedule: NoiseSchedule,
                 prediction_type: PredictionType, watch: PathWatcher) -> None:
        self.model, self.prediction_type, self.watch = model, prediction_type, watch
        self.alpha_bars = schedule.alpha_bars.to("cpu", torch.float64).tolist()
        self.calls = 0

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        output = self.model(x_t, t)
        step = int(t[0])  # the samplers call with one timestep for the whole batch (SAMP-2)
        x0_hat, _ = split_prediction(self.alpha_bars[step], x_t, output, self.prediction_type)
        self.watch(self.calls, step, x_t.clone(), x0_hat.clone())
        self.calls += 1
        return output


# Attributes through which a wrapper exposes the network it wraps: DistributedDataParallel's
# ``module``, torch.compile's ``_orig_mod``, and ``model`` (GuidedModel, Diffusion itself).
_WRAPPED_MODEL_ATTRIBUTES = ("module", "_orig_mod", "model")


def model_num_timesteps(model: nn.Module) -> int | None:
    """The T a network was built for, where it says: ``config.num_timesteps`` (the specdiff
    nets), the schedule of a ``ModuleWithSchedule`` (the oracles), or either found through a
    wrapper; None for a model that does not say."""
    seen: set[int] = set()
    current: nn.Module | None = model
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        declared = getattr(getattr(current, "config", None), "num_timesteps", None)
        if isinstance(declared, int):
            return declared
        if isinstance(current, ModuleWithSchedule):
            return current.schedule.num_timesteps
        inner = (getattr(current, name, None) for name in _WRAPPED_MODEL_ATTRIBUTES)
        current = next((module for module in inner if isinstance(module, nn.Module)), None)
    return None


class Diffusion(ModuleWithSchedule):
    """A diffusion model ``model(x_t, t) -> output`` with integer t ∈ [0, T), whose output is ε̂
    (``prediction_type="epsilon"``, the default), x̂0 (``"sample"``) or v̂ (``"v_prediction"``).

    The schedule follows the module's device and stays float64 (see ``ModuleWithSchedule``).
    Calling the module is ``predict_noise``: the raw model output, whatever it predicts.
    """

    def __init__(self, model: nn.Module, schedule: NoiseSchedule,
                 prediction_type: PredictionType = "epsilon") -> None:
        super().__init__(schedule)
        require_prediction_type(prediction_type)
        built_for = model_num_timesteps(model)
        if built_for is not None and built_for != schedule.num_timesteps:
            raise ValueError(
                f"schedule must have the T the model was built for: the model has num_timesteps "
                f"= {built_for}, the schedule T = {schedule.num_timesteps} (its t/T inputs would "
                "be silently wrong); build both with the same T"
            )
        if schedule.has_zero_terminal_snr and prediction_type == "epsilon":
            raise ValueError(
                "prediction_type must be 'v_prediction' or 'sample' for a zero-terminal-SNR "
                "schedule (an eps-prediction says nothing about x0 at alpha_bar = 0), got "
                "'epsilon'"
            )
        self.model = model
        self.prediction_type: PredictionType = prediction_type

    @property
    def num_timesteps(self) -> int:
        return self.schedule.num_timesteps

    def with_model(self, model: nn.Module) -> "Diffusion":
        """The same diffusion (schedule, prediction type) around another module: a DDP- or
        compile-wrapped view of this one's model, for instance."""
        return Diffusion(model, self.schedule, self.prediction_type)

    def add_noise(
        self,
        x0: Float[torch.Tensor, "batch *shape"],
        t: int | Int[torch.Tensor, "batch"],
        *,
        generator: torch.Generator | None,
    ) -> tuple[Float[torch.Tensor, "batch *shape"], Float[torch.Tensor, "batch *shape"]]:
        """FWD-1 with eps drawn from ``generator``: returns (x_t, eps)."""
        return add_noise(self.schedule, x0, t, generator=generator)

    @typechecked
    def predict_noise(
        self,
        x_t: Float[torch.Tensor, "batch *shape"],
        t: Int[torch.Tensor, "batch"],
        conditioning: Conditioning | None = None,
    ) -> Float[torch.Tensor, "batch *shape"]:
        """The model's output at (x_t, t) (ε̂ for an eps-model); ``conditioning`` is passed as
        keyword arguments, e.g.
        ``{"class_labels": labels}`` for a class-conditional U-Net. NaN/inf in x_t is a
        ValueError (FWD-6)."""
        require_tensor_finite("x_t", x_t)
        eps_hat: torch.Tensor = self.model(x_t, t, **(conditioning or {}))
        return eps_hat

    forward = predict_noise

    @typechecked
    def compute_loss(
        self,
        x0: Float[torch.Tensor, "batch *shape"],
        *,
        t: Int[torch.Tensor, "batch"] | None = None,
        eps: Float[torch.Tensor, "batch *shape"] | None = None,
        generator: torch.Generator | None = None,
        conditioning: Conditioning | None = None,
        min_snr_gamma: float | None = None,
    ) -> Float[torch.Tensor, ""]:
        """SAMP-8: mean over all elements of (target − model(x_t, t))², x_t = FWD-1(x0, ε, t),
        target = ε, x0 or v by the prediction type (PARAM-3). With ``min_snr_gamma`` γ, PARAM-6:
        the mean over examples of min_snr_weight(ᾱ_t, γ)·(the example's mean squared error),
        which is min(SNR_t, γ)·mean((x0 − x̂0)²) whatever the prediction type.

        t ~ U{0, …, T−1} per example and ε ~ N(0, I) are drawn, in that order, from ``generator``
        (None: torch's default generator of x0's device) when not given.
        """
        batch = x0.shape[0]
        if x0.numel() == 0:
            raise ValueError(f"x0 must hold at least one element (the loss is a mean over them), "
                             f"got shape {tuple(x0.shape)}")
        if t is None:
            t = torch.randint(0, self.num_timesteps, (batch,), generator=generator,
                              device=x0.device)
        if eps is None:
            eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        x_t, _ = noised_sample_from_eps(self.schedule.alpha_bars, x0, eps, t)
        alpha_bar = self.schedule.alpha_bars[t.to(self.schedule.device)]
        target = prediction_target(alpha_bar, x0, eps, self.prediction_type)
        if min_snr_gamma is None:
            return functional.mse_loss(self.predict_noise(x_t, t, conditioning), target)
        weight = min_snr_weight(alpha_bar, min_snr_gamma, self.prediction_type)
        output = self.predict_noise(x_t, t, conditioning)
        errors = functional.mse_loss(output, target, reduction="none").flatten(1).mean(dim=1)
        return (weight.to(errors) * errors).mean()

    def train_step(
        self,
        x0: Float[torch.Tensor, "batch *shape"],
        optimizer: torch.optim.Optimizer,
        *,
        generator: torch.Generator | None = None,
    ) -> float:
        """One optimizer step on ``compute_loss(x0, generator=generator)``; returns the loss."""
        optimizer.zero_grad(set_to_none=True)
        loss = self.compute_loss(x0, generator=generator)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        return float(loss.detach())

    def generate(
        self,
        shape: tuple[int, ...],
        *,
        steps: int | None = None,
        sampler: SamplerName = "ddim",
        eta: float = 0.0,
        seed: int | None = None,
        clip: bool = True,
        progress: bool = False,
        conditioning: Conditioning | None = None,
        watch: PathWatcher | None = None,
    ) -> Float[torch.Tensor, "..."]:
        """Samples of ``shape`` on the module's device, in its parameters' dtype.

        ``conditioning`` (one entry per sample, e.g. ``{"class_labels": labels}``) is passed to
        the model at every step.
        ``sampler="ddim"`` visits ``steps`` timesteps (default 50, at most T) with noise level
        ``eta``; ``"ddpm"`` visits all T, so ``steps`` must be None or T; ``"pndm"`` and
        ``"dpm_solver_pp"`` are the deterministic multistep solvers (default 50 and 20 steps;
        ``eta`` and ``clip`` do not apply to them). ``"euler"``, ``"heun"``, ``"lms"`` (order 4),
        ``"dpmpp_2m"``, ``"unipc"`` (bh2, order 2), ``"euler_ancestral"`` (noise level ``eta``;
        0 is Euler), ``"dpmpp_2m_sde"`` (noise level ``eta``; 0 is DPM++ 2M),
        ``"dpmpp_2s_ancestral"``, ``"dpmpp_sde"`` (noise level ``eta``) and ``"edm"`` (Heun with
        EDM's churn S_churn = 40·``eta``; 0 is Heun) step on the Karras σ grid (specs/sigma.md;
        default 20 steps, ``clip`` does not apply; not for zero-terminal-SNR schedules). A
        zero-terminal-SNR schedule samples DDIM with trailing spacing. ``seed`` seeds the one
        generator every draw comes from (None: a fresh random seed). The model's train/eval mode
        is left as it is.

        ``watch(call, t, x_t, x0_hat)`` (SAMP-12) sees the sampling path: after the model's
        call number ``call`` (0, 1, …, in order; one per step for DDPM and DDIM, more for the
        multi-stage σ samplers), at the int timestep ``t`` and its input ``x_t`` (the VP sample),
        the x̂0 of PARAM-2 read from the model's output, unclipped; both are copies, so the
        samples are bit-identical with and without a watcher.
        """
        require_choice("sampler", sampler, SAMPLERS)
        generator = torch.Generator(device=self.schedule.device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        model: EpsModel = functools.partial(self.predict_noise, conditioning=conditioning)
        if watch is not None:
            model = _Watched(model, self.schedule, self.prediction_type, watch)
        if sampler == "ddpm":
            if steps not in (None, self.num_timesteps):
                raise ValueError(
                    f"steps must be None or T = {self.num_timesteps} for the DDPM sampler "
                    f"(it visits every timestep), got {steps}; use sampler='ddim' for fewer"
                )
            return sample_ddpm(model, self.schedule, shape, generator=generator,
                               clip=clip, dtype=self._sample_dtype(), progress=progress,
                               prediction_type=self.prediction_type)
        zero_snr = self.schedule.has_zero_terminal_snr
        dtype, kind = self._sample_dtype(), self.prediction_type  # DPM-Solver++ is trailing
        if sampler == "ddim":
            return sample_ddim(model, self.schedule, shape, steps=50 if steps is None else steps,
                               eta=eta, clip=clip, spacing="trailing" if zero_snr else "leading",
                               generator=generator, dtype=dtype, progress=progress,
                               prediction_type=kind)
        if sampler == "pndm":
            return sample_pndm(model, self.schedule, shape, steps=50 if steps is None else steps,
                               generator=generator, dtype=dtype, progress=progress,
                               prediction_type=kind)
        if sampler == "dpm_solver_pp":
            return sample_dpm_solver_pp(model, self.schedule, shape,
                                        steps=20 if steps is None else steps,
                                        generator=generator, dtype=dtype, progress=progress,
                                        prediction_type=kind)
        sigma_steps = 20 if steps is None else steps
        sigma_sampler = {"euler": sample_euler, "heun": sample_heun, "lms": sample_lms,
                         "dpmpp_2m": sample_dpmpp_2m, "unipc": sample_unipc}.get(sampler)
        if sigma_sampler is not None:
            return sigma_sampler(model, self.schedule, shape, steps=sigma_steps,
                                 generator=generator, dtype=dtype, progress=progress,
                                 prediction_type=kind)
        if sampler == "euler_ancestral":
            return sample_euler_ancestral(model, self.schedule, shape, steps=sigma_steps, eta=eta,
                                          generator=generator, dtype=dtype, progress=progress,
                                          prediction_type=kind)
        if sampler in ("dpmpp_2s_ancestral", "dpmpp_sde"):
            two_stage = (sample_dpmpp_2s_ancestral if sampler == "dpmpp_2s_ancestral"
                         else sample_dpmpp_sde)
            return two_stage(model, self.schedule, shape, steps=sigma_steps, eta=eta,
                             generator=generator, dtype=dtype, progress=progress,
                             prediction_type=kind)
        if sampler == "dpmpp_2m_sde":
            return sample_dpmpp_2m_sde(model, self.schedule, shape, steps=sigma_steps, eta=eta,
                                       generator=generator, dtype=dtype, progress=progress,
                                       prediction_type=kind)
        # The last name require_choice let through.
        return sample_edm(model, self.schedule, shape, steps=sigma_steps,
                          s_churn=EDM_CHURN_PER_ETA * eta, generator=generator, dtype=dtype,
                          progress=progress, prediction_type=kind)

    sample = generate

    def _sample_dtype(self) -> torch.dtype:
        """The dtype of the model's first floating tensor (float32 for a model without any)."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return next((tensor.dtype for tensor in tensors if tensor.is_floating_point()),
                    torch.float32)
