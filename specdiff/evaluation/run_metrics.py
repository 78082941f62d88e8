"""``specdiff evaluate``: held-out loss, bits/dim, sample statistics and nearest training images
of a trained run.

Every number is reproducible from ``seed``: each metric seeds its own generator from it, so
adding or skipping one metric never changes another.
"""

import json
import math
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from specdiff._atomic import write_atomically
from specdiff.data import ImageDataset, uint8_to_unit_range
from specdiff.data.splits import load_split
from specdiff.diffusion import Diffusion, VlbTerms, vlb_terms
from specdiff.diffusion.api import SamplerName
from specdiff.diffusion.guidance import GuidedModel
from specdiff.evaluation.digits_classifier import RECOGNITION_THRESHOLD, fit_digits_classifier
from specdiff.evaluation.neighbours import Neighbours, nearest_neighbours
from specdiff.spec.reverse import Variance

# Classifier-free guidance weights evaluate scores class-conditional runs at (1: no guidance).
GUIDANCE_WEIGHTS = (1.0, 1.5)


class Sampling(NamedTuple):
    """Which sampler of ``Diffusion.generate`` draws the samples evaluate scores: ``steps`` is
    clipped to T, and DDPM visits every timestep whatever it says."""

    sampler: SamplerName = "ddim"
    steps: int = 50
    eta: float = 0.0

    def steps_for(self, num_timesteps: int) -> int | None:
        return None if self.sampler == "ddpm" else min(self.steps, num_timesteps)

    def record(self, num_timesteps: int) -> dict[str, Any]:
        return {"sampler": self.sampler, "eta": self.eta,
                "steps": self.steps_for(num_timesteps) or num_timesteps}


DEFAULT_SAMPLING = Sampling()  # DDIM, η = 0, 50 steps

# The reverse variance of the bound: the one the DDPM sampler uses by default (REV-9).
VLB_VARIANCE: Variance = "fixed_small"
NEIGHBOURS = 3  # nearest training images found for each sample (DATA-10)


class Evaluation(NamedTuple):
    """What ``evaluate_run`` measured: the metrics (metrics.json) and what the report shows."""

    metrics: dict[str, Any]
    samples: torch.Tensor  # the generated samples, in [−1, 1], on the CPU
    vlb: VlbTerms  # the bound's terms on the held-out images (LIK-12), on the CPU
    neighbours: Neighbours  # each sample's NEIGHBOURS nearest training images (DATA-10)
    training_images: torch.Tensor  # the training split (uint8) the neighbours index


def _batches(images: torch.Tensor, batch_size: int, device: torch.device
             ) -> list[torch.Tensor]:
    chunks = torch.split(images, batch_size)
    return [uint8_to_unit_range(chunk).to(device) for chunk in chunks]


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def held_out_loss(diffusion: Diffusion, batches: list[torch.Tensor], seed: int) -> float:
    """SAMP-8's eps-MSE per element, averaged over every held-out element, with t and ε drawn
    from one generator seeded with ``seed``."""
    generator = _generator(seed, batches[0].device)
    with torch.no_grad():
        losses = [float(diffusion.compute_loss(x0, generator=generator)) * x0.numel()
                  for x0 in batches]
    return sum(losses) / sum(x0.numel() for x0 in batches)


def held_out_vlb(diffusion: Diffusion, batches: list[torch.Tensor], seed: int,
                 timesteps: int | None) -> VlbTerms:
    """LIK-12's terms per held-out example (of the full bound, or of its K-strata estimate),
    batch after batch on one generator seeded with ``seed``."""
    generator = _generator(seed, batches[0].device)
    pieces = [vlb_terms(diffusion, x0, generator=generator, timesteps=timesteps,
                        variance=VLB_VARIANCE) for x0 in batches]
    return VlbTerms(torch.cat([piece.prior for piece in pieces]).cpu(), pieces[0].stratum_sizes,
                    torch.cat([piece.timesteps for piece in pieces]).cpu(),
                    torch.cat([piece.terms for piece in pieces]).cpu())


def generate_samples(diffusion: Diffusion, count: int, image_shape: tuple[int, ...],
                     batch_size: int, seed: int, labels: torch.Tensor | None = None,
                     guidance: float = 1.0, null_class: int = 0,
                     sampling: Sampling = DEFAULT_SAMPLING) -> torch.Tensor:
    """``count`` samples of ``sampling`` (default DDIM, η = 0, 50 steps), batch i seeded with
    seed + i; with ``labels`` (one per sample) class-conditional, guided with weight
    ``guidance`` against ``null_class`` (COND-1; w = 1 is the conditional model itself)."""
    steps = sampling.steps_for(diffusion.num_timesteps)
    batches = []
    for index, start in enumerate(range(0, count, batch_size)):
        size = min(batch_size, count - start)
        model, conditioning = diffusion, None
        if labels is not None:
            batch_labels = labels[start:start + size].to(diffusion.schedule.device)
            if guidance == 1.0:
                conditioning = {"class_labels": batch_labels}
            else:
                guided = GuidedModel(diffusion.model, batch_labels, guidance, null_class)
                model = Diffusion(guided, diffusion.schedule, diffusion.prediction_type)
        batches.append(model.generate((size, *image_shape), steps=steps, seed=seed + index,
                                      sampler=sampling.sampler, eta=sampling.eta,
                                      conditioning=conditioning).cpu())
    return torch.cat(batches)


def _statistics(images: torch.Tensor) -> dict[str, float]:
    values = images.to(torch.float64)
    return {"mean": float(values.mean()), "std": float(values.std())}


def digits_scores(samples: torch.Tensor, held_out: ImageDataset) -> dict[str, Any]:
    """The digits classifier on the samples (confidence, predicted classes) and, as the
    reference, on the held-out digits (accuracy, confidence)."""
    classifier = fit_digits_classifier()
    sample_probabilities = classifier.predict_proba(samples)
    real = uint8_to_unit_range(held_out.images)
    return {
        "classifier": "logistic regression on the 8x8 digits training split",
        "sample_confidence": float(sample_probabilities.max(axis=1).mean()),
        "recognition_threshold": RECOGNITION_THRESHOLD,
        "sample_recognized": classifier.recognized_fraction(samples),
        "held_out_recognized": classifier.recognized_fraction(real),
        "sample_class_counts": np.bincount(sample_probabilities.argmax(axis=1),
                                           minlength=10).tolist(),
        "held_out_accuracy": classifier.accuracy(real, held_out.labels),
        "held_out_confidence": float(classifier.predict_proba(real).max(axis=1).mean()),
    }


def evaluate_run(diffusion: Diffusion, config: dict[str, Any], *, n_samples: int,
                 vlb_timesteps: int | None, batch_size: int, seed: int,
                 sampling: Sampling = DEFAULT_SAMPLING) -> Evaluation:
    """The metrics of a run loaded with ``load_for_sampling``: on the first ``n_samples``
    held-out images, the test loss and bits/dim; on ``n_samples`` samples of ``sampling``, pixel
    statistics against the same held-out images, the distance to the nearest training image
    against the held-out images' (and, for digits, classifier scores)."""
    for name, value in (("n_samples", n_samples), ("batch_size", batch_size)):
        if value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value}")
    image_shape = tuple(config["image_shape"])
    held_out = load_split(config["data"], "held_out", config["image_size"])
    count = min(n_samples, len(held_out))
    held_out = ImageDataset(held_out.images[:count],
                            held_out.labels[:count] if held_out.has_labels else None,
                            held_out.class_names)
    device = diffusion.schedule.device
    batches = _batches(held_out.images, batch_size, device)
    vlb = held_out_vlb(diffusion, batches, seed, vlb_timesteps)
    bpd = vlb.total()
    samples = generate_samples(diffusion, n_samples, image_shape, batch_size, seed,
                               sampling=sampling)
    training = load_split(config["data"], "train", config["image_size"]).images
    neighbours = nearest_neighbours(samples, training, min(NEIGHBOURS, len(training)))
    held_out_nearest = nearest_neighbours(uint8_to_unit_range(held_out.images), training, 1)
    metrics: dict[str, Any] = {
        "data": config["data"],
        "held_out_examples": count,
        "seed": seed,
        "test_loss": held_out_loss(diffusion, batches, seed),
        "bits_per_dim": float(bpd.mean()),
        "bits_per_dim_stderr": float(bpd.std()) / math.sqrt(count) if count > 1 else None,
        "vlb": {"timesteps": vlb_timesteps or diffusion.num_timesteps,
                "estimator": "full" if vlb_timesteps in (None, diffusion.num_timesteps)
                else "stratified", "variance": VLB_VARIANCE, "clip": True},
        "samples": {"count": n_samples, **sampling.record(diffusion.num_timesteps),
                    **_statistics(samples)},
        "held_out_pixels": _statistics(uint8_to_unit_range(held_out.images)),
        "nearest_training_image": {
            "distance": "rms over pixels in [-1, 1]",
            "samples_median": float(neighbours.distances[:, 0].quantile(0.5)),
            # A near-copy of a training digit shows as a sample much closer than real digits.
            "samples_min": float(neighbours.distances[:, 0].min()),
            "held_out_median": float(held_out_nearest.distances[:, 0].quantile(0.5)),
        },
    }
    if config["data"] == "digits":
        metrics["digits"] = digits_scores(samples, held_out)
        num_classes = config["model"]["config"].get("num_classes")
        if num_classes is not None:
            metrics["digits"]["class_conditional"] = class_conditional_digits_scores(
                diffusion, num_classes, n_samples, image_shape, batch_size, seed, sampling)
    return Evaluation(metrics, samples, vlb, neighbours, training)


def class_conditional_digits_scores(diffusion: Diffusion, num_classes: int, count: int,
                                    image_shape: tuple[int, ...], batch_size: int, seed: int,
                                    sampling: Sampling = DEFAULT_SAMPLING
                                    ) -> dict[str, dict[str, float]]:
    """For each guidance weight in GUIDANCE_WEIGHTS: ask for classes 0, 1, …, 9, 0, … and
    report the fraction the digits classifier sees as the class asked for, and its confidence."""
    classifier = fit_digits_classifier()
    labels = torch.arange(count) % num_classes
    scores = {}
    for guidance in GUIDANCE_WEIGHTS:
        samples = generate_samples(diffusion, count, image_shape, batch_size, seed, labels,
                                   guidance, null_class=num_classes, sampling=sampling)
        probabilities = classifier.predict_proba(samples)
        scores[f"guidance_{guidance:g}"] = {
            "accuracy": classifier.accuracy(samples, labels),
            "confidence": float(probabilities.max(axis=1).mean()),
        }
    return scores


def write_json_atomic(path: str | os.PathLike[str], values: dict[str, Any]) -> Path:
    """Write ``values`` as JSON via a temp file in the same folder, fsync, rename: a reader sees
    the old file or the new one, never a partial one."""
    text = json.dumps(values, indent=2, allow_nan=False) + "\n"  # NaN is not JSON: fail first
    return write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))
