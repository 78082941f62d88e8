"""DATA-9: train and held-out splits are disjoint and together the whole dataset."""

from pathlib import Path

import numpy as np
import pytest
import sklearn.datasets
from PIL import Image

from specdiff.data import load_digits, load_image_folder
from specdiff.data.fixtures import write_cifar10_folder
from specdiff.data.splits import load_split


def _rows(images: np.ndarray) -> set[bytes]:
    return {image.tobytes() for image in images}


@pytest.mark.spec("DATA-9")
def test_digits_splits_are_the_first_1500_and_the_last_297() -> None:
    train, held_out = load_split("digits", "train", 8), load_split("digits", "held_out", 8)
    whole = load_digits(8)
    np.testing.assert_array_equal(train.images, whole.images[:1500])
    np.testing.assert_array_equal(held_out.images, whole.images[1500:])


@pytest.mark.spec("DATA-9")
def test_image_folder_holds_out_every_tenth_image(tmp_path: Path) -> None:
    for index in range(25):  # distinct images, so rows identify files
        Image.fromarray(np.full((2, 2), index, dtype=np.uint8)).save(tmp_path / f"{index:02d}.png")
    whole = load_image_folder(tmp_path, channels=3)
    train = load_split(f"images:{tmp_path}", "train")
    held_out = load_split(f"images:{tmp_path}", "held_out")
    np.testing.assert_array_equal(held_out.images, whole.images[[9, 19]])
    assert len(train) == 23 and not _rows(train.images.numpy()) & _rows(held_out.images.numpy())


@pytest.mark.spec("DATA-9")
def test_cifar10_held_out_is_the_test_batch(tmp_path: Path) -> None:
    expected = write_cifar10_folder(tmp_path, "binary", images_per_batch=4, seed=1)
    np.testing.assert_array_equal(load_split(f"cifar10:{tmp_path}", "held_out").images,
                                  expected["test"][0])
    np.testing.assert_array_equal(load_split(f"cifar10:{tmp_path}", "train").images,
                                  expected["train"][0])


@pytest.mark.spec("DATA-9")
def test_unknown_splits_and_data_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"^split must be 'train' or 'held_out'"):
        load_split("digits", "test")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^data must be"):
        load_split("mnist", "train")


@pytest.mark.spec("DATA-9")
def test_digits_split_labels_are_sklearns_targets_of_the_same_images() -> None:
    targets = sklearn.datasets.load_digits().target
    assert load_split("digits", "train", 8).labels.tolist() == targets[:1500].tolist()
    assert load_split("digits", "held_out", 8).labels.tolist() == targets[1500:].tolist()


@pytest.mark.spec("DATA-9")
def test_image_folder_split_labels_belong_to_the_same_images(tmp_path: Path) -> None:
    # Image k has every pixel = k, so a split image names its file; classes of 7, 9 and 11
    # files put held-out images (every 10th in sorted order) in different classes.
    class_of = {}
    for label, (name, count) in enumerate([("ant", 7), ("bee", 9), ("cat", 11)]):
        (tmp_path / name).mkdir()
        for member in range(count):
            pixel = 20 * label + member
            Image.fromarray(np.full((2, 2), pixel, np.uint8)).save(
                tmp_path / name / f"{member:02d}.png")
            class_of[pixel] = label
    for split, expected_count in (("train", 25), ("held_out", 2)):
        dataset = load_split(f"images:{tmp_path}", split)  # type: ignore[arg-type]
        assert len(dataset) == expected_count
        assert dataset.class_names == ("ant", "bee", "cat")
        pixels = dataset.images[:, 0, 0, 0].tolist()
        assert dataset.labels.tolist() == [class_of[pixel] for pixel in pixels]


@pytest.mark.spec("DATA-9")
@pytest.mark.parametrize("file_format", ["binary", "python"])
def test_cifar10_split_labels_are_the_written_labels(tmp_path: Path, file_format: str) -> None:
    expected = write_cifar10_folder(tmp_path, file_format, images_per_batch=4, seed=2)
    for split, batches in (("train", "train"), ("held_out", "test")):
        dataset = load_split(f"cifar10:{tmp_path}", split)  # type: ignore[arg-type]
        np.testing.assert_array_equal(dataset.images, expected[batches][0])
        np.testing.assert_array_equal(dataset.labels, expected[batches][1])
