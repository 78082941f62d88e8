"""The super-resolution model: resampling mirrors (COND-11), the input layout and the spec twin
(COND-12), validation (COND-13)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from specdiff.nn import UNetConfig
from specdiff.nn.superres import SuperResolutionConfig, SuperResolutionUNet
from specdiff.nn.superres_input import (
    downsample_image,
    make_training_pair,
    superres_input,
    upsample_image,
)
from specdiff.spec import superres as spec_superres
from specdiff.testing import assert_close_to_spec, image_batches
from specdiff.testing.nets import numpy_state_dict, randomized_module, to_spec_array


@pytest.fixture(scope="module", params=[torch.float64, torch.float32], ids=["float64", "float32"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    return request.param  # type: ignore[no-any-return]


@pytest.mark.spec("COND-11")
@given(st.integers(1, 3), st.integers(1, 4), st.data())
def test_torch_resampling_equals_its_spec(device: str, dtype: torch.dtype, scale: int,
                                          side: int, data: st.DataObject) -> None:
    low = torch.as_tensor(data.draw(image_batches((2, 3, side, side + 1))), dtype=dtype,
                          device=device)
    high = torch.as_tensor(data.draw(image_batches((2, 3, scale * side, scale * (side + 1)))),
                           dtype=dtype, device=device)
    assert np.array_equal(to_spec_array(upsample_image(low, scale)),
                          spec_superres.upsample_image(to_spec_array(low), scale))
    assert_close_to_spec(downsample_image(high, scale),
                         spec_superres.downsample_image(to_spec_array(high), scale), "reduction")
    target, low_res = make_training_pair(high, scale)
    assert target is high and torch.equal(low_res, downsample_image(high, scale))


def superres_model(device: str, dtype: torch.dtype, scale: int) -> SuperResolutionUNet:
    config = SuperResolutionConfig.from_unet(UNetConfig.tiny(), scale)
    return randomized_module(SuperResolutionUNet(config), seed=scale, dtype=dtype, device=device)


@pytest.mark.spec("COND-12")
@pytest.mark.parametrize("scale", [1, 2, 4])
def test_superres_model_reads_x_t_then_upsampled_low_res_and_equals_its_twin(
    device: str, dtype: torch.dtype, scale: int
) -> None:
    model = superres_model(device, dtype, scale)
    generator = torch.Generator(device).manual_seed(scale)
    x_t = torch.randn((2, 3, 8, 8), generator=generator, dtype=dtype, device=device)
    low_res = torch.rand((2, 3, 8 // scale, 8 // scale), generator=generator, dtype=dtype,
                         device=device) * 2 - 1
    t = torch.tensor([0, 777], device=device)
    first_layer_inputs: list[torch.Tensor] = []
    hook = model.unet.conv_in.register_forward_hook(
        lambda _module, inputs, _output: first_layer_inputs.append(inputs[0]))
    with torch.no_grad():
        eps = model(x_t, t, low_res=low_res)
    hook.remove()
    seen_x, seen_low = to_spec_array(x_t), to_spec_array(low_res)
    assert np.array_equal(to_spec_array(first_layer_inputs[0]),
                          spec_superres.superres_input(seen_x, seen_low, scale))
    expected = spec_superres.superres_unet(numpy_state_dict(model), model.config, seen_x,
                                           t.cpu().numpy(), seen_low)
    assert_close_to_spec(eps, expected, "network")
    assert torch.equal(superres_input(x_t, low_res, scale), first_layer_inputs[0])


@pytest.mark.spec("COND-13")
def test_superres_config_and_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="scale"):
        SuperResolutionConfig.from_unet(UNetConfig.tiny(), 3)
    with pytest.raises(ValueError, match="scale"):
        SuperResolutionConfig.from_unet(UNetConfig.tiny(), 0)
    model = SuperResolutionUNet(SuperResolutionConfig.from_unet(UNetConfig.tiny(), 2))
    with pytest.raises(ValueError, match="low_res"):
        model(torch.zeros((1, 3, 8, 8)), torch.tensor([0]), low_res=torch.zeros((1, 3, 8, 8)))
    with pytest.raises(ValueError, match="scale"):
        downsample_image(torch.zeros((1, 1, 6, 6)), 4)
