"""Laws LAT-1, LAT-2, LAT-4 … LAT-7, LAT-11: the torch autoencoder equals its numpy twin
(specs/latent.md)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specdiff.nn.autoencoder import (
    Autoencoder,
    autoencoder_loss,
    gaussian_kl_standard_normal,
    sample_latent,
)
from specdiff.nn.autoencoder_config import AutoencoderConfig
from specdiff.spec import autoencoder as spec
from specdiff.testing import assert_close_to_spec
from specdiff.testing.autoencoders import autoencoder_configs_with_image_shapes
from specdiff.testing.nets import numpy_state_dict, randomized_module, to_spec_array

STANDARD_ERRORS = 6.0  # statistical laws: k = 6 (specs/README.md)
seeds = st.integers(0, 2**32 - 1)
dtypes = pytest.mark.parametrize("dtype", [torch.float64, torch.float32],
                                 ids=lambda dtype: str(dtype).removeprefix("torch."))
AutoencoderCase = tuple[AutoencoderConfig, tuple[int, int, int, int], int]


@st.composite
def autoencoder_cases(draw: st.DrawFn) -> AutoencoderCase:
    """(config, image shape, seed of the parameters and the input)."""
    config, shape = draw(autoencoder_configs_with_image_shapes())
    return config, shape, draw(seeds)


def normal_tensor(shape: tuple[int, ...], seed: int, dtype: torch.dtype, device: str
                  ) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(seed).normal(size=shape), dtype=dtype,
                           device=device)


def moment_tensors(dtype: torch.dtype, device: str
                   ) -> st.SearchStrategy[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(mean, logvar, eps) of one (batch, 2, 2, 2) shape: moments in [−3, 3], eps normal-sized."""
    def arrays(bound: float) -> st.SearchStrategy[np.ndarray]:
        return hnp.arrays(np.float64, (2, 2, 2, 2), elements=st.floats(-bound, bound))

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=dtype, device=device)

    return st.tuples(arrays(3.0).map(tensor), arrays(3.0).map(tensor), arrays(4.0).map(tensor))


@pytest.mark.spec("LAT-5")
@dtypes
@given(autoencoder_cases())
def test_encode_equals_the_spec_encoder(device: str, dtype: torch.dtype,
                                        case: AutoencoderCase) -> None:
    config, shape, seed = case
    model = randomized_module(Autoencoder(config), seed, dtype, device)
    x = normal_tensor(shape, seed, dtype, device)
    with torch.no_grad():
        mean, logvar = model.encode(x)
    expected_mean, expected_logvar = spec.encoder(numpy_state_dict(model), config,
                                                  to_spec_array(x))
    assert_close_to_spec(mean, expected_mean, "network")
    assert_close_to_spec(logvar, expected_logvar, "network")
    assert float(logvar.min()) >= config.logvar_min and float(logvar.max()) <= config.logvar_max


@pytest.mark.spec("LAT-6")
@dtypes
@given(autoencoder_cases())
def test_decode_equals_the_spec_decoder(device: str, dtype: torch.dtype,
                                        case: AutoencoderCase) -> None:
    config, shape, seed = case
    model = randomized_module(Autoencoder(config), seed, dtype, device)
    z = normal_tensor(model.latent_shape(shape), seed, dtype, device)
    with torch.no_grad():
        recon = model.decode(z)
    assert_close_to_spec(recon, spec.decoder(numpy_state_dict(model), config, to_spec_array(z)),
                         "network")


@pytest.mark.spec("LAT-1")
def test_forward_keeps_the_image_shape_and_cifar10_f4_gives_8x8x3_latents(device: str) -> None:
    model = Autoencoder(AutoencoderConfig.tiny()).to(device)
    x = torch.zeros(2, 3, 8, 6, device=device)
    recon, mean, logvar = model(x, generator=torch.Generator(device).manual_seed(0))
    assert recon.shape == x.shape and mean.shape == logvar.shape == (2, 2, 4, 3)
    preset = Autoencoder(AutoencoderConfig.cifar10_f4()).to(device)
    assert preset.downsampling_factor == 4
    with torch.no_grad():
        mean, _ = preset.encode(torch.zeros(1, 3, 32, 32, device=device))
        assert mean.shape == (1, 3, 8, 8)
        assert preset.decode(mean).shape == (1, 3, 32, 32)


@pytest.mark.spec("LAT-2")
@dtypes
@given(st.data())
def test_torch_kl_equals_the_spec_kl(device: str, dtype: torch.dtype, data: st.DataObject
                                     ) -> None:
    mean, logvar, _ = data.draw(moment_tensors(dtype, device))
    kl = gaussian_kl_standard_normal(mean, logvar)
    assert kl.dtype == dtype
    assert_close_to_spec(kl, spec.gaussian_kl_standard_normal(
        to_spec_array(mean), to_spec_array(logvar)), "reduction")


@pytest.mark.spec("LAT-4")
@dtypes
@given(st.data())
def test_torch_sample_latent_equals_the_spec(device: str, dtype: torch.dtype,
                                             data: st.DataObject) -> None:
    mean, logvar, eps = data.draw(moment_tensors(dtype, device))
    expected = spec.sample_latent(*(to_spec_array(v) for v in (mean, logvar, eps)))
    # e^(logvar/2)·eps rounds to dtype a product of size up to e^1.5·4: scale by it (elementwise).
    scale = 1.0 + np.exp(0.5 * to_spec_array(logvar)) * np.abs(to_spec_array(eps))
    assert_close_to_spec(sample_latent(mean, logvar, eps), expected, "elementwise", scale=scale)
    model = Autoencoder(AutoencoderConfig.tiny())
    np.testing.assert_array_equal(model.sample_latent(mean, logvar, eps).cpu().numpy(),
                                  sample_latent(mean, logvar, eps).cpu().numpy())


@pytest.mark.spec("LAT-4")
@pytest.mark.parametrize(("mean", "logvar"), [(0.0, 0.0), (1.5, -2.0), (-0.5, 1.0)])
def test_sampled_latents_have_the_posterior_moments(device: str, mean: float,
                                                    logvar: float) -> None:
    samples = 20_000
    mean_tensor = torch.full((samples, 1), mean, dtype=torch.float64, device=device)
    z = Autoencoder(AutoencoderConfig.tiny()).sample_latent(
        mean_tensor, torch.full_like(mean_tensor, logvar),
        generator=torch.Generator(device).manual_seed(0)).cpu().numpy()
    variance = np.exp(logvar)
    assert abs(z.mean() - mean) <= STANDARD_ERRORS * np.sqrt(variance / samples)
    assert abs(z.var(ddof=1) - variance) <= STANDARD_ERRORS * variance * np.sqrt(
        2.0 / (samples - 1))


@pytest.mark.spec("LAT-4")
def test_sample_latent_without_eps_or_generator_is_an_error() -> None:
    zeros = torch.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="eps or generator must be given"):
        Autoencoder(AutoencoderConfig.tiny()).sample_latent(zeros, zeros)


@pytest.mark.spec("LAT-7")
@dtypes
@given(st.data(), seeds, st.floats(0.0, 10.0))
def test_torch_loss_equals_the_spec_loss(device: str, dtype: torch.dtype, data: st.DataObject,
                                         seed: int, beta: float) -> None:
    mean, logvar, _ = data.draw(moment_tensors(dtype, device))
    x, recon = (normal_tensor((2, 3, 4, 4), seed + offset, dtype, device) for offset in (0, 1))
    expected = spec.autoencoder_loss(to_spec_array(x), to_spec_array(recon),
                                     to_spec_array(mean), to_spec_array(logvar), beta)
    assert_close_to_spec(autoencoder_loss(x, recon, mean, logvar, beta), expected, "reduction")


@pytest.mark.spec("LAT-11")
def test_torch_rejects_images_latents_and_beta_outside_the_domain() -> None:
    model = Autoencoder(AutoencoderConfig.tiny())
    with pytest.raises(ValueError, match="data_channels = 3"):
        model.encode(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="multiples of the downsampling factor 2"):
        model.encode(torch.zeros(1, 3, 6, 3))
    with pytest.raises(ValueError, match="z must have 2 channels"):
        model.decode(torch.zeros(1, 3, 2, 2))
    zeros = torch.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="beta must be in"):
        autoencoder_loss(zeros, zeros, zeros, zeros, -0.5)

