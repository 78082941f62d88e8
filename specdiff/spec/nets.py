"""The small eps nets as pure functions of their parameters (specs/nets.md, NET-1 … NET-5).

``params`` maps the torch ``state_dict`` keys of ``specdiff.nn.EpsConvNet`` /
``EpsResidualConvNet`` to arrays, so a trained model's weights run here unchanged.
"""

from collections.abc import Mapping

import numpy as np
from jaxtyping import Float, Float64

from specdiff._typecheck import typechecked
from specdiff.spec._params import parameter
from specdiff.spec._validate import require_finite
from specdiff.spec.forward import append_time_channel

# Convolutions of EpsConvNet in order: a ReLU follows every one but the last.
EPS_CONV_NET_LAYERS = ("convs.0", "convs.1", "convs.2", "convs.3")
# Residual blocks of EpsResidualConvNet in order, between its stem and its head.
EPS_RESIDUAL_CONV_NET_BLOCKS = ("blocks.0", "blocks.1")


def conv_layer(params: Mapping[str, np.ndarray], prefix: str, x: np.ndarray) -> np.ndarray:
    """The "same" convolution stored under ``prefix`` (``prefix.weight``, ``prefix.bias``)."""
    weight, bias = parameter(params, f"{prefix}.weight"), parameter(params, f"{prefix}.bias")
    return conv2d_same(x, weight, bias)


@typechecked
def conv2d_same(
    x: Float[np.ndarray, "batch in_channels height width"],
    weight: Float[np.ndarray, "out_channels in_channels k k"],
    bias: Float[np.ndarray, "out_channels"],
) -> Float64[np.ndarray, "batch out_channels height width"]:
    """NET-1: y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v]·x̃[n,c,i+u−p,j+v−p], p = (k−1)/2, x̃ = x
    inside and 0 outside the image (zero "same" padding; a cross-correlation, like torch)."""
    kernel = weight.shape[-1]
    if kernel % 2 != 1:
        raise ValueError(f"weight must have an odd kernel size k >= 1, got k = {kernel}")
    require_finite("x", x)
    require_finite("weight", weight)
    require_finite("bias", bias)
    pad = kernel // 2
    padded = np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    height, width = x.shape[-2:]
    out = np.zeros((x.shape[0], weight.shape[0], height, width), dtype=np.float64)
    # One kernel offset (u, v) at a time: a channel contraction of the shifted image.
    for u in range(kernel):
        for v in range(kernel):
            window = padded[:, :, u : u + height, v : v + width]
            out += np.einsum("oc,nchw->nohw", weight[:, :, u, v], window)
    return out + np.asarray(bias, dtype=np.float64)[None, :, None, None]


@typechecked
def relu(x: Float[np.ndarray, "*shape"]) -> Float64[np.ndarray, "*shape"]:
    """NET-2: relu(x) = max(x, 0) elementwise."""
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


@typechecked
def eps_conv_net(
    params: Mapping[str, np.ndarray],
    x: Float[np.ndarray, "batch channel height width"],
    t_norm: float | Float[np.ndarray, "batch"],
) -> Float64[np.ndarray, "batch channel height width"]:
    """NET-3: ε̂ = c₃(relu(c₂(relu(c₁(relu(c₀([x; t_norm]))))))), cᵢ = conv2d_same(convs.{i})."""
    h: np.ndarray = append_time_channel(x, t_norm)
    for index, prefix in enumerate(EPS_CONV_NET_LAYERS):
        h = conv_layer(params, prefix, h)
        if index < len(EPS_CONV_NET_LAYERS) - 1:
            h = relu(h)
    return h


@typechecked
def residual_conv_block(
    params: Mapping[str, np.ndarray],
    prefix: str,
    x: Float[np.ndarray, "batch channel height width"],
) -> Float64[np.ndarray, "batch channel height width"]:
    """NET-4: block(x) = x + c₂(relu(c₁(x))), c₁ = conv2d_same(prefix.conv1), c₂ likewise."""
    branch = conv_layer(params, f"{prefix}.conv2", relu(conv_layer(params, f"{prefix}.conv1", x)))
    out: np.ndarray = np.asarray(x, dtype=np.float64) + branch
    return out


@typechecked
def eps_residual_conv_net(
    params: Mapping[str, np.ndarray],
    x: Float[np.ndarray, "batch channel height width"],
    t_norm: float | Float[np.ndarray, "batch"],
) -> Float64[np.ndarray, "batch channel height width"]:
    """NET-5: ε̂ = head(relu(block₁(relu(block₀(relu(stem([x; t_norm]))))))), blocks as NET-4."""
    h: np.ndarray = relu(conv_layer(params, "stem", append_time_channel(x, t_norm)))
    for prefix in EPS_RESIDUAL_CONV_NET_BLOCKS:
        h = relu(residual_conv_block(params, prefix, h))
    return conv_layer(params, "head", h)
