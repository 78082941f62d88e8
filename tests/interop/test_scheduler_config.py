"""Laws INTEROP-8 (the scheduler a run exports), INTEROP-11 (the schedule read back) and
INTEROP-13 (scheduler configs specdiff refuses), against diffusers' DDPMScheduler
(specs/interop.md). Schedulers are built from their config, never downloaded."""

from typing import Any

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from specdiff.interop.diffusers_scheduler import (
    SCHEDULE_KEY,
    schedule_from_scheduler_config,
    scheduler_config_for,
)
from specdiff.spec.parameterization import PREDICTION_TYPES
from specdiff.testing import assert_close_to_spec
from specdiff.testing.records import schedule_records
from specdiff.testing.strategies import linear_schedules
from specdiff.train.models import build_schedule

diffusers = pytest.importorskip("diffusers")


@st.composite
def schedules_and_predictions(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A schedule record and a prediction type a run may have (PARAM-4: no ε with zero SNR)."""
    record = draw(schedule_records())
    zero_snr = record.get("zero_terminal_snr", False)
    return record, draw(st.sampled_from(["sample", "v_prediction"] if zero_snr
                                        else PREDICTION_TYPES))


def stored_config(scheduler: Any) -> dict[str, Any]:
    """The config as save_pretrained writes it and from_pretrained reads it back."""
    return dict(scheduler.config)


@pytest.mark.spec("INTEROP-8")
@given(schedules_and_predictions())
def test_the_exported_scheduler_has_the_runs_betas(case: tuple[dict[str, Any], str]) -> None:
    record, prediction_type = case
    ours = build_schedule(record)
    config = scheduler_config_for(record, prediction_type)
    scheduler = diffusers.DDPMScheduler(**config)
    assert scheduler.config.num_train_timesteps == ours.num_timesteps
    assert scheduler.config.prediction_type == prediction_type
    assert_close_to_spec(scheduler.betas, ours.betas.numpy(), "elementwise", dtype="float32")
    assert_close_to_spec(scheduler.alphas_cumprod, ours.alpha_bars.numpy(), "reduction",
                         dtype="float32")
    if config["trained_betas"] is not None:  # each float64 β rounded once
        assert torch.equal(scheduler.betas, ours.betas.to(torch.float32))
        assert scheduler.config[SCHEDULE_KEY] == record
    else:  # named: diffusers' own formula is ours (INTEROP-4)
        assert record["kind"] in ("linear", "cosine")
        assert not record.get("zero_terminal_snr", False)
    zero_snr = ours.has_zero_terminal_snr
    assert (scheduler.alphas_cumprod[-1] == 0) == zero_snr
    assert scheduler.config.timestep_spacing == ("trailing" if zero_snr else "leading")
    assert (scheduler.config.variance_type, scheduler.config.clip_sample,
            scheduler.config.clip_sample_range, scheduler.config.thresholding,
            scheduler.config.steps_offset) == ("fixed_small", True, 1.0, False, 0)


@pytest.mark.spec("INTEROP-8")
def test_ddpms_linear_schedule_exports_as_the_released_checkpoints_scheduler() -> None:
    config = scheduler_config_for({"kind": "linear", "T": 1000}, "epsilon")
    assert {key: config[key] for key in ("num_train_timesteps", "beta_schedule", "beta_start",
                                         "beta_end", "trained_betas")} == {
        "num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 0.0001,
        "beta_end": 0.02, "trained_betas": None}


@pytest.mark.spec("INTEROP-11")
@given(schedules_and_predictions())
def test_the_exported_scheduler_config_reads_back_as_the_schedule(
    case: tuple[dict[str, Any], str],
) -> None:
    record, prediction_type = case
    scheduler = diffusers.DDPMScheduler(**scheduler_config_for(record, prediction_type))
    back, back_prediction = schedule_from_scheduler_config(stored_config(scheduler))
    assert back_prediction == prediction_type
    original, read = build_schedule(record), build_schedule(back)
    assert torch.equal(read.betas, original.betas)
    assert torch.equal(read.alpha_bars, original.alpha_bars)


@pytest.mark.spec("INTEROP-11")
@given(linear_schedules(max_T=200, max_beta=0.5), st.sampled_from(["linear",
                                                                   "squaredcos_cap_v2"]),
       st.booleans(), st.sampled_from(PREDICTION_TYPES))
def test_diffusers_named_schedules_read_as_ours(
    linear: Any, name: str, rescale: bool, prediction_type: str,
) -> None:
    T, beta_start, beta_end = linear
    if rescale:  # PARAM-4, SCHED-7's domain, and where float32 can rescale (difference 16)
        assume(prediction_type != "epsilon" and T >= 2)
        plain = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=name,
                                        beta_start=beta_start, beta_end=beta_end)
        assume(1e-30 <= float(plain.alphas_cumprod[-1]) <= 0.5)
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=name,
                                        beta_start=beta_start, beta_end=beta_end,
                                        rescale_betas_zero_snr=rescale,
                                        prediction_type=prediction_type)
    record, back_prediction = schedule_from_scheduler_config(stored_config(scheduler))
    assert back_prediction == prediction_type
    assert record["kind"] == ("linear" if name == "linear" else "cosine")
    assert record.get("zero_terminal_snr", False) == rescale
    ours = build_schedule(record)
    assert_close_to_spec(scheduler.alphas_cumprod, ours.alpha_bars.numpy(), "reduction",
                         dtype="float32")
    if not rescale:  # diffusers rescales in float32 (difference 16): its ᾱ are compared
        assert_close_to_spec(scheduler.betas, ours.betas.numpy(), "elementwise",
                             dtype="float32")


def released_config(**changes: Any) -> dict[str, Any]:
    """google/ddpm-cifar10-32's scheduler config as DDPMScheduler stores it, with changes."""
    return {**stored_config(diffusers.DDPMScheduler(variance_type="fixed_large")), **changes}


def exported_config(**changes: Any) -> dict[str, Any]:
    """An exported sigmoid schedule (trained_betas), with changes."""
    config = scheduler_config_for({"kind": "sigmoid", "T": 8}, "epsilon")
    return {**stored_config(diffusers.DDPMScheduler(**config)), **changes}


def edited_betas() -> list[float]:
    betas: list[float] = exported_config()["trained_betas"]
    return [*betas[:3], betas[3] * 1.0000001, *betas[4:]]


REFUSED = {
    "scaled_linear": (lambda: released_config(beta_schedule="scaled_linear"),
                      r"beta_schedule = 'scaled_linear' has no schedule of specdiff"),
    "geodiff sigmoid": (lambda: released_config(beta_schedule="sigmoid"),
                        r"beta_schedule = 'sigmoid'.*GeoDiff"),
    "laplace": (lambda: released_config(beta_schedule="laplace"), r"beta_schedule = 'laplace'"),
    "foreign trained_betas": (lambda: released_config(trained_betas=[0.1] * 1000),
                              r"trained_betas: a table of betas that names no schedule"),
    "edited trained_betas": (lambda: exported_config(trained_betas=edited_betas()),
                             r"trained_betas differ from the betas of _specdiff_schedule .* "
                             r"\(first at t = 3"),
    "short trained_betas": (lambda: exported_config(trained_betas=[0.1]),
                            r"trained_betas must be a list of the 8 betas"),
    "rescaled trained_betas": (lambda: exported_config(rescale_betas_zero_snr=True),
                               r"rescale_betas_zero_snr = true with trained_betas"),
    "trained_betas of another T": (lambda: exported_config(num_train_timesteps=9),
                                   r"num_train_timesteps = 9 differs from the 8 trained_betas"),
    "edited record": (lambda: exported_config(**{SCHEDULE_KEY: {"kind": "sigmoid", "T": 0}}),
                      r"_specdiff_schedule: schedule: T must be"),
    "unknown prediction": (lambda: released_config(prediction_type="flow"),
                           r"prediction_type = 'flow' is not one specdiff models"),
    "eps at zero SNR": (lambda: released_config(rescale_betas_zero_snr=True),
                        r"prediction_type = 'epsilon' with a zero-terminal-SNR schedule"),
    "no timesteps": (lambda: released_config(num_train_timesteps=0),
                     r"num_train_timesteps, beta_start, beta_end = 0, 0\.0001, 0\.02"),
    "beta_end below beta_start": (lambda: released_config(beta_end=1e-5),
                                  r"beta_end = .*beta_end must be in"),
}


@pytest.mark.spec("INTEROP-13")
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_scheduler_configs_specdiff_cannot_represent_are_refused_by_key(name: str) -> None:
    make, message = REFUSED[name]
    with pytest.raises(ValueError, match=message):
        schedule_from_scheduler_config(make())


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2, 2**21), st.floats(),
                        st.sampled_from(["linear", "squaredcos_cap_v2", "sample", "x"]),
                        st.lists(st.floats(0.0, 1.0), max_size=3), st.dictionaries(
                            st.sampled_from(["kind", "T"]), st.integers(-1, 3), max_size=2))


@pytest.mark.spec("INTEROP-13")
@given(st.booleans(), st.dictionaries(
    st.sampled_from(["num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
                     "trained_betas", "prediction_type", "rescale_betas_zero_snr",
                     SCHEDULE_KEY]), JSON_VALUES, min_size=1, max_size=3))
def test_any_edit_of_a_scheduler_config_is_read_or_refused_naming_a_key(
    exported: bool, changes: dict[str, Any],
) -> None:
    config = {**(exported_config() if exported else released_config()), **changes}
    try:
        schedule_from_scheduler_config(config)
    except ValueError as error:
        assert any(str(error).startswith(key) for key in config), error
