"""The DDPM U-Net and its layers as pure functions of their parameters (specs/nets.md, NET-7 …).

``params`` maps the torch ``state_dict`` keys of ``specdiff.nn.UNet`` to arrays; a block's
parameters live under a ``prefix`` (e.g. ``down.0.blocks.1``). Networks are evaluated as in eval
mode: dropout is the identity.
"""

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np
from jaxtyping import Float, Float64, Int

from specdiff._typecheck import typechecked
from specdiff.spec._params import parameter
from specdiff.spec._validate import require_finite, require_timesteps
from specdiff.spec.nets import conv_layer

# The sinusoids' longest period is 2π·MAX_PERIOD (Vaswani et al. 2017; Ho et al. 2020).
MAX_PERIOD = 10000.0
# Where a downsample pads (NET-14): 1 on every side, or only bottom and right (TF "SAME").
DOWNSAMPLE_PADDINGS = ("symmetric", "bottom_right")


@runtime_checkable
class UNetLayout(Protocol):
    """The fields of ``specdiff.nn.UNetConfig`` that the spec reads (any object with them)."""

    @property
    def image_size(self) -> int: ...
    @property
    def data_channels(self) -> int: ...
    @property
    def base_channels(self) -> int: ...
    @property
    def channel_mults(self) -> tuple[int, ...]: ...
    @property
    def num_res_blocks(self) -> int: ...
    @property
    def attention_resolutions(self) -> tuple[int, ...]: ...
    @property
    def attention_heads(self) -> int: ...
    @property
    def norm_groups(self) -> int: ...
    @property
    def norm_eps(self) -> float: ...
    @property
    def num_classes(self) -> int | None: ...
    @property
    def num_timesteps(self) -> int: ...
    @property
    def downsample_padding(self) -> str: ...


@typechecked
def timestep_embedding(
    t: Int[np.ndarray, "batch"], channels: int
) -> Float64[np.ndarray, "batch channels"]:
    """NET-7: e[n, i] = sin(t_n·f_i), e[n, d/2 + i] = cos(t_n·f_i), f_i = 10000^(−i/(d/2 − 1)),
    i < d/2, d = channels."""
    if channels < 4 or channels % 2:
        raise ValueError(f"channels must be an even int >= 4, got {channels}")
    half = channels // 2
    frequencies = np.exp(-np.log(MAX_PERIOD) * np.arange(half) / (half - 1))
    angles = np.asarray(t, dtype=np.float64)[:, None] * frequencies[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


@typechecked
def silu(x: Float[np.ndarray, "*shape"]) -> Float64[np.ndarray, "*shape"]:
    """NET-8: silu(x) = x·σ(x), σ(x) = 1/(1 + e^(−x)) = (1 + tanh(x/2))/2 (no overflow)."""
    values = np.asarray(x, dtype=np.float64)
    return values * 0.5 * (1.0 + np.tanh(0.5 * values))


@typechecked
def linear(
    x: Float[np.ndarray, "*batch in_features"],
    weight: Float[np.ndarray, "out_features in_features"],
    bias: Float[np.ndarray, "out_features"],
) -> Float64[np.ndarray, "*batch out_features"]:
    """NET-9: y[..., o] = b[o] + Σ_i W[o, i]·x[..., i] (torch's (out, in) weight layout)."""
    products: np.ndarray = np.asarray(x, dtype=np.float64) @ np.asarray(weight, dtype=np.float64).T
    out: np.ndarray = products + bias
    return out


@typechecked
def group_norm(
    x: Float[np.ndarray, "batch channel *spatial"],
    groups: int,
    weight: Float[np.ndarray, "channel"],
    bias: Float[np.ndarray, "channel"],
    eps: float,
) -> Float64[np.ndarray, "batch channel *spatial"]:
    """NET-10: y = (x − μ_{n,g})/√(σ²_{n,g} + eps)·γ_c + β_c, with μ, σ² (biased) the mean and
    variance over the C/G channels of c's group g and all positions."""
    batch, channels = x.shape[:2]
    if groups < 1 or channels % groups:
        raise ValueError(f"groups must be an int >= 1 dividing channels = {channels}, got {groups}")
    if eps <= 0.0:
        raise ValueError(f"eps must be > 0, got {eps}")
    grouped = np.asarray(x, dtype=np.float64).reshape(batch, groups, -1)
    mean = grouped.mean(axis=2, keepdims=True)
    variance = grouped.var(axis=2, keepdims=True)
    normalized = ((grouped - mean) / np.sqrt(variance + eps)).reshape(x.shape)
    affine_shape = (1, channels) + (1,) * (x.ndim - 2)
    out: np.ndarray = normalized * weight.reshape(affine_shape) + bias.reshape(affine_shape)
    return out


def norm_layer(params: Mapping[str, np.ndarray], prefix: str, x: np.ndarray, groups: int,
               eps: float) -> np.ndarray:
    """The GroupNorm stored under ``prefix`` (``prefix.weight``, ``prefix.bias``)."""
    weight, bias = parameter(params, f"{prefix}.weight"), parameter(params, f"{prefix}.bias")
    return group_norm(x, groups, weight, bias, eps)


def linear_layer(params: Mapping[str, np.ndarray], prefix: str, x: np.ndarray) -> np.ndarray:
    """The Linear stored under ``prefix`` (``prefix.weight``, ``prefix.bias``)."""
    return linear(x, parameter(params, f"{prefix}.weight"), parameter(params, f"{prefix}.bias"))


@typechecked
def res_block(
    params: Mapping[str, np.ndarray],
    prefix: str,
    x: Float[np.ndarray, "batch in_channels height width"],
    emb: Float[np.ndarray, "batch emb_channels"],
    groups: int,
    eps: float,
) -> Float64[np.ndarray, "batch out_channels height width"]:
    """NET-11: h = conv1(silu(norm1(x))) + time_proj(silu(emb)); out = skip(x) +
    conv2(silu(norm2(h))); skip is the 1×1 conv ``skip`` when widths differ, else identity."""
    h = conv_layer(params, f"{prefix}.conv1", silu(norm_layer(params, f"{prefix}.norm1", x,
                                                              groups, eps)))
    h = h + linear_layer(params, f"{prefix}.time_proj", silu(emb))[:, :, None, None]
    h = conv_layer(params, f"{prefix}.conv2", silu(norm_layer(params, f"{prefix}.norm2", h,
                                                              groups, eps)))
    skip = conv_layer(params, f"{prefix}.skip", x) if h.shape[1] != x.shape[1] else x
    out: np.ndarray = skip + h
    return out


@typechecked
def attention_weights(
    q: Float[np.ndarray, "batch heads queries head_channels"],
    k: Float[np.ndarray, "batch heads keys head_channels"],
) -> Float64[np.ndarray, "batch heads queries keys"]:
    """NET-12: A = softmax_keys(q·kᵀ/√d), d = head_channels; every row of A sums to 1."""
    scores = np.einsum("bhqd,bhkd->bhqk", q, k) / np.sqrt(q.shape[-1])
    # Subtracting the row maximum leaves softmax unchanged and keeps exp from overflowing.
    unnormalized = np.exp(scores - scores.max(axis=-1, keepdims=True))
    out: np.ndarray = unnormalized / unnormalized.sum(axis=-1, keepdims=True)
    return out


@typechecked
def attention(
    params: Mapping[str, np.ndarray],
    prefix: str,
    x: Float[np.ndarray, "batch channel height width"],
    heads: int,
    groups: int,
    eps: float,
) -> Float64[np.ndarray, "batch channel height width"]:
    """NET-13: tokens h = norm(x) per position; out = x + proj_out(concat_heads(A·v)), with
    q, k, v = linear(h) split into ``heads`` heads of C/heads channels and A as NET-12."""
    batch, channels = x.shape[:2]
    if heads < 1 or channels % heads:
        raise ValueError(f"heads must be an int >= 1 dividing channels = {channels}, got {heads}")
    tokens = norm_layer(params, f"{prefix}.norm", x, groups, eps).reshape(batch, channels, -1)
    tokens = tokens.transpose(0, 2, 1)  # (batch, positions, channel)

    def split_heads(name: str) -> np.ndarray:
        projected = linear_layer(params, f"{prefix}.{name}", tokens)
        per_head = projected.reshape(batch, -1, heads, channels // heads)
        heads_first: np.ndarray = per_head.transpose(0, 2, 1, 3)
        return heads_first

    q, k, v = split_heads("q"), split_heads("k"), split_heads("v")
    mixed = np.einsum("bhqk,bhkd->bhqd", attention_weights(q, k), v)
    mixed = mixed.transpose(0, 2, 1, 3).reshape(batch, -1, channels)
    projected = linear_layer(params, f"{prefix}.proj_out", mixed)
    out: np.ndarray = x + projected.transpose(0, 2, 1).reshape(x.shape)
    return out


@typechecked
def downsample(
    params: Mapping[str, np.ndarray],
    prefix: str,
    x: Float[np.ndarray, "batch channel height width"],
    padding: str = "symmetric",
) -> Float64[np.ndarray, "batch channel half_height half_width"]:
    """NET-14: conv2d_same(x)[:, :, ::2, ::2] (symmetric) or conv2d_same(x)[:, :, 1::2, 1::2]
    (bottom_right): a 3×3 stride-2 conv of x zero-padded on every side, resp. bottom and right."""
    if padding not in DOWNSAMPLE_PADDINGS:
        raise ValueError(f"padding must be one of {DOWNSAMPLE_PADDINGS}, got {padding!r}")
    if padding == "bottom_right" and min(x.shape[-2:]) < 2:
        raise ValueError(f"x must have height and width >= 2 for bottom_right padding (a 3×3 "
                         f"window must fit the padded image), got shape {x.shape}")
    # The stride-2 windows are centred on even positions when padding all sides, odd otherwise.
    first = 0 if padding == "symmetric" else 1
    return conv_layer(params, f"{prefix}.conv", x)[:, :, first::2, first::2]


@typechecked
def upsample(
    params: Mapping[str, np.ndarray],
    prefix: str,
    x: Float[np.ndarray, "batch channel height width"],
) -> Float64[np.ndarray, "batch channel 2*height 2*width"]:
    """NET-15: conv2d_same(u), u[n, c, i, j] = x[n, c, ⌊i/2⌋, ⌊j/2⌋] (nearest-neighbour ×2)."""
    nearest = np.repeat(np.repeat(np.asarray(x, dtype=np.float64), 2, axis=2), 2, axis=3)
    return conv_layer(params, f"{prefix}.conv", nearest)


def class_indices(config: UNetLayout, t: np.ndarray, class_labels: np.ndarray | None
                  ) -> np.ndarray | None:
    """The rows of ``class_embedding.weight`` to add, or None for a model without classes;
    no labels means the null class (index num_classes) for every example."""
    if config.num_classes is None:
        if class_labels is not None:
            raise ValueError("class_labels must be None for a model without num_classes")
        return None
    labels = np.full(t.shape, config.num_classes) if class_labels is None else class_labels
    if labels.size and (labels.min() < 0 or labels.max() > config.num_classes):
        offender = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(
            f"class_labels must be in [0, num_classes] = [0, {config.num_classes}] "
            f"(num_classes is the null class), got {int(offender)}"
        )
    return labels


def conditioning(
    params: Mapping[str, np.ndarray],
    config: UNetLayout,
    t: np.ndarray,
    class_labels: np.ndarray | None,
) -> np.ndarray:
    """The embedding every res block receives: the time MLP of the sinusoid, plus the class
    embedding when the model is class-conditional."""
    labels = class_indices(config, t, class_labels)
    emb = timestep_embedding(t, config.base_channels)
    emb = linear_layer(params, "time_out", silu(linear_layer(params, "time_in", emb)))
    if labels is None:
        return emb
    conditioned: np.ndarray = emb + parameter(params, "class_embedding.weight")[labels]
    return conditioned


@typechecked
def unet(
    params: Mapping[str, np.ndarray],
    config: UNetLayout,
    x: Float[np.ndarray, "batch channel height width"],
    t: Int[np.ndarray, "batch"],
    class_labels: Int[np.ndarray, "batch"] | None = None,
) -> Float64[np.ndarray, "batch channel height width"]:
    """NET-16: ε̂ = conv_out(silu(norm_out(up(mid(down(conv_in(x))))))), res blocks and
    attentions conditioned on emb = time_out(silu(time_in(sinusoid(t)))) [+ class_embedding]."""
    size, channels = config.image_size, config.data_channels
    if x.shape[1:] != (channels, size, size):
        raise ValueError(f"x must have shape (batch, {channels}, {size}, {size}), got {x.shape}")
    require_finite("x", x)
    require_timesteps("t", t, config.num_timesteps)
    groups, eps, heads = config.norm_groups, config.norm_eps, config.attention_heads
    levels = len(config.channel_mults)
    emb = conditioning(params, config, t, class_labels)

    def attends(level: int) -> bool:
        return size // 2**level in config.attention_resolutions

    h = conv_layer(params, "conv_in", x)
    skips = [h]
    for level in range(levels):
        for index in range(config.num_res_blocks):
            h = res_block(params, f"down.{level}.blocks.{index}", h, emb, groups, eps)
            if attends(level):
                h = attention(params, f"down.{level}.attentions.{index}", h, heads, groups, eps)
            skips.append(h)
        if level < levels - 1:
            h = downsample(params, f"down.{level}.downsample", h, config.downsample_padding)
            skips.append(h)
    h = res_block(params, "mid.block_1", h, emb, groups, eps)
    h = attention(params, "mid.attention", h, heads, groups, eps)
    h = res_block(params, "mid.block_2", h, emb, groups, eps)
    for level in reversed(range(levels)):
        # One more block than on the way down: it consumes the skip the downsample left.
        for index in range(config.num_res_blocks + 1):
            h = np.concatenate([h, skips.pop()], axis=1)
            h = res_block(params, f"up.{level}.blocks.{index}", h, emb, groups, eps)
            if attends(level):
                h = attention(params, f"up.{level}.attentions.{index}", h, heads, groups, eps)
        if level > 0:
            h = upsample(params, f"up.{level}.upsample", h)
    return conv_layer(params, "conv_out", silu(norm_layer(params, "norm_out", h, groups, eps)))
