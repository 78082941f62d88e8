"""Torch models; each has a pure numpy twin in ``specdiff.spec`` that takes its ``state_dict``."""

from specdiff.nn.epsconv import EpsConvNet, EpsConvNetConfig, EpsResidualConvNet
from specdiff.nn.unet import UNet
from specdiff.nn.unet_config import UNetConfig

__all__ = ["EpsConvNet", "EpsConvNetConfig", "EpsResidualConvNet", "UNet", "UNetConfig"]
