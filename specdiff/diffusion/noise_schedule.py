"""The tables a sampler reads at every step, computed once in float64 (specs/samplers.md).

:class:`NoiseSchedule` is a frozen bundle of per-timestep tensors; :class:`ModuleWithSchedule` is
the ``nn.Module`` base of everything that owns one (``Diffusion``, the test oracles): the schedule
follows the module's device but stays float64, because ``module.half()`` must not round ᾱ_0 =
0.9999 to 1 (which would make the posterior variance 0/0).
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float
from torch import nn

from specdiff._typecheck import typechecked
from specdiff.diffusion import schedules
from specdiff.diffusion._posterior import posterior_coefficients
from specdiff.spec import schedules as spec_schedules
from specdiff.spec._validate import require_values_in


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """SAMP-1: per-timestep tables, t = 0, …, T−1, each equal to its law (all of shape (T,)).

    Build one with :meth:`linear`, :meth:`cosine`, :meth:`sigmoid` or :meth:`from_betas`; the
    tables are computed in float64, and :meth:`to` returns a cast copy.
    """

    betas: Float[torch.Tensor, "T"]
    alphas: Float[torch.Tensor, "T"]  # 1 − β_t
    alpha_bars: Float[torch.Tensor, "T"]  # ᾱ_t = ∏_{s≤t} α_s (SCHED-2)
    alpha_bars_prev: Float[torch.Tensor, "T"]  # ᾱ_{t−1}, with ᾱ_{−1} = 1
    sqrt_alpha_bars: Float[torch.Tensor, "T"]
    sqrt_one_minus_alpha_bars: Float[torch.Tensor, "T"]
    posterior_variance: Float[torch.Tensor, "T"]  # β̃_t (REV-7)
    posterior_log_variance_clipped: Float[torch.Tensor, "T"]  # log β̃_t, log β̃_1 at t = 0
    posterior_mean_x0_coef: Float[torch.Tensor, "T"]  # μ̃ = x0_coef·x0 + xt_coef·x_t (REV-7)
    posterior_mean_xt_coef: Float[torch.Tensor, "T"]

    def __post_init__(self) -> None:
        shapes = {field.name: tuple(getattr(self, field.name).shape)
                  for field in dataclasses.fields(self)}
        if len(set(shapes.values())) != 1 or len(shapes["betas"]) != 1:
            raise ValueError(f"every table must have the same shape (T,), got {shapes}")

    @classmethod
    @typechecked
    def from_betas(cls, betas: Float[torch.Tensor, "T"] | Float[np.ndarray, "T"]
                   ) -> "NoiseSchedule":
        """All tables from β_t ∈ (0, 1), in float64 on the CPU."""
        betas64 = torch.as_tensor(betas).detach().to("cpu", torch.float64)
        alpha_bars = schedules.alpha_bars(betas64)
        # The posterior divides by 1 − ᾱ_t and by ᾱ_{t−1}: ᾱ must not round to 0 or 1.
        require_values_in("alpha_bars", alpha_bars.numpy(), 0.0, 1.0, low_open=True,
                          high_open=True)
        return cls._from_tables(betas64, alpha_bars)

    @classmethod
    @typechecked
    def rescaled_to_zero_terminal_snr(
        cls, betas: Float[torch.Tensor, "T"] | Float[np.ndarray, "T"]
    ) -> "NoiseSchedule":
        """SCHED-7, SCHED-8: the tables of β rescaled to zero terminal SNR (ᾱ_{T−1} = 0).

        The one way to build a schedule with ᾱ = 0: only ᾱ_{T−1} is 0 (β_{T−1} = 1), every other
        ᾱ_t stays in (0, 1). Its posterior at T−1 is finite (μ̃ = √ᾱ_{T−2}·x0, β̃ = 1 − ᾱ_{T−2});
        samplers accept it with v- or x0-prediction only (ε says nothing about x0 at ᾱ = 0).
        """
        host = torch.as_tensor(betas).detach().to("cpu", torch.float64).numpy()
        rescaled = spec_schedules.rescale_zero_terminal_snr(host)
        alpha_bars = spec_schedules.alpha_bars_zero_terminal_snr(rescaled)
        require_values_in("alpha_bars[:-1]", alpha_bars[:-1], 0.0, 1.0, low_open=True,
                          high_open=True)
        return cls._from_tables(torch.from_numpy(rescaled), torch.from_numpy(alpha_bars))

    @classmethod
    def _from_tables(cls, betas64: torch.Tensor, alpha_bars: torch.Tensor) -> "NoiseSchedule":
        posterior = posterior_coefficients(alpha_bars, torch.arange(betas64.shape[0]))
        return cls(
            betas=betas64,
            alphas=1.0 - betas64,
            alpha_bars=alpha_bars,
            alpha_bars_prev=posterior.alpha_bar_prev,
            sqrt_alpha_bars=alpha_bars.sqrt(),
            sqrt_one_minus_alpha_bars=(1.0 - alpha_bars).sqrt(),
            posterior_variance=posterior.variance,
            posterior_log_variance_clipped=posterior.log_variance_clipped,
            posterior_mean_x0_coef=posterior.x0_coef,
            posterior_mean_xt_coef=posterior.xt_coef,
        )

    @classmethod
    def linear(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
               ) -> "NoiseSchedule":
        """The DDPM paper's linear schedule (SCHED-1)."""
        return cls.from_betas(schedules.linear_betas(T, beta_start, beta_end))

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008, max_beta: float = 0.999
               ) -> "NoiseSchedule":
        """The improved-DDPM cosine schedule (SCHED-4)."""
        return cls.from_betas(schedules.cosine_betas(T, s, max_beta))

    @classmethod
    def sigmoid(cls, T: int = 1000, start: float = -3.0, end: float = 3.0, tau: float = 1.0,
                max_beta: float = 0.999) -> "NoiseSchedule":
        """The sigmoid schedule (SCHED-5)."""
        return cls.from_betas(schedules.sigmoid_betas(T, start, end, tau, max_beta))

    @property
    def num_timesteps(self) -> int:
        """T."""
        return int(self.betas.shape[0])

    @property
    def has_zero_terminal_snr(self) -> bool:
        """Whether ᾱ_{T−1} = 0 (built by :meth:`rescaled_to_zero_terminal_snr`)."""
        return bool(self.alpha_bars[-1] == 0.0)

    @property
    def device(self) -> torch.device:
        return self.betas.device

    @property
    def dtype(self) -> torch.dtype:
        return self.betas.dtype

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
           ) -> "NoiseSchedule":
        """A copy with every table on ``device`` and in ``dtype`` (None keeps the current one)."""
        return self._map(lambda table: table.to(device=device, dtype=dtype))

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> "NoiseSchedule":
        return dataclasses.replace(self, **{field.name: fn(getattr(self, field.name))
                                            for field in dataclasses.fields(self)})


class ModuleWithSchedule(nn.Module):
    """An ``nn.Module`` owning a float64 :class:`NoiseSchedule` that follows its device.

    ``.to(device)``, ``.cuda()``, ``.cpu()`` move the schedule; dtype casts (``.float()``,
    ``.half()``, ``.to(dtype)``) leave it in float64: the steps round each coefficient once to
    the samples' dtype.
    """

    def __init__(self, schedule: NoiseSchedule) -> None:
        super().__init__()
        self.schedule = schedule.to(dtype=torch.float64)

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True
               ) -> "ModuleWithSchedule":
        # nn.Module routes every device/dtype move through _apply(fn); applying fn to an empty
        # probe tells where the module went without casting the schedule's dtype.
        super()._apply(fn, recurse)  # type: ignore[no-untyped-call]
        probe = fn(torch.empty(0, dtype=torch.float64, device=self.schedule.device))
        self.schedule = self.schedule.to(device=probe.device)
        return self
