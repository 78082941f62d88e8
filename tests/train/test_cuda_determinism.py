"""Law TRAIN-12 (specs/training.md): with deterministic algorithms on, a resumed run is
bit-identical to an uninterrupted one on CUDA; on CPU the same check runs as TRAIN-5's, in this
process (cuBLAS's workspace setting, the reason for a fresh process, is CUDA's alone)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.train._deterministic_resume import differing_state

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.spec("TRAIN-12")
def test_resumed_run_under_deterministic_algorithms_is_bit_identical(device: str,
                                                                      tmp_path: Path) -> None:
    if device == "cpu":
        assert differing_state(device, tmp_path) == []
        return
    # A fresh process: cuBLAS reads CUBLAS_WORKSPACE_CONFIG once, when CUDA starts.
    environment = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8", "OMP_NUM_THREADS": "1",
                   "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run(
        [sys.executable, "-m", "tests.train._deterministic_resume", device, str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False, env=environment, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []
