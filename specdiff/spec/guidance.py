"""Classifier-free guidance: one eps from a conditional and an unconditional one (COND-1).

Convention: ε̃ = ε_uncond + w·(ε_cond − ε_uncond). w = 1 is the conditional model, w = 0 the
unconditional one, w > 1 extrapolates away from the unconditional prediction (Ho & Salimans 2021
write ε̃ = (1 + s)·ε_cond − s·ε_uncond: the same thing with w = 1 + s, so their s = 0 is our w = 1).
"""

import numpy as np
from jaxtyping import Float, Float64

from specdiff._typecheck import typechecked
from specdiff.spec._validate import require_finite, require_real_in


@typechecked
def cfg_eps(
    eps_cond: Float[np.ndarray, "batch *shape"],
    eps_uncond: Float[np.ndarray, "batch *shape"],
    guidance_scale: float,
) -> Float64[np.ndarray, "batch *shape"]:
    """COND-1: ε̃ = ε_uncond + w·(ε_cond − ε_uncond), evaluated as w·ε_cond + (1 − w)·ε_uncond.

    The second form is the same affine function of w, and it is exact at both ends: w = 1 returns
    ε_cond and w = 0 returns ε_uncond bit for bit.
    """
    require_real_in("guidance_scale", guidance_scale, -np.inf, np.inf, low_open=True,
                    high_open=True)
    require_finite("eps_cond", eps_cond)
    require_finite("eps_uncond", eps_uncond)
    if eps_cond.shape != eps_uncond.shape:
        raise ValueError(f"eps_uncond must have the shape of eps_cond {eps_cond.shape}, "
                         f"got {eps_uncond.shape}")
    cond, uncond = np.asarray(eps_cond, np.float64), np.asarray(eps_uncond, np.float64)
    return np.asarray(guidance_scale * cond + (1.0 - guidance_scale) * uncond, dtype=np.float64)
