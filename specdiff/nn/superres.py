"""The SR3-style super-resolution eps-model (specs/conditioning.md, COND-12); twin:
``specdiff.spec.superres.superres_unet``.

``SuperResolutionUNet`` is a ``UNet`` whose first conv reads 2·C channels, [x_t ; upsampled
low_res]. The U-Net has one channel count for its input and output, so the inner U-Net is built
with data_channels = 2·C and only its first C outputs are the prediction: the other C output
channels of conv_out start at zero and get no gradient (a 128→2C instead of 128→C final conv).
"""

import dataclasses
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import nn

from specdiff._typecheck import typechecked
from specdiff.nn._checks import require_channels
from specdiff.nn.superres_input import superres_input
from specdiff.nn.unet import UNet
from specdiff.nn.unet_config import UNetConfig
from specdiff.spec._validate import require_int_at_least


@dataclass(frozen=True)
class SuperResolutionConfig(UNetConfig):
    """A U-Net for the high-resolution image (image_size, data_channels = C of the output) and the
    integer factor ``scale`` between it and the low-resolution input."""

    scale: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        require_int_at_least("scale", self.scale, 1)
        if self.image_size % self.scale:
            raise ValueError(f"scale must divide image_size = {self.image_size}, got {self.scale}")

    @classmethod
    def from_unet(cls, config: UNetConfig, scale: int) -> "SuperResolutionConfig":
        """``config`` (e.g. ``UNetConfig.tiny()``) upscaling by ``scale``."""
        fields = {field.name: getattr(config, field.name)
                  for field in dataclasses.fields(UNetConfig)}
        return cls(**fields, scale=scale)

    def inner_unet(self) -> UNetConfig:
        """The U-Net that reads [x_t ; upsampled low_res]: data_channels = 2·C."""
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(UNetConfig)}
        return UNetConfig(**{**fields, "data_channels": 2 * self.data_channels})


class SuperResolutionUNet(nn.Module):
    """COND-12: ε̂(x_t, t, low_res) = UNet(concat(x_t, upsample_image(low_res, s)), t)[:, :C]."""

    def __init__(self, config: SuperResolutionConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = UNet(config.inner_unet())

    @typechecked
    def forward(
        self,
        x: Float[torch.Tensor, "batch channel height width"],
        t: Int[torch.Tensor, "batch"],
        low_res: Float[torch.Tensor, "batch channel low_height low_width"],
    ) -> Float[torch.Tensor, "batch channel height width"]:
        channels = self.config.data_channels
        require_channels("x", x, channels)
        eps: torch.Tensor = self.unet(superres_input(x, low_res, self.config.scale), t)
        return eps[:, :channels]
