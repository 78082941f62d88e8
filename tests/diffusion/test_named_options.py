"""A named option outside its list is a ValueError naming the argument, with run-time type checks
on and off (SAMP-11): beartype must not turn it into a TypeError first."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import specdiff
from specdiff import diffusion as mirror
from specdiff import spec
from specdiff.diffusion import Diffusion, NoiseSchedule, parameterization
from specdiff.testing import GaussianOracle

BARS = spec.alpha_bars_linear(10, 1e-3, 0.2)
X = np.zeros((2, 1, 2, 2))
SCHEDULE = NoiseSchedule.linear(10, 1e-3, 0.2)
TENSOR = torch.zeros(2, 1, 2, 2)
ORACLE = GaussianOracle(SCHEDULE, 0.0, 1.0)
GENERATOR = torch.Generator()
SHAPE = (2, 1, 2, 2)

# (the law that validates the argument beside SAMP-11, or None where SAMP-11 is its law; argument
# name; call with one bad value): every public function with a named option.
CALLS: list[tuple[str | None, str, Callable[[Any], object]]] = [
    ("TS-4", "spacing", lambda bad: spec.ddim_timesteps(10, 2, bad)),
    ("REV-10", "variance", lambda bad: spec.ddpm_prev(BARS, 3, X, X, X, True, bad)),
    ("LIK-8", "variance", lambda bad: spec.vlb_term(BARS, 3, X, X, X, True, bad)),
    ("LIK-8", "prediction_type",
     lambda bad: spec.vlb_term(BARS, 3, X, X, X, True, "fixed_small", bad)),
    ("COND-13", "variance",
     lambda bad: spec.inpaint_step(BARS, 3, X, X, X, X + 1, X, X, True, bad)),
    ("PARAM-5", "prediction_type", lambda bad: spec.split_prediction(0.5, X, X, bad)),
    ("PARAM-5", "prediction_type", lambda bad: spec.prediction_target(0.5, X, X, bad)),
    ("PARAM-5", "prediction_type",
     lambda bad: spec.min_snr_weight(np.array([0.5, 0.5]), 5.0, bad)),
    ("REV-10", "variance",
     lambda bad: mirror.ddpm_step(SCHEDULE.alpha_bars, 3, TENSOR, TENSOR, TENSOR, True, bad)),
    ("LIK-8", "variance",
     lambda bad: mirror.vlb_term(SCHEDULE.alpha_bars, 3, TENSOR, TENSOR, TENSOR, True, bad)),
    ("LIK-8", "prediction_type",
     lambda bad: mirror.vlb_term(SCHEDULE.alpha_bars, 3, TENSOR, TENSOR, TENSOR, True,
                                 "fixed_small", bad)),
    ("PARAM-5", "prediction_type",
     lambda bad: parameterization.split_prediction(0.5, TENSOR, TENSOR, bad)),
    ("PARAM-5", "prediction_type",
     lambda bad: parameterization.prediction_target(0.5, TENSOR, TENSOR, bad)),
    ("PARAM-5", "prediction_type",
     lambda bad: parameterization.min_snr_weight(torch.tensor([0.5, 0.5]), 5.0, bad)),
    (None, "spacing", lambda bad: mirror.sample_ddim(ORACLE, SCHEDULE, SHAPE, steps=2,
                                                     spacing=bad, generator=GENERATOR)),
    (None, "spacing", lambda bad: mirror.sample_pndm(ORACLE, SCHEDULE, SHAPE, steps=2,
                                                     spacing=bad, generator=GENERATOR)),
    (None, "spacing", lambda bad: mirror.sample_dpm_solver_pp(ORACLE, SCHEDULE, SHAPE, steps=2,
                                                              spacing=bad, generator=GENERATOR)),
    (None, "variance", lambda bad: mirror.sample_ddpm(ORACLE, SCHEDULE, SHAPE, variance=bad,
                                                      generator=GENERATOR)),
    (None, "prediction_type", lambda bad: mirror.sample_ddim(ORACLE, SCHEDULE, SHAPE, steps=2,
                                                             prediction_type=bad,
                                                             generator=GENERATOR)),
    ("COND-13", "variance",
     lambda bad: mirror.sample_inpaint(ORACLE, SCHEDULE, TENSOR, TENSOR + 1, variance=bad,
                                       generator=GENERATOR)),
    ("LIK-8", "variance", lambda bad: mirror.bits_per_dim(Diffusion(ORACLE, SCHEDULE), TENSOR,
                                                          generator=GENERATOR, variance=bad)),
    (None, "prediction_type", lambda bad: Diffusion(ORACLE, SCHEDULE, bad)),
    (None, "sampler",
     lambda bad: Diffusion(ORACLE, SCHEDULE).generate(SHAPE, sampler=bad, seed=0)),
]


@pytest.mark.parametrize("checks", [True, False], ids=["checks-on", "checks-off"])
@pytest.mark.parametrize(("name", "call"), [
    pytest.param(name, call, id=f"{i}-{name}", marks=pytest.mark.spec(
        "SAMP-11", *([law] if law else [])))
    for i, (law, name, call) in enumerate(CALLS)])
def test_a_bad_named_option_is_a_value_error_with_checks_on_and_off(
    name: str, call: Callable[[Any], object], checks: bool
) -> None:
    for bad in ("no_such_option", "Leading "):
        with specdiff.typecheck(checks), pytest.raises(ValueError, match=rf"^{name} must be"):
            call(bad)
