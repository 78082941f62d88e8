"""Laws NET-1, NET-2, NET-4 and NET-6 on the numpy reference alone (specs/nets.md)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from specdiff.spec import conv2d_same, eps_conv_net, relu, residual_conv_block
from specdiff.testing import assert_close_to_spec, eps_batches, image_batches, nchw_shapes
from specdiff.testing.nets import random_parameters

seeds = st.integers(0, 2**32 - 1)


def conv2d_by_definition(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """NET-1 written as its sum, one output element at a time, with the padding as a bounds test."""
    batch, channels, height, width = x.shape
    out_channels, _, kernel, _ = weight.shape
    pad = kernel // 2
    out = np.zeros((batch, out_channels, height, width))
    for n, o, i, j in np.ndindex(batch, out_channels, height, width):
        total = bias[o]
        for c, u, v in np.ndindex(channels, kernel, kernel):
            row, col = i + u - pad, j + v - pad
            if 0 <= row < height and 0 <= col < width:
                total += weight[o, c, u, v] * x[n, c, row, col]
        out[n, o, i, j] = total
    return out


@st.composite
def conv_cases(draw: st.DrawFn, max_side: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shape = draw(nchw_shapes(max_batch=2, max_side=max_side))
    kernel = draw(st.sampled_from([1, 3, 5]))
    out_channels = draw(st.integers(1, 3))
    params = random_parameters(
        {"weight": (out_channels, shape.channels, kernel, kernel), "bias": (out_channels,)},
        draw(seeds),
    )
    return draw(image_batches(tuple(shape))), params["weight"], params["bias"]


@pytest.mark.spec("NET-1")
@given(conv_cases())
def test_conv2d_same_equals_its_sum_definition(case: tuple[np.ndarray, ...]) -> None:
    x, weight, bias = case
    assert_close_to_spec(conv2d_same(x, weight, bias), conv2d_by_definition(x, weight, bias),
                         "conv")


@pytest.mark.spec("NET-1")
@given(nchw_shapes().flatmap(lambda shape: image_batches(tuple(shape))),
       st.sampled_from([1, 3, 5]))
def test_conv2d_same_with_the_identity_kernel_returns_its_input(x: np.ndarray, kernel: int
                                                                ) -> None:
    channels = x.shape[1]
    weight = np.zeros((channels, channels, kernel, kernel))
    weight[np.arange(channels), np.arange(channels), kernel // 2, kernel // 2] = 1.0
    np.testing.assert_array_equal(conv2d_same(x, weight, np.zeros(channels)), x)


@pytest.mark.spec("NET-1")
@given(conv_cases(), seeds, st.floats(-3.0, 3.0))
def test_conv2d_same_is_linear_in_its_input_without_bias(
    case: tuple[np.ndarray, ...], seed: int, scalar: float
) -> None:
    x, weight, bias = case
    other = np.random.default_rng(seed).uniform(-1.0, 1.0, size=x.shape)
    zero = np.zeros_like(bias)
    combined = conv2d_same(x + scalar * other, weight, zero)
    separate = conv2d_same(x, weight, zero) + scalar * conv2d_same(other, weight, zero)
    assert_close_to_spec(combined, separate, "conv")


@pytest.mark.spec("NET-1")
@given(conv_cases(max_side=1))
def test_conv2d_same_on_a_1x1_image_uses_only_the_centre_tap(case: tuple[np.ndarray, ...]
                                                              ) -> None:
    x, weight, bias = case
    centre = weight.shape[-1] // 2
    expected = np.einsum("oc,nc->no", weight[:, :, centre, centre], x[:, :, 0, 0]) + bias
    assert_close_to_spec(conv2d_same(x, weight, bias), expected[:, :, None, None], "conv")


@pytest.mark.spec("NET-2")
@given(nchw_shapes().flatmap(lambda shape: eps_batches(tuple(shape))))
def test_relu_is_the_positive_part(x: np.ndarray) -> None:
    y = relu(x)
    assert np.all(y >= 0.0)
    np.testing.assert_array_equal(y[x >= 0], x[x >= 0])
    np.testing.assert_array_equal(relu(y), y)


@pytest.mark.spec("NET-4")
@given(nchw_shapes(), st.sampled_from([1, 3]), seeds)
def test_residual_block_with_a_zero_branch_is_the_identity(shape: tuple[int, ...], kernel: int,
                                                           seed: int) -> None:
    channels = shape[1]
    conv = {"weight": (channels, channels, kernel, kernel), "bias": (channels,)}
    params = random_parameters({f"block.{layer}.{key}": size for layer in ("conv1", "conv2")
                                for key, size in conv.items()}, seed)
    params["block.conv2.weight"][:] = 0.0
    params["block.conv2.bias"][:] = 0.0
    x = np.random.default_rng(seed).normal(size=shape)
    np.testing.assert_array_equal(residual_conv_block(params, "block", x), x)


@pytest.mark.spec("NET-6")
def test_conv2d_same_rejects_an_even_kernel() -> None:
    with pytest.raises(ValueError, match="odd kernel size k >= 1, got k = 2"):
        conv2d_same(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 2, 2)), np.zeros(1))


@pytest.mark.spec("NET-6")
def test_conv2d_same_rejects_non_finite_inputs() -> None:
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="x must be finite"):
        conv2d_same(x, np.zeros((1, 1, 3, 3)), np.zeros(1))


@pytest.mark.spec("NET-6")
def test_eps_conv_net_names_a_missing_parameter() -> None:
    with pytest.raises(ValueError, match=r"'convs\.0\.weight'"):
        eps_conv_net({}, np.zeros((1, 1, 2, 2)), 0.5)
