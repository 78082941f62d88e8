"""benchmarks/samplers.py: each sampler at a budget of model calls, its table, and --plot."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from specdiff.diffusion import NoiseSchedule

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "samplers.py"
BARS = NoiseSchedule.linear(1000).alpha_bars.numpy()


def samplers_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("samplers_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("sampler", "budget", "expected"), [
    ("ddim", 10, (10, 10)),  # one call a step
    ("pndm", 10, (9, 10)),  # SOLV-3: the warm-up evaluates the second timestep twice
    ("heun", 10, (5, 9)),  # KSAMP-7: 2m − 1 calls on m visited timesteps
    ("heun", 5, (3, 5)),
    ("unipc", 50, (50, 50)),  # the Karras grid of 50 levels visits 50 timesteps on T = 1000
])
def test_each_sampler_gets_the_most_steps_whose_calls_fit_the_budget(
        sampler: str, budget: int, expected: tuple[int, int]) -> None:
    assert samplers_benchmark().steps_within(sampler, BARS, budget) == expected


def test_the_table_has_a_row_per_sampler_and_a_column_per_budget() -> None:
    bench = samplers_benchmark()
    rows = [("ddpm", 1000, 1000, 1000, 0.0039),
            *[("heun", budget, steps, calls, 1.0 / budget)
              for budget, steps, calls in [(5, 3, 5), (10, 5, 9), (20, 10, 19), (50, 25, 49)]]]
    assert bench.markdown_table("oracle", "W2", rows).splitlines() == [
        "oracle: W2 (steps)", "",
        "| sampler | 5 calls | 10 calls | 20 calls | 50 calls |", "|---|---|---|---|---|",
        "| ddpm | 0.0039 (1000) at 1000 calls | | | |",
        "| heun | 0.2 (3) | 0.1 (5; 9 calls) | 0.05 (10; 19 calls) | 0.02 (25; 49 calls) |"]


def test_plot_without_matplotlib_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(SystemExit, match=r"^samplers.py: error: --plot needs matplotlib: "
                                         r"pip install matplotlib$"):
        samplers_benchmark().plot(str(tmp_path / "plot.png"), [])
    assert not (tmp_path / "plot.png").exists()


def test_plot_draws_a_line_per_sampler(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rows = [("ddim", budget, budget, budget, 1.0 / budget) for budget in (5, 10, 20, 50)]
    samplers_benchmark().plot(str(tmp_path / "plot.png"), [("oracle", "W2", rows)])
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")
