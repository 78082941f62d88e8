"""Proofs of the algebraic conditioning laws COND-1 (classifier-free guidance) and COND-7 (one
forward step of RePaint), each tied to the spec function on Hypothesis-drawn points.

The other inpainting and super-resolution laws are selections, index maps and sampler
compositions over arrays (numerical), or distributional (statistical): specs/conditioning.md.
"""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from specdiff.spec import cfg_eps, forward_step
from specdiff.testing import (
    alpha_bar_arrays,
    assert_close_to_spec,
    eps_batches,
    nchw_shapes,
    symbolic,
    timesteps,
    unbounded_batches,
)
from specdiff.testing.symbolic import SYMBOLS as S
from tests.proofs.lemmas import forward_kernel_keeps_the_marginal


@pytest.mark.spec("COND-1")
def test_guidance_is_affine_in_w_with_the_two_models_at_its_ends() -> None:
    # ε̃(w) = ε_u + w·(ε_c − ε_u) = w·ε_c + (1 − w)·ε_u (the evaluation form), ε̃(1) = ε_c,
    # ε̃(0) = ε_u, and ε̃(λ·w1 + (1 − λ)·w2) = λ·ε̃(w1) + (1 − λ)·ε̃(w2) for all real λ, w1, w2.
    guided = symbolic.cfg_eps().expression
    w = S.guidance_scale
    assert sp.expand(guided - (w * S.eps_cond + (1 - w) * S.eps_uncond)) == 0
    assert guided.subs(w, 1) == S.eps_cond
    assert guided.subs(w, 0) == S.eps_uncond
    lam, w1, w2 = sp.symbols("lambda w1 w2", real=True)
    mixed = guided.subs(w, lam * w1 + (1 - lam) * w2)
    assert sp.expand(mixed - lam * guided.subs(w, w1) - (1 - lam) * guided.subs(w, w2)) == 0
    guided_of = symbolic.cfg_eps().numeric()

    @given(st.floats(-20.0, 20.0), nchw_shapes(max_batch=2, max_side=4).flatmap(
        lambda shape: st.tuples(eps_batches(tuple(shape)), eps_batches(tuple(shape)))))
    def spec_is_the_proven_form(scale: float, pair: tuple[np.ndarray, np.ndarray]) -> None:
        cond, uncond = pair
        assert_close_to_spec(cfg_eps(cond, uncond, scale), guided_of(cond, uncond, scale),
                             "elementwise",
                             scale=1.0 + abs(scale) * (np.abs(cond) + np.abs(uncond)))
        # The evaluation form makes the ends exact in float64 too (COND-1's tolerance).
        np.testing.assert_array_equal(cfg_eps(cond, uncond, 1.0), cond)
        np.testing.assert_array_equal(cfg_eps(cond, uncond, 0.0), uncond)

    spec_is_the_proven_form()


@pytest.mark.spec("COND-7")
def test_one_forward_step_takes_the_marginal_at_t_minus_one_to_the_marginal_at_t() -> None:
    forward_kernel_keeps_the_marginal()
    kernel = symbolic.forward_step().numeric()

    @given(alpha_bar_arrays(), st.data())
    def spec_is_the_proven_form(bars: np.ndarray, data: st.DataObject) -> None:
        t = data.draw(timesteps(bars.shape[0]))
        shape = tuple(data.draw(nchw_shapes(max_batch=2, max_side=4)))
        x_prev, noise = data.draw(unbounded_batches(shape, 5.0)), data.draw(eps_batches(shape))
        previous = 1.0 if t == 0 else float(bars[t - 1])
        assert_close_to_spec(forward_step(bars, t, x_prev, noise),
                             kernel(previous, bars[t], x_prev, noise), "elementwise",
                             scale=1.0 + np.abs(x_prev) + np.abs(noise))

    spec_is_the_proven_form()
