"""The torch implementation of the spec's diffusion math, CPU and CUDA, any float dtype.

Each function mirrors its ``specdiff.spec`` twin (same name, argument order and law ID) with
tensors and batched timesteps; the samplers loop over those steps, and :class:`Diffusion` ties a
model to its schedule for training and generation.
"""

from specdiff.diffusion.api import Diffusion
from specdiff.diffusion.dpmpp import (
    dpmpp_2m_sde_step,
    dpmpp_2m_step,
    dpmpp_2s_ancestral_step,
    dpmpp_sde_noises,
    dpmpp_sde_step,
    sample_dpmpp_2m,
    sample_dpmpp_2m_sde,
    sample_dpmpp_2s_ancestral,
    sample_dpmpp_sde,
)
from specdiff.diffusion.forward import (
    add_noise,
    append_time_channel,
    noised_sample_from_eps,
    predict_eps,
    predict_x0,
)
from specdiff.diffusion.guidance import (
    GuidedModel,
    cfg_eps,
)
from specdiff.diffusion.inpainting import (
    forward_step,
    inpaint_step,
    sample_inpaint,
)
from specdiff.diffusion.karras import (
    edm_churn,
    euler_ancestral_step,
    euler_step,
    heun_step,
    lms_step,
    sample_edm,
    sample_euler,
    sample_euler_ancestral,
    sample_heun,
    sample_lms,
)
from specdiff.diffusion.likelihood import (
    VlbTerms,
    bits_per_dim,
    discretized_gaussian_log_likelihood,
    normal_kl,
    prior_bpd,
    vlb_term,
    vlb_terms,
)
from specdiff.diffusion.multistep import (
    sample_dpm_solver_pp,
    sample_pndm,
)
from specdiff.diffusion.noise_schedule import ModuleWithSchedule, NoiseSchedule
from specdiff.diffusion.reverse import (
    ddim_prev,
    ddim_step,
    ddpm_posterior,
    ddpm_prev,
    ddpm_step,
)
from specdiff.diffusion.samplers import EpsModel, sample_ddim, sample_ddpm
from specdiff.diffusion.schedules import alpha_bars, cosine_betas, linear_betas, sigmoid_betas
from specdiff.diffusion.sigma import denoised, ve_from_vp, vp_from_ve
from specdiff.diffusion.unipc import sample_unipc, unipc_corrector_step

__all__ = [
    "Diffusion",
    "EpsModel",
    "GuidedModel",
    "ModuleWithSchedule",
    "NoiseSchedule",
    "VlbTerms",
    "add_noise",
    "alpha_bars",
    "append_time_channel",
    "bits_per_dim",
    "cfg_eps",
    "cosine_betas",
    "ddim_prev",
    "ddim_step",
    "ddpm_posterior",
    "ddpm_prev",
    "ddpm_step",
    "denoised",
    "discretized_gaussian_log_likelihood",
    "dpmpp_2m_sde_step",
    "dpmpp_2m_step",
    "dpmpp_2s_ancestral_step",
    "dpmpp_sde_noises",
    "dpmpp_sde_step",
    "edm_churn",
    "euler_ancestral_step",
    "euler_step",
    "forward_step",
    "heun_step",
    "inpaint_step",
    "linear_betas",
    "lms_step",
    "noised_sample_from_eps",
    "normal_kl",
    "predict_eps",
    "predict_x0",
    "prior_bpd",
    "sample_ddim",
    "sample_ddpm",
    "sample_dpm_solver_pp",
    "sample_dpmpp_2m",
    "sample_dpmpp_2m_sde",
    "sample_dpmpp_2s_ancestral",
    "sample_dpmpp_sde",
    "sample_edm",
    "sample_euler",
    "sample_euler_ancestral",
    "sample_heun",
    "sample_inpaint",
    "sample_lms",
    "sample_pndm",
    "sample_unipc",
    "sigmoid_betas",
    "unipc_corrector_step",
    "ve_from_vp",
    "vlb_term",
    "vlb_terms",
    "vp_from_ve",
]
