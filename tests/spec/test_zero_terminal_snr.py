"""Zero terminal SNR (SCHED-7, SCHED-8) and Karras timesteps (TS-5)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from specdiff import spec
from specdiff.diffusion import NoiseSchedule
from specdiff.spec.schedules import alpha_bars_zero_terminal_snr, rescale_zero_terminal_snr
from specdiff.spec.timesteps import karras_timesteps
from specdiff.testing import assert_close_to_spec, linear_schedules


@pytest.mark.spec("SCHED-7")
@given(schedule=linear_schedules(max_T=400, max_beta=0.3).filter(lambda s: s.T >= 2))
def test_rescale_reaches_zero_keeps_the_first_and_is_affine_in_sqrt_alpha_bar(schedule) -> None:  # type: ignore[no-untyped-def]
    betas = spec.linear_betas(*schedule)
    bars = spec.alpha_bars(betas)
    rescaled = rescale_zero_terminal_snr(betas)
    assert rescaled.shape == betas.shape and rescaled[-1] == 1.0
    assert np.all((rescaled[:-1] > 0.0) & (rescaled[:-1] < 1.0))
    new_bars = alpha_bars_zero_terminal_snr(rescaled)
    assert new_bars[-1] == 0.0
    assert_close_to_spec(np.sqrt(new_bars[0]), np.sqrt(bars[0]), "elementwise")
    roots = np.sqrt(bars)
    affine = (roots - roots[-1]) * roots[0] / (roots[0] - roots[-1])
    assert_close_to_spec(np.sqrt(new_bars), affine, "reduction")


@pytest.mark.spec("SCHED-7")
def test_rescale_rejects_schedules_it_cannot_rescale() -> None:
    with pytest.raises(ValueError, match="T >= 2"):
        rescale_zero_terminal_snr(np.array([0.1]))
    with pytest.raises(ValueError, match="betas"):
        rescale_zero_terminal_snr(np.array([0.1, 1.0]))


@pytest.mark.spec("SCHED-8")
def test_only_a_final_beta_of_one_reaches_zero_and_the_schedule_tables_stay_finite() -> None:
    betas = rescale_zero_terminal_snr(spec.linear_betas(50, 1e-3, 0.2))
    bars = alpha_bars_zero_terminal_snr(betas)
    assert np.array_equal(bars[:-1], spec.alpha_bars(betas[:-1])) and bars[-1] == 0.0
    with pytest.raises(ValueError, match="end with"):
        alpha_bars_zero_terminal_snr(spec.linear_betas(50, 1e-3, 0.2))
    with pytest.raises(ValueError, match="betas"):
        spec.alpha_bars(betas)  # SCHED-2's domain is unchanged: β = 1 is refused there
    schedule = NoiseSchedule.rescaled_to_zero_terminal_snr(spec.linear_betas(50, 1e-3, 0.2))
    assert schedule.has_zero_terminal_snr and not NoiseSchedule.linear(50).has_zero_terminal_snr
    assert torch.equal(schedule.alpha_bars, torch.from_numpy(bars))
    for table in ("posterior_variance", "posterior_mean_x0_coef", "posterior_mean_xt_coef",
                  "posterior_log_variance_clipped"):
        assert bool(torch.isfinite(getattr(schedule, table)).all()), table
    # At T−1 the posterior is q(x_{T−2} | x0): mean √ᾱ_{T−2}·x0, variance 1 − ᾱ_{T−2}.
    assert float(schedule.posterior_mean_xt_coef[-1]) == 0.0
    assert_close_to_spec(schedule.posterior_mean_x0_coef[-1], np.sqrt(bars[-2]), "elementwise")
    assert_close_to_spec(schedule.posterior_variance[-1], 1.0 - bars[-2], "elementwise")


@pytest.mark.spec("TS-5")
@given(T=st.integers(2, 1000), data=st.data())
def test_karras_timesteps_are_decreasing_distinct_and_span_the_schedule(
    T: int, data: st.DataObject
) -> None:
    n = data.draw(st.integers(2, T))
    bars = spec.alpha_bars_linear(T, 1e-4, 0.02 if T > 1 else 1e-4)
    steps = karras_timesteps(bars, n)
    assert steps[0] == T - 1 and steps[-1] == 0 and len(steps) <= n
    assert np.all(np.diff(steps) < 0)
    sigma = np.sqrt((1 - bars) / bars)
    rho, ramp = 7.0, np.arange(n) / (n - 1)
    high, low = sigma[-1] ** (1 / rho), sigma[0] ** (1 / rho)
    karras = (high + ramp * (low - high)) ** rho
    interpolated = np.interp(np.log(karras), np.log(sigma), np.arange(T))
    assert list(steps) == list(dict.fromkeys(np.floor(interpolated + 0.5).astype(int)))


@pytest.mark.spec("TS-5")
def test_karras_timesteps_name_neighbouring_alpha_bars_whose_log_sigmas_round_equal() -> None:
    # 1e-4 and the next float above it decrease strictly, but their log σ ≈ 4.6 round to one
    # float: the interpolation cannot tell t = 2 from t = 3 (σ_max could map to 2, not T − 1).
    # The domain excludes such tables, and the message must say why, not "not decreasing".
    bars = np.array([0.9, 0.5, 1.0000000000000002e-4, 1e-4])
    with pytest.raises(ValueError, match=r"log sigma .* strictly increasing in float64 .* t = 2"):
        karras_timesteps(bars, 3)
    with pytest.raises(ValueError, match="alpha_bars must be strictly decreasing"):
        karras_timesteps(np.array([0.9, 0.5, 0.5, 0.1]), 3)


@pytest.mark.spec("TS-5")
def test_karras_timesteps_reject_bad_arguments() -> None:
    bars = spec.alpha_bars_linear(10)
    with pytest.raises(ValueError, match="num_steps"):
        karras_timesteps(bars, 11)
    with pytest.raises(ValueError, match="alpha_bars"):
        karras_timesteps(np.append(bars[:-1], 0.0), 5)
