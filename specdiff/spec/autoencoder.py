"""The KL autoencoder as pure functions of its parameters (specs/latent.md, LAT-1 … LAT-7).

``params`` maps the torch ``state_dict`` keys of ``specdiff.nn.Autoencoder`` (``encoder.…``,
``decoder.…``) to arrays. The layers are the U-Net's (specs/nets.md); the res blocks are NET-11
without conditioning.
"""

import math
from collections import ChainMap
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np
from jaxtyping import Float, Float64

from specdiff._typecheck import typechecked
from specdiff.spec._params import parameter
from specdiff.spec._validate import require_finite, require_real_in
from specdiff.spec.likelihood import normal_kl
from specdiff.spec.nets import conv_layer
from specdiff.spec.unet import downsample, norm_layer, res_block, silu, upsample


@runtime_checkable
class AutoencoderLayout(Protocol):
    """The fields of ``specdiff.nn.AutoencoderConfig`` the spec reads (any object with them)."""

    @property
    def data_channels(self) -> int: ...
    @property
    def base_channels(self) -> int: ...
    @property
    def channel_mults(self) -> tuple[int, ...]: ...
    @property
    def num_res_blocks(self) -> int: ...
    @property
    def latent_channels(self) -> int: ...
    @property
    def norm_groups(self) -> int: ...
    @property
    def norm_eps(self) -> float: ...
    @property
    def logvar_min(self) -> float: ...
    @property
    def logvar_max(self) -> float: ...


def downsampling_factor(config: AutoencoderLayout) -> int:
    """LAT-1: f = 2^(len(channel_mults) − 1), one halving per level after the first."""
    return 1 << (len(config.channel_mults) - 1)


def latent_shape(config: AutoencoderLayout, image_shape: tuple[int, ...]) -> tuple[int, ...]:
    """LAT-1: (N, C, H, W) ↦ (N, latent_channels, H/f, W/f), f = downsampling_factor(config)."""
    factor = downsampling_factor(config)
    channels = config.data_channels
    if len(image_shape) != 4 or image_shape[1] != channels:
        raise ValueError(f"images must have shape (batch, {channels}, height, width) "
                         f"(data_channels = {channels}), got {tuple(image_shape)}")
    batch, _, height, width = image_shape
    if height < 1 or width < 1 or height % factor or width % factor:
        raise ValueError(f"image height and width must be positive multiples of the "
                         f"downsampling factor {factor}, got {height}×{width}")
    return (batch, config.latent_channels, height // factor, width // factor)


def unconditioned_res_block(params: Mapping[str, np.ndarray], prefix: str, x: np.ndarray,
                            groups: int, eps: float) -> np.ndarray:
    """LAT-5: NET-11 with nothing to condition on: time_proj(silu(emb)) = 0, written as a
    zero-width emb and a zero time projection, which the torch block has no parameters for."""
    width = parameter(params, f"{prefix}.conv1.bias").shape[0]
    no_time_projection = {f"{prefix}.time_proj.weight": np.zeros((width, 0)),
                          f"{prefix}.time_proj.bias": np.zeros(width)}
    return res_block(ChainMap(no_time_projection, dict(params)), prefix, x,
                     np.zeros((x.shape[0], 0)), groups, eps)


def output_head(params: Mapping[str, np.ndarray], prefix: str, h: np.ndarray,
                config: AutoencoderLayout) -> np.ndarray:
    """conv_out(silu(norm_out(h))) under ``prefix``: the last layers of the encoder and decoder."""
    normalized = norm_layer(params, f"{prefix}.norm_out", h, config.norm_groups, config.norm_eps)
    return conv_layer(params, f"{prefix}.conv_out", silu(normalized))


@typechecked
def encoder(
    params: Mapping[str, np.ndarray],
    config: AutoencoderLayout,
    x: Float[np.ndarray, "batch channel height width"],
) -> tuple[Float64[np.ndarray, "batch latent latent_height latent_width"],
           Float64[np.ndarray, "batch latent latent_height latent_width"]]:
    """LAT-5: h = conv_out(silu(norm_out(down(conv_in(x))))), down = per level ℓ num_res_blocks
    res blocks then a downsample below the last level; (mean, clamp(logvar)) = split(h)."""
    latent_shape(config, x.shape)
    groups, eps = config.norm_groups, config.norm_eps
    levels = len(config.channel_mults)
    h = conv_layer(params, "encoder.conv_in", x)
    for level in range(levels):
        for index in range(config.num_res_blocks):
            h = unconditioned_res_block(params, f"encoder.down.{level}.blocks.{index}", h,
                                        groups, eps)
        if level < levels - 1:
            h = downsample(params, f"encoder.down.{level}.resample", h)
    moments = output_head(params, "encoder", h, config)
    mean, logvar = np.split(moments, 2, axis=1)
    return mean, np.clip(logvar, config.logvar_min, config.logvar_max)


@typechecked
def decoder(
    params: Mapping[str, np.ndarray],
    config: AutoencoderLayout,
    z: Float[np.ndarray, "batch latent latent_height latent_width"],
) -> Float64[np.ndarray, "batch channel height width"]:
    """LAT-6: x̂ = conv_out(silu(norm_out(up(conv_in(z))))), up = per level ℓ = L−1 … 0
    num_res_blocks res blocks then an upsample above level 0."""
    if z.shape[1] != config.latent_channels:
        raise ValueError(f"z must have latent_channels = {config.latent_channels} channels "
                         f"(dim 1), got shape {z.shape}")
    groups, eps = config.norm_groups, config.norm_eps
    h = conv_layer(params, "decoder.conv_in", z)
    for level in reversed(range(len(config.channel_mults))):
        for index in range(config.num_res_blocks):
            h = unconditioned_res_block(params, f"decoder.up.{level}.blocks.{index}", h,
                                        groups, eps)
        if level > 0:
            h = upsample(params, f"decoder.up.{level}.resample", h)
    return output_head(params, "decoder", h, config)


@typechecked
def sample_latent(
    mean: Float[np.ndarray, "*shape"],
    logvar: Float[np.ndarray, "*shape"],
    eps: Float[np.ndarray, "*shape"],
) -> Float64[np.ndarray, "*shape"]:
    """LAT-4: z = mean + e^(logvar/2)·eps (the reparameterization of N(mean, e^logvar))."""
    for name, value in (("mean", mean), ("logvar", logvar), ("eps", eps)):
        require_finite(name, value)
    z: np.ndarray = np.asarray(mean, dtype=np.float64) + np.exp(0.5 * logvar) * eps
    return z


def _sum_per_example(values: np.ndarray) -> np.ndarray:
    sums: np.ndarray = values.reshape(values.shape[0], -1).sum(axis=1)
    return sums


@typechecked
def gaussian_kl_standard_normal(
    mean: Float[np.ndarray, "batch *latent"],
    logvar: Float[np.ndarray, "batch *latent"],
) -> Float64[np.ndarray, "batch"]:
    """LAT-2: KL(N(mean, e^logvar) ‖ N(0, I)) = ½ Σ_latent (mean² + e^logvar − 1 − logvar),
    one value per example (LIK-1 with m2 = 0, lv2 = 0)."""
    return _sum_per_example(normal_kl(mean, logvar, 0.0, 0.0))


@typechecked
def kl_single_sample_estimate(
    mean: Float[np.ndarray, "batch *latent"],
    logvar: Float[np.ndarray, "batch *latent"],
    eps: Float[np.ndarray, "batch *latent"],
) -> Float64[np.ndarray, "batch"]:
    """LAT-3: log q(z) − log p(z) at z = mean + e^(logvar/2)·eps, q = N(mean, e^logvar),
    p = N(0, I): ½ Σ_latent (z² − logvar − (z − mean)²·e^(−logvar)) (the log 2π terms cancel)."""
    z = sample_latent(mean, logvar, eps)
    return 0.5 * _sum_per_example(z**2 - logvar - (z - mean) ** 2 * np.exp(-logvar))


@typechecked
def autoencoder_loss(
    x: Float[np.ndarray, "batch channel height width"],
    recon: Float[np.ndarray, "batch channel height width"],
    mean: Float[np.ndarray, "batch *latent"],
    logvar: Float[np.ndarray, "batch *latent"],
    beta: float,
) -> float:
    """LAT-7: L = mean_n [Σ_pixels (x − x̂)²] + β·mean_n [KL_n] (KL_n of LAT-2)."""
    require_real_in("beta", beta, 0.0, math.inf, high_open=True)
    require_finite("x", x)
    require_finite("recon", recon)
    squared_error = _sum_per_example((np.asarray(x, dtype=np.float64) - recon) ** 2)
    kl = gaussian_kl_standard_normal(mean, logvar)
    return float(squared_error.mean() + beta * kl.mean())
