"""`specdiff evaluate` end to end on a tiny run: metrics.json, its keys and its values."""

import json
import math
from pathlib import Path

import pytest
import torch

from specdiff.cli import main
from specdiff.train.run import load_for_sampling

TINY = ["--data", "digits", "--image-size", "8", "--model", "epsconv", "--timesteps", "20",
        "--batch-size", "8", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evaluate") / "run"
    assert main(["train", *TINY, "--steps", "3", "--out", str(folder)]) == 0
    return folder


def test_evaluate_writes_finite_metrics(run: Path) -> None:
    assert main(["evaluate", str(run), "--n-samples", "12", "--batch-size", "8",
                 "--device", "cpu"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["held_out_examples"] == 12
    assert metrics["vlb"] == {"timesteps": 20, "estimator": "full", "variance": "fixed_small",
                              "clip": True}
    assert metrics["bits_per_dim"] > 0.0
    numbers = [metrics["test_loss"], metrics["bits_per_dim"], metrics["bits_per_dim_stderr"],
               metrics["samples"]["mean"], metrics["samples"]["std"],
               metrics["held_out_pixels"]["mean"], metrics["held_out_pixels"]["std"],
               *(metrics["digits"][key] for key in ("sample_confidence", "held_out_accuracy",
                                                     "held_out_confidence"))]
    assert all(math.isfinite(value) for value in numbers)
    assert sum(metrics["digits"]["sample_class_counts"]) == 12
    assert metrics["digits"]["held_out_accuracy"] > 0.8  # the classifier itself is sound
    digits = metrics["digits"]
    assert digits["recognition_threshold"] == 0.9
    # 12 samples and 12 held-out digits: each fraction is a count of 12.
    assert all(round(12 * digits[key], 9) == round(12 * digits[key])
               and 0 <= digits[key] <= 1 for key in ("sample_recognized", "held_out_recognized"))
    nearest = metrics["nearest_training_image"]
    assert 0 <= nearest["samples_min"] <= nearest["samples_median"]
    assert not [path.name for path in run.iterdir() if path.name.endswith(".tmp")]


def test_evaluate_is_reproducible_and_takes_a_stratified_estimate(run: Path, tmp_path: Path
                                                                  ) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for out in (first, second):
        assert main(["evaluate", str(run), "--n-samples", "4", "--vlb-timesteps", "5",
                     "--device", "cpu", "--out", str(out)]) == 0
    assert first.read_text() == second.read_text()
    metrics = json.loads(first.read_text())
    assert metrics["vlb"]["estimator"] == "stratified" and metrics["vlb"]["timesteps"] == 5


@pytest.mark.parametrize(("argv", "sampler", "steps", "eta"), [
    (["--sampler", "dpmpp_sde", "--steps", "3", "--eta", "1"], "dpmpp_sde", 3, 1.0),
    (["--sampler", "ddpm", "--steps", "3"], "ddpm", None, 0.0),  # DDPM visits all T = 20
], ids=["dpmpp_sde", "ddpm"])
def test_evaluate_scores_the_samples_of_the_sampler_asked_for(
        run: Path, tmp_path: Path, argv: list[str], sampler: str, steps: int | None,
        eta: float) -> None:
    out = tmp_path / "m.json"
    assert main(["evaluate", str(run), "--n-samples", "5", "--batch-size", "4", "--seed", "7",
                 "--vlb-timesteps", "2", "--device", "cpu", "--out", str(out), *argv]) == 0
    recorded = json.loads(out.read_text())["samples"]
    assert (recorded["sampler"], recorded["steps"], recorded["eta"]) == (sampler, steps or 20,
                                                                         eta)
    diffusion = load_for_sampling(run)[0]
    # Batch i of evaluate's samples is drawn with seed + i (4 samples, then 1).
    samples = torch.cat([diffusion.generate((size, 1, 8, 8), sampler=sampler, steps=steps,
                                            eta=eta, seed=7 + index)
                         for index, size in enumerate((4, 1))]).double()
    assert recorded["mean"] == pytest.approx(float(samples.mean()), abs=1e-12)
    assert recorded["std"] == pytest.approx(float(samples.std()), abs=1e-12)


def test_evaluate_rejects_bad_arguments(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(run), "--vlb-timesteps", "21", "--device", "cpu"]) == 2
    assert "timesteps must be in [1, T] = [1, 20], got 21" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--n-samples", "0", "--device", "cpu"]) == 2
    assert "argument --n-samples: must be an integer in [1, 65536]" in capsys.readouterr().err


def test_evaluate_scores_class_conditional_runs_per_guidance_weight(tmp_path: Path) -> None:
    run = tmp_path / "conditional"
    conditional = [*TINY[:4], "--model", "unet-tiny", *TINY[6:], "--conditional"]
    assert main(["train", *conditional, "--steps", "2", "--out", str(run)]) == 0
    assert main(["evaluate", str(run), "--n-samples", "10", "--vlb-timesteps", "2",
                 "--device", "cpu"]) == 0
    scores = json.loads((run / "metrics.json").read_text())["digits"]["class_conditional"]
    assert set(scores) == {"guidance_1", "guidance_1.5"}
    for score in scores.values():
        assert score["accuracy"] in {k / 10 for k in range(11)}  # 10 samples, one per class
        assert 0.1 <= score["confidence"] <= 1.0
