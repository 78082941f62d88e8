"""CIFAR-10 from a local folder, in either official format (DATA-4); never downloads.

python format (cifar-10-batches-py): pickled dicts with b"data" uint8 (N, 3072), b"labels".
binary format (cifar-10-batches-bin): files of N records, 1 label byte + 3072 pixel bytes.
A 3072-byte row is the R plane, then G, then B, each 32 rows of 32 pixels: it is CHW already.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from specdiff.data.dataset import ImageDataset
from specdiff.data.safe_pickle import RefusedPickleGlobalError, load_numpy_pickle

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_SPLITS = {
    "train": tuple(f"data_batch_{index}" for index in range(1, 6)),
    "test": ("test_batch",),
}
IMAGE_SHAPE = (3, 32, 32)
IMAGE_BYTES = 3 * 32 * 32
RECORD_BYTES = 1 + IMAGE_BYTES
# The folder names the official archives extract to; load_cifar10 also looks inside them.
ARCHIVE_FOLDERS = ("cifar-10-batches-bin", "cifar-10-batches-py")


def load_cifar10(path: str | os.PathLike[str], split: str = "train") -> ImageDataset:
    """DATA-4: the split's images (N, 3, 32, 32) uint8 and labels 0..9, in file order.

    ``path`` holds the batch files, or is the folder an archive was extracted into. The format is
    detected from the file names; when both are present the binary one is read (no pickle at all).
    """
    if split not in CIFAR10_SPLITS:
        raise ValueError(f"split must be one of {sorted(CIFAR10_SPLITS)}, got {split!r}")
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"CIFAR-10 folder {root} does not exist or is not a folder")
    names = CIFAR10_SPLITS[split]
    for folder in (root, *(root / name for name in ARCHIVE_FOLDERS)):
        binary = [folder / f"{name}.bin" for name in names]
        if all(file.is_file() for file in binary):
            return _dataset([_read_binary_batch(file) for file in binary])
        python = [folder / name for name in names]
        if all(file.is_file() for file in python):
            return _dataset([_read_python_batch(file) for file in python])
    raise FileNotFoundError(
        f"{root}: no complete CIFAR-10 {split} split; expected the files {', '.join(names)} "
        f"(python format) or the same names with .bin (binary format), in {root} or in one of "
        f"its subfolders {', '.join(ARCHIVE_FOLDERS)}"
    )


def _dataset(batches: list[tuple[np.ndarray, np.ndarray]]) -> ImageDataset:
    images = np.concatenate([images for images, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    return ImageDataset(images, labels, CIFAR10_CLASSES)


def _read_binary_batch(file: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.fromfile(file, dtype=np.uint8)
    if data.size == 0:
        raise ValueError(f"{file}: holds no images (0 bytes); expected records of "
                         f"{RECORD_BYTES} bytes (1 label + {IMAGE_BYTES} pixels)")
    if data.size % RECORD_BYTES:
        raise ValueError(
            f"{file}: {data.size} bytes is not a whole number of CIFAR-10 records of "
            f"{RECORD_BYTES} bytes (1 label + {IMAGE_BYTES} pixels): truncated or not a batch"
        )
    records = data.reshape(-1, RECORD_BYTES)
    return _checked(file, records[:, 1:], records[:, 0].tolist())


def _read_python_batch(file: Path) -> tuple[np.ndarray, np.ndarray]:
    with file.open("rb") as stream:
        try:
            batch = load_numpy_pickle(stream, source=str(file))
        except RefusedPickleGlobalError:
            raise
        except Exception as error:  # any parse failure of untrusted bytes means "not a batch"
            raise ValueError(
                f"{file}: not a complete CIFAR-10 python batch (truncated or corrupt pickle: "
                f"{type(error).__name__}: {error})"
            ) from error
    if not isinstance(batch, dict) or not {b"data", b"labels"} <= batch.keys():
        raise ValueError(f"{file}: expected a pickled dict with keys b'data' and b'labels'")
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise ValueError(f"{file}: b'data' must be a uint8 array (N, {IMAGE_BYTES})")
    if not isinstance(labels, list):
        raise ValueError(f"{file}: b'labels' must be a list of ints, got {type(labels).__name__}")
    return _checked(file, data, labels)


def _checked(file: Path, rows: np.ndarray, labels: Sequence[object]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Rows (N, 3072) → images (N, 3, 32, 32), after checking sizes and every label."""
    if rows.shape[1] != IMAGE_BYTES or len(labels) != len(rows):
        raise ValueError(
            f"{file}: expected N rows of {IMAGE_BYTES} pixels and N labels, got pixel array "
            f"{rows.shape} and {len(labels)} labels"
        )
    if not len(rows):
        raise ValueError(f"{file}: holds no images (0 rows); a batch has at least one")
    for index, label in enumerate(labels):
        # A bool is an int to Python, but not a class; Python ints can be too large for int64.
        if isinstance(label, bool) or not isinstance(label, int) or \
                not 0 <= label < len(CIFAR10_CLASSES):
            raise ValueError(f"{file}: label {index} is {label!r}, but labels must be ints in "
                             f"[0, {len(CIFAR10_CLASSES)}) (the CIFAR-10 classes)")
    return rows.reshape(-1, *IMAGE_SHAPE), np.asarray(labels, dtype=np.int64)
