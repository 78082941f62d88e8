"""One model re-expressed in another parameterization (specs/parameterization.md, PARAM-2).

A v-model v(x_t, t), the ε-model eps_from_v(ᾱ_t, x_t, v) and the x0-model x0_from_v(ᾱ_t, x_t, v)
it implies are one p_θ written three ways; laws that depend on p_θ only (the bound, LIK-9) must
give them one value. ``ConvertedPrediction`` builds the other two from any one.
"""

import torch
from jaxtyping import Float, Int
from torch import nn

from specdiff._typecheck import typechecked
from specdiff.diffusion.noise_schedule import ModuleWithSchedule, NoiseSchedule
from specdiff.diffusion.parameterization import split_prediction, v_from_eps_x0
from specdiff.spec.parameterization import PredictionType, require_prediction_type


class ConvertedPrediction(ModuleWithSchedule):
    """``model`` (whose output is a ``source`` prediction) as a ``target`` prediction: the pair
    (x̂0, ε̂) = split_prediction(ᾱ_t, x_t, model(x_t, t), source) (PARAM-2), returned as ε̂, x̂0 or
    v_from_eps_x0(ᾱ_t, ε̂, x̂0) (PARAM-1). Keyword inputs (conditioning) go to ``model``."""

    def __init__(self, model: nn.Module, schedule: NoiseSchedule, source: PredictionType,
                 target: PredictionType) -> None:
        super().__init__(schedule)
        require_prediction_type(source)
        require_prediction_type(target)
        self.model, self.source, self.target = model, source, target

    @typechecked
    def forward(self, x_t: Float[torch.Tensor, "batch *shape"], t: Int[torch.Tensor, "batch"],
                **conditioning: torch.Tensor) -> Float[torch.Tensor, "batch *shape"]:
        alpha_bar = self.schedule.alpha_bars[t.to(self.schedule.device)]
        output = self.model(x_t, t, **conditioning)
        x0_hat, eps_hat = split_prediction(alpha_bar, x_t, output, self.source)
        if self.target == "epsilon":
            return eps_hat
        if self.target == "sample":
            return x0_hat
        return v_from_eps_x0(alpha_bar, eps_hat, x0_hat)
