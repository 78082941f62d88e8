"""The models the CLI and examples train, by name, and their JSON records in checkpoints."""

import dataclasses
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
    "unet-cifar10": (_unet_config(UNetConfig.ddpm_cifar10()), UNet, UNetConfig),
}
# Super-resolution twins (SR3): the same U-Nets reading [x_t ; upsampled low-res image].
MODELS |= {f"sr-{name}": (build, SuperResolutionUNet, SuperResolutionConfig)
           for name, (build, module, _) in list(MODELS.items()) if module is UNet}


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


def build_model(record: dict[str, Any], seed: int = 0) -> nn.Module:
    """The module a ``model_record`` describes, initialized from ``seed`` (TRAIN-4); torch's
    global random state is left as it was."""
    name = record.get("name")
    if name not in MODELS:
        raise ValueError(f"model record names an unknown model {name!r}; known: {sorted(MODELS)}")
    _, module_class, config_class = MODELS[name]
    fields = {field.name: field.type for field in dataclasses.fields(config_class)}
    values = {key: tuple(value) if isinstance(value, list) else value
              for key, value in record["config"].items()}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"model config has fields {unknown} that {config_class.__name__} lacks")
    config = config_class(**values)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return module_class(config)


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


def build_schedule(record: dict[str, Any]) -> NoiseSchedule:
    """The NoiseSchedule a ``schedule_record`` describes."""
    arguments = dict(record)
    kind = arguments.pop("kind", None)
    zero_terminal_snr = arguments.pop("zero_terminal_snr", False)
    if kind not in SCHEDULES:
        raise ValueError(f"schedule kind must be one of {SCHEDULES}, got {kind!r}")
    constructor: Callable[..., NoiseSchedule] = getattr(NoiseSchedule, kind)
    schedule = constructor(**arguments)
    if zero_terminal_snr:
        return NoiseSchedule.rescaled_to_zero_terminal_snr(schedule.betas)
    return schedule
