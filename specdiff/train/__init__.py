"""Training: the trainer, its settings and EMA, and atomic, resumable checkpoints."""

from specdiff.train.checkpoint import (
    CheckpointError,
    CheckpointInfo,
    TensorState,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_checkpoint_info,
    save_checkpoint,
)
from specdiff.train.config import TrainConfig
from specdiff.train.ema import EMA
from specdiff.train.trainer import Trainer, TrainingDivergedError, TrainResult

__all__ = [
    "EMA",
    "CheckpointError",
    "CheckpointInfo",
    "TensorState",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "read_checkpoint_info",
    "save_checkpoint",
]
