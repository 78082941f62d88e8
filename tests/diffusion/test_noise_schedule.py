"""NoiseSchedule's tables equal their laws (SAMP-1); modules owning one keep it in float64."""

import numpy as np
import pytest
import torch
from hypothesis import given

from specdiff import spec
from specdiff.diffusion import ModuleWithSchedule, NoiseSchedule
from specdiff.testing import assert_close_to_spec, beta_arrays


def posterior_from_spec(bars: np.ndarray) -> dict[str, np.ndarray]:
    """REV-7 at every t; μ̃ is linear in (x0, x_t), so unit inputs read off its coefficients."""
    t = np.arange(bars.shape[0])
    ones, zeros = np.ones((bars.shape[0], 1)), np.zeros((bars.shape[0], 1))
    x0_coef, variance, log_variance = spec.ddpm_posterior(bars, t, ones, zeros)
    xt_coef, _, _ = spec.ddpm_posterior(bars, t, zeros, ones)
    return {
        "posterior_mean_x0_coef": x0_coef[:, 0],
        "posterior_mean_xt_coef": xt_coef[:, 0],
        "posterior_variance": variance,
        "posterior_log_variance_clipped": log_variance,
    }


@pytest.mark.spec("SAMP-1")
@given(betas=beta_arrays(high=0.5))
def test_tables_equal_their_laws(betas: np.ndarray) -> None:
    schedule = NoiseSchedule.from_betas(betas)
    bars = spec.alpha_bars(betas)
    assert schedule.num_timesteps == betas.shape[0]
    assert schedule.dtype == torch.float64
    exact = {
        "betas": betas,
        "alphas": 1.0 - betas,
        "alpha_bars": bars,
        "alpha_bars_prev": np.concatenate([[1.0], bars[:-1]]),
    }
    for name, expected in exact.items():
        assert np.array_equal(getattr(schedule, name).numpy(), expected), name
    computed = {
        "sqrt_alpha_bars": np.sqrt(bars),
        "sqrt_one_minus_alpha_bars": np.sqrt(1.0 - bars),
        **posterior_from_spec(bars),
    }
    for name, expected in computed.items():
        assert_close_to_spec(getattr(schedule, name), expected, "elementwise")


@pytest.mark.spec("SAMP-1")
def test_named_constructors_are_from_betas_of_their_schedule_laws() -> None:
    pairs = [
        (NoiseSchedule.linear(50, 1e-3, 0.1), spec.linear_betas(50, 1e-3, 0.1)),
        (NoiseSchedule.cosine(50), spec.cosine_betas(50)),
        (NoiseSchedule.sigmoid(50, -2.0, 4.0, 0.7), spec.sigmoid_betas(50, -2.0, 4.0, 0.7)),
    ]
    for schedule, betas in pairs:
        reference = NoiseSchedule.from_betas(betas)
        for name in ("betas", "alpha_bars", "posterior_variance", "posterior_mean_xt_coef"):
            assert torch.equal(getattr(schedule, name), getattr(reference, name)), name
    assert NoiseSchedule.linear().num_timesteps == 1000


@pytest.mark.spec("SAMP-1")
def test_to_returns_a_rounded_copy_on_the_device(device: str) -> None:
    schedule = NoiseSchedule.cosine(20)
    cast = schedule.to(device, torch.float32)
    assert cast.device.type == device and cast.dtype == torch.float32
    assert schedule.dtype == torch.float64  # the original is untouched (frozen)
    assert torch.equal(cast.posterior_variance.cpu(), schedule.posterior_variance.float())
    with pytest.raises(AttributeError):
        schedule.betas = cast.betas  # type: ignore[misc]


@pytest.mark.spec("SAMP-1")
def test_invalid_schedules_are_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="betas must be in"):
        NoiseSchedule.from_betas(np.array([0.1, 0.0]))
    with pytest.raises(ValueError, match="same shape"):
        schedule = NoiseSchedule.linear(4)
        NoiseSchedule(**{**vars(schedule), "betas": schedule.betas[:3]})


@pytest.mark.spec("SAMP-1")
def test_owning_module_moves_the_schedule_but_keeps_it_float64(device: str) -> None:
    owner = ModuleWithSchedule(NoiseSchedule.linear(10).to(dtype=torch.float32))
    assert owner.schedule.dtype == torch.float64
    owner.half()
    assert owner.schedule.dtype == torch.float64
    owner.to(device)
    assert owner.schedule.device.type == device
