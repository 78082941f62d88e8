"""A digits classifier to judge samples: logistic regression on the 8×8 digits training split.

Samples of a digits run (any size the loader padded/upscaled to) are brought back to 8×8 by the
inverse of DATA-3 (crop the padding, average each k×k block), in the data range [−1, 1], which is
exactly how the classifier's training images are represented.
"""

import functools

import numpy as np
import torch
from jaxtyping import Float, Float64
from sklearn.linear_model import LogisticRegression

from specdiff._typecheck import typechecked
from specdiff.data import uint8_to_unit_range
from specdiff.data.digits import DIGITS_SIDE
from specdiff.data.splits import load_split

# "Confidently recognized": the classifier gives the image's most probable class at least this.
RECOGNITION_THRESHOLD = 0.9

Images = Float[np.ndarray, "batch 1 size size"] | Float[torch.Tensor, "batch 1 size size"]


@typechecked
def downscale_to_digits(images: Images) -> Float64[np.ndarray, "batch 64"]:
    """The inverse of ``upscale_and_pad`` (DATA-3) to 8×8, flattened: for an upscaled image it
    returns the original pixels exactly; for a sample, each k×k block's mean."""
    pixels = (images.detach().to("cpu", torch.float64).numpy() if isinstance(images, torch.Tensor)
              else np.asarray(images, dtype=np.float64))
    size = pixels.shape[-1]
    if size < DIGITS_SIDE:
        raise ValueError(f"images must be at least {DIGITS_SIDE}x{DIGITS_SIDE}, got {size}x{size}")
    factor = size // DIGITS_SIDE
    offset = (size - factor * DIGITS_SIDE) // 2
    crop = pixels[:, 0, offset:offset + factor * DIGITS_SIDE, offset:offset + factor * DIGITS_SIDE]
    blocks = crop.reshape(-1, DIGITS_SIDE, factor, DIGITS_SIDE, factor).mean(axis=(2, 4))
    return np.asarray(blocks.reshape(-1, DIGITS_SIDE * DIGITS_SIDE), dtype=np.float64)


class DigitsClassifier:
    """Class probabilities for digits images of any loader size, in the data range [−1, 1]."""

    def __init__(self, model: LogisticRegression) -> None:
        self.model = model

    def predict_proba(self, images: Images) -> Float64[np.ndarray, "batch 10"]:
        """P(class | image) for classes 0..9."""
        return np.asarray(self.model.predict_proba(downscale_to_digits(images)), dtype=np.float64)

    def recognized_fraction(self, images: Images) -> float:
        """The fraction of ``images`` the classifier recognizes confidently: whose most probable
        class has probability at least ``RECOGNITION_THRESHOLD``."""
        return float(np.mean(self.predict_proba(images).max(axis=1) >= RECOGNITION_THRESHOLD))

    def accuracy(self, images: Images, labels: np.ndarray | torch.Tensor) -> float:
        """The fraction of ``images`` whose most probable class is their label."""
        predicted = self.predict_proba(images).argmax(axis=1)
        return float(np.mean(predicted == np.asarray(labels)))


@functools.cache
def fit_digits_classifier() -> DigitsClassifier:
    """Fitted once per process on the digits training split (specdiff.data.splits) at 8×8;
    lbfgs makes the fit deterministic."""
    train = load_split("digits", "train", DIGITS_SIDE)
    features = downscale_to_digits(uint8_to_unit_range(train.images))
    model = LogisticRegression(max_iter=5000).fit(features, train.labels.numpy())
    return DigitsClassifier(model)
