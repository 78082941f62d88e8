"""Every random draw of a training step is a function of (seed, step) (specs/training.md).

Each kind of draw has its own stream σ (0: the step's draws, 1: the epochs' permutations, 2 + r:
the forward draws of the process of rank r), and index i of stream σ gets a generator seeded with

    G(σ, seed, i) = i ⊕ ((2^10·seed + σ)·φ mod 2^64),  φ = 0x9E3779B97F4A7C15.

torch's CPU generator keeps only the low 32 bits of its seed (seeding it with seed·2^40 + step, as
this module once did, gave every seed the same draws), so those bits must tell both the index and
the (seed, stream) apart: xoring is a bijection of i, and multiplying by an odd number is a
bijection modulo 2^32 of 2^10·seed + σ < 2^32. So no two steps i < 2^32 of a run share a
generator state, and at the same index no two seeds or streams do. Because nothing is carried
from one step to the next, a run resumed at step N draws exactly what an uninterrupted run draws
(TRAIN-5), and P data-parallel processes can each take their slice of the same global batch
(TRAIN-7).
"""

import contextlib
from collections.abc import Iterator

import torch

_GOLDEN = 0x9E3779B97F4A7C15  # ⌊2^64 / golden ratio⌋, odd: multiplying by it is a bijection
_STREAM_BITS = 10
SEED_LIMIT = 2 ** (32 - _STREAM_BITS)
_STEP_LIMIT = 2**40
_STEP_STREAM, _EPOCH_STREAM, _FIRST_FORWARD_STREAM = 0, 1, 2


def _stream_seed(stream: int, seed: int, index: int) -> int:
    """G(σ, seed, i) = i ⊕ ((2^10·seed + σ)·φ mod 2^64)."""
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be in [0, 2^{32 - _STREAM_BITS}), got {seed}")
    return index ^ (((seed << _STREAM_BITS) + stream) * _GOLDEN % 2**64)


def _require_step(step: int) -> None:
    if not 0 <= step < _STEP_LIMIT:
        raise ValueError(f"step must be in [0, 2^40), got {step}")


def step_generator(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """TRAIN-4: the generator of the step's own draws (flips, t, ε, null labels), seeded with
    G(0, seed, step)."""
    _require_step(step)
    return torch.Generator(device=device).manual_seed(_stream_seed(_STEP_STREAM, seed, step))


@contextlib.contextmanager
def forward_randomness(seed: int, step: int, device: torch.device | str = "cpu",
                       rank: int = 0) -> Iterator[None]:
    """TRAIN-11: inside, torch's global CPU generator and the global generator of ``device``
    are seeded with G(2 + r, seed, step) for the process of rank r; on exit both are restored.

    The model's own draws (dropout, or any layer that draws in forward) come from the global
    generators, which is also what gradient checkpointing saves and replays for the recomputed
    forward, so seeding them covers every model without threading a generator through it.
    """
    _require_step(step)
    if not 0 <= rank < 2**_STREAM_BITS - _FIRST_FORWARD_STREAM:
        raise ValueError(f"rank must be in [0, {2**_STREAM_BITS - _FIRST_FORWARD_STREAM}), "
                         f"got {rank}")
    device = torch.device(device)
    value = _stream_seed(_FIRST_FORWARD_STREAM + rank, seed, step)
    accelerators = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=accelerators):
        torch.default_generator.manual_seed(value)
        if device.type == "cuda":
            index = torch.cuda.current_device() if device.index is None else device.index
            torch.cuda.default_generators[index].manual_seed(value)
        yield


def batch_indices(seed: int, step: int, batch_size: int, dataset_size: int) -> torch.Tensor:
    """TRAIN-6: epoch e = ⌊step / E⌋ with E = ⌊N / B⌋ batches per epoch; the batch is entries
    [k·B, (k+1)·B) of torch.randperm(N) drawn from G(1, seed, e), k = step mod E.

    Every example is seen once per epoch; the last N mod B examples of a permutation are skipped.
    """
    if not 1 <= batch_size <= dataset_size:
        raise ValueError(
            f"batch_size must be in [1, dataset size] = [1, {dataset_size}], got {batch_size}"
        )
    _require_step(step)
    batches_per_epoch = dataset_size // batch_size
    epoch, position = divmod(step, batches_per_epoch)
    generator = torch.Generator().manual_seed(_stream_seed(_EPOCH_STREAM, seed, epoch))
    permutation = torch.randperm(dataset_size, generator=generator)
    return permutation[position * batch_size : (position + 1) * batch_size]
