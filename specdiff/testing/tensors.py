"""Public helpers that move test inputs between numpy (the spec's side) and torch.

A torch mirror is checked on tensors of some device and dtype; the spec is then evaluated on
exactly the values the mirror saw, so rounding the inputs to that dtype is not counted as error::

    x = as_tensor(array, device, dtype)
    assert_close_to_spec(mirror(x), spec_function(to_spec_array(x)), "elementwise")
"""

import numpy as np
import torch


def as_tensor(array: np.ndarray, device: str | torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``array`` as a tensor of ``dtype`` on ``device`` (rounded to ``dtype`` if narrower)."""
    return torch.as_tensor(array, dtype=dtype, device=device)


def to_spec_array(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as the float64 array the spec takes: compare the spec on exactly the values the
    implementation saw, so rounding the inputs to its dtype is not counted as its error."""
    return tensor.detach().to("cpu", torch.float64).numpy()


def per_example(values: np.ndarray | float, ndim: int) -> np.ndarray:
    """One value per example, shape (batch,), as float64 of shape (batch, 1, …, 1) with ``ndim``
    axes, so it broadcasts against an ``ndim``-D batch; one value for all stays 0-D."""
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(array.shape + (1,) * (ndim - array.ndim)) if array.ndim else array
