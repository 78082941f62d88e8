"""The DDPM posterior's coefficients (REV-7) at given timesteps, computed in float64 once.

Shared by :class:`NoiseSchedule` (all timesteps, stored) and the reverse steps (the visited ones),
so the formulas exist once on the torch side.
"""

from typing import NamedTuple

import torch

from specdiff.spec.reverse import implied_beta


class PosteriorCoefficients(NamedTuple):
    """Each field has the shape of ``t``; all are float64 on ``alpha_bars``' device."""

    alpha_bar: torch.Tensor
    alpha_bar_prev: torch.Tensor  # ᾱ_{t−1}, with ᾱ_{−1} = 1
    beta: torch.Tensor  # 1 − ᾱ_t/ᾱ_{t−1}, the β the ᾱ table implies
    x0_coef: torch.Tensor
    xt_coef: torch.Tensor
    variance: torch.Tensor
    log_variance_clipped: torch.Tensor


def posterior_coefficients(
    alpha_bars: torch.Tensor, t: int | torch.Tensor
) -> PosteriorCoefficients:
    """REV-7 coefficients: μ̃ = x0_coef·x0 + xt_coef·x_t, β̃_t = variance, clipped log β̃.

    ``alpha_bars`` must already be validated to lie in (0, 1) and ``t`` in [0, T).
    """
    alpha_bars = alpha_bars.to(torch.float64)
    steps = torch.as_tensor(t, device=alpha_bars.device)
    with_start = torch.cat([alpha_bars.new_ones(1), alpha_bars])
    alpha_bar, alpha_bar_prev = alpha_bars[steps], with_start[steps]
    beta = implied_beta(alpha_bar_prev, alpha_bar)
    variance = beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
    # β̃_0 = 0, so DDPM clips the log at t = 0 to log β̃_1 (log β_0 when T = 1).
    if alpha_bars.shape[0] > 1:
        beta_1 = implied_beta(alpha_bars[0], alpha_bars[1])
        floor = beta_1 * (1.0 - alpha_bars[0]) / (1.0 - alpha_bars[1])
    else:
        floor = 1.0 - alpha_bars[0]
    return PosteriorCoefficients(
        alpha_bar=alpha_bar,
        alpha_bar_prev=alpha_bar_prev,
        beta=beta,
        x0_coef=alpha_bar_prev.sqrt() * beta / (1.0 - alpha_bar),
        xt_coef=(1.0 - beta).sqrt() * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar),
        variance=variance,
        log_variance_clipped=torch.log(torch.where(steps == 0, floor, variance)),
    )
