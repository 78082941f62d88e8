"""Training throughput (images/s) and peak memory of the trainer's step, per model and device.

Rows: the digits demo model (unet-digits, 8×8) on CPU, the CIFAR-10 U-Net (35.7M parameters,
32×32) on CPU with a small batch, and both on CUDA (bf16 autocast for CIFAR) when a GPU is
present. Each row runs ``Trainer`` on random uint8 images for warm-up + timed steps and prints a
plain-text table. Peak memory: CUDA ``max_memory_allocated``; CPU the process's peak RSS
(``ru_maxrss``) measured in a fresh subprocess per row, so rows do not inherit each other's peak.

    python benchmarks/train.py [--steps 5] [--threads N]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

import torch

from specdiff.data import ImageDataset
from specdiff.diffusion import Diffusion
from specdiff.train import TrainConfig, Trainer
from specdiff.train.models import build_model, build_schedule, model_record, schedule_record

ROWS = [  # (model, image shape, batch, device, amp)
    ("unet-digits", (1, 8, 8), 64, "cpu", "none"),
    ("unet-cifar10", (3, 32, 32), 8, "cpu", "none"),
    ("unet-digits", (1, 8, 8), 256, "cuda", "none"),
    ("unet-cifar10", (3, 32, 32), 128, "cuda", "bf16"),
]


def measure(model: str, shape: tuple[int, int, int], batch: int, device: str, amp: str,
            steps: int) -> dict[str, float]:
    """Images/s over ``steps`` timed steps (after 2 warm-up steps) and peak memory in MiB."""
    images = torch.randint(0, 256, (max(4 * batch, 256), *shape), dtype=torch.uint8)
    record = model_record(model, shape, 1000)
    schedule = schedule_record("linear", 1000)
    diffusion = Diffusion(build_model(record), build_schedule(schedule))
    with tempfile.TemporaryDirectory() as run_dir:
        config = TrainConfig(steps=2, batch_size=batch, amp=amp,  # type: ignore[arg-type]
                             checkpoint_every=10**9, log_every=10**9)
        trainer = Trainer(diffusion, ImageDataset(images), config, run_dir,
                          identity={}, device=device, progress=False)
        for step in range(2):
            trainer._train_step(step)
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for step in range(2, 2 + steps):
            trainer._train_step(step)
        if device == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"images_per_s": steps * batch / elapsed, "peak_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--row", type=int, help=argparse.SUPPRESS)  # one row, in a subprocess
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    if arguments.row is not None:
        print(json.dumps(measure(*ROWS[arguments.row], steps=arguments.steps)))
        return
    print(f"torch {torch.__version__}, {arguments.threads} CPU threads, "
          f"{arguments.steps} timed steps per row")
    print(f"{'model':<14}{'image':>10}{'batch':>7}{'device':>8}{'amp':>6}"
          f"{'images/s':>11}{'peak MiB':>10}")
    for index, (model, shape, batch, device, amp) in enumerate(ROWS):
        if device == "cuda" and not torch.cuda.is_available():
            continue
        output = subprocess.run(
            [sys.executable, __file__, "--row", str(index), "--steps", str(arguments.steps),
             "--threads", str(arguments.threads)],
            capture_output=True, text=True, check=True,
        ).stdout
        result = json.loads(output.strip().splitlines()[-1])
        image = "x".join(str(side) for side in shape)
        print(f"{model:<14}{image:>10}{batch:>7}{device:>8}{amp:>6}"
              f"{result['images_per_s']:>11.1f}{result['peak_mib']:>10.0f}")


if __name__ == "__main__":
    main()
