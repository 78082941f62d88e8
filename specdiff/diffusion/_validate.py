"""Boundary checks for tensors, reusing the spec's messages (specdiff/spec/_validate.py).

Small tensors are checked by value — a (T,) schedule, (batch,) timesteps or ᾱ — on the host.
Large image tensors are checked by shape and dtype (jaxtyping) inside the steps, and for NaN/inf
only where data enters the library (the noising of FWD-1, ``Diffusion.predict_noise``): one
on-device reduction and one host sync each, so a NaN is refused by name where it comes in and
never created by a bad argument afterwards.
"""

import numpy as np
import torch

from specdiff.spec._validate import (
    require_alpha_bar_table,
    require_finite,
    require_timesteps,
    require_values_in,
)


def _host_values(tensor: torch.Tensor) -> np.ndarray:
    if tensor.is_floating_point():
        tensor = tensor.to(torch.float64)
    return np.asarray(tensor.detach().to("cpu").numpy())


def require_tensor_values_in(
    name: str,
    values: float | torch.Tensor,
    low: float,
    high: float,
    *,
    low_open: bool,
    high_open: bool,
) -> None:
    """Every element of a small tensor (or a float) finite and inside the interval."""
    host = _host_values(values) if isinstance(values, torch.Tensor) else values
    require_values_in(name, host, low, high, low_open=low_open, high_open=high_open)


def require_tensor_alpha_bar_table(alpha_bars: torch.Tensor) -> None:
    """A schedule's (T,) ᾱ table: in (0, 1), ᾱ_{T−1} may be 0 (zero terminal SNR)."""
    require_alpha_bar_table(_host_values(alpha_bars))


def require_tensor_finite(name: str, tensor: torch.Tensor) -> None:
    """No NaN or ±inf anywhere in ``tensor`` (reduced on its device; copied to the host only to
    word the error)."""
    if not bool(torch.isfinite(tensor).all()):
        require_finite(name, _host_values(tensor))


def require_tensor_timesteps(
    name: str, t: int | torch.Tensor, num_timesteps: int, batch: int
) -> None:
    """Integer timestep(s) in [0, T): an int, a 0-d tensor, or one per batch element."""
    if isinstance(t, torch.Tensor):
        require_per_batch(name, t, batch)
        require_timesteps(name, _host_values(t), num_timesteps)
    else:
        require_timesteps(name, t, num_timesteps)


def require_same_shape(name: str, tensor: torch.Tensor, reference_name: str,
                       reference: torch.Tensor) -> None:
    """Shapes are checked even with run-time type checking off: torch would broadcast them."""
    if tensor.shape != reference.shape:
        raise ValueError(
            f"{name} must have the shape of {reference_name} {tuple(reference.shape)}, "
            f"got {tuple(tensor.shape)}"
        )


def require_per_batch(name: str, values: float | torch.Tensor, batch: int) -> None:
    """A float, a 0-d tensor, or one value per batch element."""
    if isinstance(values, torch.Tensor) and values.ndim != 0 and tuple(values.shape) != (batch,):
        raise ValueError(
            f"{name} must be a scalar or have shape ({batch},) (one per batch element), "
            f"got shape {tuple(values.shape)}"
        )
