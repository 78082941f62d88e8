"""The trainer's laws checked against their statements, not run against run: the draws and the
batch of step k (TRAIN-4, TRAIN-6, TRAIN-10) and the EMA with its step-dependent decay (TRAIN-3),
with expected values computed here from specs/training.md. A trainer that is wrong in a
consistent way (one generator for every step, an off-by-one step index) passes every
run-vs-run test and fails these."""

from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from specdiff import spec
from specdiff.spec.parameterization import PREDICTION_TYPES, PredictionType
from specdiff.testing import assert_close_to_spec
from specdiff.train.randomness import batch_indices, step_generator
from specdiff.train.trainer import read_metrics
from tests.train._documented_draws import STEP, documented_batch, documented_generator
from tests.train._dropout_run import dropout_trainer
from tests.train._tiny_run import TIMESTEPS, tiny_trainer

SEEDS = st.integers(0, 2**22 - 1)
STEPS = st.integers(0, 2**40 - 1)


@pytest.mark.spec("TRAIN-4")
@given(SEEDS, STEPS)
def test_the_step_generator_is_seeded_as_documented(seed: int, step: int) -> None:
    expected = torch.rand(8, generator=documented_generator(STEP, seed, step))
    assert torch.equal(torch.rand(8, generator=step_generator(seed, step)), expected)


@pytest.mark.spec("TRAIN-4")
@given(st.lists(SEEDS, min_size=2, max_size=2, unique=True), STEPS)
@example([0, 1], 0)  # seeded with seed·2^40 + k, every seed once drew alike on the CPU
def test_different_seeds_draw_differently_at_the_same_step(seeds: list[int], step: int) -> None:
    first, second = (torch.rand(8, generator=step_generator(seed, step)) for seed in seeds)
    assert not torch.equal(first, second)


@pytest.mark.spec("TRAIN-6")
@given(SEEDS, st.integers(0, 10_000), st.integers(1, 300), st.data())
def test_the_batch_of_step_k_is_the_documented_slice_of_the_epochs_permutation(
        seed: int, step: int, dataset_size: int, data: st.DataObject) -> None:
    batch_size = data.draw(st.integers(1, dataset_size))
    assert torch.equal(batch_indices(seed, step, batch_size, dataset_size),
                       documented_batch(seed, step, batch_size, dataset_size))


@pytest.mark.spec("TRAIN-6")
@given(st.lists(SEEDS, min_size=2, max_size=2, unique=True))
@example([0, 256])  # seeds once seeded the permutation with (seed mod 256, epoch) on the CPU
def test_different_seeds_order_an_epoch_differently(seeds: list[int]) -> None:
    first, second = (batch_indices(seed, 0, 100, 100) for seed in seeds)
    assert not torch.equal(first, second)


def _expected_step(trainer: Any, seed: int, step: int) -> dict[str, torch.Tensor]:
    """Step k's inputs by the statements: the batch of TRAIN-6, then from G(0, seed, k)
    in order the flips u < 1/2 (DATA-7), t ~ U{0, …, T−1}, ε ~ N(0, I) (TRAIN-4), and the
    null-class draws u < p_uncond (TRAIN-10)."""
    config, dataset = trainer.config, trainer.dataset
    indices = documented_batch(seed, step, config.batch_size, len(dataset))
    generator = documented_generator(STEP, seed, step)
    x0 = dataset.images[indices].float() / 127.5 - 1  # DATA-1, in float32
    flip = torch.rand(config.batch_size, generator=generator) < 0.5
    x0[flip] = x0[flip].flip(-1)
    t = torch.randint(0, trainer.diffusion.num_timesteps, (config.batch_size,),
                      generator=generator)
    eps = torch.randn(x0.shape, generator=generator)
    dropped = torch.rand(config.batch_size, generator=generator) < config.p_uncond
    labels = torch.where(dropped, len(dataset.class_names), dataset.labels[indices])
    return {"x0": x0, "t": t, "eps": eps, "class_labels": labels}


@pytest.mark.spec("TRAIN-4", "TRAIN-6", "TRAIN-10")
def test_the_draws_of_step_k_are_the_documented_generators_draws(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed, steps = 11, 6  # 32 examples in batches of 8: steps 4 and 5 are in a second epoch
    trainer = dropout_trainer(tmp_path, steps=steps, kind="conditional", seed=seed,
                              batch_size=8, p_uncond=0.5)
    seen: list[dict[str, torch.Tensor]] = []
    compute_loss = trainer.diffusion.compute_loss

    def recording(x0: torch.Tensor, **arguments: Any) -> torch.Tensor:
        seen.append({"x0": x0, "t": arguments["t"], "eps": arguments["eps"],
                     "class_labels": arguments["conditioning"]["class_labels"]})
        return compute_loss(x0, **arguments)

    monkeypatch.setattr(trainer.diffusion, "compute_loss", recording)
    trainer.fit()
    assert len(seen) == steps
    for step, actual in enumerate(seen):
        expected = _expected_step(trainer, seed, step)
        different = [name for name in expected if not torch.equal(actual[name], expected[name])]
        assert not different, f"step {step}: {different} are not the documented draws"


@pytest.mark.spec("TRAIN-3")
def test_the_trainers_ema_is_the_documented_average_of_its_weights(tmp_path: Path) -> None:
    decay, steps = 0.5, 12  # d_k = (1 + k)/(10 + k) below 0.5 for k < 8, then 0.5
    trainer = dropout_trainer(tmp_path, steps=steps, kind="epsconv", ema_decay=decay,
                              learning_rate=0.05)
    model, ema = trainer.diffusion.model, trainer.ema.model
    average = [p.detach().double().clone() for p in model.parameters()]
    expected = [[mean.clone() for mean in average]]  # θ̄ = θ at initialization

    def fold_in_the_new_weights(*_: Any) -> None:
        step = len(expected) - 1
        d = min(decay, (1 + step) / (10 + step))
        for mean, weight in zip(average, model.parameters(), strict=True):
            mean.mul_(d).add_(weight.detach().double(), alpha=1 - d)
        expected.append([mean.clone() for mean in average])

    def ema_weights(*_: Any) -> None:
        actual.append([p.detach().clone() for p in ema.parameters()])

    actual: list[list[torch.Tensor]] = []
    trainer.optimizer.register_step_post_hook(fold_in_the_new_weights)
    model.register_forward_pre_hook(ema_weights)  # at step k's forward: the EMA after step k − 1
    trainer.fit()
    ema_weights()
    assert len(actual) == len(expected) == steps + 1
    for step, (after, means) in enumerate(zip(actual, expected, strict=True)):
        for value, mean in zip(after, means, strict=True):
            scale = 1 + float(mean.abs().max()) * (step + 1)
            assert_close_to_spec(value, mean.numpy(), "reduction", scale=scale)


class _Forwarding(torch.nn.Module):
    """A stand-in for torch.compile's wrapper: another module computing the same function, so
    the trainer takes its wrapped-model path without compiling."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.wrapped = model

    def forward(self, *inputs: Any, **keywords: Any) -> Any:
        return self.wrapped(*inputs, **keywords)


@pytest.mark.spec("TRAIN-1", "PARAM-3")
@pytest.mark.parametrize("wrapped", [False, True], ids=["plain", "compile-wrapped"])
@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_a_step_trains_on_the_target_of_the_runs_prediction_type(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prediction_type: PredictionType,
        wrapped: bool) -> None:
    # A wrapped model (--compile, DDP) once lost the prediction type: v and x0 runs trained on ε.
    monkeypatch.setattr(torch, "compile", _Forwarding)
    seed = 3
    trainer = tiny_trainer(tmp_path, steps=1, seed=seed, prediction_type=prediction_type,
                           compile=wrapped)
    drawn = _expected_step(trainer, seed, 0)
    x0, eps = (drawn[name].double() for name in ("x0", "eps"))
    # PARAM-3's target, from the spec's ᾱ of the run's schedule (linear, T = 50, DDPM's β ends).
    alpha_bar = torch.from_numpy(spec.alpha_bars_linear(TIMESTEPS, 1e-4, 0.02))[drawn["t"]]
    alpha_bar = alpha_bar.view(-1, 1, 1, 1)
    x_t = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * eps
    target = {"epsilon": eps, "sample": x0,
              "v_prediction": alpha_bar.sqrt() * eps - (1 - alpha_bar).sqrt() * x0}
    with torch.no_grad():
        output = trainer.diffusion.model(x_t.float(), drawn["t"]).double()
    expected = float(((target[prediction_type] - output) ** 2).mean())
    trainer.fit()
    logged = next(iter(read_metrics(tmp_path)))["loss"]
    # float32 x_t and network against the float64 statement.
    assert logged == pytest.approx(expected, rel=1e-4)


@pytest.mark.spec("TRAIN-1", "PARAM-6")
@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_a_min_snr_step_trains_on_the_clipped_x0_error(
        tmp_path: Path, prediction_type: PredictionType) -> None:
    # γ = 20 sits inside the SNRs of the run's schedule (≈ 1.5 at t = 49 to ≈ 1e4 at t = 0),
    # so a batch has clipped and unclipped examples.
    seed, gamma = 5, 20.0
    trainer = tiny_trainer(tmp_path, steps=1, seed=seed, prediction_type=prediction_type,
                           min_snr_gamma=gamma)
    drawn = _expected_step(trainer, seed, 0)
    x0, eps = (drawn[name].double() for name in ("x0", "eps"))
    alpha_bar = torch.from_numpy(spec.alpha_bars_linear(TIMESTEPS, 1e-4, 0.02))[drawn["t"]]
    snr = alpha_bar / (1 - alpha_bar)
    assert bool((snr < gamma).any()) and bool((snr > gamma).any())
    alpha_bar = alpha_bar.view(-1, 1, 1, 1)
    x_t = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * eps
    with torch.no_grad():
        output = trainer.diffusion.model(x_t.float(), drawn["t"]).double()
    # x̂0 read from the output by PARAM-2's statement, per type.
    x0_hat = {"epsilon": (x_t - (1 - alpha_bar).sqrt() * output) / alpha_bar.sqrt(),
              "sample": output,
              "v_prediction": alpha_bar.sqrt() * x_t - (1 - alpha_bar).sqrt() * output}
    errors = ((x0 - x0_hat[prediction_type]) ** 2).flatten(1).mean(dim=1)
    expected = float((snr.clamp(max=gamma) * errors).mean())
    trainer.fit()
    logged = next(iter(read_metrics(tmp_path)))["loss"]
    assert logged == pytest.approx(expected, rel=1e-4)
