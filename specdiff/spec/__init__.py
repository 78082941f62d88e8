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

__all__ = [
    "alpha_bars",
    "alpha_bars_linear",
    "append_time_channel",
    "cosine_betas",
    "ddim_prev",
    "ddim_sigma",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_posterior",
    "ddpm_prev",
    "encode_ppm",
    "linear_beta",
    "linear_betas",
    "noised_sample_from_eps",
    "predict_eps",
    "predict_x0",
    "quantize_uint8",
    "read_ppm",
    "sigmoid_betas",
    "write_ppm",
]
