"""DATA-8: any folder of PNG/JPEG images, with class subfolders as labels."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from specdiff.data import load_image_folder
from specdiff.testing import write_png


def _random_rgb(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.spec("DATA-8")
@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6),
                                      st.just(3))))
def test_unlabeled_png_pixels_are_read_back_exactly_in_nchw(
    tmp_path_factory: pytest.TempPathFactory, images: np.ndarray
) -> None:
    folder = tmp_path_factory.mktemp("images")
    for index, image in enumerate(images):
        write_png(folder / f"{index:03d}.png", image)
    dataset = load_image_folder(folder)
    assert not dataset.has_labels
    np.testing.assert_array_equal(dataset.images.numpy(), images.transpose(0, 3, 1, 2))


@pytest.mark.spec("DATA-8")
def test_class_subfolders_become_labels_in_sorted_order(tmp_path: Path) -> None:
    write_png(tmp_path / "dog" / "b.png", _random_rgb(0, 4, 4))
    write_png(tmp_path / "cat" / "x.PNG", _random_rgb(1, 4, 4))
    write_png(tmp_path / "dog" / "a.png", _random_rgb(2, 4, 4))
    (tmp_path / "notes.txt").write_text("not an image")
    dataset = load_image_folder(tmp_path)
    assert dataset.class_names == ("cat", "dog")
    assert dataset.labels.tolist() == [0, 1, 1]
    np.testing.assert_array_equal(dataset.images[1].numpy(),
                                  _random_rgb(2, 4, 4).transpose(2, 0, 1))


@pytest.mark.spec("DATA-8")
def test_grey_conversion_and_jpeg(tmp_path: Path) -> None:
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    write_png(tmp_path / "grey.png", grey)
    Image.fromarray(_random_rgb(0, 8, 8)).save(tmp_path / "photo.jpg", quality=95)
    dataset = load_image_folder(tmp_path, channels=1)
    assert dataset.images.shape == (2, 1, 8, 8)
    np.testing.assert_array_equal(dataset.images[0, 0].numpy(), grey)
    assert load_image_folder(tmp_path, channels=3).images.shape == (2, 3, 8, 8)


@pytest.mark.spec("DATA-8")
def test_mixed_sizes_are_rejected_unless_a_size_is_given(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", _random_rgb(0, 4, 6))
    write_png(tmp_path / "b.png", _random_rgb(1, 5, 5))
    with pytest.raises(ValueError, match=r"different sizes .*a.png: 6x4, .*b.png: 5x5.*size="):
        load_image_folder(tmp_path)
    resized = load_image_folder(tmp_path, size=3)
    assert resized.images.shape == (2, 3, 3, 3)
    # Centre square crop: columns 1..4 of the 4x6 image, then resize 4x4 → 3x3.
    expected = np.asarray(Image.fromarray(_random_rgb(0, 4, 6)).crop((1, 0, 5, 4))
                          .resize((3, 3), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(resized.images[0].numpy(), expected.transpose(2, 0, 1))


@pytest.mark.spec("DATA-8")
def test_folder_errors_name_the_path_and_the_expectation(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images"):
        load_image_folder(tmp_path)
    write_png(tmp_path / "top.png", _random_rgb(0, 4, 4))
    write_png(tmp_path / "cls" / "inner.png", _random_rgb(1, 4, 4))
    with pytest.raises(ValueError, match="both directly inside and in subfolders"):
        load_image_folder(tmp_path)
    with pytest.raises(ValueError, match=r"channels must be 1 .* or 3"):
        load_image_folder(tmp_path / "cls", channels=4)


@pytest.mark.spec("DATA-8")
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_or_corrupt_image_is_rejected(tmp_path: Path, suffix: str) -> None:
    Image.fromarray(_random_rgb(0, 32, 32)).save(tmp_path / f"a{suffix}")
    data = (tmp_path / f"a{suffix}").read_bytes()
    (tmp_path / f"a{suffix}").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"a\{suffix}: not a readable PNG/JPEG"):
        load_image_folder(tmp_path)
    (tmp_path / f"a{suffix}").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable"):
        load_image_folder(tmp_path)
