"""benchmarks/gpu_check.py on a machine without CUDA: one line and exit 0, nothing written; bad
arguments: one line and exit 2; its train-and-resume check, run on CPU where TRAIN-5 makes the
resumed run bit-exact."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from specdiff.data.fixtures import write_cifar10_folder

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def run_script(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True,
                          text=True, timeout=120, check=False, env=environment, cwd=ROOT)


def gpu_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_without_cuda_it_says_so_in_one_line_and_exits_0(tmp_path: Path) -> None:
    done = run_script("--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "gpu_check: no CUDA device on this machine; nothing checked"]
    assert done.stderr == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("arguments", "named"), [
    ((), "--out"),
    (("--out", "OUT", "--train-seconds", "5"), "--train-seconds must be in [30, 300], got 5"),
    (("--out", "OUT", "--train-seconds", "many"), "--train-seconds"),
    (("--out", "FILE"), "--out must be a folder"),
    (("--out", "OUT", "--bogus"), "--bogus"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, arguments: tuple[str, ...],
                                            named: str) -> None:
    (tmp_path / "FILE").write_text("a file the user keeps")
    arguments = tuple(str(tmp_path / a) if a in ("OUT", "FILE") else a for a in arguments)
    done = run_script(*arguments)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("gpu_check: error: ") and named in line
    assert not (tmp_path / "OUT").exists()
    assert (tmp_path / "FILE").read_text() == "a file the user keeps"


def test_train_and_resume_continues_from_the_middle_checkpoint(tmp_path: Path) -> None:
    fixtures = tmp_path / "cifar10"
    write_cifar10_folder(fixtures, "python", images_per_batch=8, seed=0)
    record = gpu_check().train_and_resume(
        tmp_path / "work", f"cifar10:{fixtures}", "unet-tiny", 4,
        ["--batch-size", "8", "--device", "cpu"], 120)
    assert record["resumed_from"] == 2
    assert record["resume_continues_from_the_checkpoint"] is True
    # On the CPU the resume is bit-exact (TRAIN-5), so the check's own comparison must see it.
    assert record["bitwise_equal_losses"] is True
    assert record["resumed_over_original_mean_loss"] == 1.0
    assert record["resume_agrees_in_distribution"] is True
