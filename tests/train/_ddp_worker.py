"""One process of the 2-process data-parallel test (gloo backend, CPU)."""

from pathlib import Path

import torch
import torch.distributed as dist

from tests.train._tiny_run import tiny_trainer


def train_one_rank(rank: int, world_size: int, rendezvous: str, run_dir: str, steps: int) -> None:
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank,
                            world_size=world_size)
    try:
        torch.set_num_threads(1)
        trainer = tiny_trainer(Path(run_dir), steps=steps, batch_size=16)
        trainer.fit()
    finally:
        dist.destroy_process_group()
