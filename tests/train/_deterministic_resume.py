"""TRAIN-12's check: a U-Net run with dropout, trained straight and trained with a stop and a
resume in a new Trainer, under ``torch.use_deterministic_algorithms(True)``; the names of the
state tensors that differ (none, when the law holds). On CUDA it runs in a fresh process
(``CUBLAS_WORKSPACE_CONFIG`` must be set before CUDA starts) and prints them as JSON:

    CUBLAS_WORKSPACE_CONFIG=:4096:8 python -m tests.train._deterministic_resume DEVICE RUN_DIR
"""

import json
import sys
from pathlib import Path

import torch

from specdiff.diffusion import Diffusion
from specdiff.train import TrainConfig, Trainer
from specdiff.train.models import build_model, build_schedule
from tests.train._run_state import run_state
from tests.train._tiny_run import tiny_dataset, tiny_identity


def unet_trainer(run_dir: Path, device: str, steps: int) -> Trainer:
    dataset = tiny_dataset()
    identity = tiny_identity(dataset, model="unet-tiny")
    diffusion = Diffusion(build_model(identity["model"], 0), build_schedule(identity["schedule"]))
    config = TrainConfig(steps=steps, batch_size=16, learning_rate=1e-3, checkpoint_every=2,
                         log_every=1)
    return Trainer(diffusion, dataset, config, run_dir, identity=identity, progress=False,
                   device=device)


def differing_state(device: str, run_dir: Path) -> list[str]:
    """Runs the check with deterministic algorithms on, and restores the flag after it."""
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        return _differing_state(device, run_dir)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _differing_state(device: str, run_dir: Path) -> list[str]:
    straight = unet_trainer(run_dir / "straight", device, steps=4)
    straight.fit()
    unet_trainer(run_dir / "resumed", device, steps=2).fit()
    resumed = unet_trainer(run_dir / "resumed", device, steps=4)
    assert resumed.resume() == 2
    resumed.fit()
    left, right = run_state(straight), run_state(resumed)
    return sorted(key for key in left if not torch.equal(left[key], right[key]))


if __name__ == "__main__":
    print(json.dumps(differing_state(sys.argv[1], Path(sys.argv[2]))))
