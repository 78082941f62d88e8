"""``specdiff sample --trajectory``: x̂0 every k-th model call, then the sample, one row per
sample, drawn from a watcher that leaves the samples as they are (SAMP-12)."""

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from specdiff.cli import main
from specdiff.evaluation import plots, trajectory
from specdiff.evaluation.trajectory import shown_calls
from specdiff.spec import ddim_timesteps


def test_the_trajectory_shows_x0_hat_every_kth_call_then_the_sample(
        run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[Any] = []

    def keep(*arguments: Any) -> Any:
        drawn.append(plots.trajectory_figure(*arguments))
        return drawn[-1]

    monkeypatch.setattr(trajectory, "trajectory_figure", keep)
    common = ["sample", str(run), "--n", "6", "--steps", "5", "--device", "cpu", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "plain.png")]) == 0
    assert main([*common, "--out", str(tmp_path / "watched.png"), "--trajectory",
                 str(tmp_path / "traj.png"), "--trajectory-every", "2"]) == 0
    assert (tmp_path / "watched.png").read_bytes() == (tmp_path / "plain.png").read_bytes()
    axes = drawn[0].axes[0]
    # 4 samples (rows) × (calls 0, 2, 4 of the 5 DDIM calls, then the sample), 8×8 images
    # 1 pixel apart.
    assert np.asarray(axes.get_images()[0].get_array()).shape == (4 * 9 + 1, 4 * 9 + 1)
    visited = [int(t) for t in ddim_timesteps(20, 5)]
    labels = [label.get_text() for label in axes.get_xticklabels()]
    assert labels == [f"t={visited[0]}", f"t={visited[2]}", f"t={visited[4]}", "sample"]
    picture = Image.open(tmp_path / "traj.png")  # that figure, at its size
    width, height = drawn[0].get_size_inches() * drawn[0].get_dpi()
    assert picture.format == "PNG" and picture.size == (round(width), round(height))


def test_the_trajectory_and_the_samples_are_two_files(run: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    same = str(tmp_path / "s.png")
    assert main(["sample", str(run), "--n", "2", "--steps", "2", "--device", "cpu", "--out",
                 same, "--trajectory", same]) == 2
    assert "--trajectory must name another file than --out" in capsys.readouterr().err
    assert main(["sample", str(run), "--n", "2", "--device", "cpu", "--out", same,
                 "--trajectory-every", "2"]) == 2
    assert "--trajectory-every needs --trajectory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_shown_calls_are_every_kth_and_the_last() -> None:
    assert shown_calls(5, 2) == [0, 2, 4]
    assert shown_calls(6, 2) == [0, 2, 4, 5]
    assert shown_calls(1, 3) == [0]
    assert shown_calls(39, None) == [0, 5, 10, 15, 20, 25, 30, 35, 38]  # ⌈39/8⌉ = 5


def test_without_matplotlib_the_trajectory_names_the_extra_and_nothing_is_written(
        run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    assert main(["sample", str(run), "--n", "2", "--steps", "2", "--device", "cpu", "--out",
                 str(tmp_path / "s.png"), "--trajectory", str(tmp_path / "t.png")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("specdiff sample: error: ") and error.count("\n") == 1
    assert "pip install 'specdiff[plots]'" in error
    assert list(tmp_path.iterdir()) == []
