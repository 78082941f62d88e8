"""U-Net weights to and from diffusers' ``UNet2DModel`` (specs/interop.md, INTEROP-1 … 3).

``diffusers_config_for(config)`` gives the ``UNet2DModel`` keyword arguments under which the
diffusers model computes the same function as ``UNet(config)``; the state-dict functions rename
keys (a table, ``_diffusers_keys``) and copy tensors unchanged, so a round trip is bit-exact.
Only :func:`unet_to_diffusers` needs diffusers installed; it is imported there, never at import
time of specdiff. Nothing here downloads: build the diffusers model from its config.
"""

import dataclasses
import importlib
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from specdiff.interop._diffusers_keys import diffusers_key
from specdiff.nn.unet import UNet
from specdiff.nn.unet_config import UNetConfig

DiffusersSource = nn.Module | Mapping[str, torch.Tensor]

# UNet2DModel arguments that are the same for every UNetConfig, each at the value that makes
# diffusers compute our laws (specs/nets.md).
_FIXED_ARGUMENTS: dict[str, Any] = {
    # NET-7: sines first, f_i = 10000^(−i/(d/2 − 1)), i.e. a frequency shift of 1.
    "time_embedding_type": "positional",
    "flip_sin_to_cos": False,
    "freq_shift": 1,
    "downsample_type": "conv",
    "upsample_type": "conv",
    # NET-11, NET-13, NET-16: SiLU; time added (not scale-shift); no rescaling; mid attention.
    "act_fn": "silu",
    "resnet_time_scale_shift": "default",
    "mid_block_scale_factor": 1,
    "center_input_sample": False,
    "add_attention": True,
    "attn_norm_num_groups": None,
    "class_embed_type": None,
}

# NET-14: diffusers pads bottom and right by 1 before a stride-2 conv when its
# downsample_padding is 0 (TF's "SAME", google/ddpm-cifar10-32), and every side by 1 when it is 1.
_DIFFUSERS_DOWNSAMPLE_PADDING = {"symmetric": 1, "bottom_right": 0}


def _attention_head_dim(config: UNetConfig) -> int | None:
    """diffusers has one head width for all attention blocks (None: one head of the block's
    width); ours has one head count, so more than one head needs equal widths wherever
    attention is (the attention levels and the middle)."""
    if config.attention_heads == 1:
        return None
    levels = range(len(config.channel_mults))
    widths = {config.level_channels(level) for level in levels if config.has_attention(level)}
    widths.add(config.level_channels(levels[-1]))
    head_widths = sorted(width // config.attention_heads for width in widths)
    if len(head_widths) > 1:
        raise ValueError(
            f"attention_heads must be 1, or divide every attention width into heads of one "
            f"width (diffusers' attention_head_dim is one number), got attention_heads = "
            f"{config.attention_heads} and head widths {head_widths}"
        )
    return head_widths[0]


def diffusers_config_for(config: UNetConfig) -> dict[str, Any]:
    """INTEROP-1: ``UNet2DModel(**diffusers_config_for(config))`` computes ``UNet(config)``'s
    function (eval mode) with the parameters ``state_dict_to_diffusers`` gives it."""
    if config.channel_mults[0] != 1:
        # diffusers' sinusoid has block_out_channels[0] entries, ours base_channels (NET-7).
        raise ValueError(f"channel_mults[0] must be 1 (diffusers sizes the time embedding by "
                         f"the first level's width, we by base_channels), got "
                         f"{config.channel_mults[0]}")
    levels = range(len(config.channel_mults))

    def block_type(level: int, direction: str) -> str:
        return f"{'Attn' if config.has_attention(level) else ''}{direction}Block2D"

    return {
        "sample_size": config.image_size,
        "in_channels": config.data_channels,
        "out_channels": config.data_channels,
        "block_out_channels": tuple(config.level_channels(level) for level in levels),
        "down_block_types": tuple(block_type(level, "Down") for level in levels),
        "up_block_types": tuple(block_type(level, "Up") for level in reversed(levels)),
        "layers_per_block": config.num_res_blocks,
        "attention_head_dim": _attention_head_dim(config),
        "norm_num_groups": config.norm_groups,
        "norm_eps": config.norm_eps,
        "dropout": config.dropout,
        # Our row num_classes is the null class of classifier-free guidance.
        "num_class_embeds": None if config.num_classes is None else config.num_classes + 1,
        "downsample_padding": _DIFFUSERS_DOWNSAMPLE_PADDING[config.downsample_padding],
        **_FIXED_ARGUMENTS,
    }


# UNet2DModel arguments that diffusers_config_for leaves at diffusers' defaults, at the values
# that keep the model ours: a time embedding 4·block_out_channels[0] wide (None says so too) and
# the attention middle level.
_DEFAULTED_ARGUMENTS: dict[str, Any] = {"time_embedding_dim": None,
                                        "mid_block_type": "UNetMidBlock2D"}
# Arguments a model's function does not depend on: dropout (training only; the function is the
# eval-mode one), num_train_timesteps (read by learned and Fourier time embeddings only).
_UNREAD_ARGUMENTS = ("dropout", "num_train_timesteps")
_BLOCK_TYPES = ("DownBlock2D", "AttnDownBlock2D")
# UNetConfig fields → the UNet2DModel argument each comes from, to name it in messages.
_SOURCE_ARGUMENTS = {
    "image_size": "sample_size", "data_channels": "in_channels",
    "base_channels": "block_out_channels[0]", "channel_mults": "block_out_channels",
    "num_res_blocks": "layers_per_block", "attention_resolutions": "down_block_types",
    "attention_heads": "attention_head_dim", "norm_groups": "norm_num_groups",
    "norm_eps": "norm_eps", "dropout": "dropout", "num_classes": "num_class_embeds",
}
# The largest integer read from a config: what a run's record may hold (MAX_RECORD_INT).
_MAX_INT = 2**20


def unet_config_from_diffusers(config: Mapping[str, Any], num_timesteps: int) -> UNetConfig:
    """INTEROP-10: the ``UNetConfig`` c with T = ``num_timesteps`` and ``config``'s dropout whose
    ``diffusers_config_for(c)`` is the ``UNet2DModel`` config ``config`` (every argument present,
    diffusers' defaults filled in) on every argument the function reads; else a ValueError
    naming the argument and its value."""
    widths = _ints(config, "block_out_channels")
    size = _int(config, "sample_size")
    attention = _attention_levels(config["down_block_types"], len(widths))
    base = widths[0]
    if any(width % base for width in widths):
        raise ValueError(f"block_out_channels = {widths}: each width must be a multiple of the "
                         f"first (ours are base_channels·channel_mults)")
    paddings = {value: name for name, value in _DIFFUSERS_DOWNSAMPLE_PADDING.items()}
    padding = config["downsample_padding"]
    if isinstance(padding, bool) or not isinstance(padding, int) or padding not in paddings:
        raise ValueError(f"downsample_padding = {padding!r:.20} must be 0 (bottom_right) or 1 "
                         f"(symmetric)")
    classes = config["num_class_embeds"]
    if classes is not None and _int(config, "num_class_embeds") < 2:
        raise ValueError(f"num_class_embeds = {classes} must be null or at least 2 (the classes "
                         f"and our null class)")
    head_dim = config["attention_head_dim"]
    mid_width = widths[-1]
    if head_dim is not None and mid_width % _int(config, "attention_head_dim"):
        raise ValueError(f"attention_head_dim = {head_dim} must divide the middle level's width "
                         f"{mid_width}")
    fields: dict[str, Any] = {
        "image_size": size, "data_channels": _int(config, "in_channels"), "base_channels": base,
        "channel_mults": tuple(width // base for width in widths),
        "num_res_blocks": _int(config, "layers_per_block"),
        "attention_resolutions": tuple(size >> level for level in attention),
        "attention_heads": 1 if head_dim is None else mid_width // head_dim,
        "dropout": _number(config, "dropout"), "norm_groups": _int(config, "norm_num_groups"),
        "norm_eps": _number(config, "norm_eps"),
        "num_classes": None if classes is None else classes - 1,
        "num_timesteps": num_timesteps, "downsample_padding": paddings[padding],
    }
    try:
        ours = UNetConfig(**fields)
        needed = {**diffusers_config_for(ours), **_DEFAULTED_ARGUMENTS}
    except (ValueError, TypeError) as error:
        field = next((name for name in _SOURCE_ARGUMENTS if str(error).startswith(name)), None)
        source = f"{_SOURCE_ARGUMENTS[field]}: " if field else ""
        raise ValueError(f"{source}no U-Net of ours has this config: {error}") from None
    # Other values of these mean the same model: diffusers reads a null time_embedding_dim as
    # 4·block_out_channels[0], and one head as wide as every attention block as a null head dim.
    one_wide_head = ours.attention_heads == 1 and {widths[level] for level in attention} <= {
        mid_width}
    equivalent = {"time_embedding_dim": (4 * base,),
                  "attention_head_dim": (mid_width,) if one_wide_head else ()}
    for key, value in needed.items():
        got = config.get(key)
        if key in _UNREAD_ARGUMENTS or _normalized(got) in equivalent.get(key, ()):
            continue
        if _normalized(got) != _normalized(value):
            raise ValueError(f"{key} = {got!r:.120} is not computed by our U-Net, which needs "
                             f"{value!r:.120} here")
    return ours


def _int(config: Mapping[str, Any], key: str) -> int:
    """``config[key]``, an int in [1, 2^20]."""
    value = config[key]
    if not _is_count(value):
        raise ValueError(f"{key} = {value!r:.60} must be an int in [1, 2^20]")
    count: int = value
    return count


def _ints(config: Mapping[str, Any], key: str) -> list[int]:
    """``config[key]``, a non-empty list of ints in [1, 2^20]."""
    value = config[key]
    if not (isinstance(value, list | tuple) and value and all(map(_is_count, value))):
        raise ValueError(f"{key} = {value!r:.60} must be a list of ints in [1, 2^20]")
    return list(value)


def _number(config: Mapping[str, Any], key: str) -> float:
    """``config[key]``, a finite number."""
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key} = {value!r:.60} must be a finite number")
    return float(value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _MAX_INT


def _attention_levels(block_types: Any, levels: int) -> list[int]:
    """The levels whose down block attends, from ``down_block_types``."""
    if not isinstance(block_types, list | tuple) or len(block_types) != levels:
        raise ValueError(f"down_block_types = {block_types!r:.120} must list one block per "
                         f"entry of block_out_channels ({levels})")
    for level, block_type in enumerate(block_types):
        if block_type not in _BLOCK_TYPES:
            raise ValueError(f"down_block_types[{level}] = {block_type!r:.60} is not a block our "
                             f"U-Net computes ({', '.join(_BLOCK_TYPES)})")
    return [level for level, block_type in enumerate(block_types)
            if block_type == "AttnDownBlock2D"]


def _key_table(config: UNetConfig) -> dict[str, tuple[str, torch.Size]]:
    """Our key → (diffusers key, shape), read off a parameter-free (meta) ``UNet(config)``."""
    with torch.device("meta"):
        shapes = {key: value.shape for key, value in UNet(config).state_dict().items()}
    num_levels = len(config.channel_mults)
    return {key: (diffusers_key(key, num_levels), shape) for key, shape in shapes.items()}


def _require_same_keys(name: str, given: set[str], expected: set[str]) -> None:
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    if missing or unexpected:
        raise ValueError(
            f"{name} must have exactly the keys of the config's layout: missing "
            f"{len(missing)} {missing[:5]}, unexpected {len(unexpected)} {unexpected[:5]}"
        )


def _normalized(value: Any) -> Any:
    # diffusers stores tuples from its config.json as lists.
    return tuple(value) if isinstance(value, list | tuple) else value


def _require_matching_config(model: nn.Module, config: UNetConfig) -> None:
    """A model carries its config: refuse one that computes another function (INTEROP-1)."""
    model_config = getattr(model, "config", {})
    # Dropout is a training option, and the function is the eval-mode one: google/ddpm-cifar10-32
    # says nothing of dropout (diffusers reads 0.0) though DDPM trained it with 0.1.
    mismatched = {
        key: (model_config.get(key), value)
        for key, value in diffusers_config_for(config).items()
        if key != "dropout" and _normalized(model_config.get(key)) != _normalized(value)
    }
    if mismatched:
        details = ", ".join(f"{key}: model {got!r}, needed {needed!r}"
                            for key, (got, needed) in mismatched.items())
        raise ValueError(
            f"the diffusers model's config must be diffusers_config_for(config) to compute the "
            f"same function, got {details} (a bare state dict is converted without this check)"
        )


def state_dict_from_diffusers(source: DiffusersSource, config: UNetConfig
                              ) -> dict[str, torch.Tensor]:
    """INTEROP-2: our ``state_dict`` for ``config`` from a ``UNet2DModel`` (whose config is
    checked against ``diffusers_config_for(config)``) or from its ``state_dict``. Tensors are
    copied with their dtype and device."""
    if isinstance(source, nn.Module):
        _require_matching_config(source, config)
        source = source.state_dict()
    table = _key_table(config)
    _require_same_keys("the diffusers state dict", set(source),
                       {theirs for theirs, _ in table.values()})
    converted = {}
    for ours, (theirs, shape) in table.items():
        tensor = source[theirs]
        if tensor.shape != shape:
            raise ValueError(f"{theirs} must have shape {tuple(shape)} (our {ours}), got "
                             f"{tuple(tensor.shape)}")
        converted[ours] = tensor.detach().clone()
    return converted


def state_dict_to_diffusers(unet: UNet) -> dict[str, torch.Tensor]:
    """INTEROP-2: ``unet``'s parameters under diffusers' ``UNet2DModel`` keys (copies)."""
    table = _key_table(unet.config)
    state = unet.state_dict()
    _require_same_keys("the U-Net's state dict", set(state), set(table))
    return {table[key][0]: value.detach().clone() for key, value in state.items()}


def _with_padding_of(model: nn.Module, config: UNetConfig) -> UNetConfig:
    """``config`` with the downsample padding of the diffusers ``model`` (NET-14)."""
    padding = getattr(model, "config", {}).get("downsample_padding")
    by_diffusers_value = {value: name for name, value in _DIFFUSERS_DOWNSAMPLE_PADDING.items()}
    if padding not in by_diffusers_value:
        raise ValueError(f"the diffusers model's downsample_padding must be 0 (bottom_right) or "
                         f"1 (symmetric), got {padding!r}")
    return dataclasses.replace(config, downsample_padding=by_diffusers_value[padding])


def unet_from_diffusers(source: DiffusersSource, config: UNetConfig) -> UNet:
    """INTEROP-1: ``UNet(config)`` holding the diffusers weights, in their dtype and device; from
    a model, config's downsample_padding is replaced by the model's (0 → bottom_right,
    1 → symmetric), so the result computes the model's function."""
    if isinstance(source, nn.Module):
        config = _with_padding_of(source, config)
    state = state_dict_from_diffusers(source, config)
    with torch.device("meta"):  # no random initialization of parameters about to be replaced
        unet = UNet(config)
    unet.load_state_dict(state, assign=True)
    return unet


def import_diffusers(purpose: str) -> Any:
    """The diffusers module, or an ImportError saying that ``purpose`` needs it and how to
    install it."""
    try:
        # importlib, so that the type checker sees the same Any with or without diffusers.
        return importlib.import_module("diffusers")
    except ImportError as error:
        raise ImportError(f"{purpose} needs diffusers: pip install specdiff[interop]") from error


def unet_to_diffusers(unet: UNet) -> nn.Module:
    """INTEROP-1: a diffusers ``UNet2DModel`` computing ``unet``'s function (needs diffusers)."""
    diffusers = import_diffusers("unet_to_diffusers")
    with torch.device("meta"):  # no random initialization of parameters about to be replaced
        model: nn.Module = diffusers.UNet2DModel(**diffusers_config_for(unet.config))
    # The copies keep our dtype and device (UNet2DModel has no buffers to move).
    model.load_state_dict(state_dict_to_diffusers(unet), assign=True)
    return model.train(unet.training)
