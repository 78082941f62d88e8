"""Laws NET-7 … NET-20: the torch U-Net and its layers equal their numpy twins (specs/nets.md)."""

import dataclasses
import functools

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch.nn import functional

from specdiff.nn import UNet, UNetConfig
from specdiff.nn.unet_layers import Attention, Downsample, ResBlock, Upsample, timestep_embedding
from specdiff.spec import (
    attention,
    downsample,
    group_norm,
    linear,
    res_block,
    silu,
    unet,
    upsample,
)
from specdiff.spec import timestep_embedding as spec_timestep_embedding
from specdiff.spec.unet import DOWNSAMPLE_PADDINGS
from specdiff.testing import assert_close_to_spec, batched_timesteps, eps_batches, nchw_shapes
from specdiff.testing.nets import numpy_state_dict, randomized_module, to_spec_array, unet_configs

seeds = st.integers(0, 2**32 - 1)
dtypes = pytest.mark.parametrize("dtype", [torch.float64, torch.float32],
                                 ids=lambda dtype: str(dtype).removeprefix("torch."))
paddings = pytest.mark.parametrize("padding", DOWNSAMPLE_PADDINGS)

UNetCase = tuple[UNetConfig, np.ndarray, np.ndarray, np.ndarray | None, int]


def normal_input(shape: tuple[int, ...], seed: int, dtype: torch.dtype, device: str
                 ) -> torch.Tensor:
    """A standard normal tensor from ``seed``: the scale of x_t and of hidden activations."""
    values = np.random.default_rng(seed).normal(size=shape)
    return torch.as_tensor(values, dtype=dtype, device=device)


def assume_torch_accepts_groups(shape: tuple[int, ...], groups: int) -> None:
    """torch's GroupNorm rejects groups of one value (NET-10's domain); the spec does not."""
    assume(shape[1] // groups * shape[2] * shape[3] > 1)


@st.composite
def unet_cases(draw: st.DrawFn) -> UNetCase:
    """(config, x, t, class_labels, parameter seed); labels are None or include the null class."""
    config = draw(unet_configs())
    batch = draw(st.integers(1, 2))
    shape = (batch, config.data_channels, config.image_size, config.image_size)
    x = np.random.default_rng(draw(seeds)).normal(size=shape)
    t = draw(batched_timesteps(config.num_timesteps, batch))
    labels = None
    if config.num_classes is not None and draw(st.booleans()):
        labels = draw(hnp.arrays(np.int64, batch, elements=st.integers(0, config.num_classes)))
    return config, x, t, labels, draw(seeds)


def run_unet(model: UNet, x: np.ndarray, t: np.ndarray, labels: np.ndarray | None,
             dtype: torch.dtype, device: str) -> tuple[torch.Tensor, np.ndarray]:
    """The model's output, and the float64 x it saw."""
    x_torch = torch.as_tensor(x, dtype=dtype, device=device)
    labels_torch = None if labels is None else torch.as_tensor(labels, device=device)
    with torch.no_grad():
        out = model(x_torch, torch.as_tensor(t, device=device), labels_torch)
    return out, to_spec_array(x_torch)


@pytest.mark.spec("NET-7")
@dtypes
@given(st.sampled_from([4, 6, 8, 128]), st.integers(1, 3).flatmap(
    lambda batch: batched_timesteps(1000, batch)))
def test_timestep_embedding_equals_its_spec(device: str, dtype: torch.dtype, channels: int,
                                            t: np.ndarray) -> None:
    actual = timestep_embedding(torch.as_tensor(t, device=device), channels, dtype)
    # The angle t·f is rounded to dtype before sin/cos: an error that grows with t (NET-7).
    scale = np.maximum(1.0, t)[:, None]
    assert_close_to_spec(actual, spec_timestep_embedding(t, channels), "elementwise", scale=scale)


@pytest.mark.spec("NET-8")
@dtypes
@given(nchw_shapes().flatmap(lambda shape: eps_batches(tuple(shape), bound=30.0)))
def test_torch_silu_equals_silu(device: str, dtype: torch.dtype, x: np.ndarray) -> None:
    x_torch = torch.as_tensor(x, dtype=dtype, device=device)
    assert_close_to_spec(functional.silu(x_torch), silu(to_spec_array(x_torch)), "elementwise")


@pytest.mark.spec("NET-9")
@dtypes
@given(st.integers(1, 3), st.integers(1, 40), st.integers(1, 9), seeds)
def test_torch_linear_equals_linear(device: str, dtype: torch.dtype, batch: int,
                                    in_features: int, out_features: int, seed: int) -> None:
    layer = randomized_module(torch.nn.Linear(in_features, out_features), seed, dtype, device)
    x = normal_input((batch, in_features), seed, dtype, device)
    params = numpy_state_dict(layer)
    with torch.no_grad():
        actual = layer(x)
    assert_close_to_spec(actual, linear(to_spec_array(x), params["weight"], params["bias"]),
                         "conv")


@pytest.mark.spec("NET-10")
@dtypes
@given(nchw_shapes(channels=(1, 2, 4, 6)), st.sampled_from([1, 2]), seeds)
def test_torch_group_norm_equals_group_norm(device: str, dtype: torch.dtype,
                                            shape: tuple[int, ...], groups: int, seed: int
                                            ) -> None:
    groups = groups if shape[1] % groups == 0 else 1
    assume_torch_accepts_groups(shape, groups)
    norm = randomized_module(torch.nn.GroupNorm(groups, shape[1], 1e-6), seed, dtype, device)
    x = normal_input(shape, seed, dtype, device) * 3.0 + 1.0
    params = numpy_state_dict(norm)
    with torch.no_grad():
        actual = norm(x)
    expected = group_norm(to_spec_array(x), groups, params["weight"], params["bias"], 1e-6)
    assert_close_to_spec(actual, expected, "reduction")


@pytest.mark.spec("NET-11")
@dtypes
@given(nchw_shapes(max_batch=2, channels=(2, 4), max_side=5), st.sampled_from([2, 4]), seeds)
def test_res_block_equals_its_spec(device: str, dtype: torch.dtype, shape: tuple[int, ...],
                                   out_channels: int, seed: int) -> None:
    assume_torch_accepts_groups((shape[0], min(shape[1], out_channels), *shape[2:]), 2)
    block = ResBlock(shape[1], out_channels, emb_channels=6, groups=2, eps=1e-6, dropout=0.5)
    block = randomized_module(block, seed, dtype, device)
    x = normal_input(shape, seed, dtype, device)
    emb = normal_input((shape[0], 6), seed + 1, dtype, device)
    with torch.no_grad():
        actual = block(x, emb)
    expected = res_block(numpy_state_dict(block, prefix="block"), "block", to_spec_array(x),
                         to_spec_array(emb), 2, 1e-6)
    assert_close_to_spec(actual, expected, "network")


@pytest.mark.spec("NET-12", "NET-13")
@dtypes
@given(nchw_shapes(max_batch=2, channels=(2, 4), max_side=5), st.sampled_from([1, 2]), seeds)
def test_attention_equals_its_spec(device: str, dtype: torch.dtype, shape: tuple[int, ...],
                                   heads: int, seed: int) -> None:
    assume_torch_accepts_groups(shape, 2)
    block = randomized_module(Attention(shape[1], heads, groups=2, eps=1e-6), seed, dtype, device)
    x = normal_input(shape, seed, dtype, device)
    with torch.no_grad():
        actual = block(x)
    expected = attention(numpy_state_dict(block, prefix="attention"), "attention",
                         to_spec_array(x), heads, 2, 1e-6)
    assert_close_to_spec(actual, expected, "network")


@pytest.mark.spec("NET-14")
@dtypes
@paddings
@given(nchw_shapes(max_side=9), seeds)
def test_downsample_equals_its_spec(device: str, dtype: torch.dtype, padding: str,
                                    shape: tuple[int, ...], seed: int) -> None:
    # bottom_right's domain: a padded side of 2 cannot hold the 3×3 window.
    assume(padding == "symmetric" or min(shape[2:]) >= 2)
    layer = randomized_module(Downsample(shape[1], padding), seed, dtype, device)
    x = normal_input(shape, seed, dtype, device)
    with torch.no_grad():
        actual = layer(x)
    expected = downsample(numpy_state_dict(layer, prefix="down"), "down", to_spec_array(x),
                          padding)
    assert_close_to_spec(actual, expected, "conv")


@pytest.mark.spec("NET-14")
def test_both_downsample_paddings_have_the_same_parameters() -> None:
    for padding in DOWNSAMPLE_PADDINGS:
        shapes = {key: value.shape for key, value in Downsample(4, padding).state_dict().items()}
        assert shapes == {"conv.weight": (4, 4, 3, 3), "conv.bias": (4,)}, padding


@pytest.mark.spec("NET-15")
@dtypes
@given(nchw_shapes(max_side=5), seeds)
def test_upsample_equals_its_spec(device: str, dtype: torch.dtype, shape: tuple[int, ...],
                                  seed: int) -> None:
    layer = randomized_module(Upsample(shape[1]), seed, dtype, device)
    x = normal_input(shape, seed, dtype, device)
    with torch.no_grad():
        actual = layer(x)
    expected = upsample(numpy_state_dict(layer, prefix="up"), "up", to_spec_array(x))
    assert_close_to_spec(actual, expected, "conv")


@pytest.mark.spec("NET-16")
@dtypes
@paddings
@given(unet_cases())
def test_unet_equals_its_spec(device: str, dtype: torch.dtype, padding: str, case: UNetCase
                              ) -> None:
    config, x, t, labels, seed = case
    config = dataclasses.replace(config, downsample_padding=padding)
    model = randomized_module(UNet(config), seed, dtype, device)
    actual, x_seen = run_unet(model, x, t, labels, dtype, device)
    assert_close_to_spec(actual, unet(numpy_state_dict(model), config, x_seen, t, labels),
                         "network")


@pytest.mark.spec("NET-16")
def test_unet_without_labels_conditions_on_the_null_class(device: str) -> None:
    config = dataclasses.replace(UNetConfig.tiny(), num_classes=4)
    model = randomized_module(UNet(config), 0, torch.float32, device)
    x, t = normal_input((3, 3, 8, 8), 0, torch.float32, device), torch.tensor([0, 5, 999])
    null = torch.full((3,), 4, device=device)
    with torch.no_grad():
        torch.testing.assert_close(model(x, t.to(device)), model(x, t.to(device), null),
                                   rtol=0.0, atol=0.0)


@pytest.mark.spec("NET-17")
def test_ddpm_cifar10_preset_has_the_papers_35_7m_parameters() -> None:
    count = sum(parameter.numel() for parameter in UNet(UNetConfig.ddpm_cifar10()).parameters())
    assert count == 35_746_307
    assert abs(count - 35.7e6) <= 0.01 * 35.7e6
    assert UNetConfig.ddpm_cifar10().downsample_padding == "bottom_right"  # as the paper's code


@pytest.mark.spec("NET-18")
def test_gradient_checkpointing_gives_the_same_outputs_and_gradients(device: str) -> None:
    config = dataclasses.replace(UNetConfig.tiny(), dropout=0.3, num_classes=2)
    plain = randomized_module(UNet(config), 0, torch.float64, device).train()
    checkpointed = UNet(dataclasses.replace(config, gradient_checkpointing=True))
    checkpointed = checkpointed.to(device, torch.float64).train()
    checkpointed.load_state_dict(plain.state_dict())
    results = []
    for model in (plain, checkpointed):
        x = normal_input((2, 3, 8, 8), 0, torch.float64, device).requires_grad_()
        torch.manual_seed(1)  # the same dropout masks in both runs
        out = model(x, torch.tensor([3, 900], device=device), torch.tensor([0, 2], device=device))
        (out * normal_input(out.shape, 1, torch.float64, device)).sum().backward()
        grads = {name: p.grad for name, p in model.named_parameters()}
        results.append((out, x.grad, grads))
    (out_a, x_grad_a, grads_a), (out_b, x_grad_b, grads_b) = results
    assert x_grad_a is not None and x_grad_b is not None
    assert_close_to_spec(out_b, to_spec_array(out_a), "network")
    assert_close_to_spec(x_grad_b, to_spec_array(x_grad_a), "network")
    for name, grad in grads_a.items():
        assert grad is not None and grads_b[name] is not None, name
        assert_close_to_spec(grads_b[name], to_spec_array(grad), "network")


@pytest.mark.spec("NET-19")
@given(unet_cases())
def test_unet_under_bfloat16_autocast_is_close_to_its_spec(device: str, case: UNetCase) -> None:
    config, x, t, labels, seed = case
    model = randomized_module(UNet(config), seed, torch.float32, device)
    with torch.autocast(device_type=device, dtype=torch.bfloat16):
        actual, x_seen = run_unet(model, x, t, labels, torch.float32, device)
    expected = unet(numpy_state_dict(model), config, x_seen, t, labels)
    assert_close_to_spec(actual, expected, "network", dtype="bfloat16")


def compiled_unet_case(backend: str) -> None:
    """A compiled conditional U-Net, traced as one graph (fullgraph), equals the spec."""
    config = dataclasses.replace(UNetConfig.tiny(), num_classes=3)
    model = randomized_module(UNet(config), 0, torch.float32, "cpu")
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    x, t, labels = np.random.default_rng(0).normal(size=(2, 3, 8, 8)), np.array([0, 999]), None
    actual, x_seen = run_unet(compiled, x, t, labels, torch.float32, "cpu")
    assert_close_to_spec(actual, unet(numpy_state_dict(model), config, x_seen, t, labels),
                         "network")


@pytest.mark.spec("NET-19")
def test_unet_traces_to_one_graph_that_equals_its_spec() -> None:
    # aot_eager runs dynamo and AOT autograd, the stages the model's code must get through,
    # without generating C++ (which takes 40–70 s on a 2-core machine; the slow test below).
    compiled_unet_case("aot_eager")


@functools.cache
def compiler_problem() -> str | None:
    """Why torch.compile cannot build kernels here (no C++ compiler, …), or None if it can."""
    try:
        torch.compile(lambda a: a * 2.0 + 1.0)(torch.ones(3))
    except Exception as error:  # any failure on a one-line function is the platform's
        return f"{type(error).__name__}: {error}"[:300]
    return None


@pytest.mark.spec("NET-19")
@pytest.mark.slow
def test_inductor_compiled_unet_equals_its_spec() -> None:
    if (problem := compiler_problem()) is not None:
        pytest.skip(f"torch.compile does not work on this platform: {problem}")
    compiled_unet_case("inductor")


@pytest.mark.spec("NET-20")
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"image_size": 0}, "image_size must be an int >= 1, got 0"),
        ({"base_channels": 2}, "base_channels must be an int >= 4, got 2"),
        ({"base_channels": 9}, "base_channels must be even"),
        ({"channel_mults": ()}, "channel_mults must name at least one level"),
        ({"channel_mults": (1, 0)}, "every channel_mults entry must be an int >= 1, got 0"),
        ({"num_res_blocks": 0}, "num_res_blocks must be an int >= 1, got 0"),
        ({"attention_heads": 0}, "attention_heads must be an int >= 1, got 0"),
        ({"attention_heads": 3}, "attention_heads must divide the width 16 of level 1"),
        ({"norm_groups": 3}, "norm_groups must divide every level width"),
        ({"num_classes": 0}, "num_classes must be an int >= 1, got 0"),
        ({"num_timesteps": 0}, "num_timesteps must be an int >= 1, got 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0.0, 1.0\), got 1.0"),
        ({"norm_eps": 0.0}, r"norm_eps must be in \(0.0, inf\), got 0.0"),
        ({"image_size": 7, "attention_resolutions": ()}, r"image_size must be divisible by 2\^1"),
        ({"attention_resolutions": (2,)}, r"attention_resolutions must be among .*\[8, 4\]"),
        ({"downsample_padding": "same"},
         r"downsample_padding must be one of \('symmetric', 'bottom_right'\), got 'same'"),
    ],
)
def test_unet_config_rejects_out_of_range_fields(changes: dict[str, object], message: str
                                                 ) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(UNetConfig.tiny(), **changes)


@pytest.mark.spec("NET-20")
def test_unet_forward_rejects_bad_inputs() -> None:
    model = UNet(UNetConfig.tiny())
    conditional = UNet(dataclasses.replace(UNetConfig.tiny(), num_classes=3))
    x, t = torch.zeros(2, 3, 8, 8), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="x must have 3 channels"):
        model(torch.zeros(2, 2, 8, 8), t)
    with pytest.raises(ValueError, match="x must be 8×8"):
        model(torch.zeros(2, 3, 4, 4), t)
    with pytest.raises(ValueError, match=r"t must be in \[0, T\) = \[0, 1000\), got 1000"):
        model(x, torch.tensor([0, 1000]))
    with pytest.raises(ValueError, match="class_labels must be None for a model without"):
        model(x, t, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"class_labels must be in \[0, num_classes\] = \[0, 3\]"):
        conditional(x, t, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"padding must be one of \('symmetric', 'bottom_right'\)"):
        Downsample(4, "valid")


@pytest.mark.spec("NET-11", "NET-16")
@given(unet_cases())
def test_unet_equals_its_spec_while_autograd_records(device: str, case: UNetCase) -> None:
    # The forward frees memory in place only when no graph is recorded; the recorded path
    # (training) must compute the same function, and neither may touch the caller's x.
    config, x, t, labels, seed = case
    model = randomized_module(UNet(config), seed, torch.float64, device)
    x_torch = torch.as_tensor(x, dtype=torch.float64, device=device).requires_grad_()
    labels_torch = None if labels is None else torch.as_tensor(labels, device=device)
    actual = model(x_torch, torch.as_tensor(t, device=device), labels_torch)
    assert actual.requires_grad
    assert_close_to_spec(actual.detach(), unet(numpy_state_dict(model), config, x, t, labels),
                         "network")


@pytest.mark.spec("NET-16")
def test_unet_without_autograd_leaves_its_input_unchanged(device: str) -> None:
    model = randomized_module(UNet(UNetConfig.tiny()), 0, torch.float32, device)
    x = normal_input((2, 3, 8, 8), 0, torch.float32, device)
    before = x.clone()
    with torch.no_grad():
        model(x, torch.tensor([0, 999], device=device))
    torch.testing.assert_close(x, before, rtol=0.0, atol=0.0)
