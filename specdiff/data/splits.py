"""Fixed, deterministic train / held-out splits of every dataset the CLI trains on (DATA-9).

- ``digits``: the first 1,500 of scikit-learn's 1,797 images train, the last 297 are held out
  (DATA-2's split).
- ``cifar10:PATH``: the official train and test batches.
- ``images:PATH``: every 10th image in sorted-path order (index ≡ 9 mod 10) is held out; with
  class subfolders the files are grouped by class, so each class gives ~10%.
"""

from typing import Literal

import numpy as np

from specdiff.data.cifar10 import load_cifar10
from specdiff.data.dataset import ImageDataset
from specdiff.data.digits import load_digits
from specdiff.data.image_folder import load_image_folder

Split = Literal["train", "held_out"]
IMAGE_FOLDER_HELD_OUT_EVERY = 10


def _subset(dataset: ImageDataset, indices: np.ndarray) -> ImageDataset:
    index = np.asarray(indices, dtype=np.int64)
    labels = dataset.labels[index] if dataset.has_labels else None
    return ImageDataset(dataset.images[index], labels, dataset.class_names)


def load_split(data: str, split: Split, image_size: int | None = None) -> ImageDataset:
    """The ``split`` of ``data`` ("digits", "cifar10:PATH" or "images:PATH").

    ``image_size``: digits are placed on a square of that side (DATA-3, default 16); image
    folders are resized to it (DATA-8; None keeps their size); CIFAR-10 ignores it.
    """
    if split not in ("train", "held_out"):
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}")
    kind, _, path = data.partition(":")
    if kind == "digits" and not path:
        return load_digits(image_size or 16, split="train" if split == "train" else "test")
    if kind == "cifar10" and path:
        return load_cifar10(path, split="train" if split == "train" else "test")
    if kind == "images" and path:
        folder = load_image_folder(path, size=image_size)
        every = IMAGE_FOLDER_HELD_OUT_EVERY
        held_out = np.arange(every - 1, len(folder), every)
        return _subset(folder, held_out if split == "held_out" else
                       np.setdiff1d(np.arange(len(folder)), held_out))
    raise ValueError(f"data must be 'digits', 'cifar10:PATH' or 'images:PATH', got {data!r}")
