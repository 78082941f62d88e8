"""Proof of LAT-2 (specs/latent.md), the closed-form KL of the autoencoder's posterior to the
standard normal, tied to the spec function on Hypothesis-drawn points."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specdiff.spec import gaussian_kl_standard_normal
from specdiff.testing import assert_close_to_spec, symbolic
from specdiff.testing.symbolic import SYMBOLS as S
from tests.proofs.lemmas import exp_gap


@pytest.mark.spec("LAT-2")
def test_the_kl_to_the_standard_normal_is_the_closed_form_and_vanishes_only_at_the_origin(
) -> None:
    # Per latent element: LIK-1 with m2 = 0, lv2 = 0 is ½(m² + e^lv − 1 − lv) = ½m² + ½g(lv),
    # g(u) = e^u − 1 − u ≥ 0 with equality only at u = 0 (exp_gap); a sum of such terms is ≥ 0
    # and 0 exactly when every mean and logvar is 0.
    element = symbolic.normal_kl().expression.subs({S.mean2: 0, S.logvar2: 0})
    m, lv = S.mean1, S.logvar1
    closed = (m**2 + sp.exp(lv) - 1 - lv) / 2
    assert sp.expand(element - closed) == 0
    assert sp.expand(closed - m**2 / 2 - exp_gap(lv) / 2) == 0
    closed_of = sp.lambdify((m, lv), closed, "numpy")

    @given(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4)).flatmap(
        lambda shape: st.tuples(hnp.arrays(np.float64, shape, elements=st.floats(-5.0, 5.0)),
                                hnp.arrays(np.float64, shape, elements=st.floats(-10.0, 5.0)))))
    def spec_is_the_proven_form(moments: tuple[np.ndarray, np.ndarray]) -> None:
        mean, logvar = moments
        expected = closed_of(mean, logvar).reshape(mean.shape[0], -1).sum(axis=1)
        scale = (mean**2 + np.exp(logvar) + np.abs(logvar) + 1.0).reshape(
            mean.shape[0], -1).sum(axis=1)
        assert_close_to_spec(gaussian_kl_standard_normal(mean, logvar), expected, "reduction",
                             scale=scale)

    spec_is_the_proven_form()
