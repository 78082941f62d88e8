"""Run specdiff's sampler laws against a third-party sampler (specs/conformance.md, CONF-1…4
and CONF-6).

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
law. Given the peer's stated order and a way to build it at n steps on any schedule (a
:class:`Convergence`), CONF-6 measures its order of convergence. Adapters for diffusers,
k-diffusion and denoising-diffusion-pytorch are in :mod:`specdiff.testing.peers`.
"""

import functools
import inspect
import itertools
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
    exact_flow_endpoint,
    exact_moments,
    gaussian_posterior,
)
from specdiff.testing.tolerance import tolerance_for

STANDARD_ERRORS = 6.0  # statistical laws: k = 6 (specs/README.md)
# CONF-6: the step counts, the x_T's per run, and the fraction of the stated order the measured
# log-log slope must reach (KSAMP-10's bounds are 0.8, 1.5 and 2.5 for orders 1, 2 and 3).
CONVERGENCE_STEPS = (16, 32, 64, 128)
CONVERGENCE_SAMPLES = 16
ORDER_FRACTION = 0.75

# The laws a peer is judged by, in the matrix's column order, with the column title.
LAWS: dict[str, str] = {
    "CONF-1": "timesteps visited",
    "CONF-2": "reproducible",
    "CONF-3": "follows our path from the same x_T",
    "CONF-4": "exact Gaussian law",
    "CONF-6": "converges at its order",
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
class Convergence:
    """CONF-6's input: the order the peer's authors state for its sampler, and
    ``at_steps(n, schedule)``, the same configuration with n steps on another β schedule (the
    convergence problem's, :func:`convergence_schedule`). The oracle's data is N(0, data_std²)
    per element: zero mean, so the error is the x_T-coefficient's alone (a constant part could
    cancel it at some n); σ_data near 1 keeps that coefficient's sign over the step counts (at
    σ_data ≤ 0.5 the DPM-Solver++ error changes sign between 16 and 64 steps). A peer that clips
    x̂0 at ±1 needs data that never reaches it (denoising-diffusion-pytorch: (0.35, 0.25))."""

    order: int
    at_steps: Callable[[int, NoiseSchedule], MakeAdapter]
    data_std: tuple[float, ...] = (1.0, 0.7)


@functools.cache
def convergence_schedule() -> NoiseSchedule:
    """CONF-6's schedule: T = 1025, λ = ½·log(ᾱ/(1 − ᾱ)) linear in t from ᾱ_0 = 0.99 to
    ᾱ_{T−1} = 4·10⁻⁵ (KSAMP-10's), so that every timestep spacing is a uniform grid in λ and
    refines everywhere as n grows (on T = 1000 linear the last steps keep a fixed λ-length)."""
    log_snr = np.linspace(0.5 * np.log(0.99 / 0.01), 0.5 * np.log(4e-5 / (1 - 4e-5)), 1025)
    alpha_bars = 1.0 / (1.0 + np.exp(-2.0 * log_snr))
    return NoiseSchedule.from_betas(
        1.0 - alpha_bars / np.concatenate([[1.0], alpha_bars[:-1]]))


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
    dtype: str = "float32",
    convergence: Convergence | None = None,
) -> ConformanceReport:
    """CONF-1 timesteps, CONF-2 reproducible, CONF-3 path (deterministic references: for two
    generator seeds, the same x_0 as our chain from the x_T the peer started at, within
    √(model calls) elementwise roundings of ``dtype``, the precision the peer computes in),
    CONF-4 Gaussian-oracle moments within k = 6 of our exact law, CONF-6 (with a
    ``convergence``) the order of convergence. With no ``reference`` only CONF-2 (and CONF-6)
    applies; with a reference whose ``chain`` is None, CONF-1 and 2 (and 6)."""
    mean, std = np.asarray(data_mean, np.float64), np.asarray(data_std, np.float64)
    predictor = GaussianPredictor(schedule, mean, std, prediction_type)
    x_T = torch.randn((num_samples, mean.shape[0]), dtype=torch.float64,
                      generator=torch.Generator().manual_seed(seed))
    first = _run(make_adapter, predictor, x_T, seed + 1)
    again = _run(make_adapter, predictor, x_T, seed + 1)
    laws, checks = _applicable_laws(reference, convergence), []
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
            checks.append(_path_check(reference.chain, predictor, dtype,
                                      [first, _run(make_adapter, predictor, x_T, seed + 2)]))
        checks.append(_moment_check(reference.chain, reference.max_draws, schedule, mean, std,
                                    prediction_type, first.x_0.numpy()))
    if convergence is not None:
        checks.append(_order_check(convergence, prediction_type, seed))
    return ConformanceReport(tuple(checks))


def _amplification(alpha_bars: np.ndarray, calls: Sequence[float]) -> float:
    """The largest √(ᾱ'/ᾱ) over consecutive model calls and the landing at ᾱ = 1: the factor by
    which a step scales up the rounding of the x̂0 (or x_ve = x/√ᾱ) it forms."""
    levels = [alpha_bar_between(alpha_bars, t) for t in calls] + [1.0]
    return max(1.0, *(math.sqrt(after / before) for before, after in itertools.pairwise(levels)))


def _path_check(chain: Chain, predictor: GaussianPredictor, dtype: str, runs: list[_Run]
                ) -> LawCheck:
    """CONF-3 over runs with different seeds: each x_0 is our chain from that run's x_T, within
    √m·A elementwise roundings of ``dtype``, rtol·|x| + atol·max(1, max|x|) at our path's
    magnitude: m model calls, each followed by one elementwise step whose rounding the step
    scales by at most A (:func:`_amplification`); the flow contracts after that, so independent
    roundings add like a random walk."""

    def numpy_model(x: np.ndarray, t: int) -> np.ndarray:
        output: np.ndarray = predictor(torch.from_numpy(x), torch.full((x.shape[0],), t)).numpy()
        return output

    bounds = tolerance_for(dtype, "elementwise")
    errors, limits, excess = [], [], []
    for run in runs:
        path = chain(numpy_model, run.start.numpy(), iter(()))
        error = np.abs(run.x_0.numpy() - path)
        growth = math.sqrt(len(run.calls)) * _amplification(
            predictor.schedule.alpha_bars.numpy(), run.calls)
        limit = growth * (bounds.rtol * np.abs(path)
                          + bounds.atol * max(1.0, float(np.max(np.abs(path)))))
        errors.append(float(np.max(error)))
        limits.append(float(np.max(limit)))
        excess.append(float(np.max(error - limit)))
    return LawCheck("CONF-3", max(excess) <= 0.0, f"max |peer − our chain| = {max(errors):.2e} "
                    f"over {len(runs)} seeds ({dtype} bound up to {max(limits):.1e})",
                    f"max deviation {max(errors):.1e}")


def _order_check(convergence: Convergence, prediction_type: PredictionType, seed: int
                 ) -> LawCheck:
    """CONF-6: on :func:`convergence_schedule` with the oracle of N(0, data_std²), at
    n ∈ CONVERGENCE_STEPS, the error of x_0 against :func:`exact_flow_endpoint` from the peer's
    first model call (its x and ᾱ) to the ᾱ of its last call has a least-squares log-log slope
    against n of at least ORDER_FRACTION × order."""
    schedule = convergence_schedule()
    alpha_bars = schedule.alpha_bars.numpy()
    std = np.array(convergence.data_std, np.float64)
    mean = np.zeros_like(std)
    predictor = GaussianPredictor(schedule, mean, std, prediction_type)
    x_T = torch.randn((CONVERGENCE_SAMPLES, mean.shape[0]), dtype=torch.float64,
                      generator=torch.Generator().manual_seed(seed))
    errors = []
    for steps in CONVERGENCE_STEPS:
        run = _run(convergence.at_steps(steps, schedule), predictor, x_T, seed + 1)
        exact = exact_flow_endpoint(alpha_bar_between(alpha_bars, run.calls[0]),
                                    alpha_bar_between(alpha_bars, run.calls[-1]),
                                    run.start.numpy(), mean, std)
        errors.append(float(np.max(np.abs(run.x_0.numpy() - exact))))
    logs = np.log(np.maximum(errors, np.finfo(np.float64).tiny))
    slope = float(-np.polyfit(np.log(CONVERGENCE_STEPS), logs, 1)[0])
    least = ORDER_FRACTION * convergence.order
    return LawCheck("CONF-6", slope >= least,
                    f"errors {', '.join(f'{e:.1e}' for e in errors)} at {CONVERGENCE_STEPS} "
                    f"steps: log-log slope {slope:.2f}, stated order {convergence.order} "
                    f"(holds from {least:.2f})", f"slope {slope:.2f}")


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
    dtype: str = "float32",
    convergence: Convergence | None = None,
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
                prediction_type=prediction_type, num_samples=num_samples, seed=seed,
                dtype=dtype, convergence=convergence))
        failing = [c for c in report[0].checks if not c.holds and law in ("all", c.law)]
        assert not failing, "\n".join(f"{c.law} fails: {c.detail}" for c in failing)

    # pytest parametrizes over `law`, which it sees as required; the default serves direct calls.
    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("law", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str)])
    laws = _applicable_laws(reference, convergence)
    return pytest.mark.parametrize(
        "law", laws, ids=[f"{law}-{LAWS[law].replace(' ', '-')}" for law in laws])(run)


def _applicable_laws(reference: Reference | None, convergence: Convergence | None
                     ) -> list[str]:
    """CONF-2 always; CONF-1 with our timesteps; CONF-4, and CONF-3 if deterministic, with our
    chain; CONF-6 with a stated order."""
    order = ["CONF-6"] if convergence is not None else []
    if reference is None:
        return ["CONF-2", *order]
    if reference.chain is None:
        return ["CONF-1", "CONF-2", *order]
    return ["CONF-1", "CONF-2", *(["CONF-3"] if reference.deterministic else []), "CONF-4",
            *order]
