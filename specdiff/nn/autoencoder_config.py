"""The KL autoencoder's configuration: a frozen dataclass with named presets, free of torch.

``specdiff.spec.autoencoder`` reads the same fields (any object with them will do), so the spec and
the torch model are built from one description.
"""

import math
from dataclasses import dataclass

from specdiff.spec._validate import require_int_at_least, require_real_in
from specdiff.spec.autoencoder import downsampling_factor


@dataclass(frozen=True)
class AutoencoderConfig:
    """A KL autoencoder (specs/latent.md, LAT-1, LAT-5, LAT-6).

    Level ℓ (0-based) has base_channels·channel_mults[ℓ] channels and num_res_blocks res blocks;
    every level but the last halves the image side, so the downsampling factor is
    f = 2^(len(channel_mults) − 1). The encoder's log-variance is clamped to
    [logvar_min, logvar_max].
    """

    data_channels: int
    base_channels: int
    channel_mults: tuple[int, ...]
    num_res_blocks: int
    latent_channels: int
    norm_groups: int = 32
    norm_eps: float = 1e-6
    # The clamp of Rombach et al. (2022): e^(−30/2) ≈ 3e-7 and e^(20/2) ≈ 2e4 bound the latent
    # std, so a diverging encoder cannot make the KL or the sample overflow.
    logvar_min: float = -30.0
    logvar_max: float = 20.0

    def __post_init__(self) -> None:
        require_int_at_least("data_channels", self.data_channels, 1)
        require_int_at_least("base_channels", self.base_channels, 1)
        if not self.channel_mults:
            raise ValueError("channel_mults must name at least one level, got ()")
        for mult in self.channel_mults:
            require_int_at_least("every channel_mults entry", mult, 1)
        require_int_at_least("num_res_blocks", self.num_res_blocks, 1)
        require_int_at_least("latent_channels", self.latent_channels, 1)
        require_int_at_least("norm_groups", self.norm_groups, 1)
        require_real_in("norm_eps", self.norm_eps, 0.0, math.inf, low_open=True, high_open=True)
        require_real_in("logvar_max", self.logvar_max, -math.inf, math.inf, low_open=True,
                        high_open=True)
        require_real_in("logvar_min", self.logvar_min, -math.inf, self.logvar_max,
                        low_open=True, high_open=True)
        for level in range(len(self.channel_mults)):
            width = self.level_channels(level)
            if width % self.norm_groups:
                raise ValueError(
                    f"norm_groups must divide every level width base_channels·channel_mults[ℓ], "
                    f"got norm_groups = {self.norm_groups} and width {width} at level {level}"
                )

    def level_channels(self, level: int) -> int:
        """Width of level ℓ: base_channels·channel_mults[ℓ]."""
        return self.base_channels * self.channel_mults[level]

    @property
    def downsampling_factor(self) -> int:
        """LAT-1: f = 2^(len(channel_mults) − 1), one halving per level after the first."""
        return downsampling_factor(self)

    @classmethod
    def cifar10_f4(cls) -> "AutoencoderConfig":
        """The KL-f4 first stage of Rombach et al. (2022) on 32×32×3: 8×8×3 latents."""
        return cls(
            data_channels=3,
            base_channels=128,
            channel_mults=(1, 2, 4),
            num_res_blocks=2,
            latent_channels=3,
        )

    @classmethod
    def tiny(cls) -> "AutoencoderConfig":
        """A two-level (f = 2) model for tests, a few thousand parameters."""
        return cls(
            data_channels=3,
            base_channels=8,
            channel_mults=(1, 2),
            num_res_blocks=1,
            latent_channels=2,
            norm_groups=4,
        )
