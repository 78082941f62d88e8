"""Sampler overhead per step, and the cost of run-time type checking, on a tiny eps-net.

A sampler step is one model call plus the step's own work (validation, coefficients, the update,
the noise draw). With a tiny model the difference is the sampler's overhead; the peer of every
row is the bare model call in the same run. Prints a plain-text table.

    python benchmarks/overhead.py [--device cuda] [--batch 8] [--side 16] [--threads 1]
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from specdiff import typecheck
from specdiff.diffusion import NoiseSchedule, sample_ddim, sample_ddpm
from specdiff.nn.epsconv import EpsConvNet, EpsConvNetConfig

T = 1000
DDIM_STEPS = 50


def seconds_per_call(fn: Callable[[], object], device: str, repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls, after one warm-up call."""
    fn()
    timings = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--side", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device, shape = args.device, (args.batch, 3, args.side, args.side)
    model = EpsConvNet(EpsConvNetConfig(data_channels=3, hidden_channels=32, num_timesteps=T))
    model = model.to(device).eval()
    schedule = NoiseSchedule.linear(T).to(device)
    x = torch.randn(shape, device=device)
    t = torch.full((args.batch,), T // 2, dtype=torch.int64, device=device)

    def bare_call() -> object:
        with torch.no_grad():
            return model(x, t)

    def ddim() -> object:
        return sample_ddim(model, schedule, shape, steps=DDIM_STEPS,
                           generator=torch.Generator(device).manual_seed(0))

    def ddim_eta_1() -> object:
        return sample_ddim(model, schedule, shape, steps=DDIM_STEPS, eta=1.0,
                           generator=torch.Generator(device).manual_seed(0))

    def ddpm() -> object:
        return sample_ddpm(model, schedule, shape, generator=torch.Generator(device).manual_seed(0))

    rows: list[tuple[str, str, float, float]] = []
    for checking in (True, False):
        label = "on" if checking else "off"
        with typecheck(checking):
            model_seconds = seconds_per_call(bare_call, device, repeats=50)
            rows.append(("model forward", label, model_seconds, model_seconds))
            for name, run, steps, repeats in (
                (f"DDIM step (η=0, {DDIM_STEPS} steps)", ddim, DDIM_STEPS, 5),
                (f"DDIM step (η=1, {DDIM_STEPS} steps)", ddim_eta_1, DDIM_STEPS, 5),
                (f"DDPM step ({T} steps)", ddpm, T, 1),
            ):
                rows.append((name, label, seconds_per_call(run, device, repeats) / steps,
                             model_seconds))

    print(f"device {device}, batch {shape}, torch threads {torch.get_num_threads()}, "
          f"model EpsConvNet(hidden 32)")
    print(f"{'measurement':34} {'typecheck':>9} {'ms/call':>9} {'model ms':>9} {'overhead ms':>12}")
    for name, label, seconds, model_seconds in rows:
        overhead = seconds - model_seconds
        print(f"{name:34} {label:>9} {seconds * 1e3:9.3f} {model_seconds * 1e3:9.3f} "
              f"{overhead * 1e3:12.3f}")
    on, off = rows[0][2], rows[len(rows) // 2][2]
    print(f"type checking costs {(on - off) * 1e3:.3f} ms per model forward "
          f"({(on / off - 1) * 100:.0f}% of the unchecked call)")


if __name__ == "__main__":
    main()
