"""Solver steps (specs/solvers.md): DDIM from a prediction pair (SOLV-1), the PLMS combination
(SOLV-2), the PNDM step (SOLV-3), DPM-Solver++ (SOLV-4) and its step orders (SOLV-5)."""

import functools

import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from specdiff import spec
from specdiff.spec import solvers
from specdiff.testing import (
    alpha_bar_pairs,
    alpha_bar_values,
    assert_close_to_spec,
    eps_batches,
    increasing_alpha_bar_triples,
    unbounded_batches,
)
from tests.spec.exact_steps import exact_2m_coefficients, exact_ddim_coefficients

SHAPE = (2, 3)


def ddim_scale(alpha_bar: float, x: np.ndarray, eps: np.ndarray) -> np.ndarray:
    return 1.0 + (np.abs(x) + np.abs(eps)) / np.sqrt(alpha_bar)


@pytest.mark.spec("SOLV-1")
@given(pair=alpha_bar_pairs(), x=unbounded_batches(SHAPE), eps=eps_batches(SHAPE),
       z=eps_batches(SHAPE), eta=st.sampled_from([0.0, 0.5, 1.0]), clip=st.booleans())
def test_ddim_from_the_prediction_pair_is_rev5(pair: tuple[float, float], x: np.ndarray,
                                               eps: np.ndarray, z: np.ndarray, eta: float,
                                               clip: bool) -> None:
    alpha_bar_prev, alpha_bar = pair
    x0_hat = spec.predict_x0(alpha_bar, x, eps)
    if clip:
        x0_hat = np.clip(x0_hat, -1.0, 1.0)
    actual = solvers.ddim_step_from_prediction(alpha_bar_prev, alpha_bar, x0_hat, eps, eta, z)
    expected = spec.ddim_step(alpha_bar_prev, alpha_bar, x, eps, eta, z, clip)
    assert_close_to_spec(actual, expected, "elementwise", scale=ddim_scale(alpha_bar, x, eps))


@pytest.mark.spec("SOLV-1")
@given(alpha_bar_prev=st.floats(0.0, 1.0), eta=st.floats(0.0, 1.0))
def test_ddim_sigma_at_zero_snr_is_the_limit_of_rev5(alpha_bar_prev: float, eta: float) -> None:
    limit = solvers.ddim_sigma_extended(alpha_bar_prev, 0.0, eta)
    assert limit == eta * np.sqrt(1.0 - alpha_bar_prev)
    if alpha_bar_prev > 1e-6:
        near = spec.ddim_sigma(alpha_bar_prev, 1e-14 * alpha_bar_prev, eta)
        assert abs(near - limit) <= 1e-6
    with pytest.raises(ValueError, match="z must be given"):
        solvers.ddim_step_from_prediction(0.5, 0.0, np.zeros(SHAPE), np.zeros(SHAPE), 1.0, None)


@pytest.mark.spec("SOLV-1")
@example(pair=(0.5, 0.0), eta=1.0, x0=np.ones(SHAPE), eps=np.ones(SHAPE), z=np.zeros(SHAPE))
@given(pair=st.one_of(alpha_bar_pairs(), increasing_alpha_bar_triples().map(lambda b: b[1::-1]),
                      alpha_bar_values(0.0, 1.0).map(lambda prev: (prev, 0.0))),
       eta=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)), x0=eps_batches(SHAPE),
       eps=eps_batches(SHAPE), z=eps_batches(SHAPE))
def test_ddim_from_prediction_is_exact(pair: tuple[float, float], eta: float, x0: np.ndarray,
                                       eps: np.ndarray, z: np.ndarray) -> None:
    # Zero terminal SNR with η = 1 (direction exactly 0) and neighbouring ᾱ (σ² a tiny
    # difference) are where a cancelled 1 − ᾱ_prev − σ² or 1 − ᾱ/ᾱ_prev lost every digit.
    alpha_bar_prev, alpha_bar = pair
    root, direction, sigma = exact_ddim_coefficients(alpha_bar_prev, alpha_bar, eta)
    expected = root * x0 + direction * eps + sigma * z
    actual = solvers.ddim_step_from_prediction(alpha_bar_prev, alpha_bar, x0, eps, eta, z)
    assert_close_to_spec(actual, expected, "elementwise",
                         scale=1.0 + np.abs(x0) + np.abs(eps) + np.abs(z))


@functools.cache
def adams_bashforth_weights(n: int) -> tuple[sp.Rational, ...]:
    """The n-step Adams–Bashforth weights, oldest first, derived here: w_j = ∫_0^1 ℓ_j(s) ds with
    ℓ_j the Lagrange basis on the nodes s_j = j − (n − 1) (the newest ε̂ at s = 0, one step back
    per older one), in exact rationals."""
    s = sp.Symbol("s")
    nodes = [j - (n - 1) for j in range(n)]
    return tuple(sp.integrate(sp.prod([(s - m) / (node - m) for m in nodes if m != node]),
                              (s, 0, 1)) for node in nodes)


@pytest.mark.spec("SOLV-2")
def test_plms_weights_are_the_adams_bashforth_weights() -> None:
    for n in range(1, 5):
        derived = adams_bashforth_weights(n)
        assert sum(derived) == 1
        # Each weight the combination applies is the correctly rounded float of the exact one:
        # a history that is 1 at one position and 0 elsewhere returns that position's weight.
        for position, weight in enumerate(derived):
            unit_history = [np.full(SHAPE, float(j == position)) for j in range(n)]
            applied = solvers.plms_eps(unit_history)
            assert np.all(applied == float(weight)), (n, position)


@pytest.mark.spec("SOLV-2")
@given(history=st.lists(eps_batches(SHAPE), min_size=1, max_size=6),
       coefficients=st.lists(st.floats(-3.0, 3.0), min_size=4, max_size=4))
def test_plms_combination_integrates_the_interpolating_polynomial(
    history: list[np.ndarray], coefficients: list[float]
) -> None:
    recent = history[-4:]
    n = len(recent)
    weights = [float(w) for w in adams_bashforth_weights(n)]
    expected = sum(w * e for w, e in zip(weights, recent, strict=True))
    scale = 1.0 + sum(abs(w) * np.abs(e).max() for w, e in zip(weights, recent, strict=True))
    assert_close_to_spec(solvers.plms_eps(history), expected, "elementwise", scale=scale)
    # Order n − 1: on samples of a polynomial p of degree < n at the nodes s = −(n − 1), …, 0,
    # the combination is ∫_0^1 p(s) ds (a constant history is reproduced).
    degree = coefficients[:n]
    samples = [np.full(SHAPE, sum(c * s**k for k, c in enumerate(degree)))
               for s in range(-(n - 1), 1)]
    integral = sum(c / (k + 1) for k, c in enumerate(degree))
    largest = sum(abs(w) * np.abs(e).max() for w, e in zip(weights, samples, strict=True))
    assert_close_to_spec(solvers.plms_eps(samples), np.full(SHAPE, integral), "elementwise",
                         scale=1.0 + largest)
    with pytest.raises(ValueError, match="eps_history"):
        solvers.plms_eps([])


@pytest.mark.spec("SOLV-3")
@given(pair=alpha_bar_pairs(), x=unbounded_batches(SHAPE),
       history=st.lists(eps_batches(SHAPE), min_size=1, max_size=5))
def test_pndm_step_is_the_ddim_transfer_of_the_plms_eps(pair: tuple[float, float], x: np.ndarray,
                                                         history: list[np.ndarray]) -> None:
    alpha_bar_prev, alpha_bar = pair
    combined = solvers.plms_eps(history)
    expected = spec.ddim_step(alpha_bar_prev, alpha_bar, x, combined, 0.0, None, False)
    assert np.array_equal(solvers.pndm_step(alpha_bar_prev, alpha_bar, x, history), expected)
    # Liu et al.'s transfer φ, eq. 11, written out: the same function.
    ratio = np.sqrt(alpha_bar_prev / alpha_bar)
    denominator = alpha_bar * np.sqrt(1.0 - alpha_bar_prev) + np.sqrt(
        alpha_bar * (1.0 - alpha_bar) * alpha_bar_prev)
    phi = ratio * x - (alpha_bar_prev - alpha_bar) / denominator * combined
    assert_close_to_spec(expected, phi, "elementwise", scale=ddim_scale(alpha_bar, x, combined))


@pytest.mark.spec("SOLV-4")
@given(pair=alpha_bar_pairs(), x=unbounded_batches(SHAPE), x0=eps_batches(SHAPE))
def test_first_order_dpm_solver_pp_is_ddim_with_eta_zero(pair: tuple[float, float],
                                                         x: np.ndarray, x0: np.ndarray) -> None:
    alpha_bar_prev, alpha_bar = pair
    if alpha_bar_prev == alpha_bar:
        alpha_bar_prev = min(1.0, alpha_bar * 1.5)
    eps = spec.predict_eps(alpha_bar, x, x0)
    expected = solvers.ddim_step_from_prediction(alpha_bar_prev, alpha_bar, x0, eps, 0.0, None)
    actual = solvers.dpm_solver_pp_step(alpha_bar_prev, alpha_bar, x, x0, None)
    scale = 1.0 + (np.abs(x) + np.abs(x0)) / np.sqrt(1.0 - alpha_bar)
    assert_close_to_spec(actual, expected, "elementwise", scale=scale)


@pytest.mark.spec("SOLV-4")
@given(x=unbounded_batches(SHAPE), x0=eps_batches(SHAPE), last=eps_batches(SHAPE))
def test_second_order_dpm_solver_pp_is_the_midpoint_formula(x: np.ndarray, x0: np.ndarray,
                                                             last: np.ndarray) -> None:
    bars = (0.2, 0.5, 0.8)  # ᾱ_last < ᾱ < ᾱ_prev
    lam = [0.5 * np.log(a / (1 - a)) for a in bars]
    h, h_last = lam[2] - lam[1], lam[1] - lam[0]
    alpha_prev, sigma_prev, sigma = np.sqrt(0.8), np.sqrt(0.2), np.sqrt(0.5)
    d1 = (x0 - last) * h / h_last
    expected = sigma_prev / sigma * x - alpha_prev * (np.exp(-h) - 1.0) * (x0 + 0.5 * d1)
    actual = solvers.dpm_solver_pp_step(0.8, 0.5, x, x0, (0.2, last))
    assert_close_to_spec(actual, expected, "elementwise",
                         scale=1.0 + np.abs(x) + 4 * (np.abs(x0) + np.abs(last)))
    assert np.array_equal(solvers.dpm_solver_pp_step(0.8, 0.5, x, x0, (0.2, x0)),
                          solvers.dpm_solver_pp_step(0.8, 0.5, x, x0, None))
    with pytest.raises(ValueError, match="alpha_bar_prev"):
        solvers.dpm_solver_pp_step(1.0, 0.5, x, x0, (0.2, last))  # h = ∞: 2M undefined


@pytest.mark.spec("SOLV-4")
@example(bars=(1e-4, 1.0000000000000002e-4, 0.5), x=np.zeros(SHAPE), x0=np.ones(SHAPE),
         last=np.zeros(SHAPE))  # issue 10: the log-SNRs of ᾱ and ᾱ_last round equal
@given(bars=increasing_alpha_bar_triples(), x=unbounded_batches(SHAPE), x0=eps_batches(SHAPE),
       last=eps_batches(SHAPE))
def test_2m_step_is_exact_for_close_timesteps(bars: tuple[float, float, float], x: np.ndarray,
                                              x0: np.ndarray, last: np.ndarray) -> None:
    alpha_bar_last, alpha_bar, alpha_bar_prev = bars
    ratio, step, weight = exact_2m_coefficients(*bars)
    expected = ratio * x + step * (x0 + 0.5 * weight * (x0 - last))
    actual = solvers.dpm_solver_pp_step(alpha_bar_prev, alpha_bar, x, x0, (alpha_bar_last, last))
    scale = 1.0 + np.abs(x) * ratio + (1.0 + weight) * (np.abs(x0) + np.abs(last))
    assert_close_to_spec(actual, expected, "elementwise", scale=scale)


@pytest.mark.spec("SOLV-5")
@given(n=st.integers(1, 40), zero_start=st.booleans())
def test_dpm_solver_pp_orders_are_first_at_the_ends(n: int, zero_start: bool) -> None:
    bars = list(np.linspace(0.01, 0.99, n))
    if zero_start:
        bars[0] = 0.0
    orders = solvers.dpm_solver_pp_orders(bars)
    expected = [1 if i in (0, n - 1) or (zero_start and i == 1) else 2 for i in range(n)]
    assert orders == expected
