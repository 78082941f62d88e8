"""The dataset every loader returns: uint8 NCHW images, optional integer labels (specs/data.md).

Images stay uint8 in memory (4× smaller than float32, and exactly what the files hold); they are
scaled to the model's range [−1, 1] only when read, by the inverse of the spec's quantization.
"""

from collections.abc import Sequence

import numpy as np
import torch
from jaxtyping import Float, Int64, UInt8
from torch.utils.data import Dataset

from specdiff._typecheck import typechecked

# The label of an image that has none: a trainer conditions on labels only when has_labels.
NO_LABEL = -1


@typechecked
def uint8_to_unit_range(
    images: UInt8[torch.Tensor, "*shape"],
) -> Float[torch.Tensor, "*shape"]:
    """DATA-1: x = v/127.5 − 1 in float32; quantize_uint8(x) == v for every v ∈ {0, …, 255}."""
    return images.to(torch.float32) / 127.5 - 1.0


class ImageDataset(Dataset[tuple[torch.Tensor, int]]):
    """N uint8 images (N, C, H, W); labels in [0, len(class_names)), or NO_LABEL for all.

    ``dataset[i]`` is ``(image, label)``: image float32 (C, H, W) in [−1, 1] (DATA-1). A trainer
    that draws whole batches itself indexes ``images``/``labels`` and calls uint8_to_unit_range.
    """

    def __init__(
        self,
        images: np.ndarray | torch.Tensor,
        labels: np.ndarray | torch.Tensor | None = None,
        class_names: Sequence[str] = (),
    ) -> None:
        self.images: UInt8[torch.Tensor, "N C H W"] = _as_image_tensor(images)
        count = self.images.shape[0]
        self.has_labels = labels is not None
        if labels is None:
            self.labels: Int64[torch.Tensor, "N"] = torch.full((count,), NO_LABEL)
        elif not class_names:
            raise ValueError("class_names must name every class when labels are given, got ()")
        else:
            self.labels = _as_label_tensor(labels, count, len(class_names))
        self.class_names = tuple(class_names)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return uint8_to_unit_range(self.images[index]), int(self.labels[index])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        channels, height, width = self.images.shape[1:]
        return int(channels), int(height), int(width)

    def __repr__(self) -> str:
        channels, height, width = self.image_shape
        labels = f", {len(self.class_names)} classes" if self.has_labels else ", unlabeled"
        return f"ImageDataset({len(self)} images of {channels}x{height}x{width}{labels})"


def _as_image_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(images)
    if tensor.dtype != torch.uint8:
        raise TypeError(f"images must be uint8, got {tensor.dtype}")
    if tensor.ndim != 4 or min(tensor.shape[1:]) < 1:
        raise ValueError(
            f"images must have shape (N, C, H, W) with C, H, W >= 1, got {tuple(tensor.shape)}"
        )
    return tensor.contiguous()


def _as_label_tensor(
    labels: np.ndarray | torch.Tensor, count: int, num_classes: int
) -> torch.Tensor:
    tensor = torch.as_tensor(labels)
    if tensor.dtype.is_floating_point or tensor.dtype.is_complex or tensor.dtype == torch.bool:
        raise TypeError(f"labels must be integers, got {tensor.dtype}")
    if tensor.shape != (count,):
        raise ValueError(
            f"labels must have shape ({count},) (one per image), got {tuple(tensor.shape)}"
        )
    tensor = tensor.to(torch.int64)
    if count and (int(tensor.min()) < 0 or int(tensor.max()) >= num_classes):
        raise ValueError(
            f"labels must be in [0, len(class_names)) = [0, {num_classes}), got values in "
            f"[{int(tensor.min())}, {int(tensor.max())}]"
        )
    return tensor
