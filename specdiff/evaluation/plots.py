"""The figures of ``specdiff evaluate``'s report and of ``specdiff sample --trajectory``.

matplotlib is the optional extra ``plots``: it is imported here only, when a figure is drawn, so
``import specdiff`` never loads it. Figures are ``matplotlib.figure.Figure`` objects drawn
without pyplot (no global state, no display backend); their plotted data can be read back from
their axes, which the tests do.
"""

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from specdiff.visualize import image_grid

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOTS_EXTRA = "pip install 'specdiff[plots]'"
DPI = 100
# The loss curve's smoothing: a trailing mean over this fraction of the records (at least 2).
SMOOTHING_FRACTION = 0.05


class MissingExtraError(ImportError, ValueError):
    """An optional dependency is not installed: an ImportError to Python, and to the command
    line a bad environment it reports in one line (exit status 2), like a bad value."""


def require_matplotlib() -> None:
    """Raises MissingExtraError, naming the extra to install, when matplotlib cannot be
    imported; call it before any work whose result would need a figure."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingExtraError(f"plots need matplotlib, which is not installed: "
                                f"{PLOTS_EXTRA}") from None


def new_figure(width: float, height: float, *, left: float = 0.9, right: float = 0.2,
               bottom: float = 0.6, top: float = 0.4) -> "Figure":
    """An empty figure of width × height inches at DPI whose axes go inside the given margins
    (inches). Fixed margins, not matplotlib's constrained or tight layout: those measure every
    label and took seconds per figure."""
    require_matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    figure.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                           top=1 - top / height)
    return figure


def _integer_ticks(axes: "Axes") -> None:
    """Ticks of the x axis at whole numbers only (steps and timesteps are ints)."""
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def figure_png(figure: "Figure") -> bytes:
    """The figure as a PNG of (width·DPI) × (height·DPI) pixels."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def trailing_mean(values: Sequence[float], window: int) -> np.ndarray:
    """s_i = mean(v_j for max(0, i − window + 1) ≤ j ≤ i): the mean of the last ``window``
    values, fewer at the start."""
    if window < 1:
        raise ValueError(f"window must be an int >= 1, got {window}")
    array = np.asarray(values, dtype=np.float64)
    return np.array([array[max(0, end - window):end].mean() for end in range(1, len(array) + 1)],
                    dtype=np.float64)


def smoothing_window(count: int) -> int:
    """The records the smoothed loss averages: SMOOTHING_FRACTION of them, at least 2."""
    return max(2, round(SMOOTHING_FRACTION * count))


def loss_curve_figure(steps: Sequence[int], losses: Sequence[float]) -> "Figure":
    """The training loss of metrics.jsonl against the step, raw and smoothed (trailing_mean
    over smoothing_window records), on a log scale."""
    figure = new_figure(7.0, 4.0)
    axes = figure.add_subplot()
    window = smoothing_window(len(losses))
    axes.plot(steps, losses, color="tab:blue", alpha=0.35, linewidth=1.0,
              marker="." if len(losses) < 50 else None, label="raw (one record per log step)")
    axes.plot(steps, trailing_mean(losses, window), color="tab:blue", linewidth=2.0,
              label=f"smoothed (mean of the last {window} records)")
    axes.set_yscale("log")
    axes.set_xlabel("training step")
    _integer_ticks(axes)
    axes.set_ylabel("loss (MSE of the prediction target)")
    axes.set_title("training loss")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    return figure


def vlb_terms_figure(stratum_starts: Sequence[int], stratum_sizes: Sequence[int],
                     terms: torch.Tensor, prior: float, total: float) -> "Figure":
    """The bound's terms (LIK-12) against t: for each stratum, the mean over examples of its
    L_{t_k} (bits/dim) at the stratum's centre, and the 10–90% band of the examples; log scale.
    ``terms`` is (examples, strata)."""
    values = terms.to(torch.float64).cpu().numpy()
    centres = [start + (size - 1) / 2 for start, size in zip(stratum_starts, stratum_sizes,
                                                             strict=True)]
    figure = new_figure(7.0, 4.0)
    axes = figure.add_subplot()
    low, high = np.quantile(values, [0.1, 0.9], axis=0)
    axes.fill_between(centres, low, high, color="tab:orange", alpha=0.25,
                      label="10–90% of the examples")
    axes.plot(centres, values.mean(axis=0), color="tab:orange",
              marker="." if len(centres) <= 100 else None,
              label=f"mean over {values.shape[0]} held-out images")
    axes.set_yscale("log")
    axes.set_xlabel("timestep t" if max(stratum_sizes) == 1
                    else f"timestep t (centre of each of {len(centres)} strata)")
    axes.set_ylabel("term L_t (bits/dim)")
    _integer_ticks(axes)
    axes.set_title(f"terms of the variational bound: {total:.3f} bits/dim in all, "
                   f"prior {prior:.2g}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    return figure


def _show_grid(axes: "Axes", grid: np.ndarray) -> None:
    """An image_grid mosaic, pixel for pixel (grey images in grey)."""
    if grid.shape[-1] == 1:
        axes.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        axes.imshow(grid, interpolation="nearest")


def _cell_centres(count: int, side: int) -> list[float]:
    """Pixel centres of the cells of an image_grid axis (padding 1)."""
    return [1 + index * (side + 1) + (side - 1) / 2 for index in range(count)]


def mosaic_figure(images: torch.Tensor, column_labels: Sequence[str],
                  row_labels: Sequence[str], title: str) -> "Figure":
    """images (rows, columns, C, H, W) in [−1, 1] as one image_grid mosaic (IMG-1), each column
    and row labelled."""
    rows, columns, *image_shape = images.shape
    grid = image_grid(images.reshape(rows * columns, *image_shape), columns)
    cell = min(1.2, 9.0 / columns)  # inches per image: at most 9 inches wide
    figure = new_figure(0.8 + cell * columns, 0.8 + cell * rows, left=0.7, right=0.1,
                        bottom=0.1, top=0.7)
    axes = figure.add_subplot()
    _show_grid(axes, grid)
    height, width = image_shape[1], image_shape[2]
    axes.set_xticks(_cell_centres(columns, width), list(column_labels))
    axes.set_yticks(_cell_centres(rows, height), list(row_labels))
    axes.tick_params(length=0, labelsize=8)
    axes.xaxis.tick_top()
    axes.set_title(title)
    return figure


def neighbours_figure(samples: torch.Tensor, neighbour_images: torch.Tensor,
                      distances: torch.Tensor) -> "Figure":
    """Each sample (a row) beside its nearest training images (DATA-10), each labelled with its
    RMS distance d; ``neighbour_images`` is (rows, k, C, H, W) in [−1, 1]."""
    rows, k = distances.shape
    figure = new_figure(0.2 + 1.4 * (k + 1), 0.95 + 1.45 * rows, left=0.1, right=0.1,
                        bottom=0.3, top=0.65)
    cells = figure.subplots(rows, k + 1, squeeze=False,
                            gridspec_kw={"wspace": 0.15, "hspace": 0.3})
    for row in range(rows):
        images = [samples[row], *neighbour_images[row]]
        for column, image in enumerate(images):
            axes = cells[row, column]
            _show_grid(axes, image_grid(image[None].cpu().float(), padding=0))
            axes.set_xticks([])
            axes.set_yticks([])
            if column:
                axes.set_xlabel(f"d = {float(distances[row, column - 1]):.3f}", fontsize=8)
            if row == 0:
                axes.set_title("sample" if column == 0 else f"{_ordinal(column)} nearest",
                               fontsize=9)
    figure.suptitle("nearest training images (RMS distance d)", y=1 - 0.1 / figure.get_figheight(),
                    verticalalignment="top", fontsize=10)
    return figure


def _ordinal(rank: int) -> str:
    return f"{rank}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(rank if rank < 20 else rank % 10, 'th')}"


def trajectory_figure(predictions: torch.Tensor, timesteps: Sequence[int],
                      samples: torch.Tensor, sampler: str) -> "Figure":
    """x̂0 along the sampling path: ``predictions`` (rows, columns, C, H, W) at the given
    timesteps, then the sample the sampler returned, one row per sample."""
    images = torch.cat([predictions.cpu().float(), samples[:, None].cpu().float()], dim=1)
    labels = [*(f"t={t}" for t in timesteps), "sample"]
    figure = mosaic_figure(images, labels, [f"{row}" for row in range(images.shape[0])],
                           f"{sampler}: x̂0 predicted along the sampling path")
    figure.axes[0].set_ylabel("sample")
    return figure

