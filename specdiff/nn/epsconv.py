"""The small eps nets: plain and residual conv nets with a time channel (specs/nets.md).

Their pure numpy twins are ``specdiff.spec.eps_conv_net`` and ``eps_residual_conv_net``, which
take this module's ``state_dict`` (as arrays) as their parameters.
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import nn

from specdiff._typecheck import typechecked
from specdiff.diffusion.forward import append_time_channel
from specdiff.nn._checks import require_batch, require_channels, require_index_range
from specdiff.spec._validate import require_int_at_least


@dataclass(frozen=True)
class EpsConvNetConfig:
    """Widths of a small eps net; t enters as the channel t/num_timesteps (FWD-5)."""

    data_channels: int
    hidden_channels: int
    kernel: int = 3
    num_timesteps: int = 1000

    def __post_init__(self) -> None:
        require_int_at_least("data_channels", self.data_channels, 1)
        require_int_at_least("hidden_channels", self.hidden_channels, 1)
        require_int_at_least("num_timesteps", self.num_timesteps, 1)
        require_int_at_least("kernel", self.kernel, 1)
        if self.kernel % 2 != 1:
            raise ValueError(f"kernel must be an odd int >= 1, got {self.kernel}")


def same_conv(in_channels: int, out_channels: int, kernel: int) -> nn.Conv2d:
    """NET-1: a stride-1 convolution with zero "same" padding (kernel odd)."""
    return nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)


def time_conditioned_input(
    x: torch.Tensor, t: torch.Tensor, config: EpsConvNetConfig
) -> torch.Tensor:
    """Check (x, t) against the config and append the time channel t / num_timesteps."""
    require_channels("x", x, config.data_channels)
    require_batch("t", t, x.shape[0])
    T = config.num_timesteps
    require_index_range("t", t, 0, T, f"[0, T) = [0, {T})")
    return append_time_channel(x, t.to(x.dtype) / T)


class EpsConvNet(nn.Module):
    """NET-3: conv → relu → conv → relu → conv → relu → conv on [x; t/T]."""

    def __init__(self, config: EpsConvNetConfig) -> None:
        super().__init__()
        self.config = config
        width, kernel = config.hidden_channels, config.kernel
        self.convs = nn.ModuleList([
            same_conv(config.data_channels + 1, width, kernel),
            same_conv(width, width, kernel),
            same_conv(width, width, kernel),
            same_conv(width, config.data_channels, kernel),
        ])

    @typechecked
    def forward(
        self,
        x: Float[torch.Tensor, "batch channel height width"],
        t: Int[torch.Tensor, "batch"],
    ) -> Float[torch.Tensor, "batch channel height width"]:
        h = time_conditioned_input(x, t, self.config)
        for conv in self.convs[:-1]:
            h = torch.relu(conv(h))
        eps: torch.Tensor = self.convs[-1](h)
        return eps


class ResidualConvBlock(nn.Module):
    """NET-4: block(x) = x + conv2(relu(conv1(x))), widths unchanged."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.conv1 = same_conv(channels, channels, kernel)
        self.conv2 = same_conv(channels, channels, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch: torch.Tensor = self.conv2(torch.relu(self.conv1(x)))
        return x + branch


class EpsResidualConvNet(nn.Module):
    """NET-5: stem → relu → block → relu → block → relu → head on [x; t/T]."""

    def __init__(self, config: EpsConvNetConfig) -> None:
        super().__init__()
        self.config = config
        width, kernel = config.hidden_channels, config.kernel
        self.stem = same_conv(config.data_channels + 1, width, kernel)
        self.blocks = nn.ModuleList([ResidualConvBlock(width, kernel) for _ in range(2)])
        self.head = same_conv(width, config.data_channels, kernel)

    @typechecked
    def forward(
        self,
        x: Float[torch.Tensor, "batch channel height width"],
        t: Int[torch.Tensor, "batch"],
    ) -> Float[torch.Tensor, "batch channel height width"]:
        h = torch.relu(self.stem(time_conditioned_input(x, t, self.config)))
        for block in self.blocks:
            h = torch.relu(block(h))
        eps: torch.Tensor = self.head(h)
        return eps
