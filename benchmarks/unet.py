"""U-Net speed and memory: ``UNet(UNetConfig.ddpm_cifar10())`` against diffusers' UNet2DModel
with the same config (``specdiff.interop.diffusers_config_for``), same machine, same inputs.

Per implementation and device: the median time of a forward pass (eval, no grad) and of a
training step (train mode, forward + backward of a mean-square loss), after one warm-up call.
Both models are timed in one process, their calls interleaved, so that the load of a shared
machine weighs on both alike; the ratio is ours/diffusers. Peak memory is measured in a fresh
subprocess per (implementation, device, phase), so one's allocations cannot hide another's.

Peak memory. CUDA: ``torch.cuda.max_memory_allocated`` above what the model and inputs hold
(tensor memory only; the caching allocator's reserve and the CUDA context are not counted). CPU:
the growth of the process's peak resident set size (``getrusage`` max RSS) over the first call
of the phase, above its value once the model and inputs are in memory: activations, gradients
(train), allocator slack and temporary buffers, in whole pages. It is an upper bound on the
tensor memory the phase needs, not the tensor memory itself.

CUDA runs under bf16 autocast with channels_last; MFU = counted FLOPs / time / peak FLOPs, with
FLOPs from ``torch.utils.flop_counter.FlopCounterMode`` (convolutions, matmuls, attention).

    python benchmarks/unet.py [--batch-cpu 4] [--batch-cuda 128] [--repeats 5]
                              [--peak-tflops 989] [--threads 0]
"""

import argparse
import importlib
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from specdiff.interop import diffusers_config_for
from specdiff.nn import UNet, UNetConfig

# H100 SXM dense bf16 tensor-core peak (989 TFLOP/s; the datasheet's 1979 assumes sparsity).
H100_BF16_TFLOPS = 989.0
IMPLEMENTATIONS = ("specdiff", "diffusers")


class SampleOf(torch.nn.Module):
    """A diffusers model returning its output tensor (it returns an output object)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.inner(x, t).sample
        return out


def build(implementation: str, config: UNetConfig) -> torch.nn.Module:
    """The model as ``model(x, t) -> eps``."""
    if implementation == "specdiff":
        return UNet(config)
    diffusers = importlib.import_module("diffusers")  # only when measuring diffusers
    return SampleOf(diffusers.UNet2DModel(**diffusers_config_for(config)))


class Bench:
    """One implementation on one device, with its inputs and its two phases."""

    def __init__(self, implementation: str, device: str, batch: int) -> None:
        config = UNetConfig.ddpm_cifar10()
        torch.manual_seed(0)
        self.model = build(implementation, config).to(device)
        self.x = torch.randn(batch, 3, config.image_size, config.image_size, device=device)
        self.t = torch.randint(0, config.num_timesteps, (batch,), device=device)
        if device == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.device = device

    def _autocast(self) -> torch.autocast:
        return torch.autocast("cuda", torch.bfloat16, enabled=self.device == "cuda")

    def forward(self) -> object:
        self.model.eval()
        with torch.no_grad(), self._autocast():
            return self.model(self.x, self.t)

    def train(self) -> object:
        self.model.train()
        with self._autocast():
            loss = self.model(self.x, self.t).float().square().mean()
        loss.backward()
        self.model.zero_grad(set_to_none=True)
        return loss

    def phase(self, name: str) -> Callable[[], object]:
        return self.forward if name == "forward" else self.train

    def seconds(self, name: str) -> float:
        if self.device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        self.phase(name)()
        if self.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start


PHASES = ("forward", "train")


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def peak_memory_and_flops(implementation: str, device: str, batch: int, phase: str
                          ) -> dict[str, float]:
    """Runs in a fresh worker process: the phase's peak memory (see the module docstring)."""
    bench = Bench(implementation, device, batch)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = max_rss_bytes()
    with FlopCounterMode(display=False) as counter:
        bench.phase(phase)()
    if device == "cuda":
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else max_rss_bytes()
    return {"peak_bytes": peak - base, "flops": counter.get_total_flops()}


def run_worker(implementation: str, device: str, batch: int, phase: str,
               args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", implementation, "--device", device,
               "--phase", phase, "--batch-cpu", str(batch), "--batch-cuda", str(batch),
               "--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{implementation} on {device} failed:\n{done.stderr[-3000:]}")
    row: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def median_seconds_interleaved(benches: dict[str, Bench], phase: str, repeats: int
                               ) -> dict[str, float]:
    """Median time per implementation, calls alternating between them, after a warm-up each."""
    timings: dict[str, list[float]] = {name: [] for name in benches}
    for bench in benches.values():
        bench.phase(phase)()
    for _ in range(repeats):
        for name, bench in benches.items():
            timings[name].append(bench.seconds(phase))
    return {name: statistics.median(values) for name, values in timings.items()}


def measure_device(device: str, implementations: tuple[str, ...], args: argparse.Namespace
                   ) -> list[dict[str, Any]]:
    batch = args.batch_cuda if device == "cuda" else args.batch_cpu
    rows = [{"implementation": name, "device": device, "batch": batch}
            for name in implementations]
    for phase in PHASES:
        for row in rows:
            measured = run_worker(row["implementation"], device, batch, phase, args)
            row[f"{phase}_peak_bytes"], row[f"{phase}_flops"] = (measured["peak_bytes"],
                                                                 measured["flops"])
    benches = {name: Bench(name, device, batch) for name in implementations}
    for phase in PHASES:
        seconds = median_seconds_interleaved(benches, phase, args.repeats)
        for row in rows:
            row[f"{phase}_seconds"] = seconds[row["implementation"]]
    return rows


def diffusers_installed() -> bool:
    return importlib.util.find_spec("diffusers") is not None


def print_table(rows: list[dict[str, Any]], peak_tflops: float) -> None:
    header = (f"{'device':6} {'model':10} {'batch':>5} {'phase':8} {'ms/batch':>10} "
              f"{'ours/diffusers':>14} {'peak MiB':>9} {'GFLOP':>8} {'MFU':>7}")
    print(header)
    print("-" * len(header))
    by_key = {(row["device"], row["implementation"]): row for row in rows}
    for row in rows:
        peer = by_key.get((row["device"], "diffusers"))
        for phase in ("forward", "train"):
            seconds = row[f"{phase}_seconds"]
            ratio = (f"{by_key[(row['device'], 'specdiff')][f'{phase}_seconds'] / seconds:.2f}"
                     if peer is row else "")
            flops = row[f"{phase}_flops"]
            mfu = (f"{flops / seconds / (peak_tflops * 1e12):.1%}" if row["device"] == "cuda"
                   else "-")
            print(f"{row['device']:6} {row['implementation']:10} {row['batch']:>5} {phase:8} "
                  f"{seconds * 1e3:>10.1f} {ratio:>14} "
                  f"{row[f'{phase}_peak_bytes'] / 2**20:>9.0f} {flops / 1e9:>8.1f} {mfu:>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-cpu", type=int, default=4)
    parser.add_argument("--batch-cuda", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peak-tflops", type=float, default=H100_BF16_TFLOPS,
                        help="the GPU's dense bf16 peak, for MFU (default: H100 SXM)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        batch = args.batch_cuda if args.device == "cuda" else args.batch_cpu
        print(json.dumps(peak_memory_and_flops(args.worker, args.device, batch, args.phase)))
        return

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    implementations = IMPLEMENTATIONS if diffusers_installed() else IMPLEMENTATIONS[:1]
    rows = [row for device in devices for row in measure_device(device, implementations, args)]
    print(f"UNetConfig.ddpm_cifar10() (35.7M parameters), torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads, median of {args.repeats} interleaved calls "
          f"after 1 warm-up")
    print_table(rows, args.peak_tflops)


if __name__ == "__main__":
    main()
