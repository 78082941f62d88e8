"""The pure numpy float64 reference: every function here is one law of specs/.

No torch, no randomness (every random draw is an argument), no I/O except the image encoders.
Import these into your own property tests to check an implementation against the laws.
"""

from specdiff.spec.forward import (
    append_time_channel,
    noised_sample_from_eps,
    predict_eps,
    predict_x0,
)
from specdiff.spec.images import encode_ppm, quantize_uint8, read_ppm, write_ppm
from specdiff.spec.likelihood import (
    discretized_gaussian_log_likelihood,
    normal_kl,
    prior_bpd,
    vlb_term,
)
from specdiff.spec.nets import (
    conv2d_same,
    eps_conv_net,
    eps_residual_conv_net,
    relu,
    residual_conv_block,
)
from specdiff.spec.reverse import ddim_prev, ddim_sigma, ddim_step, ddpm_posterior, ddpm_prev
from specdiff.spec.schedules import (
    alpha_bars,
    alpha_bars_linear,
    cosine_betas,
    linear_beta,
    linear_betas,
    sigmoid_betas,
)
from specdiff.spec.timesteps import ddim_timesteps
from specdiff.spec.unet import (
    UNetLayout,
    attention,
    attention_weights,
    downsample,
    group_norm,
    linear,
    res_block,
    silu,
    timestep_embedding,
    unet,
    upsample,
)

__all__ = [
    "UNetLayout",
    "alpha_bars",
    "alpha_bars_linear",
    "append_time_channel",
    "attention",
    "attention_weights",
    "conv2d_same",
    "cosine_betas",
    "ddim_prev",
    "ddim_sigma",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_posterior",
    "ddpm_prev",
    "discretized_gaussian_log_likelihood",
    "downsample",
    "encode_ppm",
    "eps_conv_net",
    "eps_residual_conv_net",
    "group_norm",
    "linear",
    "linear_beta",
    "linear_betas",
    "noised_sample_from_eps",
    "normal_kl",
    "predict_eps",
    "predict_x0",
    "prior_bpd",
    "quantize_uint8",
    "read_ppm",
    "relu",
    "res_block",
    "residual_conv_block",
    "sigmoid_betas",
    "silu",
    "timestep_embedding",
    "unet",
    "upsample",
    "vlb_term",
    "write_ppm",
]
