"""Our samplers as :class:`~specdiff.testing.conformance.Reference` s for the peer cases: the
timesteps each visits (TS-1) and its spec chain, named with the law that defines it."""

from specdiff import spec
from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.spec.parameterization import PredictionType
from specdiff.spec.timesteps import Spacing
from specdiff.testing.conformance import Reference
from specdiff.testing.exact_law import (
    ddim_reference,
    ddpm_reference,
    dpm_solver_pp_reference,
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


def timesteps_only(steps: list[int]) -> Reference:
    """Only the timesteps (CONF-1): no sampler of ours is this peer's yet."""
    return Reference(steps, None, deterministic=False)
