"""Run specdiff's sampler laws against a third-party sampler (specs/conformance.md, CONF-1…4).

A peer is driven by our exact Gaussian oracle (a :data:`VPModel`: ``model(x_t, t)`` returns ε̂,
x̂0 or v̂ for the variance-preserving x_t at timestep t, one t per batch) and seen through one of
two adapters, which ``make_adapter(generator)`` returns fresh for every run, drawing from
``generator``:

- :class:`SchedulerAdapter`, for a library that exposes one step at a time: the timesteps it
  visits and ``step(model_output, t, x) -> x_prev``; the kit runs the loop.
- :class:`SamplerAdapter`, for a library whose sampler is a whole loop (k-diffusion's
  ``sample_*``, denoising-diffusion-pytorch's ``GaussianDiffusion``): ``sample(model, x_T) -> x_0``.

:func:`check_conformance` returns a :class:`ConformanceReport` saying which laws hold, with the
deviation behind each; :func:`conformance_tests` turns the same checks into one pytest test per
law. Adapters for diffusers, k-diffusion and denoising-diffusion-pytorch are in
:mod:`specdiff.testing.peers`.
"""

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.spec.parameterization import PredictionType
from specdiff.testing.exact_law import (
    Chain,
    GaussianPredictor,
    _output,  # the oracle's ε̂/x̂0/v̂ from (x̂0, ε̂), shared with GaussianPredictor
    exact_moments,
    gaussian_posterior,
)
from specdiff.testing.tolerance import tolerance_for

STANDARD_ERRORS = 6.0  # statistical laws: k = 6 (specs/README.md)

# The laws a peer is judged by, in the matrix's column order, with the column title.
LAWS: dict[str, str] = {
    "CONF-1": "timesteps visited",
    "CONF-2": "reproducible",
    "CONF-3": "follows our path from the same x_T",
    "CONF-4": "exact Gaussian law",
}

VPModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class SchedulerAdapter(Protocol):
    """A peer that steps: the kit calls the model at each of ``timesteps`` and then ``step``."""

    @property
    def timesteps(self) -> Sequence[int]: ...

    def step(self, model_output: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class SamplerAdapter(Protocol):
    """A peer that runs its own loop from x_T (variance-preserving units) and returns x_0."""

    def sample(self, model: VPModel, x_T: torch.Tensor) -> torch.Tensor: ...


MakeAdapter = Callable[[torch.Generator], SchedulerAdapter | SamplerAdapter]


@dataclass(frozen=True)
class LawCheck:
    law: str
    holds: bool
    detail: str
    deviation: str = ""  # the measured deviation, short, for the matrix cell of a failure


@dataclass(frozen=True)
class ConformanceReport:
    checks: tuple[LawCheck, ...]

    def holds(self, law: str) -> bool:
        return all(check.holds for check in self.checks if check.law == law)

    def cell(self, law: str) -> str:
        """"holds", "fails (deviation)" or "—" (the law does not apply to this peer)."""
        checks = [check for check in self.checks if check.law == law]
        if not checks:
            return "—"
        failures = [check.deviation for check in checks if not check.holds]
        return f"fails ({'; '.join(failures)})" if failures else "holds"

    def __str__(self) -> str:
        return "\n".join(f"{c.law:7} {'holds' if c.holds else 'FAILS':6} {c.detail}"
                         for c in self.checks)


@dataclass(frozen=True)
class Reference:
    """Our law for the peer: the model calls it makes (``visited``) and its spec chain; a
    ``chain`` of None (no sampler of ours is that peer yet) leaves CONF-3/4 out."""

    visited: Sequence[int]
    chain: Chain | None
    deterministic: bool  # the chain makes no draw: x_0 is a function of x_T
    max_draws: int = 0


def alpha_bar_between(alpha_bars: np.ndarray, t: float) -> float:
    """ᾱ at a fractional timestep: log σ, σ² = (1 − ᾱ)/ᾱ, linear in t between the neighbouring
    timesteps (the σ ↔ t map of diffusers' and k-diffusion's discrete schedules); ᾱ_t at an
    integer t."""
    low, high = math.floor(t), math.ceil(t)
    if low == high:
        return float(alpha_bars[low])
    log_sigma = np.log((1.0 - alpha_bars[[low, high]]) / alpha_bars[[low, high]]) / 2.0
    sigma_squared = np.exp(2.0 * ((high - t) * log_sigma[0] + (t - low) * log_sigma[1]))
    return float(1.0 / (1.0 + sigma_squared))


class _RecordingOracle:
    """The exact Gaussian oracle as a :data:`VPModel` that notes every call's timestep and the
    first input (the x_T the peer starts from). Peers that evaluate between timesteps (KDPM2's
    midpoints, Karras σ) get the oracle at :func:`alpha_bar_between`."""

    def __init__(self, predictor: GaussianPredictor) -> None:
        self.predictor = predictor
        self.calls: list[float] = []
        self.start: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        steps = {float(step) for step in torch.as_tensor(t).reshape(-1).tolist()}
        if len(steps) != 1:
            raise ValueError(f"t must hold one timestep for the whole batch, got {steps}")
        step = steps.pop()
        self.calls.append(step)
        if self.start is None:
            self.start = x.detach().clone()
        if step.is_integer():
            exact: torch.Tensor = self.predictor(x, torch.full((x.shape[0],), int(step)))
            return exact
        predictor = self.predictor
        alpha_bar = alpha_bar_between(predictor.schedule.alpha_bars.numpy(), step)
        shift, x0_slope, eps_slope = gaussian_posterior(alpha_bar, predictor.mean, predictor.std)
        offset = x.detach().to("cpu", torch.float64).numpy() - shift
        output = _output(predictor.prediction_type, alpha_bar,
                         predictor.mean + x0_slope * offset, eps_slope * offset)
        return torch.from_numpy(output).to(x.device, x.dtype)


@dataclass(frozen=True)
class _Run:
    x_0: torch.Tensor
    calls: list[float]
    start: torch.Tensor


def _run(make_adapter: MakeAdapter, predictor: GaussianPredictor, x_T: torch.Tensor,
         seed: int) -> _Run:
    adapter = make_adapter(torch.Generator().manual_seed(seed))
    model = _RecordingOracle(predictor)
    if isinstance(adapter, SamplerAdapter):
        x = adapter.sample(model, x_T.clone())
    else:
        x = x_T.clone()
        for t in adapter.timesteps:
            x = adapter.step(model(x, torch.full((x.shape[0],), int(t))), int(t), x)
    if model.start is None:
        raise ValueError("the adapter never called the model")
    return _Run(x.detach().to(torch.float64), model.calls, model.start.to(torch.float64))


def _timestep_list(calls: Sequence[float]) -> list[float | int]:
    return [int(t) if float(t).is_integer() else float(t) for t in calls]


def _first_difference(peer: list[float | int], ours: list[int]) -> str:
    for index, (theirs, mine) in enumerate(zip(peer, ours, strict=False)):
        if theirs != mine:
            return f"call {index + 1}: t = {theirs:g}, ours {mine}"
    return f"{len(peer)} calls, ours {len(ours)}"


def check_conformance(
    make_adapter: MakeAdapter,
    schedule: NoiseSchedule,
    reference: Reference | None,
    *,
    data_mean: np.ndarray,
    data_std: np.ndarray,
    prediction_type: PredictionType = "epsilon",
    num_samples: int = 4000,
    seed: int = 0,
) -> ConformanceReport:
    """CONF-1 timesteps, CONF-2 reproducible, CONF-3 path (deterministic references: for two
    generator seeds, the same x_0 as our chain from the x_T the peer started at, float32 network
    tolerance), CONF-4 Gaussian-oracle moments within k = 6 of our exact law. With no
    ``reference`` only CONF-2 applies; with a reference whose ``chain`` is None, CONF-1 and 2."""
    mean, std = np.asarray(data_mean, np.float64), np.asarray(data_std, np.float64)
    predictor = GaussianPredictor(schedule, mean, std, prediction_type)
    x_T = torch.randn((num_samples, mean.shape[0]), dtype=torch.float64,
                      generator=torch.Generator().manual_seed(seed))
    first = _run(make_adapter, predictor, x_T, seed + 1)
    again = _run(make_adapter, predictor, x_T, seed + 1)
    laws, checks = _applicable_laws(reference), []
    if reference is not None:
        calls, ours = _timestep_list(first.calls), [int(t) for t in reference.visited]
        checks.append(LawCheck("CONF-1", calls == ours,
                               f"peer calls the model at {calls}, our law at {ours}",
                               _first_difference(calls, ours)))
    reproduced = bool(torch.equal(first.x_0, again.x_0))
    checks.append(LawCheck("CONF-2", reproduced, "same seed, same x_T: bit-equal",
                           f"max deviation {float((first.x_0 - again.x_0).abs().max()):.1e}"))
    if reference is not None and reference.chain is not None:
        if "CONF-3" in laws:
            checks.append(_path_check(reference.chain, predictor,
                                      [first, _run(make_adapter, predictor, x_T, seed + 2)]))
        checks.append(_moment_check(reference.chain, reference.max_draws, schedule, mean, std,
                                    prediction_type, first.x_0.numpy()))
    return ConformanceReport(tuple(checks))


def _path_check(chain: Chain, predictor: GaussianPredictor, runs: list[_Run]) -> LawCheck:
    """CONF-3 over runs with different seeds: each x_0 is our chain from that run's x_T."""

    def numpy_model(x: np.ndarray, t: int) -> np.ndarray:
        output: np.ndarray = predictor(torch.from_numpy(x), torch.full((x.shape[0],), t)).numpy()
        return output

    bounds = tolerance_for("float32", "network")
    errors, limits = [], []
    for run in runs:
        path = chain(numpy_model, run.start.numpy(), iter(()))
        errors.append(float(np.max(np.abs(run.x_0.numpy() - path))))
        limits.append((bounds.rtol + bounds.atol) * max(1.0, float(np.max(np.abs(path)))))
    holds = all(error <= limit for error, limit in zip(errors, limits, strict=True))
    return LawCheck("CONF-3", holds, f"max |peer − our chain| = {max(errors):.2e} over "
                    f"{len(runs)} seeds (float32 network bound {max(limits):.1e})",
                    f"max deviation {max(errors):.1e}")


def _moment_check(chain: Chain, max_draws: int, schedule: NoiseSchedule, mean: np.ndarray,
                  std: np.ndarray, prediction_type: PredictionType, samples: np.ndarray
                  ) -> LawCheck:
    """CONF-4: sample mean and variance within k standard errors of the chain's exact law."""
    law_mean, law_variance = exact_moments(chain, schedule.alpha_bars.numpy(), mean, std,
                                           prediction_type, max_draws)
    num_samples = samples.shape[0]
    sample_mean, sample_variance = samples.mean(axis=0), samples.var(axis=0, ddof=1)
    mean_errors = np.abs(sample_mean - law_mean) / np.sqrt(law_variance / num_samples)
    variance_errors = np.abs(sample_variance - law_variance) / (
        law_variance * np.sqrt(2.0 / (num_samples - 1)))
    worst = float(max(np.max(mean_errors), np.max(variance_errors)))
    return LawCheck("CONF-4", worst <= STANDARD_ERRORS,
                    f"sample mean {np.round(sample_mean, 4)}, variance "
                    f"{np.round(sample_variance, 4)}; our law {np.round(law_mean, 4)}, "
                    f"{np.round(law_variance, 4)}",
                    f"max deviation {worst:.1f} standard errors")


def conformance_tests(
    make_adapter: MakeAdapter,
    schedule: NoiseSchedule,
    reference: Reference | None,
    *,
    data_mean: np.ndarray,
    data_std: np.ndarray,
    prediction_type: PredictionType = "epsilon",
    num_samples: int = 4000,
    seed: int = 0,
) -> Callable[..., None]:
    """One pytest test per law that applies, for a user's own adapter. Assign the result to a
    module-level name starting with ``test_`` (``test_my_sampler = conformance_tests(...)``):
    pytest collects it as ``test_my_sampler[CONF-1-timesteps-visited]`` etc. The peer runs once,
    on first use, and each test asserts one law of that report. Called directly, outside pytest,
    it asserts every law at once."""
    import pytest  # the dev extra; imported here so that specdiff.testing loads without it

    report: list[ConformanceReport] = []

    def run(law: str = "all") -> None:
        if not report:
            report.append(check_conformance(
                make_adapter, schedule, reference, data_mean=data_mean, data_std=data_std,
                prediction_type=prediction_type, num_samples=num_samples, seed=seed))
        failing = [c for c in report[0].checks if not c.holds and law in ("all", c.law)]
        assert not failing, "\n".join(f"{c.law} fails: {c.detail}" for c in failing)

    # pytest parametrizes over `law`, which it sees as required; the default serves direct calls.
    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("law", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str)])
    laws = _applicable_laws(reference)
    return pytest.mark.parametrize(
        "law", laws, ids=[f"{law}-{LAWS[law].replace(' ', '-')}" for law in laws])(run)


def _applicable_laws(reference: Reference | None) -> list[str]:
    """CONF-2 always; CONF-1 with our timesteps; CONF-4, and CONF-3 if deterministic, with our
    chain."""
    if reference is None:
        return ["CONF-2"]
    if reference.chain is None:
        return ["CONF-1", "CONF-2"]
    return ["CONF-1", "CONF-2", *(["CONF-3"] if reference.deterministic else []), "CONF-4"]
