"""The torch likelihood equals the spec (LIK-1, LIK-3 … LIK-5), bounds the NLL with the exact
oracle (LIK-6), and bits_per_dim is the bound or its unbiased stratified estimate (LIK-7), the
sum of the per-timestep terms vlb_terms returns (LIK-12)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from specdiff import spec
from specdiff.diffusion import (
    Diffusion,
    NoiseSchedule,
    bits_per_dim,
    discretized_gaussian_log_likelihood,
    normal_kl,
    prior_bpd,
    vlb_term,
    vlb_terms,
)
from specdiff.spec.likelihood import _standard_normal_cdf
from specdiff.testing import (
    ConvertedPrediction,
    GaussianOracle,
    alpha_bar_arrays,
    as_tensor,
    assert_close_to_spec,
    batched_timesteps,
    eps_batches,
    image_batches,
    nchw_shapes,
    timesteps,
    to_spec_array,
    twin_eps_models,
)

GRID = np.arange(256) / 127.5 - 1.0


@pytest.mark.spec("LIK-1")
@given(values=hnp.arrays(np.float64, (4, 5), elements=st.floats(-12.0, 12.0)))
def test_normal_kl_equals_spec(values: np.ndarray, device: str, dtype: torch.dtype) -> None:
    m1, lv1, m2, lv2 = (as_tensor(row, device, dtype) for row in values)
    actual = normal_kl(m1, lv1, m2, lv2)
    assert actual.dtype == torch.float64
    expected = spec.normal_kl(to_spec_array(m1), to_spec_array(lv1), to_spec_array(m2),
                              to_spec_array(lv2))
    assert_close_to_spec(actual, expected, "elementwise")


@st.composite
def decoder_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x on the grid, means, per-example log-scales of shape (batch, 1, 1, 1))."""
    shape = tuple(draw(nchw_shapes()))
    x = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from(list(GRID))))
    log_scales = draw(hnp.arrays(np.float64, (shape[0], 1, 1, 1), elements=st.floats(-8.0, 3.0)))
    return x, draw(eps_batches(shape, bound=2.0)), log_scales


@pytest.mark.spec("LIK-3")
@given(case=decoder_cases())
def test_discretized_gaussian_log_likelihood_equals_spec(
    case: tuple[np.ndarray, np.ndarray, np.ndarray], device: str, dtype: torch.dtype
) -> None:
    x, means, log_scales = (as_tensor(array, device, dtype) for array in case)
    actual = discretized_gaussian_log_likelihood(x, means, log_scales)
    expected = spec.discretized_gaussian_log_likelihood(to_spec_array(x), to_spec_array(means),
                                                        to_spec_array(log_scales))
    assert_close_to_spec(actual, expected, "elementwise",
                         scale=decoder_scale(to_spec_array(x), to_spec_array(means),
                                             to_spec_array(log_scales), expected))


def decoder_scale(x: np.ndarray, means: np.ndarray, log_scales: np.ndarray | float,
                  log_p: np.ndarray) -> np.ndarray:
    """log(Φ_hi − Φ_lo) amplifies the Φ terms' rounding by (larger term)/(difference): with the
    upper-tail form for bins above the mean, the larger term is Φ(−lo) there and Φ(hi) below."""
    inverse_scale = np.exp(-np.asarray(log_scales))
    low = inverse_scale * (x - means - 1 / 255)
    high = inverse_scale * (x - means + 1 / 255)
    larger = np.where(low > 0, _standard_normal_cdf(-low), _standard_normal_cdf(high))
    return np.asarray(1.0 + larger / np.exp(log_p))


@pytest.mark.spec("LIK-11")
@given(values=st.lists(st.floats(-5.0, 5.0), min_size=4, max_size=4),
       log_scale=st.floats(-8.0, 3.0), mean=st.floats(-2.0, 2.0))
def test_float_arguments_are_not_rounded_through_float32(values: list[float], log_scale: float,
                                                         mean: float, device: str) -> None:
    m1, lv1, m2, lv2 = values
    assert_close_to_spec(normal_kl(m1, lv1, m2, lv2), spec.normal_kl(m1, lv1, m2, lv2),
                         "elementwise", dtype="float64")
    means = np.full(256, mean)
    actual = discretized_gaussian_log_likelihood(torch.from_numpy(GRID).to(device),
                                                 torch.from_numpy(means).to(device), log_scale)
    expected = spec.discretized_gaussian_log_likelihood(GRID, means, log_scale)
    assert_close_to_spec(actual, expected, "elementwise",
                         scale=decoder_scale(GRID, means, log_scale, expected))


@pytest.mark.spec("LIK-4")
@given(bars=alpha_bar_arrays(), shape=nchw_shapes(), data=st.data())
def test_prior_bpd_equals_spec(bars: np.ndarray, shape: tuple[int, ...], data: st.DataObject,
                               device: str, dtype: torch.dtype) -> None:
    x0 = as_tensor(data.draw(image_batches(tuple(shape))), device, dtype)
    actual = prior_bpd(torch.as_tensor(bars, device=device), x0)
    assert_close_to_spec(actual, spec.prior_bpd(bars, to_spec_array(x0)), "reduction")


@st.composite
def vlb_cases(draw: st.DrawFn) -> tuple[np.ndarray, int | np.ndarray, np.ndarray, np.ndarray,
                                        np.ndarray]:
    """(ᾱ table, t as one int or one per example, x0, x_t, ε̂): x_t noised from x0 as in use."""
    bars = draw(alpha_bar_arrays())
    shape = tuple(draw(nchw_shapes()))
    T, batch = bars.shape[0], shape[0]
    t = draw(st.one_of(timesteps(T), batched_timesteps(T, batch)))
    x0, eps = draw(image_batches(shape)), draw(eps_batches(shape))
    x_t, _ = spec.noised_sample_from_eps(bars, x0, eps, t)
    return bars, t, x0, x_t, eps + draw(eps_batches(shape, bound=0.5))


@pytest.mark.spec("LIK-5")
@given(case=vlb_cases(), clip=st.booleans(),
       variance=st.sampled_from(["fixed_small", "fixed_large"]))
def test_vlb_term_equals_spec(case: tuple, clip: bool, variance: str, device: str,
                              dtype: torch.dtype) -> None:
    bars, t, *arrays = case
    x0, x_t, eps_hat = (as_tensor(array, device, dtype) for array in arrays)
    steps = t if isinstance(t, int) else torch.from_numpy(t).to(device)
    actual = vlb_term(torch.as_tensor(bars, device=device), steps, x0, x_t, eps_hat, clip,
                      variance)  # type: ignore[arg-type]
    expected = spec.vlb_term(bars, t, to_spec_array(x0), to_spec_array(x_t),
                             to_spec_array(eps_hat), clip, variance)  # type: ignore[arg-type]
    # KL = (Δμ)²/(2σ²) amplifies the means' rounding u·|μ| by |Δμ|/σ²; μ_θ carries x̂0's 1/√ᾱ.
    alpha = bars[t].reshape(-1, *(1,) * (x0.ndim - 1)) if np.ndim(t) else bars[t]
    amplification = 1.0 + ((np.abs(to_spec_array(x_t)) + np.abs(to_spec_array(eps_hat)))
                           / np.sqrt(alpha))
    model_x0 = spec.predict_x0(bars[t], to_spec_array(x_t), to_spec_array(eps_hat))
    model_x0 = np.clip(model_x0, -1, 1) if clip else model_x0
    gap = np.abs(model_x0 - to_spec_array(x0)) * amplification
    variance_floor = np.exp(spec.ddpm_posterior(bars, t, to_spec_array(x0), to_spec_array(x_t))[2])
    floor = variance_floor.reshape(-1, *(1,) * (x0.ndim - 1)) if np.ndim(t) else variance_floor
    scale = 1.0 + (gap / floor).reshape(x0.shape[0], -1).mean(axis=1)
    assert_close_to_spec(actual, expected, "reduction", scale=scale)


def discretized_gaussian_data(mean: float, std: float, n: int, seed: int
                              ) -> tuple[torch.Tensor, float]:
    """n draws of N(mean, std²) quantized to the grid, and the entropy of that pmf in bits.

    Quantizing (IMG-1) puts x in the bin [x_v ± 1/255] (edges to ±∞), so the pmf is exactly
    the decoder of LIK-3 with that mean and scale."""
    pmf = np.exp(spec.discretized_gaussian_log_likelihood(GRID, np.full(256, mean),
                                                          math.log(std)))
    entropy = float(-(pmf * np.log2(pmf)).sum())
    values = np.random.default_rng(seed).normal(mean, std, (n, 1))
    x0 = spec.quantize_uint8(values).astype(np.float64) / 127.5 - 1.0
    return torch.from_numpy(x0), entropy


@pytest.mark.spec("LIK-6")
@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
def test_bound_with_the_exact_oracle_is_above_the_entropy_and_tight(variance: str) -> None:
    n, mean, std = 2000, 0.1, 0.25
    x0, entropy = discretized_gaussian_data(mean, std, n, seed=0)
    schedule = NoiseSchedule.linear(1000)
    diffusion = Diffusion(GaussianOracle(schedule, mean, std), schedule)
    bpd = bits_per_dim(diffusion, x0, generator=torch.Generator().manual_seed(0),
                       variance=variance)  # type: ignore[arg-type]
    standard_error = float(bpd.std()) / math.sqrt(n)
    gap = float(bpd.mean()) - entropy
    assert gap >= -6.0 * standard_error, (gap, standard_error)
    assert gap <= 1.0 + 6.0 * standard_error, (gap, standard_error)


def replayed_bound(diffusion: Diffusion, x0: torch.Tensor, seed: int) -> np.ndarray:
    """LIK-7 by hand: the spec's prior plus every spec L_t on the draws bits_per_dim makes."""
    generator = torch.Generator().manual_seed(seed)
    bars = diffusion.schedule.alpha_bars.numpy()
    total = spec.prior_bpd(bars, to_spec_array(x0))
    for t in range(diffusion.num_timesteps):
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        x_t = spec.noised_sample_from_eps(bars, to_spec_array(x0), to_spec_array(eps), t)[0]
        steps = torch.full((x0.shape[0],), t)
        output = diffusion(torch.from_numpy(x_t).to(x0.dtype), steps)
        total = total + spec.vlb_term(bars, t, to_spec_array(x0), x_t, to_spec_array(output), True,
                                      prediction_type=diffusion.prediction_type)
    return total


@pytest.mark.spec("LIK-7")
def test_bits_per_dim_is_the_prior_plus_every_spec_term() -> None:
    schedule = NoiseSchedule.linear(8, 1e-3, 0.2)
    diffusion = Diffusion(GaussianOracle(schedule, 0.0, 0.5), schedule)
    x0, _ = discretized_gaussian_data(0.0, 0.5, 6, seed=1)
    x0 = x0.reshape(3, 1, 1, 2)
    full = bits_per_dim(diffusion, x0, generator=torch.Generator().manual_seed(3))
    assert_close_to_spec(full, replayed_bound(diffusion, x0, seed=3), "network")
    # K = T strata of one timestep each draw no t: the same draws, bit for bit.
    strata = bits_per_dim(diffusion, x0, generator=torch.Generator().manual_seed(3), timesteps=8)
    assert torch.equal(full, strata)


@pytest.mark.spec("LIK-12")
def test_vlb_terms_are_the_spec_terms_on_the_replayed_draws_and_sum_to_bits_per_dim() -> None:
    schedule = NoiseSchedule.linear(8, 1e-3, 0.2)
    diffusion = Diffusion(GaussianOracle(schedule, 0.0, 0.5), schedule)
    x0, _ = discretized_gaussian_data(0.0, 0.5, 6, seed=4)
    x0 = x0.reshape(3, 1, 1, 2)
    pieces = vlb_terms(diffusion, x0, generator=torch.Generator().manual_seed(5), timesteps=3)
    # array_split of 0..7 into 3: {0, 1, 2}, {3, 4, 5}, {6, 7}; replay each stratum's draws.
    generator, bars = torch.Generator().manual_seed(5), schedule.alpha_bars.numpy()
    assert pieces.stratum_sizes == [3, 3, 2]
    for k, (first, size) in enumerate([(0, 3), (3, 3), (6, 2)]):
        t = first + torch.randint(0, size, (3,), generator=generator)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        assert torch.equal(pieces.timesteps[:, k], t)
        expected = []
        for row in range(3):
            one_t, one_x0 = int(t[row]), to_spec_array(x0[row:row + 1])
            x_t = spec.noised_sample_from_eps(bars, one_x0, to_spec_array(eps[row:row + 1]),
                                              one_t)[0]
            output = diffusion(torch.from_numpy(x_t), torch.tensor([one_t]))
            expected.append(spec.vlb_term(bars, one_t, one_x0, x_t, to_spec_array(output),
                                          True)[0])
        assert_close_to_spec(pieces.terms[:, k], np.array(expected), "network")
    assert_close_to_spec(pieces.prior, spec.prior_bpd(bars, to_spec_array(x0)), "network")
    total = bits_per_dim(diffusion, x0, generator=torch.Generator().manual_seed(5), timesteps=3)
    by_hand = pieces.prior + 3 * pieces.terms[:, 0] + 3 * pieces.terms[:, 1]
    assert torch.equal(total, by_hand + 2 * pieces.terms[:, 2])


@pytest.mark.spec("LIK-7")
def test_stratified_estimate_is_unbiased() -> None:
    n, T = 4000, 40
    schedule = NoiseSchedule.linear(T, 1e-3, 0.2)
    diffusion = Diffusion(GaussianOracle(schedule, 0.0, 0.3), schedule)
    x0, _ = discretized_gaussian_data(0.0, 0.3, n, seed=2)
    full = bits_per_dim(diffusion, x0, generator=torch.Generator().manual_seed(0))
    estimate = bits_per_dim(diffusion, x0, generator=torch.Generator().manual_seed(1),
                            timesteps=6)
    # Independent draws on the same x0: the difference of means has variance (s_f² + s_e²)/n.
    standard_error = math.sqrt((float(full.var()) + float(estimate.var())) / n)
    assert abs(float(full.mean() - estimate.mean())) <= 6.0 * standard_error


class TanhNet(nn.Module):
    """A fixed nonlinear network of (x_t, t) (twin_eps_models' torch function), read as a v-model
    below; float64 in, float64 out."""

    def __init__(self, T: int) -> None:
        super().__init__()
        self.function = twin_eps_models(T, amplitude=0.7)[0]

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.function(x_t, t)


def one_model_three_ways(schedule: NoiseSchedule) -> dict[str, Diffusion]:
    """One v-network and the ε- and x0-models it implies (PARAM-2), each as a Diffusion."""
    v_net = TanhNet(schedule.num_timesteps)
    kinds = ["v_prediction", "sample"] + ([] if schedule.has_zero_terminal_snr else ["epsilon"])
    return {kind: Diffusion(ConvertedPrediction(v_net, schedule, "v_prediction", kind),  # type: ignore[arg-type]
                            schedule, kind) for kind in kinds}  # type: ignore[arg-type]


@pytest.mark.spec("LIK-9")
@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
def test_bits_per_dim_is_one_bound_for_every_parameterization(variance: str) -> None:
    schedule = NoiseSchedule.linear(30, 1e-3, 0.2)
    x0 = discretized_gaussian_data(0.1, 0.4, 12, seed=4)[0].reshape(3, 1, 2, 2)
    bounds = {kind: bits_per_dim(diffusion, x0, generator=torch.Generator().manual_seed(5),
                                 variance=variance)  # type: ignore[arg-type]
              for kind, diffusion in one_model_three_ways(schedule).items()}
    # The same draws (one seed) give the same x_t; x̂0 differs only by the rounding of the
    # conversions (a division by √ᾱ_t for the ε-model): float64 network tolerance.
    for kind in ("epsilon", "sample"):
        assert_close_to_spec(bounds[kind], bounds["v_prediction"].numpy(), "network")


@pytest.mark.spec("LIK-10", "LIK-7")
def test_a_zero_terminal_snr_run_is_scored() -> None:
    betas = spec.linear_betas(12, 1e-3, 0.2)
    schedule = NoiseSchedule.rescaled_to_zero_terminal_snr(betas)
    x0 = discretized_gaussian_data(0.0, 0.5, 8, seed=6)[0].reshape(2, 1, 2, 2)
    models = one_model_three_ways(schedule)
    bounds = {kind: bits_per_dim(diffusion, x0, generator=torch.Generator().manual_seed(7))
              for kind, diffusion in models.items()}
    assert torch.all(torch.isfinite(bounds["v_prediction"]))
    assert_close_to_spec(bounds["v_prediction"],
                         replayed_bound(models["v_prediction"], x0, seed=7), "network")
    assert_close_to_spec(bounds["sample"], bounds["v_prediction"].numpy(), "network")


@pytest.mark.spec("LIK-4", "LIK-7", "LIK-8")
def test_an_empty_batch_has_an_empty_bound_and_an_empty_example_is_refused() -> None:
    schedule = NoiseSchedule.linear(4)
    calls: list[torch.Tensor] = []

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        calls.append(t)
        return x_t

    diffusion = Diffusion(TanhNet(4), schedule)
    diffusion.model.forward = model  # type: ignore[method-assign]
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    empty = torch.zeros(0, 1, 2, 2)
    assert prior_bpd(schedule.alpha_bars, empty).shape == (0,)
    bound = bits_per_dim(diffusion, empty, generator=generator)
    assert bound.shape == (0,) and bound.dtype == torch.float64
    assert not calls and torch.equal(generator.get_state(), state)  # no model call, no draw
    no_pixels = torch.zeros(2, 1, 0, 2)
    for call in (lambda: prior_bpd(schedule.alpha_bars, no_pixels),
                 lambda: bits_per_dim(diffusion, no_pixels, generator=generator)):
        with pytest.raises(ValueError, match=r"^x0 must have at least one element per example"):
            call()


@pytest.mark.spec("LIK-8")
def test_bits_per_dim_validates_its_arguments() -> None:
    schedule = NoiseSchedule.linear(4)
    diffusion = Diffusion(GaussianOracle(schedule, 0.0, 1.0), schedule)
    x0 = torch.zeros(2, 1, 2, 2)
    generator = torch.Generator()
    with pytest.raises(ValueError, match=r"timesteps must be in \[1, T\] = \[1, 4\], got 5"):
        bits_per_dim(diffusion, x0, generator=generator, timesteps=5)
    with pytest.raises(ValueError, match="timesteps must be an int >= 1, got 0"):
        bits_per_dim(diffusion, x0, generator=generator, timesteps=0)
    with pytest.raises(ValueError, match="x0 must be in"):
        bits_per_dim(diffusion, x0 + 2.0, generator=generator)
