"""Laws LAT-8 … LAT-10: diffusion on the scaled latents of a frozen autoencoder
(specs/latent.md)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional

from specdiff.diffusion import Diffusion, NoiseSchedule
from specdiff.latent import LatentDiffusion, estimate_scale_factor
from specdiff.nn import UNet, UNetConfig
from specdiff.nn.autoencoder import Autoencoder
from specdiff.nn.autoencoder_config import AutoencoderConfig
from specdiff.spec import autoencoder as spec
from specdiff.testing import GaussianOracle, assert_close_to_spec
from specdiff.testing.nets import numpy_state_dict, randomized_module, to_spec_array

seeds = st.integers(0, 2**32 - 1)
# A UNet on the 4×4×2 latents of AutoencoderConfig.tiny() on 8×8 images.
LATENT_UNET = UNetConfig(image_size=4, data_channels=2, base_channels=8, channel_mults=(1,),
                         num_res_blocks=1, attention_resolutions=(), norm_groups=4,
                         num_timesteps=20)


class PixelUnshuffleAutoencoder(nn.Module):
    """An exactly invertible linear autoencoder: encode = gain·unshuffle_f(x) (each f×f patch
    becomes f² channels), decode its inverse; with gain a power of 2 both are exact in floats."""

    def __init__(self, factor: int, gain: float) -> None:
        super().__init__()
        self.factor, self.gain = factor, gain

    def latent_shape(self, image_shape: tuple[int, ...]) -> tuple[int, ...]:
        batch, channels, height, width = image_shape
        return (batch, channels * self.factor**2, height // self.factor, width // self.factor)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.gain * functional.pixel_unshuffle(x, self.factor)
        return mean, torch.zeros_like(mean)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return functional.pixel_shuffle(z / self.gain, self.factor)


def latent_diffusion(seed: int, scale_factor: float, device: str = "cpu") -> LatentDiffusion:
    """Random tiny autoencoder and latent U-Net, float64 (so LAT-9 compares in float64)."""
    autoencoder = randomized_module(Autoencoder(AutoencoderConfig.tiny()), seed, torch.float64,
                                    device)
    unet = randomized_module(UNet(LATENT_UNET), seed + 1, torch.float64, device)
    return LatentDiffusion(autoencoder, unet, NoiseSchedule.linear(20, 1e-3, 0.2),
                           scale_factor).to(device)


def images(seed: int, batch: int = 3, device: str = "cpu") -> torch.Tensor:
    values = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(batch, 3, 8, 8))
    return torch.as_tensor(values, dtype=torch.float64, device=device)


@pytest.mark.spec("LAT-8")
@given(seeds, st.floats(0.1, 2.0))
def test_latent_loss_is_the_diffusion_loss_of_the_scaled_mean(seed: int, scale_factor: float
                                                              ) -> None:
    model = latent_diffusion(seed % 2**31, scale_factor)
    x0 = images(seed)
    t = torch.as_tensor(np.random.default_rng(seed).integers(0, 20, size=3))
    eps = torch.as_tensor(np.random.default_rng(seed + 1).normal(size=(3, 2, 4, 4)))
    with torch.no_grad():
        z0 = scale_factor * model.autoencoder.encode(x0)[0]
        expected = Diffusion(model.diffusion.model, model.diffusion.schedule).compute_loss(
            z0, t=t, eps=eps)
        assert torch.equal(model.compute_loss(x0, t=t, eps=eps), expected)
        drawn = model.compute_loss(x0, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(drawn, model.diffusion.compute_loss(
            z0, generator=torch.Generator().manual_seed(seed)))


@pytest.mark.spec("LAT-8")
def test_latent_loss_trains_the_unet_and_leaves_the_autoencoder_frozen() -> None:
    model = latent_diffusion(0, 0.5)
    model.compute_loss(images(0), generator=torch.Generator().manual_seed(0)).backward()  # type: ignore[no-untyped-call]
    assert all(p.grad is None for p in model.autoencoder.parameters())  # type: ignore[attr-defined]
    assert all(p.grad is not None for p in model.diffusion.model.parameters())


@pytest.mark.spec("LAT-9")
@given(seeds)
def test_scale_factor_gives_latents_of_unit_std(seed: int) -> None:
    model = latent_diffusion(seed % 2**31, 1.0)
    x = images(seed, batch=2)
    scale_factor = estimate_scale_factor(model.autoencoder, x)
    params = numpy_state_dict(model.autoencoder)  # type: ignore[arg-type]
    mean, _ = spec.encoder(params, AutoencoderConfig.tiny(), to_spec_array(x))
    assert_close_to_spec(scale_factor, 1.0 / np.std(mean, ddof=1), "reduction")
    assert_close_to_spec(np.std(scale_factor * mean, ddof=1), 1.0, "reduction")


@pytest.mark.spec("LAT-9")
@pytest.mark.parametrize("scale_factor", [0.0, -1.0, math.inf, math.nan])
def test_scale_factor_must_be_finite_and_positive(scale_factor: float) -> None:
    with pytest.raises(ValueError, match="scale_factor must"):
        latent_diffusion(0, scale_factor)


@pytest.mark.spec("LAT-9")
def test_scale_factor_of_constant_latents_is_an_error() -> None:
    with pytest.raises(ValueError, match="finite positive std"):
        estimate_scale_factor(PixelUnshuffleAutoencoder(2, 1.0), torch.ones(2, 1, 4, 4))


@pytest.mark.spec("LAT-10")
@pytest.mark.parametrize(("sampler", "eta", "steps"),
                         [("ddpm", 0.0, None), ("ddim", 0.0, 5), ("ddim", 1.0, 5)])
def test_latent_sampling_is_pixel_sampling_mapped_through_the_decoder(
        device: str, sampler: str, eta: float, steps: int | None) -> None:
    schedule = NoiseSchedule.linear(20, 1e-3, 0.2)
    # The oracle's data is far outside [−1, 1]: clipping there would change every sample.
    oracle = GaussianOracle(schedule, mean=3.0, std=0.5)
    autoencoder = PixelUnshuffleAutoencoder(factor=2, gain=2.0)
    model = LatentDiffusion(autoencoder, oracle, schedule, scale_factor=0.5).to(device)
    image_shape = (4, 3, 8, 6)
    generated = model.generate(image_shape, steps=steps, sampler=sampler,  # type: ignore[arg-type]
                               eta=eta, seed=7)
    latents = Diffusion(oracle, schedule).to(device).generate(
        (4, 12, 4, 3), steps=steps, sampler=sampler, eta=eta, seed=7,  # type: ignore[arg-type]
        clip=False)
    assert generated.shape == image_shape
    assert torch.equal(generated, autoencoder.decode(latents / 0.5))
    assert float(generated.mean()) > 2.0, "latents were clipped to [−1, 1]"
