"""DATA-2, DATA-3: the embedded digits and the upscale-and-pad placement."""

import numpy as np
import pytest
import sklearn.datasets
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specdiff.data import load_digits, upscale_and_pad
from specdiff.data.digits import digits_to_uint8


@pytest.mark.spec("DATA-2")
@pytest.mark.parametrize("size", [8, 16, 20])
def test_digits_layout_range_and_labels(size: int) -> None:
    dataset = load_digits(size)
    reference = sklearn.datasets.load_digits()
    assert dataset.images.shape == (1797, 1, size, size)
    assert dataset.class_names == tuple(str(digit) for digit in range(10))
    np.testing.assert_array_equal(dataset.labels.numpy(), reference.target)
    assert int(dataset.images.min()) == 0 and int(dataset.images.max()) == 255
    expected = upscale_and_pad(digits_to_uint8(reference.images)[:, None], size)
    np.testing.assert_array_equal(dataset.images.numpy(), expected)


@pytest.mark.spec("DATA-2")
def test_digits_splits_partition_the_data_in_order() -> None:
    whole, train, test = (load_digits(8, split) for split in ("all", "train", "test"))
    assert (len(train), len(test)) == (1500, 297)
    np.testing.assert_array_equal(np.concatenate([train.images, test.images]), whole.images)
    np.testing.assert_array_equal(np.concatenate([train.labels, test.labels]), whole.labels)
    with pytest.raises(ValueError, match=r"^split must be one of"):
        load_digits(8, "validation")


@pytest.mark.spec("DATA-2")
def test_digit_ink_values_map_to_255_d_over_16_rounded_half_up() -> None:
    ink = np.arange(17)
    expected = np.floor(255 * ink / 16 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(digits_to_uint8(ink), expected)
    assert digits_to_uint8(np.array([0, 16])).tolist() == [0, 255]


@pytest.mark.spec("DATA-2")
def test_digits_size_below_8_is_rejected() -> None:
    with pytest.raises(ValueError, match="size must be an int >= 8, got 7"):
        load_digits(7)


@pytest.mark.spec("DATA-3")
@given(
    hnp.arrays(np.uint8, st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 4),
                                   st.integers(1, 4)), elements=st.integers(1, 255)),
    st.integers(0, 9),
)
def test_upscale_and_pad_keeps_every_pixel_and_zeroes_the_border(images: np.ndarray,
                                                                  extra: int) -> None:
    height, width = images.shape[2:]
    size = max(height, width) + extra
    out = upscale_and_pad(images, size)
    k = size // max(height, width)
    top, left = (size - k * height) // 2, (size - k * width) // 2
    assert out.shape == (*images.shape[:2], size, size)
    block = out[:, :, top:top + k * height, left:left + k * width]
    np.testing.assert_array_equal(block, np.kron(images, np.ones((k, k), np.uint8)))
    border = out.copy()
    border[:, :, top:top + k * height, left:left + k * width] = 0
    assert not border.any()  # images have no zero pixel, so a zero proves it is padding


@pytest.mark.spec("DATA-3")
def test_upscale_to_smaller_than_the_image_is_rejected() -> None:
    with pytest.raises(ValueError, match="size must be an int >= 8, got 4"):
        upscale_and_pad(np.zeros((1, 1, 8, 8), np.uint8), 4)
