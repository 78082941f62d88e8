"""The exact Gaussian law of a sampler whose every step is affine, and a k = 6 check against it.

With a Gaussian oracle (and no clipping), each step of DDPM, guided DDPM at w = 1, or inpainting is
x ← M·x + b + S·z with z standard normal, so x_0 is exactly Gaussian: the recursion m ← M·m + b,
P ← M·P·Mᵀ + S·Sᵀ from x_T ~ N(0, I) gives its law in float64 (specs/samplers.md, SAMP-6;
specs/conditioning.md, COND-3 and COND-9).
"""

from collections.abc import Callable, Iterable

import numpy as np

STANDARD_ERRORS = 6.0  # statistical laws: k = 6 (specs/README.md)

# One step on a (1, D) state and a (1, D) standard normal draw; affine in both.
AffineStep = Callable[[np.ndarray, np.ndarray], np.ndarray]


def affine_gaussian_law(steps: Iterable[AffineStep], size: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), covariance (D, D)) of the state after ``steps`` from N(0, I); M, b, S are read
    off each step at the unit vectors."""
    mean, covariance = np.zeros(size), np.eye(size)
    zero, unit = np.zeros((1, size)), np.eye(size)
    for step in steps:
        offset = step(zero, zero)[0]
        slope = np.stack([step(unit[i : i + 1], zero)[0] - offset for i in range(size)], axis=1)
        noise = np.stack([step(zero, unit[i : i + 1])[0] - offset for i in range(size)], axis=1)
        mean = slope @ mean + offset
        covariance = slope @ covariance @ slope.T + noise @ noise.T
    return mean, covariance


def assert_gaussian_moments(samples: np.ndarray, mean: np.ndarray, variance: np.ndarray,
                            what: str = "") -> None:
    """k = 6 bounds on each coordinate's sample mean and variance (samples: (n, D))."""
    n = samples.shape[0]
    sample_mean, sample_variance = samples.mean(axis=0), samples.var(axis=0, ddof=1)
    mean_bound = STANDARD_ERRORS * np.sqrt(variance / n)
    assert np.all(np.abs(sample_mean - mean) <= mean_bound), (
        f"{what}: sample mean {sample_mean}, exact {mean}, bound ±{mean_bound}")
    variance_bound = STANDARD_ERRORS * variance * np.sqrt(2.0 / (n - 1))
    assert np.all(np.abs(sample_variance - variance) <= variance_bound), (
        f"{what}: sample variance {sample_variance}, exact {variance}, bound ±{variance_bound}")
