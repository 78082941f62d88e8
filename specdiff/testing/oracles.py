"""Exact eps-predictors for Gaussian and Gaussian-mixture data: models with a known answer.

For data x0 and x_t = √ᾱ·x0 + √(1−ᾱ)·ε, the best eps-predictor in mean square is E[ε | x_t]. For
Gaussian data (and mixtures of Gaussians) it has a closed form, so a sampler driven by these
oracles must reproduce the data distribution up to its own discretization (specs/samplers.md,
SAMP-5 to SAMP-7). Both are ``nn.Module``s with the model interface ``(x_t, t) -> eps_hat``
(integer t); they compute in float64 and return x_t's dtype.
"""

import torch
from jaxtyping import Float, Int

from specdiff._typecheck import typechecked
from specdiff.diffusion._batch import per_batch
from specdiff.diffusion._validate import require_tensor_timesteps, require_tensor_values_in
from specdiff.diffusion.noise_schedule import ModuleWithSchedule, NoiseSchedule


def _float64(name: str, values: float | torch.Tensor, low: float, *, low_open: bool
             ) -> torch.Tensor:
    tensor = torch.as_tensor(values).detach().to("cpu", torch.float64)
    require_tensor_values_in(name, tensor, low, float("inf"), low_open=low_open, high_open=True)
    return tensor


class GaussianOracle(ModuleWithSchedule):
    """SAMP-5: exact ε̂ for x0 ~ N(μ, σ²) per element (μ, σ scalars or broadcastable to an
    example's shape): E[ε | x_t] = √(1−ᾱ_t)·(x_t − √ᾱ_t·μ) / (ᾱ_t·σ² + 1 − ᾱ_t)."""

    def __init__(self, schedule: NoiseSchedule, mean: float | torch.Tensor,
                 std: float | torch.Tensor) -> None:
        super().__init__(schedule)
        self.mean = _float64("mean", mean, float("-inf"), low_open=True)
        self.std = _float64("std", std, 0.0, low_open=True)

    @typechecked
    def forward(
        self, x_t: Float[torch.Tensor, "batch *shape"], t: Int[torch.Tensor, "batch"]
    ) -> Float[torch.Tensor, "batch *shape"]:
        require_tensor_timesteps("t", t, self.schedule.num_timesteps, x_t.shape[0])
        x = x_t.to(torch.float64)
        alpha_bar = per_batch(self.schedule.alpha_bars[t.to(self.schedule.device)], x)
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        marginal_variance = alpha_bar * std**2 + 1.0 - alpha_bar
        eps = (1.0 - alpha_bar).sqrt() * (x - alpha_bar.sqrt() * mean) / marginal_variance
        return eps.to(x_t.dtype)


class GaussianMixtureOracle(ModuleWithSchedule):
    """SAMP-5: exact ε̂ for x0 ~ Σ_k w_k·N(μ_k, σ_k² I): E[ε | x_t] = Σ_k r_k(x_t)·ε̂_k(x_t), where
    ε̂_k is the GaussianOracle of component k and r_k ∝ w_k·N(x_t; √ᾱ_t·μ_k, (ᾱ_t·σ_k² + 1 − ᾱ_t)I)
    are the posterior responsibilities. ``means`` is (K,) or (K, *shape) with ``shape``
    broadcastable to an example's; ``stds`` and ``weights`` are (K,), weights summing to 1.

    ``class_labels`` (one component index per example) restricts each example to its component:
    then ε̂ is that component's GaussianOracle (class-conditional sampling).
    """

    def __init__(self, schedule: NoiseSchedule, means: torch.Tensor, stds: torch.Tensor,
                 weights: torch.Tensor) -> None:
        super().__init__(schedule)
        self.means = _float64("means", means, float("-inf"), low_open=True)
        self.stds = _float64("stds", stds, 0.0, low_open=True)
        self.weights = _float64("weights", weights, 0.0, low_open=True)
        components = self.means.shape[0] if self.means.ndim else 0
        if components < 1 or self.stds.shape != (components,) or (
            self.weights.shape != (components,)
        ):
            raise ValueError(
                "means must be (K, ...) and stds, weights (K,) with K >= 1, got shapes "
                f"{tuple(self.means.shape)}, {tuple(self.stds.shape)}, {tuple(self.weights.shape)}"
            )
        # 1e-6 admits weights written in float32; they are used as given, not renormalized.
        if abs(float(self.weights.sum()) - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1, got sum {float(self.weights.sum())!r}")

    @property
    def num_components(self) -> int:
        return int(self.means.shape[0])

    @typechecked
    def forward(
        self,
        x_t: Float[torch.Tensor, "batch *shape"],
        t: Int[torch.Tensor, "batch"],
        class_labels: Int[torch.Tensor, "batch"] | None = None,
    ) -> Float[torch.Tensor, "batch *shape"]:
        require_tensor_timesteps("t", t, self.schedule.num_timesteps, x_t.shape[0])
        x = x_t.to(torch.float64).unsqueeze(1)  # (batch, 1, *shape): one slot per component
        alpha_bar = per_batch(self.schedule.alpha_bars[t.to(self.schedule.device)], x)
        means, stds, weights = (v.to(x.device) for v in (self.means, self.stds, self.weights))
        # (1, K, 1, …, 1, *mean_shape): component axis second, mean's own axes trailing.
        padding = (1,) * (x.ndim - 1 - means.ndim)
        means = means.reshape((1, self.num_components, *padding, *means.shape[1:]))
        component_variance = per_batch(stds**2, x[0]).unsqueeze(0)  # (1, K, 1, …, 1)
        marginal_variance = alpha_bar * component_variance + 1.0 - alpha_bar
        offset = x - alpha_bar.sqrt() * means  # (batch, K, *shape)
        # Per-component log-likelihood of x_t, up to a constant shared by all components.
        variance = marginal_variance.reshape(marginal_variance.shape[:2])  # (batch, K)
        squared_distance = (offset**2).reshape(*offset.shape[:2], -1).sum(-1)
        size = x[0, 0].numel()
        log_density = -0.5 * (squared_distance / variance + size * variance.log())
        log_posterior = torch.log(weights) + log_density
        if class_labels is not None:
            labels = class_labels.detach().cpu()
            if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_components):
                raise ValueError(f"class_labels must be in [0, K) = [0, {self.num_components}), "
                                 f"got {labels.tolist()}")
            chosen = torch.nn.functional.one_hot(class_labels.to(x.device), self.num_components)
            log_posterior = torch.where(chosen.bool(), 0.0, -torch.inf)
        responsibility = torch.softmax(log_posterior, dim=1)
        responsibility = responsibility.reshape(responsibility.shape + (1,) * (x.ndim - 2))
        eps = ((1.0 - alpha_bar).sqrt() * responsibility * offset / marginal_variance).sum(1)
        return eps.to(x_t.dtype)
