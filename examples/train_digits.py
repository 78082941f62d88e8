"""The fast demo: a small U-Net on scikit-learn's bundled 8×8 digits, then a grid of samples.

    python examples/train_digits.py --out runs/digits            # under 2 minutes on a CPU
    python examples/train_digits.py --out runs/smoke --steps 20  # a smoke run

Same as the README's main job, through the library instead of the command line.
"""

import argparse

from specdiff.train import TrainConfig
from specdiff.train.run import load_for_sampling, resolve_device, train_run
from specdiff.visualize import image_grid, write_png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/digits")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--samples", default="samples.png")
    parser.add_argument("--device", default="auto")
    arguments = parser.parse_args()

    config = TrainConfig(steps=arguments.steps, batch_size=64, learning_rate=1e-3,
                         warmup_steps=min(100, arguments.steps), ema_decay=0.999,
                         horizontal_flip=False,  # a mirrored digit is not a digit
                         min_snr_gamma=5.0, checkpoint_every=500)
    train_run(arguments.out, config, data="digits", model="unet-digits", image_size=8,
              device=arguments.device)
    diffusion, identity, _ = load_for_sampling(arguments.out, resolve_device(arguments.device))
    images = diffusion.generate((64, *identity["image_shape"]), sampler="dpmpp_sde",  # type: ignore[misc]
                                steps=20, eta=1.0, seed=0)
    print(f"wrote {write_png(arguments.samples, image_grid(images), scale=4)}")


if __name__ == "__main__":
    main()
