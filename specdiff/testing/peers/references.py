"""Our samplers as :class:`~specdiff.testing.conformance.Reference` s for the peer cases: the
timesteps each visits (TS-1, SIGMA-4) and its spec chain, named with the law that defines it."""

from collections.abc import Iterable
from typing import Any

import numpy as np

from specdiff import spec
from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.spec import dpmpp, karras, unipc
from specdiff.spec.parameterization import PredictionType
from specdiff.spec.sigma import sigma_grid_timesteps
from specdiff.spec.timesteps import Spacing
from specdiff.testing.conformance import Reference
from specdiff.testing.exact_law import (
    ddim_reference,
    ddpm_reference,
    dpm_solver_pp_reference,
    model_calls,
    pndm_reference,
)


def visited(schedule: NoiseSchedule, num_steps: int, spacing: Spacing) -> list[int]:
    """TS-1: the timesteps our samplers visit."""
    return [int(t) for t in spec.ddim_timesteps(schedule.num_timesteps, num_steps, spacing)]


def ddim(schedule: NoiseSchedule, steps: list[int], eta: float,
         prediction_type: PredictionType = "epsilon") -> Reference:
    """Our DDIM (REV-5; η = 1 is the DDPM posterior, REV-6) over ``steps``."""
    chain = ddim_reference(schedule.alpha_bars.numpy(), steps, eta=eta,
                           prediction_type=prediction_type)
    return Reference(steps, chain, deterministic=eta == 0.0, max_draws=len(steps))


def ddpm(schedule: NoiseSchedule, prediction_type: PredictionType = "epsilon") -> Reference:
    """Our DDPM ancestral sampler (REV-9), posterior variance β̃ ("fixed_small")."""
    chain = ddpm_reference(schedule.alpha_bars.numpy(), variance="fixed_small",
                           prediction_type=prediction_type)
    T = schedule.num_timesteps
    return Reference(list(range(T - 1, -1, -1)), chain, deterministic=False, max_draws=T)


def pndm(schedule: NoiseSchedule, steps: list[int],
         prediction_type: PredictionType = "epsilon") -> Reference:
    """Our PNDM (SOLV-3): its Heun warm-up evaluates the second timestep twice."""
    chain = pndm_reference(schedule.alpha_bars.numpy(), steps, prediction_type=prediction_type)
    return Reference([steps[0], steps[1], *steps[1:]], chain, deterministic=True)


def dpm_solver_pp(schedule: NoiseSchedule, steps: list[int],
                  prediction_type: PredictionType = "epsilon") -> Reference:
    """Our DPM-Solver++(2M) (SOLV-4/5)."""
    chain = dpm_solver_pp_reference(schedule.alpha_bars.numpy(), steps,
                                    prediction_type=prediction_type)
    return Reference(steps, chain, deterministic=True)


def karras_visited(schedule: NoiseSchedule, num_steps: int) -> list[int]:
    """SIGMA-4/TS-5: the timesteps our σ samplers visit on the Karras grid (ρ = 7)."""
    return [int(t) for t in sigma_grid_timesteps(schedule.alpha_bars.numpy(), num_steps,
                                                 "karras")]


# Our σ samplers (specs/sigma.md, KSAMP-7) by the name of k-diffusion's sampler they are, each as
# (spec chain, whether it draws); a chain takes (ᾱ, visited, model, x_T, noises, options).
_SIGMA_CHAINS: dict[str, tuple[Any, bool]] = {
    "euler": (lambda b, v, m, x, n, **o: karras.euler_chain(b, v, m, x, **o), False),
    "heun": (lambda b, v, m, x, n, **o: karras.heun_chain(b, v, m, x, **o), False),
    "lms": (lambda b, v, m, x, n, **o: karras.lms_chain(b, v, m, x, **o), False),
    "dpmpp_2m": (lambda b, v, m, x, n, **o: dpmpp.dpmpp_2m_chain(b, v, m, x, **o), False),
    "unipc": (lambda b, v, m, x, n, **o: unipc.unipc_chain(b, v, m, x, **o), False),
    "euler_ancestral": (karras.euler_ancestral_chain, True),
    "edm": (karras.edm_chain, True),
    "dpmpp_2m_sde": (dpmpp.dpmpp_2m_sde_chain, True),
    "dpmpp_2s_ancestral": (dpmpp.dpmpp_2s_ancestral_chain, True),
    "dpmpp_sde": (dpmpp.dpmpp_sde_chain, True),
}
_SIGMA_LAWS = {"euler": "Euler (KSAMP-1)", "heun": "Heun (KSAMP-2)", "lms": "LMS (KSAMP-13)",
               "dpmpp_2m": "DPM++ 2M (KSAMP-6)", "unipc": "UniPC-bh2 (KSAMP-15)",
               "euler_ancestral": "Euler ancestral (KSAMP-3)", "edm": "EDM (KSAMP-4/5)",
               "dpmpp_2m_sde": "DPM++ 2M SDE (KSAMP-12)",
               "dpmpp_2s_ancestral": "DPM++ 2S ancestral (KSAMP-14)",
               "dpmpp_sde": "DPM++ SDE (KSAMP-16)"}


def sigma_law(sampler: str) -> str:
    """The name and law of one of our σ samplers, for a case's "compared with"."""
    return _SIGMA_LAWS[sampler]


def sigma_sampler(schedule: NoiseSchedule, visited: list[int], sampler: str,
                  prediction_type: PredictionType = "epsilon", **options: Any) -> Reference:
    """Our σ sampler ``sampler`` (a key of :data:`_SIGMA_CHAINS`, e.g. "heun") on the table σ of
    ``visited`` (KSAMP-7), ``options`` as its chain takes them (eta, order, S_churn …); the
    model calls it makes (Heun, EDM and the two-stage samplers call it twice on most steps)."""
    step_chain, draws = _SIGMA_CHAINS[sampler]
    alpha_bars = schedule.alpha_bars.numpy()

    def chain(model: Any, x_T: np.ndarray, noises: Iterable[np.ndarray]) -> np.ndarray:
        result: np.ndarray = step_chain(alpha_bars, visited, model, x_T, noises,
                                        prediction_type=prediction_type, **options)
        return result

    deterministic = not draws or options.get("eta", 1.0) == 0.0
    return Reference(model_calls(chain), chain, deterministic=deterministic,
                     max_draws=0 if deterministic else 2 * len(visited))


def timesteps_only(steps: list[int]) -> Reference:
    """Only the timesteps (CONF-1): no sampler of ours is this peer's yet."""
    return Reference(steps, None, deterministic=False)
