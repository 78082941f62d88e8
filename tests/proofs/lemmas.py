"""Lemmas that several proofs in tests/proofs use; each asserts its own SymPy derivation."""

from typing import Any

import sympy as sp

from specdiff.testing import symbolic
from specdiff.testing.symbolic import ALPHA_BAR_DOMAIN, REVERSE_STEP_DOMAIN, is_identically_zero
from specdiff.testing.symbolic import SYMBOLS as S


def forward_kernel_keeps_the_marginal() -> None:
    """COND-7's kernel x_t = a·x_{t−1} + b·n (n independent) maps N(m, v) to N(a·m, a²·v + b²).
    Applied to FWD-1's marginal at t − 1, N(√ᾱ_{t−1}·x0, 1 − ᾱ_{t−1}), it gives FWD-1's marginal
    at t, N(√ᾱ_t·x0, 1 − ᾱ_t); at t = 0 (ᾱ_{−1} = 1) the kernel applied to x0 is FWD-1 itself."""
    x_t = symbolic.noised_sample().expression
    mean_coefficient, noise_coefficient = sp.diff(x_t, S.x0), sp.diff(x_t, S.eps)
    assert sp.expand(x_t - mean_coefficient * S.x0 - noise_coefficient * S.eps) == 0  # affine
    kernel = symbolic.forward_step().expression
    first_step = kernel.subs({S.alpha_bar_prev: 1, S.x_prev: S.x0, S.noise: S.eps})
    assert is_identically_zero(first_step - x_t, ALPHA_BAR_DOMAIN)
    a, b = sp.diff(kernel, S.x_prev), sp.diff(kernel, S.noise)
    previous_mean = mean_coefficient.subs(S.alpha_bar, S.alpha_bar_prev)
    previous_variance = (noise_coefficient**2).subs(S.alpha_bar, S.alpha_bar_prev)
    assert is_identically_zero(a * previous_mean - mean_coefficient, REVERSE_STEP_DOMAIN)
    assert is_identically_zero(a**2 * previous_variance + b**2 - noise_coefficient**2,
                               REVERSE_STEP_DOMAIN)


def exp_gap(d: Any) -> Any:
    """g(d) = e^d − 1 − d ≥ 0 for real d, with equality only at d = 0: g(0) = 0, g'(0) = 0 and
    g'' = e^d > 0, so g is strictly convex with its minimum 0 at d = 0. Returns g(d)."""
    y = sp.Symbol("y", real=True)
    gap = sp.exp(y) - 1 - y
    assert gap.subs(y, 0) == 0
    assert sp.diff(gap, y).subs(y, 0) == 0
    assert sp.diff(gap, y, 2).is_positive
    return gap.subs(y, d)


def telescopes(curve: Any, T: Any) -> None:
    """For a positive curve ā on [0, 1] and unclipped 1 − β_s = ā((s+1)/T)/ā(s/T), the product
    ∏_{s≤t} (1 − β_s) = ā((t+1)/T)/ā(0), by induction on t (SCHED-4, SCHED-5)."""
    t = sp.Symbol("t", integer=True, nonnegative=True)

    def one_minus_beta(s: Any) -> Any:
        return curve((s + 1) / T) / curve(s / T)

    def closed_form(t: Any) -> Any:
        return curve((t + 1) / T) / curve(0)

    assert sp.simplify(one_minus_beta(0) - closed_form(0)) == 0
    assert sp.simplify(closed_form(t) * one_minus_beta(t + 1) - closed_form(t + 1)) == 0
