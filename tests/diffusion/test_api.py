"""Diffusion: noising (FWD-1), the loss and its draws (SAMP-8), generation (SAMP-2, SAMP-9),
watching the sampling path (SAMP-12)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import specdiff
from specdiff import spec
from specdiff.diffusion import Diffusion, NoiseSchedule, sample_ddim
from specdiff.diffusion.api import SAMPLERS
from specdiff.diffusion.guidance import GuidedModel
from specdiff.nn import EpsConvNet, EpsConvNetConfig
from specdiff.testing import (
    GaussianOracle,
    assert_close_to_spec,
    batched_timesteps,
    eps_batches,
    image_batches,
)

STANDARD_ERRORS = 6.0  # statistical laws: k = 6 (specs/README.md)


class TinyEpsNet(nn.Module):
    """ε̂ = tanh(w·x + b·t/T): a trainable, t-dependent stand-in for a real eps-net."""

    def __init__(self, T: int) -> None:
        super().__init__()
        self.T = T
        self.weight = nn.Parameter(torch.tensor(0.5))
        self.bias = nn.Parameter(torch.tensor(0.1))
        self.seen_t: list[torch.Tensor] = []

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.seen_t.append(t)
        t_norm = t.to(x_t.dtype).reshape(-1, *(1,) * (x_t.ndim - 1)) / self.T
        return torch.tanh(self.weight * x_t + self.bias * t_norm)


def make_diffusion(T: int = 20) -> Diffusion:
    return Diffusion(TinyEpsNet(T), NoiseSchedule.linear(T, 1e-3, 0.2))


def test_diffusion_and_noise_schedule_are_exported_at_the_top() -> None:
    assert specdiff.Diffusion is Diffusion and specdiff.NoiseSchedule is NoiseSchedule


@pytest.mark.spec("FWD-1")
def test_add_noise_is_the_forward_law_on_the_generators_draw(device: str) -> None:
    diffusion = make_diffusion().to(device)
    x0 = torch.linspace(-1, 1, 8, device=device).reshape(2, 1, 2, 2)
    t = torch.tensor([0, 19], device=device)
    x_t, eps = diffusion.add_noise(x0, t, generator=torch.Generator(device).manual_seed(5))
    assert torch.equal(eps, torch.randn(x0.shape, device=device,
                                        generator=torch.Generator(device).manual_seed(5)))
    expected, _ = spec.noised_sample_from_eps(spec.alpha_bars_linear(20, 1e-3, 0.2),
                                              x0.double().cpu().numpy(),
                                              eps.double().cpu().numpy(), t.cpu().numpy())
    assert_close_to_spec(x_t, expected, "elementwise", scale=1 + eps.abs().cpu().numpy())


@pytest.mark.spec("SAMP-8")
@given(data=st.data())
def test_loss_is_the_mean_squared_noise_error_of_the_forward_law(data: st.DataObject) -> None:
    shape = (3, 1, 2, 2)
    x0 = data.draw(image_batches(shape))
    eps = data.draw(eps_batches(shape))
    t = data.draw(batched_timesteps(20, 3))
    diffusion = make_diffusion().double()
    loss = diffusion.compute_loss(torch.from_numpy(x0), t=torch.from_numpy(t),
                                  eps=torch.from_numpy(eps))
    x_t, _ = spec.noised_sample_from_eps(spec.alpha_bars_linear(20, 1e-3, 0.2), x0, eps, t)
    with torch.no_grad():
        eps_hat = diffusion.model(torch.from_numpy(x_t), torch.from_numpy(t)).numpy()
    assert_close_to_spec(loss.detach(), np.mean((eps - eps_hat) ** 2), "reduction")


@pytest.mark.spec("PARAM-6")
@given(data=st.data(), prediction_type=st.sampled_from(["epsilon", "sample", "v_prediction"]),
       gamma=st.one_of(st.sampled_from([1e-6, 1.0, 1e6]), st.floats(1e-6, 1e6)))
def test_min_snr_loss_is_the_mean_clipped_snr_times_the_x0_error(
        data: st.DataObject, prediction_type: str, gamma: float) -> None:
    # Whatever the model predicts, the weighted loss is mean_i min(SNR_i, γ)·mean((x0 − x̂0)²)
    # with x̂0 read from its output by PARAM-2: the statement, not the weight function.
    shape = (3, 1, 2, 2)
    x0, eps = data.draw(image_batches(shape)), data.draw(eps_batches(shape))
    t = data.draw(batched_timesteps(20, 3))
    diffusion = Diffusion(TinyEpsNet(20), NoiseSchedule.linear(20, 1e-3, 0.2),
                          prediction_type).double()  # type: ignore[arg-type]
    loss = diffusion.compute_loss(torch.from_numpy(x0), t=torch.from_numpy(t),
                                  eps=torch.from_numpy(eps), min_snr_gamma=gamma)
    alpha_bar = spec.alpha_bars_linear(20, 1e-3, 0.2)[t]
    x_t, _ = spec.noised_sample_from_eps(spec.alpha_bars_linear(20, 1e-3, 0.2), x0, eps, t)
    with torch.no_grad():
        output = diffusion.model(torch.from_numpy(x_t), torch.from_numpy(t)).numpy()
    x0_hat, _ = spec.split_prediction(alpha_bar, x_t, output, prediction_type)  # type: ignore[arg-type]
    clipped_snr = np.minimum(alpha_bar / (1.0 - alpha_bar), gamma)
    expected = np.mean(clipped_snr * ((x0 - x0_hat) ** 2).reshape(3, -1).mean(axis=1))
    assert_close_to_spec(loss.detach(), expected, "reduction")


@pytest.mark.spec("PARAM-5")
def test_compute_loss_rejects_a_bad_gamma_before_calling_the_model() -> None:
    diffusion = make_diffusion()
    for gamma in (0.0, float("inf")):
        with pytest.raises(ValueError, match="min_snr_gamma must be"):
            diffusion.compute_loss(torch.zeros(2, 1), min_snr_gamma=gamma)
    assert diffusion.model.seen_t == []


@pytest.mark.spec("SAMP-8")
def test_loss_draws_t_uniformly_then_eps_from_the_generator() -> None:
    T, n = 10, 20_000
    diffusion = make_diffusion(T)
    x0 = torch.zeros(n, 1)
    loss = diffusion.compute_loss(x0, generator=torch.Generator().manual_seed(3))
    t = diffusion.model.seen_t[-1]
    generator = torch.Generator().manual_seed(3)
    assert torch.equal(t, torch.randint(0, T, (n,), generator=generator))
    eps = torch.randn(x0.shape, generator=generator)
    explicit = diffusion.compute_loss(x0, t=t, eps=eps)
    assert torch.equal(loss, explicit)
    counts = torch.bincount(t, minlength=T).double().numpy()
    p = 1.0 / T
    assert np.all(np.abs(counts / n - p) <= STANDARD_ERRORS * np.sqrt(p * (1 - p) / n)), counts


def test_train_step_takes_one_optimizer_step_on_the_loss() -> None:
    diffusion = make_diffusion()
    optimizer = torch.optim.SGD(diffusion.parameters(), lr=0.1)
    x0 = torch.linspace(-1, 1, 8).reshape(2, 1, 2, 2)
    before = diffusion.compute_loss(x0, generator=torch.Generator().manual_seed(1))
    weight = float(diffusion.model.weight)
    reported = diffusion.train_step(x0, optimizer, generator=torch.Generator().manual_seed(1))
    assert reported == float(before)
    assert float(diffusion.model.weight) != weight


@pytest.mark.spec("SAMP-9")
def test_generate_is_reproducible_from_its_seed_on_the_modules_device_and_dtype(
    device: str,
) -> None:
    diffusion = make_diffusion().to(device).double()
    assert diffusion.schedule.device.type == device
    first = diffusion.generate((2, 1, 2, 2), steps=5, eta=1.0, seed=4)
    assert first.device.type == device and first.dtype == torch.float64
    assert torch.equal(first, diffusion.sample((2, 1, 2, 2), steps=5, eta=1.0, seed=4))
    assert not torch.equal(first, diffusion.generate((2, 1, 2, 2), steps=5, eta=1.0, seed=5))
    ddpm = diffusion.generate((2, 1, 2, 2), sampler="ddpm", seed=4)
    assert torch.equal(ddpm, diffusion.generate((2, 1, 2, 2), sampler="ddpm", seed=4))


@pytest.mark.spec("SAMP-2")
def test_generate_with_ddim_is_sample_ddim_with_a_seeded_generator() -> None:
    diffusion = make_diffusion()
    expected = sample_ddim(diffusion, diffusion.schedule, (2, 1, 2, 2), steps=7,
                           generator=torch.Generator().manual_seed(9))
    assert torch.equal(diffusion.generate((2, 1, 2, 2), steps=7, seed=9), expected)


class PathRecord:
    """A watcher that keeps what it sees, then scribbles over the tensors it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, torch.Tensor, torch.Tensor]] = []

    def __call__(self, call: int, t: int, x_t: torch.Tensor, x0_hat: torch.Tensor) -> None:
        self.seen.append((call, t, x_t.clone(), x0_hat.clone()))
        x_t.fill_(7.0)  # a careless watcher must not change the samples
        x0_hat.fill_(7.0)


@pytest.mark.spec("SAMP-12")
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_watching_the_path_changes_no_sample_and_sees_each_calls_x0_hat(sampler: str) -> None:
    diffusion = make_diffusion()
    settings = {"steps": None if sampler == "ddpm" else 4, "eta": 0.5, "seed": 3}
    plain = diffusion.generate((2, 1, 2, 2), sampler=sampler, **settings)  # type: ignore[arg-type]
    diffusion.model.seen_t.clear()
    record = PathRecord()
    watched = diffusion.generate((2, 1, 2, 2), sampler=sampler, watch=record,
                                 **settings)  # type: ignore[arg-type]
    assert torch.equal(watched, plain)
    called_with = [int(t[0]) for t in diffusion.model.seen_t]
    assert [(call, t) for call, t, _, _ in record.seen] == list(enumerate(called_with))
    bars = spec.alpha_bars_linear(20, 1e-3, 0.2)
    for _, t, x_t, x0_hat in record.seen:
        with torch.no_grad():
            output = diffusion.model(x_t, torch.full((2,), t))
        expected, _ = spec.split_prediction(float(bars[t]), x_t.double().numpy(),
                                            output.double().numpy(), "epsilon")
        assert_close_to_spec(x0_hat, expected, "elementwise")


@pytest.mark.spec("SAMP-12")
@pytest.mark.parametrize("prediction_type", ["sample", "v_prediction"])
def test_the_watcher_reads_x0_hat_by_the_prediction_type(prediction_type: str) -> None:
    diffusion = Diffusion(TinyEpsNet(20), NoiseSchedule.linear(20, 1e-3, 0.2),
                          prediction_type)  # type: ignore[arg-type]
    record = PathRecord()
    plain = diffusion.generate((2, 1, 2, 2), steps=3, seed=1)
    assert torch.equal(diffusion.generate((2, 1, 2, 2), steps=3, seed=1, watch=record), plain)
    assert [t for _, t, _, _ in record.seen] == [int(t) for t in spec.ddim_timesteps(20, 3)]
    bars = spec.alpha_bars_linear(20, 1e-3, 0.2)
    for _, t, x_t, x0_hat in record.seen:
        with torch.no_grad():
            output = diffusion.model(x_t, torch.full((2,), t))
        expected, _ = spec.split_prediction(float(bars[t]), x_t.double().numpy(),
                                            output.double().numpy(), prediction_type)
        assert_close_to_spec(x0_hat, expected, "elementwise")


@pytest.mark.spec("SAMP-2")
def test_generate_rejects_steps_for_ddpm_and_unknown_samplers() -> None:
    diffusion = make_diffusion()
    with pytest.raises(ValueError, match="steps must be None or T = 20"):
        diffusion.generate((1, 1, 2, 2), sampler="ddpm", steps=10)
    with pytest.raises(ValueError, match=r"steps must be in \(0, T\] = \(0, 20\]"):
        diffusion.generate((1, 1, 2, 2), steps=21)
    with pytest.raises(ValueError, match="sampler must be"):
        diffusion.generate((1, 1, 2, 2), sampler="no_such_sampler")  # type: ignore[arg-type]


@pytest.mark.spec("FWD-6", "SAMP-8")
@pytest.mark.parametrize("checks", [True, False], ids=["checks-on", "checks-off"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_images_are_refused_by_name(bad: float, checks: bool) -> None:
    diffusion = make_diffusion()
    good = torch.zeros(2, 1, 2, 2)
    broken = good.clone()
    broken[1, 0, 1, 0] = bad
    t = torch.tensor([0, 5])
    with specdiff.typecheck(checks):
        for name, call in (
            ("x0", lambda: diffusion.add_noise(broken, t, generator=None)),
            ("x0", lambda: diffusion.compute_loss(broken)),
            ("eps", lambda: diffusion.compute_loss(good, t=t, eps=broken)),
            ("x_t", lambda: diffusion.predict_noise(broken, t)),
            ("x_t", lambda: diffusion(broken, t)),
        ):
            with pytest.raises(ValueError, match=rf"^{name} must be finite everywhere, got 1 "):
                call()
        with pytest.raises(ValueError, match=r"^x0 must hold at least one element"):
            diffusion.compute_loss(torch.zeros(0, 1, 2, 2))  # a mean over nothing: not NaN


@pytest.mark.spec("SAMP-10")
def test_a_network_built_for_another_number_of_timesteps_is_refused() -> None:
    net = EpsConvNet(EpsConvNetConfig(data_channels=1, hidden_channels=4, num_timesteps=100))
    schedule = NoiseSchedule.linear(10)
    guided = GuidedModel(net, torch.zeros(2, dtype=torch.int64), 2.0, 0)
    for model in (net, guided, GaussianOracle(NoiseSchedule.linear(100), 0.0, 1.0)):
        with pytest.raises(ValueError, match=r"num_timesteps = 100\b.*\bT = 10\b"):
            Diffusion(model, schedule)
    assert Diffusion(net, NoiseSchedule.linear(100)).num_timesteps == 100
