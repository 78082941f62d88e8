"""The KL autoencoder of latent diffusion (specs/latent.md); twin: ``specdiff.spec.autoencoder``.

Layout (Rombach et al. 2022, without attention): the encoder is conv_in; per level ℓ,
num_res_blocks res blocks, then a stride-2 downsample except at the last level; GroupNorm, SiLU
and conv_out to 2·latent_channels channels, the mean and the log-variance of a diagonal Gaussian
q(z | x). The decoder mirrors it with ×2 upsamples and ends in data_channels channels. The res
blocks are the U-Net's (NET-11) with nothing to condition on.
"""

import torch
from jaxtyping import Float
from torch import nn
from torch.nn import functional

from specdiff._typecheck import typechecked
from specdiff.diffusion.likelihood import normal_kl
from specdiff.nn._checks import require_channels
from specdiff.nn.autoencoder_config import AutoencoderConfig
from specdiff.nn.unet_layers import Downsample, ResBlock, Upsample
from specdiff.spec._validate import require_real_in
from specdiff.spec.autoencoder import latent_shape


class NoTimeProjection(nn.Module):
    """Stands in for a res block's time projection when nothing conditions it: adds 0."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return emb.new_zeros(emb.shape[0], self.channels)


class UnconditionedResBlock(ResBlock):
    """LAT-5: NET-11 with time_proj(silu(emb)) = 0: skip(x) + conv2(silu(norm2(conv1(silu(
    norm1(x))))))."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, eps: float) -> None:
        super().__init__(in_channels, out_channels, 1, groups, eps, dropout=0.0)
        # ResBlock's forward calls time_proj; this one adds 0 and has no parameters, so the
        # state_dict holds no time projection (ResBlock types the attribute as nn.Linear).
        self.time_proj = NoTimeProjection(out_channels)  # type: ignore[assignment]

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        """``emb`` is accepted for ResBlock's signature and ignored: there is no conditioning."""
        return super().forward(x, x.new_zeros(x.shape[0], 0))


def _output_head(config: AutoencoderConfig, in_channels: int, out_channels: int
                 ) -> tuple[nn.GroupNorm, nn.Conv2d]:
    """norm_out and conv_out, the last layers of the encoder and of the decoder."""
    return (nn.GroupNorm(config.norm_groups, in_channels, config.norm_eps),
            nn.Conv2d(in_channels, out_channels, 3, padding=1))


class Level(nn.Module):
    """num_res_blocks res blocks from in_channels to width, then ``resample`` (a Downsample in
    the encoder, an Upsample in the decoder, None at the lowest-resolution or the last level)."""

    def __init__(self, config: AutoencoderConfig, in_channels: int, width: int,
                 resample: Downsample | Upsample | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([
            UnconditionedResBlock(in_channels if index == 0 else width, width,
                                  config.norm_groups, config.norm_eps)
            for index in range(config.num_res_blocks)
        ])
        self.resample = resample

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h)
        return h if self.resample is None else self.resample(h)


class Encoder(nn.Module):
    """LAT-5: x ↦ (mean, logvar) of q(z | x), logvar clamped to [logvar_min, logvar_max]."""

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        self.conv_in = nn.Conv2d(config.data_channels, config.base_channels, 3, padding=1)
        last = len(config.channel_mults) - 1
        widths = [config.level_channels(level) for level in range(last + 1)]
        self.down = nn.ModuleList([
            Level(config, widths[level - 1] if level else config.base_channels, widths[level],
                  Downsample(widths[level]) if level < last else None)
            for level in range(last + 1)
        ])
        self.norm_out, self.conv_out = _output_head(config, widths[last],
                                                    2 * config.latent_channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        mean, logvar = self.conv_out(functional.silu(self.norm_out(h))).chunk(2, dim=1)
        return mean, logvar.clamp(self.config.logvar_min, self.config.logvar_max)


class Decoder(nn.Module):
    """LAT-6: z ↦ x̂, the encoder's levels in reverse with ×2 upsamples."""

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        last = len(config.channel_mults) - 1
        widths = [config.level_channels(level) for level in range(last + 1)]
        self.conv_in = nn.Conv2d(config.latent_channels, widths[last], 3, padding=1)
        # up[ℓ] works at the resolution of the encoder's down[ℓ] and runs from ℓ = L−1 down.
        self.up = nn.ModuleList([
            Level(config, widths[level + 1] if level < last else widths[last], widths[level],
                  Upsample(widths[level]) if level > 0 else None)
            for level in range(last + 1)
        ])
        self.norm_out, self.conv_out = _output_head(config, widths[0], config.data_channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)
        for level in reversed(self.up):
            h = level(h)
        out: torch.Tensor = self.conv_out(functional.silu(self.norm_out(h)))
        return out


@typechecked
def sample_latent(
    mean: Float[torch.Tensor, "*shape"],
    logvar: Float[torch.Tensor, "*shape"],
    eps: Float[torch.Tensor, "*shape"],
) -> Float[torch.Tensor, "*shape"]:
    """LAT-4: z = mean + e^(logvar/2)·eps (the reparameterization of N(mean, e^logvar))."""
    return mean + torch.exp(0.5 * logvar) * eps


@typechecked
def gaussian_kl_standard_normal(
    mean: Float[torch.Tensor, "batch *latent"],
    logvar: Float[torch.Tensor, "batch *latent"],
) -> Float[torch.Tensor, "batch"]:
    """LAT-2: KL(N(mean, e^logvar) ‖ N(0, I)) = ½ Σ_latent (mean² + e^logvar − 1 − logvar),
    one value per example, in mean's dtype (computed in float64, as LIK-1)."""
    kl = normal_kl(mean, logvar, 0.0, 0.0)
    return kl.flatten(1).sum(dim=1).to(mean.dtype)


@typechecked
def autoencoder_loss(
    x: Float[torch.Tensor, "batch channel height width"],
    recon: Float[torch.Tensor, "batch channel height width"],
    mean: Float[torch.Tensor, "batch *latent"],
    logvar: Float[torch.Tensor, "batch *latent"],
    beta: float,
) -> Float[torch.Tensor, ""]:
    """LAT-7: L = mean_n [Σ_pixels (x − x̂)²] + β·mean_n [KL_n] (KL_n of LAT-2)."""
    require_real_in("beta", beta, 0.0, float("inf"), high_open=True)
    squared_error = (x - recon).square().flatten(1).sum(dim=1)
    return squared_error.mean() + beta * gaussian_kl_standard_normal(mean, logvar).mean()


class Autoencoder(nn.Module):
    """A KL autoencoder: ``encode(x) -> (mean, logvar)``, ``sample_latent``, ``decode(z)``;
    calling it encodes, samples z and decodes: ``(recon, mean, logvar)``."""

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    @property
    def downsampling_factor(self) -> int:
        return self.config.downsampling_factor

    def latent_shape(self, image_shape: tuple[int, ...]) -> tuple[int, ...]:
        """LAT-1: (N, C, H, W) ↦ (N, latent_channels, H/f, W/f)."""
        return latent_shape(self.config, tuple(image_shape))

    @typechecked
    def encode(
        self, x: Float[torch.Tensor, "batch channel height width"]
    ) -> tuple[Float[torch.Tensor, "batch latent latent_height latent_width"],
               Float[torch.Tensor, "batch latent latent_height latent_width"]]:
        """LAT-5: the mean and the clamped log-variance of q(z | x)."""
        self.latent_shape(tuple(x.shape))
        mean, logvar = self.encoder(x)
        return mean, logvar

    @typechecked
    def sample_latent(
        self,
        mean: Float[torch.Tensor, "batch *latent"],
        logvar: Float[torch.Tensor, "batch *latent"],
        eps: Float[torch.Tensor, "batch *latent"] | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> Float[torch.Tensor, "batch *latent"]:
        """LAT-4: z = mean + e^(logvar/2)·eps, eps drawn from ``generator`` when not given."""
        if eps is None:
            if generator is None:
                raise ValueError("eps or generator must be given (sampling never uses the "
                                 "global RNG), got neither")
            eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype,
                              device=mean.device)
        return sample_latent(mean, logvar, eps)

    @typechecked
    def decode(
        self, z: Float[torch.Tensor, "batch latent latent_height latent_width"]
    ) -> Float[torch.Tensor, "batch channel height width"]:
        """LAT-6: the reconstruction x̂ of z."""
        require_channels("z", z, self.config.latent_channels)
        recon: torch.Tensor = self.decoder(z)
        return recon

    @typechecked
    def forward(
        self,
        x: Float[torch.Tensor, "batch channel height width"],
        eps: Float[torch.Tensor, "batch latent latent_height latent_width"] | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[Float[torch.Tensor, "batch channel height width"],
               Float[torch.Tensor, "batch latent latent_height latent_width"],
               Float[torch.Tensor, "batch latent latent_height latent_width"]]:
        """(decode(sample_latent(encode(x), eps)), mean, logvar): the inputs of
        ``autoencoder_loss``."""
        mean, logvar = self.encode(x)
        return self.decode(self.sample_latent(mean, logvar, eps, generator=generator)), mean, logvar
