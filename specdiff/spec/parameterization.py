"""What a model predicts: noise ε, clean sample x0 or velocity v (specs/parameterization.md).

With x_t = √ᾱ·x0 + √(1 − ᾱ)·ε (FWD-1) and v = √ᾱ·ε − √(1 − ᾱ)·x0 (Salimans & Ho 2022), any one of
ε, x0, v determines the other two given x_t. The ε ↔ x0 conversions are FWD-4 (`predict_x0`,
`predict_eps`); this module adds v and the dispatch a sampler uses on a model's output.
"""

from typing import TYPE_CHECKING, Literal

import numpy as np
from jaxtyping import Float, Float64

from specdiff._typecheck import typechecked
from specdiff.spec._batch import per_batch
from specdiff.spec._validate import (
    require_batch_size,
    require_choice,
    require_finite,
    require_real_in,
    require_values_in,
)
from specdiff.spec.forward import predict_eps, predict_x0

# The names diffusers uses for the same three targets, so configs carry over unchanged.
PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")
if TYPE_CHECKING:
    PredictionType = Literal["epsilon", "sample", "v_prediction"]
else:
    PredictionType = str  # checked by require_choice, with run-time type checks on or off


def require_prediction_type(prediction_type: str) -> None:
    require_choice("prediction_type", prediction_type, PREDICTION_TYPES)


def _coefficients(alpha_bar: float | np.ndarray, like: np.ndarray) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """(√ᾱ, √(1 − ᾱ)) broadcast per batch element; ᾱ ∈ [0, 1] (v is defined at both ends)."""
    require_batch_size("alpha_bar", alpha_bar, like.shape[0])
    require_values_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=False, high_open=False)
    alpha = per_batch(alpha_bar, like.ndim)
    return np.sqrt(alpha), np.sqrt(1.0 - alpha)


@typechecked
def v_from_eps_x0(
    alpha_bar: float | Float[np.ndarray, "batch"],
    eps: Float[np.ndarray, "batch *shape"],
    x0: Float[np.ndarray, "batch *shape"],
) -> Float64[np.ndarray, "batch *shape"]:
    """PARAM-1: v = √ᾱ·ε − √(1 − ᾱ)·x0, for ᾱ ∈ [0, 1]."""
    root, root_complement = _coefficients(alpha_bar, eps)
    require_finite("eps", eps)
    require_finite("x0", x0)
    return np.asarray(root * eps - root_complement * x0, dtype=np.float64)


@typechecked
def x0_from_v(
    alpha_bar: float | Float[np.ndarray, "batch"],
    x_t: Float[np.ndarray, "batch *shape"],
    v: Float[np.ndarray, "batch *shape"],
) -> Float64[np.ndarray, "batch *shape"]:
    """PARAM-1: x0 = √ᾱ·x_t − √(1 − ᾱ)·v, for ᾱ ∈ [0, 1] (no division: defined at ᾱ = 0)."""
    root, root_complement = _coefficients(alpha_bar, x_t)
    require_finite("x_t", x_t)
    require_finite("v", v)
    return np.asarray(root * x_t - root_complement * v, dtype=np.float64)


@typechecked
def eps_from_v(
    alpha_bar: float | Float[np.ndarray, "batch"],
    x_t: Float[np.ndarray, "batch *shape"],
    v: Float[np.ndarray, "batch *shape"],
) -> Float64[np.ndarray, "batch *shape"]:
    """PARAM-1: ε = √(1 − ᾱ)·x_t + √ᾱ·v, for ᾱ ∈ [0, 1]."""
    root, root_complement = _coefficients(alpha_bar, x_t)
    require_finite("x_t", x_t)
    require_finite("v", v)
    return np.asarray(root_complement * x_t + root * v, dtype=np.float64)


@typechecked
def prediction_target(
    alpha_bar: float | Float[np.ndarray, "batch"],
    x0: Float[np.ndarray, "batch *shape"],
    eps: Float[np.ndarray, "batch *shape"],
    prediction_type: PredictionType,
) -> Float64[np.ndarray, "batch *shape"]:
    """PARAM-3: the training target of a model of ``prediction_type``: ε, x0 or v(ᾱ, ε, x0)."""
    require_prediction_type(prediction_type)
    if prediction_type == "v_prediction":
        return v_from_eps_x0(alpha_bar, eps, x0)
    _coefficients(alpha_bar, x0)
    target = eps if prediction_type == "epsilon" else x0
    require_finite("x0", x0)
    require_finite("eps", eps)
    return np.array(target, dtype=np.float64)


@typechecked
def split_prediction(
    alpha_bar: float | Float[np.ndarray, "batch"],
    x_t: Float[np.ndarray, "batch *shape"],
    model_output: Float[np.ndarray, "batch *shape"],
    prediction_type: PredictionType,
) -> tuple[Float64[np.ndarray, "batch *shape"], Float64[np.ndarray, "batch *shape"]]:
    """PARAM-2: (x̂0, ε̂) from a model output: ε → (FWD-4 x̂0, ε); x0 → (x0, FWD-4 ε̂);
    v → (√ᾱ·x_t − √(1−ᾱ)·v, √(1−ᾱ)·x_t + √ᾱ·v). ε-prediction needs ᾱ > 0, x0-prediction ᾱ < 1."""
    require_prediction_type(prediction_type)
    if prediction_type == "epsilon":
        require_eps_defined(alpha_bar)
        return predict_x0(alpha_bar, x_t, model_output), np.array(model_output, dtype=np.float64)
    if prediction_type == "sample":
        return np.array(model_output, dtype=np.float64), predict_eps(alpha_bar, x_t, model_output)
    return x0_from_v(alpha_bar, x_t, model_output), eps_from_v(alpha_bar, x_t, model_output)


# γ of min-SNR-γ: Hang et al. 2023 find 5 best; past the largest SNR a schedule has, a larger γ
# clips nothing, and ᾱ_0 of DDPM's linear schedule has SNR ≈ 1e4.
MIN_SNR_GAMMA_RANGE = (0.0, 1e6)


def require_min_snr_gamma(gamma: float) -> None:
    require_real_in("min_snr_gamma", gamma, *MIN_SNR_GAMMA_RANGE, low_open=True)


@typechecked
def min_snr_weight(
    alpha_bar: Float[np.ndarray, "batch"],
    gamma: float,
    prediction_type: PredictionType,
) -> Float64[np.ndarray, "batch"]:
    """PARAM-6: the min-SNR-γ weight of an example's loss, min(SNR, γ)·(1 − ᾱ) = min(ᾱ, γ(1 − ᾱ))
    divided by ᾱ (ε), by 1 (v) or by 1 − ᾱ (x0), SNR = ᾱ/(1 − ᾱ): weight·(target − out)² is then
    min(SNR, γ)·(x0 − x̂0)² for every prediction type."""
    require_prediction_type(prediction_type)
    require_min_snr_gamma(gamma)
    # ε divides by ᾱ, x0 by 1 − ᾱ: the ends where PARAM-2 cannot recover x̂0 from that output.
    low_open, high_open = prediction_type == "epsilon", prediction_type == "sample"
    require_values_in("alpha_bar", alpha_bar, 0.0, 1.0, low_open=low_open, high_open=high_open)
    alpha = np.asarray(alpha_bar, dtype=np.float64)
    clipped = np.minimum(alpha, gamma * (1.0 - alpha))
    if prediction_type == "epsilon":
        return np.asarray(clipped / alpha, dtype=np.float64)
    if prediction_type == "sample":
        return np.asarray(clipped / (1.0 - alpha), dtype=np.float64)
    return clipped


def require_eps_defined(alpha_bar: float | np.ndarray) -> None:
    """At ᾱ = 0 (zero terminal SNR) x_t = ε carries no information about x0: no ε-model can
    say what x0 is, so ε-prediction is refused there rather than divided by 0."""
    if bool(np.any(np.asarray(alpha_bar) == 0.0)):
        raise ValueError(
            "alpha_bar must be in (0, 1] for prediction_type='epsilon' (x0 is undefined at "
            "alpha_bar = 0, zero terminal SNR); use prediction_type='v_prediction', got 0"
        )
