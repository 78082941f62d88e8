"""Every random draw of a training step is a function of (seed, step) (specs/training.md).

Because nothing is carried from one step to the next, a run resumed at step N draws exactly what
an uninterrupted run draws (TRAIN-5), and P data-parallel processes can each take their slice of
the same global batch (TRAIN-7).
"""

import torch

# Room for 2^40 steps per seed in the 64-bit generator seed.
_STEP_BITS = 40


def step_generator(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """TRAIN-5: the generator of step ``step``: seeded with seed·2^40 + step."""
    if not 0 <= step < 2**_STEP_BITS:
        raise ValueError(f"step must be in [0, 2^{_STEP_BITS}), got {step}")
    if not 0 <= seed < 2 ** (62 - _STEP_BITS):
        raise ValueError(f"seed must be in [0, 2^{62 - _STEP_BITS}), got {seed}")
    return torch.Generator(device=device).manual_seed((seed << _STEP_BITS) + step)


def batch_indices(seed: int, step: int, batch_size: int, dataset_size: int) -> torch.Tensor:
    """TRAIN-6: epoch e = ⌊step / E⌋ with E = ⌊N / B⌋ batches per epoch; the batch is entries
    [k·B, (k+1)·B) of a permutation of the N indices seeded by (seed, e), k = step mod E.

    Every example is seen once per epoch; the last N mod B examples of a permutation are skipped.
    """
    if not 1 <= batch_size <= dataset_size:
        raise ValueError(
            f"batch_size must be in [1, dataset size] = [1, {dataset_size}], got {batch_size}"
        )
    batches_per_epoch = dataset_size // batch_size
    epoch, position = divmod(step, batches_per_epoch)
    # A separate stream from step_generator's: the top bit marks permutation seeds.
    generator = torch.Generator().manual_seed((1 << 62) | (seed << 24) | (epoch % 2**24))
    permutation = torch.randperm(dataset_size, generator=generator)
    return permutation[position * batch_size : (position + 1) * batch_size]
