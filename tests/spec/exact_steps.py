"""Step coefficients as their laws write them, in 50-digit (or exact rational) arithmetic.

Each float argument is exact in mpmath, so these are the laws' values to far below float64's
resolution: independent expected values for steps whose float64 formulas must avoid
cancellation (specs/reverse.md REV-5, REV-7, specs/solvers.md SOLV-1, SOLV-4).
"""

from fractions import Fraction

import mpmath
import numpy as np


def exact_ddim_coefficients(alpha_bar_prev: float, alpha_bar: float, eta: float
                            ) -> tuple[float, float, float]:
    """SOLV-1's (√ᾱ_prev, √(1 − ᾱ_prev − σ²), σ) in 50-digit arithmetic, σ as REV-5 writes it
    (η·√((1 − ᾱ_prev)/(1 − ᾱ))·√(1 − ᾱ/ᾱ_prev)) and η·√(1 − ᾱ_prev) at ᾱ = 0."""
    with mpmath.workdps(50):
        prev, current = mpmath.mpf(alpha_bar_prev), mpmath.mpf(alpha_bar)
        if alpha_bar > 0.0:
            sigma = eta * mpmath.sqrt((1 - prev) / (1 - current)) * mpmath.sqrt(1 - current / prev)
        else:
            sigma = eta * mpmath.sqrt(1 - prev)
        direction = mpmath.sqrt(max(1 - prev - sigma**2, mpmath.mpf(0)))
        return float(mpmath.sqrt(prev)), float(direction), float(sigma)


def exact_2m_coefficients(alpha_bar_last: float, alpha_bar: float, alpha_bar_prev: float
                          ) -> tuple[float, float, float]:
    """SOLV-4's (σ_prev/σ, α_prev·(1 − e^{−h}), h/h_last) in 50-digit arithmetic, from λ =
    ½·log(ᾱ/(1 − ᾱ)) as the law writes it (each float ᾱ is exact in mpmath)."""
    with mpmath.workdps(50):
        def lam(value: float) -> mpmath.mpf:
            exact = mpmath.mpf(value)
            return mpmath.log(exact / (1 - exact)) / 2

        h = lam(alpha_bar_prev) - lam(alpha_bar)
        h_last = lam(alpha_bar) - lam(alpha_bar_last)
        ratio = mpmath.sqrt((1 - mpmath.mpf(alpha_bar_prev)) / (1 - mpmath.mpf(alpha_bar)))
        step = mpmath.sqrt(mpmath.mpf(alpha_bar_prev)) * -mpmath.expm1(-h)
        return float(ratio), float(step), float(h / h_last)


def law_beta(alpha_bar_prev: float | np.ndarray, alpha_bar: float | np.ndarray) -> np.ndarray:
    """REV-7's β_t = 1 − ᾱ_t/ᾱ_{t−1} in exact rationals, rounded once (elementwise)."""
    exact = np.vectorize(lambda prev, current: float(1 - Fraction(current) / Fraction(prev)),
                         otypes=[np.float64])
    return np.asarray(exact(alpha_bar_prev, alpha_bar))
