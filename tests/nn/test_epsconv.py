"""Laws NET-1 … NET-6: the torch eps nets equal their numpy twins (specs/nets.md)."""

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from specdiff.nn import EpsConvNet, EpsConvNetConfig, EpsResidualConvNet
from specdiff.nn.epsconv import ResidualConvBlock, same_conv
from specdiff.spec import (
    conv2d_same,
    eps_conv_net,
    eps_residual_conv_net,
    relu,
    residual_conv_block,
)
from specdiff.testing import (
    assert_close_to_spec,
    batched_timesteps,
    eps_batches,
    image_batches,
    nchw_shapes,
)
from specdiff.testing.nets import (
    eps_conv_net_configs,
    numpy_state_dict,
    randomized_module,
    to_spec_array,
)

DTYPES = [torch.float64, torch.float32]
seeds = st.integers(0, 2**32 - 1)
dtypes = pytest.mark.parametrize("dtype", DTYPES,
                                 ids=lambda dtype: str(dtype).removeprefix("torch."))


@st.composite
def net_cases(draw: st.DrawFn) -> tuple[EpsConvNetConfig, np.ndarray, np.ndarray, int]:
    """(config, x, t, parameter seed); x has the config's channels, 1×1 and odd sides included."""
    config = draw(eps_conv_net_configs())
    shape = draw(nchw_shapes(channels=(config.data_channels,)))
    x = draw(image_batches(tuple(shape)))
    t = draw(batched_timesteps(config.num_timesteps, shape.batch))
    return config, x, t, draw(seeds)


@pytest.mark.spec("NET-1")
@dtypes
@given(nchw_shapes(), st.integers(1, 3), st.sampled_from([1, 3, 5]), seeds)
def test_same_conv_equals_conv2d_same(device: str, dtype: torch.dtype, shape: tuple[int, ...],
                                      out_channels: int, kernel: int, seed: int) -> None:
    conv = randomized_module(same_conv(shape[1], out_channels, kernel), seed, dtype, device)
    x_values = np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape)
    x = torch.as_tensor(x_values, dtype=dtype, device=device)
    params = numpy_state_dict(conv)
    expected = conv2d_same(to_spec_array(x), params["weight"], params["bias"])
    assert_close_to_spec(conv(x), expected, "conv")


@pytest.mark.spec("NET-2")
@dtypes
@given(nchw_shapes().flatmap(lambda shape: eps_batches(tuple(shape))))
def test_torch_relu_equals_relu(device: str, dtype: torch.dtype, x: np.ndarray) -> None:
    x_torch = torch.as_tensor(x, dtype=dtype, device=device)
    np.testing.assert_array_equal(to_spec_array(torch.relu(x_torch)), relu(to_spec_array(x_torch)))


@pytest.mark.spec("NET-3")
@dtypes
@given(net_cases())
def test_eps_conv_net_equals_its_spec(
    device: str, dtype: torch.dtype, case: tuple[EpsConvNetConfig, np.ndarray, np.ndarray, int]
) -> None:
    config, x, t, seed = case
    net = randomized_module(EpsConvNet(config), seed, dtype, device)
    x_torch = torch.as_tensor(x, dtype=dtype, device=device)
    with torch.no_grad():
        actual = net(x_torch, torch.as_tensor(t, device=device))
    expected = eps_conv_net(numpy_state_dict(net), to_spec_array(x_torch), t / config.num_timesteps)
    assert_close_to_spec(actual, expected, "network")


@pytest.mark.spec("NET-4")
@dtypes
@given(nchw_shapes(), st.sampled_from([1, 3]), seeds)
def test_residual_conv_block_equals_its_spec(device: str, dtype: torch.dtype,
                                             shape: tuple[int, ...], kernel: int, seed: int
                                             ) -> None:
    block = randomized_module(ResidualConvBlock(shape[1], kernel), seed, dtype, device)
    x = torch.as_tensor(np.random.default_rng(seed).normal(size=shape), dtype=dtype, device=device)
    params = numpy_state_dict(block, prefix="block")
    with torch.no_grad():
        actual = block(x)
    assert_close_to_spec(actual, residual_conv_block(params, "block", to_spec_array(x)), "network")


@pytest.mark.spec("NET-5")
@dtypes
@given(net_cases())
def test_eps_residual_conv_net_equals_its_spec(
    device: str, dtype: torch.dtype, case: tuple[EpsConvNetConfig, np.ndarray, np.ndarray, int]
) -> None:
    config, x, t, seed = case
    net = randomized_module(EpsResidualConvNet(config), seed, dtype, device)
    x_torch = torch.as_tensor(x, dtype=dtype, device=device)
    with torch.no_grad():
        actual = net(x_torch, torch.as_tensor(t, device=device))
    expected = eps_residual_conv_net(numpy_state_dict(net), to_spec_array(x_torch),
                                     t / config.num_timesteps)
    assert_close_to_spec(actual, expected, "network")


@pytest.mark.spec("NET-6")
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("data_channels", 0, "data_channels must be an int >= 1, got 0"),
        ("hidden_channels", 0, "hidden_channels must be an int >= 1, got 0"),
        ("num_timesteps", 0, "num_timesteps must be an int >= 1, got 0"),
        ("kernel", 0, "kernel must be an int >= 1, got 0"),
        ("kernel", 4, "kernel must be an odd int >= 1, got 4"),
    ],
)
def test_config_rejects_out_of_range_fields(field: str, value: int, message: str) -> None:
    valid = EpsConvNetConfig(data_channels=1, hidden_channels=2)
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(valid, **{field: value})


@pytest.mark.spec("NET-6")
@pytest.mark.parametrize("net_class", [EpsConvNet, EpsResidualConvNet])
def test_forward_rejects_bad_inputs(net_class: type[torch.nn.Module]) -> None:
    net = net_class(EpsConvNetConfig(data_channels=2, hidden_channels=3, num_timesteps=10))
    x = torch.zeros(2, 2, 4, 4)
    with pytest.raises(ValueError, match=r"t must be in \[0, T\) = \[0, 10\), got 10"):
        net(x, torch.tensor([0, 10]))
    with pytest.raises(ValueError, match=r"t must be in \[0, T\) = \[0, 10\), got -1"):
        net(x, torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match="x must have 2 channels"):
        net(torch.zeros(2, 3, 4, 4), torch.tensor([0, 1]))
