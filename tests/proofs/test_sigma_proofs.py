"""Proofs of the σ-view laws SIGMA-1, SIGMA-2 and the step laws KSAMP-1 … KSAMP-4, KSAMP-6
(specs/sigma.md), each tied to the spec function on Hypothesis-drawn points."""

import itertools
from typing import Any

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from specdiff.spec.dpmpp import (
    dpmpp_2m_sde_step,
    dpmpp_2m_step,
    dpmpp_2s_ancestral_step,
    dpmpp_sde_noises,
    dpmpp_sde_step,
)
from specdiff.spec.karras import (
    edm_churn,
    euler_ancestral_step,
    euler_step,
    heun_step,
    lms_coefficients,
)
from specdiff.spec.sigma import (
    alpha_bar_from_sigma,
    denoised,
    sigma_from_alpha_bar,
    ve_from_vp,
    vp_from_ve,
)
from specdiff.spec.unipc import unic_weights, unipc_corrector_step
from specdiff.testing import (
    alpha_bar_values,
    assert_close_to_spec,
    nchw_shapes,
    symbolic,
    unbounded_batches,
)
from specdiff.testing.symbolic import (
    ALPHA_BAR_DOMAIN,
    ETA_DOMAIN,
    REVERSE_STEP_DOMAIN,
    is_identically_zero,
    is_nonnegative,
    p,
    q,
)
from specdiff.testing.symbolic import SYMBOLS as S

sigma, sigma_next, sigma_last, sigma_hat = sp.symbols("sigma sigma_next sigma_last sigma_hat",
                                                      positive=True)
x, d_now, d_next, d_last, z, s_noise = sp.symbols(
    "x denoised denoised_next denoised_last z s_noise", real=True)
# 0 < σ' < σ < σ_last as positive parameters, like the ᾱ domains of symbolic.
SIGMA_STEP_DOMAIN: dict[Any, Any] = {sigma: sigma_next * (1 + q), sigma_last:
                                     sigma_next * (1 + q) * (1 + p)}


def sigma_of(alpha_bar: Any) -> Any:
    """SIGMA-1: σ = √((1 − ᾱ)/ᾱ)."""
    return sp.sqrt((1 - alpha_bar) / alpha_bar)


def euler_form(level: Any, level_next: Any, state: Any, estimate: Any) -> Any:
    """KSAMP-1: x + (σ' − σ)·(x − D)/σ."""
    return state + (level_next - level) * (state - estimate) / level


def heun_form() -> Any:
    """KSAMP-2: x + (σ' − σ)·(d + d')/2 with the Euler predictor x_E."""
    euler = euler_form(sigma, sigma_next, x, d_now)
    return x + (sigma_next - sigma) * ((x - d_now) / sigma + (euler - d_next) / sigma_next) / 2


def ancestral_levels(level: Any, level_next: Any, eta: Any) -> tuple[Any, Any]:
    """KSAMP-3: (σ_down, σ_up)."""
    up = eta * sp.sqrt(level_next**2 * (level**2 - level_next**2) / level**2)
    return sp.sqrt(level_next**2 - up**2), up


def dpmpp_form(level: Any, level_next: Any, level_last: Any, state: Any, estimate: Any,
               estimate_last: Any) -> Any:
    """KSAMP-6 (second order)."""
    ratio = sp.log(level / level_next) / sp.log(level_last / level)
    decay = level_next / level
    return decay * state + (1 - decay) * (estimate + ratio * (estimate - estimate_last) / 2)


def small_shapes() -> st.SearchStrategy[tuple[int, ...]]:
    return nchw_shapes(max_batch=2, max_side=3).map(tuple)


@st.composite
def sigma_levels(draw: st.DrawFn) -> tuple[float, float, float]:
    """(σ', σ, σ_last) with 0 < σ' < σ < σ_last, over the range of a T = 1000 schedule."""
    values = draw(st.lists(st.floats(1e-2, 200.0), min_size=3, max_size=3, unique=True)
                  .map(sorted).filter(lambda v: v[1] > 1.01 * v[0] and v[2] > 1.01 * v[1]))
    return values[0], values[1], values[2]


def arrays(count: int) -> st.SearchStrategy[tuple[np.ndarray, ...]]:
    return small_shapes().flatmap(lambda shape: st.tuples(
        *(unbounded_batches(shape, 5.0) for _ in range(count))))


@pytest.mark.spec("SIGMA-1")
def test_the_change_of_variables_is_a_bijection_and_maps_fwd1_to_ve() -> None:
    a = S.alpha_bar
    assert is_identically_zero(1 / (1 + sigma_of(a) ** 2) - a, ALPHA_BAR_DOMAIN)
    assert sp.simplify(sigma_of(1 / (1 + sigma**2)) - sigma) == 0
    x_ve = symbolic.noised_sample().expression / sp.sqrt(a)
    assert is_identically_zero(x_ve - (S.x0 + sigma_of(a) * S.eps), ALPHA_BAR_DOMAIN)
    assert sp.simplify(sp.sqrt(a) * (S.x / sp.sqrt(a)) - S.x) == 0
    sigma_numeric = sp.lambdify((a,), sigma_of(a), "numpy")

    @given(alpha_bar_values(), small_shapes().flatmap(unbounded_batches))
    def spec_is_the_proven_form(alpha_bar: float, x_vp: np.ndarray) -> None:
        assert_close_to_spec(sigma_from_alpha_bar(alpha_bar), sigma_numeric(alpha_bar),
                             "elementwise", scale=1.0 + float(sigma_numeric(alpha_bar)))
        assert_close_to_spec(alpha_bar_from_sigma(sigma_from_alpha_bar(alpha_bar)), alpha_bar,
                             "elementwise")
        assert_close_to_spec(vp_from_ve(alpha_bar, ve_from_vp(alpha_bar, x_vp)), x_vp,
                             "elementwise", scale=1.0 + np.abs(x_vp))

    spec_is_the_proven_form()


@pytest.mark.spec("SIGMA-2")
@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
def test_the_denoiser_has_edm_preconditioning_forms(prediction_type: str) -> None:
    a, out = S.alpha_bar, S.model_output
    level = sigma_of(a)
    forms = {"epsilon": S.x - level * out, "sample": out,
             "v_prediction": S.x / (1 + level**2) - level / sp.sqrt(1 + level**2) * out}
    x0_hat = symbolic.split_prediction(prediction_type)[0].expression.subs(S.x_t,
                                                                          sp.sqrt(a) * S.x)
    assert is_identically_zero(x0_hat - forms[prediction_type], ALPHA_BAR_DOMAIN)
    form_of = sp.lambdify((a, S.x, out), forms[prediction_type], "numpy")

    @given(alpha_bar_values(1e-4), arrays(2))
    def spec_is_the_proven_form(alpha_bar: float, pair: tuple[np.ndarray, ...]) -> None:
        x_ve, output = pair
        level_value = float(np.sqrt((1.0 - alpha_bar) / alpha_bar))
        assert_close_to_spec(denoised(alpha_bar, x_ve, output, prediction_type),  # type: ignore[arg-type]
                             form_of(alpha_bar, x_ve, output), "elementwise",
                             scale=1.0 + (np.abs(x_ve) + np.abs(output)) * (1.0 + level_value))

    spec_is_the_proven_form()


@pytest.mark.spec("KSAMP-1")
def test_the_euler_step_on_table_levels_is_ddim_with_eta_zero() -> None:
    a, a_prev = S.alpha_bar, S.alpha_bar_prev
    eps_hat = symbolic.predict_eps().expression.subs(S.x0, S.x0_hat)
    ddim = symbolic.ddim_step_from_prediction().expression.subs({S.eta: 0, S.eps_hat: eps_hat})
    euler = sp.sqrt(a_prev) * euler_form(sigma_of(a), sigma_of(a_prev), S.x_t / sp.sqrt(a),
                                         S.x0_hat)
    assert is_identically_zero(euler - ddim, REVERSE_STEP_DOMAIN)
    assert sp.simplify(euler_form(sigma, 0, x, d_now) - d_now) == 0  # σ' = 0 lands on D
    form_of = sp.lambdify((sigma, sigma_next, x, d_now), euler_form(sigma, sigma_next, x, d_now))

    @given(sigma_levels(), st.booleans(), arrays(2))
    def spec_is_the_proven_form(levels: tuple[float, float, float], to_zero: bool,
                                pair: tuple[np.ndarray, ...]) -> None:
        level_next, level, _ = levels
        level_next = 0.0 if to_zero else level_next
        state, estimate = pair
        assert_close_to_spec(euler_step(level, level_next, state, estimate),
                             form_of(level, level_next, state, estimate), "elementwise",
                             scale=1.0 + 2.0 * (np.abs(state) + np.abs(estimate)))

    spec_is_the_proven_form()


@pytest.mark.spec("KSAMP-2")
def test_the_heun_step_is_the_trapezoidal_rule() -> None:
    form = heun_form()
    slope = (x - d_now) / sigma
    straight = euler_form(sigma, sigma_next, x, d_now) - sigma_next * slope  # D' with d' = d
    assert sp.simplify(form.subs(d_next, straight) - euler_form(sigma, sigma_next, x, d_now)) == 0
    form_of = sp.lambdify((sigma, sigma_next, x, d_now, d_next), form)

    @given(sigma_levels(), arrays(3))
    def spec_is_the_proven_form(levels: tuple[float, float, float],
                                triple: tuple[np.ndarray, ...]) -> None:
        level_next, level, _ = levels
        state, estimate, estimate_next = triple
        assert_close_to_spec(heun_step(level, level_next, state, estimate, estimate_next),
                             form_of(level, level_next, state, estimate, estimate_next),
                             "elementwise", scale=1.0 + (1.0 + level / level_next) * (
                                 np.abs(state) + np.abs(estimate) + np.abs(estimate_next)))

    spec_is_the_proven_form()


@pytest.mark.spec("KSAMP-3")
def test_euler_ancestral_on_table_levels_is_ddim_with_the_same_eta_and_z() -> None:
    down, up = ancestral_levels(sigma, sigma_next, S.eta)
    domain = {**SIGMA_STEP_DOMAIN, **ETA_DOMAIN}
    assert is_identically_zero(down**2 + up**2 - sigma_next**2, domain)
    assert is_nonnegative(sigma_next**2 - up**2, domain)  # σ_up ≤ σ', σ_down real
    a, a_prev = S.alpha_bar, S.alpha_bar_prev
    table_down, table_up = ancestral_levels(sigma_of(a), sigma_of(a_prev), S.eta)
    eps_hat = symbolic.predict_eps().expression.subs(S.x0, S.x0_hat)
    ddim = symbolic.ddim_step_from_prediction().expression.subs(S.eps_hat, eps_hat)
    ancestral = sp.sqrt(a_prev) * (euler_form(sigma_of(a), table_down, S.x_t / sp.sqrt(a),
                                              S.x0_hat) + table_up * S.z)
    assert is_identically_zero(ancestral - ddim, {**REVERSE_STEP_DOMAIN, **ETA_DOMAIN})
    form_of = sp.lambdify((sigma, sigma_next, x, d_now, S.eta, z),
                          euler_form(sigma, down, x, d_now) + up * z)

    @given(sigma_levels(), st.floats(0.0, 1.0), arrays(3))
    def spec_is_the_proven_form(levels: tuple[float, float, float], eta: float,
                                triple: tuple[np.ndarray, ...]) -> None:
        level_next, level, _ = levels
        state, estimate, noise = triple
        assert_close_to_spec(euler_ancestral_step(level, level_next, state, estimate, eta, noise),
                             form_of(level, level_next, state, estimate, eta, noise),
                             "elementwise", scale=1.0 + 2.0 * (np.abs(state) + np.abs(estimate))
                             + level_next * np.abs(noise))

    spec_is_the_proven_form()


@pytest.mark.spec("KSAMP-4")
def test_the_churn_raises_the_noise_level_to_sigma_hat() -> None:
    form = x + s_noise * sp.sqrt(sigma_hat**2 - sigma**2) * z
    coefficient = sp.diff(form, z).subs({s_noise: 1, sigma_hat: sigma * (1 + q)})
    assert sp.simplify(sigma**2 + coefficient**2 - (sigma * (1 + q)) ** 2) == 0
    form_of = sp.lambdify((sigma, sigma_hat, x, s_noise, z), form)

    @given(sigma_levels(), st.floats(0.0, 2.0), arrays(2))
    def spec_is_the_proven_form(levels: tuple[float, float, float], noise_scale: float,
                                pair: tuple[np.ndarray, ...]) -> None:
        _, level, level_hat = levels
        state, noise = pair
        assert_close_to_spec(edm_churn(level, level_hat, state, noise_scale, noise),
                             form_of(level, level_hat, state, noise_scale, noise), "elementwise",
                             scale=1.0 + np.abs(state) + noise_scale * level_hat * np.abs(noise))

    spec_is_the_proven_form()


@pytest.mark.spec("KSAMP-6")
def test_dpmpp_2m_on_table_levels_is_solv4() -> None:
    a, a_prev, a_last = S.alpha_bar, S.alpha_bar_prev, S.alpha_bar_last
    # h = log(σ/σ') is the step in λ = −log σ = ½·log(ᾱ/(1 − ᾱ)) (the half log-SNR of SOLV-4).
    assert is_identically_zero(sp.expand_log(-sp.log(sigma_of(a)) - symbolic.half_log_snr(a),
                                             force=True), ALPHA_BAR_DOMAIN)
    solv4 = symbolic.dpm_solver_pp_step(second_order=True)
    # With λ = −log σ proven equal to SOLV-4's λ, both sides are written in the same λ symbols.
    lam, lam_prev, lam_last = sp.symbols("lambda lambda_prev lambda_last", real=True)
    ratio = (lam_prev - lam) / (lam - lam_last)  # log(σ/σ')/log(σ_last/σ)
    decay = sigma_of(a_prev) / sigma_of(a)
    sigma_form = sp.sqrt(a_prev) * (decay * S.x_t / sp.sqrt(a) + (1 - decay) * (
        S.x0_hat + ratio * (S.x0_hat - S.x0_last) / 2))
    solv4_in_lambda = solv4.expression.subs(
        {sp.log(v / (1 - v)): 2 * symbol
         for v, symbol in ((a, lam), (a_prev, lam_prev), (a_last, lam_last))})
    assert not solv4_in_lambda.has(sp.log)
    assert is_identically_zero(sigma_form - solv4_in_lambda, solv4.substitution)
    form_of = sp.lambdify((sigma, sigma_next, sigma_last, x, d_now, d_last),
                          dpmpp_form(sigma, sigma_next, sigma_last, x, d_now, d_last))

    @given(sigma_levels(), arrays(3))
    def spec_is_the_proven_form(levels: tuple[float, float, float],
                                triple: tuple[np.ndarray, ...]) -> None:
        level_next, level, level_last = levels
        state, estimate, estimate_last = triple
        step_ratio = np.log(level / level_next) / np.log(level_last / level)
        assert_close_to_spec(
            dpmpp_2m_step(level, level_next, state, estimate, (level_last, estimate_last)),
            form_of(level, level_next, level_last, state, estimate, estimate_last),
            "elementwise", scale=1.0 + np.abs(state) + (1.0 + step_ratio) * (
                np.abs(estimate) + np.abs(estimate_last)))

    spec_is_the_proven_form()


@pytest.mark.spec("KSAMP-12")
def test_dpmpp_2m_sde_keeps_the_noise_level_and_is_2m_at_eta_zero() -> None:
    eta = sp.Symbol("eta", nonnegative=True)
    h = sp.log(sigma / sigma_next)
    decay = sigma_next / sigma * sp.exp(-eta * h)
    noise = sigma_next * sp.sqrt(1 - sp.exp(-2 * eta * h))
    form = decay * x + (1 - decay) * (d_now + h / sp.log(sigma_last / sigma) * (d_now - d_last)
                                      / 2) + noise * z
    # c = e^{−(1+η)h}; at η = 0 the step is KSAMP-6's; the noise level stays σ' (ε, z unit normals).
    assert sp.simplify(sp.expand_log(sp.log(decay) + (1 + eta) * h, force=True)) == 0
    assert sp.simplify(form.subs(eta, 0) - dpmpp_form(sigma, sigma_next, sigma_last, x, d_now,
                                                      d_last)) == 0
    epsilon = sp.Symbol("epsilon", real=True)
    deviation = form.subs({x: d_now + sigma * epsilon, d_last: d_now}) - d_now
    variance = sp.diff(deviation, epsilon) ** 2 + sp.diff(deviation, z) ** 2
    assert sp.simplify(sp.powsimp(sp.expand(variance - sigma_next**2), force=True)) == 0
    form_of = sp.lambdify((sigma, sigma_next, sigma_last, x, d_now, d_last, eta, z), form)

    @given(sigma_levels(), st.floats(0.0, 2.0), arrays(4))
    def spec_is_the_proven_form(levels: tuple[float, float, float], noise_level: float,
                                quad: tuple[np.ndarray, ...]) -> None:
        level_next, level, level_last = levels
        state, estimate, estimate_last, noise_draw = quad
        step_ratio = np.log(level / level_next) / np.log(level_last / level)
        assert_close_to_spec(
            dpmpp_2m_sde_step(level, level_next, state, estimate, (level_last, estimate_last),
                              noise_level, noise_draw),
            form_of(level, level_next, level_last, state, estimate, estimate_last, noise_level,
                    noise_draw),
            "elementwise", scale=1.0 + np.abs(state) + (1.0 + step_ratio) * (
                np.abs(estimate) + np.abs(estimate_last)) + level_next * np.abs(noise_draw))

    spec_is_the_proven_form()


@pytest.mark.spec("KSAMP-13")
@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_lms_coefficients_integrate_polynomials_up_to_their_order(count: int) -> None:
    tau = sp.Symbol("tau", real=True)
    nodes = sp.symbols(f"s0:{count}", positive=True)  # oldest first; the step starts at the last
    bases = [sp.sympify(sp.prod([(tau - other) / (node - other) for other in nodes
                                 if other != node])) for node in nodes]
    coefficients = [sp.integrate(sp.expand(basis), (tau, nodes[-1], sigma_next))
                    for basis in bases]
    # ℓ_j has degree count − 1 in τ and ℓ_j(σ_k) = δ_jk, so for p of degree < count the
    # polynomial Σ_j ℓ_j·p(σ_j) − p has degree < count and count distinct roots: it is 0, and
    # Σ_j c_j·p(σ_j) = ∫ p by linearity of the integral.
    for j, basis in enumerate(bases):
        assert sp.degree(basis, tau) == count - 1
        for k, node in enumerate(nodes):
            assert sp.simplify(basis.subs(tau, node)) == (1 if j == k else 0)
    # Not for degree count: at nodes 4, 3, 2, 1 the interpolant of τ^count misses it at τ = 0.
    gap = sum(b * n**count for b, n in zip(bases, nodes, strict=True)) - tau**count
    assert gap.subs({**{n: count - i + 1 for i, n in enumerate(nodes)}, tau: 0}) != 0
    if count == 1:
        assert sp.simplify(coefficients[0] - (sigma_next - nodes[0])) == 0  # Euler
    coefficients_of = sp.lambdify((*nodes, sigma_next), coefficients)

    @given(st.lists(st.floats(1e-2, 200.0), min_size=count + 1, max_size=count + 1, unique=True)
           .map(lambda v: sorted(v, reverse=True))
           .filter(lambda v: all(a > 1.01 * b for a, b in itertools.pairwise(v))),
           st.booleans())
    def spec_is_the_proven_form(levels: list[float], to_zero: bool) -> None:
        landing = 0.0 if to_zero else levels[-1]
        expected = np.array(coefficients_of(*levels[:-1], landing), dtype=np.float64)
        # The basis polynomials reach (span/gap)^(count−1) between the nodes: both sides add up
        # terms that large, so that is how far their rounding reaches.
        nodes_used = levels[:-1]
        gaps = np.diff(sorted(nodes_used)) if count > 1 else np.array([1.0])
        amplification = (nodes_used[0] / gaps.min()) ** (count - 1)
        assert_close_to_spec(np.array(lms_coefficients(nodes_used, landing)), expected,
                             "elementwise", scale=(1.0 + np.abs(expected).sum()) * amplification)

    spec_is_the_proven_form()


@pytest.mark.spec("KSAMP-14")
def test_dpmpp_2s_is_k_diffusions_step_at_the_midpoint_and_euler_without_one() -> None:
    down, d_mid, level_mid, eta = sp.symbols("sigma_down denoised_mid sigma_mid eta",
                                             positive=True)
    h, h_mid = sp.log(sigma / down), sp.log(sigma / level_mid)
    weight = h / (2 * h_mid)  # 1/(2r)
    deterministic = down / sigma * x + (1 - down / sigma) * ((1 - weight) * d_now
                                                             + weight * d_mid)
    domain = {sigma: down * (1 + q)}
    midpoint_form = deterministic.subs(level_mid, sp.sqrt(sigma * down))
    k_diffusion = down / sigma * x - (sp.exp(-h) - 1) * d_mid  # − expm1(−h)·D_s
    assert sp.simplify(sp.expand_log((midpoint_form - k_diffusion).subs(domain),
                                     force=True)) == 0
    assert sp.simplify(deterministic.subs(d_mid, d_now) - euler_form(sigma, down, x, d_now)) == 0
    # The midpoint state: the Euler step is the first-order DPM-Solver step.
    assert sp.simplify(euler_form(sigma, level_mid, x, d_now) - (
        level_mid / sigma * x - (sp.exp(-h_mid) - 1) * d_now)) == 0
    up = eta * sp.sqrt(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2)
    full_down = sp.sqrt(sigma_next**2 - up**2)
    form_of = sp.lambdify((sigma, sigma_next, x, d_now, level_mid, d_mid, eta, z),
                          deterministic.subs(down, full_down) + up * z)

    @given(sigma_levels(), st.floats(0.0, 1.0), st.floats(0.05, 0.95), arrays(4))
    def spec_is_the_proven_form(levels: tuple[float, float, float], noise_level: float,
                                where: float, quad: tuple[np.ndarray, ...]) -> None:
        level_next, level, _ = levels
        state, estimate, estimate_mid, noise_draw = quad
        down_value = level_next * np.sqrt(1.0 - noise_level**2 * (1.0 - (level_next / level)**2))
        mid = float(np.exp(np.log(level) + where * (np.log(down_value) - np.log(level))))
        ratio = np.log(level / down_value) / np.log(level / mid)
        assert_close_to_spec(
            dpmpp_2s_ancestral_step(level, level_next, state, estimate, (mid, estimate_mid),
                                    noise_level, noise_draw),
            form_of(level, level_next, state, estimate, mid, estimate_mid, noise_level,
                    noise_draw),
            "elementwise", scale=1.0 + np.abs(state) + (1.0 + ratio) * (
                np.abs(estimate) + np.abs(estimate_mid)) + level_next * np.abs(noise_draw))

    spec_is_the_proven_form()


@pytest.mark.spec("KSAMP-15")
def test_unic_solves_its_order_conditions_and_unip2_is_dpmpp_2m() -> None:
    h, r = sp.symbols("h r", positive=True)  # r here is −r of the law (the older point is behind)
    b_h = sp.exp(-h) - 1
    phi_1 = (1 - sp.exp(-h)) / h - 1
    phi_2 = phi_1 / (-h) - sp.Rational(1, 2)
    b = sp.Matrix([phi_1 / b_h, 2 * phi_2 / b_h])
    older = (b[0] - b[1]) / (1 + r)
    weights = sp.Matrix([older, b[0] - older])
    assert sp.simplify(sp.Matrix([[1, 1], [-r, 1]]) * weights - b) == sp.zeros(2, 1)
    # UniP-2 with ρ = ½: x_t − (e^{−h} − 1)·½·(D_last − D)/r_p with r_p = −h_last/h is KSAMP-6's
    # D + (D − D_last)·h/(2·h_last) inside (1 − e^{−h})·(…).
    h_last = sp.Symbol("h_last", positive=True)
    unip = -b_h * (d_now + sp.Rational(1, 2) * (d_last - d_now) / (-h_last / h))
    dpmpp = (1 - sp.exp(-h)) * (d_now + (d_now - d_last) * h / (2 * h_last))
    assert sp.simplify(unip - dpmpp) == 0
    weights_of = sp.lambdify((h, r), list(weights))
    level_older = sp.Symbol("sigma_older", positive=True)
    h_now = sp.log(sigma_last / sigma)
    ratio = -sp.log(level_older / sigma_last) / h_now
    weight_older, weight_new = weights.subs(r, -ratio).subs(h, h_now)
    corrected = sigma / sigma_last * x + (1 - sigma / sigma_last) * (
        d_last + weight_older * (z - d_last) / ratio + weight_new * (d_now - d_last))
    form_of = sp.lambdify((sigma_last, sigma, x, d_last, d_now, level_older, z), corrected)

    @given(sigma_levels(), st.floats(1.01, 5.0), arrays(4))
    def spec_is_the_proven_form(levels: tuple[float, float, float], spread: float,
                                quad: tuple[np.ndarray, ...]) -> None:
        level, level_last, _ = levels
        level_older = level_last * spread
        start, estimate_last, estimate, estimate_older = quad
        step = float(np.log(level_last / level))
        step_ratio = -float(np.log(level_older / level_last)) / step
        expected_weights = weights_of(step, -step_ratio)
        assert_close_to_spec(np.array(unic_weights(step, step_ratio)),
                             np.array(expected_weights, dtype=np.float64), "elementwise",
                             scale=1.0 + float(np.abs(expected_weights).sum()))
        magnitude = 1.0 + abs(expected_weights[0] / step_ratio) + abs(expected_weights[1])
        assert_close_to_spec(
            unipc_corrector_step(level_last, level, start, estimate_last, estimate,
                                 (level_older, estimate_older)),
            form_of(level_last, level, start, estimate_last, estimate, level_older,
                    estimate_older),
            "elementwise", scale=1.0 + np.abs(start) + magnitude * (
                np.abs(estimate_last) + np.abs(estimate) + np.abs(estimate_older)))
        assert_close_to_spec(
            unipc_corrector_step(level_last, level, start, estimate_last, estimate, None),
            level / level_last * start + (1 - level / level_last) * (estimate_last + estimate) / 2,
            "elementwise", scale=1.0 + np.abs(start) + np.abs(estimate_last) + np.abs(estimate))

    spec_is_the_proven_form()


@pytest.mark.spec("KSAMP-16")
def test_dpmpp_sde_draws_are_brownian_increments_and_its_step_is_k_diffusions() -> None:
    level_mid, d_mid, eta = sp.symbols("sigma_mid denoised_mid eta", positive=True)
    z_1, z_2 = sp.symbols("z_1 z_2", real=True)
    span = sp.sqrt(sigma - sigma_next)
    second = (sp.sqrt(sigma - level_mid) * z_1 + sp.sqrt(level_mid - sigma_next) * z_2) / span
    domain = {sigma: level_mid * (1 + q), level_mid: sigma_next * (1 + p)}
    # Unit variance, and the covariance of Brownian increments over nested intervals.
    assert sp.simplify((sp.diff(second, z_1) ** 2 + sp.diff(second, z_2) ** 2 - 1)
                       .subs(domain)) == 0
    covariance = sp.diff(second, z_1)
    assert sp.simplify((covariance**2 - (sigma - level_mid) / (sigma - sigma_next))
                       .subs(domain)) == 0
    down = sp.Symbol("sigma_down", positive=True)
    weight = sp.log(sigma / sigma_next) / (2 * sp.log(sigma / level_mid))
    stage_2 = down / sigma * x + (1 - down / sigma) * ((1 - weight) * d_now + weight * d_mid)
    k_diffusion = down / sigma * x - (sp.exp(-sp.log(sigma / down)) - 1) * (
        (1 - weight) * d_now + weight * d_mid)
    assert sp.simplify(stage_2 - k_diffusion) == 0
    midpoint_weight = weight.subs(level_mid, sp.sqrt(sigma * sigma_next))
    assert sp.simplify(sp.expand_log(midpoint_weight.subs(sigma, sigma_next * (1 + q)),
                                     force=True) - 1) == 0  # r = ½ there: 1/(2r) = 1
    assert sp.simplify(stage_2.subs(d_mid, d_now) - euler_form(sigma, down, x, d_now)) == 0
    up = eta * sp.sqrt(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2)
    full = stage_2.subs(down, sp.sqrt(sigma_next**2 - up**2)) + up * z
    step_of = sp.lambdify((sigma, sigma_next, x, d_now, level_mid, d_mid, eta, z), full)
    noises_of = sp.lambdify((sigma, level_mid, sigma_next, z_1, z_2), second)

    @given(sigma_levels(), st.floats(0.0, 1.0), st.floats(0.05, 0.95), arrays(4))
    def spec_is_the_proven_form(levels: tuple[float, float, float], noise_level: float,
                                where: float, quad: tuple[np.ndarray, ...]) -> None:
        level_next, level, _ = levels
        state, estimate, estimate_mid, draw = quad
        mid = float(np.exp(np.log(level) + where * (np.log(level_next) - np.log(level))))
        ratio = np.log(level / mid) / np.log(level / level_next)
        assert_close_to_spec(
            dpmpp_sde_step(level, level_next, state, estimate, (mid, estimate_mid), noise_level,
                           draw),
            step_of(level, level_next, state, estimate, mid, estimate_mid, noise_level, draw),
            "elementwise", scale=1.0 + np.abs(state) + (1.0 + 1.0 / ratio) * (
                np.abs(estimate) + np.abs(estimate_mid)) + level_next * np.abs(draw))
        first, later = dpmpp_sde_noises(level, mid, level_next, state, draw)
        assert np.array_equal(first, state)
        assert_close_to_spec(later, noises_of(level, mid, level_next, state, draw),
                             "elementwise", scale=1.0 + np.abs(state) + np.abs(draw))

    spec_is_the_proven_form()
