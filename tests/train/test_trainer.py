"""Laws TRAIN-1 … TRAIN-9 (specs/training.md)."""

import math
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from specdiff.testing import assert_close_to_spec
from specdiff.train import TrainConfig, TrainingDivergedError
from specdiff.train.checkpoint import (
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_checkpoint_info,
)
from specdiff.train.ema import EMA
from specdiff.train.randomness import batch_indices, step_generator
from specdiff.train.trainer import read_metrics, warmup_learning_rate
from tests.train._run_state import assert_identical, run_state
from tests.train._tiny_run import tiny_trainer


@pytest.mark.spec("TRAIN-1")
def test_a_step_clips_the_gradient_and_logs_the_metrics(tmp_path: Path) -> None:
    trainer = tiny_trainer(tmp_path, steps=3, grad_clip=1e-3)
    trainer.fit()
    gradients = [p.grad for p in trainer.diffusion.model.parameters() if p.grad is not None]
    norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g)
                                                       for g in gradients])))
    assert norm <= 1e-3 * (1 + 1e-6)
    records = list(read_metrics(tmp_path))
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(set(r) == {"step", "loss", "lr", "grad_norm", "images_per_s"} for r in records)
    assert all(math.isfinite(r["loss"]) and r["grad_norm"] > 1e-3 for r in records)
    assert [r["lr"] for r in records] == [5e-4, 1e-3, 1e-3]  # warmup over 2 steps


@pytest.mark.spec("TRAIN-2")
@given(st.floats(1e-6, 1.0), st.integers(0, 10_000), st.integers(0, 20_000))
def test_warmup_is_linear_then_constant(learning_rate: float, warmup: int, step: int) -> None:
    rate = warmup_learning_rate(learning_rate, warmup, step)
    if warmup == 0 or step + 1 >= warmup:
        assert rate == learning_rate
    else:
        assert rate == pytest.approx(learning_rate * (step + 1) / warmup, rel=1e-15)
        assert 0 < rate < learning_rate


@pytest.mark.spec("TRAIN-3")
@given(st.floats(0.0, 0.9999), st.integers(1, 30), st.integers(0, 2**31 - 1))
def test_ema_follows_the_float64_recursion(decay: float, updates: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    model = nn.Linear(3, 2)
    ema = EMA(model, decay)
    average = {k: v.detach().double().clone() for k, v in model.state_dict().items()}
    for step in range(updates):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn(parameter.shape, generator=generator))
        ema.update(model, step)
        d = min(decay, (1 + step) / (10 + step))
        for key, value in model.state_dict().items():
            average[key] = d * average[key] + (1 - d) * value.double()
    for key, value in ema.model.state_dict().items():
        assert_close_to_spec(value, average[key].numpy(), "reduction",
                             scale=1 + float(average[key].abs().max()) * updates)


@pytest.mark.spec("TRAIN-4")
def test_same_seed_same_weights_different_seed_different(tmp_path: Path) -> None:
    first = tiny_trainer(tmp_path / "a", steps=4, seed=7)
    second = tiny_trainer(tmp_path / "b", steps=4, seed=7)
    other = tiny_trainer(tmp_path / "c", steps=4, seed=8)
    for trainer in (first, second, other):
        trainer.fit()
    assert_identical(run_state(first), run_state(second))
    assert not torch.equal(first.diffusion.model.convs[0].weight,  # type: ignore[index]
                           other.diffusion.model.convs[0].weight)  # type: ignore[index]


@pytest.mark.spec("TRAIN-4")
@given(st.integers(0, 2**22 - 1), st.integers(0, 2**40 - 1))
def test_step_generators_are_reproducible_and_distinct(seed: int, step: int) -> None:
    draw = torch.rand(4, generator=step_generator(seed, step))
    assert torch.equal(draw, torch.rand(4, generator=step_generator(seed, step)))
    neighbour = step + 1 if step + 1 < 2**40 else step - 1
    assert not torch.equal(draw, torch.rand(4, generator=step_generator(seed, neighbour)))


@pytest.mark.spec("TRAIN-5")
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path: Path) -> None:
    straight = tiny_trainer(tmp_path / "straight", steps=6)
    straight.fit()
    interrupted = tiny_trainer(tmp_path / "resumed", steps=3, checkpoint_every=3)
    interrupted.fit()
    resumed = tiny_trainer(tmp_path / "resumed", steps=6, checkpoint_every=3)
    assert resumed.resume() == 3
    resumed.fit()
    assert_identical(run_state(straight), run_state(resumed))


@pytest.mark.spec("TRAIN-5")
def test_resume_refuses_a_run_with_other_learning_settings(tmp_path: Path) -> None:
    tiny_trainer(tmp_path, steps=2).fit()
    with pytest.raises(ValueError, match="seed"):
        tiny_trainer(tmp_path, steps=4, seed=1).resume()


@pytest.mark.spec("TRAIN-5")
def test_resume_keeps_the_loss_weighting_and_accepts_runs_saved_before_it(tmp_path: Path
                                                                          ) -> None:
    weighted, plain = tmp_path / "weighted", tmp_path / "plain"
    tiny_trainer(weighted, steps=2, min_snr_gamma=5.0).fit()
    with pytest.raises(ValueError, match=r"train\.min_snr_gamma: checkpoint has 5\.0"):
        tiny_trainer(weighted, steps=4).resume()
    assert tiny_trainer(weighted, steps=4, min_snr_gamma=5.0).resume() == 2
    # An unweighted run records no γ, as runs saved before the option did: those resume.
    tiny_trainer(plain, steps=2).fit()
    assert "min_snr_gamma" not in read_checkpoint_info(plain).config["train"]
    assert tiny_trainer(plain, steps=4).resume() == 2


@pytest.mark.spec("TRAIN-6")
@given(st.integers(1, 300), st.data())
def test_batches_of_an_epoch_are_disjoint_and_valid(dataset_size: int, data: st.DataObject
                                                    ) -> None:
    batch_size = data.draw(st.integers(1, dataset_size))
    seed = data.draw(st.integers(0, 2**22 - 1))
    epoch = data.draw(st.integers(0, 5))
    per_epoch = dataset_size // batch_size
    batches = [batch_indices(seed, epoch * per_epoch + j, batch_size, dataset_size)
               for j in range(per_epoch)]
    seen = torch.cat(batches)
    assert all(b.shape == (batch_size,) for b in batches)
    assert int(seen.min()) >= 0 and int(seen.max()) < dataset_size
    assert seen.unique().numel() == seen.numel() == per_epoch * batch_size


@pytest.mark.spec("TRAIN-8")
def test_a_nan_loss_stops_without_saving_and_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    trainer = tiny_trainer(tmp_path, steps=10, checkpoint_every=2)
    model = trainer.diffusion.model
    calls = {"count": 0}

    def poison_after_three_steps(_: nn.Module, __: object, output: torch.Tensor) -> torch.Tensor:
        calls["count"] += 1
        return output * math.nan if calls["count"] > 3 else output

    model.register_forward_hook(poison_after_three_steps)
    with pytest.raises(TrainingDivergedError, match=r"loss is nan at step 3.*checkpoint-00000002"):
        trainer.fit()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-00000002"]
    info = load_checkpoint(tmp_path, model=model, restore_global_rng=False)
    assert info.step == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())


TRAIN_CONFIG_ERRORS = [
    ({"steps": 0}, "steps"), ({"batch_size": 0}, "batch_size"),
    ({"learning_rate": 0.0}, "learning_rate"), ({"learning_rate": 2.0}, "learning_rate"),
    ({"warmup_steps": -1}, "warmup_steps"), ({"grad_clip": 0.0}, "grad_clip"),
    ({"ema_decay": 1.0}, "ema_decay"), ({"amp": "fp8"}, "amp"),
    ({"seed": -1}, "seed"), ({"seed": 2**22}, "seed"),  # TRAIN-4's seeds have 22 bits
    ({"min_snr_gamma": 0.0}, "min_snr_gamma"), ({"min_snr_gamma": float("nan")}, "min_snr_gamma"),
]


@pytest.mark.spec("TRAIN-9")
@pytest.mark.parametrize(("settings", "field"), TRAIN_CONFIG_ERRORS)
def test_bad_settings_are_rejected_by_name(settings: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"steps": 10} | settings
    with pytest.raises(ValueError, match=rf"^{field} must"):
        TrainConfig(**arguments)  # type: ignore[arg-type]


@pytest.mark.spec("TRAIN-9")
def test_trainer_rejects_amp_off_cuda_and_oversized_batches(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^amp must be 'none' on cpu"):
        tiny_trainer(tmp_path, steps=1, amp="bf16")
    with pytest.raises(ValueError, match=r"^batch_size must be at most the dataset size 1797"):
        tiny_trainer(tmp_path, steps=1, batch_size=2000)
    assert latest_checkpoint(tmp_path) is None


@pytest.mark.spec("TRAIN-7")
def test_two_gloo_processes_train_the_same_weights_as_one(tmp_path: Path) -> None:
    import torch.multiprocessing as multiprocessing

    from tests.train._ddp_worker import train_one_rank

    steps = 4
    multiprocessing.spawn(train_one_rank, nprocs=2, join=True,
                          args=(2, str(tmp_path / "rendezvous"), str(tmp_path / "ddp"), steps))
    single = tiny_trainer(tmp_path / "single", steps=steps, batch_size=16)
    single.fit()
    ddp_model = tiny_trainer(tmp_path / "unused", steps=steps).diffusion.model
    load_checkpoint(tmp_path / "ddp", model=ddp_model, restore_global_rng=False)
    for expected, actual in zip(single.diffusion.model.state_dict().values(),
                                ddp_model.state_dict().values(), strict=True):
        assert_close_to_spec(actual, expected.double().numpy(), "elementwise")
    # Only rank 0 wrote: one metrics line per step, one checkpoint.
    assert len(list(read_metrics(tmp_path / "ddp"))) == steps
    assert [p.name for p in list_checkpoints(tmp_path / "ddp")] == [f"checkpoint-{steps:08d}"]


@pytest.mark.spec("TRAIN-10")
@pytest.mark.parametrize("p_uncond", [0.0, 0.1, 0.5, 1.0])
def test_labels_drop_to_the_null_class_at_rate_p_uncond(tmp_path: Path, p_uncond: float) -> None:
    trainer = tiny_trainer(tmp_path, steps=1, batch_size=256, class_conditional=True,
                           p_uncond=p_uncond)
    null_class, dropped, total = 10, 0, 0
    for step in range(8):
        *_, labels = trainer._global_batch(step, step_generator(0, step))
        indices = batch_indices(0, step, 256, len(trainer.dataset))
        true_labels = trainer.dataset.labels[indices]
        assert labels is not None
        kept = labels != null_class
        assert torch.equal(labels[kept], true_labels[kept])
        dropped, total = dropped + int((~kept).sum()), total + labels.numel()
    bound = 6 * math.sqrt(p_uncond * (1 - p_uncond) / total)
    assert abs(dropped / total - p_uncond) <= bound


@pytest.mark.spec("TRAIN-10")
def test_class_conditional_training_needs_labels(tmp_path: Path) -> None:
    from specdiff.data import ImageDataset
    from specdiff.diffusion import Diffusion, NoiseSchedule
    from specdiff.nn import EpsConvNet, EpsConvNetConfig
    from specdiff.train import Trainer

    unlabeled = ImageDataset(torch.zeros((4, 1, 8, 8), dtype=torch.uint8))
    diffusion = Diffusion(EpsConvNet(EpsConvNetConfig(1, 4, num_timesteps=10)),
                          NoiseSchedule.linear(10))
    config = TrainConfig(steps=1, batch_size=2, class_conditional=True)
    with pytest.raises(ValueError, match=r"^class_conditional needs a labeled dataset"):
        Trainer(diffusion, unlabeled, config, tmp_path, identity={}, progress=False)
