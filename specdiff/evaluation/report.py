"""``specdiff evaluate``'s report: report.html, one self-contained page (its pictures embedded as
PNG data URIs), and the same pictures as PNG files beside it.

The pictures: the sample grid, each of the first samples beside its nearest training images
(DATA-10), the training loss of metrics.jsonl (raw and smoothed, log scale) and the bound's
per-timestep terms (LIK-12). The figures are matplotlib's (the ``plots`` extra).
"""

import base64
import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from specdiff._atomic import write_atomically
from specdiff.data import uint8_to_unit_range
from specdiff.evaluation.plots import (
    figure_png,
    loss_curve_figure,
    neighbours_figure,
    vlb_terms_figure,
)
from specdiff.evaluation.run_metrics import Evaluation
from specdiff.train.run_folder import read_metrics
from specdiff.visualize import image_grid, png_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT_FILE = "report.html"
PICTURE_FILES = {"samples": "report-samples.png", "neighbours": "report-neighbours.png",
                 "loss": "report-loss.png", "vlb": "report-vlb.png"}
SAMPLES_SHOWN = 64  # the sample grid shows at most this many samples
NEIGHBOUR_ROWS = 8  # the samples shown beside their nearest training images
SAMPLE_GRID_WIDTH = 512  # pixels: the grid is enlarged by a whole factor up to this width


class Picture(NamedTuple):
    """One picture of the report: its file, heading, caption and PNG contents."""

    file_name: str
    title: str
    caption: str
    png: bytes


def report_paths(folder: Path) -> list[Path]:
    """Every file ``write_report`` may write in ``folder``."""
    return [folder / REPORT_FILE, *(folder / name for name in PICTURE_FILES.values())]


def logged_losses(run_dir: str | os.PathLike[str]) -> tuple[list[int], list[float]] | None:
    """(steps, losses) of the records of run_dir/metrics.jsonl that have both, in order; None
    for a run without a log (an imported one)."""
    try:
        records = list(read_metrics(run_dir))
    except FileNotFoundError:
        return None
    pairs = [(record["step"], record["loss"]) for record in records
             if "step" in record and "loss" in record]
    return [step for step, _ in pairs], [loss for _, loss in pairs]


def report_figures(run_dir: str | os.PathLike[str], evaluation: Evaluation
                   ) -> dict[str, "Figure"]:
    """The matplotlib figures of the report, by PICTURE_FILES key: "neighbours", "vlb", and
    "loss" when the run has a training log."""
    vlb, metrics = evaluation.vlb, evaluation.metrics
    starts = np.cumsum([0, *vlb.stratum_sizes[:-1]]).tolist()
    figures = {
        "neighbours": neighbours_figure(
            evaluation.samples[:NEIGHBOUR_ROWS],
            uint8_to_unit_range(evaluation.training_images[
                evaluation.neighbours.indices[:NEIGHBOUR_ROWS]]),
            evaluation.neighbours.distances[:NEIGHBOUR_ROWS]),
        "vlb": vlb_terms_figure(starts, vlb.stratum_sizes, vlb.terms, float(vlb.prior.mean()),
                                metrics["bits_per_dim"]),
    }
    losses = logged_losses(run_dir)
    if losses is not None and losses[0]:
        figures["loss"] = loss_curve_figure(*losses)
    return figures


def _sample_grid(evaluation: Evaluation) -> tuple[bytes, int, int]:
    """The PNG of the first SAMPLES_SHOWN samples' grid, its count and its enlargement."""
    shown = evaluation.samples[:SAMPLES_SHOWN]
    grid = image_grid(shown)
    scale = max(1, SAMPLE_GRID_WIDTH // grid.shape[1])
    return png_bytes(grid, scale), shown.shape[0], scale


def report_pictures(run_dir: str | os.PathLike[str], evaluation: Evaluation) -> list[Picture]:
    """The report's pictures, in the order of the page."""
    metrics = evaluation.metrics
    figures = report_figures(run_dir, evaluation)
    grid, shown, scale = _sample_grid(evaluation)
    sampling = metrics["samples"]
    nearest = metrics["nearest_training_image"]
    rows = min(NEIGHBOUR_ROWS, evaluation.samples.shape[0])
    vlb = metrics["vlb"]
    pictures = [
        Picture(PICTURE_FILES["samples"], "Samples",
                f"The first {shown} of the {sampling['count']} samples evaluate generated "
                f"({sampling['sampler']}, η = {sampling['eta']:g}, {sampling['steps']} steps; "
                f"batch i drawn "
                f"with seed {metrics['seed']} + i), enlarged ×{scale}.", grid),
        Picture(PICTURE_FILES["neighbours"], "Nearest training images",
                f"Each of the first {rows} samples beside its "
                f"{evaluation.neighbours.indices.shape[1]} nearest training images, by RMS pixel "
                f"distance d in [−1, 1]. A model that copies its training set puts its samples "
                f"much nearer to it than unseen images are: samples lie at median "
                f"d = {nearest['samples_median']:.3f} from their nearest training image, the "
                f"held-out images at {nearest['held_out_median']:.3f}.",
                figure_png(figures["neighbours"])),
    ]
    if "loss" in figures:
        pictures.append(Picture(
            PICTURE_FILES["loss"], "Training loss",
            "The loss of each logged training step (metrics.jsonl, one record every log_every "
            "steps) and its trailing mean, on a log scale: a curve still falling at the end "
            "says more steps would help.", figure_png(figures["loss"])))
    pictures.append(Picture(
        PICTURE_FILES["vlb"], "Terms of the variational bound",
        f"L_t in bits/dim on the {metrics['held_out_examples']} held-out images "
        f"({vlb['estimator']} bound over {vlb['timesteps']} timesteps; a stratified bound "
        f"shows one point per stratum, the mean of the L_t drawn in it). The bound is the prior "
        f"term plus the sum of L_t over every t (a stratum's point counting once for each of "
        f"its timesteps): {metrics['bits_per_dim']:.3f} bits/dim.", figure_png(figures["vlb"])))
    return pictures


def _metric_rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    stderr = metrics["bits_per_dim_stderr"]
    rows = [
        ("data", str(metrics["data"])),
        ("held-out images", str(metrics["held_out_examples"])),
        ("test loss", f"{metrics['test_loss']:.4f}"),
        ("bits/dim", f"{metrics['bits_per_dim']:.3f}"
         + (f" ± {stderr:.3f}" if stderr is not None and math.isfinite(stderr) else "")),
        ("sample pixels: mean, std", f"{metrics['samples']['mean']:.3f}, "
                                     f"{metrics['samples']['std']:.3f}"),
        ("held-out pixels: mean, std", f"{metrics['held_out_pixels']['mean']:.3f}, "
                                       f"{metrics['held_out_pixels']['std']:.3f}"),
    ]
    nearest = metrics["nearest_training_image"]
    rows.append(("nearest training image, median d: samples, held-out",
                 f"{nearest['samples_median']:.3f}, {nearest['held_out_median']:.3f}"))
    if "digits" in metrics:
        rows.append(("digits classifier confidence: samples, held-out",
                     f"{metrics['digits']['sample_confidence']:.3f}, "
                     f"{metrics['digits']['held_out_confidence']:.3f}"))
    return rows


_STYLE = """body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto;
  padding: 0 1em; color: #222; line-height: 1.4; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 0.2em 1em 0.2em 0; border-bottom: 1px solid #ddd; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
img.pixels { image-rendering: pixelated; }
p.caption { color: #555; max-width: 45em; }"""


def report_html(run_dir: str | os.PathLike[str], metrics: dict[str, Any],
                pictures: Sequence[Picture]) -> str:
    """The page: the main metrics, then each picture with its caption, embedded."""
    title = f"specdiff evaluate: {run_dir}"
    table = "\n".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
                      for name, value in _metric_rows(metrics))
    sections = []
    for picture in pictures:
        data = base64.b64encode(picture.png).decode("ascii")
        pixels = ' class="pixels"' if picture.file_name == PICTURE_FILES["samples"] else ""
        sections.append(
            f"<section>\n<h2>{html.escape(picture.title)}</h2>\n"
            f'<img{pixels} src="data:image/png;base64,{data}" '
            f'alt="{html.escape(picture.title)}">\n'
            f'<p class="caption">{html.escape(picture.caption)} '
            f"(<code>{html.escape(picture.file_name)}</code>)</p>\n</section>")
    body = "\n".join(sections)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n"
            f"<body>\n<h1>{html.escape(title)}</h1>\n<table>\n{table}\n</table>\n"
            f"{body}\n</body>\n</html>\n")


def _write_bytes(path: Path, contents: bytes) -> Path:
    return write_atomically(path, lambda stream: stream.write(contents))


def write_report(run_dir: str | os.PathLike[str], evaluation: Evaluation,
                 folder: str | os.PathLike[str]) -> Path:
    """Write report.html and its PNGs into ``folder`` (each atomically; a picture this report
    lacks, the loss of a run without a log, is removed, not left from an earlier report);
    return the page."""
    target = Path(folder)
    pictures = report_pictures(run_dir, evaluation)
    for picture in pictures:
        _write_bytes(target / picture.file_name, picture.png)
    for name in set(PICTURE_FILES.values()) - {picture.file_name for picture in pictures}:
        (target / name).unlink(missing_ok=True)
    return _write_bytes(target / REPORT_FILE,
                        report_html(run_dir, evaluation.metrics, pictures).encode("utf-8"))
