"""DATA-4: CIFAR-10 from a local folder in the python and the binary format."""

import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specdiff.data import CIFAR10_CLASSES, load_cifar10
from specdiff.data.fixtures import write_cifar10_folder

FORMATS = ["python", "binary"]
BATCH_SUFFIX = {"python": "", "binary": ".bin"}


@pytest.mark.spec("DATA-4")
@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize("split", ["train", "test"])
def test_both_formats_load_the_written_images_and_labels(tmp_path: Path, file_format: str,
                                                         split: str) -> None:
    expected_images, expected_labels = write_cifar10_folder(tmp_path, file_format, 3, seed=1)[split]
    dataset = load_cifar10(tmp_path, split)
    assert dataset.images.shape == (15 if split == "train" else 3, 3, 32, 32)
    np.testing.assert_array_equal(dataset.images.numpy(), expected_images)
    np.testing.assert_array_equal(dataset.labels.numpy(), expected_labels)
    assert dataset.class_names == CIFAR10_CLASSES


@pytest.mark.spec("DATA-4")
def test_a_3072_byte_row_is_the_r_then_g_then_b_plane(tmp_path: Path) -> None:
    # One record by hand: label 7, R plane all 10, G plane the row index, B plane the column.
    rows, columns = np.indices((32, 32))
    planes = np.stack([np.full((32, 32), 10), rows, columns]).astype(np.uint8)
    record = bytes([7]) + planes.tobytes()  # R, G, B planes, each row by row
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                 "data_batch_5"):
        (tmp_path / f"{name}.bin").write_bytes(record)
    image = load_cifar10(tmp_path, "train").images[0].numpy()
    assert (image[0] == 10).all()
    assert image[1, 5, 9] == 5 and image[2, 5, 9] == 9


@pytest.mark.spec("DATA-4")
def test_both_formats_agree_and_binary_is_preferred(tmp_path: Path) -> None:
    python = write_cifar10_folder(tmp_path / "cifar-10-batches-py", "python", 2, seed=3)
    write_cifar10_folder(tmp_path / "cifar-10-batches-bin", "binary", 2, seed=3)
    assert np.array_equal(load_cifar10(tmp_path / "cifar-10-batches-py").images.numpy(),
                          python["train"][0])
    assert np.array_equal(load_cifar10(tmp_path).images.numpy(), python["train"][0])
    # In one folder with both, the binary files are read: corrupt the pickles to prove it.
    write_cifar10_folder(tmp_path / "both", "binary", 2, seed=3)
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                 "data_batch_5"):
        (tmp_path / "both" / name).write_bytes(b"not a pickle")
    assert np.array_equal(load_cifar10(tmp_path / "both").images.numpy(), python["train"][0])


@pytest.mark.spec("DATA-4")
@pytest.mark.parametrize("file_format", FORMATS)
def test_truncated_batch_is_rejected_with_its_path(tmp_path: Path, file_format: str) -> None:
    write_cifar10_folder(tmp_path, file_format, 2, seed=0)
    batch = tmp_path / f"test_batch{BATCH_SUFFIX[file_format]}"
    batch.write_bytes(batch.read_bytes()[:-100])
    expected = "truncated or corrupt pickle" if file_format == "python" else "not a whole number"
    with pytest.raises(ValueError, match=rf"test_batch.*{expected}"):
        load_cifar10(tmp_path, "test")


@pytest.mark.spec("DATA-4")
def test_missing_folder_and_missing_batches_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")
    write_cifar10_folder(tmp_path, "binary", 1, seed=0)
    (tmp_path / "data_batch_4.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"no complete CIFAR-10 train split.*data_batch_4"):
        load_cifar10(tmp_path, "train")
    with pytest.raises(ValueError, match="split must be one of"):
        load_cifar10(tmp_path, "validation")


@pytest.mark.spec("DATA-4")
@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([1, 2, 3], "expected a pickled dict"),
        ({b"data": np.zeros((1, 100), np.uint8), b"labels": [0]}, "3072 pixels"),
        ({b"data": np.zeros((1, 3072), np.float32), b"labels": [0]}, "uint8 array"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, r"label 0 is 10, .*10\)"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}, "N labels"),
    ],
)
def test_wrong_python_batch_contents_are_rejected(tmp_path: Path, batch: object,
                                                  message: str) -> None:
    write_cifar10_folder(tmp_path, "python", 1, seed=0)
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(ValueError, match=message):
        load_cifar10(tmp_path, "test")


def _first_outside_the_classes(labels: list[object]) -> tuple[int, object] | None:
    """(index, label) of the first label that is not an int in [0, 10); bools are not labels."""
    return next(((index, label) for index, label in enumerate(labels)
                 if isinstance(label, bool) or not isinstance(label, int)
                 or not 0 <= label < len(CIFAR10_CLASSES)), None)


@pytest.mark.spec("DATA-4")
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(st.integers(0, 9) | st.integers(-2**80, 2**80) | st.booleans(),
                       min_size=1, max_size=5))
def test_python_batch_label_outside_the_classes_is_refused_naming_file_and_label(
    tmp_path_factory: pytest.TempPathFactory, labels: list[int]
) -> None:
    folder = tmp_path_factory.mktemp("cifar")
    write_cifar10_folder(folder, "python", 1, seed=0)
    batch = {b"data": np.zeros((len(labels), 3072), np.uint8), b"labels": labels}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=4))
    offender = _first_outside_the_classes(list(labels))
    if offender is None:
        assert load_cifar10(folder, "test").labels.tolist() == labels
        return
    index, label = offender
    with pytest.raises(ValueError, match=rf"test_batch: label {index} is {label!r}, .*\[0, 10\)"):
        load_cifar10(folder, "test")


@pytest.mark.spec("DATA-4")
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(st.integers(0, 255), min_size=1, max_size=5))
def test_binary_batch_label_outside_the_classes_is_refused_naming_file_and_label(
    tmp_path_factory: pytest.TempPathFactory, labels: list[int]
) -> None:
    folder = tmp_path_factory.mktemp("cifar")
    write_cifar10_folder(folder, "binary", 1, seed=0)
    records = b"".join(bytes([label]) + bytes(3072) for label in labels)
    (folder / "test_batch.bin").write_bytes(records)
    offender = _first_outside_the_classes(list(labels))
    if offender is None:
        assert load_cifar10(folder, "test").labels.tolist() == labels
        return
    index, label = offender
    with pytest.raises(ValueError, match=rf"test_batch.bin: label {index} is {label}, "):
        load_cifar10(folder, "test")


@pytest.mark.spec("DATA-4")
@pytest.mark.parametrize("file_format", FORMATS)
def test_a_batch_without_images_is_refused(tmp_path: Path, file_format: str) -> None:
    write_cifar10_folder(tmp_path, file_format, 1, seed=0)
    batch = tmp_path / f"test_batch{BATCH_SUFFIX[file_format]}"
    if file_format == "python":
        batch.write_bytes(pickle.dumps({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}))
    else:
        batch.write_bytes(b"")
    with pytest.raises(ValueError, match=rf"test_batch{BATCH_SUFFIX[file_format]}: .*no images"):
        load_cifar10(tmp_path, "test")
