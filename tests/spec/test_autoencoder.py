"""Laws LAT-1 … LAT-4, LAT-7 and LAT-11 on the numpy reference alone (specs/latent.md)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specdiff.nn.autoencoder import Autoencoder
from specdiff.nn.autoencoder_config import AutoencoderConfig
from specdiff.spec.autoencoder import (
    autoencoder_loss,
    decoder,
    encoder,
    gaussian_kl_standard_normal,
    kl_single_sample_estimate,
    latent_shape,
    sample_latent,
)
from specdiff.testing import assert_close_to_spec, tolerance_for
from specdiff.testing.autoencoders import autoencoder_configs_with_image_shapes
from specdiff.testing.nets import parameter_shapes, random_parameters

STANDARD_ERRORS = 6.0  # statistical laws: k = 6 (specs/README.md)
KL_SAMPLES = 50_000  # LAT-3's n
seeds = st.integers(0, 2**32 - 1)


def latent_arrays(low: float = -3.0, high: float = 3.0) -> st.SearchStrategy[np.ndarray]:
    """(batch, channel, height, width) arrays of latent moments in [low, high]."""
    return hnp.arrays(np.float64, st.tuples(st.integers(1, 2), st.integers(1, 2),
                                            st.integers(1, 2), st.integers(1, 2)),
                      elements=st.floats(low, high))


def moment_pairs(low: float = -3.0, high: float = 3.0
                 ) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """(mean, logvar) of one shape, entries in [low, high]."""
    return latent_arrays(low, high).flatmap(lambda mean: st.tuples(st.just(mean), hnp.arrays(
        np.float64, mean.shape, elements=st.floats(low, high))))


def per_example_sum(values: np.ndarray) -> np.ndarray:
    sums: np.ndarray = values.reshape(values.shape[0], -1).sum(axis=1)
    return sums


def random_autoencoder_parameters(config: AutoencoderConfig, seed: int
                                  ) -> dict[str, np.ndarray]:
    return random_parameters(parameter_shapes(Autoencoder(config)), seed)


@pytest.mark.spec("LAT-1")
@given(autoencoder_configs_with_image_shapes(), seeds)
def test_encoder_and_decoder_scale_the_sides_by_the_factor(
        case: tuple[AutoencoderConfig, tuple[int, int, int, int]], seed: int) -> None:
    config, shape = case
    params = random_autoencoder_parameters(config, seed)
    mean, logvar = encoder(params, config, np.random.default_rng(seed).normal(size=shape))
    factor = config.downsampling_factor
    expected = (shape[0], config.latent_channels, shape[2] // factor, shape[3] // factor)
    assert mean.shape == logvar.shape == expected == latent_shape(config, shape)
    assert decoder(params, config, mean).shape == shape


@pytest.mark.spec("LAT-1")
def test_presets_downsample_by_2_and_by_4() -> None:
    assert AutoencoderConfig.tiny().downsampling_factor == 2
    config = AutoencoderConfig.cifar10_f4()
    assert config.downsampling_factor == 4
    assert latent_shape(config, (5, 3, 32, 32)) == (5, 3, 8, 8)


@pytest.mark.spec("LAT-2")
@given(moment_pairs(-20.0, 20.0))
def test_kl_is_half_the_sum_of_mean_squared_plus_variance_minus_one_minus_logvar(
        moments: tuple[np.ndarray, np.ndarray]) -> None:
    mean, logvar = moments
    expected = 0.5 * per_example_sum(mean**2 + np.exp(logvar) - 1.0 - logvar)
    kl = gaussian_kl_standard_normal(mean, logvar)
    assert_close_to_spec(kl, expected, "reduction")
    assert np.all(kl >= 0.0)


@pytest.mark.spec("LAT-2")
@given(latent_arrays(), st.booleans(), st.floats(1e-4, 5.0), st.booleans(), st.data())
def test_kl_is_zero_exactly_at_the_standard_normal(
        shape_source: np.ndarray, move_mean: bool, distance: float, negative: bool,
        data: st.DataObject) -> None:
    mean, logvar = np.zeros_like(shape_source), np.zeros_like(shape_source)
    np.testing.assert_array_equal(gaussian_kl_standard_normal(mean, logvar),
                                  np.zeros(mean.shape[0]))
    index = data.draw(st.tuples(*(st.integers(0, size - 1) for size in mean.shape)))
    (mean if move_mean else logvar)[index] = -distance if negative else distance
    kl = gaussian_kl_standard_normal(mean, logvar)
    assert kl[index[0]] > 0.0, f"KL = {kl} with one entry moved by {distance}"


def kl_estimator_variance(mean: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """LAT-3: Var[K̂] = Σ_latent (m²·e^logvar + ½(e^logvar − 1)²), one per example."""
    variance = np.exp(logvar)
    return per_example_sum(mean**2 * variance + 0.5 * (variance - 1.0) ** 2)


@pytest.mark.spec("LAT-3")
@given(moment_pairs(), seeds)
def test_kl_equals_the_mean_of_its_monte_carlo_estimate(
        moments: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    mean, logvar = moments
    eps = np.random.default_rng(seed).normal(size=(KL_SAMPLES, *mean.shape))
    # One estimate per (draw, example): the draws are stacked on a leading batch axis.
    stacked = kl_single_sample_estimate(
        np.broadcast_to(mean, eps.shape).reshape(-1, *mean.shape[1:]),
        np.broadcast_to(logvar, eps.shape).reshape(-1, *mean.shape[1:]),
        eps.reshape(-1, *mean.shape[1:]),
    ).reshape(KL_SAMPLES, mean.shape[0])
    estimate, kl = stacked.mean(axis=0), gaussian_kl_standard_normal(mean, logvar)
    bound = STANDARD_ERRORS * np.sqrt(kl_estimator_variance(mean, logvar) / KL_SAMPLES)
    # Plus float64 rounding of sums of terms of size m² + e^logvar + |logvar| + 1 (reduction
    # policy), which matters only where the statistical bound vanishes: at and near the origin.
    rounding = tolerance_for("float64", "reduction").atol * per_example_sum(
        mean**2 + np.exp(logvar) + np.abs(logvar) + 1.0)
    assert np.all(np.abs(estimate - kl) <= bound + rounding), (
        f"Monte-Carlo KL {estimate} vs closed form {kl}, bound {bound}")


@pytest.mark.spec("LAT-4")
@given(moment_pairs())
def test_sample_latent_is_mean_at_eps_0_and_shifts_by_eps_at_unit_variance(
        moments: tuple[np.ndarray, np.ndarray]) -> None:
    mean, logvar = moments
    np.testing.assert_array_equal(sample_latent(mean, logvar, np.zeros_like(mean)), mean)
    np.testing.assert_array_equal(sample_latent(mean, np.zeros_like(mean), logvar),
                                  mean + logvar)


@pytest.mark.spec("LAT-7")
@given(moment_pairs(), st.floats(0.0, 10.0), st.floats(0.0, 10.0), seeds)
def test_loss_is_the_squared_error_plus_beta_times_the_kl(
        moments: tuple[np.ndarray, np.ndarray], beta: float, other_beta: float, seed: int
) -> None:
    mean, logvar = moments
    rng = np.random.default_rng(seed)
    x, recon = rng.uniform(-1.0, 1.0, size=(2, mean.shape[0], 3, 4, 4))
    kl = gaussian_kl_standard_normal(mean, logvar).mean()
    assert_close_to_spec(autoencoder_loss(x, x, mean, logvar, beta), beta * kl, "reduction")
    squared_error = float(((x - recon) ** 2).sum() / x.shape[0])
    # Affine in β with slope mean KL and intercept the per-example summed squared error.
    for weight in (beta, other_beta):
        assert_close_to_spec(autoencoder_loss(x, recon, mean, logvar, weight),
                             squared_error + weight * kl, "reduction")


CONFIG_ERRORS = [
    ("data_channels", 0), ("base_channels", 0), ("num_res_blocks", 0), ("latent_channels", 0),
    ("norm_groups", 0), ("channel_mults", ()), ("channel_mults", (1, 0)), ("norm_eps", 0.0),
    ("logvar_min", 20.0), ("norm_groups", 3),
]


@pytest.mark.spec("LAT-11")
@pytest.mark.parametrize(("field", "value"), CONFIG_ERRORS)
def test_config_rejects_values_outside_their_range(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(AutoencoderConfig.tiny(), **{field: value})  # type: ignore[arg-type]


@pytest.mark.spec("LAT-11")
def test_spec_rejects_images_latents_and_beta_outside_the_domain() -> None:
    config = AutoencoderConfig.tiny()
    params = random_autoencoder_parameters(config, 0)
    with pytest.raises(ValueError, match="data_channels = 3"):
        encoder(params, config, np.zeros((1, 2, 4, 4)))
    with pytest.raises(ValueError, match="multiples of the downsampling factor 2"):
        encoder(params, config, np.zeros((1, 3, 4, 5)))
    with pytest.raises(ValueError, match="latent_channels = 2"):
        decoder(params, config, np.zeros((1, 3, 2, 2)))
    moments = np.zeros((1, 2, 2, 2))
    with pytest.raises(ValueError, match="beta must be in"):
        autoencoder_loss(moments, moments, moments, moments, -1.0)
