"""Public test helpers: Hypothesis strategies over the laws' domains, the tolerance policy, and
helpers that give a torch mirror and its spec the same inputs.

Requires the ``dev`` extra (hypothesis). Users check their own implementations with these.
``specdiff.testing.symbolic`` (the proven laws' closed forms in SymPy, for proofs of your own
code) is not imported here, so sympy loads only when you ask for it:
``from specdiff.testing import symbolic``.
"""

from specdiff.testing.affine_law import (
    AffineStep,
    affine_gaussian_law,
    assert_gaussian_moments,
)
from specdiff.testing.autoencoders import (
    autoencoder_configs,
    autoencoder_configs_with_image_shapes,
    autoencoder_image_shapes,
)
from specdiff.testing.cases import NoisingCase, noising_cases
from specdiff.testing.conditional_oracles import (
    CorrelatedGaussianOracle,
    NullClassMixtureOracle,
)
from specdiff.testing.conformance import (
    ConformanceReport,
    Convergence,
    LawCheck,
    Reference,
    SamplerAdapter,
    SchedulerAdapter,
    check_conformance,
    conformance_tests,
    convergence_schedule,
)
from specdiff.testing.converted_models import ConvertedPrediction
from specdiff.testing.exact_law import (
    GaussianPredictor,
    ddim_reference,
    ddpm_reference,
    dpm_solver_pp_reference,
    exact_moments,
    pndm_reference,
)
from specdiff.testing.images import write_png
from specdiff.testing.oracles import GaussianMixtureOracle, GaussianOracle
from specdiff.testing.peers.diffusers import diffusers_adapter
from specdiff.testing.strategies import (
    ALPHA_BAR_MAX,
    ALPHA_BAR_MIN,
    LinearSchedule,
    NCHWShape,
    alpha_bar_arrays,
    alpha_bar_pairs,
    alpha_bar_values,
    batched_timesteps,
    beta_arrays,
    betas_values,
    eps_batches,
    image_batches,
    increasing_alpha_bar_triples,
    linear_schedules,
    nchw_shapes,
    num_timesteps,
    timesteps,
    unbounded_batches,
)
from specdiff.testing.tensors import as_tensor, per_example, to_spec_array
from specdiff.testing.tolerance import POLICY, Kind, Tolerance, assert_close_to_spec, tolerance_for
from specdiff.testing.twin_models import NumpyEpsModel, TorchEpsModel, twin_eps_models

__all__ = [
    "ALPHA_BAR_MAX",
    "ALPHA_BAR_MIN",
    "POLICY",
    "AffineStep",
    "ConformanceReport",
    "Convergence",
    "ConvertedPrediction",
    "CorrelatedGaussianOracle",
    "GaussianMixtureOracle",
    "GaussianOracle",
    "GaussianPredictor",
    "Kind",
    "LawCheck",
    "LinearSchedule",
    "NCHWShape",
    "NoisingCase",
    "NullClassMixtureOracle",
    "NumpyEpsModel",
    "Reference",
    "SamplerAdapter",
    "SchedulerAdapter",
    "Tolerance",
    "TorchEpsModel",
    "affine_gaussian_law",
    "alpha_bar_arrays",
    "alpha_bar_pairs",
    "alpha_bar_values",
    "as_tensor",
    "assert_close_to_spec",
    "assert_gaussian_moments",
    "autoencoder_configs",
    "autoencoder_configs_with_image_shapes",
    "autoencoder_image_shapes",
    "batched_timesteps",
    "beta_arrays",
    "betas_values",
    "check_conformance",
    "conformance_tests",
    "convergence_schedule",
    "ddim_reference",
    "ddpm_reference",
    "diffusers_adapter",
    "dpm_solver_pp_reference",
    "eps_batches",
    "exact_moments",
    "image_batches",
    "increasing_alpha_bar_triples",
    "linear_schedules",
    "nchw_shapes",
    "noising_cases",
    "num_timesteps",
    "per_example",
    "pndm_reference",
    "timesteps",
    "to_spec_array",
    "tolerance_for",
    "twin_eps_models",
    "unbounded_batches",
    "write_png",
]
