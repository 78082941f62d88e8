"""Small CIFAR-10 folders in both official formats, for tests and dry runs (no download).

The python batches are written opcode by opcode the way Python 2's cPickle wrote the originals
(protocol 2, byte strings as STRING opcodes, the array by numpy.core.multiarray._reconstruct), so
the loader is tested against the real files' layout, not against what Python 3 would write.
"""

import os
import struct
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Int64, UInt8

from specdiff._typecheck import typechecked
from specdiff.data.cifar10 import CIFAR10_SPLITS, IMAGE_SHAPE


class _Python2Pickle:
    """Writer of the protocol-2 opcodes a CIFAR-10 batch needs."""

    def __init__(self) -> None:
        self.out = bytearray(b"\x80\x02")  # PROTO 2

    def string(self, value: bytes) -> None:
        if len(value) < 256:
            self.out += b"U" + bytes([len(value)]) + value  # SHORT_BINSTRING
        else:
            self.out += b"T" + struct.pack("<i", len(value)) + value  # BINSTRING

    def integer(self, value: int) -> None:
        self.out += b"J" + struct.pack("<i", value)  # BININT

    def global_(self, module: str, name: str) -> None:
        self.out += b"c" + f"{module}\n{name}\n".encode("ascii")  # GLOBAL

    def uint8_array(self, array: np.ndarray) -> None:
        """numpy 1.x's ndarray.__reduce__: _reconstruct(ndarray, (0,), 'b'), then __setstate__."""
        self.global_("numpy.core.multiarray", "_reconstruct")
        self.out += b"("  # MARK
        self.global_("numpy", "ndarray")
        self.out += b"("
        self.integer(0)
        self.out += b"t"  # TUPLE
        self.string(b"b")
        self.out += b"tR("  # TUPLE, REDUCE, MARK (state tuple)
        self.integer(1)
        self.out += b"("
        for dim in array.shape:
            self.integer(dim)
        self.out += b"t"
        self.global_("numpy", "dtype")
        self.out += b"("
        self.string(b"u1")
        self.integer(0)
        self.integer(1)
        # dtype('u1', 0, 1), then its state (3, '|', None, None, None, -1, -1, 0)
        self.out += b"tR("
        self.integer(3)
        self.string(b"|")
        self.out += b"NNN"
        self.integer(-1)
        self.integer(-1)
        self.integer(0)
        self.out += b"tb"  # TUPLE, BUILD
        self.out += b"\x89"  # NEWFALSE: C order
        self.string(np.ascontiguousarray(array, dtype=np.uint8).tobytes())
        self.out += b"tb"

    def batch(self, images: np.ndarray, labels: np.ndarray, name: bytes) -> bytes:
        self.out += b"}("  # EMPTY_DICT, MARK
        self.string(b"batch_label")
        self.string(name)
        self.string(b"labels")
        self.out += b"]("  # EMPTY_LIST, MARK
        for label in labels.tolist():
            self.integer(label)
        self.out += b"e"  # APPENDS
        self.string(b"data")
        self.uint8_array(images.reshape(len(images), -1))
        self.string(b"filenames")
        self.out += b"]("
        for index in range(len(images)):
            self.string(f"image_{index}.png".encode("ascii"))
        self.out += b"eu."  # APPENDS, SETITEMS, STOP
        return bytes(self.out)


@typechecked
def write_cifar10_python_batch(
    path: str | os.PathLike[str],
    images: UInt8[np.ndarray, "N 3 32 32"],
    labels: Int64[np.ndarray, "N"],
) -> None:
    """One batch file in the python format: a pickled dict with b"data" (N, 3072), b"labels"."""
    pickled = _Python2Pickle().batch(images, labels, Path(path).name.encode("ascii"))
    Path(path).write_bytes(pickled)


@typechecked
def write_cifar10_binary_batch(
    path: str | os.PathLike[str],
    images: UInt8[np.ndarray, "N 3 32 32"],
    labels: Int64[np.ndarray, "N"],
) -> None:
    """One batch file in the binary format: N records of 1 label byte + 3072 CHW pixel bytes."""
    records = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)],
                             axis=1)
    Path(path).write_bytes(records.tobytes())


def write_cifar10_folder(
    folder: str | os.PathLike[str], file_format: str, images_per_batch: int, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fill ``folder`` with every batch of both splits in ``file_format`` ("python" or "binary").

    Pixels and labels are drawn from a torch.Generator seeded with ``seed``; returns, per split,
    the (images (N, 3, 32, 32), labels (N,)) that load_cifar10 must give back.
    """
    writers = {"python": (write_cifar10_python_batch, ""), "binary": (write_cifar10_binary_batch,
                                                                       ".bin")}
    if file_format not in writers:
        raise ValueError(f"file_format must be one of {sorted(writers)}, got {file_format!r}")
    write, suffix = writers[file_format]
    generator = torch.Generator().manual_seed(seed)
    Path(folder).mkdir(parents=True, exist_ok=True)
    expected = {}
    for split, batch_names in CIFAR10_SPLITS.items():
        split_images, split_labels = [], []
        for batch_name in batch_names:
            images = torch.randint(0, 256, (images_per_batch, *IMAGE_SHAPE), generator=generator,
                                   dtype=torch.uint8).numpy()
            labels = torch.randint(0, 10, (images_per_batch,), generator=generator).numpy()
            write(Path(folder) / f"{batch_name}{suffix}", images, labels)
            split_images.append(images)
            split_labels.append(labels)
        expected[split] = (np.concatenate(split_images), np.concatenate(split_labels))
    return expected
