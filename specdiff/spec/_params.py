"""Parameter look-up for the spec nets: a torch ``state_dict`` as a mapping of arrays."""

from collections.abc import Mapping

import numpy as np


def parameter(params: Mapping[str, np.ndarray], key: str) -> np.ndarray:
    """``params[key]`` as float64, or a ValueError that names the missing key."""
    if key not in params:
        raise ValueError(f"params must contain {key!r} (a torch state_dict key), it does not")
    return np.asarray(params[key], dtype=np.float64)
