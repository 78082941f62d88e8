"""The state a run ends in (model, EMA, Adam), and a bit-for-bit comparison of two of them."""

import torch

from specdiff.train import Trainer


def run_state(trainer: Trainer) -> dict[str, torch.Tensor]:
    """Model, EMA and optimizer tensors of a trainer, flattened to one mapping."""
    state = {f"model/{k}": v for k, v in trainer.diffusion.model.state_dict().items()}
    state |= {f"ema/{k}": v for k, v in trainer.ema.model.state_dict().items()}
    optimizer = trainer.optimizer.state_dict()["state"]
    for index, slots in optimizer.items():
        state |= {f"adam/{index}/{name}": torch.as_tensor(value) for name, value in slots.items()}
    return state


def assert_identical(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> None:
    assert left.keys() == right.keys()
    different = [key for key in left if not torch.equal(left[key], right[key])]
    assert not different, f"tensors that differ: {different[:5]}"
