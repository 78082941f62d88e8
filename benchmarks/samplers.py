"""Sample quality against model calls for DDPM, DDIM, PNDM, DPM-Solver++ and the σ samplers
(Euler, Heun, Euler ancestral, EDM, LMS, DPM++ 2M, 2M SDE, 2S ancestral, SDE, UniPC on the Karras
grid).

Gaussian oracle (always): data N(0.3, 0.5²), linear T = 1000 schedule, exact oracle. The error is
computed exactly, not sampled: each sampler's output law is Gaussian with the moments that
specdiff.testing.exact_law finds from the spec chains (SOLV-7); the table shows |mean − μ| and
|variance − σ²| against the number of model calls. Digits (only with --run DIR, a trained run
folder, e.g. runs/digits): 512 samples per configuration from the run's EMA model; the table
shows |mean − data mean| and |std − data std| over pixels and images (a cheap proxy for quality).
Model calls are counted as the samplers make them (a Karras grid may visit fewer timesteps than
steps, and Heun, EDM and 2S make a second call on most steps).

    python benchmarks/samplers.py [--run runs/digits] [--side 16] [--device cpu] [--samples 512]
"""

import argparse
from collections.abc import Callable

import numpy as np
import torch

from specdiff import spec
from specdiff.diffusion import NoiseSchedule
from specdiff.spec import dpmpp, karras, unipc
from specdiff.spec.chains import NumpyModel
from specdiff.spec.sigma import sigma_grid_timesteps
from specdiff.testing.exact_law import (
    Chain,
    ddim_reference,
    ddpm_reference,
    dpm_solver_pp_reference,
    exact_moments,
    pndm_reference,
)

T = 1000
STEP_COUNTS = (5, 10, 20, 50)
DATA_MEAN, DATA_STD = np.array([0.3]), np.array([0.5])
# The σ samplers (specs/sigma.md) by their Diffusion.generate name, each as a spec chain on the
# visited timesteps; noise levels as generate's defaults for eta = 1 (EDM: S_churn = 40).
SIGMA_CHAINS: dict[str, Callable[[np.ndarray, list[int]], Chain]] = {
    "euler": lambda b, v: lambda m, x, _: karras.euler_chain(b, v, m, x,
                                                             prediction_type="epsilon"),
    "heun": lambda b, v: lambda m, x, _: karras.heun_chain(b, v, m, x, prediction_type="epsilon"),
    "euler_ancestral": lambda b, v: lambda m, x, n: karras.euler_ancestral_chain(
        b, v, m, x, n, eta=1.0, prediction_type="epsilon"),
    "edm": lambda b, v: lambda m, x, n: karras.edm_chain(
        b, v, m, x, n, s_churn=40.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0,
        prediction_type="epsilon"),
    "lms": lambda b, v: lambda m, x, _: karras.lms_chain(b, v, m, x, order=4,
                                                         prediction_type="epsilon"),
    "dpmpp_2m": lambda b, v: lambda m, x, _: dpmpp.dpmpp_2m_chain(b, v, m, x,
                                                                  prediction_type="epsilon"),
    "dpmpp_2m_sde": lambda b, v: lambda m, x, n: dpmpp.dpmpp_2m_sde_chain(
        b, v, m, x, n, eta=1.0, prediction_type="epsilon"),
    "dpmpp_2s_ancestral": lambda b, v: lambda m, x, n: dpmpp.dpmpp_2s_ancestral_chain(
        b, v, m, x, n, eta=1.0, prediction_type="epsilon"),
    "dpmpp_sde": lambda b, v: lambda m, x, n: dpmpp.dpmpp_sde_chain(
        b, v, m, x, n, eta=1.0, prediction_type="epsilon"),
    "unipc": lambda b, v: lambda m, x, _: unipc.unipc_chain(b, v, m, x,
                                                            prediction_type="epsilon"),
}


def counted(chain: Chain, calls: list[int]) -> Chain:
    """``chain`` with each model call appended to ``calls`` (its timestep)."""
    def run(model: NumpyModel, x_T: np.ndarray, noises: object) -> np.ndarray:
        def counting(x: np.ndarray, t: int) -> np.ndarray:
            calls.append(t)
            return model(x, t)
        return chain(counting, x_T, noises)  # type: ignore[arg-type]
    return run


def gaussian_rows() -> list[tuple[str, int, int, float, float]]:
    """(sampler, steps, model calls, |mean error|, |variance error|) from the exact law."""
    bars = NoiseSchedule.linear(T).alpha_bars.numpy()
    configurations: list[tuple[str, int, int, Chain]] = [
        ("ddpm", T, T, ddpm_reference(bars, variance="fixed_small", prediction_type="epsilon"))]
    for steps in STEP_COUNTS:
        leading = list(spec.ddim_timesteps(T, steps, "leading"))
        trailing = list(spec.ddim_timesteps(T, steps, "trailing"))
        configurations += [
            ("ddim eta=0", steps, steps,
             ddim_reference(bars, leading, eta=0.0, prediction_type="epsilon")),
            ("ddim eta=0 trailing", steps, steps,
             ddim_reference(bars, trailing, eta=0.0, prediction_type="epsilon")),
            ("pndm", steps, steps + 1, pndm_reference(bars, leading, prediction_type="epsilon")),
            ("dpm_solver_pp", steps, steps,
             dpm_solver_pp_reference(bars, trailing, prediction_type="epsilon")),
        ]
    rows = []
    for name, steps, calls, chain in configurations:
        mean, variance = exact_moments(chain, bars, DATA_MEAN, DATA_STD, "epsilon", T)
        rows.append((name, steps, calls, float(abs(mean[0] - DATA_MEAN[0])),
                     float(abs(variance[0] - DATA_STD[0] ** 2))))
    for name, build in SIGMA_CHAINS.items():
        for steps in STEP_COUNTS:
            visited = [int(t) for t in sigma_grid_timesteps(bars, steps, "karras")]
            made: list[int] = []
            mean, variance = exact_moments(counted(build(bars, visited), made), bars, DATA_MEAN,
                                           DATA_STD, "epsilon", T)
            rows.append((name, steps, len(made), float(abs(mean[0] - DATA_MEAN[0])),
                         float(abs(variance[0] - DATA_STD[0] ** 2))))
    return rows


def digits_rows(run_dir: str, device: str, samples: int, side: int
                ) -> list[tuple[str, int, int, float, float]]:
    """(sampler, steps, model calls, |mean − data mean|, |std − data std|) for a trained run."""
    from specdiff.data.digits import load_digits  # only the digits run needs the dataset
    from specdiff.train.run import load_for_sampling

    diffusion, _, _ = load_for_sampling(run_dir, device)
    data = load_digits(side, "test").images.double() / 127.5 - 1.0
    shape = (samples, *data.shape[1:])
    rows = []
    configurations: list[tuple[str, int, int, Callable[[], torch.Tensor]]] = []
    calls: list[int] = []
    diffusion.model.register_forward_pre_hook(lambda *_: calls.append(1))
    names = ("ddim", "pndm", "dpm_solver_pp", *SIGMA_CHAINS)
    for steps in STEP_COUNTS:
        for sampler in names:
            configurations.append((sampler, steps, 0, lambda s=sampler, n=steps: (
                diffusion.generate(shape, steps=n, sampler=s, eta=1.0 if s != "ddim" else 0.0,
                                   seed=0))))  # type: ignore[misc]
    for name, steps, _, run in configurations:
        calls.clear()
        images = run().double().cpu().clamp(-1, 1)
        rows.append((name, steps, len(calls), abs(float(images.mean() - data.mean())),
                     abs(float(images.std() - data.std()))))
    return rows


def print_table(title: str, header: tuple[str, str], rows: list[tuple[str, int, int, float,
                                                                       float]]) -> None:
    print(f"\n{title}")
    print(f"{'sampler':22} {'steps':>5} {'calls':>5} {header[0]:>12} {header[1]:>12}")
    for name, steps, calls, first, second in rows:
        print(f"{name:22} {steps:5d} {calls:5d} {first:12.2e} {second:12.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained digits run folder (skipped when absent)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--side", type=int, default=16, help="the run's digit image side")
    arguments = parser.parse_args()
    print_table("Gaussian oracle, N(0.3, 0.5²), linear T = 1000 (exact law, no sampling)",
                ("|mean err|", "|var err|"), gaussian_rows())
    if arguments.run is None:
        print("\ndigits: skipped (pass --run runs/digits, a trained run folder)")
        return
    print_table(f"digits model from {arguments.run}, {arguments.samples} samples",
                ("|mean err|", "|std err|"),
                digits_rows(arguments.run, arguments.device, arguments.samples,
                            arguments.side))


if __name__ == "__main__":
    main()
