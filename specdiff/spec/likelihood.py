"""The variational bound on the negative log-likelihood in bits per dimension (specs/likelihood.md).

As in Ho et al. 2020 and Nichol & Dhariwal 2021: −log p(x0) ≤ L_prior + Σ_{t=0}^{T−1} L_t, with
L_t a Gaussian KL for t ≥ 1 and the discretized-Gaussian decoder's NLL at t = 0.
"""

import math

import numpy as np
from jaxtyping import Float, Float64, Int

from specdiff._typecheck import typechecked
from specdiff.spec._batch import per_batch
from specdiff.spec._validate import (
    require_alpha_bar_table,
    require_batch_size,
    require_choice,
    require_example_size,
    require_finite,
    require_values_in,
)
from specdiff.spec.parameterization import (
    PredictionType,
    require_prediction_type,
    split_prediction,
)
from specdiff.spec.reverse import VARIANCES, Variance, _posterior_terms, ddpm_posterior

# Half the width of one of the 256 quantization bins of [−1, 1] (uint8 v ↔ x = v/127.5 − 1).
HALF_BIN = 1.0 / 255.0
# Bin probabilities are floored here before the log, as in the DDPM reference code: a decoder far
# from the data must give a large finite NLL, not −log 0 = ∞.
MIN_BIN_PROBABILITY = 1e-12

_erfc = np.frompyfunc(math.erfc, 1, 1)


def _standard_normal_cdf(z: np.ndarray) -> np.ndarray:
    """Φ(z) = erfc(−z/√2)/2, accurate relative to Φ itself deep into the lower tail."""
    return np.asarray(0.5 * _erfc(-np.asarray(z, dtype=np.float64) / math.sqrt(2.0)),
                      dtype=np.float64)


@typechecked
def normal_kl(
    mean1: float | Float[np.ndarray, "*shape1"],
    logvar1: float | Float[np.ndarray, "*shape2"],
    mean2: float | Float[np.ndarray, "*shape3"],
    logvar2: float | Float[np.ndarray, "*shape4"],
) -> Float64[np.ndarray, "..."]:
    """LIK-1: KL(N(m1, e^{lv1}) ‖ N(m2, e^{lv2})) = ½(−1 + lv2 − lv1 + e^{lv1−lv2} + (Δm)²e^{−lv2}).

    Δm = m1 − m2. Elementwise, broadcasting its arguments; −1 − d + e^{d} is evaluated as
    expm1(d) − d, d = lv1 − lv2, so that nearly equal variances give a small positive value
    instead of rounding noise.
    """
    arguments = {"mean1": mean1, "logvar1": logvar1, "mean2": mean2, "logvar2": logvar2}
    for name, value in arguments.items():
        require_finite(name, value)
    try:
        np.broadcast_shapes(*(np.shape(value) for value in arguments.values()))
    except ValueError:
        shapes = {name: np.shape(value) for name, value in arguments.items()}
        raise ValueError(f"mean1, logvar1, mean2, logvar2 must broadcast together, got {shapes}"
                         ) from None
    log_ratio = np.asarray(logvar1, dtype=np.float64) - np.asarray(logvar2, dtype=np.float64)
    squared_distance = (np.asarray(mean1, dtype=np.float64) - np.asarray(mean2, dtype=np.float64)
                        ) ** 2
    kl = 0.5 * (np.expm1(log_ratio) - log_ratio + squared_distance * np.exp(-np.asarray(
        logvar2, dtype=np.float64)))
    return np.asarray(kl, dtype=np.float64)


def _bin_probability(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Φ(upper) − Φ(lower), for standardized bin edges lower ≤ upper (±∞ allowed).

    A bin above the mean is measured from the upper tail, Φ(−lower) − Φ(−upper), so the two terms
    are small and the difference keeps its relative precision (1 − Φ would cancel).
    """
    above = lower > 0.0
    from_below = _standard_normal_cdf(upper) - _standard_normal_cdf(lower)
    from_above = _standard_normal_cdf(-lower) - _standard_normal_cdf(-upper)
    return np.asarray(np.where(above, from_above, from_below), dtype=np.float64)


@typechecked
def discretized_gaussian_log_likelihood(
    x: Float[np.ndarray, "*shape"],
    means: Float[np.ndarray, "*shape"],
    log_scales: float | Float[np.ndarray, "*bshape"],
) -> Float64[np.ndarray, "*shape"]:
    """LIK-3: log max(Φ((x + 1/255 − m)/s) − Φ((x − 1/255 − m)/s), 1e-12), s = e^{log_scales},
    the lower edge −∞ when x < −1 + 1/255 and the upper edge +∞ when x > 1 − 1/255.

    The DDPM decoder p(x0 | x_0) on the 256-level grid of [−1, 1]; ``log_scales`` broadcasts to
    x's shape (e.g. one per batch element as (batch, 1, 1, 1)).
    """
    require_values_in("x", x, -1.0, 1.0, low_open=False, high_open=False)
    require_finite("means", means)
    require_finite("log_scales", log_scales)
    inverse_scale = np.exp(-np.asarray(log_scales, dtype=np.float64))
    centred = np.asarray(x, dtype=np.float64) - np.asarray(means, dtype=np.float64)
    lower = np.where(x < -1.0 + HALF_BIN, -np.inf, inverse_scale * (centred - HALF_BIN))
    upper = np.where(x > 1.0 - HALF_BIN, np.inf, inverse_scale * (centred + HALF_BIN))
    probability = _bin_probability(lower, upper)
    return np.asarray(np.log(np.maximum(probability, MIN_BIN_PROBABILITY)), dtype=np.float64)


def _mean_bits(values: np.ndarray) -> np.ndarray:
    """Per-example mean over every non-batch axis, converted from nats to bits (an empty batch
    gives an empty result; each example has elements, require_example_size)."""
    per_example = values.reshape(values.shape[0], math.prod(values.shape[1:]))
    return np.asarray(per_example.mean(axis=1) / math.log(2.0), dtype=np.float64)


@typechecked
def vlb_term(
    alpha_bars: Float[np.ndarray, "T"],
    t: int | Int[np.ndarray, "batch"],
    x0: Float[np.ndarray, "batch *shape"],
    x_t: Float[np.ndarray, "batch *shape"],
    model_output: Float[np.ndarray, "batch *shape"],
    clip: bool,
    variance: Variance = "fixed_small",
    prediction_type: PredictionType = "epsilon",
) -> Float64[np.ndarray, "batch"]:
    """LIK-5: L_t in bits/dim: mean over dims of KL(q(x_{t−1}|x_t, x0) ‖ N(μ_θ, σ_t²)) / ln 2 for
    t ≥ 1, −log p_dec(x0; μ_θ, ½·log σ_0²) / ln 2 at t = 0 (LIK-3), μ_θ = μ̃(x̂0, x_t) (REV-8),
    log σ_t² = the clipped log β̃_t ("fixed_small") or log β_t ("fixed_large"; log β̃_1 at t = 0).

    x̂0 = split_prediction(ᾱ_t, x_t, model_output, prediction_type)[0] (PARAM-2; LIK-9: p_θ and
    so the bound depend on the model only through x̂0), clipped to [−1, 1] when ``clip`` (as the
    sampler does). At ᾱ_{T−1} = 0 (LIK-10) x̂0 needs no division by √ᾱ: −v, or the x0-output.
    """
    require_choice("variance", variance, VARIANCES)
    require_prediction_type(prediction_type)
    alpha_bar, _, beta = _posterior_terms(alpha_bars, t)
    require_batch_size("t", t, x0.shape[0])
    require_example_size("x0", x0.shape)
    require_values_in("x0", x0, -1.0, 1.0, low_open=False, high_open=False)
    x0_hat, _ = split_prediction(alpha_bar, x_t, model_output, prediction_type)
    if clip:
        x0_hat = np.clip(x0_hat, -1.0, 1.0)
    true_mean, _, true_log_variance = ddpm_posterior(alpha_bars, t, x0, x_t)
    model_mean, _, _ = ddpm_posterior(alpha_bars, t, x0_hat, x_t)
    is_decoder = np.asarray(t) == 0
    model_log_variance = true_log_variance
    if variance == "fixed_large":
        # DDPM's fixed_large uses β_t, except at t = 0 where it keeps log β̃_1 (β̃_0 = 0).
        model_log_variance = np.where(is_decoder, true_log_variance, np.log(beta))
    model_log_variance = per_batch(model_log_variance, x0.ndim)
    kl = normal_kl(true_mean, per_batch(true_log_variance, x0.ndim), model_mean,
                   model_log_variance)
    decoder_nll = -discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * model_log_variance)
    return _mean_bits(np.where(per_batch(is_decoder, x0.ndim) > 0, decoder_nll, kl))


@typechecked
def prior_bpd(
    alpha_bars: Float[np.ndarray, "T"], x0: Float[np.ndarray, "batch *shape"]
) -> Float64[np.ndarray, "batch"]:
    """LIK-4: L_prior = mean over dims of KL(N(√ᾱ_{T−1}·x0, 1 − ᾱ_{T−1}) ‖ N(0, 1)) / ln 2; exactly
    0 at zero terminal SNR (ᾱ_{T−1} = 0, LIK-10), where q(x_{T−1} | x0) is the prior itself."""
    require_alpha_bar_table(alpha_bars)
    require_example_size("x0", x0.shape)
    require_finite("x0", x0)
    alpha_bar = float(alpha_bars[-1])
    kl = normal_kl(math.sqrt(alpha_bar) * np.asarray(x0, dtype=np.float64),
                   math.log1p(-alpha_bar), 0.0, 0.0)
    return _mean_bits(np.broadcast_to(kl, x0.shape))
