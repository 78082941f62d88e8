"""Noise schedules as tensors (specs/schedules.md).

A schedule is computed once, before training or sampling, so these functions compute through the
numpy float64 spec (``specdiff.spec.schedules``) and convert: the tensors equal the laws bit for
bit in float64, and a lower ``dtype`` is one rounding of the float64 value.
"""

import numpy as np
import torch
from jaxtyping import Float

from specdiff._typecheck import typechecked
from specdiff.spec import schedules as spec


def _as_tensor(
    values: np.ndarray, dtype: torch.dtype, device: torch.device | str | None
) -> torch.Tensor:
    return torch.from_numpy(values).to(device=device, dtype=dtype)


@typechecked
def linear_betas(
    T: int,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Float[torch.Tensor, "{T}"]:
    """SCHED-1: β_t = β_start + (β_end − β_start)·t/(T−1), and β_0 = β_start when T = 1."""
    return _as_tensor(spec.linear_betas(T, beta_start, beta_end), dtype, device)


@typechecked
def cosine_betas(
    T: int,
    s: float = 0.008,
    max_beta: float = 0.999,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Float[torch.Tensor, "{T}"]:
    """SCHED-4: ā(u) = cos²((u + s)/(1 + s)·π/2); β_t = min(1 − ā((t+1)/T)/ā(t/T), max_beta)."""
    return _as_tensor(spec.cosine_betas(T, s, max_beta), dtype, device)


@typechecked
def sigmoid_betas(
    T: int,
    start: float = -3.0,
    end: float = 3.0,
    tau: float = 1.0,
    max_beta: float = 0.999,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Float[torch.Tensor, "{T}"]:
    """SCHED-5: ā(u) = (σ(end/τ) − σ((start + u·(end − start))/τ)) / (σ(end/τ) − σ(start/τ));
    β_t = min(1 − ā((t+1)/T)/ā(t/T), max_beta)."""
    return _as_tensor(spec.sigmoid_betas(T, start, end, tau, max_beta), dtype, device)


@typechecked
def alpha_bars(betas: Float[torch.Tensor, "T"]) -> Float[torch.Tensor, "T"]:
    """SCHED-2: ᾱ_t = ∏_{s≤t} (1 − β_s), for β_s ∈ (0, 1); same dtype and device as ``betas``."""
    host = betas.detach().to("cpu", torch.float64).numpy()
    return _as_tensor(spec.alpha_bars(host), betas.dtype, betas.device)
