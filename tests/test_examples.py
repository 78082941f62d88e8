"""The example scripts run end to end (smoke runs on the CPU)."""

import subprocess
import sys
from pathlib import Path

import pytest

from specdiff.train import list_checkpoints

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(*arguments: str) -> None:
    completed = subprocess.run([sys.executable, *arguments], capture_output=True, text=True,
                               timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]


@pytest.mark.slow
def test_cifar10_example_small_trains_through_the_cifar_loader(tmp_path: Path) -> None:
    _run(str(EXAMPLES / "train_cifar10.py"), "--small", "--out", str(tmp_path / "run"))
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["checkpoint-00000003"]


@pytest.mark.slow
def test_digits_example_trains_and_writes_a_sample_grid(tmp_path: Path) -> None:
    samples = tmp_path / "samples.png"
    _run(str(EXAMPLES / "train_digits.py"), "--steps", "2", "--out", str(tmp_path / "run"),
         "--samples", str(samples), "--device", "cpu")
    assert samples.stat().st_size > 0
