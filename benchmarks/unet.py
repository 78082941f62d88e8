"""U-Net speed and memory: ``UNet(config)`` against diffusers' UNet2DModel with the same config
(``specdiff.interop.diffusers_config_for``), same machine, same inputs, for the CIFAR-10 preset
(``UNetConfig.ddpm_cifar10()``, 35.7M parameters) and the digits demo model
(``UNetConfig.digits()``, 8×8).

Per model, implementation and device: the median time of a forward pass (eval, no grad) and of a
training step (train mode, forward + backward of a mean-square loss), after one warm-up call.
Both implementations are timed in one process, their calls interleaved, so that the load of a
shared machine weighs on both alike; the ratio is ours/diffusers. Peak memory is measured in a
fresh subprocess per (model, implementation, device, phase), so one's allocations cannot hide
another's.

Peak memory: the most bytes of tensor memory the phase holds at once above what the model and
inputs hold (activations, saved tensors, gradients), the same quantity on both devices. CUDA:
``torch.cuda.max_memory_allocated`` during a call after a warm-up call (the caching allocator's
reserve and the CUDA context are not counted). CPU: ``TensorMemoryPeak``, which adds up the
storages of the tensors the phase's operators return while they are alive (views and in-place
results are not new memory); scratch memory a kernel frees before it returns is not seen. (The
process's peak RSS, used before, only grows when a phase beats the high-water mark that
importing torch and building the model left, so it read 0 for the digits model, and it counted
the ~70 MiB of sympy that FlopCounterMode imports on a model's first host read as activations.)
FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` in a separate call.

CUDA runs under bf16 autocast with channels_last (``--compile``: the timed calls also run under
``torch.compile``; memory is measured on the eager model, sparing each worker a compilation); MFU =
counted FLOPs / time / the device's dense bf16 peak, read from ``PEAK_BF16_TFLOPS`` by the
device's name (``--peak-tflops`` overrides; an unknown device gets no MFU).

    OMP_NUM_THREADS=1 python benchmarks/unet.py [--models cifar10 digits] [--devices cpu cuda]
        [--batch-cpu 4] [--batch-cuda 128] [--repeats 5] [--compile] [--peak-tflops T]
        [--threads 0] [--json PATH]
"""

import argparse
import importlib
import importlib.util
import json
import statistics
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from specdiff.interop import diffusers_config_for
from specdiff.nn import UNet, UNetConfig

IMPLEMENTATIONS = ("specdiff", "diffusers")
# Dense bf16 tensor-core peaks in TFLOP/s from the vendors' datasheets (the sparsity figures are
# twice these), matched against torch.cuda.get_device_name() by substring, first match wins.
PEAK_BF16_TFLOPS = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
    ("V100", None),  # no bf16 tensor cores: no MFU
)
# Per model: the config, and the batch on CPU (the default --batch-cpu is the CIFAR one).
MODELS = {"cifar10": (UNetConfig.ddpm_cifar10, 1), "digits": (UNetConfig.digits, 16)}


def peak_tflops_for(device_name: str) -> float | None:
    """The device's dense bf16 peak from PEAK_BF16_TFLOPS, or None for an unknown device."""
    for fragment, tflops in PEAK_BF16_TFLOPS:
        if fragment in device_name:
            return tflops
    return None


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


def batch_for(model: str, device: str, args: argparse.Namespace) -> int:
    batch: int = args.batch_cuda if device == "cuda" else args.batch_cpu
    return batch * MODELS[model][1]


class Bench:
    """One implementation of one model on one device, with its inputs and its two phases."""

    def __init__(self, implementation: str, model: str, device: str, batch: int,
                 compile_model: bool = False) -> None:
        config = MODELS[model][0]()
        torch.manual_seed(0)
        self.eager = build(implementation, config).to(device)
        size = config.image_size
        self.x = torch.randn(batch, config.data_channels, size, size, device=device)
        self.t = torch.randint(0, config.num_timesteps, (batch,), device=device)
        if device == "cuda":
            self.eager = self.eager.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.model: Callable[..., torch.Tensor] = (
            torch.compile(self.eager) if compile_model else self.eager)
        self.device = device

    def _autocast(self) -> torch.autocast:
        return torch.autocast("cuda", torch.bfloat16, enabled=self.device == "cuda")

    def forward(self) -> object:
        self.eager.eval()
        with torch.no_grad(), self._autocast():
            return self.model(self.x, self.t)

    def train(self) -> object:
        self.eager.train()
        with self._autocast():
            loss: torch.Tensor = self.model(self.x, self.t).float().square().mean()
        loss.backward()
        self.eager.zero_grad(set_to_none=True)
        return loss

    def phase(self, name: str) -> Callable[[], object]:
        return self.forward if name == "forward" else self.train

    def flops(self, name: str) -> int:
        """The phase's FLOPs, counted on the eager model (a compiled one hides its ops)."""
        model, self.model = self.model, self.eager
        try:
            with FlopCounterMode(display=False) as counter:
                self.phase(name)()
        finally:
            self.model = model
        flops: int = counter.get_total_flops()
        return flops

    def seconds(self, name: str) -> float:
        if self.device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        self.phase(name)()
        if self.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start


PHASES = ("forward", "train")


class TensorMemoryPeak(TorchDispatchMode):
    """The peak bytes of the storages that operators return while the mode is on, counted from
    each storage's first appearance until it is freed (a finalizer on the storage)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self.counted: set[int] = set()

    def _free(self, pointer: int, size: int) -> None:
        self.live -= size
        self.counted.discard(pointer)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = {tensor.untyped_storage().data_ptr()
                  for tensor in tree_flatten((args, kwargs))[0]
                  if isinstance(tensor, torch.Tensor)}
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            pointer, size = storage.data_ptr(), storage.nbytes()
            if pointer in inputs or pointer in self.counted or size == 0:
                continue  # a view, an in-place result, or already counted
            self.counted.add(pointer)
            self.live += size
            weakref.finalize(storage, self._free, pointer, size)
        self.peak = max(self.peak, self.live)
        return out


def peak_memory_and_flops(bench: Bench, phase: str) -> dict[str, float]:
    """Runs in a fresh worker process: the phase's peak tensor memory (see the module docstring)
    after a warm-up call, then its FLOPs in a separate call."""
    bench.phase(phase)()  # warm-up: compilation, autotuning and lazy imports are not the phase
    if bench.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        bench.phase(phase)()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        with TensorMemoryPeak() as counter:
            bench.phase(phase)()
        peak = counter.peak
    return {"peak_bytes": peak, "flops": bench.flops(phase)}


def run_worker(implementation: str, model: str, device: str, phase: str,
               args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", implementation, "--models", model,
               "--devices", device, "--phase", phase, "--batch-cpu", str(args.batch_cpu),
               "--batch-cuda", str(args.batch_cuda), "--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{implementation} {model} on {device} failed:\n"
                           f"{done.stderr[-3000:]}")
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


def measure(model: str, device: str, implementations: tuple[str, ...],
            args: argparse.Namespace) -> list[dict[str, Any]]:
    batch = batch_for(model, device, args)
    rows: list[dict[str, Any]] = [
        {"model": model, "implementation": name, "device": device, "batch": batch,
         "parameters": sum(p.numel() for p in build(name, MODELS[model][0]()).parameters())}
        for name in implementations]
    for phase in PHASES:
        for row in rows:
            measured = run_worker(row["implementation"], model, device, phase, args)
            row[f"{phase}_peak_bytes"] = measured["peak_bytes"]
            row[f"{phase}_flops"] = measured["flops"]
    benches = {name: Bench(name, model, device, batch, args.compile)
               for name in implementations}
    for phase in PHASES:
        seconds = median_seconds_interleaved(benches, phase, args.repeats)
        for row in rows:
            row[f"{phase}_seconds"] = seconds[row["implementation"]]
    return rows


def diffusers_installed() -> bool:
    return importlib.util.find_spec("diffusers") is not None


def add_ratios_and_mfu(rows: list[dict[str, Any]], peak_tflops: float | None) -> None:
    """ours/diffusers (time and peak memory) on the diffusers rows; MFU on the CUDA rows."""
    by_key = {(row["model"], row["device"], row["implementation"]): row for row in rows}
    for row in rows:
        ours = by_key[(row["model"], row["device"], "specdiff")]
        for phase in PHASES:
            if row["implementation"] == "diffusers":
                for what in ("seconds", "peak_bytes"):
                    peer = row[f"{phase}_{what}"]
                    row[f"{phase}_{what}_ratio"] = ours[f"{phase}_{what}"] / peer if peer else None
            row[f"{phase}_mfu"] = (
                row[f"{phase}_flops"] / row[f"{phase}_seconds"] / (peak_tflops * 1e12)
                if row["device"] == "cuda" and peak_tflops else None)


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (f"{'model':8} {'device':6} {'impl':10} {'batch':>5} {'phase':8} {'ms/batch':>10} "
              f"{'time ours/peer':>14} {'peak MiB':>9} {'mem ours/peer':>13} {'GFLOP':>8} "
              f"{'MFU':>6}")
    print(header)
    print("-" * len(header))

    def ratio(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}"

    for row in rows:
        for phase in PHASES:
            mfu = row[f"{phase}_mfu"]
            print(f"{row['model']:8} {row['device']:6} {row['implementation']:10} "
                  f"{row['batch']:>5} {phase:8} {row[f'{phase}_seconds'] * 1e3:>10.1f} "
                  f"{ratio(row.get(f'{phase}_seconds_ratio')):>14} "
                  f"{row[f'{phase}_peak_bytes'] / 2**20:>9.1f} "
                  f"{ratio(row.get(f'{phase}_peak_bytes_ratio')):>13} "
                  f"{row[f'{phase}_flops'] / 1e9:>8.2f} "
                  f"{'-' if mfu is None else f'{mfu:.1%}':>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=tuple(MODELS))
    parser.add_argument("--devices", nargs="+", choices=("cpu", "cuda"),
                        help="default: cpu, and cuda when a GPU is present")
    parser.add_argument("--batch-cpu", type=int, default=4,
                        help="the CIFAR batch on CPU (digits: 16 times it)")
    parser.add_argument("--batch-cuda", type=int, default=128,
                        help="the CIFAR batch on CUDA (digits: 16 times it)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="torch.compile the models")
    parser.add_argument("--peak-tflops", type=float,
                        help="the GPU's dense bf16 peak for MFU (default: PEAK_BF16_TFLOPS)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("batch_cpu", "batch_cuda", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if "cuda" in devices and not torch.cuda.is_available():
        parser.error("--devices cuda: no CUDA device on this machine")
    if args.worker:
        model, device = args.models[0], devices[0]
        bench = Bench(args.worker, model, device, batch_for(model, device, args), args.compile)
        print(json.dumps(peak_memory_and_flops(bench, args.phase)))
        return

    implementations = IMPLEMENTATIONS if diffusers_installed() else IMPLEMENTATIONS[:1]
    rows = [row for model in args.models for device in devices
            for row in measure(model, device, implementations, args)]
    device_name = torch.cuda.get_device_name() if "cuda" in devices else "none"
    peak_tflops = args.peak_tflops or peak_tflops_for(device_name)
    add_ratios_and_mfu(rows, peak_tflops)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, GPU: {device_name}"
          f"{'' if peak_tflops or 'cuda' not in devices else ' (unknown device: no MFU)'}, "
          f"median of {args.repeats} interleaved calls after 1 warm-up"
          f"{', torch.compile' if args.compile else ''}")
    print_table(rows)
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"gpu": device_name, "peak_bf16_tflops": peak_tflops, "rows": rows},
                      file, indent=1)


if __name__ == "__main__":
    main()
