"""Sample quality against model calls for every sampler of ``Diffusion.generate``, at 5, 10, 20
and 50 model calls, on the exact Gaussian oracle and on a trained digits run.

Each sampler gets, for a budget of B calls, the most steps whose model calls fit in B (Heun and
EDM call the model 2m − 1 times on m visited timesteps, PNDM m + 1, DPM++ 2S and SDE twice on
most steps; a Karras grid may visit fewer timesteps than steps): the calls are counted on the
sampler's spec chain (KSAMP-7, SAMP-3: the torch sampler makes the same calls), and on the digits
run counted again on the network. DDPM is one row at its T = 1000 calls. Stochastic samplers run
with generate's eta = 1 (EDM: S_churn = 40); DDIM with eta = 0.

Gaussian oracle (always): data N(0.3, 0.5²), linear T = 1000 schedule. Its quality is computed
exactly, not sampled: each sampler's output law is Gaussian with the moments that
``specdiff.testing.exact_law.exact_moments`` finds from its spec chain (SOLV-7, KSAMP-9); the
table shows the 2-Wasserstein distance to the data law, √((m − μ)² + (s − σ)²) (0 is exact).
Digits (with ``--run RUN``, a trained digits run, e.g. the README's ``runs/digits``): ``--samples``
samples per cell from the run's EMA model, seed 0; the table shows the digits classifier's mean
confidence on them (``specdiff.evaluation``, as ``specdiff evaluate``; real held-out digits score
0.91). ``--plot FILE`` draws quality against model calls for every sampler (needs matplotlib).

    python benchmarks/samplers.py [--run runs/digits] [--samples 256] [--device cpu] [--plot F]
"""

import argparse
import itertools
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from specdiff import spec
from specdiff.diffusion import NoiseSchedule
from specdiff.diffusion.api import EDM_CHURN_PER_ETA, SAMPLERS
from specdiff.spec import dpmpp, karras, unipc
from specdiff.spec.sigma import sigma_grid_timesteps
from specdiff.spec.timesteps import Spacing
from specdiff.testing.exact_law import (
    Chain,
    ddim_reference,
    ddpm_reference,
    dpm_solver_pp_reference,
    exact_moments,
    model_calls,
    pndm_reference,
)

T = 1000
CALL_BUDGETS = (5, 10, 20, 50)
DATA_MEAN, DATA_STD = np.array([0.3]), np.array([0.5])
ETA = 1.0  # the noise level of the stochastic samplers (generate's eta)

# A sampler of Diffusion.generate as its spec chain over (ᾱ, steps): the timesteps generate
# visits (leading for DDIM and PNDM, trailing for DPM-Solver++, the Karras grid for the σ
# samplers, specs/sigma.md) and the step it takes.
ChainOf = Callable[[np.ndarray, int], Chain]


def _karras(alpha_bars: np.ndarray, steps: int) -> list[int]:
    return [int(t) for t in sigma_grid_timesteps(alpha_bars, steps, "karras")]


def _spacing(steps: int, spacing: Spacing) -> list[int]:
    return [int(t) for t in spec.ddim_timesteps(T, steps, spacing)]


def _sigma(step_chain: Callable[..., np.ndarray], draws: bool, **options: Any) -> ChainOf:
    def chain_of(alpha_bars: np.ndarray, steps: int) -> Chain:
        visited = _karras(alpha_bars, steps)
        if draws:
            return lambda m, x, n: step_chain(alpha_bars, visited, m, x, n,
                                              prediction_type="epsilon", **options)
        return lambda m, x, _: step_chain(alpha_bars, visited, m, x, prediction_type="epsilon",
                                          **options)
    return chain_of


CHAINS: dict[str, ChainOf] = {
    "ddim": lambda b, n: ddim_reference(b, _spacing(n, "leading"), eta=0.0,
                                        prediction_type="epsilon"),
    "pndm": lambda b, n: pndm_reference(b, _spacing(n, "leading"), prediction_type="epsilon"),
    "dpm_solver_pp": lambda b, n: dpm_solver_pp_reference(b, _spacing(n, "trailing"),
                                                          prediction_type="epsilon"),
    "euler": _sigma(karras.euler_chain, False),
    "heun": _sigma(karras.heun_chain, False),
    "euler_ancestral": _sigma(karras.euler_ancestral_chain, True, eta=ETA),
    "edm": _sigma(karras.edm_chain, True, s_churn=EDM_CHURN_PER_ETA * ETA, s_tmin=0.0,
                  s_tmax=math.inf, s_noise=1.0),
    "lms": _sigma(karras.lms_chain, False, order=4),
    "dpmpp_2m": _sigma(dpmpp.dpmpp_2m_chain, False),
    "dpmpp_2m_sde": _sigma(dpmpp.dpmpp_2m_sde_chain, True, eta=ETA),
    "dpmpp_2s_ancestral": _sigma(dpmpp.dpmpp_2s_ancestral_chain, True, eta=ETA),
    "dpmpp_sde": _sigma(dpmpp.dpmpp_sde_chain, True, eta=ETA),
    "unipc": _sigma(unipc.unipc_chain, False),
}
assert set(CHAINS) | {"ddpm"} == set(SAMPLERS), "a sampler of generate has no row here"


def steps_within(sampler: str, alpha_bars: np.ndarray, budget: int) -> tuple[int, int]:
    """(steps, model calls): the most steps whose calls fit in ``budget``."""
    fits = [(steps, calls) for steps in range(1, budget + 1)
            if (calls := len(model_calls(CHAINS[sampler](alpha_bars, steps)))) <= budget]
    return fits[-1]


# One cell: (sampler, call budget, steps, model calls, quality).
Row = tuple[str, int, int, int, float]


def _wasserstein(chain: Chain, alpha_bars: np.ndarray, max_draws: int) -> float:
    """The exact 2-Wasserstein distance of the chain's output law to N(μ, σ²)."""
    mean, variance = exact_moments(chain, alpha_bars, DATA_MEAN, DATA_STD, "epsilon", max_draws)
    return float(math.hypot(mean[0] - DATA_MEAN[0], math.sqrt(variance[0]) - DATA_STD[0]))


def gaussian_rows() -> list[Row]:
    alpha_bars = NoiseSchedule.linear(T).alpha_bars.numpy()
    ddpm = ddpm_reference(alpha_bars, variance="fixed_small", prediction_type="epsilon")
    rows = [("ddpm", T, T, T, _wasserstein(ddpm, alpha_bars, T))]
    for sampler, budget in itertools.product(CHAINS, CALL_BUDGETS):
        steps, calls = steps_within(sampler, alpha_bars, budget)
        rows.append((sampler, budget, steps, calls,
                     _wasserstein(CHAINS[sampler](alpha_bars, steps), alpha_bars, 2 * steps)))
    return rows


def digits_rows(run_dir: str, device: str, samples: int) -> list[Row]:
    """Mean digits-classifier confidence of ``samples`` samples per cell from a trained run."""
    from specdiff.evaluation import fit_digits_classifier  # scikit-learn, digits only
    from specdiff.train.run import load_for_sampling

    diffusion, identity, _ = load_for_sampling(run_dir, device)
    shape = (samples, *identity["image_shape"])
    alpha_bars = diffusion.schedule.alpha_bars.double().cpu().numpy()
    classifier = fit_digits_classifier()
    calls: list[int] = []
    diffusion.model.register_forward_pre_hook(lambda *_: calls.append(1))

    def run(sampler: str, steps: int | None) -> tuple[int, float]:
        calls.clear()
        images = diffusion.generate(shape, steps=steps, sampler=sampler,  # type: ignore[arg-type]
                                    eta=0.0 if sampler == "ddim" else ETA, seed=0)
        confidence = classifier.predict_proba(images.clamp(-1, 1)).max(axis=1).mean()
        return len(calls), float(confidence)

    rows = [("ddpm", T, T, *run("ddpm", None))]
    for sampler, budget in itertools.product(CHAINS, CALL_BUDGETS):
        steps, counted = steps_within(sampler, alpha_bars, budget)
        made, confidence = run(sampler, steps)
        if made != counted:
            raise RuntimeError(f"{sampler} at {steps} steps made {made} model calls, its spec "
                               f"chain {counted}")
        rows.append((sampler, budget, steps, made, confidence))
    return rows


def markdown_table(title: str, quality: str, rows: Sequence[Row]) -> str:
    """One row per sampler, one column per call budget; a cell is "quality (steps)", with the
    calls made where fewer than the budget."""
    header = ["sampler", *(f"{budget} calls" for budget in CALL_BUDGETS)]
    lines = [f"{title}: {quality} (steps)", "", "| " + " | ".join(header) + " |",
             "|---" * len(header) + "|"]
    for name in dict.fromkeys(row[0] for row in rows):
        cells = {budget: f"{value:.3g} ({steps}" + (")" if calls == budget else
                                                    f"; {calls} calls)")
                 for row, budget, steps, calls, value in rows if row == name}
        lines.append(f"| {name} | " + " | ".join(
            cells.get(budget, "—") for budget in CALL_BUDGETS) + " |"
            if name != "ddpm" else f"| ddpm | {cells[T]} at {T} calls | | | |")
    return "\n".join(lines) + "\n"


def plot(path: str, panels: list[tuple[str, str, list[Row]]]) -> None:
    """Quality against model calls, one line per sampler, one panel per problem."""
    try:
        import matplotlib
    except ImportError:
        sys.exit("samplers.py: error: --plot needs matplotlib: pip install matplotlib")
    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8),
                                   squeeze=False)
    for axis, (title, quality, rows) in zip(axes[0], panels, strict=True):
        names = dict.fromkeys(name for name, *_ in rows if name != "ddpm")
        for index, name in enumerate(names):
            points = sorted((calls, value) for row, _, _, calls, value in rows if row == name)
            # Ten colours repeat: the second ten samplers get dashed lines and square markers.
            axis.plot(*zip(*points, strict=True), marker="os"[index // 10],
                      linestyle=["-", "--"][index // 10], label=name)
        axis.set(xscale="log", xlabel="model calls", ylabel=quality, title=title)
        axis.set_xticks(CALL_BUDGETS, [str(budget) for budget in CALL_BUDGETS])
        axis.minorticks_off()
        if "Wasserstein" in quality:
            axis.set_yscale("log")
    axes[0][-1].legend(fontsize="small", ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained digits run folder (its rows are skipped "
                                      "without one)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--samples", type=int, default=256, help="digits samples per cell")
    parser.add_argument("--plot", metavar="FILE", help="also draw quality against model calls")
    arguments = parser.parse_args()
    oracle = ("Gaussian oracle N(0.3, 0.5²), linear T = 1000, exact law",
              "2-Wasserstein distance to the data", gaussian_rows())
    panels = [oracle]
    print(markdown_table(*oracle))
    if arguments.run is None:
        print("digits: skipped (pass --run runs/digits, a trained digits run)")
    else:
        digits = (f"digits run {arguments.run}, {arguments.samples} samples",
                  "digits classifier confidence",
                  digits_rows(arguments.run, arguments.device, arguments.samples))
        panels.append(digits)
        print(markdown_table(*digits))
    if arguments.plot:
        plot(arguments.plot, panels)


if __name__ == "__main__":
    main()
