"""Exact eps-predictors for the conditioning laws (specs/conditioning.md, COND-10).

:class:`NullClassMixtureOracle` gives a Gaussian mixture a null class, so classifier-free guidance
can be run with exact conditional and unconditional predictions; :class:`CorrelatedGaussianOracle`
is the exact E[ε | x_t] for data with correlated pixels, whose conditionals (inpainting) are not
the marginals.
"""

import torch
from jaxtyping import Float, Int

from specdiff._typecheck import typechecked
from specdiff.diffusion._validate import require_tensor_timesteps
from specdiff.diffusion.noise_schedule import ModuleWithSchedule, NoiseSchedule
from specdiff.testing.oracles import GaussianMixtureOracle


class NullClassMixtureOracle(torch.nn.Module):
    """COND-10: ``mixture`` with labels in [0, K]: label k < K is component k's oracle, label K
    (the null class, as in ``specdiff.nn.UNet``) and no labels are the whole mixture's."""

    def __init__(self, mixture: GaussianMixtureOracle) -> None:
        super().__init__()
        self.mixture = mixture

    @property
    def null_class(self) -> int:
        return self.mixture.num_components

    @typechecked
    def forward(
        self,
        x_t: Float[torch.Tensor, "batch *shape"],
        t: Int[torch.Tensor, "batch"],
        class_labels: Int[torch.Tensor, "batch"] | None = None,
    ) -> Float[torch.Tensor, "batch *shape"]:
        unconditional: torch.Tensor = self.mixture(x_t, t)
        if class_labels is None:
            return unconditional
        labels = class_labels.detach().cpu()
        if labels.numel() and (labels.min() < 0 or labels.max() > self.null_class):
            raise ValueError(f"class_labels must be in [0, K] = [0, {self.null_class}] (K is the "
                             f"null class), got {labels.tolist()}")
        is_null = class_labels == self.null_class
        conditional: torch.Tensor = self.mixture(
            x_t, t, class_labels=class_labels.clamp(max=self.null_class - 1))
        is_null = is_null.reshape(-1, *([1] * (x_t.ndim - 1)))
        return torch.where(is_null, unconditional, conditional)


class CorrelatedGaussianOracle(ModuleWithSchedule):
    """COND-10: exact ε̂ for x0 ~ N(μ, Σ) over an example's D = prod(shape) elements (flattened in
    C order): E[ε | x_t] = √(1−ᾱ_t)·(ᾱ_t·Σ + (1 − ᾱ_t)·I)⁻¹·(x_t − √ᾱ_t·μ)."""

    def __init__(self, schedule: NoiseSchedule, mean: torch.Tensor, covariance: torch.Tensor
                 ) -> None:
        super().__init__(schedule)
        self.mean = torch.as_tensor(mean).detach().to("cpu", torch.float64).flatten()
        self.covariance = torch.as_tensor(covariance).detach().to("cpu", torch.float64)
        size = self.mean.shape[0]
        if self.covariance.shape != (size, size):
            raise ValueError(f"covariance must have shape ({size}, {size}) for a mean of {size} "
                             f"elements, got {tuple(self.covariance.shape)}")
        symmetric = torch.allclose(self.covariance, self.covariance.T, rtol=0.0, atol=1e-12)
        if not symmetric or float(torch.linalg.eigvalsh(self.covariance).min()) <= 0.0:
            raise ValueError("covariance must be symmetric positive definite")

    @typechecked
    def forward(
        self, x_t: Float[torch.Tensor, "batch *shape"], t: Int[torch.Tensor, "batch"]
    ) -> Float[torch.Tensor, "batch *shape"]:
        require_tensor_timesteps("t", t, self.schedule.num_timesteps, x_t.shape[0])
        x = x_t.to(torch.float64).reshape(x_t.shape[0], -1)
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"x_t must have {self.mean.shape[0]} elements per example, got "
                             f"shape {tuple(x_t.shape)}")
        alpha_bar = self.schedule.alpha_bars[t.to(self.schedule.device)].to(x.device)[:, None, None]
        mean, covariance = self.mean.to(x.device), self.covariance.to(x.device)
        identity = torch.eye(mean.shape[0], dtype=torch.float64, device=x.device)
        marginal_covariance = alpha_bar * covariance + (1.0 - alpha_bar) * identity
        offset = x - alpha_bar[:, :, 0].sqrt() * mean
        solved = torch.linalg.solve(marginal_covariance, offset.unsqueeze(-1)).squeeze(-1)
        eps: torch.Tensor = (1.0 - alpha_bar[:, :, 0]).sqrt() * solved
        return eps.reshape(x_t.shape).to(x_t.dtype)
