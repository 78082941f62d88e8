"""The super-resolution conditioning path in the spec: resampling laws (COND-11), the input layout
(COND-12), validation (COND-13)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from specdiff.spec.superres import downsample_image, superres_input, upsample_image
from specdiff.testing import assert_close_to_spec, image_batches

scales = st.integers(1, 4)


@st.composite
def low_res_images(draw: st.DrawFn) -> np.ndarray:
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 4)),
             draw(st.integers(1, 4)))
    return draw(image_batches(shape))


@pytest.mark.spec("COND-11")
@given(low_res_images(), scales)
def test_upsample_repeats_each_pixel_and_downsample_of_it_is_the_identity(
    low_res: np.ndarray, scale: int
) -> None:
    up = upsample_image(low_res, scale)
    batch, channels, height, width = low_res.shape
    assert up.shape == (batch, channels, scale * height, scale * width)
    rows, cols = np.arange(scale * height) // scale, np.arange(scale * width) // scale
    assert np.array_equal(up, low_res[:, :, rows][:, :, :, cols])
    assert_close_to_spec(downsample_image(up, scale), low_res, "elementwise")


@pytest.mark.spec("COND-11")
@given(low_res_images(), scales)
def test_downsample_averages_blocks_keeps_the_mean_and_up_down_is_a_projection(
    low_res: np.ndarray, scale: int
) -> None:
    x = low_res  # any image whose sides the scale divides: use an upsampled-size one
    image = np.tile(x, (1, 1, scale, scale))
    down = downsample_image(image, scale)
    assert down.shape == x.shape
    i, j = x.shape[2] - 1, x.shape[3] - 1
    block = image[:, :, scale * i : scale * (i + 1), scale * j : scale * (j + 1)]
    assert_close_to_spec(down[:, :, i, j], block.mean(axis=(2, 3)), "reduction")
    assert_close_to_spec(down.mean(axis=(2, 3)), image.mean(axis=(2, 3)), "reduction")
    projection = upsample_image(down, scale)
    assert_close_to_spec(upsample_image(downsample_image(projection, scale), scale), projection,
                         "elementwise")


@pytest.mark.spec("COND-11")
@given(st.floats(-1, 1), scales)
def test_constant_images_are_fixed_points_and_scale_one_is_the_identity(value: float,
                                                                        scale: int) -> None:
    constant = np.full((1, 2, 2 * scale, 2 * scale), value)
    assert_close_to_spec(downsample_image(constant, scale), np.full((1, 2, 2, 2), value),
                         "elementwise")
    assert np.array_equal(upsample_image(constant[:, :, :2, :2], scale), constant)
    assert np.array_equal(downsample_image(constant, 1), constant)


@pytest.mark.spec("COND-12")
@given(low_res_images(), scales, st.data())
def test_superres_input_is_x_t_then_the_upsampled_low_res_on_channels(
    low_res: np.ndarray, scale: int, data: st.DataObject
) -> None:
    batch, channels, height, width = low_res.shape
    x_t = data.draw(image_batches((batch, channels, scale * height, scale * width)))
    stacked = superres_input(x_t, low_res, scale)
    assert np.array_equal(stacked[:, :channels], x_t)
    assert np.array_equal(stacked[:, channels:], upsample_image(low_res, scale))


@pytest.mark.spec("COND-13")
def test_superres_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="scale"):
        downsample_image(np.zeros((1, 1, 4, 6)), 4)
    with pytest.raises(ValueError, match="scale"):
        upsample_image(np.zeros((1, 1, 2, 2)), 0)
    with pytest.raises(ValueError, match="low_res"):
        superres_input(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 2)), 2)
