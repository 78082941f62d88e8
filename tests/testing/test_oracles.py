"""The oracles are E[ε | x_t] (SAMP-5): checked by the defining properties of a conditional mean."""

import numpy as np
import pytest
import torch

from specdiff.diffusion import NoiseSchedule, noised_sample_from_eps
from specdiff.testing import GaussianMixtureOracle, GaussianOracle, assert_close_to_spec

STANDARD_ERRORS = 6.0  # statistical laws: k = 6 (specs/README.md)
SCHEDULE = NoiseSchedule.linear(100, 1e-3, 0.2)
N = 20_000


def residuals(oracle: torch.nn.Module, x0: torch.Tensor, t: int, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """(ε − ε̂(x_t), x_t) for x_t noised from x0 at t."""
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed),
                      dtype=torch.float64)
    steps = torch.full((x0.shape[0],), t)
    x_t, _ = noised_sample_from_eps(SCHEDULE.alpha_bars, x0, eps, steps)
    return (eps - oracle(x_t, steps)).numpy(), x_t.numpy()


def assert_mean_zero(values: np.ndarray, std: np.ndarray) -> None:
    bound = STANDARD_ERRORS * std / np.sqrt(values.shape[0])
    assert np.all(np.abs(values.mean(axis=0)) <= bound), (values.mean(axis=0), bound)


@pytest.mark.spec("SAMP-5")
@pytest.mark.parametrize("t", [0, 30, 99])
def test_gaussian_oracle_residual_is_centred_uncorrelated_and_minimal(t: int) -> None:
    mean, std = np.array([0.3, -0.2]), np.array([0.5, 0.2])
    x0 = torch.from_numpy(mean + std * np.random.default_rng(t).standard_normal((N, 2)))
    residual, x_t = residuals(GaussianOracle(SCHEDULE, torch.from_numpy(mean),
                                             torch.from_numpy(std)), x0, t, seed=t)
    alpha_bar = float(SCHEDULE.alpha_bars[t])
    x_t_variance = alpha_bar * std**2 + 1 - alpha_bar
    # Var(ε | x_t) of the jointly Gaussian pair: the least mean square error possible.
    residual_variance = 1 - (1 - alpha_bar) / x_t_variance
    centred_x_t = x_t - np.sqrt(alpha_bar) * mean
    assert_mean_zero(residual, np.sqrt(residual_variance))
    # r is independent of x_t, so Var(r·(x_t − E x_t)) = Var r·Var x_t.
    assert_mean_zero(residual * centred_x_t, np.sqrt(residual_variance * x_t_variance))
    bound = STANDARD_ERRORS * residual_variance * np.sqrt(2 / (N - 1))
    assert np.all(np.abs(residual.var(axis=0, ddof=1) - residual_variance) <= bound)


@pytest.mark.spec("SAMP-5")
@pytest.mark.parametrize("t", [10, 60])
def test_mixture_oracle_residual_is_centred_and_uncorrelated(t: int) -> None:
    means, stds, weights = np.array([-0.5, 0.5]), np.array([0.1, 0.2]), np.array([0.3, 0.7])
    rng = np.random.default_rng(t)
    component = rng.choice(2, size=N, p=weights)
    x0 = torch.from_numpy((means[component] + stds[component] * rng.standard_normal(N))[:, None])
    oracle = GaussianMixtureOracle(SCHEDULE, torch.from_numpy(means), torch.from_numpy(stds),
                                   torch.from_numpy(weights))
    residual, x_t = residuals(oracle, x0, t, seed=t)
    # Not Gaussian: the bounds use the sample standard deviation of each statistic.
    assert_mean_zero(residual, residual.std(axis=0, ddof=1))
    product = residual * x_t
    assert_mean_zero(product, product.std(axis=0, ddof=1))


@pytest.mark.spec("SAMP-5")
def test_mixture_oracle_reduces_to_the_gaussian_oracle() -> None:
    x_t = torch.randn(5, 1, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t = torch.tensor([0, 10, 50, 99, 3])
    means, stds = torch.tensor([-0.5, 0.5]), torch.tensor([0.1, 0.2])
    mixture = GaussianMixtureOracle(SCHEDULE, means, stds, torch.tensor([0.4, 0.6]))
    for k in range(2):
        labels = torch.full((5,), k)
        assert_close_to_spec(mixture(x_t, t, labels),
                             GaussianOracle(SCHEDULE, means[k], stds[k])(x_t, t), "elementwise")
    single = GaussianMixtureOracle(SCHEDULE, means[:1], stds[:1], torch.ones(1))
    assert_close_to_spec(single(x_t, t), GaussianOracle(SCHEDULE, means[0], stds[0])(x_t, t),
                         "elementwise")


@pytest.mark.spec("SAMP-5")
def test_oracle_arguments_are_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="std must be in"):
        GaussianOracle(SCHEDULE, 0.0, 0.0)
    with pytest.raises(ValueError, match="weights must sum to 1"):
        GaussianMixtureOracle(SCHEDULE, torch.zeros(2), torch.ones(2), torch.ones(2))
    mixture = GaussianMixtureOracle(SCHEDULE, torch.zeros(2), torch.ones(2), torch.full((2,), 0.5))
    with pytest.raises(ValueError, match=r"class_labels must be in \[0, K\) = \[0, 2\)"):
        mixture(torch.zeros(1, 1), torch.zeros(1, dtype=torch.int64), torch.tensor([2]))
    with pytest.raises(ValueError, match=r"t must be in \[0, T\) = \[0, 100\)"):
        mixture(torch.zeros(1, 1), torch.tensor([100]))
