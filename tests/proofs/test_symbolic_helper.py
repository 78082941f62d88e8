"""The public proof helper specdiff.testing.symbolic: it decides identities and signs on a law's
domain, says where a wrong expression differs, and loads SymPy only when imported."""

import os
import subprocess
import sys

import pytest
import sympy as sp

from specdiff.testing import symbolic
from specdiff.testing.symbolic import ALPHA_BAR_DOMAIN, is_identically_zero, is_nonnegative
from specdiff.testing.symbolic import SYMBOLS as S


def test_importing_specdiff_testing_does_not_load_sympy() -> None:
    code = "import sys, specdiff.testing; assert 'sympy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))


def test_a_wrong_update_is_refused_with_a_point_where_it_differs() -> None:
    law = symbolic.ddim_step()
    wrong = law.expression + S.eta * S.z / 100  # σ·z off by 1 %
    assert not law.equals(wrong)
    with pytest.raises(AssertionError, match=r"REV-5: .* differ by .* at eta = "):
        law.assert_equals(wrong)


def test_roots_split_only_on_the_domain() -> None:
    # √ᾱ·√(1 − ᾱ) = √(ᾱ(1 − ᾱ)) needs 0 ≤ ᾱ ≤ 1: shown with the domain, not without it.
    split = sp.sqrt(S.alpha_bar) * sp.sqrt(1 - S.alpha_bar) - sp.sqrt(S.alpha_bar
                                                                      * (1 - S.alpha_bar))
    assert is_identically_zero(split, ALPHA_BAR_DOMAIN)
    assert not is_identically_zero(split + S.alpha_bar, ALPHA_BAR_DOMAIN)


def test_a_sign_is_claimed_only_when_shown() -> None:
    assert is_nonnegative(1 - S.alpha_bar, ALPHA_BAR_DOMAIN)
    assert not is_nonnegative(1 - 2 * S.alpha_bar, ALPHA_BAR_DOMAIN)  # negative for ᾱ > ½
