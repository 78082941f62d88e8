"""The trainer's settings: one frozen, validated dataclass, saved with every checkpoint."""

from dataclasses import asdict, dataclass
from typing import Any, Literal

from specdiff.spec._validate import require_int_at_least, require_real_in
from specdiff.spec.parameterization import require_min_snr_gamma
from specdiff.train.randomness import SEED_LIMIT

AmpMode = Literal["none", "bf16", "fp16"]


@dataclass(frozen=True)
class TrainConfig:
    """Defaults suit the small CPU demos; ``ddpm_cifar10()`` is the DDPM paper's recipe."""

    steps: int
    batch_size: int = 64
    learning_rate: float = 1e-4
    warmup_steps: int = 0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    amp: AmpMode = "none"  # autocast dtype on CUDA; fp16 adds a GradScaler. CPU needs "none".
    horizontal_flip: bool = True
    class_conditional: bool = False  # feed the labels; the model needs num_classes
    p_uncond: float = 0.1  # with class_conditional: chance a label is replaced by the null class
    compile: bool = False
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 25
    # PARAM-6's min-SNR-γ loss weighting; None trains on SAMP-8's plain mean.
    min_snr_gamma: float | None = None

    def __post_init__(self) -> None:
        require_int_at_least("steps", self.steps, 1)
        require_int_at_least("batch_size", self.batch_size, 1)
        require_real_in("learning_rate", self.learning_rate, 0.0, 1.0, low_open=True)
        require_int_at_least("warmup_steps", self.warmup_steps, 0)
        require_real_in("grad_clip", self.grad_clip, 0.0, 1e6, low_open=True)
        require_real_in("ema_decay", self.ema_decay, 0.0, 1.0, high_open=True)
        require_int_at_least("seed", self.seed, 0)
        if self.seed >= SEED_LIMIT:  # TRAIN-4's step generators encode the seed in 22 bits
            raise ValueError(f"seed must be in [0, 2^22), got {self.seed}")
        require_real_in("p_uncond", self.p_uncond, 0.0, 1.0)
        if self.amp not in ("none", "bf16", "fp16"):
            raise ValueError(f"amp must be one of 'none', 'bf16', 'fp16', got {self.amp!r}")
        require_int_at_least("checkpoint_every", self.checkpoint_every, 1)
        require_int_at_least("keep_checkpoints", self.keep_checkpoints, 1)
        require_int_at_least("log_every", self.log_every, 1)
        if self.min_snr_gamma is not None:
            require_min_snr_gamma(self.min_snr_gamma)

    @classmethod
    def ddpm_cifar10(cls, steps: int = 800_000) -> "TrainConfig":
        """Ho et al. 2020 on CIFAR-10: Adam 2e-4, batch 128, 5000 warmup steps, EMA 0.9999,
        gradient clipping at 1, random horizontal flips."""
        return cls(steps=steps, batch_size=128, learning_rate=2e-4, warmup_steps=5000,
                   grad_clip=1.0, ema_decay=0.9999, horizontal_flip=True,
                   checkpoint_every=10_000)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
