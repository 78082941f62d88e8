"""A tiny training setup shared by the trainer tests and the data-parallel worker script."""

from pathlib import Path
from typing import Any

from specdiff.data import ImageDataset, load_digits
from specdiff.diffusion import Diffusion
from specdiff.spec.parameterization import PredictionType
from specdiff.train import TrainConfig, Trainer
from specdiff.train.models import build_model, build_schedule, model_record, schedule_record

TIMESTEPS = 50


def tiny_dataset() -> ImageDataset:
    return load_digits(8)


def tiny_identity(dataset: ImageDataset, model: str = "epsconv") -> dict[str, Any]:
    return {
        "model": model_record(model, dataset.image_shape, TIMESTEPS),
        "schedule": schedule_record("linear", TIMESTEPS),
        "data": "digits",
        "image_shape": list(dataset.image_shape),
    }


def tiny_trainer(run_dir: Path, *, steps: int, seed: int = 0, checkpoint_every: int = 1000,
                 batch_size: int = 16, prediction_type: PredictionType = "epsilon",
                 **settings: Any) -> Trainer:
    dataset = tiny_dataset()
    identity = tiny_identity(dataset)
    model = build_model(identity["model"], seed)
    diffusion = Diffusion(model, build_schedule(identity["schedule"]), prediction_type)
    config = TrainConfig(steps=steps, batch_size=batch_size, seed=seed, learning_rate=1e-3,
                         warmup_steps=2, checkpoint_every=checkpoint_every, log_every=1,
                         **settings)
    return Trainer(diffusion, dataset, config, run_dir, identity=identity, progress=False)
