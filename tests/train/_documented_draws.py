"""The training draws as specs/training.md states them (TRAIN-4, TRAIN-6, TRAIN-11), computed
from the statement, not with specdiff.train.randomness, so the laws' tests compare the trainer
with the text, not with itself."""

import torch

# The streams σ of TRAIN-4: the step's draws, the epochs' permutations, rank 0's forward (2 + r).
STEP, EPOCH, FORWARD_OF_RANK_0 = 0, 1, 2


def stream_seed(stream: int, seed: int, index: int) -> int:
    """G(σ, seed, i) = i ⊕ ((2^10·seed + σ)·φ mod 2^64), φ = 0x9E3779B97F4A7C15."""
    return index ^ ((1024 * seed + stream) * 0x9E3779B97F4A7C15 % 2**64)


def documented_generator(stream: int, seed: int, index: int) -> torch.Generator:
    return torch.Generator().manual_seed(stream_seed(stream, seed, index))


def documented_batch(seed: int, step: int, batch_size: int, dataset_size: int) -> torch.Tensor:
    """TRAIN-6: entries [j·B, (j+1)·B) of randperm(N) drawn from G(1, seed, e)."""
    epoch, position = divmod(step, dataset_size // batch_size)
    permutation = torch.randperm(dataset_size, generator=documented_generator(EPOCH, seed, epoch))
    return permutation[position * batch_size:(position + 1) * batch_size]
