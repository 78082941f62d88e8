"""Torch mirrors of the prediction-type conversions (specs/parameterization.md).

Coefficients are computed in float64 and rounded once to the samples' dtype, as in the other
mirrors; only the small ᾱ argument is checked by value.
"""

import torch
from jaxtyping import Float

from specdiff._typecheck import typechecked
from specdiff.diffusion._batch import as_float64, per_batch
from specdiff.diffusion._validate import (
    require_per_batch,
    require_same_shape,
    require_tensor_values_in,
)
from specdiff.diffusion.forward import PerExampleAlphaBar, predict_eps, predict_x0
from specdiff.spec.parameterization import (
    PredictionType,
    require_eps_defined,
    require_min_snr_gamma,
    require_prediction_type,
)


def _coefficients(alpha_bar: PerExampleAlphaBar, like: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    require_per_batch("alpha_bar", alpha_bar, like.shape[0])
    require_tensor_values_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=False, high_open=False)
    alpha = as_float64(alpha_bar)
    return per_batch(alpha.sqrt(), like), per_batch((1.0 - alpha).sqrt(), like)


@typechecked
def v_from_eps_x0(
    alpha_bar: PerExampleAlphaBar,
    eps: Float[torch.Tensor, "batch *shape"],
    x0: Float[torch.Tensor, "batch *shape"],
) -> Float[torch.Tensor, "batch *shape"]:
    """PARAM-1: v = √ᾱ·ε − √(1 − ᾱ)·x0, for ᾱ ∈ [0, 1]."""
    require_same_shape("x0", x0, "eps", eps)
    root, root_complement = _coefficients(alpha_bar, eps)
    return root * eps - root_complement * x0


@typechecked
def x0_from_v(
    alpha_bar: PerExampleAlphaBar,
    x_t: Float[torch.Tensor, "batch *shape"],
    v: Float[torch.Tensor, "batch *shape"],
) -> Float[torch.Tensor, "batch *shape"]:
    """PARAM-1: x0 = √ᾱ·x_t − √(1 − ᾱ)·v, for ᾱ ∈ [0, 1]."""
    require_same_shape("v", v, "x_t", x_t)
    root, root_complement = _coefficients(alpha_bar, x_t)
    return root * x_t - root_complement * v


@typechecked
def eps_from_v(
    alpha_bar: PerExampleAlphaBar,
    x_t: Float[torch.Tensor, "batch *shape"],
    v: Float[torch.Tensor, "batch *shape"],
) -> Float[torch.Tensor, "batch *shape"]:
    """PARAM-1: ε = √(1 − ᾱ)·x_t + √ᾱ·v, for ᾱ ∈ [0, 1]."""
    require_same_shape("v", v, "x_t", x_t)
    root, root_complement = _coefficients(alpha_bar, x_t)
    return root_complement * x_t + root * v


@typechecked
def prediction_target(
    alpha_bar: PerExampleAlphaBar,
    x0: Float[torch.Tensor, "batch *shape"],
    eps: Float[torch.Tensor, "batch *shape"],
    prediction_type: PredictionType,
) -> Float[torch.Tensor, "batch *shape"]:
    """PARAM-3: the training target of a model of ``prediction_type``: ε, x0 or v(ᾱ, ε, x0)."""
    require_prediction_type(prediction_type)
    if prediction_type == "v_prediction":
        return v_from_eps_x0(alpha_bar, eps, x0)
    require_same_shape("eps", eps, "x0", x0)
    return eps if prediction_type == "epsilon" else x0


@typechecked
def split_prediction(
    alpha_bar: PerExampleAlphaBar,
    x_t: Float[torch.Tensor, "batch *shape"],
    model_output: Float[torch.Tensor, "batch *shape"],
    prediction_type: PredictionType,
) -> tuple[Float[torch.Tensor, "batch *shape"], Float[torch.Tensor, "batch *shape"]]:
    """PARAM-2: (x̂0, ε̂) from a model output: ε → (FWD-4 x̂0, ε); x0 → (x0, FWD-4 ε̂);
    v → (√ᾱ·x_t − √(1−ᾱ)·v, √(1−ᾱ)·x_t + √ᾱ·v). ε-prediction needs ᾱ > 0, x0-prediction ᾱ < 1."""
    require_prediction_type(prediction_type)
    if prediction_type == "epsilon":
        require_eps_defined(as_float64(alpha_bar).detach().cpu().numpy())
        return predict_x0(alpha_bar, x_t, model_output), model_output
    if prediction_type == "sample":
        return model_output, predict_eps(alpha_bar, x_t, model_output)
    return x0_from_v(alpha_bar, x_t, model_output), eps_from_v(alpha_bar, x_t, model_output)


@typechecked
def min_snr_weight(
    alpha_bar: Float[torch.Tensor, "batch"],
    gamma: float,
    prediction_type: PredictionType,
) -> Float[torch.Tensor, "batch"]:
    """PARAM-6: min(ᾱ, γ(1 − ᾱ)) divided by ᾱ (ε), by 1 (v) or by 1 − ᾱ (x0), in float64:
    min(SNR, γ)·(x0 − x̂0)² as a weight of (target − out)²."""
    require_prediction_type(prediction_type)
    require_min_snr_gamma(gamma)
    low_open, high_open = prediction_type == "epsilon", prediction_type == "sample"
    require_tensor_values_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=low_open,
                             high_open=high_open)
    alpha = as_float64(alpha_bar)
    clipped = torch.minimum(alpha, gamma * (1.0 - alpha))
    if prediction_type == "epsilon":
        return clipped / alpha
    if prediction_type == "sample":
        return clipped / (1.0 - alpha)
    return clipped
