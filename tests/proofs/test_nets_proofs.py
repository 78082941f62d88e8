"""Proofs of the elementwise network laws NET-2 (ReLU), NET-7 (the timestep embedding) and
NET-8 (SiLU), each tied to the spec function on Hypothesis-drawn points. The other NET laws
are about array functions of any shape (convolutions, norms, whole networks): numerical."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specdiff.spec import relu
from specdiff.spec.unet import silu, timestep_embedding
from specdiff.testing import assert_close_to_spec, symbolic
from specdiff.testing.symbolic import SYMBOLS as S
from specdiff.testing.symbolic import is_positive


def real_arrays(bound: float) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, st.integers(1, 12), elements=st.floats(-bound, bound))


@pytest.mark.spec("NET-2")
def test_relu_is_nonnegative_the_identity_on_nonnegatives_and_idempotent() -> None:
    law = symbolic.relu()
    y = sp.Symbol("y", nonnegative=True)
    assert law.expression.is_nonnegative
    assert law.expression.subs(S.x, y) == y
    assert law.expression.subs(S.x, law.expression) == law.expression
    relu_of = law.numeric()

    @given(real_arrays(1e6))
    def spec_is_the_proven_form(x: np.ndarray) -> None:
        np.testing.assert_array_equal(relu(x), relu_of(x))  # NET-2: exact

    spec_is_the_proven_form()


@pytest.mark.spec("NET-7")
def test_the_embedding_is_points_on_the_unit_circle_starting_at_one() -> None:
    # Entry i is sin(t·f_i), entry d/2 + i is cos(t·f_i): their squares sum to 1, so every entry
    # is in [−1, 1]; at t = 0 the sines are 0 and the cosines 1; f_0 = 1, f_{d/2−1} = 1/10000,
    # and every f_i ∈ (0, 1].
    law = symbolic.timestep_frequency()
    angle = S.t * law.expression
    assert sp.simplify(sp.sin(angle) ** 2 + sp.cos(angle) ** 2) == 1
    assert sp.sin(angle).subs(S.t, 0) == 0 and sp.cos(angle).subs(S.t, 0) == 1
    assert law.expression.subs(S.i, 0) == 1
    assert sp.simplify(law.expression.subs(S.i, S.half - 1)) == sp.Rational(1, 10000)
    assert is_positive(law.expression, law.substitution)
    frequency_of = law.numeric()

    @given(st.integers(2, 64).map(lambda half: 2 * half),
           hnp.arrays(np.int64, st.integers(1, 4), elements=st.integers(0, 1000)))
    def spec_is_the_proven_form(channels: int, t: np.ndarray) -> None:
        half = channels // 2
        angles = t[:, None] * frequency_of(np.arange(half), half)[None, :]
        expected = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
        # NET-7's scale: the angle t·f is rounded before sin/cos, an error that grows with t.
        scale = np.maximum(1.0, t.astype(np.float64))[:, None]
        assert_close_to_spec(timestep_embedding(t, channels), expected, "elementwise",
                             scale=scale)

    spec_is_the_proven_form()


@pytest.mark.spec("NET-8")
def test_silu_evaluated_with_tanh_is_x_times_the_logistic() -> None:
    # (1 + tanh(x/2))/2 = 1/(1 + e^{−x}) (the overflow-free form the spec evaluates);
    # silu(0) = 0, silu(x) − x → 0 as x → ∞ and silu(x) → 0 as x → −∞.
    law = symbolic.silu()
    evaluated = S.x * (1 + sp.tanh(S.x / 2)) / 2
    assert sp.simplify((evaluated - law.expression).rewrite(sp.exp)) == 0
    assert law.expression.subs(S.x, 0) == 0
    assert sp.limit(law.expression - S.x, S.x, sp.oo) == 0
    assert sp.limit(law.expression, S.x, -sp.oo) == 0
    silu_of = law.numeric()

    @given(real_arrays(50.0))
    def spec_is_the_proven_form(x: np.ndarray) -> None:
        assert_close_to_spec(silu(x), silu_of(x), "elementwise", scale=1.0 + np.abs(x))

    spec_is_the_proven_form()
