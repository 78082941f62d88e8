"""Proofs of the prediction-type laws PARAM-1, PARAM-2 and PARAM-6 (specs/parameterization.md),
each tied to the spec functions on Hypothesis-drawn points."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from specdiff.spec import eps_from_v, split_prediction, v_from_eps_x0, x0_from_v
from specdiff.spec.parameterization import min_snr_weight
from specdiff.testing import (
    alpha_bar_values,
    assert_close_to_spec,
    eps_batches,
    nchw_shapes,
    symbolic,
    unbounded_batches,
)
from specdiff.testing.symbolic import ALPHA_BAR_DOMAIN, is_identically_zero
from specdiff.testing.symbolic import SYMBOLS as S

PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")


@st.composite
def pairs_of_batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays of one small NCHW shape: values in [−5, 5], then noise."""
    shape = tuple(draw(nchw_shapes(max_batch=2, max_side=4)))
    return draw(unbounded_batches(shape, 5.0)), draw(eps_batches(shape))


@pytest.mark.spec("PARAM-1")
def test_v_is_a_rotation_of_the_data_and_noise_and_its_inversions_undo_it() -> None:
    # (x_t, v) = R·(x0, ε) with R = [[√ᾱ, √(1−ᾱ)], [−√(1−ᾱ), √ᾱ]]: R·Rᵀ = I and det R = 1, so
    # R⁻¹ = Rᵀ, which is what x0_from_v and eps_from_v compute. Proven on 0 < ᾱ < 1 and, by
    # direct substitution, at both ends ᾱ ∈ {0, 1} (both in the domain: no division).
    x_t, v = symbolic.noised_sample().expression, symbolic.v_from_eps_x0().expression
    rotation = sp.Matrix([x_t, v]).jacobian([S.x0, S.eps])
    assert sp.Matrix([x_t, v]) == rotation * sp.Matrix([S.x0, S.eps])
    for end in (0, 1):
        assert sp.simplify(rotation.subs(S.alpha_bar, end) * rotation.subs(S.alpha_bar, end).T
                           ) == sp.eye(2)
    gram = rotation * rotation.T - sp.eye(2)
    assert all(is_identically_zero(entry, ALPHA_BAR_DOMAIN) for entry in gram)
    assert is_identically_zero(rotation.det() - 1, ALPHA_BAR_DOMAIN)
    recovered = {S.x_t: x_t, S.v: v}
    x0_back = symbolic.x0_from_v().expression.subs(recovered)
    eps_back = symbolic.eps_from_v().expression.subs(recovered)
    for domain in (ALPHA_BAR_DOMAIN, {S.alpha_bar: 0}, {S.alpha_bar: 1}):
        assert is_identically_zero(x0_back - S.x0, domain)
        assert is_identically_zero(eps_back - S.eps, domain)
    v_of = symbolic.v_from_eps_x0().numeric()
    x0_of, eps_of = symbolic.x0_from_v().numeric(), symbolic.eps_from_v().numeric()

    @given(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)),
           pairs_of_batches())
    def spec_is_the_proven_form(alpha_bar: float, arrays: tuple[np.ndarray, np.ndarray]) -> None:
        first, second = arrays
        scale = 1.0 + np.abs(first) + np.abs(second)
        assert_close_to_spec(v_from_eps_x0(alpha_bar, second, first),
                             v_of(alpha_bar, second, first), "elementwise", scale=scale)
        assert_close_to_spec(x0_from_v(alpha_bar, first, second),
                             x0_of(alpha_bar, first, second), "elementwise", scale=scale)
        assert_close_to_spec(eps_from_v(alpha_bar, first, second),
                             eps_of(alpha_bar, first, second), "elementwise", scale=scale)

    spec_is_the_proven_form()


@pytest.mark.spec("PARAM-2")
def test_every_prediction_type_of_the_target_splits_into_the_data_and_the_noise() -> None:
    # For the training target of each type (ε, x0 or v(ε, x0), PARAM-3) and x_t of FWD-1, the
    # split returns (x0, ε) on 0 < ᾱ < 1.
    x_t = symbolic.noised_sample().expression
    targets = {"epsilon": S.eps, "sample": S.x0,
               "v_prediction": symbolic.v_from_eps_x0().expression}
    for prediction_type, target in targets.items():
        x0_hat, eps_hat = symbolic.split_prediction(prediction_type)
        on_target = {S.x_t: x_t, S.model_output: target}
        assert is_identically_zero(x0_hat.expression.subs(on_target) - S.x0, ALPHA_BAR_DOMAIN)
        assert is_identically_zero(eps_hat.expression.subs(on_target) - S.eps, ALPHA_BAR_DOMAIN)
    splits = {kind: tuple(form.numeric() for form in symbolic.split_prediction(kind))
              for kind in PREDICTION_TYPES}

    @given(alpha_bar_values(), pairs_of_batches(), st.sampled_from(PREDICTION_TYPES))
    def spec_is_the_proven_form(alpha_bar: float, arrays: tuple[np.ndarray, np.ndarray],
                                prediction_type: str) -> None:
        x_t, output = arrays
        x0_of, eps_of = splits[prediction_type]
        x0_hat, eps_hat = split_prediction(alpha_bar, x_t, output, prediction_type)
        # The FWD-4 divisions amplify rounding by 1/√ᾱ and 1/√(1 − ᾱ) (PARAM-2's tolerance).
        scale = (1.0 + np.abs(x_t) + np.abs(output)) * (
            1.0 / np.sqrt(alpha_bar) + 1.0 / np.sqrt(1.0 - alpha_bar))
        assert_close_to_spec(x0_hat, np.broadcast_to(x0_of(alpha_bar, x_t, output), x_t.shape),
                             "elementwise", scale=scale)
        assert_close_to_spec(eps_hat, np.broadcast_to(eps_of(alpha_bar, x_t, output),
                                                      x_t.shape), "elementwise", scale=scale)

    spec_is_the_proven_form()


@pytest.mark.spec("PARAM-6")
def test_the_min_snr_weight_turns_every_squared_error_into_the_clipped_x0_error() -> None:
    # With SNR = ᾱ/(1 − ᾱ) and 1 − ᾱ > 0: ᾱ = (1 − ᾱ)·SNR and γ(1 − ᾱ) = (1 − ᾱ)·γ, so the two
    # arguments of min(ᾱ, γ(1 − ᾱ)) are those of min(SNR, γ) times the same positive factor and
    # the minimum picks the same branch. On each branch (b, c), (b/d)·(target − out)² equals
    # c·(x0 − x̂0)², with x_t of FWD-1 and x̂0 of PARAM-2 — so the law holds on 0 < ᾱ < 1.
    snr = S.alpha_bar / (1 - S.alpha_bar)
    branches = ((S.alpha_bar, snr), (S.gamma * (1 - S.alpha_bar), S.gamma))
    for clipped, clipped_snr in branches:
        assert is_identically_zero(clipped - (1 - S.alpha_bar) * clipped_snr, ALPHA_BAR_DOMAIN)
    x_t = symbolic.noised_sample().expression
    targets = {"epsilon": S.eps, "sample": S.x0,
               "v_prediction": symbolic.v_from_eps_x0().expression}
    for prediction_type, target in targets.items():
        weight = symbolic.min_snr_weight(prediction_type).expression
        x0_hat = symbolic.split_prediction(prediction_type)[0].expression.subs(S.x_t, x_t)
        for clipped, clipped_snr in branches:
            on_branch = weight.replace(lambda node: isinstance(node, sp.Min),
                                       lambda node, value=clipped: value)
            identity = (on_branch * (target - S.model_output) ** 2
                        - clipped_snr * (S.x0 - x0_hat) ** 2).subs(S.x_t, x_t)
            assert is_identically_zero(identity, ALPHA_BAR_DOMAIN), prediction_type
    weights = {kind: symbolic.min_snr_weight(kind).numeric() for kind in PREDICTION_TYPES}

    @given(st.lists(alpha_bar_values(), min_size=1, max_size=4),
           st.floats(1e-3, 1e3), st.sampled_from(PREDICTION_TYPES))
    def spec_is_the_proven_form(alpha_bars: list[float], gamma: float,
                                prediction_type: str) -> None:
        alpha_bar = np.array(alpha_bars)
        assert_close_to_spec(min_snr_weight(alpha_bar, gamma, prediction_type),
                             weights[prediction_type](alpha_bar, gamma), "elementwise",
                             scale=1.0 + gamma)

    spec_is_the_proven_form()
