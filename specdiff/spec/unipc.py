"""UniPC (Zhao et al. 2023) in the σ view: the B(h) = e^{−h} − 1 ("bh2") predictor–corrector of
order 2 in data prediction, as diffusers' ``UniPCMultistepScheduler`` (specs/sigma.md, KSAMP-15).

Its predictor UniP-2 with ρ = ½ is the DPM++ 2M step (KSAMP-6); its corrector UniC refines the
point the predictor reached with the model output there, before the next prediction, at no
extra model call. Earlier (σ, D) are explicit arguments.
"""

import math
from collections.abc import Sequence

import numpy as np
from jaxtyping import Float, Float64

from specdiff._typecheck import typechecked
from specdiff.spec._validate import require_finite, require_real_in
from specdiff.spec.chains import NumpyModel
from specdiff.spec.dpmpp import dpmpp_2m_orders, dpmpp_2m_step
from specdiff.spec.parameterization import PredictionType
from specdiff.spec.sigma import model_denoised, sigmas_at, ve_from_vp


def unic_weights(h: float, ratio: float | None) -> tuple[float, float]:
    """KSAMP-15: (ρ_older, ρ_new) of UniC-bh2: order 1 (ratio None) (0, ½); order 2 the solution
    of [[1, 1], [r, 1]]·ρ = b with r = ratio, b_k = k!·φ_k(h)/B(h), φ_1 = (1 − e^{−h})/h − 1,
    φ_2 = φ_1/(−h) − ½, B(h) = e^{−h} − 1."""
    require_real_in("h", h, 0.0, float("inf"), low_open=True, high_open=True)
    if ratio is None:
        return 0.0, 0.5
    require_real_in("ratio", ratio, float("-inf"), 0.0, low_open=True, high_open=True)
    b_h = math.expm1(-h)
    phi_1 = b_h / -h - 1.0
    phi_2 = phi_1 / -h - 0.5
    first, second = phi_1 / b_h, 2.0 * phi_2 / b_h
    older = (first - second) / (1.0 - ratio)
    return older, first - older


@typechecked
def unipc_corrector_step(
    sigma_last: float,
    sigma: float,
    x_last: Float[np.ndarray, "batch *shape"],
    denoised_last: Float[np.ndarray, "batch *shape"],
    denoised: Float[np.ndarray, "batch *shape"],
    older: tuple[float, Float[np.ndarray, "batch *shape"]] | None,
) -> Float64[np.ndarray, "batch *shape"]:
    """KSAMP-15: x^c = (σ/σ_last)·x_last + (1 − e^{−h})·(D_last + ρ_o·(D_older − D_last)/r +
    ρ_n·(D − D_last)), h = log(σ_last/σ), r = −log(σ_older/σ_last)/h, (ρ_o, ρ_n) = unic_weights;
    ``D`` is the model's output at the predicted point, x_last the (corrected) point the
    prediction started from."""
    require_real_in("sigma_last", sigma_last, 0.0, float("inf"), low_open=True, high_open=True)
    require_real_in("sigma", sigma, 0.0, sigma_last, low_open=True, high_open=True)
    for name, array in (("x_last", x_last), ("denoised_last", denoised_last),
                        ("denoised", denoised)):
        require_finite(name, array)
    h = math.log(sigma_last / sigma)
    data_term = np.asarray(denoised_last, dtype=np.float64)
    if older is None:
        weight_older, weight_new = unic_weights(h, None)
    else:
        sigma_older, denoised_older = older
        require_real_in("older sigma", sigma_older, sigma_last, float("inf"), low_open=True,
                        high_open=True)
        require_finite("older denoised", denoised_older)
        ratio = -math.log(sigma_older / sigma_last) / h
        weight_older, weight_new = unic_weights(h, ratio)
        data_term = data_term + weight_older / ratio * (denoised_older - denoised_last)
    data_term = data_term + weight_new * (denoised - denoised_last)
    decay = sigma / sigma_last  # e^{−h}
    return np.asarray(decay * x_last + (1.0 - decay) * data_term, dtype=np.float64)


def unipc_chain(alpha_bars: np.ndarray, visited: Sequence[int], model: NumpyModel,
                x_T: np.ndarray, *, prediction_type: PredictionType) -> np.ndarray:
    """KSAMP-7: at step i, D_i at the predicted x_i; for i ≥ 1 x_i ← unipc_corrector_step from
    the previous start point (order 1 at i = 1, else 2); then the predictor dpmpp_2m_step with
    the orders of dpmpp_2m_orders; the last prediction (to σ = 0) is returned uncorrected."""
    sigmas = sigmas_at(alpha_bars, np.asarray(visited, dtype=np.int64))
    x = ve_from_vp(float(alpha_bars[visited[0]]), x_T)
    orders = dpmpp_2m_orders(len(visited))
    history: list[tuple[float, np.ndarray]] = []
    start = x
    for i, t in enumerate(visited):
        denoised = model_denoised(alpha_bars, model, x, t, prediction_type)
        if i > 0:
            x = unipc_corrector_step(history[-1][0], float(sigmas[i]), start, history[-1][1],
                                     denoised, history[-2] if i >= 2 else None)
        history = [*history, (float(sigmas[i]), denoised)][-2:]
        start = x
        x = dpmpp_2m_step(float(sigmas[i]), float(sigmas[i + 1]), x, denoised,
                          history[-2] if orders[i] == 2 else None)
    return x
