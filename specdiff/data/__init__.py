"""Datasets as uint8 NCHW images with optional labels (specs/data.md): the embedded digits,
CIFAR-10 from a local folder (both official formats), any folder of PNG/JPEG images; plus the
batch augmentation the trainer uses and small CIFAR-10 fixture folders for tests."""

from specdiff.data.cifar10 import CIFAR10_CLASSES, load_cifar10
from specdiff.data.dataset import NO_LABEL, ImageDataset, uint8_to_unit_range
from specdiff.data.digits import load_digits, upscale_and_pad
from specdiff.data.image_folder import load_image, load_image_folder
from specdiff.data.safe_pickle import RefusedPickleGlobalError
from specdiff.data.transforms import horizontal_flip, random_horizontal_flip

__all__ = [
    "CIFAR10_CLASSES",
    "NO_LABEL",
    "ImageDataset",
    "RefusedPickleGlobalError",
    "horizontal_flip",
    "load_cifar10",
    "load_digits",
    "load_image",
    "load_image_folder",
    "random_horizontal_flip",
    "uint8_to_unit_range",
    "upscale_and_pad",
]
