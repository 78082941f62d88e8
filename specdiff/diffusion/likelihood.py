"""Torch mirrors of the variational bound (specs/likelihood.md) and its estimate in bits/dim.

Everything here computes in float64 and returns float64, whatever the inputs' dtype: a bin
probability Φ(b) − Φ(a) cancels catastrophically in float32, and a bound sums T per-timestep
terms. The cost is negligible next to the model calls that produce ε̂.
"""

import math
from typing import NamedTuple

import numpy as np
import torch
from jaxtyping import Float, Float64, Int, Int64

from specdiff._typecheck import typechecked
from specdiff.diffusion._batch import per_batch
from specdiff.diffusion._validate import (
    require_same_shape,
    require_tensor_alpha_bar_table,
    require_tensor_values_in,
)
from specdiff.diffusion.api import Conditioning, Diffusion
from specdiff.diffusion.forward import noised_sample_from_eps
from specdiff.diffusion.parameterization import split_prediction
from specdiff.diffusion.reverse import _posterior_terms, ddpm_posterior
from specdiff.spec._validate import require_choice, require_example_size, require_int_at_least
from specdiff.spec.likelihood import HALF_BIN, MIN_BIN_PROBABILITY
from specdiff.spec.parameterization import PredictionType, require_prediction_type
from specdiff.spec.reverse import VARIANCES, Variance

Scalar = float | Float[torch.Tensor, "..."]


def _float64(value: Scalar) -> torch.Tensor:
    """LIK-11: a Python float becomes float64 directly; ``torch.as_tensor(value)`` alone would
    make it a float32 tensor first and lose its digits below 1e-7."""
    return torch.as_tensor(value, dtype=torch.float64)


@typechecked
def normal_kl(
    mean1: Scalar, logvar1: Scalar, mean2: Scalar, logvar2: Scalar
) -> Float64[torch.Tensor, "..."]:
    """LIK-1: KL(N(m1, e^{lv1}) ‖ N(m2, e^{lv2})) = ½(−1 + lv2 − lv1 + e^{lv1−lv2} + (Δm)²e^{−lv2}).

    Δm = m1 − m2. Elementwise, broadcasting its arguments (tensors on one device); −1 − d + e^{d}
    is evaluated as expm1(d) − d, d = lv1 − lv2, so that nearly equal variances give a small
    positive value instead of rounding noise.
    """
    mean1, logvar1, mean2, logvar2 = (_float64(v) for v in (mean1, logvar1, mean2, logvar2))
    log_ratio = logvar1 - logvar2
    return 0.5 * (torch.expm1(log_ratio) - log_ratio + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _standard_normal_cdf(z: torch.Tensor) -> torch.Tensor:
    """Φ(z) = erfc(−z/√2)/2. Not torch.special.ndtr: it computes (1 + erf)/2 on the CPU, which
    loses all digits below Φ ≈ 1e-16 (ndtr(−10) = 0, and Φ(−5.8) is off by 1e-8 relative)."""
    cdf: torch.Tensor = 0.5 * torch.special.erfc(-z / math.sqrt(2.0))
    return cdf


def _bin_probability(lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Φ(upper) − Φ(lower); a bin above the mean is measured from the upper tail (no 1 − Φ)."""
    from_below = _standard_normal_cdf(upper) - _standard_normal_cdf(lower)
    from_above = _standard_normal_cdf(-lower) - _standard_normal_cdf(-upper)
    return torch.where(lower > 0.0, from_above, from_below)


@typechecked
def discretized_gaussian_log_likelihood(
    x: Float[torch.Tensor, "*shape"],
    means: Float[torch.Tensor, "*shape"],
    log_scales: Scalar,
) -> Float64[torch.Tensor, "*shape"]:
    """LIK-3: log max(Φ((x + 1/255 − m)/s) − Φ((x − 1/255 − m)/s), 1e-12), s = e^{log_scales},
    the lower edge −∞ when x < −1 + 1/255 and the upper edge +∞ when x > 1 − 1/255."""
    require_same_shape("means", means, "x", x)
    x64 = x.to(torch.float64)
    inverse_scale = torch.exp(-_float64(log_scales).to(x.device))
    centred = x64 - means.to(torch.float64)
    lower = torch.where(x64 < -1.0 + HALF_BIN, -torch.inf, inverse_scale * (centred - HALF_BIN))
    upper = torch.where(x64 > 1.0 - HALF_BIN, torch.inf, inverse_scale * (centred + HALF_BIN))
    return torch.log(_bin_probability(lower, upper).clamp(min=MIN_BIN_PROBABILITY))


def _mean_bits(values: torch.Tensor) -> torch.Tensor:
    """Per-example mean over every non-batch axis, converted from nats to bits (an empty batch
    gives an empty result; each example has elements, require_example_size)."""
    per_example = values.reshape(values.shape[0], math.prod(values.shape[1:]))
    return per_example.mean(dim=1) / math.log(2.0)


@typechecked
def vlb_term(
    alpha_bars: Float[torch.Tensor, "T"],
    t: int | Int[torch.Tensor, "batch"],
    x0: Float[torch.Tensor, "batch *shape"],
    x_t: Float[torch.Tensor, "batch *shape"],
    model_output: Float[torch.Tensor, "batch *shape"],
    clip: bool,
    variance: Variance = "fixed_small",
    prediction_type: PredictionType = "epsilon",
) -> Float64[torch.Tensor, "batch"]:
    """LIK-5: L_t in bits/dim: mean over dims of KL(q(x_{t−1}|x_t, x0) ‖ N(μ_θ, σ_t²)) / ln 2 for
    t ≥ 1, −log p_dec(x0; μ_θ, ½·log σ_0²) / ln 2 at t = 0 (LIK-3), μ_θ = μ̃(x̂0, x_t) (REV-8),
    log σ_t² = the clipped log β̃_t ("fixed_small") or log β_t ("fixed_large"; log β̃_1 at t = 0).

    x̂0 = split_prediction(ᾱ_t, x_t, model_output, prediction_type)[0] (PARAM-2, LIK-9), clipped
    to [−1, 1] when ``clip`` (as the sampler does); no division by √ᾱ at ᾱ_{T−1} = 0 (LIK-10).
    x0 ∈ [−1, 1] is checked by shape only here (diffusion/_validate.py); bits_per_dim checks it.
    """
    require_choice("variance", variance, VARIANCES)
    require_prediction_type(prediction_type)
    terms = _posterior_terms(alpha_bars, t, x0.shape[0])
    require_same_shape("x_t", x_t, "x0", x0)
    require_example_size("x0", tuple(x0.shape))
    x0, x_t, model_output = (tensor.to(torch.float64) for tensor in (x0, x_t, model_output))
    x0_hat, _ = split_prediction(terms.alpha_bar, x_t, model_output, prediction_type)
    if clip:
        x0_hat = x0_hat.clamp(-1.0, 1.0)
    true_mean, _, true_log_variance = ddpm_posterior(alpha_bars, t, x0, x_t)
    model_mean, _, _ = ddpm_posterior(alpha_bars, t, x0_hat, x_t)
    is_decoder = torch.as_tensor(t, device=true_log_variance.device) == 0
    model_log_variance = true_log_variance
    if variance == "fixed_large":
        # DDPM's fixed_large uses β_t, except at t = 0 where it keeps log β̃_1 (β̃_0 = 0).
        model_log_variance = torch.where(is_decoder, true_log_variance, terms.beta.log())
    model_log_variance = per_batch(model_log_variance, x0)
    kl = normal_kl(true_mean, per_batch(true_log_variance, x0), model_mean, model_log_variance)
    decoder_nll = -discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * model_log_variance)
    return _mean_bits(torch.where(per_batch(is_decoder.to(torch.float64), x0) > 0, decoder_nll,
                                  kl))


@typechecked
def prior_bpd(
    alpha_bars: Float[torch.Tensor, "T"], x0: Float[torch.Tensor, "batch *shape"]
) -> Float64[torch.Tensor, "batch"]:
    """LIK-4: L_prior = mean over dims of KL(N(√ᾱ_{T−1}·x0, 1 − ᾱ_{T−1}) ‖ N(0, 1)) / ln 2; exactly
    0 at zero terminal SNR (ᾱ_{T−1} = 0, LIK-10)."""
    require_tensor_alpha_bar_table(alpha_bars)
    require_example_size("x0", tuple(x0.shape))
    alpha_bar = alpha_bars[-1].to(torch.float64)
    kl = normal_kl(alpha_bar.sqrt() * x0.to(torch.float64), torch.log1p(-alpha_bar), 0.0, 0.0)
    return _mean_bits(kl)


class VlbTerms(NamedTuple):
    """The pieces of LIK-7's bound, per example: L_prior, and for each stratum S_k (increasing
    t) its size |S_k|, the timestep t_k drawn in it and L_{t_k}."""

    prior: Float64[torch.Tensor, "batch"]
    stratum_sizes: list[int]
    timesteps: Int64[torch.Tensor, "batch K"]
    terms: Float64[torch.Tensor, "batch K"]

    def total(self) -> Float64[torch.Tensor, "batch"]:
        """LIK-12: prior + |S_1|·terms_1 + … + |S_K|·terms_K, summed in that order (LIK-7)."""
        total = self.prior
        for k, size in enumerate(self.stratum_sizes):
            total = total + size * self.terms[:, k]
        return total


@typechecked
def vlb_terms(
    diffusion: Diffusion,
    x0: Float[torch.Tensor, "batch *shape"],
    *,
    generator: torch.Generator,
    timesteps: int | None = None,
    clip: bool = True,
    variance: Variance = "fixed_small",
    conditioning: Conditioning | None = None,
) -> VlbTerms:
    """LIK-12: the terms LIK-7 sums, on its draws: prior_bpd (LIK-4), and per stratum S_k of
    ``np.array_split(range(T), K)`` (K = T for ``timesteps`` None) the drawn t_k and
    vlb_term(ᾱ, t_k, x0, x_t, diffusion(x_t, t_k)) (LIK-5), x_t = FWD-1(x0, ε, t_k). Arguments,
    draws and model calls as ``bits_per_dim``."""
    T, batch, device = diffusion.num_timesteps, x0.shape[0], x0.device
    if timesteps is not None and require_int_at_least("timesteps", timesteps, 1) > T:
        raise ValueError(f"timesteps must be in [1, T] = [1, {T}], got {timesteps}")
    # Checked once here, not per timestep: a value check copies x0 to the host.
    require_tensor_values_in("x0", x0, -1.0, 1.0, low_open=False, high_open=False)
    require_example_size("x0", tuple(x0.shape))
    strata = np.array_split(np.arange(T), T if timesteps is None else timesteps)
    sizes = [len(stratum) for stratum in strata]
    if batch == 0:  # no examples: no draws, no model calls
        nothing = torch.zeros((0, len(strata)), dtype=torch.float64, device=device)
        return VlbTerms(nothing[:, 0], sizes, nothing.to(torch.int64), nothing)
    alpha_bars = diffusion.schedule.alpha_bars
    drawn, terms = [], []
    with torch.no_grad():
        for stratum in strata:
            first, size = int(stratum[0]), len(stratum)
            t = torch.full((batch,), first, dtype=torch.int64, device=device)
            if size > 1:
                t = t + torch.randint(0, size, (batch,), generator=generator, device=device)
            eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=device)
            x_t, _ = noised_sample_from_eps(alpha_bars, x0, eps, t)
            output = diffusion.predict_noise(x_t, t, conditioning)
            drawn.append(t)
            terms.append(vlb_term(alpha_bars, t, x0, x_t, output, clip, variance,
                                  diffusion.prediction_type))
    return VlbTerms(prior_bpd(alpha_bars, x0), sizes, torch.stack(drawn, dim=1),
                    torch.stack(terms, dim=1))


@typechecked
def bits_per_dim(
    diffusion: Diffusion,
    x0: Float[torch.Tensor, "batch *shape"],
    *,
    generator: torch.Generator,
    timesteps: int | None = None,
    clip: bool = True,
    variance: Variance = "fixed_small",
    conditioning: Conditioning | None = None,
) -> Float64[torch.Tensor, "batch"]:
    """LIK-7: per-example bits/dim L_prior + Σ_{t=0}^{T−1} L_t (LIK-4, LIK-5) of the model's output
    read by its ``prediction_type`` (LIK-9); zero-terminal-SNR schedules included (LIK-10).

    ``timesteps`` None evaluates every L_t, each on its own x_t = FWD-1(x0, ε_t, t). An int K ≤ T
    gives the stratified estimate instead: {0, …, T−1} is cut into K contiguous strata S_k of
    near-equal size (``np.array_split``), and each example draws one t_k uniform in each S_k and
    adds |S_k|·L_{t_k}; E[|S_k|·L_{t_k}] = Σ_{t∈S_k} L_t, so the estimate is unbiased, and K = T is
    the full bound. ``conditioning`` (e.g. ``{"class_labels": labels}``) goes to every model call.
    Draws from ``generator`` (on x0's device), stratum by stratum in increasing t:
    t_k (one per example, only when |S_k| > 1), then ε of x0's shape; an empty batch gives an
    empty result without drawing or calling the model. No gradients are tracked;
    the model's train/eval mode is left as it is. The terms themselves: ``vlb_terms``.
    """
    return vlb_terms(diffusion, x0, generator=generator, timesteps=timesteps, clip=clip,
                     variance=variance, conditioning=conditioning).total()
