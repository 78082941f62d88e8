"""Laws NET-7 … NET-16 and NET-20 on the numpy reference alone (specs/nets.md)."""

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from specdiff.spec import (
    attention,
    attention_weights,
    downsample,
    group_norm,
    res_block,
    silu,
    timestep_embedding,
    unet,
    upsample,
)
from specdiff.spec.unet import DOWNSAMPLE_PADDINGS
from specdiff.testing import assert_close_to_spec, batched_timesteps, eps_batches, nchw_shapes
from specdiff.testing.nets import random_parameters

seeds = st.integers(0, 2**32 - 1)
embedding_channels = st.sampled_from([4, 6, 8, 32, 128])


def conv_shapes(in_channels: int, out_channels: int, kernel: int) -> dict[str, tuple[int, ...]]:
    return {"weight": (out_channels, in_channels, kernel, kernel), "bias": (out_channels,)}


def prefixed(prefix: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{key}": shape for key, shape in shapes.items()}


def res_block_shapes(in_channels: int, out_channels: int, emb_channels: int
                     ) -> dict[str, tuple[int, ...]]:
    """The parameter shapes of ``specdiff.nn.unet_layers.ResBlock``, written out from NET-11."""
    shapes = {
        **prefixed("norm1", {"weight": (in_channels,), "bias": (in_channels,)}),
        **prefixed("conv1", conv_shapes(in_channels, out_channels, 3)),
        **prefixed("time_proj", {"weight": (out_channels, emb_channels), "bias": (out_channels,)}),
        **prefixed("norm2", {"weight": (out_channels,), "bias": (out_channels,)}),
        **prefixed("conv2", conv_shapes(out_channels, out_channels, 3)),
    }
    if in_channels != out_channels:
        shapes.update(prefixed("skip", conv_shapes(in_channels, out_channels, 1)))
    return prefixed("block", shapes)


def attention_shapes(channels: int) -> dict[str, tuple[int, ...]]:
    linear = {"weight": (channels, channels), "bias": (channels,)}
    return prefixed("attention", {
        **prefixed("norm", {"weight": (channels,), "bias": (channels,)}),
        **{key: shape for name in ("q", "k", "v", "proj_out")
           for key, shape in prefixed(name, linear).items()},
    })


@pytest.mark.spec("NET-7")
@given(embedding_channels.flatmap(lambda d: st.tuples(st.just(d), batched_timesteps(1000, 3))))
def test_timestep_embedding_pairs_lie_on_the_unit_circle(case: tuple[int, np.ndarray]) -> None:
    channels, t = case
    embedding = timestep_embedding(t, channels)
    half = channels // 2
    assert embedding.shape == (3, channels)
    assert np.all(np.abs(embedding) <= 1.0)
    assert_close_to_spec(embedding[:, :half] ** 2 + embedding[:, half:] ** 2,
                         np.ones((3, half)), "elementwise")


@pytest.mark.spec("NET-7")
@given(embedding_channels)
def test_timestep_embedding_at_t_0_is_sines_0_then_cosines_1(channels: int) -> None:
    embedding = timestep_embedding(np.zeros(1, dtype=np.int64), channels)
    half = channels // 2
    np.testing.assert_array_equal(embedding[0], np.r_[np.zeros(half), np.ones(half)])


@pytest.mark.spec("NET-7")
def test_timestep_embedding_frequencies_run_from_1_to_1_over_10000() -> None:
    # At t = 1 the sines are sin(f_i): f_0 = 1 and f_{d/2−1} = 1/10000.
    embedding = timestep_embedding(np.ones(1, dtype=np.int64), 8)
    assert_close_to_spec(embedding[0, [0, 3]], np.sin([1.0, 1e-4]), "elementwise")


@pytest.mark.spec("NET-8")
@given(nchw_shapes().flatmap(lambda shape: eps_batches(tuple(shape), bound=30.0)))
def test_silu_is_x_times_the_logistic_sigmoid(x: np.ndarray) -> None:
    assert_close_to_spec(silu(x), x / (1.0 + np.exp(-x)), "elementwise")


@pytest.mark.spec("NET-8")
def test_silu_does_not_overflow_at_extreme_inputs() -> None:
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(silu(np.array([-1e308, 0.0, 1e308])), [-0.0, 0.0, 1e308])


@st.composite
def grouped_batches(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    groups = draw(st.integers(1, 3))
    shape = draw(nchw_shapes(channels=(groups, 2 * groups, 3 * groups)))
    x = np.random.default_rng(draw(seeds)).normal(draw(st.floats(-5, 5)), draw(st.floats(0.1, 5)),
                                                   size=shape)
    return x, groups


@pytest.mark.spec("NET-10")
@given(grouped_batches())
def test_group_norm_gives_each_group_zero_mean_and_unit_variance(case: tuple[np.ndarray, int]
                                                                 ) -> None:
    x, groups = case
    channels, eps = x.shape[1], 1e-6
    y = group_norm(x, groups, np.ones(channels), np.zeros(channels), eps).reshape(
        x.shape[0], groups, -1)
    variance = x.reshape(x.shape[0], groups, -1).var(axis=2)
    assert_close_to_spec(y.mean(axis=2), np.zeros_like(variance), "reduction")
    assert_close_to_spec(y.var(axis=2), variance / (variance + eps), "reduction")


@pytest.mark.spec("NET-10")
@given(grouped_batches(), seeds)
def test_group_norm_applies_the_affine_map_per_channel(case: tuple[np.ndarray, int], seed: int
                                                       ) -> None:
    x, groups = case
    channels = x.shape[1]
    scale, shift = np.random.default_rng(seed).normal(size=(2, channels))
    plain = group_norm(x, groups, np.ones(channels), np.zeros(channels), 1e-6)
    expected = plain * scale[None, :, None, None] + shift[None, :, None, None]
    assert_close_to_spec(group_norm(x, groups, scale, shift, 1e-6), expected, "reduction")


@pytest.mark.spec("NET-11")
@given(nchw_shapes(channels=(2, 4)), seeds)
def test_res_block_with_a_zero_branch_is_the_identity(shape: tuple[int, ...], seed: int) -> None:
    channels = shape[1]
    params = random_parameters(res_block_shapes(channels, channels, 5), seed)
    params["block.conv2.weight"][:] = 0.0
    params["block.conv2.bias"][:] = 0.0
    rng = np.random.default_rng(seed)
    x, emb = rng.normal(size=shape), rng.normal(size=(shape[0], 5))
    np.testing.assert_array_equal(res_block(params, "block", x, emb, 2, 1e-6), x)


@pytest.mark.spec("NET-12")
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 9), st.integers(1, 4), seeds,
       st.floats(0.1, 30.0))
def test_attention_rows_are_probabilities(batch: int, heads: int, positions: int, depth: int,
                                          seed: int, spread: float) -> None:
    q, k = np.random.default_rng(seed).normal(0.0, spread, size=(2, batch, heads, positions,
                                                                 depth))
    weights = attention_weights(q, k)
    assert np.all((weights >= 0.0) & (weights <= 1.0))
    assert_close_to_spec(weights.sum(axis=-1), np.ones((batch, heads, positions)), "reduction")


@pytest.mark.spec("NET-13")
@given(nchw_shapes(channels=(2, 4)), st.sampled_from([1, 2]), seeds)
def test_attention_with_a_zero_output_projection_is_the_identity(shape: tuple[int, ...],
                                                                  heads: int, seed: int) -> None:
    params = random_parameters(attention_shapes(shape[1]), seed)
    params["attention.proj_out.weight"][:] = 0.0
    params["attention.proj_out.bias"][:] = 0.0
    x = np.random.default_rng(seed).normal(size=shape)
    np.testing.assert_array_equal(attention(params, "attention", x, heads, 2, 1e-6), x)


# Zero rows (top, bottom) and columns (left, right) each padding adds before a stride-2 conv.
EXPLICIT_PADS = {"symmetric": (1, 1), "bottom_right": (0, 1)}


def valid_stride_2_conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """y[n, o, i, j] = b[o] + Σ_{c,u,v} w[o, c, u, v]·x[n, c, 2i + u, 2j + v]: no padding."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
    out: np.ndarray = np.einsum("ocuv,nchwuv->nohw", weight, windows) + bias[None, :, None, None]
    return out


@pytest.mark.spec("NET-14")
@pytest.mark.parametrize("padding", DOWNSAMPLE_PADDINGS)
@given(nchw_shapes(max_side=9), seeds)
def test_downsample_is_a_stride_2_conv_of_the_explicitly_padded_input(
    padding: str, shape: tuple[int, ...], seed: int
) -> None:
    assume(padding == "symmetric" or min(shape[2:]) >= 2)
    params = random_parameters(prefixed("down.conv", conv_shapes(shape[1], shape[1], 3)), seed)
    x = np.random.default_rng(seed).normal(size=shape)
    before, after = EXPLICIT_PADS[padding]
    padded = np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)))
    expected = valid_stride_2_conv(padded, params["down.conv.weight"], params["down.conv.bias"])
    assert_close_to_spec(downsample(params, "down", x, padding), expected, "conv")


@pytest.mark.spec("NET-14")
@pytest.mark.parametrize("padding", DOWNSAMPLE_PADDINGS)
@given(nchw_shapes(max_side=9), seeds)
def test_downsample_halves_the_sides_rounding_up_or_down(padding: str, shape: tuple[int, ...],
                                                         seed: int) -> None:
    assume(padding == "symmetric" or min(shape[2:]) >= 2)
    params = random_parameters(prefixed("down.conv", conv_shapes(shape[1], shape[1], 3)), seed)
    x = np.random.default_rng(seed).normal(size=shape)
    batch, channels, height, width = shape
    rounding = 1 if padding == "symmetric" else 0  # ⌈side/2⌉, resp. ⌊side/2⌋
    assert downsample(params, "down", x, padding).shape == (
        batch, channels, (height + rounding) // 2, (width + rounding) // 2)


@pytest.mark.spec("NET-15")
@given(nchw_shapes(max_side=5), seeds)
def test_upsample_of_a_constant_image_with_a_centre_kernel_repeats_pixels(
    shape: tuple[int, ...], seed: int
) -> None:
    batch, channels, height, width = shape
    weight = np.zeros((channels, channels, 3, 3))
    weight[np.arange(channels), np.arange(channels), 1, 1] = 1.0  # the identity kernel (NET-1)
    params = {"up.conv.weight": weight, "up.conv.bias": np.zeros(channels)}
    x = np.random.default_rng(seed).normal(size=shape)
    up = upsample(params, "up", x)
    assert up.shape == (batch, channels, 2 * height, 2 * width)
    for row_offset in (0, 1):
        for col_offset in (0, 1):
            np.testing.assert_array_equal(up[:, :, row_offset::2, col_offset::2], x)


@pytest.mark.spec("NET-20")
def test_spec_layers_reject_arguments_outside_their_domain() -> None:
    x = np.zeros((1, 6, 2, 2))
    with pytest.raises(ValueError, match="groups must be an int >= 1 dividing channels = 6"):
        group_norm(x, 4, np.ones(6), np.zeros(6), 1e-6)
    with pytest.raises(ValueError, match="heads must be an int >= 1 dividing channels = 6"):
        attention(random_parameters(attention_shapes(6), 0), "attention", x, 4, 2, 1e-6)
    with pytest.raises(ValueError, match="channels must be an even int >= 4, got 5"):
        timestep_embedding(np.zeros(1, dtype=np.int64), 5)
    down = random_parameters(prefixed("down.conv", conv_shapes(6, 6, 3)), 0)
    with pytest.raises(ValueError, match=r"padding must be one of \('symmetric', 'bottom_right'\)"):
        downsample(down, "down", x, "valid")
    with pytest.raises(ValueError, match="x must have height and width >= 2 for bottom_right"):
        downsample(down, "down", np.zeros((1, 6, 1, 4)), "bottom_right")


@pytest.mark.spec("NET-20")
def test_spec_unet_rejects_bad_inputs() -> None:
    # Any object with UNetConfig's fields will do; the spec never imports the torch package.
    config = SimpleNamespace(image_size=8, data_channels=3, base_channels=8, channel_mults=(1, 2),
                             num_res_blocks=1, attention_resolutions=(4,), attention_heads=1,
                             norm_groups=4, norm_eps=1e-6, num_classes=None, num_timesteps=1000,
                             downsample_padding="symmetric")
    x, t = np.zeros((1, 3, 8, 8)), np.zeros(1, dtype=np.int64)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3, 8, 8\)"):
        unet({}, config, np.zeros((1, 3, 4, 4)), t)
    with pytest.raises(ValueError, match=r"t must be in \[0, T\) = \[0, 1000\), got 1000"):
        unet({}, config, x, np.array([1000]))
    with pytest.raises(ValueError, match="class_labels must be None for a model without"):
        unet({}, config, x, t, np.zeros(1, dtype=np.int64))
    conditional = SimpleNamespace(**{**vars(config), "num_classes": 3})
    with pytest.raises(ValueError, match=r"class_labels must be in \[0, num_classes\] = \[0, 3\]"):
        unet({}, conditional, x, t, np.array([4]))
