"""``specdiff evaluate``'s report: a self-contained page whose every embedded picture decodes,
figures that plot the run's own numbers (metrics.jsonl, DATA-10's neighbours, LIK-12's terms),
and a clear message when matplotlib (the ``plots`` extra) is missing."""

import ast
import base64
import io
import json
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import specdiff
from specdiff.cli import main
from specdiff.data.splits import load_split
from specdiff.evaluation import plots
from specdiff.evaluation.plots import trailing_mean
from specdiff.evaluation.report import report_figures
from specdiff.evaluation.run_metrics import evaluate_run
from specdiff.testing import assert_close_to_spec
from specdiff.train.run import load_for_sampling
from tests.evaluation._logged_run import LOGGED_LOSSES

DATA_URI = "data:image/png;base64,"


class PageParser(HTMLParser):
    """The img sources, h2 texts and every other resource reference of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.headings: list[str] = []
        self.external: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values["src"] or "")
        elif tag in ("link", "script", "iframe") or (tag != "img" and "src" in values):
            self.external.append(tag)
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag: str) -> None:
        self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.headings.append(data)


def decode(source: str) -> Image.Image:
    assert source.startswith(DATA_URI), source[:40]
    picture = Image.open(io.BytesIO(base64.b64decode(source[len(DATA_URI):], validate=True)))
    picture.load()
    assert picture.format == "PNG"
    return picture


def test_the_report_is_one_page_whose_pictures_decode_and_are_the_pngs_beside_it(
        run: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval" / "metrics.json"
    assert main(["evaluate", str(run), "--n-samples", "10", "--vlb-timesteps", "4",
                 "--device", "cpu", "--out", str(out)]) == 0
    page = PageParser()
    page.feed((out.parent / "report.html").read_text(encoding="utf-8"))
    assert page.headings == ["Samples", "Nearest training images", "Training loss",
                             "Terms of the variational bound"]
    assert page.external == []  # self-contained: nothing fetched from elsewhere
    files = ["report-samples.png", "report-neighbours.png", "report-loss.png", "report-vlb.png"]
    assert len(page.images) == len(files)
    for source, name in zip(page.images, files, strict=True):
        picture = decode(source)
        beside = Image.open(out.parent / name)
        assert base64.b64decode(source[len(DATA_URI):]) == (out.parent / name).read_bytes()
        assert picture.size == beside.size and min(picture.size) >= 100
    # 10 samples of 8×8: a grid of ⌈√10⌉ = 4 columns, 3 rows, 1 pixel between and around,
    # enlarged by a whole factor.
    width, height = decode(page.images[0]).size
    assert width % (4 * 9 + 1) == 0 and height == (3 * 9 + 1) * (width // (4 * 9 + 1))
    # The held-out images' median distance to their nearest training image, by brute force on
    # the images as DATA-1 reads them (float32).
    def read(images: torch.Tensor) -> torch.Tensor:
        return (images.float() / 127.5 - 1.0).double().reshape(len(images), -1)

    held_out = read(load_split("digits", "held_out", 8).images[:10])[:, None]
    training = read(load_split("digits", "train", 8).images)[None]
    distances = ((held_out - training) ** 2).mean(dim=2).sqrt().min(dim=1).values
    nearest = json.loads(out.read_text())["nearest_training_image"]
    assert_close_to_spec(torch.tensor(nearest["held_out_median"], dtype=torch.float64),
                         np.median(distances.numpy()), "reduction")


def test_the_figures_plot_the_runs_log_its_nearest_images_and_its_bound(run: Path) -> None:
    diffusion, config, _ = load_for_sampling(run, torch.device("cpu"))
    evaluation = evaluate_run(diffusion, config, n_samples=5, vlb_timesteps=4, batch_size=8,
                              seed=0)
    figures = report_figures(run, evaluation)
    # The loss: the log's own numbers, read here with json, raw and as the trailing mean.
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    raw, smoothed = figures["loss"].axes[0].lines
    assert raw.get_xdata().tolist() == [record["step"] for record in records]
    assert raw.get_ydata().tolist() == [record["loss"] for record in records]
    window = 2  # 5% of 30 records, at least 2
    expected = [np.mean(LOGGED_LOSSES[max(0, i - window + 1):i + 1]) for i in range(30)]
    np.testing.assert_array_equal(smoothed.get_ydata(), expected)
    assert figures["loss"].axes[0].get_yscale() == "log"
    # The bound: prior plus each stratum's mean term counted for each of its timesteps is the
    # bits/dim of metrics.json (strata of 20 timesteps in 4: 5 each, centres 2, 7, 12, 17).
    mean_line = figures["vlb"].axes[0].lines[0]
    assert mean_line.get_xdata().tolist() == [2.0, 7.0, 12.0, 17.0]
    bound = float(evaluation.vlb.prior.mean()) + 5 * float(np.sum(mean_line.get_ydata()))
    assert bound == pytest.approx(evaluation.metrics["bits_per_dim"], rel=1e-12)
    # The neighbours: each row's cells are the sample and the training images nearest to it,
    # found here by brute force.
    training = load_split("digits", "train", 8).images
    cells = figures["neighbours"].axes
    assert len(cells) == 5 * 4
    for row in range(5):
        sample = evaluation.samples[row].double().reshape(-1)
        as_read = (training.float() / 127.5 - 1.0).double().reshape(len(training), -1)
        distances = ((as_read - sample) ** 2).mean(dim=1).sqrt()
        nearest = int(distances.argmin())
        shown = np.asarray(cells[row * 4 + 1].get_images()[0].get_array())
        assert np.array_equal(shown, training[nearest, 0].numpy())
        assert cells[row * 4 + 1].get_xlabel() == f"d = {float(distances[nearest]):.3f}"


def test_a_run_without_a_training_log_gets_a_report_without_the_loss(run: Path,
                                                                      tmp_path: Path) -> None:
    imported = tmp_path / "imported"
    shutil.copytree(run, imported)
    (imported / "metrics.jsonl").unlink()
    (imported / "report-loss.png").write_bytes(b"from an earlier report")
    assert main(["evaluate", str(imported), "--n-samples", "4", "--vlb-timesteps", "2",
                 "--device", "cpu"]) == 0
    page = PageParser()
    page.feed((imported / "report.html").read_text(encoding="utf-8"))
    assert "Training loss" not in page.headings and len(page.images) == 3
    assert not (imported / "report-loss.png").exists()


def test_without_matplotlib_evaluate_names_the_extra_and_writes_nothing(
        run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    out = tmp_path / "metrics.json"
    assert main(["evaluate", str(run), "--n-samples", "4", "--device", "cpu",
                 "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("specdiff evaluate: error: ")
    assert "pip install 'specdiff[plots]'" in error
    assert list(tmp_path.iterdir()) == []
    # --no-report needs no matplotlib.
    assert main(["evaluate", str(run), "--n-samples", "4", "--vlb-timesteps", "2",
                 "--device", "cpu", "--out", str(out), "--no-report"]) == 0
    assert [path.name for path in tmp_path.iterdir()] == ["metrics.json"]


def test_missing_matplotlib_is_an_import_error_and_a_value_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for kind in (ImportError, ValueError):
        with pytest.raises(kind, match=r"pip install 'specdiff\[plots\]'"):
            plots.new_figure(1.0, 1.0)


def test_trailing_mean_averages_the_last_window_values() -> None:
    np.testing.assert_array_equal(trailing_mean([1.0, 2.0, 3.0, 4.0], 2), [1.0, 1.5, 2.5, 3.5])
    np.testing.assert_array_equal(trailing_mean([2.0, 4.0], 5), [2.0, 3.0])
    with pytest.raises(ValueError, match="window must be an int >= 1"):
        trailing_mean([1.0], 0)


def test_matplotlib_is_imported_only_inside_the_plot_functions() -> None:
    """So ``import specdiff`` (and any command) never loads it: every import of matplotlib in
    the package runs in a function of specdiff/evaluation/plots.py, or only for type checkers."""
    package = Path(specdiff.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if not any(name.split(".")[0] == "matplotlib" for name in names):
                continue
            enclosing = parents.get(node)
            while enclosing is not None and not isinstance(
                    enclosing, (ast.FunctionDef, ast.If)):
                enclosing = parents.get(enclosing)
            where = ("function" if isinstance(enclosing, ast.FunctionDef)
                     else "type checking" if isinstance(enclosing, ast.If)
                     and ast.unparse(enclosing.test) == "TYPE_CHECKING" else "module")
            found.append((str(path.relative_to(package)), where))
    assert {path for path, where in found if where != "type checking"} == {
        "evaluation/plots.py"}
    assert {where for _, where in found} == {"function", "type checking"}, found


def test_colour_images_are_shown_as_their_rgb_pixels() -> None:
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (2, 3, 3, 4, 4), generator=generator, dtype=torch.uint8)
    images = pixels.float() / 127.5 - 1.0  # on the grid: IMG-1 gives the pixels back
    figure = plots.neighbours_figure(images[:, 0], images[:, 1:], torch.ones((2, 2)))
    for row in range(2):
        for column in range(3):
            shown = np.asarray(figure.axes[row * 3 + column].get_images()[0].get_array())
            assert np.array_equal(shown, pixels[row, column].permute(1, 2, 0).numpy())
