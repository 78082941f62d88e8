"""A run's noise schedule ↔ diffusers' scheduler config (specs/interop.md, INTEROP-8, INTEROP-9).

What a run's schedule is: its β table and the prediction type of its model. diffusers computes
the linear schedule and the improved-DDPM cosine (``squaredcos_cap_v2``, s = 0.008, max_beta =
0.999) by SCHED-1's and SCHED-4's formulas (INTEROP-4), so those are written by name, as
diffusers' own releases are. Every other β table (other cosine parameters, SCHED-5's sigmoid,
which is not diffusers' GeoDiff ``sigmoid``, zero terminal SNR) is written as ``trained_betas``,
with our schedule record beside it under ``_specdiff_schedule``: a private key that diffusers
keeps in the config and ignores, from which an import gets the record back.

No function here needs diffusers: configs are plain JSON mappings. A config read from a file
must have diffusers' defaults filled in first (``pipeline_folder`` does).
"""

import inspect
from collections.abc import Mapping
from typing import Any

from specdiff.diffusion import NoiseSchedule
from specdiff.spec.parameterization import PREDICTION_TYPES, PredictionType, require_prediction_type
from specdiff.train.models import build_schedule

SCHEDULE_KEY = "_specdiff_schedule"

# Scheduler settings that choose how to sample, not what the model is, each at the value
# specdiff's own samplers take: DDPM's fixed_small variance, x̂0 clipped to [-1, 1], leading
# timesteps (trailing for a zero-terminal-SNR schedule), no offset, ᾱ = 1 after DDIM's last step.
SAMPLING_SETTINGS: dict[str, Any] = {
    "variance_type": "fixed_small",
    "clip_sample": True,
    "clip_sample_range": 1.0,
    "thresholding": False,
    "timestep_spacing": "leading",
    "steps_offset": 0,
    "set_alpha_to_one": True,
}
# The DDPMScheduler arguments (set_alpha_to_one is DDIM's).
_DDPM_SAMPLING_SETTINGS = [key for key in SAMPLING_SETTINGS if key != "set_alpha_to_one"]


def scheduler_config_for(schedule: Mapping[str, Any], prediction_type: PredictionType
                         ) -> dict[str, Any]:
    """INTEROP-8: ``DDPMScheduler`` keyword arguments for a run's schedule record and prediction
    type: its β are the run's, by name (linear, squaredcos_cap_v2) or as ``trained_betas``; its
    sampling settings are those of specdiff's samplers."""
    require_prediction_type(prediction_type)
    table = build_schedule(dict(schedule))
    settings = {key: SAMPLING_SETTINGS[key] for key in _DDPM_SAMPLING_SETTINGS}
    if table.has_zero_terminal_snr:  # specdiff samples these with trailing timesteps (TS-1)
        settings["timestep_spacing"] = "trailing"
    settings |= {"num_train_timesteps": table.num_timesteps, "prediction_type": prediction_type,
                 "rescale_betas_zero_snr": False}
    named = _named_schedule(schedule)
    if named is not None:
        return {**settings, **named, "trained_betas": None}
    return {**settings, "trained_betas": table.betas.tolist(), SCHEDULE_KEY: dict(schedule)}


def _named_schedule(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """diffusers' name and arguments for ``record``'s schedule where diffusers' formula is ours
    (INTEROP-4), else None."""
    if record.get("zero_terminal_snr", False):
        return None  # diffusers rescales in float32: trained_betas carry our float64 rescale
    kind = record["kind"]
    constructor = getattr(NoiseSchedule, kind)
    defaults = {name: parameter.default
                for name, parameter in inspect.signature(constructor).parameters.items()}
    arguments = {**defaults, **{key: record[key] for key in record if key in defaults}}
    if kind == "linear":
        return {"beta_schedule": "linear", "beta_start": float(arguments["beta_start"]),
                "beta_end": float(arguments["beta_end"])}
    if kind == "cosine" and arguments["s"] == 0.008 and arguments["max_beta"] == 0.999:
        return {"beta_schedule": "squaredcos_cap_v2"}
    return None


def schedule_from_scheduler_config(config: Mapping[str, Any]
                                   ) -> tuple[dict[str, Any], PredictionType]:
    """INTEROP-9: the schedule record and prediction type of a DDPM/DDIM scheduler config (with
    diffusers' defaults filled in); a ValueError naming the key and its value for a schedule
    specdiff cannot represent."""
    prediction_type = config["prediction_type"]
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type = {prediction_type!r} is not one specdiff models "
                         f"({', '.join(PREDICTION_TYPES)})")
    record = _schedule_record(config)
    if build_schedule(record).has_zero_terminal_snr and prediction_type == "epsilon":
        raise ValueError("prediction_type = 'epsilon' with a zero-terminal-SNR schedule: an "
                         "eps-prediction says nothing about x0 at alpha_bar = 0 (PARAM-4)")
    return record, prediction_type


def _schedule_record(config: Mapping[str, Any]) -> dict[str, Any]:
    steps, rescale = config["num_train_timesteps"], config["rescale_betas_zero_snr"]
    if not isinstance(rescale, bool):
        raise ValueError(f"rescale_betas_zero_snr must be true or false, got {rescale!r:.60}")
    if config["trained_betas"] is not None:
        if rescale:
            raise ValueError("rescale_betas_zero_snr = true with trained_betas: diffusers "
                             "rescales the table in float32; specdiff takes trained_betas only "
                             "as they are")
        return _record_of_trained_betas(config)
    beta_schedule = config["beta_schedule"]
    if beta_schedule == "linear":
        record = {"kind": "linear", "T": steps, "beta_start": config["beta_start"],
                  "beta_end": config["beta_end"]}
    elif beta_schedule == "squaredcos_cap_v2":
        record = {"kind": "cosine", "T": steps}
    else:
        raise ValueError(f"beta_schedule = {beta_schedule!r:.60} has no schedule of specdiff "
                         f"(it has linear and squaredcos_cap_v2; diffusers' sigmoid is "
                         f"GeoDiff's, not SCHED-5's)")
    if rescale:
        record["zero_terminal_snr"] = True
    try:
        build_schedule(record)
    except ValueError as error:
        raise ValueError(f"num_train_timesteps, beta_start, beta_end = {steps!r:.20}, "
                         f"{config['beta_start']!r:.20}, {config['beta_end']!r:.20}: "
                         f"{error}") from None
    return record


def _record_of_trained_betas(config: Mapping[str, Any]) -> dict[str, Any]:
    """The record under SCHEDULE_KEY, if its β table is exactly ``trained_betas``."""
    betas, record = config["trained_betas"], config.get(SCHEDULE_KEY)
    if not isinstance(record, dict):
        raise ValueError(f"trained_betas: a table of betas that names no schedule of specdiff "
                         f"(it imports beta_schedule linear or squaredcos_cap_v2, and the "
                         f"trained_betas of folders it exported, which carry {SCHEDULE_KEY})")
    try:
        table = build_schedule(record).betas.tolist()
    except ValueError as error:
        raise ValueError(f"{SCHEDULE_KEY}: {error}") from None
    if not isinstance(betas, list) or len(betas) != len(table):
        raise ValueError(f"trained_betas must be a list of the {len(table)} betas of "
                         f"{SCHEDULE_KEY}, got {betas!r:.60}")
    if table != betas:
        first = next(t for t, (ours, theirs) in enumerate(zip(table, betas, strict=True))
                     if ours != theirs)
        raise ValueError(f"trained_betas differ from the betas of {SCHEDULE_KEY} = {record} "
                         f"(first at t = {first}: {betas[first]!r:.30} vs {table[first]!r})")
    if config["num_train_timesteps"] != len(table):
        raise ValueError(f"num_train_timesteps = {config['num_train_timesteps']!r:.20} differs "
                         f"from the {len(table)} trained_betas")
    return dict(record)


def sampling_differences(config: Mapping[str, Any], zero_terminal_snr: bool) -> list[str]:
    """The sampling settings of a scheduler config that differ from those of specdiff's
    samplers, as ``key = value`` texts (they choose how to sample, not what the model is)."""
    ours = {**SAMPLING_SETTINGS, "timestep_spacing": "trailing" if zero_terminal_snr
            else "leading"}
    return [f"{key} = {config[key]!r} (specdiff: {value!r})" for key, value in ours.items()
            if key in config and config[key] != value]
