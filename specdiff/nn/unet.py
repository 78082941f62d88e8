"""The DDPM / improved-DDPM U-Net (specs/nets.md, NET-16); twin: ``specdiff.spec.unet.unet``.

Layout (Ho et al. 2020): conv_in; per level ℓ, num_res_blocks res blocks (each followed by
attention at the listed resolutions), then a stride-2 downsample except at the last level; a
middle of res block, attention, res block; per level in reverse, num_res_blocks + 1 res blocks
each taking one skip (concatenated on channels), then a ×2 upsample except at level 0;
GroupNorm, SiLU, conv_out. Every res block receives the time embedding (sinusoid → Linear →
SiLU → Linear), plus a learned class embedding when num_classes is set.
"""

from collections.abc import Callable

import torch
from jaxtyping import Float, Int
from torch import nn
from torch.nn import functional
from torch.utils.checkpoint import checkpoint

from specdiff._typecheck import typechecked
from specdiff.nn._checks import require_batch, require_channels, require_index_range
from specdiff.nn.unet_config import UNetConfig
from specdiff.nn.unet_layers import (
    Attention,
    Downsample,
    ResBlock,
    Upsample,
    timestep_embedding,
    zeroed,
)

# Runs one block; UNet._run, which adds gradient checkpointing when the config asks for it.
BlockRunner = Callable[..., torch.Tensor]


class DownLevel(nn.Module):
    """Res blocks (each followed by attention when the level has it), then a downsample."""

    def __init__(self, blocks: list[ResBlock], attentions: list[Attention],
                 downsample: Downsample | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attentions = nn.ModuleList(attentions)  # empty, or one per block
        self.downsample = downsample

    def forward(self, h: torch.Tensor, emb: torch.Tensor, skips: list[torch.Tensor],
                run: BlockRunner) -> torch.Tensor:
        """The level's output; appends every block's (and the downsample's) output to skips."""
        for index, block in enumerate(self.blocks):
            h = run(block, h, emb)
            if self.attentions:
                h = run(self.attentions[index], h)
            skips.append(h)
        if self.downsample is not None:
            h = self.downsample(h)
            skips.append(h)
        return h


class UpLevel(nn.Module):
    """Res blocks on [h; skip] (each followed by attention when the level has it), then an
    upsample."""

    def __init__(self, blocks: list[ResBlock], attentions: list[Attention],
                 upsample: Upsample | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attentions = nn.ModuleList(attentions)  # empty, or one per block
        self.upsample = upsample

    def forward(self, h: torch.Tensor, emb: torch.Tensor, skips: list[torch.Tensor],
                run: BlockRunner) -> torch.Tensor:
        """The level's output; pops one skip per block, the most recent first."""
        for index, block in enumerate(self.blocks):
            # Rebinding h before the block runs frees the pre-concatenation h (and the popped
            # skip) while the block works: two activations fewer at the memory peak.
            h = torch.cat([h, skips.pop()], dim=1)
            h = run(block, h, emb)
            if self.attentions:
                h = run(self.attentions[index], h)
        if self.upsample is not None:
            h = self.upsample(h)
        return h


class MiddleLevel(nn.Module):
    """Res block, attention, res block at the lowest resolution."""

    def __init__(self, block_1: ResBlock, attention: Attention, block_2: ResBlock) -> None:
        super().__init__()
        self.block_1 = block_1
        self.attention = attention
        self.block_2 = block_2

    def forward(self, h: torch.Tensor, emb: torch.Tensor, run: BlockRunner) -> torch.Tensor:
        h = run(self.block_1, h, emb)
        h = run(self.attention, h)
        return run(self.block_2, h, emb)


class UNet(nn.Module):
    """An eps-prediction U-Net: ``forward(x, t, class_labels=None)``; None is the null class."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        base, emb_channels = config.base_channels, config.time_embedding_channels
        self.time_in = nn.Linear(base, emb_channels)
        self.time_out = nn.Linear(emb_channels, emb_channels)
        # Row num_classes is the null class that classifier-free guidance conditions on.
        self.class_embedding = (
            nn.Embedding(config.num_classes + 1, emb_channels)
            if config.num_classes is not None else None
        )
        self.conv_in = nn.Conv2d(config.data_channels, base, 3, padding=1)
        skip_channels = [base]
        down = []
        channels = base
        last = len(config.channel_mults) - 1
        for level in range(last + 1):
            width = config.level_channels(level)
            blocks, attentions = [], []
            for _ in range(config.num_res_blocks):
                blocks.append(self._res_block(channels, width))
                channels = width
                if config.has_attention(level):
                    attentions.append(self._attention(width))
                skip_channels.append(width)
            downsample = (Downsample(width, config.downsample_padding) if level < last
                          else None)
            if downsample is not None:
                skip_channels.append(width)
            down.append(DownLevel(blocks, attentions, downsample))
        self.down = nn.ModuleList(down)
        self.mid = MiddleLevel(self._res_block(channels, channels), self._attention(channels),
                               self._res_block(channels, channels))
        up: list[UpLevel] = []
        for level in reversed(range(last + 1)):
            width = config.level_channels(level)
            blocks, attentions = [], []
            for _ in range(config.num_res_blocks + 1):
                blocks.append(self._res_block(channels + skip_channels.pop(), width))
                channels = width
                if config.has_attention(level):
                    attentions.append(self._attention(width))
            up.insert(0, UpLevel(blocks, attentions, Upsample(width) if level > 0 else None))
        self.up = nn.ModuleList(up)  # up[ℓ] works at the resolution of down[ℓ]
        self.norm_out = nn.GroupNorm(config.norm_groups, channels, config.norm_eps)
        self.conv_out = zeroed(nn.Conv2d(channels, config.data_channels, 3, padding=1))

    def _res_block(self, in_channels: int, out_channels: int) -> ResBlock:
        config = self.config
        return ResBlock(in_channels, out_channels, config.time_embedding_channels,
                        config.norm_groups, config.norm_eps, config.dropout)

    def _attention(self, channels: int) -> Attention:
        config = self.config
        return Attention(channels, config.attention_heads, config.norm_groups, config.norm_eps)

    def _run(self, block: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> torch.Tensor:
        """``block(*inputs)``, recomputed in the backward pass under gradient checkpointing."""
        if self.config.gradient_checkpointing and torch.is_grad_enabled():
            out: torch.Tensor = checkpoint(block, *inputs, use_reentrant=False)
            return out
        direct: torch.Tensor = block(*inputs)
        return direct

    def _conditioning(self, t: torch.Tensor, class_labels: torch.Tensor | None,
                      dtype: torch.dtype) -> torch.Tensor:
        sinusoid = timestep_embedding(t, self.config.base_channels, dtype)
        emb: torch.Tensor = self.time_out(functional.silu(self.time_in(sinusoid)))
        num_classes = self.config.num_classes
        if self.class_embedding is None or num_classes is None:
            if class_labels is not None:
                raise ValueError("class_labels must be None for a model without num_classes")
            return emb
        if class_labels is None:
            class_labels = torch.full_like(t, num_classes)
        require_batch("class_labels", class_labels, t.shape[0])
        require_index_range("class_labels", class_labels, 0, num_classes + 1,
                            f"[0, num_classes] = [0, {num_classes}] (num_classes is the null "
                            "class)")
        out: torch.Tensor = emb + self.class_embedding(class_labels)
        return out

    @typechecked
    def forward(
        self,
        x: Float[torch.Tensor, "batch channel height width"],
        t: Int[torch.Tensor, "batch"],
        class_labels: Int[torch.Tensor, "batch"] | None = None,
    ) -> Float[torch.Tensor, "batch channel height width"]:
        config = self.config
        require_channels("x", x, config.data_channels)
        size = config.image_size
        if x.shape[-2:] != (size, size):
            raise ValueError(f"x must be {size}×{size} (image_size), got {tuple(x.shape)}")
        require_batch("t", t, x.shape[0])
        T = config.num_timesteps
        require_index_range("t", t, 0, T, f"[0, T) = [0, {T})")
        emb = self._conditioning(t, class_labels, self.time_in.weight.dtype)

        h: torch.Tensor = self.conv_in(x)
        skips = [h]
        for down in self.down:
            h = down(h, emb, skips, self._run)
        h = self.mid(h, emb, self._run)
        for up in reversed(self.up):
            h = up(h, emb, skips, self._run)
        eps: torch.Tensor = self.conv_out(functional.silu(self.norm_out(h)))
        return eps
