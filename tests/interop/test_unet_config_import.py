"""Laws INTEROP-10 (a UNet2DModel config read back as our UNetConfig) and INTEROP-13 (configs
our U-Net does not compute, refused by argument) (specs/interop.md). diffusers models are built
on the meta device from their config: only the config they store is read."""

import dataclasses
import functools
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from specdiff.interop import diffusers_config_for
from specdiff.interop.diffusers import unet_config_from_diffusers
from specdiff.nn import UNetConfig
from specdiff.spec.unet import DOWNSAMPLE_PADDINGS
from specdiff.testing.nets import unet_configs
from tests.interop.test_diffusers import DDPM_CIFAR10_CHECKPOINT_CONFIG, expressible_in_diffusers

diffusers = pytest.importorskip("diffusers")


def stored_config(**arguments: Any) -> dict[str, Any]:
    """The config a UNet2DModel built with ``arguments`` stores: every argument, diffusers'
    defaults included."""
    with torch.device("meta"):
        return dict(diffusers.UNet2DModel(**arguments).config)


@st.composite
def configs(draw: st.DrawFn) -> UNetConfig:
    """Configs diffusers can express, with either padding and any dropout."""
    return dataclasses.replace(draw(unet_configs().filter(expressible_in_diffusers)),
                               downsample_padding=draw(st.sampled_from(DOWNSAMPLE_PADDINGS)),
                               dropout=draw(st.sampled_from([0.0, 0.1, 0.3])))


@pytest.mark.spec("INTEROP-10")
@settings(max_examples=20)  # an exact law on a key table; each example builds a UNet2DModel
@given(configs())
def test_the_diffusers_config_reads_back_as_our_config(config: UNetConfig) -> None:
    stored = stored_config(**diffusers_config_for(config))
    # Attention resolutions are a set: read back from the highest resolution down.
    expected = dataclasses.replace(config, attention_resolutions=tuple(
        sorted(config.attention_resolutions, reverse=True)))
    assert unet_config_from_diffusers(stored, config.num_timesteps) == expected


@pytest.mark.spec("INTEROP-10")
def test_the_released_ddpm_cifar10_config_is_the_preset_without_dropout() -> None:
    stored = stored_config(**{key: value for key, value in DDPM_CIFAR10_CHECKPOINT_CONFIG.items()
                              if not key.startswith("_")})
    assert unet_config_from_diffusers(stored, 1000) == dataclasses.replace(
        UNetConfig.ddpm_cifar10(), dropout=0.0)


@pytest.mark.spec("INTEROP-10")
def test_equivalent_spellings_of_the_same_model_are_read() -> None:
    config = UNetConfig.tiny()  # one head; attention at level 1 and the middle, both 16 wide
    arguments = diffusers_config_for(config)
    for spelling in ({"time_embedding_dim": 4 * config.base_channels},
                     {"attention_head_dim": 16}, {"num_train_timesteps": 1000}):
        stored = stored_config(**{**arguments, **spelling})
        assert unet_config_from_diffusers(stored, 1000) == config, spelling


@functools.cache
def tiny_stored_config() -> dict[str, Any]:
    return stored_config(**diffusers_config_for(UNetConfig.tiny()))


def tiny_with(**changes: Any) -> dict[str, Any]:
    """The stored config of UNetConfig.tiny()'s diffusers model, with changes."""
    return {**tiny_stored_config(), **changes}


REFUSED = {
    "cross-attention block": (
        {"down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"]},
        r"down_block_types\[1\] = 'CrossAttnDownBlock2D' is not a block our U-Net computes"),
    "blocks of another count": ({"down_block_types": ["DownBlock2D"]},
                                r"down_block_types = \['DownBlock2D'\] must list one block per"),
    "up blocks not the mirror": ({"up_block_types": ["UpBlock2D", "AttnUpBlock2D"]},
                                 r"up_block_types = \['UpBlock2D', 'AttnUpBlock2D'\] is not "
                                 r"computed by our U-Net"),
    "scale-shift time": ({"resnet_time_scale_shift": "scale_shift"},
                         r"resnet_time_scale_shift = 'scale_shift'"),
    "Fourier time": ({"time_embedding_type": "fourier"}, r"time_embedding_type = 'fourier'"),
    "cosines first": ({"flip_sin_to_cos": True}, r"flip_sin_to_cos = True"),
    "other activation": ({"act_fn": "gelu"}, r"act_fn = 'gelu'"),
    "learned variance": ({"out_channels": 6}, r"out_channels = 6 is not computed"),
    "no middle": ({"mid_block_type": None}, r"mid_block_type = None"),
    "wide time embedding": ({"time_embedding_dim": 64}, r"time_embedding_dim = 64"),
    "widths not multiples": ({"block_out_channels": [8, 12]},
                             r"block_out_channels = \[8, 12\]: each width must be a multiple"),
    "rectangular": ({"sample_size": [8, 16]}, r"sample_size = \[8, 16\] must be an int"),
    "no size": ({"sample_size": None}, r"sample_size = None must be an int"),
    "head width": ({"attention_head_dim": 3}, r"attention_head_dim = 3 must divide"),
    "no head width": ({"attention_head_dim": 0}, r"attention_head_dim = 0 must be an int"),
    "norm groups": ({"norm_num_groups": 3}, r"norm_num_groups: no U-Net of ours"),
    "one class row": ({"num_class_embeds": 1}, r"num_class_embeds = 1 must be null or at least"),
    "class embedding type": ({"num_class_embeds": 4, "class_embed_type": "timestep"},
                             r"class_embed_type = 'timestep'"),
    "padding 2": ({"downsample_padding": 2}, r"downsample_padding = 2 must be 0"),
    "padding a list": ({"downsample_padding": [1]}, r"downsample_padding = \[1\] must be 0"),
    "huge width": ({"block_out_channels": [2**21, 2**22]}, r"block_out_channels = .* must be a"
                   r" list of ints in \[1, 2\^20\]"),
    "text": ({"layers_per_block": "two"}, r"layers_per_block = 'two' must be an int"),
    "text for a number": ({"norm_eps": "1e-6"}, r"norm_eps = '1e-6' must be a finite number"),
}


@pytest.mark.spec("INTEROP-13")
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_configs_our_unet_does_not_compute_are_refused_by_argument(name: str) -> None:
    changes, message = REFUSED[name]
    with pytest.raises(ValueError, match=message):
        unet_config_from_diffusers(tiny_with(**changes), 1000)


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2, 2**21), st.floats(),
                        st.text(max_size=3), st.lists(st.integers(-1, 64), max_size=3),
                        st.just(["DownBlock2D", "AttnDownBlock2D"]), st.dictionaries(
                            st.text(max_size=2), st.integers(), max_size=1))


@pytest.mark.spec("INTEROP-13")
@given(st.dictionaries(st.sampled_from(sorted(diffusers_config_for(UNetConfig.tiny()))),
                       JSON_VALUES, min_size=1, max_size=3))
def test_any_edit_of_a_config_is_read_or_refused_naming_an_argument(
    changes: dict[str, Any],
) -> None:
    try:
        unet_config_from_diffusers(tiny_with(**changes), 1000)
    except ValueError as error:
        assert any(str(error).startswith(key) for key in tiny_stored_config()), error
