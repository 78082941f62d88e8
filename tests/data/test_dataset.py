"""DATA-1: the dataset's uint8 → [−1, 1] scaling is the exact inverse of the spec's quantization."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specdiff.data import NO_LABEL, ImageDataset, uint8_to_unit_range
from specdiff.spec.images import quantize_uint8

uint8_images = hnp.arrays(
    np.uint8,
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
)


@pytest.mark.spec("DATA-1")
def test_every_uint8_value_quantizes_back_to_itself() -> None:
    values = torch.arange(256, dtype=torch.uint8)
    x = uint8_to_unit_range(values)
    assert x.dtype == torch.float32
    assert x[0].item() == -1.0 and x[255].item() == 1.0
    np.testing.assert_array_equal(quantize_uint8(x.numpy()), values.numpy())


@pytest.mark.spec("DATA-1")
@given(uint8_images)
def test_dataset_items_are_scaled_images_and_round_trip(images: np.ndarray) -> None:
    labels = np.arange(len(images)) % 2
    dataset = ImageDataset(images, labels, ("even", "odd"))
    assert len(dataset) == len(images)
    for index in range(len(dataset)):
        image, label = dataset[index]
        assert image.shape == images.shape[1:] and label == labels[index]
        assert image.min() >= -1 and image.max() <= 1
        np.testing.assert_array_equal(quantize_uint8(image.numpy()), images[index])


@pytest.mark.spec("DATA-1")
def test_unlabeled_dataset_gives_no_label() -> None:
    dataset = ImageDataset(np.zeros((2, 1, 4, 4), np.uint8))
    assert not dataset.has_labels and dataset[1][1] == NO_LABEL
    assert dataset.image_shape == (1, 4, 4)


@pytest.mark.parametrize(
    ("images", "labels", "class_names", "error", "message"),
    [
        (np.zeros((2, 1, 4, 4), np.float32), None, (), TypeError, "uint8"),
        (np.zeros((2, 4, 4), np.uint8), None, (), ValueError, r"\(N, C, H, W\)"),
        (np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 1]), (), ValueError, "class_names"),
        (np.zeros((2, 1, 4, 4), np.uint8), np.array([0]), ("a",), ValueError, r"shape \(2,\)"),
        (np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 2]), ("a", "b"), ValueError, r"\[0, 2\)"),
        (np.zeros((2, 1, 4, 4), np.uint8), np.array([0.0, 1.0]), ("a", "b"), TypeError, "integers"),
    ],
)
def test_invalid_datasets_are_rejected_with_the_reason(
    images: np.ndarray, labels: np.ndarray | None, class_names: tuple[str, ...],
    error: type[Exception], message: str,
) -> None:
    with pytest.raises(error, match=message):
        ImageDataset(images, labels, class_names)
