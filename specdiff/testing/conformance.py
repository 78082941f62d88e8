"""Run specdiff's sampler laws against a third-party scheduler (specs/conformance.md, CONF-1…4).

A peer scheduler is seen through :class:`SchedulerAdapter`: the timesteps it visits (model calls,
in order, repeats included) and ``step(model_output, t, x) -> x_prev``. ``make_adapter(generator)``
must return a fresh adapter (schedulers keep state between steps) whose random draws come from
``generator``. :func:`diffusers_adapter` wraps any diffusers-style scheduler without importing
diffusers. :func:`check_conformance` returns a :class:`ConformanceReport` saying which laws hold.
"""

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.spec.parameterization import PredictionType
from specdiff.testing.exact_law import Chain, GaussianPredictor, exact_moments
from specdiff.testing.tolerance import tolerance_for

STANDARD_ERRORS = 6.0  # statistical laws: k = 6 (specs/README.md)


class SchedulerAdapter(Protocol):
    @property
    def timesteps(self) -> Sequence[int]: ...

    def step(self, model_output: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor: ...


@dataclass
class _DiffusersAdapter:
    scheduler: Any
    generator: torch.Generator
    step_kwargs: dict[str, Any]

    @property
    def timesteps(self) -> Sequence[int]:
        return [int(t) for t in self.scheduler.timesteps]

    def step(self, model_output: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor:
        # Deterministic schedulers (PNDM) take no generator argument.
        takes_generator = "generator" in inspect.signature(self.scheduler.step).parameters
        extra = {"generator": self.generator} if takes_generator else {}
        prev: torch.Tensor = self.scheduler.step(model_output, t, x, **extra,
                                                 **self.step_kwargs).prev_sample
        return prev


def diffusers_adapter(make_scheduler: Callable[[], Any], num_steps: int,
                      **step_kwargs: Any) -> Callable[[torch.Generator], SchedulerAdapter]:
    """``make_adapter`` for a diffusers-style scheduler: a fresh ``make_scheduler()`` with
    ``set_timesteps(num_steps)``; ``step_kwargs`` (e.g. ``eta=1.0``) go to every ``step``."""

    def make(generator: torch.Generator) -> SchedulerAdapter:
        scheduler = make_scheduler()
        scheduler.set_timesteps(num_steps)
        return _DiffusersAdapter(scheduler, generator, step_kwargs)

    return make


@dataclass(frozen=True)
class LawCheck:
    law: str
    holds: bool
    detail: str


@dataclass(frozen=True)
class ConformanceReport:
    checks: tuple[LawCheck, ...]

    def holds(self, law: str) -> bool:
        return all(check.holds for check in self.checks if check.law == law)

    def __str__(self) -> str:
        return "\n".join(f"{c.law:7} {'holds' if c.holds else 'FAILS':6} {c.detail}"
                         for c in self.checks)


@dataclass(frozen=True)
class Reference:
    """Our law for the peer: the model calls it makes (``visited``) and its spec chain."""

    visited: Sequence[int]
    chain: Chain
    deterministic: bool  # the chain makes no draw: x_0 is a function of x_T
    max_draws: int = 0


def _run(make_adapter: Callable[[torch.Generator], SchedulerAdapter], model: GaussianPredictor,
         x_T: torch.Tensor, seed: int) -> tuple[torch.Tensor, list[int]]:
    adapter = make_adapter(torch.Generator().manual_seed(seed))
    x, calls = x_T.clone(), []
    for t in adapter.timesteps:
        calls.append(int(t))
        x = adapter.step(model(x, torch.full((x.shape[0],), int(t))), int(t), x)
    return x, calls


def check_conformance(
    make_adapter: Callable[[torch.Generator], SchedulerAdapter],
    schedule: NoiseSchedule,
    reference: Reference,
    *,
    data_mean: np.ndarray,
    data_std: np.ndarray,
    prediction_type: PredictionType = "epsilon",
    num_samples: int = 4000,
    seed: int = 0,
) -> ConformanceReport:
    """CONF-1 timesteps, CONF-2 reproducible, CONF-3 path (deterministic references: the same
    x_0 as our chain from the same x_T, float32 network tolerance; and no dependence on the
    seed, the η = 0 identity), CONF-4 Gaussian-oracle moments within k = 6 of our exact law."""
    mean, std = np.asarray(data_mean, np.float64), np.asarray(data_std, np.float64)
    model = GaussianPredictor(schedule, mean, std, prediction_type)
    x_T = torch.randn((num_samples, mean.shape[0]), dtype=torch.float64,
                      generator=torch.Generator().manual_seed(seed))
    first, calls = _run(make_adapter, model, x_T, seed + 1)
    again, _ = _run(make_adapter, model, x_T, seed + 1)
    ours = [int(t) for t in reference.visited]
    checks = [
        LawCheck("CONF-1", calls == ours, f"peer calls the model at {calls}, our law at {ours}"),
        LawCheck("CONF-2", bool(torch.equal(first, again)), "same seed, same x_T: bit-equal"),
    ]
    samples = first.to(torch.float64).numpy()
    if reference.deterministic:
        other, _ = _run(make_adapter, model, x_T, seed + 2)
        bounds = tolerance_for("float32", "network")
        path = reference.chain(lambda x, t: model(torch.from_numpy(x), torch.full(
            (x.shape[0],), t)).numpy(), x_T.numpy(), iter(()))
        error = float(np.max(np.abs(samples - path)))
        scale = max(1.0, float(np.max(np.abs(path))))
        checks.append(LawCheck("CONF-3", bool(torch.equal(first, other))
                               and error <= (bounds.rtol + bounds.atol) * scale,
                               f"max |peer − our chain| = {error:.2e} (float32 network "
                               f"bound {(bounds.rtol + bounds.atol) * scale:.1e}); seed-free: "
                               f"{bool(torch.equal(first, other))}"))
    law_mean, law_variance = exact_moments(reference.chain, schedule.alpha_bars.numpy(), mean,
                                           std, prediction_type, reference.max_draws)
    sample_mean, sample_variance = samples.mean(axis=0), samples.var(axis=0, ddof=1)
    mean_ok = np.abs(sample_mean - law_mean) <= STANDARD_ERRORS * np.sqrt(law_variance
                                                                          / num_samples)
    variance_ok = np.abs(sample_variance - law_variance) <= (
        STANDARD_ERRORS * law_variance * np.sqrt(2.0 / (num_samples - 1)))
    checks.append(LawCheck("CONF-4", bool(np.all(mean_ok) and np.all(variance_ok)),
                           f"sample mean {np.round(sample_mean, 4)}, variance "
                           f"{np.round(sample_variance, 4)}; our law {np.round(law_mean, 4)}, "
                           f"{np.round(law_variance, 4)}"))
    return ConformanceReport(tuple(checks))
