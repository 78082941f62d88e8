"""Per-example coefficients (one ᾱ or timestep per batch element) applied to NCHW tensors."""

import torch


def as_float64(values: float | torch.Tensor) -> torch.Tensor:
    """A coefficient as float64: a Python float becomes a 0-d CPU tensor, which torch lets
    multiply tensors on any device; a tensor keeps its device."""
    return torch.as_tensor(values, dtype=torch.float64)


def per_batch(coefficient: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A 0-d coefficient stays 0-d; a (batch,) one becomes (batch, 1, …, 1) with ``like``'s ndim.

    The float64 coefficient is rounded once, to ``like``'s dtype, so low-precision tensors never
    see a coefficient computed in low precision (e.g. 1 − ᾱ near ᾱ = 1).
    """
    device = like.device if coefficient.ndim else coefficient.device
    cast = coefficient.to(device=device, dtype=like.dtype)
    if cast.ndim == 0:
        return cast
    return cast.reshape(cast.shape + (1,) * (like.ndim - 1))
