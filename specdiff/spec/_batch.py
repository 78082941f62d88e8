"""Broadcasting of per-batch scalars (one timestep or coefficient per batch element)."""

import numpy as np


def per_batch(values: np.ndarray | float, ndim: int) -> np.ndarray:
    """A scalar stays a scalar; a (batch,) array becomes (batch, 1, …, 1) with ``ndim`` axes."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        return array
    return array.reshape(array.shape + (1,) * (ndim - 1))
