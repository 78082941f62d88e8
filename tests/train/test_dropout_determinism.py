"""Dropout and every other draw a model makes in its forward: TRAIN-4, TRAIN-5 and TRAIN-11
with the DDPM CIFAR-10 preset's layout (dropout 0.1) at a tiny size."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from specdiff.train import Trainer
from tests.train._documented_draws import FORWARD_OF_RANK_0, documented_generator
from tests.train._dropout_run import MODEL_KINDS, dropout_trainer
from tests.train._run_state import assert_identical, run_state

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.spec("TRAIN-4")
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_two_runs_with_dropout_end_bit_identical(tmp_path: Path, kind: str) -> None:
    first = dropout_trainer(tmp_path / "first", steps=3, kind=kind)
    first.fit()
    torch.rand(7)  # the caller's global random state moved on: the second run must not care
    second = dropout_trainer(tmp_path / "second", steps=3, kind=kind)
    second.fit()
    assert_identical(run_state(first), run_state(second))


def _run_in_a_new_process(run_dir: Path, steps: int, *extra: str) -> None:
    environment = os.environ | {"PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]), "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "tests.train._dropout_run", str(run_dir), str(steps), *extra],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]


@pytest.mark.spec("TRAIN-5")
def test_a_run_with_dropout_resumed_in_a_new_process_is_bit_identical(tmp_path: Path) -> None:
    dropout_trainer(tmp_path / "resumed", steps=2).fit()
    _run_in_a_new_process(tmp_path / "resumed", 4, "--resume")
    straight = dropout_trainer(tmp_path / "straight", steps=4)
    straight.fit()
    resumed = dropout_trainer(tmp_path / "resumed", steps=4)
    assert resumed.resume() == 4
    assert_identical(run_state(straight), run_state(resumed))


@pytest.mark.spec("TRAIN-11")
def test_gradient_checkpointing_replays_the_steps_dropout_masks(tmp_path: Path) -> None:
    # The recomputed forward must draw the masks the first forward drew: a generator handed to
    # the dropout layers would be one draw further on, and the gradient would be wrong.
    plain = dropout_trainer(tmp_path / "plain", steps=3)
    checkpointed = dropout_trainer(tmp_path / "checkpointed", steps=3,
                                   gradient_checkpointing=True)
    plain.fit()
    checkpointed.fit()
    assert_identical(run_state(plain), run_state(checkpointed))


def _record_dropout(trainer: Trainer) -> list[list[tuple[nn.Dropout, torch.Tensor, torch.Tensor]]]:
    """Per forward of the model, every dropout call in order: (layer, input, output)."""
    forwards: list[list[tuple[nn.Dropout, torch.Tensor, torch.Tensor]]] = []
    model = trainer.diffusion.model
    model.register_forward_pre_hook(lambda *_: forwards.append([]))

    def record(layer: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        assert isinstance(layer, nn.Dropout)
        forwards[-1].append((layer, inputs[0].detach().clone(), output.detach().clone()))

    for layer in model.modules():
        if isinstance(layer, nn.Dropout):
            layer.register_forward_hook(record)
    return forwards


@pytest.mark.spec("TRAIN-11")
@pytest.mark.parametrize("kind", ["unet", "sr"])
def test_the_dropout_masks_of_step_k_are_the_draws_of_the_documented_state(
        tmp_path: Path, kind: str) -> None:
    seed, steps = 3, 3
    trainer = dropout_trainer(tmp_path, steps=steps, kind=kind, seed=seed)
    forwards = _record_dropout(trainer)
    trainer.fit()
    assert len(forwards) == steps
    for step, calls in enumerate(forwards):
        # The statement: the global CPU generator seeded with G(2, seed, k), each
        # dropout layer drawing its keep mask u < 1 − p in the order the forward calls them.
        generator = documented_generator(FORWARD_OF_RANK_0, seed, step)
        assert calls, "the model has dropout layers"
        for index, (layer, inputs, output) in enumerate(calls):
            keep = torch.empty_like(inputs).bernoulli_(1 - layer.p, generator=generator)
            expected_kept = (keep != 0) & (inputs != 0)
            assert torch.equal(output != 0, expected_kept), (
                f"step {step}, dropout call {index}: the mask is not the documented draw")


@pytest.mark.spec("TRAIN-11")
def test_a_step_leaves_the_callers_global_random_state_alone(tmp_path: Path) -> None:
    trainer = dropout_trainer(tmp_path, steps=2)
    torch.manual_seed(99)
    before = torch.get_rng_state()
    trainer.fit()
    assert torch.equal(torch.get_rng_state(), before)
