"""Laws INTEROP-1 … INTEROP-3: U-Net weights shared with diffusers' UNet2DModel (specs/interop.md).

diffusers models are built from their config (never downloaded) and filled with random weights.
"""

import dataclasses
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specdiff.interop import (
    diffusers_config_for,
    state_dict_from_diffusers,
    state_dict_to_diffusers,
    unet_from_diffusers,
    unet_to_diffusers,
)
from specdiff.nn import UNet, UNetConfig
from specdiff.spec.unet import DOWNSAMPLE_PADDINGS
from specdiff.testing import assert_close_to_spec, batched_timesteps
from specdiff.testing.nets import randomized_module, to_spec_array, unet_configs

diffusers = pytest.importorskip("diffusers")

seeds = st.integers(0, 2**32 - 1)
DDPM_CIFAR10_PARAMETERS = 35_746_307
# google/ddpm-cifar10-32's config.json as released (diffusers 0.0.4): its weights are DDPM's.
DDPM_CIFAR10_CHECKPOINT_CONFIG = {
    "_class_name": "UNet2DModel",
    "_diffusers_version": "0.0.4",
    "act_fn": "silu",
    "attention_head_dim": None,
    "block_out_channels": [128, 256, 256, 256],
    "center_input_sample": False,
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
    "downsample_padding": 0,
    "flip_sin_to_cos": False,
    "freq_shift": 1,
    "in_channels": 3,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-06,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 32,
    "time_embedding_type": "positional",
    "up_block_types": ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
}

Case = tuple[UNetConfig, np.ndarray, np.ndarray, np.ndarray | None, int]


def expressible_in_diffusers(config: UNetConfig) -> bool:
    try:
        diffusers_config_for(config)
    except ValueError:
        return False
    return True


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """(config, x, t, class_labels or None, parameter seed) for configs diffusers can express,
    with either downsample padding."""
    config = draw(unet_configs().filter(expressible_in_diffusers))
    config = dataclasses.replace(config,
                                 downsample_padding=draw(st.sampled_from(DOWNSAMPLE_PADDINGS)))
    batch = draw(st.integers(1, 2))
    shape = (batch, config.data_channels, config.image_size, config.image_size)
    x = np.random.default_rng(draw(seeds)).normal(size=shape)
    t = draw(batched_timesteps(config.num_timesteps, batch))
    labels = None
    if config.num_classes is not None and draw(st.booleans()):
        labels = draw(hnp.arrays(np.int64, batch, elements=st.integers(0, config.num_classes)))
    return config, x, t, labels, draw(seeds)


def random_diffusers_unet(config: UNetConfig, seed: int, dtype: torch.dtype, device: str
                          ) -> torch.nn.Module:
    """A UNet2DModel for ``config`` with every parameter random, in eval mode."""
    model: torch.nn.Module = diffusers.UNet2DModel(**diffusers_config_for(config))
    return randomized_module(model, seed, dtype, device)


def outputs(ours: UNet, theirs: torch.nn.Module, case: Case, dtype: torch.dtype, device: str
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Both models on the case; diffusers gets the null class explicitly where ours gets None."""
    config, x, t, labels, _ = case
    x_torch = torch.as_tensor(x, dtype=dtype, device=device)
    t_torch = torch.as_tensor(t, device=device)
    ours_labels = None if labels is None else torch.as_tensor(labels, device=device)
    their_labels = None
    if config.num_classes is not None:
        their_labels = (torch.full_like(t_torch, config.num_classes) if labels is None
                        else ours_labels)
    with torch.no_grad():
        return (ours(x_torch, t_torch, ours_labels),
                theirs(x_torch, t_torch, their_labels).sample)


@pytest.mark.spec("INTEROP-1")
@given(cases())
def test_converted_diffusers_unet_computes_the_same_function(device: str, case: Case) -> None:
    config, *_, seed = case
    theirs = random_diffusers_unet(config, seed, torch.float32, device)
    ours = unet_from_diffusers(theirs, config).eval()
    actual, expected = outputs(ours, theirs, case, torch.float32, device)
    assert_close_to_spec(actual, to_spec_array(expected), "network", dtype="float32")


@pytest.mark.spec("INTEROP-1")
@given(cases())
def test_float64_models_agree_to_float64_at_t_0_and_float32_elsewhere(device: str, case: Case
                                                                       ) -> None:
    config, x, t, labels, seed = case
    theirs = random_diffusers_unet(config, seed, torch.float64, device)
    ours = unet_from_diffusers(theirs, config).eval()
    actual, expected = outputs(ours, theirs, (config, x, 0 * t, labels, seed), torch.float64,
                               device)
    assert_close_to_spec(actual, to_spec_array(expected), "network")
    # diffusers computes the sinusoid in float32 whatever the model's dtype.
    actual, expected = outputs(ours, theirs, case, torch.float64, device)
    assert_close_to_spec(actual, to_spec_array(expected), "network", dtype="float32")


@pytest.mark.spec("INTEROP-1")
@given(cases())
def test_our_unet_converted_to_diffusers_computes_the_same_function(device: str, case: Case
                                                                    ) -> None:
    config, *_, seed = case
    ours = randomized_module(UNet(config), seed, torch.float32, device)
    theirs = unet_to_diffusers(ours)
    assert not theirs.training
    assert next(theirs.parameters()).device == next(ours.parameters()).device
    actual, expected = outputs(ours, theirs, case, torch.float32, device)
    assert_close_to_spec(actual, to_spec_array(expected), "network", dtype="float32")


@pytest.fixture(scope="module")
def cifar_models() -> tuple[UNet, torch.nn.Module]:
    """google/ddpm-cifar10-32's model built from its released config (not downloaded), with
    diffusers' own random initialization, and our DDPM CIFAR-10 preset converted from it."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        theirs = diffusers.UNet2DModel.from_config(DDPM_CIFAR10_CHECKPOINT_CONFIG).eval()
    return unet_from_diffusers(theirs, UNetConfig.ddpm_cifar10()).eval(), theirs


@pytest.mark.spec("INTEROP-1")
def test_ddpm_cifar10_preset_maps_to_the_released_checkpoints_config() -> None:
    ours = diffusers_config_for(UNetConfig.ddpm_cifar10())
    for key, value in DDPM_CIFAR10_CHECKPOINT_CONFIG.items():
        if not key.startswith("_"):
            assert ours[key] == (tuple(value) if isinstance(value, list) else value), key


@pytest.mark.spec("INTEROP-1", "INTEROP-2")
def test_ddpm_cifar10_layout_has_the_same_parameters_in_both(
    cifar_models: tuple[UNet, torch.nn.Module],
) -> None:
    ours, theirs = cifar_models
    assert ours.config.downsample_padding == "bottom_right"
    assert sum(p.numel() for p in theirs.parameters()) == DDPM_CIFAR10_PARAMETERS
    assert sum(p.numel() for p in ours.parameters()) == DDPM_CIFAR10_PARAMETERS
    their_shapes = {key: value.shape for key, value in theirs.state_dict().items()}
    assert {key: value.shape for key, value in state_dict_to_diffusers(ours).items()} == \
        their_shapes


@pytest.mark.spec("INTEROP-1")
def test_ddpm_cifar10_layout_computes_the_same_function(
    cifar_models: tuple[UNet, torch.nn.Module],
) -> None:
    ours, theirs = cifar_models
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(1, 3, 32, 32)),
                        dtype=torch.float32)
    t = torch.tensor([617])
    with torch.no_grad():
        actual, expected = ours(x, t), theirs(x, t).sample
    assert_close_to_spec(actual, to_spec_array(expected), "network", dtype="float32")


@pytest.mark.spec("INTEROP-2")
@settings(max_examples=10)  # an exact law on a key table: few layouts cover every key kind
@given(unet_configs().filter(expressible_in_diffusers), seeds,
       st.sampled_from([torch.float32, torch.float64]))
def test_round_trips_are_bit_exact_copies(config: UNetConfig, seed: int, dtype: torch.dtype
                                          ) -> None:
    ours = randomized_module(UNet(config), seed, dtype, "cpu")
    theirs = random_diffusers_unet(config, seed + 1, dtype, "cpu")
    back_to_ours = state_dict_from_diffusers(state_dict_to_diffusers(ours), config)
    back_to_theirs = state_dict_to_diffusers(unet_from_diffusers(theirs, config))
    for original, converted in ((ours.state_dict(), back_to_ours),
                                (theirs.state_dict(), back_to_theirs)):
        assert converted.keys() == original.keys()
        for key, value in original.items():
            assert converted[key].dtype == value.dtype
            assert torch.equal(converted[key], value), key
            assert converted[key].data_ptr() != value.data_ptr(), f"{key} is not a copy"


@pytest.mark.spec("INTEROP-1")
def test_diffusers_downsample_padding_0_is_bottom_right_and_1_is_symmetric() -> None:
    for padding in DOWNSAMPLE_PADDINGS:
        config = dataclasses.replace(UNetConfig.tiny(), downsample_padding=padding)
        theirs = diffusers.UNet2DModel(**diffusers_config_for(config))
        assert theirs.config.downsample_padding == {"symmetric": 1, "bottom_right": 0}[padding]
        # The model's padding wins over the config's: the result computes the model's function.
        for given_padding in DOWNSAMPLE_PADDINGS:
            given_config = dataclasses.replace(config, downsample_padding=given_padding)
            assert unet_from_diffusers(theirs, given_config).config.downsample_padding == padding


@pytest.mark.spec("INTEROP-3")
def test_state_dicts_of_models_with_another_downsample_padding_are_refused() -> None:
    config = UNetConfig.tiny()
    google_style = diffusers.UNet2DModel(**{**diffusers_config_for(config),
                                            "downsample_padding": 0})
    with pytest.raises(ValueError, match="downsample_padding: model 0, needed 1"):
        state_dict_from_diffusers(google_style, config)
    # A bare state dict carries no config: it converts under the config given.
    assert unet_from_diffusers(google_style.state_dict(), config).config == config
    padded_by_2 = diffusers.UNet2DModel(**{**diffusers_config_for(config),
                                           "downsample_padding": 2})
    with pytest.raises(ValueError, match=r"downsample_padding must be 0 \(bottom_right\) or 1 "
                                         r"\(symmetric\), got 2"):
        unet_from_diffusers(padded_by_2, config)


@pytest.mark.spec("INTEROP-3")
def test_wrong_keys_and_shapes_are_named() -> None:
    config = UNetConfig.tiny()
    state = state_dict_to_diffusers(UNet(config))
    missing = dict(state)
    del missing["conv_in.bias"]
    with pytest.raises(ValueError, match=r"missing 1 \['conv_in.bias'\]"):
        state_dict_from_diffusers(missing, config)
    with pytest.raises(ValueError, match=r"unexpected 1 \['extra'\]"):
        state_dict_from_diffusers({**state, "extra": torch.zeros(1)}, config)
    with pytest.raises(ValueError, match=r"conv_in\.bias must have shape"):
        state_dict_from_diffusers({**state, "conv_in.bias": torch.zeros(3)}, config)


@pytest.mark.spec("INTEROP-3")
def test_head_counts_diffusers_cannot_express_are_refused() -> None:
    config = UNetConfig(image_size=8, data_channels=1, base_channels=8, channel_mults=(1, 2),
                        num_res_blocks=1, attention_resolutions=(8,), attention_heads=2,
                        norm_groups=4)
    with pytest.raises(ValueError, match="attention_heads"):
        diffusers_config_for(config)


@pytest.mark.spec("INTEROP-3")
def test_building_a_diffusers_model_without_diffusers_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "diffusers", None)  # makes `import diffusers` fail
    with pytest.raises(ImportError, match=r"pip install specdiff\[interop\]"):
        unet_to_diffusers(UNet(UNetConfig.tiny()))


@pytest.mark.spec("INTEROP-3")
def test_a_first_level_wider_than_the_base_is_refused() -> None:
    # diffusers sizes the sinusoid and the time embedding from the first level's width; ours
    # from base_channels, so the two differ unless channel_mults[0] = 1.
    config = dataclasses.replace(UNetConfig.tiny(), channel_mults=(2, 2))
    with pytest.raises(ValueError, match=r"channel_mults\[0\] must be 1"):
        diffusers_config_for(config)
    with pytest.raises(ValueError, match=r"channel_mults\[0\] must be 1"):
        unet_to_diffusers(UNet(config))
