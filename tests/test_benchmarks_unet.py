"""benchmarks/unet.py: the device-peak table behind MFU, and the CPU peak-memory counter."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "unet.py"


def unet_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unet_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("name", "tflops"), [
    ("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H200", 989.0),
    ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA L4", 121.0), ("NVIDIA L40", 181.0),
    ("NVIDIA GeForce RTX 4090", 165.0), ("Tesla V100-SXM2-16GB", None), ("Some GPU", None),
])
def test_peak_is_read_by_device_name_and_unknown_devices_get_none(name: str,
                                                                  tflops: float | None) -> None:
    assert unet_benchmark().peak_tflops_for(name) == tflops


def test_cpu_peak_counts_live_tensors_not_views_or_in_place_results() -> None:
    with unet_benchmark().TensorMemoryPeak() as counter:
        a = torch.ones(1024, 256)  # 1 MiB
        b = a + 1  # 2 MiB live
        b.add_(1)  # in place: no new memory
        view = b.t()  # a view: no new memory
        del a
        c = b * 2  # 2 MiB live again
        del b, c, view
    assert counter.peak == 2 * 2**20
    assert counter.live == 0
