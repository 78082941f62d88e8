"""Input checks shared by the models' ``forward`` methods.

Value checks on tensors (a timestep range, a label range) read the tensor on the host, which
costs a device sync, so they run only while run-time checking is on (``specdiff.typecheck``):
the same switch that checks shapes and dtypes. torch.compile cannot trace them (their result is
data-dependent Python control flow), so compiled graphs leave them out.
"""

import torch

from specdiff._typecheck import typecheck_enabled


def require_channels(name: str, x: torch.Tensor, channels: int) -> None:
    if x.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channels (dim 1), got shape {tuple(x.shape)}"
        )


def require_batch(name: str, values: torch.Tensor, batch: int) -> None:
    if values.shape != (batch,):
        raise ValueError(
            f"{name} must have shape ({batch},) (one per batch element), got {tuple(values.shape)}"
        )


def require_index_range(name: str, values: torch.Tensor, low: int, high: int, what: str) -> None:
    """Every entry in [low, high); ``what`` names the interval, e.g. "[0, T) = [0, 1000)"."""
    if not typecheck_enabled() or torch.compiler.is_compiling() or values.numel() == 0:
        return
    smallest, largest = int(values.min()), int(values.max())
    if smallest < low or largest >= high:
        offender = smallest if smallest < low else largest
        raise ValueError(f"{name} must be in {what}, got {offender}")
