"""The models the CLI and examples train, by name, and their JSON records in checkpoints.

A record read back from a checkpoint may have been edited: building from one checks every key
and value first and names the key of the first that does not fit (CKPT-9).
"""

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from specdiff.diffusion import NoiseSchedule
from specdiff.nn import (
    EpsConvNet,
    EpsConvNetConfig,
    EpsResidualConvNet,
    SuperResolutionConfig,
    SuperResolutionUNet,
    UNet,
    UNetConfig,
)

ImageShape = tuple[int, int, int]


def _epsconv_config(shape: ImageShape, num_timesteps: int, num_classes: int | None
                    ) -> EpsConvNetConfig:
    if num_classes is not None:
        raise ValueError("model 'epsconv'/'residual' has no class conditioning; use a unet model")
    return EpsConvNetConfig(data_channels=shape[0], hidden_channels=64,
                            num_timesteps=num_timesteps)


def _unet_config(preset: UNetConfig) -> Callable[..., UNetConfig]:
    def build(shape: ImageShape, num_timesteps: int, num_classes: int | None,
              scale: int | None = None) -> UNetConfig:
        channels, height, width = shape
        if height != width:
            raise ValueError(f"the U-Net needs square images, got {height}x{width}")
        # Attention stays at the preset's levels, whatever the resolution those now have.
        attention_levels = [level for level in range(len(preset.channel_mults))
                            if preset.has_attention(level)]
        config = dataclasses.replace(
            preset, image_size=height, data_channels=channels, num_timesteps=num_timesteps,
            num_classes=num_classes,
            attention_resolutions=tuple(height >> level for level in attention_levels),
        )
        if scale is None:
            return config
        return SuperResolutionConfig.from_unet(config, scale)

    return build


# name → (config builder from the data, module class, config class)
MODELS: dict[str, tuple[Callable[..., Any], type[nn.Module], type[Any]]] = {
    "epsconv": (_epsconv_config, EpsConvNet, EpsConvNetConfig),
    "residual": (_epsconv_config, EpsResidualConvNet, EpsConvNetConfig),
    "unet-tiny": (_unet_config(UNetConfig.tiny()), UNet, UNetConfig),
    "unet-digits": (_unet_config(UNetConfig.digits()), UNet, UNetConfig),
    "unet-digits-large": (_unet_config(UNetConfig.digits_large()), UNet, UNetConfig),
    "unet-cifar10": (_unet_config(UNetConfig.ddpm_cifar10()), UNet, UNetConfig),
}
# Super-resolution twins (SR3): the same U-Nets reading [x_t ; upsampled low-res image].
MODELS |= {f"sr-{name}": (build, SuperResolutionUNet, SuperResolutionConfig)
           for name, (build, module, _) in list(MODELS.items()) if module is UNet}

# A U-Net recorded by its whole config, not as a preset sized for the data: what `specdiff
# import` writes, since an imported model's layout need not be one of the presets.
IMPORTED_UNET = "unet"
# record name → (module class, config class): every name a run's record may carry.
RECORDED_MODELS: dict[str, tuple[type[nn.Module], type[Any]]] = {
    **{name: (module, config) for name, (_, module, config) in MODELS.items()},
    IMPORTED_UNET: (UNet, UNetConfig),
}


def model_record(name: str, image_shape: ImageShape, num_timesteps: int,
                 num_classes: int | None = None, scale: int | None = None) -> dict[str, Any]:
    """The JSON-able description {"name", "config"} of model ``name`` sized for the data;
    ``scale`` is the upscaling factor of the super-resolution ("sr-…") models, and only theirs."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    build_config, module_class, _ = MODELS[name]
    if (scale is not None) != (module_class is SuperResolutionUNet):
        raise ValueError(f"scale must be given exactly for the super-resolution models "
                         f"(sr-…), got scale={scale} for {name!r}")
    arguments = (image_shape, num_timesteps, num_classes) + ((scale,) if scale else ())
    config = build_config(*arguments)
    return {"name": name, "config": _jsonable(dataclasses.asdict(config))}


def imported_unet_record(config: UNetConfig) -> dict[str, Any]:
    """The JSON-able description {"name": "unet", "config"} of a U-Net given by its config."""
    return {"name": IMPORTED_UNET, "config": _jsonable(dataclasses.asdict(config))}


# A record's integers (widths, counts, T) are at most this: a bigger one is an edit, and
# building it would allocate without bound.
MAX_RECORD_INT = 2**20


def build_model(record: Any, seed: int = 0) -> nn.Module:
    """The module a ``model_record`` describes, initialized from ``seed`` (TRAIN-4); torch's
    global random state is left as it was. A record that describes no model is a ValueError
    naming the key (``model.name``, ``model.config.FIELD``)."""
    config = model_config(record)
    module_class, _ = RECORDED_MODELS[record["name"]]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return module_class(config)


def model_config(record: Any) -> Any:
    """CKPT-9: the config object of a ``model_record``, every field checked by name."""
    if not isinstance(record, dict):
        raise ValueError(f"model must be an object {{\"name\", \"config\"}}, got {_short(record)}")
    name = record.get("name")
    if not isinstance(name, str) or name not in RECORDED_MODELS:
        raise ValueError(f"model.name must be one of {sorted(RECORDED_MODELS)}, got "
                         f"{_short(name)}")
    values = record.get("config")
    if not isinstance(values, dict):
        raise ValueError(f"model.config must be an object of {name}'s settings, got "
                         f"{_short(values)}")
    _, config_class = RECORDED_MODELS[name]
    fields = {field.name: field for field in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"model.config has fields {unknown} that {config_class.__name__} "
                         f"lacks")
    for field in fields.values():
        required = (field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING)
        if required and field.name not in values:
            raise ValueError(f"model.config.{field.name} is missing "
                             f"({config_class.__name__} needs it)")
    types = typing.get_type_hints(config_class)
    arguments = {key: _from_json(f"model.config.{key}", value, types[key])
                 for key, value in values.items()}
    try:
        return config_class(**arguments)
    except ValueError as error:
        raise ValueError(f"model.config: {error}") from None


def _from_json(key: str, value: Any, annotation: Any) -> Any:
    """``value`` read from JSON as the dataclass field type ``annotation`` wants, or a
    ValueError naming ``key``."""
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (
        typing.Union, types.UnionType) else (annotation,)
    if value is None and type(None) in options:
        return None
    wanted = next(option for option in options if option is not type(None))
    if wanted is bool and isinstance(value, bool):
        return value
    if wanted is str and isinstance(value, str):
        return value
    if wanted in (int, float) and _is_bounded_int(value):
        return value
    if wanted is float and isinstance(value, float):
        return value
    if typing.get_origin(wanted) is tuple and isinstance(value, list) and all(
            _is_bounded_int(item) for item in value):
        return tuple(value)
    ints = f"int in [-{MAX_RECORD_INT}, {MAX_RECORD_INT}]"
    described = {bool: "true or false", str: "a string", float: "a number", int: f"an {ints}"
                 }.get(wanted, f"a list, each an {ints}")
    raise ValueError(f"{key} must be {described}, got {_short(value)}")


def _is_bounded_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and abs(value) <= MAX_RECORD_INT)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in values.items()}


SCHEDULES = ("linear", "cosine", "sigmoid")


def schedule_record(kind: str = "linear", num_timesteps: int = 1000,
                    zero_terminal_snr: bool = False, **parameters: float) -> dict[str, Any]:
    """The JSON-able description of a NoiseSchedule: its constructor and arguments, and whether
    its β are rescaled to zero terminal SNR (SCHED-7)."""
    record: dict[str, Any] = {"kind": kind, "T": num_timesteps, **parameters}
    if zero_terminal_snr:
        record["zero_terminal_snr"] = True
    build_schedule(record)  # validate now, not when a checkpoint is loaded
    return record


def build_schedule(record: Any) -> NoiseSchedule:
    """The NoiseSchedule a ``schedule_record`` describes; a record that describes none is a
    ValueError naming the key (``schedule.kind``, ``schedule.T``, …)."""
    if not isinstance(record, dict):
        raise ValueError(f"schedule must be an object, got {_short(record)}")
    arguments = dict(record)
    kind = arguments.pop("kind", None)
    zero_terminal_snr = arguments.pop("zero_terminal_snr", False)
    if not isinstance(kind, str) or kind not in SCHEDULES:
        raise ValueError(f"schedule.kind must be one of {SCHEDULES}, got {_short(kind)}")
    if not isinstance(zero_terminal_snr, bool):
        raise ValueError(f"schedule.zero_terminal_snr must be true or false, got "
                         f"{_short(zero_terminal_snr)}")
    constructor: Callable[..., NoiseSchedule] = getattr(NoiseSchedule, kind)
    parameters = inspect.signature(constructor).parameters
    unknown = sorted(set(arguments) - set(parameters))
    if unknown:
        raise ValueError(f"schedule has parameters {unknown} that the {kind} schedule lacks; it "
                         f"takes {sorted(parameters)}")
    numbers = {name: _from_json(f"schedule.{name}", value, int) if name == "T"
               else float(_from_json(f"schedule.{name}", value, float))
               for name, value in arguments.items()}
    try:
        schedule = constructor(**numbers)
        if zero_terminal_snr:
            return NoiseSchedule.rescaled_to_zero_terminal_snr(schedule.betas)
    except ValueError as error:
        raise ValueError(f"schedule: {error}") from None
    return schedule
