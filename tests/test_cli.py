"""The `specdiff` command end to end on a tiny run (TRAIN-9 for its refusals)."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from specdiff.cli import main
from specdiff.spec import read_ppm
from specdiff.testing import write_png
from specdiff.train import list_checkpoints

TINY = ["--data", "digits", "--image-size", "8", "--model", "epsconv", "--timesteps", "20",
        "--batch-size", "8", "--quiet"]


def test_train_then_sample_writes_a_grid_and_a_ppm(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "3", "--out", str(run)]) == 0
    assert [p.name for p in list_checkpoints(run)] == ["checkpoint-00000003"]
    grid, ppm = tmp_path / "grid.png", tmp_path / "first.ppm"
    assert main(["sample", str(run), "--n", "6", "--steps", "5", "--scale", "2", "--quiet",
                 "--out", str(grid), "--ppm", str(ppm)]) == 0
    picture = np.asarray(Image.open(grid))
    # 6 images of 8×8 in a 3-column grid with 1-pixel borders, doubled: (2·9+1)·2 × (3·9+1)·2.
    assert picture.shape == (38, 56)
    assert read_ppm(ppm).shape == (1, 3, 8, 8)


@pytest.mark.spec("TRAIN-9")
def test_train_refuses_to_overwrite_a_run_without_resume(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
    before = {p.name: (p / "model.safetensors").read_bytes() for p in list_checkpoints(run)}
    assert main(["train", *TINY, "--steps", "4", "--out", str(run)]) == 2
    assert "resume that run" in capsys.readouterr().err
    assert {p.name: (p / "model.safetensors").read_bytes() for p in list_checkpoints(run)} == before
    assert main(["train", *TINY, "--steps", "4", "--out", str(run), "--resume"]) == 0
    assert [p.name for p in list_checkpoints(run)][-1] == "checkpoint-00000004"


def test_bad_arguments_exit_2_with_a_message(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--data", "mnist", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert "data must be" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "nothing")]) == 2


def test_conditional_sampling_writes_one_row_per_class(tmp_path: Path) -> None:
    run = tmp_path / "run"
    conditional = [*TINY[:4], "--model", "unet-tiny", *TINY[6:], "--conditional"]
    assert main(["train", *conditional, "--steps", "2", "--out", str(run)]) == 0
    grid = tmp_path / "grid.png"
    assert main(["sample", str(run), "--class", "all", "--n", "20", "--guidance", "2.0",
                 "--steps", "3", "--scale", "1", "--quiet", "--out", str(grid)]) == 0
    # 10 classes × 2 samples: 10 rows and 2 columns of 8×8 images with 1-pixel borders.
    assert np.asarray(Image.open(grid)).shape == (10 * 9 + 1, 2 * 9 + 1)
    assert main(["sample", str(run), "--class", "10", "--quiet", "--out", str(grid)]) == 2


def test_inpaint_keeps_the_known_pixels(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
    image = np.random.default_rng(0).integers(0, 256, (8, 8))
    mask = np.zeros((8, 8))
    mask[:, :4] = 255  # keep the left half
    write_png(tmp_path / "in.png", image)
    write_png(tmp_path / "mask.png", mask)
    out = tmp_path / "out.png"
    assert main(["inpaint", str(run), "--image", str(tmp_path / "in.png"), "--mask",
                 str(tmp_path / "mask.png"), "--scale", "1", "--quiet", "--out", str(out)]) == 0
    result = np.asarray(Image.open(out))[1:-1, 1:-1]  # the grid's 1-pixel border
    np.testing.assert_array_equal(result[:, :4], image[:, :4])


def test_super_resolution_trains_and_upscales(tmp_path: Path) -> None:
    run = tmp_path / "run"
    sr = [*TINY[:4], "--model", "unet-tiny", *TINY[6:], "--task", "sr", "--scale", "2"]
    assert main(["train", *sr, "--steps", "2", "--out", str(run)]) == 0
    write_png(tmp_path / "small.png", np.full((4, 4), 128))
    out = tmp_path / "big.png"
    assert main(["upscale", str(run), "--image", str(tmp_path / "small.png"), "--steps", "3",
                 "--scale", "1", "--quiet", "--out", str(out)]) == 0
    assert np.asarray(Image.open(out)).shape == (8, 8)


def test_v_prediction_with_zero_terminal_snr_trains_and_samples(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--out", str(run), "--zero-terminal-snr",
                 "--prediction-type", "v_prediction"]) == 0
    for sampler in ("ddim", "dpm_solver_pp"):
        grid = tmp_path / f"{sampler}.png"
        assert main(["sample", str(run), "--n", "4", "--steps", "5", "--sampler", sampler,
                     "--quiet", "--out", str(grid)]) == 0
        assert grid.stat().st_size > 0


def test_epsilon_prediction_with_zero_terminal_snr_is_refused(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    assert main(["train", *TINY, "--steps", "2", "--out", str(tmp_path / "run"),
                 "--zero-terminal-snr"]) == 2
    assert "prediction_type must be" in capsys.readouterr().err


@pytest.mark.spec("TRAIN-7")
def test_torchrun_trains_with_two_processes_and_rank_0_writes(tmp_path: Path) -> None:
    import subprocess
    import sys

    run = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "specdiff.cli", "train", *TINY, "--steps", "2",
               "--out", str(run)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300,
                               check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert [p.name for p in list_checkpoints(run)] == ["checkpoint-00000002"]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1  # the last step, once
    assert completed.stdout.count("training epsconv") == 1  # rank 0 only
