"""The U-Net's configuration: a frozen dataclass with named presets, free of torch.

``specdiff.spec.unet.unet`` reads the same fields (any object with them will do), so the spec and
the torch model are built from one description.
"""

from dataclasses import dataclass

from specdiff.spec._validate import require_int_at_least, require_real_in
from specdiff.spec.unet import DOWNSAMPLE_PADDINGS


@dataclass(frozen=True)
class UNetConfig:
    """A DDPM / improved-DDPM U-Net (specs/nets.md, NET-16).

    Level ℓ (0-based) works at resolution image_size / 2^ℓ with base_channels·channel_mults[ℓ]
    channels and has self-attention after each res block when its resolution is listed in
    attention_resolutions. The time embedding has 4·base_channels channels.
    """

    image_size: int
    data_channels: int
    base_channels: int
    channel_mults: tuple[int, ...]
    num_res_blocks: int
    attention_resolutions: tuple[int, ...]
    attention_heads: int = 1
    dropout: float = 0.0
    norm_groups: int = 32
    norm_eps: float = 1e-6
    num_classes: int | None = None
    num_timesteps: int = 1000
    gradient_checkpointing: bool = False
    downsample_padding: str = "symmetric"

    def __post_init__(self) -> None:
        require_int_at_least("image_size", self.image_size, 1)
        require_int_at_least("data_channels", self.data_channels, 1)
        require_int_at_least("base_channels", self.base_channels, 4)
        if self.base_channels % 2:
            raise ValueError(
                f"base_channels must be even (the sinusoidal embedding has base_channels/2 "
                f"sin and cos pairs), got {self.base_channels}"
            )
        if not self.channel_mults:
            raise ValueError("channel_mults must name at least one level, got ()")
        for mult in self.channel_mults:
            require_int_at_least("every channel_mults entry", mult, 1)
        require_int_at_least("num_res_blocks", self.num_res_blocks, 1)
        require_int_at_least("attention_heads", self.attention_heads, 1)
        require_int_at_least("norm_groups", self.norm_groups, 1)
        require_int_at_least("num_timesteps", self.num_timesteps, 1)
        if self.num_classes is not None:
            require_int_at_least("num_classes", self.num_classes, 1)
        require_real_in("dropout", self.dropout, 0.0, 1.0, high_open=True)
        require_real_in("norm_eps", self.norm_eps, 0.0, float("inf"), low_open=True,
                        high_open=True)
        if self.downsample_padding not in DOWNSAMPLE_PADDINGS:
            raise ValueError(f"downsample_padding must be one of {DOWNSAMPLE_PADDINGS}, got "
                             f"{self.downsample_padding!r}")
        self._check_layout()

    def _check_layout(self) -> None:
        downsamplings = len(self.channel_mults) - 1
        if self.image_size % 2**downsamplings:
            raise ValueError(
                f"image_size must be divisible by 2^{downsamplings} (one halving per level after "
                f"the first), got {self.image_size}"
            )
        resolutions = [self.level_resolution(level) for level in range(len(self.channel_mults))]
        for resolution in self.attention_resolutions:
            if resolution not in resolutions:
                raise ValueError(
                    f"attention_resolutions must be among the level resolutions {resolutions}, "
                    f"got {resolution}"
                )
        # Every GroupNorm input is a sum of level widths (skip concatenations included), so
        # dividing each level width divides them all.
        for level in range(len(self.channel_mults)):
            channels = self.level_channels(level)
            if channels % self.norm_groups:
                raise ValueError(
                    f"norm_groups must divide every level width base_channels·channel_mults[ℓ], "
                    f"got norm_groups = {self.norm_groups} and width {channels} at level {level}"
                )
            attends = self.has_attention(level) or level == len(self.channel_mults) - 1
            if attends and channels % self.attention_heads:
                raise ValueError(
                    f"attention_heads must divide the width {channels} of level {level}, which "
                    f"has attention, got {self.attention_heads}"
                )

    def level_channels(self, level: int) -> int:
        """Width of level ℓ: base_channels·channel_mults[ℓ]."""
        return self.base_channels * self.channel_mults[level]

    def level_resolution(self, level: int) -> int:
        """Side of the feature maps at level ℓ: image_size / 2^ℓ."""
        return self.image_size >> level  # halved once per level

    def has_attention(self, level: int) -> bool:
        return self.level_resolution(level) in self.attention_resolutions

    @property
    def time_embedding_channels(self) -> int:
        return 4 * self.base_channels

    @classmethod
    def ddpm_cifar10(cls) -> "UNetConfig":
        """The CIFAR-10 model of Ho et al. (2020): 35.7M parameters, downsampling with
        TensorFlow's "SAME" padding (bottom_right) like the paper's code and its released
        checkpoint (diffusers' google/ddpm-cifar10-32, downsample_padding=0)."""
        return cls(
            image_size=32,
            data_channels=3,
            base_channels=128,
            channel_mults=(1, 2, 2, 2),
            num_res_blocks=2,
            attention_resolutions=(16,),
            dropout=0.1,
            downsample_padding="bottom_right",
        )

    @classmethod
    def digits(cls) -> "UNetConfig":
        """The README's CPU demo: the 8×8 grey digits at their own resolution, two levels (8,
        4) of 16 and 32 channels, no attention, 164k parameters. On one core it takes about a
        third of the time per image of ``digits_large()``, and in the demo's two-minute budget
        its extra steps buy more than the large model's width (README, "The demo's recipe")."""
        return cls(
            image_size=8,
            data_channels=1,
            base_channels=16,
            channel_mults=(1, 2),
            num_res_blocks=1,
            attention_resolutions=(),
            norm_groups=8,
        )

    @classmethod
    def digits_large(cls) -> "UNetConfig":
        """The earlier digits demo: three levels (8, 4, 2), attention at 4×4, 1.1M parameters;
        better than ``digits()`` given several times the training time."""
        return cls(
            image_size=8,
            data_channels=1,
            base_channels=32,
            channel_mults=(1, 2, 2),
            num_res_blocks=1,
            attention_resolutions=(4,),
            norm_groups=8,
        )

    @classmethod
    def tiny(cls) -> "UNetConfig":
        """An 8×8 two-level model for tests: every feature (attention, skips, resampling) in
        a few thousand parameters."""
        return cls(
            image_size=8,
            data_channels=3,
            base_channels=8,
            channel_mults=(1, 2),
            num_res_blocks=1,
            attention_resolutions=(4,),
            norm_groups=4,
        )
