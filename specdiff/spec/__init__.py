"""The pure numpy float64 reference: every function here is one law of specs/.

No torch, no randomness (every random draw is an argument), no I/O except the image encoders.
Import these into your own property tests to check an implementation against the laws.
"""

from specdiff.spec.autoencoder import (
    AutoencoderLayout,
    autoencoder_loss,
    decoder,
    downsampling_factor,
    encoder,
    gaussian_kl_standard_normal,
    kl_single_sample_estimate,
    latent_shape,
    sample_latent,
)
from specdiff.spec.forward import (
    append_time_channel,
    noised_sample_from_eps,
    predict_eps,
    predict_x0,
)
from specdiff.spec.guidance import (
    cfg_eps,
)
from specdiff.spec.images import encode_ppm, quantize_uint8, read_ppm, write_ppm
from specdiff.spec.inpainting import (
    forward_step,
    inpaint_step,
    repaint_levels,
)
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
from specdiff.spec.parameterization import (
    PredictionType,
    eps_from_v,
    min_snr_weight,
    prediction_target,
    split_prediction,
    v_from_eps_x0,
    x0_from_v,
)
from specdiff.spec.reverse import (
    ddim_noise_split,
    ddim_prev,
    ddim_sigma,
    ddim_step,
    ddpm_posterior,
    ddpm_prev,
    implied_beta,
)
from specdiff.spec.schedules import (
    alpha_bars,
    alpha_bars_linear,
    alpha_bars_zero_terminal_snr,
    cosine_betas,
    linear_beta,
    linear_betas,
    rescale_zero_terminal_snr,
    sigmoid_betas,
)
from specdiff.spec.solvers import (
    ddim_step_from_prediction,
    dpm_solver_pp_orders,
    dpm_solver_pp_step,
    log_snr_step,
    plms_eps,
    pndm_step,
)
from specdiff.spec.superres import (
    SuperResolutionLayout,
    downsample_image,
    superres_input,
    superres_unet,
    upsample_image,
)
from specdiff.spec.timesteps import (
    ddim_timesteps,
    karras_timesteps,
)
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
    "AutoencoderLayout",
    "PredictionType",
    "SuperResolutionLayout",
    "UNetLayout",
    "alpha_bars",
    "alpha_bars_linear",
    "alpha_bars_zero_terminal_snr",
    "append_time_channel",
    "attention",
    "attention_weights",
    "autoencoder_loss",
    "cfg_eps",
    "conv2d_same",
    "cosine_betas",
    "ddim_noise_split",
    "ddim_prev",
    "ddim_sigma",
    "ddim_step",
    "ddim_step_from_prediction",
    "ddim_timesteps",
    "ddpm_posterior",
    "ddpm_prev",
    "decoder",
    "discretized_gaussian_log_likelihood",
    "downsample",
    "downsample_image",
    "downsampling_factor",
    "dpm_solver_pp_orders",
    "dpm_solver_pp_step",
    "encode_ppm",
    "encoder",
    "eps_conv_net",
    "eps_from_v",
    "eps_residual_conv_net",
    "forward_step",
    "gaussian_kl_standard_normal",
    "group_norm",
    "implied_beta",
    "inpaint_step",
    "karras_timesteps",
    "kl_single_sample_estimate",
    "latent_shape",
    "linear",
    "linear_beta",
    "linear_betas",
    "log_snr_step",
    "min_snr_weight",
    "noised_sample_from_eps",
    "normal_kl",
    "plms_eps",
    "pndm_step",
    "predict_eps",
    "predict_x0",
    "prediction_target",
    "prior_bpd",
    "quantize_uint8",
    "read_ppm",
    "relu",
    "repaint_levels",
    "res_block",
    "rescale_zero_terminal_snr",
    "residual_conv_block",
    "sample_latent",
    "sigmoid_betas",
    "silu",
    "split_prediction",
    "superres_input",
    "superres_unet",
    "timestep_embedding",
    "unet",
    "upsample",
    "upsample_image",
    "v_from_eps_x0",
    "vlb_term",
    "write_ppm",
    "x0_from_v",
]
