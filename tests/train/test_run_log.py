"""CKPT-10: the run's log (metrics.jsonl) holds each step once, and a resume must go forward."""

import json
import shutil
from pathlib import Path

import pytest

from specdiff.cli import main
from specdiff.train import list_checkpoints
from tests.train._tiny_run import tiny_trainer

TINY = ["--data", "digits", "--image-size", "8", "--model", "epsconv", "--timesteps", "20",
        "--batch-size", "8", "--quiet"]


def _logged_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.spec("CKPT-10")
def test_resuming_from_an_earlier_checkpoint_drops_the_records_after_it(tmp_path: Path) -> None:
    tiny_trainer(tmp_path, steps=4, checkpoint_every=2, keep_checkpoints=3).fit()
    assert _logged_steps(tmp_path) == [1, 2, 3, 4]
    kept = (tmp_path / "metrics.jsonl").read_text().splitlines()[:2]
    shutil.rmtree(tmp_path / "checkpoint-00000004")  # go back to step 2
    resumed = tiny_trainer(tmp_path, steps=5, checkpoint_every=2, keep_checkpoints=3)
    assert resumed.resume() == 2
    resumed.fit()
    assert _logged_steps(tmp_path) == [1, 2, 3, 4, 5]
    assert (tmp_path / "metrics.jsonl").read_text().splitlines()[:2] == kept
    # A new run in a folder whose log outlived its checkpoints starts a new log.
    for checkpoint in list_checkpoints(tmp_path):
        shutil.rmtree(checkpoint)
    tiny_trainer(tmp_path, steps=1).fit()
    assert _logged_steps(tmp_path) == [1]


@pytest.mark.spec("CKPT-10")
@pytest.mark.parametrize("steps", [2, 3])
def test_a_resume_that_would_not_go_forward_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], steps: int) -> None:
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "3", "--out", str(run)]) == 0
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    capsys.readouterr()
    assert main(["train", *TINY, "--steps", str(steps), "--resume", "--out", str(run)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("specdiff train: error: steps must be greater than 3, the step of "
                            f"the checkpoint resumed from ({run / 'checkpoint-00000003'}), "
                            f"got {steps}")
    assert error.count("\n") == 1 and "nan" not in error
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before
    assert [path.name for path in list_checkpoints(run)] == ["checkpoint-00000003"]
