"""The U-Net's layers (specs/nets.md, NET-7 … NET-15); twins in ``specdiff.spec.unet``.

The last layer of every residual branch (res block conv2, attention proj_out) starts at zero, as
in DDPM, so a fresh block is the identity on its skip path.
"""

import math

import torch
from torch import nn
from torch.nn import functional

from specdiff.spec.unet import DOWNSAMPLE_PADDINGS, MAX_PERIOD


def timestep_embedding(t: torch.Tensor, channels: int, dtype: torch.dtype) -> torch.Tensor:
    """NET-7: e[n, i] = sin(t_n·f_i), e[n, d/2 + i] = cos(t_n·f_i), f_i = 10000^(−i/(d/2 − 1))."""
    half = channels // 2
    exponents = torch.arange(half, device=t.device, dtype=dtype) / (half - 1)
    frequencies = torch.exp(-math.log(MAX_PERIOD) * exponents)
    angles = t.to(dtype)[:, None] * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def zeroed(module: nn.Conv2d | nn.Linear) -> nn.Conv2d | nn.Linear:
    """``module`` with weight and bias set to zero (the start of a residual branch's last layer)."""
    nn.init.zeros_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


def silu_of_fresh(x: torch.Tensor) -> torch.Tensor:
    """silu(x) for an ``x`` nothing else holds (a norm's output): computed in place when no
    autograd graph is recorded (silu's backward needs its input), saving one activation."""
    return functional.silu(x, inplace=not torch.is_grad_enabled())


class ResBlock(nn.Module):
    """NET-11: h = conv1(silu(norm1(x))) + time_proj(silu(emb));
    out = skip(x) + conv2(dropout(silu(norm2(h))))."""

    def __init__(self, in_channels: int, out_channels: int, emb_channels: int, groups: int,
                 eps: float, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_proj = nn.Linear(emb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zeroed(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        # A 1×1 conv matches the widths when they differ (DDPM's "nin_shortcut").
        self.skip = (nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels
                     else nn.Identity())

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(silu_of_fresh(self.norm1(x)))
        h = h + self.time_proj(functional.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(silu_of_fresh(self.norm2(h))))
        out: torch.Tensor = self.skip(x) + h
        return out


class Attention(nn.Module):
    """NET-13: out = x + proj_out(softmax(q·kᵀ/√d)·v) over positions, per head (NET-12)."""

    def __init__(self, channels: int, heads: int, groups: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels, eps)
        self.q = nn.Linear(channels, channels)
        self.k = nn.Linear(channels, channels)
        self.v = nn.Linear(channels, channels)
        self.proj_out = zeroed(nn.Linear(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (batch, positions, channel)

        def split_heads(projection: nn.Module) -> torch.Tensor:
            projected: torch.Tensor = projection(tokens)
            return projected.view(batch, -1, self.heads, channels // self.heads).transpose(1, 2)

        mixed = functional.scaled_dot_product_attention(
            split_heads(self.q), split_heads(self.k), split_heads(self.v)
        )
        mixed = mixed.transpose(1, 2).reshape(batch, -1, channels)
        projected: torch.Tensor = self.proj_out(mixed)
        return x + projected.transpose(1, 2).reshape(batch, channels, height, width)


class Downsample(nn.Module):
    """NET-14: a 3×3 stride-2 conv of x zero-padded by 1 on every side ("symmetric") or on the
    bottom and right only ("bottom_right", TF "SAME")."""

    def __init__(self, channels: int, padding: str = "symmetric") -> None:
        super().__init__()
        if padding not in DOWNSAMPLE_PADDINGS:
            raise ValueError(f"padding must be one of {DOWNSAMPLE_PADDINGS}, got {padding!r}")
        self.padding = padding
        self.conv = nn.Conv2d(channels, channels, 3, stride=2,
                              padding=1 if padding == "symmetric" else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "bottom_right":
            x = functional.pad(x, (0, 1, 0, 1))  # (left, right, top, bottom)
        out: torch.Tensor = self.conv(x)
        return out


class Upsample(nn.Module):
    """NET-15: nearest-neighbour ×2, then a 3×3 "same" conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(functional.interpolate(x, scale_factor=2.0, mode="nearest"))
        return out
