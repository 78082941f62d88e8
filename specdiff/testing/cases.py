"""Public Hypothesis strategies that draw a whole law's inputs at once, built from
``specdiff.testing.strategies``."""

import numpy as np
from hypothesis import strategies as st

from specdiff.testing.strategies import (
    alpha_bar_arrays,
    batched_timesteps,
    eps_batches,
    image_batches,
    nchw_shapes,
    timesteps,
)

NoisingCase = tuple[np.ndarray, np.ndarray, np.ndarray, int | np.ndarray]


@st.composite
def noising_cases(draw: st.DrawFn) -> NoisingCase:
    """(ᾱ table, x0, ε, t), the inputs of ``noised_sample_from_eps`` (FWD-1): x0 an NCHW image
    batch, ε noise of its shape, and t one int or an int64 array with one t per example."""
    bars = draw(alpha_bar_arrays())
    shape = tuple(draw(nchw_shapes()))
    T = bars.shape[0]
    t = draw(st.one_of(timesteps(T), batched_timesteps(T, shape[0])))
    return bars, draw(image_batches(shape)), draw(eps_batches(shape)), t
