"""The closed forms of specdiff's algebraic laws as SymPy expressions, for proofs of your own code.

specdiff proves its algebraic laws with SymPy (tests/proofs/, specs/README.md "Proofs") from the
expressions here; they are public so that your tests can state "my scheduler's update equals
REV-5" as an identity that holds on the whole domain, not on sampled points::

    law = ddim_step()          # REV-5: ClosedForm in the symbols of SYMBOLS
    s = SYMBOLS
    mine = my_update(s.alpha_bar, s.alpha_bar_prev, s.x_t, s.eps_hat, s.eta, s.z, sqrt=sp.sqrt)
    law.assert_equals(mine)

A ClosedForm carries its law's domain as a **substitution** of the bounded variables by rational
functions of positive symbols p, q, e (ᾱ_prev = 1/(1+p), ᾱ = ᾱ_prev/(1+q), η = 1/(1+e), ...).
The substitution covers the open domain exactly, and it turns every radicand of the laws into a
ratio of polynomials with positive coefficients, whose square root SymPy splits exactly
(√(p/(1+p)) = √p/√(1+p)); without it SymPy cannot tell that √ᾱ·√(1−ᾱ) = √(ᾱ(1−ᾱ)). An identity
between expressions continuous on the closed domain that holds on the open domain holds on its
edges too, so the edges (ᾱ_prev = 1, η ∈ {0, 1}) are covered by continuity.

Requires sympy (the ``dev`` extra); ``import specdiff.testing`` does not import this module.
"""

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp  # type: ignore[import-untyped]

# The positive parameters of the domain substitutions.
p, q, e = sp.symbols("p q e", positive=True)


class Symbols:
    """The variables of the laws, named as the spec functions' arguments (real unless stated).

    One instance, SYMBOLS, is shared by every closed form, so laws compose by substitution.
    """

    alpha_bar: Any = sp.Symbol("alpha_bar", real=True)
    alpha_bar_prev: Any = sp.Symbol("alpha_bar_prev", real=True)
    alpha_bar_last: Any = sp.Symbol("alpha_bar_last", real=True)
    eta: Any = sp.Symbol("eta", real=True)
    x0: Any = sp.Symbol("x0", real=True)
    x0_hat: Any = sp.Symbol("x0_hat", real=True)
    x0_last: Any = sp.Symbol("x0_last", real=True)
    x_t: Any = sp.Symbol("x_t", real=True)
    x_prev: Any = sp.Symbol("x_prev", real=True)
    eps: Any = sp.Symbol("eps", real=True)
    eps_hat: Any = sp.Symbol("eps_hat", real=True)
    noise: Any = sp.Symbol("noise", real=True)
    z: Any = sp.Symbol("z", real=True)
    v: Any = sp.Symbol("v", real=True)
    model_output: Any = sp.Symbol("model_output", real=True)
    eps_cond: Any = sp.Symbol("eps_cond", real=True)
    eps_uncond: Any = sp.Symbol("eps_uncond", real=True)
    guidance_scale: Any = sp.Symbol("guidance_scale", real=True)
    gamma: Any = sp.Symbol("gamma", positive=True)
    mean1: Any = sp.Symbol("mean1", real=True)
    logvar1: Any = sp.Symbol("logvar1", real=True)
    mean2: Any = sp.Symbol("mean2", real=True)
    logvar2: Any = sp.Symbol("logvar2", real=True)
    x: Any = sp.Symbol("x", real=True)
    T: Any = sp.Symbol("T", integer=True, positive=True)
    t: Any = sp.Symbol("t", integer=True, nonnegative=True)
    beta_start: Any = sp.Symbol("beta_start", positive=True)
    beta_end: Any = sp.Symbol("beta_end", positive=True)
    u: Any = sp.Symbol("u", nonnegative=True)
    s: Any = sp.Symbol("s", nonnegative=True)
    start: Any = sp.Symbol("start", real=True)
    end: Any = sp.Symbol("end", real=True)
    tau: Any = sp.Symbol("tau", positive=True)
    i: Any = sp.Symbol("i", integer=True, nonnegative=True)
    half: Any = sp.Symbol("half", integer=True, positive=True)
    root: Any = sp.Symbol("root", positive=True)
    first: Any = sp.Symbol("first", positive=True)
    last: Any = sp.Symbol("last", positive=True)


SYMBOLS = Symbols()
_S = SYMBOLS

# Domains, as substitutions by positive parameters (each covers its open domain exactly).
ALPHA_BAR_DOMAIN: dict[Any, Any] = {_S.alpha_bar: 1 / (1 + p)}  # 0 < ᾱ < 1
# 0 < ᾱ < ᾱ_prev < 1; for one DDPM step t → t−1 this is β_t = 1 − ᾱ/ᾱ_prev = q/(1+q) ∈ (0, 1).
REVERSE_STEP_DOMAIN: dict[Any, Any] = {_S.alpha_bar_prev: 1 / (1 + p),
                                       _S.alpha_bar: 1 / ((1 + p) * (1 + q))}
ETA_DOMAIN: dict[Any, Any] = {_S.eta: 1 / (1 + e)}  # 0 < η < 1


def clip(value: Any) -> Any:
    """clip(y, −1, 1) = min(1, max(−1, y)), the data-range clip of REV-1."""
    return sp.Min(1, sp.Max(-1, value))


def _is_root(expression: Any) -> bool:
    return bool(expression.is_Pow and expression.exp.is_Rational
                and not expression.exp.is_Integer)


def canonical(expression: Any, substitution: Mapping[Any, Any]) -> Any:
    """``expression`` on the domain: substituted, and each radicand factored, so the root of a
    product of positive factors splits into the roots of the factors (SymPy does that split only
    for factors it knows are positive, which the substitution makes them)."""
    substituted = sp.sympify(expression).subs(dict(substitution), simultaneous=True)
    return substituted.replace(
        _is_root, lambda root: sp.Pow(sp.factor(sp.together(root.base)), root.exp))


def is_identically_zero(expression: Any, substitution: Mapping[Any, Any]) -> bool:
    """True when ``expression`` is 0 at every point of the domain (a proof); False when SymPy
    could not show it (which is not a proof of the contrary)."""
    on_domain = canonical(expression, substitution)
    if sp.expand(sp.numer(sp.together(on_domain))) == 0:
        return True
    return bool(sp.simplify(on_domain) == 0)


def is_nonnegative(expression: Any, substitution: Mapping[Any, Any]) -> bool:
    """True when ``expression`` ≥ 0 on the domain, shown by putting it over one denominator and
    finding numerator and denominator polynomials with nonnegative coefficients in quantities
    known to be nonnegative (the domain's parameters, roots of positive polynomials)."""
    return _sign_shown(expression, substitution, strict=False)


def is_positive(expression: Any, substitution: Mapping[Any, Any]) -> bool:
    """True when ``expression`` > 0 on the domain, shown as for ``is_nonnegative`` with a
    numerator that is not identically 0 and quantities known to be positive (a nonzero polynomial
    with nonnegative coefficients in positive quantities is positive)."""
    return _sign_shown(expression, substitution, strict=True)


def _sign_shown(expression: Any, substitution: Mapping[Any, Any], *, strict: bool) -> bool:
    numerator, denominator = sp.fraction(sp.cancel(sp.together(canonical(expression,
                                                                          substitution))))

    def has_nonnegative_terms(polynomial: Any) -> bool:
        expanded = sp.expand(polynomial)
        if expanded.is_number:
            return bool(expanded >= 0)
        poly = sp.Poly(expanded)
        known_sign = (gen.is_positive if strict else gen.is_nonnegative for gen in poly.gens)
        return all(known_sign) and all(
            coefficient >= 0 for coefficient in poly.coeffs())

    nonzero_numerator = sp.expand(numerator) != 0
    return (has_nonnegative_terms(numerator) and has_nonnegative_terms(denominator)
            and bool(sp.expand(denominator) != 0) and (nonzero_numerator or not strict))


def unclip(expression: Any, substitution: Mapping[Any, Any]) -> Any:
    """``expression`` with every clip(y) replaced by y, each after proving −1 ≤ y ≤ 1 on the
    domain; raises AssertionError for a clip that it cannot show inactive."""

    def inactive(clipped: Any) -> Any:
        (lower_clip,) = (arg for arg in clipped.args if isinstance(arg, sp.Max))
        (value,) = (arg for arg in lower_clip.args if arg != -1)
        if not (is_nonnegative(1 - value, substitution)
                and is_nonnegative(1 + value, substitution)):
            raise AssertionError(f"cannot show that clip({value}) is inactive on the domain")
        return value

    return expression.replace(lambda node: isinstance(node, sp.Min), inactive)


@dataclass(frozen=True)
class ClosedForm:
    """One law's closed form: ``expression`` in ``arguments`` (the order of the spec function's
    arguments), holding on the domain that ``substitution`` parameterizes."""

    law: str
    expression: Any
    arguments: tuple[Any, ...]
    substitution: Mapping[Any, Any]
    domain: str

    def equals(self, other: Any) -> bool:
        """Whether ``other`` (an expression in SYMBOLS) equals the law on its whole domain."""
        return is_identically_zero(self.expression - other, self.substitution)

    def assert_equals(self, other: Any) -> None:
        """Raise AssertionError unless ``other`` is proven equal to the law on its domain; the
        message gives a point of the domain where the two differ, when one is found."""
        if self.equals(other):
            return
        raise AssertionError(f"{self.law}: not shown equal to the law on its domain "
                             f"({self.domain}); {self._witness(other)}")

    def numeric(self) -> Callable[..., Any]:
        """The expression as a numpy function of ``arguments``, to tie it to running code.

        Every radicand of a law is ≥ 0 on its domain, but float rounding at the domain's edges
        can make one −1e-17 (1 − ᾱ_prev − σ² as ᾱ_prev → 1): roots are taken of max(r, 0), the
        value exact arithmetic gives, instead of returning NaN.
        """
        return sp.lambdify(  # type: ignore[no-any-return]
            self.arguments, self.expression, [{"sqrt": _root_of_nonnegative}, "numpy"])

    def _witness(self, other: Any) -> str:
        difference = canonical(self.expression - other, self.substitution)
        rng = random.Random(0)
        for _ in range(20):
            point = {symbol: sp.Rational(rng.randint(1, 40), rng.randint(1, 40))
                     for symbol in sorted(difference.free_symbols, key=str)}
            value = complex(difference.subs(point).evalf())
            if abs(value) > 1e-9:
                return f"they differ by {value.real:.6g} at {self._named(point)}"
        return "they agree at 20 sampled points, but SymPy could not prove the identity"

    def _named(self, point: Mapping[Any, Any]) -> str:
        """A point of the positive parameters, written in the law's own variables."""
        values = {symbol: value for symbol, value in point.items() if symbol not in (p, q, e)}
        values.update({symbol: form.subs(point) for symbol, form in self.substitution.items()})
        return ", ".join(f"{symbol} = {sp.nsimplify(value)} ≈ {float(value):.6g}"
                         for symbol, value in sorted(values.items(), key=str)
                         if not value.free_symbols)


def _root_of_nonnegative(radicand: Any) -> Any:
    return np.sqrt(np.maximum(radicand, 0.0))


def _law(law: str, expression: Any, arguments: tuple[Any, ...],
         substitution: Mapping[Any, Any], domain: str) -> ClosedForm:
    return ClosedForm(law, expression, arguments, dict(substitution), domain)


# Schedules (specs/schedules.md)

def linear_beta() -> ClosedForm:
    """SCHED-1: β_t = β_start + (β_end − β_start)·t/(T − 1), for T ≥ 2."""
    d, m = sp.symbols("d m", positive=True)
    return _law("SCHED-1", _S.beta_start + (_S.beta_end - _S.beta_start) * _S.t / (_S.T - 1),
                (_S.T, _S.beta_start, _S.beta_end, _S.t),
                {_S.T: _S.t + m + 1, _S.beta_end: _S.beta_start + d},
                "T ≥ 2, 0 < β_start ≤ β_end < 1, 0 ≤ t ≤ T − 1 (T = t + m + 1, β_end = "
                "β_start + d)")


def cosine_alpha_bar_curve() -> ClosedForm:
    """SCHED-4: ā(u) = cos²((u + s)/(1 + s)·π/2), u ∈ [0, 1], s ∈ [0, 1]."""
    return _law("SCHED-4", sp.cos((_S.u + _S.s) / (1 + _S.s) * sp.pi / 2) ** 2, (_S.u, _S.s),
                {}, "u ∈ [0, 1], s ∈ [0, 1]")


def sigmoid_alpha_bar_curve() -> ClosedForm:
    """SCHED-5: ā(u) = (σ(end/τ) − σ((start + u·(end − start))/τ))/(σ(end/τ) − σ(start/τ)), σ the
    logistic function, u ∈ [0, 1], start < end, τ > 0."""

    def logistic(value: Any) -> Any:
        return 1 / (1 + sp.exp(-value))

    top, bottom = logistic(_S.end / _S.tau), logistic(_S.start / _S.tau)
    inner = logistic((_S.start + _S.u * (_S.end - _S.start)) / _S.tau)
    return _law("SCHED-5", (top - inner) / (top - bottom), (_S.u, _S.start, _S.end, _S.tau),
                {_S.end: _S.start + p}, "u ∈ [0, 1], start < end (end = start + p), τ > 0")


def rescaled_root_alpha_bar() -> ClosedForm:
    """SCHED-7: √ᾱ'_t = (√ᾱ_t − √ᾱ_{T−1})·√ᾱ_0/(√ᾱ_0 − √ᾱ_{T−1}), arguments (√ᾱ_t, √ᾱ_0,
    √ᾱ_{T−1}) = (root, first, last)."""
    return _law("SCHED-7", (_S.root - _S.last) * _S.first / (_S.first - _S.last),
                (_S.root, _S.first, _S.last), {_S.first: _S.last + p},
                "0 < √ᾱ_{T−1} < √ᾱ_0 (first = last + p)")


# The forward process (specs/forward.md)

def noised_sample() -> ClosedForm:
    """FWD-1: x_t = √ᾱ·x0 + √(1 − ᾱ)·ε."""
    return _law("FWD-1", sp.sqrt(_S.alpha_bar) * _S.x0 + sp.sqrt(1 - _S.alpha_bar) * _S.eps,
                (_S.alpha_bar, _S.x0, _S.eps), ALPHA_BAR_DOMAIN, "0 < ᾱ < 1")


def predict_x0() -> ClosedForm:
    """FWD-4: x̂0 = (x_t − √(1 − ᾱ)·ε̂)/√ᾱ."""
    return _law("FWD-4", (_S.x_t - sp.sqrt(1 - _S.alpha_bar) * _S.eps_hat) / sp.sqrt(_S.alpha_bar),
                (_S.alpha_bar, _S.x_t, _S.eps_hat), ALPHA_BAR_DOMAIN, "0 < ᾱ < 1")


def predict_eps() -> ClosedForm:
    """FWD-4: ε̂ = (x_t − √ᾱ·x0)/√(1 − ᾱ)."""
    return _law("FWD-4", (_S.x_t - sp.sqrt(_S.alpha_bar) * _S.x0) / sp.sqrt(1 - _S.alpha_bar),
                (_S.alpha_bar, _S.x_t, _S.x0), ALPHA_BAR_DOMAIN, "0 < ᾱ < 1")


def forward_step() -> ClosedForm:
    """COND-7: x_t = √(1 − β_t)·x_{t−1} + √β_t·noise, β_t = 1 − ᾱ_t/ᾱ_{t−1}."""
    beta = 1 - _S.alpha_bar / _S.alpha_bar_prev
    return _law("COND-7", sp.sqrt(1 - beta) * _S.x_prev + sp.sqrt(beta) * _S.noise,
                (_S.alpha_bar_prev, _S.alpha_bar, _S.x_prev, _S.noise), REVERSE_STEP_DOMAIN,
                "0 < ᾱ_t < ᾱ_{t−1} < 1")


# Reverse steps (specs/reverse.md)

def ddim_prev() -> ClosedForm:
    """REV-1: x_prev = √ᾱ_prev·clip(x̂0, −1, 1) + √(1 − ᾱ_prev)·ε̂, x̂0 of FWD-4."""
    x0_hat = predict_x0().expression
    return _law("REV-1", sp.sqrt(_S.alpha_bar_prev) * clip(x0_hat)
                + sp.sqrt(1 - _S.alpha_bar_prev) * _S.eps_hat,
                (_S.alpha_bar_prev, _S.alpha_bar, _S.x_t, _S.eps_hat), REVERSE_STEP_DOMAIN,
                "0 < ᾱ < ᾱ_prev < 1")


def ddim_sigma() -> ClosedForm:
    """REV-5: σ = η·√((1 − ᾱ_prev)/(1 − ᾱ))·√(1 − ᾱ/ᾱ_prev)."""
    a, a_prev = _S.alpha_bar, _S.alpha_bar_prev
    return _law("REV-5", _S.eta * sp.sqrt((1 - a_prev) / (1 - a)) * sp.sqrt(1 - a / a_prev),
                (_S.alpha_bar_prev, _S.alpha_bar, _S.eta),
                {**REVERSE_STEP_DOMAIN, **ETA_DOMAIN}, "0 < ᾱ < ᾱ_prev < 1, 0 < η < 1")


def ddim_step(clipped: bool = False) -> ClosedForm:
    """REV-5: x_prev = √ᾱ_prev·x̂0 + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z, x̂0 of FWD-4 (clipped to
    [−1, 1] when ``clipped``), σ of ``ddim_sigma``."""
    sigma = ddim_sigma().expression
    x0_hat = predict_x0().expression
    if clipped:
        x0_hat = clip(x0_hat)
    expression = (sp.sqrt(_S.alpha_bar_prev) * x0_hat
                  + sp.sqrt(1 - _S.alpha_bar_prev - sigma**2) * _S.eps_hat + sigma * _S.z)
    return _law("REV-5", expression,
                (_S.alpha_bar_prev, _S.alpha_bar, _S.x_t, _S.eps_hat, _S.eta, _S.z),
                {**REVERSE_STEP_DOMAIN, **ETA_DOMAIN}, "0 < ᾱ < ᾱ_prev < 1, 0 < η < 1")


def ddpm_posterior_mean() -> ClosedForm:
    """REV-7: μ̃ = √ᾱ_{t−1}·β_t/(1 − ᾱ_t)·x0 + √(1 − β_t)·(1 − ᾱ_{t−1})/(1 − ᾱ_t)·x_t,
    β_t = 1 − ᾱ_t/ᾱ_{t−1} (ᾱ_{t−1} = alpha_bar_prev)."""
    a, a_prev = _S.alpha_bar, _S.alpha_bar_prev
    beta = 1 - a / a_prev
    return _law("REV-7", sp.sqrt(a_prev) * beta / (1 - a) * _S.x0
                + sp.sqrt(1 - beta) * (1 - a_prev) / (1 - a) * _S.x_t,
                (_S.alpha_bar_prev, _S.alpha_bar, _S.x0, _S.x_t), REVERSE_STEP_DOMAIN,
                "0 < ᾱ_t < ᾱ_{t−1} < 1")


def ddpm_posterior_variance() -> ClosedForm:
    """REV-7: β̃_t = β_t·(1 − ᾱ_{t−1})/(1 − ᾱ_t)."""
    a, a_prev = _S.alpha_bar, _S.alpha_bar_prev
    return _law("REV-7", (1 - a / a_prev) * (1 - a_prev) / (1 - a),
                (_S.alpha_bar_prev, _S.alpha_bar), REVERSE_STEP_DOMAIN, "0 < ᾱ_t < ᾱ_{t−1} < 1")


def ddpm_posterior_mean_from_eps() -> ClosedForm:
    """REV-8: μ̃ = (x_t − β_t/√(1 − ᾱ_t)·ε̂)/√(1 − β_t) (Ho et al. 2020, eq. 11)."""
    a, a_prev = _S.alpha_bar, _S.alpha_bar_prev
    beta = 1 - a / a_prev
    return _law("REV-8", (_S.x_t - beta / sp.sqrt(1 - a) * _S.eps_hat) / sp.sqrt(1 - beta),
                (_S.alpha_bar_prev, _S.alpha_bar, _S.x_t, _S.eps_hat), REVERSE_STEP_DOMAIN,
                "0 < ᾱ_t < ᾱ_{t−1} < 1")


# Prediction types (specs/parameterization.md)

def v_from_eps_x0() -> ClosedForm:
    """PARAM-1: v = √ᾱ·ε − √(1 − ᾱ)·x0."""
    return _law("PARAM-1", sp.sqrt(_S.alpha_bar) * _S.eps - sp.sqrt(1 - _S.alpha_bar) * _S.x0,
                (_S.alpha_bar, _S.eps, _S.x0), ALPHA_BAR_DOMAIN, "0 < ᾱ < 1")


def x0_from_v() -> ClosedForm:
    """PARAM-1: x0 = √ᾱ·x_t − √(1 − ᾱ)·v."""
    return _law("PARAM-1", sp.sqrt(_S.alpha_bar) * _S.x_t - sp.sqrt(1 - _S.alpha_bar) * _S.v,
                (_S.alpha_bar, _S.x_t, _S.v), ALPHA_BAR_DOMAIN, "0 < ᾱ < 1")


def eps_from_v() -> ClosedForm:
    """PARAM-1: ε = √(1 − ᾱ)·x_t + √ᾱ·v."""
    return _law("PARAM-1", sp.sqrt(1 - _S.alpha_bar) * _S.x_t + sp.sqrt(_S.alpha_bar) * _S.v,
                (_S.alpha_bar, _S.x_t, _S.v), ALPHA_BAR_DOMAIN, "0 < ᾱ < 1")


def split_prediction(prediction_type: str) -> tuple[ClosedForm, ClosedForm]:
    """PARAM-2: (x̂0, ε̂) from a model output ``model_output`` of ``prediction_type``:
    "epsilon" → (FWD-4's x̂0, out), "sample" → (out, FWD-4's ε̂), "v_prediction" → (PARAM-1's
    x0_from_v, eps_from_v)."""
    out = _S.model_output
    forms = {
        "epsilon": (predict_x0().expression.subs(_S.eps_hat, out), out),
        "sample": (out, predict_eps().expression.subs(_S.x0, out)),
        "v_prediction": (x0_from_v().expression.subs(_S.v, out),
                         eps_from_v().expression.subs(_S.v, out)),
    }
    if prediction_type not in forms:
        raise ValueError(f"prediction_type must be one of {sorted(forms)}, got "
                         f"{prediction_type!r}")
    x0_hat, eps_hat = forms[prediction_type]
    arguments = (_S.alpha_bar, _S.x_t, out)
    return (_law("PARAM-2", x0_hat, arguments, ALPHA_BAR_DOMAIN, "0 < ᾱ < 1"),
            _law("PARAM-2", eps_hat, arguments, ALPHA_BAR_DOMAIN, "0 < ᾱ < 1"))


def min_snr_weight(prediction_type: str) -> ClosedForm:
    """PARAM-6: min(ᾱ, γ(1 − ᾱ)) divided by ᾱ (ε), 1 (v) or 1 − ᾱ (x0)."""
    divisors = {"epsilon": _S.alpha_bar, "v_prediction": sp.Integer(1),
                "sample": 1 - _S.alpha_bar}
    if prediction_type not in divisors:
        raise ValueError(f"prediction_type must be one of {sorted(divisors)}, got "
                         f"{prediction_type!r}")
    clipped = sp.Min(_S.alpha_bar, _S.gamma * (1 - _S.alpha_bar))
    return _law("PARAM-6", clipped / divisors[prediction_type], (_S.alpha_bar, _S.gamma),
                ALPHA_BAR_DOMAIN, "0 < ᾱ < 1, γ > 0")


# Fast solvers (specs/solvers.md)

def ddim_step_from_prediction() -> ClosedForm:
    """SOLV-1: x_prev = √ᾱ_prev·x̂0 + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z, σ of REV-5."""
    sigma = ddim_sigma().expression
    expression = (sp.sqrt(_S.alpha_bar_prev) * _S.x0_hat
                  + sp.sqrt(1 - _S.alpha_bar_prev - sigma**2) * _S.eps_hat + sigma * _S.z)
    return _law("SOLV-1", expression,
                (_S.alpha_bar_prev, _S.alpha_bar, _S.x0_hat, _S.eps_hat, _S.eta, _S.z),
                {**REVERSE_STEP_DOMAIN, **ETA_DOMAIN}, "0 < ᾱ < ᾱ_prev < 1, 0 < η < 1")


def plms_weights(n: int) -> tuple[Any, ...]:
    """SOLV-2: the Adams–Bashforth weights of the last n ∈ {1, 2, 3, 4} ε̂ (oldest first), as
    exact rationals: (1), (−1, 3)/2, (5, −16, 23)/12, (−9, 37, −59, 55)/24."""
    numerators = {1: (1,), 2: (-1, 3), 3: (5, -16, 23), 4: (-9, 37, -59, 55)}
    denominator = {1: 1, 2: 2, 3: 12, 4: 24}
    if n not in numerators:
        raise ValueError(f"n must be in [1, 4], got {n}")
    return tuple(sp.Rational(k, denominator[n]) for k in numerators[n])


def pndm_transfer() -> ClosedForm:
    """SOLV-3: Liu et al.'s φ(x, ε, t → t') = √(ᾱ'/ᾱ)·x − (ᾱ' − ᾱ)·ε/(ᾱ·√(1 − ᾱ') +
    √(ᾱ(1 − ᾱ)ᾱ')), ᾱ' = alpha_bar_prev."""
    a, a_prev = _S.alpha_bar, _S.alpha_bar_prev
    expression = (sp.sqrt(a_prev / a) * _S.x_t - (a_prev - a) * _S.eps_hat
                  / (a * sp.sqrt(1 - a_prev) + sp.sqrt(a * (1 - a) * a_prev)))
    return _law("SOLV-3", expression, (_S.alpha_bar_prev, _S.alpha_bar, _S.x_t, _S.eps_hat),
                REVERSE_STEP_DOMAIN, "0 < ᾱ < ᾱ' < 1")


def half_log_snr(alpha_bar: Any) -> Any:
    """λ = log(α/σ) = ½·log(ᾱ/(1 − ᾱ)), the variable DPM-Solver steps in."""
    return sp.log(alpha_bar / (1 - alpha_bar)) / 2


def dpm_solver_pp_step(second_order: bool = False) -> ClosedForm:
    """SOLV-4: x_prev = (σ_prev/σ)·x_t + α_prev·(1 − e^{−h})·(D0 + D1/2), e^{−h} =
    σ_prev·α/(α_prev·σ), D0 = x̂0, D1 = 0 (first order) or (x̂0 − x̂0_last)·h/h_last (2M, with
    h = λ_prev − λ and h_last = λ − λ_last)."""
    a, a_prev = _S.alpha_bar, _S.alpha_bar_prev
    alpha, sigma = sp.sqrt(a), sp.sqrt(1 - a)
    alpha_prev, sigma_prev = sp.sqrt(a_prev), sp.sqrt(1 - a_prev)
    decay = sigma_prev * alpha / (alpha_prev * sigma)
    data_term = _S.x0_hat
    arguments: tuple[Any, ...] = (_S.alpha_bar_prev, _S.alpha_bar, _S.x_t, _S.x0_hat)
    substitution = dict(REVERSE_STEP_DOMAIN)
    domain = "0 < ᾱ < ᾱ_prev < 1"
    if second_order:
        lam, lam_prev = half_log_snr(a), half_log_snr(a_prev)
        ratio = (lam_prev - lam) / (lam - half_log_snr(_S.alpha_bar_last))
        data_term = data_term + ratio * (_S.x0_hat - _S.x0_last) / 2
        arguments += (_S.alpha_bar_last, _S.x0_last)
        substitution[_S.alpha_bar_last] = 1 / ((1 + p) * (1 + q) * (1 + e))
        domain = "0 < ᾱ_last < ᾱ < ᾱ_prev < 1"
    return _law("SOLV-4", sigma_prev / sigma * _S.x_t + alpha_prev * (1 - decay) * data_term,
                arguments, substitution, domain)


# Conditioning (specs/conditioning.md)

def cfg_eps() -> ClosedForm:
    """COND-1: ε̃ = ε_uncond + w·(ε_cond − ε_uncond), w = guidance_scale."""
    return _law("COND-1", _S.eps_uncond + _S.guidance_scale * (_S.eps_cond - _S.eps_uncond),
                (_S.eps_cond, _S.eps_uncond, _S.guidance_scale), {}, "w real")


# Likelihood and latents (specs/likelihood.md, specs/latent.md)

def normal_kl() -> ClosedForm:
    """LIK-1: KL(N(m1, e^{lv1}) ‖ N(m2, e^{lv2})) = ½(−1 + lv2 − lv1 + e^{lv1−lv2} +
    (m1 − m2)²·e^{−lv2})."""
    m1, lv1, m2, lv2 = _S.mean1, _S.logvar1, _S.mean2, _S.logvar2
    expression = (-1 + lv2 - lv1 + sp.exp(lv1 - lv2) + (m1 - m2) ** 2 * sp.exp(-lv2)) / 2
    return _law("LIK-1", expression, (m1, lv1, m2, lv2), {}, "means and log-variances real")


# Nets (specs/nets.md)

def relu() -> ClosedForm:
    """NET-2: relu(x) = max(x, 0)."""
    return _law("NET-2", sp.Max(_S.x, 0), (_S.x,), {}, "x real")


def timestep_frequency() -> ClosedForm:
    """NET-7: f_i = 10000^(−i/(d/2 − 1)), i < d/2 = half; the embedding of t is sin(t·f_i)
    (entry i) and cos(t·f_i) (entry d/2 + i)."""
    return _law("NET-7", sp.Integer(10000) ** (-_S.i / (_S.half - 1)), (_S.i, _S.half),
                {_S.half: 2 + p}, "d/2 ≥ 2 (half = 2 + p), 0 ≤ i < d/2")


def silu() -> ClosedForm:
    """NET-8: silu(x) = x·σ(x), σ(x) = 1/(1 + e^{−x})."""
    return _law("NET-8", _S.x / (1 + sp.exp(-_S.x)), (_S.x,), {}, "x real")
