"""Torch models; each has a pure numpy twin in ``specdiff.spec`` that takes its ``state_dict``."""

from specdiff.nn.autoencoder import Autoencoder
from specdiff.nn.autoencoder_config import AutoencoderConfig
from specdiff.nn.epsconv import EpsConvNet, EpsConvNetConfig, EpsResidualConvNet
from specdiff.nn.superres import (
    SuperResolutionConfig,
    SuperResolutionUNet,
)
from specdiff.nn.superres_input import (
    downsample_image,
    make_training_pair,
    superres_input,
    upsample_image,
)
from specdiff.nn.unet import UNet
from specdiff.nn.unet_config import UNetConfig

__all__ = [
    "Autoencoder",
    "AutoencoderConfig",
    "EpsConvNet",
    "EpsConvNetConfig",
    "EpsResidualConvNet",
    "SuperResolutionConfig",
    "SuperResolutionUNet",
    "UNet",
    "UNetConfig",
    "downsample_image",
    "make_training_pair",
    "superres_input",
    "upsample_image",
]
