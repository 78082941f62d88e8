"""Regenerate the README's measured numbers, so that none is typed by hand.

Each measured passage of README.md sits between ``<!-- numbers:NAME -->`` and
``<!-- /numbers:NAME -->``; this script reruns what produced it and rewrites the passage:

- ``demo``: the README's main job exactly as its first ``bash`` block writes it (the install
  step skipped), timed, in a scratch folder; then ``specdiff evaluate`` on its run; the picture is
  copied to docs/samples.png.
- ``recipe``: which choice of the demo's recipe bought how much: the demo's training command
  rerun with the earlier model (``unet-digits-large``, as many steps as fit the same time)
  and without the loss weighting, each run scored by ``specdiff evaluate`` with DDIM and with
  the demo's sampler.
- ``samplers``: the digits table of ``benchmarks/samplers.py`` (every sampler at 5 to 50 model
  calls) on a run of the README's training command.
- ``threads``: training throughput of the demo model (``benchmarks/train.py``) with 1 and 2
  torch threads, on the idle machine and beside a competing 2-thread torch job.
- ``memory``: ``benchmarks/unet.py --threads 1`` (ours against diffusers' UNet2DModel).
- ``mutation``: the score table of a ``.ci/mutation.py --out FILE`` report (hours of CPU, so it is
  read from the report, given with ``--mutation-report``).

    python benchmarks/readme_numbers.py --sections demo,recipe,samplers,threads,memory
    python benchmarks/readme_numbers.py --sections mutation --mutation-report mutation.md

Run it on an otherwise idle machine: every figure says what load it was measured under.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- numbers:(?P<name>[a-z]+) -->\n(?P<body>.*?)<!-- /numbers:(?P=name) -->",
                   re.S)


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the passage of block ``name`` replaced by ``body``; a ValueError when the
    README has no such block (or more than one)."""
    matches = [match for match in BLOCK.finditer(text) if match["name"] == name]
    if len(matches) != 1:
        raise ValueError(f"README.md must hold one <!-- numbers:{name} --> block, found "
                         f"{len(matches)}")
    match = matches[0]
    return text[:match.start("body")] + body.rstrip("\n") + "\n" + text[match.end("body"):]


def block_names(text: str) -> list[str]:
    return [match["name"] for match in BLOCK.finditer(text)]


def main_job_commands(text: str) -> list[list[str]]:
    """The `specdiff` commands of the README's first bash block (its install steps left out)."""
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    if block is None:
        raise ValueError("README.md has no bash block")
    steps = [shlex.split(step) for step in block[1].replace("\n", " ").split("&&")]
    return [step for step in steps if step and step[0] == "specdiff"]


def _specdiff(arguments: list[str], cwd: Path) -> float:
    """Run a `specdiff` command line in ``cwd``; return its wall time in seconds."""
    command = [sys.executable, "-m", "specdiff.cli", *arguments[1:]]
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def _command(commands: list[list[str]], name: str) -> list[str]:
    return next(command for command in commands if command[1] == name)


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def _with_options(command: list[str], changes: dict[str, str | None]) -> list[str]:
    """``command`` with each ``--option`` of ``changes`` set to its value, or removed (None)."""
    result = list(command)
    for name, value in changes.items():
        if name in result:
            at = result.index(name)
            del result[at:at + 2]
        if value is not None:
            result += [name, value]
    return result


SAMPLER_OPTIONS = ("--sampler", "--steps", "--eta")


def _sampler_of(sample: list[str]) -> list[str]:
    """The sampler options of the README's `specdiff sample` command, for `evaluate`."""
    return [part for name in SAMPLER_OPTIONS if name in sample
            for part in (name, _option(sample, name))]


def _evaluate(run: str, folder: Path, sampler: list[str], out: str) -> dict[str, Any]:
    _specdiff(["specdiff", "evaluate", run, "--vlb-timesteps", "50", "--no-report",
               "--out", out, *sampler], folder)
    metrics: dict[str, Any] = json.loads((folder / out).read_text(encoding="utf-8"))
    return metrics


def _load() -> str:
    """The 1-minute load average, as the figures report it."""
    return f"{os.getloadavg()[0]:.1f}"


def demo() -> str:
    commands = main_job_commands(README.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        load_before = _load()
        seconds = sum(_specdiff(command, folder) for command in commands)
        run = _option(_command(commands, "train"), "--out")
        sampler = _sampler_of(_command(commands, "sample"))
        metrics = _evaluate(run, folder, sampler, "metrics.json")
        shutil.copyfile(folder / "samples.png", ROOT / "docs" / "samples.png")
    scores, nearest = metrics["digits"], metrics["nearest_training_image"]
    counts = scores["sample_class_counts"]
    minutes, rest = divmod(round(seconds), 60)
    return (
        f"Training and sampling took **{minutes} min {rest:02d} s** of wall time (install "
        f"excluded; 1-minute load average {load_before} when it started, 2 cores). "
        f"`specdiff evaluate {run} --vlb-timesteps 50 {' '.join(sampler)}` scores "
        f"{metrics['samples']['count']} samples of the demo's sampler: the digits classifier "
        f"(logistic regression fit on the training split) "
        f"recognizes **{100 * scores['sample_recognized']:.0f} %** of them with confidence "
        f"≥ {scores['recognition_threshold']} (real held-out digits: "
        f"{100 * scores['held_out_recognized']:.0f} %), mean confidence "
        f"{scores['sample_confidence']:.2f} (real: {scores['held_out_confidence']:.2f}); "
        f"{sum(count > 0 for count in counts)} of 10 classes appear ({min(counts)} to "
        f"{max(counts)} samples each); a sample's nearest training digit is at a median "
        f"distance of {nearest['samples_median']:.2f} (the closest sample: "
        f"{nearest['samples_min']:.2f}; real held-out digits: median "
        f"{nearest['held_out_median']:.2f}; root mean square over pixels in [−1, 1]); the "
        f"variational bound on the held-out digits is "
        f"{metrics['bits_per_dim']:.1f} ± {metrics['bits_per_dim_stderr']:.1f} bits/dim.\n")


# The earlier demo model takes about 2.5 times as long per step as the demo's: in the same
# time it trains this fraction of the demo's steps (the table prints both training times).
LARGE_MODEL_STEP_FRACTION = 0.4
DDIM = ["--sampler", "ddim", "--steps", "50", "--eta", "0"]


def recipe() -> str:
    commands = main_job_commands(README.read_text(encoding="utf-8"))
    train = _command(commands, "train")
    sampler = _sampler_of(_command(commands, "sample"))
    steps = int(_option(train, "--steps"))
    gamma = _option(train, "--min-snr-gamma")
    variants = [  # (what changed, the train command's changes, samplers scored)
        ("earlier model (`unet-digits-large`, 1.1M), plain loss",
         {"--model": "unet-digits-large", "--steps": str(round(steps * LARGE_MODEL_STEP_FRACTION)),
          "--min-snr-gamma": None}, [DDIM]),
        ("demo model (`unet-digits`, 164k), plain loss", {"--min-snr-gamma": None}, [DDIM]),
        (f"demo model, min-SNR-γ loss (γ = {gamma})", {}, [DDIM, sampler]),
    ]
    lines = ["| recipe | steps | training time | sampler | recognized (≥ 0.9) | mean confidence |",
             "|---|---|---|---|---|---|"]
    load_before = _load()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for index, (label, changes, samplers) in enumerate(variants):
            run = f"run{index}"
            command = _with_options(train, {**changes, "--out": run})
            seconds = _specdiff(command, folder)
            for choice in samplers:
                metrics = _evaluate(run, folder, choice, f"{run}-{len(lines)}.json")
                scores, drawn = metrics["digits"], metrics["samples"]
                lines.append(
                    f"| {label} | {_option(command, '--steps')} | {seconds:.0f} s | "
                    f"{drawn['sampler']}, {drawn['steps']} steps, η = {drawn['eta']:g} | "
                    f"{100 * scores['sample_recognized']:.0f} % | "
                    f"{scores['sample_confidence']:.2f} |")
    real = 100 * scores["held_out_recognized"]
    return ("\n".join(lines) + f"\n\nReal held-out digits: {real:.0f} % recognized. Each run "
            f"is the README's training command with the changes named (one torch thread; "
            f"1-minute load average {load_before} when the table started, 2 cores), scored on "
            f"{drawn['count']} samples by `specdiff evaluate`.\n")


def samplers() -> str:
    commands = main_job_commands(README.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        train = _with_options(_command(commands, "train"), {"--out": "run"})
        _specdiff(train, folder)
        output = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "samplers.py"), "--run",
             str(folder / "run"), "--samples", "256"], check=True, capture_output=True,
            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
    table = output[output.index("digits run"):].split("\n", 2)[2]
    return (f"On a run of the README's training command (`{' '.join(train[1:])}`), the digits "
            f"classifier's mean confidence on 256 samples (seed 0; real held-out digits: see "
            f"the demo's passage):\n\n{table.strip()}\n")


def _throughput(threads: int) -> float:
    output = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train.py"), "--row", "0", "--steps", "20",
         "--threads", str(threads)], check=True, capture_output=True, text=True).stdout
    return float(json.loads(output.strip().splitlines()[-1])["images_per_s"])


COMPETING_JOB = ("import torch\ntorch.set_num_threads(2)\nx = torch.randn(512, 512)\n"
                 "while True:\n    x = torch.tanh(x @ x) ")


def threads() -> str:
    rows = [f"| idle (load {_load()}) | {_throughput(1):.0f} | {_throughput(2):.0f} |"]
    neighbour = subprocess.Popen([sys.executable, "-c", COMPETING_JOB])
    try:
        time.sleep(2)
        rows.append(f"| beside a 2-thread torch job | {_throughput(1):.0f} | "
                    f"{_throughput(2):.0f} |")
    finally:
        neighbour.kill()
    return ("| machine (2 cores) | 1 thread, images/s | 2 threads, images/s |\n|---|---|---|\n"
            + "\n".join(rows) + "\n")


def memory() -> str:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "unet.json"
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "unet.py"), "--threads", "1",
                        "--devices", "cpu", "--json", str(report)], check=True,
                       capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        rows = json.loads(report.read_text(encoding="utf-8"))["rows"]
    ours = {row["model"]: row for row in rows if row["implementation"] == "specdiff"}
    lines = ["| model, batch | forward peak | train-step peak | forward time | train-step time |",
             "|---|---|---|---|---|"]
    for peer in (row for row in rows if row["implementation"] == "diffusers"):
        mine = ours[peer["model"]]
        cells = [f"{MEMORY_NAMES[peer['model']]} ({_millions(mine['parameters'])}), "
                 f"{peer['batch']}"]
        for phase in ("forward", "train"):
            cells.append(f"{mine[f'{phase}_peak_bytes'] / 2**20:.1f} / "
                         f"{peer[f'{phase}_peak_bytes'] / 2**20:.1f} MiB "
                         f"({peer[f'{phase}_peak_bytes_ratio']:.2f})")
        cells += [f"{peer[f'{phase}_seconds_ratio']:.2f}" for phase in ("forward", "train")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


MEMORY_NAMES = {"cifar10": "CIFAR", "digits": "digits demo"}


def _millions(count: int) -> str:
    return f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count / 1e3:.0f}k"


def mutation(report: Path) -> str:
    """The score table at the head of a .ci/mutation.py report."""
    table = [line for line in report.read_text(encoding="utf-8").split("## Surviving")[0]
             .splitlines() if line.startswith("|")]
    if not table:
        raise ValueError(f"{report} holds no score table (write it with .ci/mutation.py --out)")
    return "\n".join(table) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="demo,recipe,samplers,threads,memory",
                        help="comma-separated: demo, recipe, samplers, threads, memory, "
                             "mutation")
    parser.add_argument("--mutation-report", type=Path,
                        help="a .ci/mutation.py --out report (for the mutation section)")
    arguments = parser.parse_args()
    makers: dict[str, Callable[[], str]] = {"demo": demo, "recipe": recipe,
                                            "samplers": samplers, "threads": threads,
                                            "memory": memory}
    if arguments.mutation_report:
        makers["mutation"] = lambda: mutation(arguments.mutation_report)
    names = arguments.sections.split(",")
    for name in names:
        if name not in makers:
            parser.error(f"--sections: unknown or unavailable section {name!r}; "
                         f"these can run: {sorted(makers)}")
    for name in names:
        passage = makers[name]()
        # Read just before writing: a measurement takes minutes, and the README may change.
        text = replace_block(README.read_text(encoding="utf-8"), name, passage)
        README.write_text(text, encoding="utf-8")
        print(f"README.md: {name} regenerated", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
