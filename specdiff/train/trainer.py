"""The training loop: Adam with warmup, clipping, EMA, AMP on CUDA, checkpoints, metrics.

Every random draw of step k comes from ``step_generator(seed, k)``, the batch from
``batch_indices(seed, k, …)`` and the model's own draws (dropout) from the global generators
seeded by ``forward_randomness(seed, k, …)`` (specdiff.train.randomness), so a run is a pure
function of its seed: the same seed gives the same weights (TRAIN-4), a resumed run continues
bit for bit (TRAIN-5), and data-parallel processes take slices of one global batch (TRAIN-7).
"""

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from specdiff.data import ImageDataset, random_horizontal_flip, uint8_to_unit_range
from specdiff.diffusion import Diffusion
from specdiff.nn import SuperResolutionUNet, downsample_image
from specdiff.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from specdiff.train.config import TrainConfig
from specdiff.train.ema import EMA
from specdiff.train.randomness import batch_indices, forward_randomness, step_generator
from specdiff.train.run_folder import append_metrics, rewind_metrics
from specdiff.train.run_folder import read_metrics as read_metrics


class TrainingDivergedError(FloatingPointError):
    """The loss or the gradient norm became NaN/inf; no checkpoint was written after it."""


def warmup_learning_rate(learning_rate: float, warmup_steps: int, step: int) -> float:
    """TRAIN-2: lr_k = lr·min(1, (k + 1)/warmup) for warmup > 0, else lr."""
    if warmup_steps == 0:
        return learning_rate
    return learning_rate * min(1.0, (step + 1) / warmup_steps)


@dataclass(frozen=True)
class TrainResult:
    steps: int
    last_loss: float
    checkpoint: Path | None


class Trainer:
    """Trains ``diffusion.model`` on ``dataset``; checkpoints and metrics go to ``run_dir``.

    ``identity`` is the JSON description that a resumed run must match (model, schedule and
    data records); the trainer adds the learning-relevant part of ``config`` to it.
    """

    def __init__(
        self,
        diffusion: Diffusion,
        dataset: ImageDataset,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        identity: dict[str, Any],
        device: str | torch.device = "cpu",
        progress: bool = True,
    ) -> None:
        self.device = torch.device(device)
        if config.amp != "none" and self.device.type != "cuda":
            raise ValueError(f"amp must be 'none' on {self.device.type} (AMP is for CUDA only), "
                             f"got {config.amp!r}")
        self.world_size = dist.get_world_size() if dist.is_initialized() else 1
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        if config.batch_size % self.world_size:
            raise ValueError(f"batch_size must be divisible by the {self.world_size} processes, "
                             f"got {config.batch_size}")
        if config.batch_size > len(dataset):
            raise ValueError(f"batch_size must be at most the dataset size {len(dataset)}, "
                             f"got {config.batch_size}")
        if config.class_conditional and not dataset.has_labels:
            raise ValueError("class_conditional needs a labeled dataset, got one without labels")
        self.diffusion = diffusion.to(self.device)
        self.dataset = dataset
        self.config = config
        self.run_dir = Path(run_dir)
        self.identity = {**identity, "train": _learning_settings(config)}
        self.progress = progress and self.rank == 0
        # One multi-tensor update instead of a loop over the parameters (torch's default on
        # CUDA, not on the CPU): the 164k demo model spent about a tenth of a step in the loop.
        self.optimizer = torch.optim.Adam(diffusion.model.parameters(), lr=config.learning_rate,
                                          foreach=True)
        self.ema = EMA(diffusion.model, config.ema_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=config.amp == "fp16")
        self.step = 0
        self.resumed_from: Path | None = None
        self._trained = self._training_view()

    def _training_view(self) -> Diffusion:
        """The Diffusion the loss runs through: DDP- and/or compile-wrapped model, same weights."""
        model: nn.Module = self.diffusion.model
        if self.world_size > 1:
            model = DistributedDataParallel(model)
        if self.config.compile:
            model = torch.compile(model)  # type: ignore[assignment]
        if model is self.diffusion.model:
            return self.diffusion
        return self.diffusion.with_model(model)

    def resume(self) -> int:
        """Load the newest usable checkpoint of run_dir if it has any; return the step to go on
        from. Damaged newer checkpoints are skipped with a warning (CKPT-7).

        A checkpoint written for another model, schedule, data or learning settings is refused
        with a message naming the difference.
        """
        try:
            info = load_checkpoint(self.run_dir, model=self.diffusion.model,
                                   optimizer=self.optimizer, ema=self.ema.model,
                                   expected_config=self.identity, restore_global_rng=False)
        except FileNotFoundError:  # no checkpoint yet: a new run
            return self.step
        self.step, self.resumed_from = info.step, info.path
        return self.step

    def start_from_weights(self, checkpoint: Path) -> int:
        """Load the model and EMA weights of ``checkpoint`` (an imported run's, which has no
        optimizer state and no learning settings); the optimizer starts fresh, at the current
        step. Return that step."""
        load_checkpoint(checkpoint, model=self.diffusion.model, ema=self.ema.model,
                        restore_global_rng=False)
        self.resumed_from = checkpoint
        return self.step

    def fit(self) -> TrainResult:
        """Train from ``self.step`` up to ``config.steps``; checkpoint every checkpoint_every
        steps and at the end. Raises TrainingDivergedError on a NaN/inf loss or gradient.

        ``config.steps`` must be above the current step (CKPT-10); the records of later steps
        in the log, left by a run that went further than its last checkpoint, are dropped."""
        if self.config.steps <= self.step:
            where = (f"the step of the checkpoint resumed from ({self.resumed_from})"
                     if self.resumed_from else "the step the run is at")
            raise ValueError(f"steps must be greater than {self.step}, {where}, got "
                             f"{self.config.steps}: nothing to train")
        if self.rank == 0:
            rewind_metrics(self.run_dir, self.step)
        self.diffusion.model.train()
        last_loss, checkpoint = math.nan, latest_checkpoint(self.run_dir)
        bar = tqdm(total=self.config.steps, initial=self.step, disable=not self.progress,
                   unit="step", dynamic_ncols=True)
        started, images_since = time.perf_counter(), 0
        with bar:
            while self.step < self.config.steps:
                loss, grad_norm, lr = self._train_step(self.step)
                self.step += 1
                last_loss, images_since = loss, images_since + self.config.batch_size
                bar.update(1)
                if self.step % self.config.log_every == 0 or self.step == self.config.steps:
                    elapsed = max(time.perf_counter() - started, 1e-9)
                    images_per_s = images_since / elapsed
                    bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{images_per_s:.0f}")
                    self._log({"step": self.step, "loss": loss, "lr": lr, "grad_norm": grad_norm,
                               "images_per_s": images_per_s})
                    started, images_since = time.perf_counter(), 0
                if self.step % self.config.checkpoint_every == 0 or self.step == self.config.steps:
                    checkpoint = self.save()
        return TrainResult(self.step, last_loss, checkpoint)

    def save(self) -> Path | None:
        """Write a checkpoint of the current step (rank 0 only); return its folder."""
        path = None
        if self.rank == 0:
            path = save_checkpoint(self.run_dir, self.step, model=self.diffusion.model,
                                   optimizer=self.optimizer, ema=self.ema.model,
                                   config=self.identity, keep=self.config.keep_checkpoints,
                                   extra={"train_config": self.config.to_dict()})
        if self.world_size > 1:
            dist.barrier()
        return path

    def _train_step(self, step: int) -> tuple[float, float, float]:
        config = self.config
        generator = step_generator(config.seed, step, self.device)
        x0, t, eps, labels = self._global_batch(step, generator)
        # This process's slice of the global batch; DDP averages the slices' gradients.
        share = config.batch_size // self.world_size
        part = slice(self.rank * share, (self.rank + 1) * share)
        lr = warmup_learning_rate(config.learning_rate, config.warmup_steps, step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        conditioning = self._conditioning(x0[part], None if labels is None else labels[part])
        # The model's own draws (dropout) are the step's too (TRAIN-11): seeded, then restored.
        with forward_randomness(config.seed, step, self.device, self.rank):
            with self._autocast():
                loss = self._trained.compute_loss(x0[part], t=t[part], eps=eps[part],
                                                  conditioning=conditioning,
                                                  min_snr_gamma=config.min_snr_gamma)
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise TrainingDivergedError(self._diverged_message(step, "loss", loss_value))
            self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
        self.scaler.unscale_(self.optimizer)
        grad_norm = float(nn.utils.clip_grad_norm_(self.diffusion.model.parameters(),
                                                   config.grad_clip))
        if not math.isfinite(grad_norm) and not self.scaler.is_enabled():
            raise TrainingDivergedError(self._diverged_message(step, "gradient norm", grad_norm))
        # With fp16 the scaler skips a step whose gradients overflowed and lowers its scale.
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.ema.update(self.diffusion.model, step)
        return loss_value, grad_norm, lr

    def _global_batch(self, step: int, generator: torch.Generator
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The whole batch of step ``step`` and its draws, in a fixed order: flips, t, eps, and
        (class-conditional runs) which labels become the null class (TRAIN-10)."""
        config = self.config
        indices = batch_indices(config.seed, step, config.batch_size, len(self.dataset))
        x0 = uint8_to_unit_range(self.dataset.images[indices]).to(self.device)
        if config.horizontal_flip:
            x0 = random_horizontal_flip(x0, generator)
        t = torch.randint(0, self.diffusion.num_timesteps, (config.batch_size,),
                          generator=generator, device=self.device)
        eps = torch.randn(x0.shape, generator=generator, device=self.device)
        if not config.class_conditional:
            return x0, t, eps, None
        labels = self.dataset.labels[indices].to(self.device)
        null_class = len(self.dataset.class_names)
        dropped = torch.rand(config.batch_size, generator=generator,
                             device=self.device) < config.p_uncond
        return x0, t, eps, torch.where(dropped, torch.full_like(labels, null_class), labels)

    def _conditioning(self, x0: torch.Tensor, labels: torch.Tensor | None
                      ) -> dict[str, torch.Tensor] | None:
        """What the model reads besides (x_t, t): class labels (TRAIN-10), or for a
        super-resolution model the downsampled x0 (COND-12)."""
        if labels is not None:
            return {"class_labels": labels}
        model = self.diffusion.model
        if isinstance(model, SuperResolutionUNet):
            return {"low_res": downsample_image(x0, model.config.scale)}
        return None

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.config.amp == "none":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.config.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _diverged_message(self, step: int, what: str, value: float) -> str:
        last = latest_checkpoint(self.run_dir)
        kept = f"the last good checkpoint {last} is intact" if last else "no checkpoint was written"
        return (f"training diverged: the {what} is {value} at step {step}; stopped without "
                f"saving, {kept}. Lower the learning rate or check the data.")

    def _log(self, record: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        append_metrics(self.run_dir, record)


def _learning_settings(config: TrainConfig) -> dict[str, Any]:
    """The settings a resumed run must share with the run it continues (not steps, logging)."""
    settings = config.to_dict()
    for operational in ("steps", "checkpoint_every", "keep_checkpoints", "log_every", "compile"):
        settings.pop(operational)
    # Runs saved before the weighting existed trained on the plain mean: they match "None".
    if settings["min_snr_gamma"] is None:
        settings.pop("min_snr_gamma")
    return settings
