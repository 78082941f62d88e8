"""The DDPM CIFAR-10 recipe (Ho et al. 2020): the 35.7M-parameter U-Net, Adam 2e-4, batch 128,
5000 warmup steps, EMA 0.9999, gradient clipping at 1, random horizontal flips, linear β from
1e-4 to 0.02 over T = 1000 steps; bf16 autocast on CUDA.

    python examples/train_cifar10.py --data /path/to/cifar-10-batches-py --out runs/cifar10
    python examples/train_cifar10.py --small --out runs/cifar10-smoke   # CPU smoke run

CIFAR-10 is read from a local folder (python pickle batches or the binary version); nothing is
downloaded. ``--small`` writes a small CIFAR-format folder of random images, then trains the
tiny U-Net for a few steps through the same loader and trainer.
"""

import argparse
import tempfile
from pathlib import Path

import torch

from specdiff.data.fixtures import write_cifar10_folder
from specdiff.train import TrainConfig
from specdiff.train.run import train_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="folder with the CIFAR-10 batches")
    parser.add_argument("--out", default="runs/cifar10")
    parser.add_argument("--steps", type=int, default=800_000)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--small", action="store_true", help="a few CPU steps on fake data")
    arguments = parser.parse_args()

    if arguments.small:
        with tempfile.TemporaryDirectory() as folder:
            write_cifar10_folder(Path(folder), "python", images_per_batch=16, seed=0)
            config = TrainConfig(steps=3, batch_size=8, learning_rate=2e-4, warmup_steps=2,
                                 ema_decay=0.9999, checkpoint_every=3)
            train_run(arguments.out, config, data=f"cifar10:{folder}", model="unet-tiny",
                      device="cpu", resume=arguments.resume)
        return
    if arguments.data is None:
        parser.error("--data is required (or --small for a smoke run)")
    cuda = torch.cuda.is_available()
    config = TrainConfig.ddpm_cifar10(arguments.steps)
    if cuda:
        config = TrainConfig(**{**config.to_dict(), "amp": "bf16"})
    train_run(arguments.out, config, data=f"cifar10:{arguments.data}", model="unet-cifar10",
              device="cuda" if cuda else "cpu", resume=arguments.resume)


if __name__ == "__main__":
    main()
