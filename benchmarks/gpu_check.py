"""One script that proves the CUDA half on one GPU, in at most 8 minutes (TOTAL_LIMIT_S).

Steps, each a subprocess with its own time limit and together within TOTAL_LIMIT_S (a step
left without time is recorded as failed, not run), in this order:

1. ``pytest -m cuda``: every cuda-marked test (TRAIN-12's bit-exact resume among them).
2. ``benchmarks/unet.py --models cifar10 --devices cuda --compile``: the CIFAR U-Net against
   diffusers under bf16 autocast, channels_last and torch.compile; MFU from the device table
   in ``benchmarks/unet.py`` (an unknown device gets no MFU).
3. ``benchmarks/train.py``: the trainer's throughput and peak memory, CUDA rows included.
4. ``torchrun`` with one process: an NCCL all-reduce, and ``specdiff train`` under torchrun.
5. A training run of the CIFAR preset on synthetic CIFAR-layout data
   (``specdiff.data.fixtures``) with ``--amp bf16 --compile``, sized to ``--train-seconds``:
   the loss must fall. Then a copy of the run, cut back to its middle checkpoint, is resumed
   to the end on the GPU: it must continue from that step, and, as TRAIN-12 says for a run
   without deterministic algorithms, agree with the uninterrupted run in distribution (the mean
   logged loss of the resumed steps within ``RESUME_LOSS_RATIO`` of the original's), not bit for
   bit (whether they happen to be is recorded).

Writes ``gpu_check.json`` and ``gpu_check.md`` to ``--out``; exits 1 when a step failed. On a
machine without CUDA it prints one line and exits 0.

    python benchmarks/gpu_check.py --out gpu-check [--train-seconds 120]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parents[1]
# A resumed run agrees with the uninterrupted one in distribution only (TRAIN-12): the mean
# loss over the same steps may differ by sampling noise, not by more than this factor.
RESUME_LOSS_RATIO = 1.25
TOTAL_LIMIT_S = 480  # the whole check; a step gets at most what is left of it
STEP_LIMITS_S = {"cuda tests": 90, "unet benchmark": 150, "train benchmark": 45,
                 "torchrun nccl": 30}
COMPILE_ALLOWANCE_S = 45  # torch.compile's first call of the CIFAR U-Net, outside the steps


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments: one line ``gpu_check: error: ...`` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"gpu_check: error: {message}\n")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for gpu_check.json and .md")
    parser.add_argument("--train-seconds", type=float, default=120.0,
                        help="length of the CIFAR training run, compilation included, in "
                             "[30, 300] (default 120; its resume takes about two thirds of it)")
    parser.add_argument("--nccl-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 30 <= args.train_seconds <= 300:
        parser.error(f"--train-seconds must be in [30, 300], got {args.train_seconds:g}")
    if not args.nccl_worker and Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out must be a folder, got the file {args.out}")
    return args


class Deadline:
    """The time left of TOTAL_LIMIT_S, from when the check started."""

    def __init__(self) -> None:
        self.end = time.perf_counter() + TOTAL_LIMIT_S

    def limit(self, wanted_s: float) -> float:
        return max(0.0, min(wanted_s, self.end - time.perf_counter()))


DEADLINE = Deadline()
# The steps import this checkout's specdiff, installed or not.
ENVIRONMENT = {**os.environ,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                           os.environ.get("PYTHONPATH")]))}


def run_step(name: str, command: list[str], wanted_s: float) -> dict[str, Any]:
    """Runs ``command`` from the repository root for at most ``wanted_s`` (and what is left of
    the whole check's time); the step's record (ok, seconds, output tail)."""
    start = time.perf_counter()
    limit_s = DEADLINE.limit(wanted_s)
    if limit_s < 1:
        return {"step": name, "ok": False, "seconds": 0.0,
                "output_tail": f"not run: the check's {TOTAL_LIMIT_S} s were spent"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit_s,
                              cwd=ROOT, env=ENVIRONMENT, check=False)
        ok, output = done.returncode == 0, done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        ok = False
        partial = [text.decode("utf-8", "replace") if isinstance(text, bytes) else text or ""
                   for text in (expired.stdout, expired.stderr)]
        output = f"timed out after {limit_s:.0f} s\n{''.join(partial)}"
    return {"step": name, "ok": ok, "seconds": round(time.perf_counter() - start, 1),
            "output_tail": output[-4000:]}


def specdiff_train(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "specdiff.cli", "train", "--quiet", *arguments]


def logged_losses(run_dir: Path) -> dict[int, float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return {record["step"]: record["loss"] for record in map(json.loads, filter(None, lines))}


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def training_steps_for(seconds: float, unet_json: Path) -> int:
    """Steps that fill ``seconds`` (compilation included) at the compiled CIFAR train step time
    the benchmark measured at batch 128, as the training run's; 500 when it gave none."""
    try:
        rows = json.loads(unet_json.read_text())["rows"]
        step_s = next(row["train_seconds"] for row in rows
                      if row["model"] == "cifar10" and row["implementation"] == "specdiff")
    except (OSError, ValueError, KeyError, StopIteration):
        return 500
    return max(50, int((seconds - COMPILE_ALLOWANCE_S) / step_s))


def train_and_resume(work: Path, data: str, model: str, steps: int, extra: list[str],
                     limit_s: float) -> dict[str, Any]:
    """Step 4: train ``steps`` steps with checkpoints at the middle and the end; the loss must
    fall. A copy cut back to the middle checkpoint is resumed to the end; it must continue from
    that step, and agree with the original over the same logged steps in distribution
    (TRAIN-12, a run without deterministic algorithms); ``limit_s`` is the first run's limit."""
    middle = steps // 2
    run, resumed = work / "run", work / "resumed"
    common = ["--data", data, "--model", model, *extra, "--steps", str(steps),
              "--checkpoint-every", str(middle)]
    first = run_step("train", specdiff_train(*common, "--out", str(run)), limit_s)
    if not first["ok"]:
        return {**first, "step": "train and resume"}
    losses = logged_losses(run)
    ordered = [losses[step] for step in sorted(losses)]
    tenth = max(1, len(ordered) // 10)
    shutil.copytree(run, resumed)
    for checkpoint in resumed.glob("checkpoint-*"):
        if int(checkpoint.name.removeprefix("checkpoint-")) > middle:
            shutil.rmtree(checkpoint)
    second = run_step("resume", specdiff_train(*common, "--resume", "--out", str(resumed)),
                      limit_s)
    record: dict[str, Any] = {
        "step": "train and resume", "seconds": first["seconds"] + second["seconds"],
        "steps": steps, "loss_first_tenth": mean(ordered[:tenth]),
        "loss_last_tenth": mean(ordered[-tenth:]), "resumed_from": middle,
        "output_tail": "" if second["ok"] else second["output_tail"]}
    record["loss_falls"] = record["loss_last_tenth"] < record["loss_first_tenth"]
    if second["ok"]:
        again = logged_losses(resumed)
        after = sorted(step for step in again if step > middle)
        record["resume_continues_from_the_checkpoint"] = (
            [step for step in sorted(again) if step <= middle]
            == [step for step in sorted(losses) if step <= middle]
            and bool(after) and after[-1] == steps)
        ratio = mean([again[step] for step in after]) / mean([losses[step] for step in after])
        record["resumed_over_original_mean_loss"] = ratio
        record["resume_agrees_in_distribution"] = (
            1 / RESUME_LOSS_RATIO <= ratio <= RESUME_LOSS_RATIO)
        record["bitwise_equal_losses"] = all(again[step] == losses[step] for step in after)
    record["ok"] = bool(second["ok"] and record["loss_falls"]
                        and record.get("resume_continues_from_the_checkpoint")
                        and record.get("resume_agrees_in_distribution"))
    return record


def nccl_worker() -> None:
    """Under torchrun: an all-reduce over NCCL must return the sum of the ranks' tensors."""
    import torch
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl")
    value = torch.full((4,), float(rank + 1), device="cuda")
    dist.all_reduce(value)
    expected = world * (world + 1) / 2
    dist.destroy_process_group()
    if not torch.equal(value.cpu(), torch.full((4,), expected)):
        raise SystemExit(f"all_reduce gave {value.tolist()}, expected {expected}")
    print(f"nccl all_reduce over {world} process(es): ok")


def torchrun(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
            *arguments]


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    (out / "gpu_check.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = [f"# GPU check: {summary['device']}", "",
             f"torch {summary['torch']}, CUDA {summary['cuda']}, "
             f"{summary['seconds']:.0f} s in all", "",
             "| step | ok | seconds |", "|---|---|---|"]
    lines += [f"| {step['step']} | {'yes' if step['ok'] else '**no**'} | {step['seconds']} |"
              for step in summary["steps"]]
    for step in summary["steps"]:
        details = {key: value for key, value in step.items()
                   if key not in ("step", "ok", "seconds", "output_tail")}
        if details:
            lines += ["", f"## {step['step']}", "", "```", json.dumps(details, indent=1), "```"]
        if step["output_tail"]:
            lines += ["", f"## {step['step']}: output (tail)", "", "```",
                      step["output_tail"][-1500:].rstrip(), "```"]
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    import torch  # after the arguments: a bad one is answered without torch's import time

    if args.nccl_worker:
        nccl_worker()
        return 0
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device on this machine; nothing checked")
        return 0
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    python = sys.executable
    unet_json = out / "unet.json"
    steps = [
        run_step("cuda tests", [python, "-m", "pytest", "-m", "cuda", "-q", "-p",
                                "no:cacheprovider", "tests"], STEP_LIMITS_S["cuda tests"]),
        run_step("unet benchmark", [python, "benchmarks/unet.py", "--models", "cifar10",
                                    "--devices", "cuda", "--compile", "--repeats", "3",
                                    "--json", str(unet_json)],
                 STEP_LIMITS_S["unet benchmark"]),
        run_step("train benchmark", [python, "benchmarks/train.py"],
                 STEP_LIMITS_S["train benchmark"]),
    ]
    nccl = run_step("torchrun nccl", torchrun(str(Path(__file__).resolve()), "--nccl-worker",
                                              "--out", str(out)), STEP_LIMITS_S["torchrun nccl"])
    trainer = run_step("torchrun nccl", torchrun("-m", "specdiff.cli", "train", "--quiet",
                                                 "--model", "unet-tiny", "--steps", "10",
                                                 "--out", str(out / "torchrun-run")),
                       STEP_LIMITS_S["torchrun nccl"])
    nccl.update(ok=nccl["ok"] and trainer["ok"], seconds=nccl["seconds"] + trainer["seconds"],
                output_tail=nccl["output_tail"][-2000:] + trainer["output_tail"][-2000:])
    steps.append(nccl)
    from specdiff.data.fixtures import write_cifar10_folder  # after the CUDA check: slow import

    fixtures = out / "cifar10-fixtures"
    write_cifar10_folder(fixtures, "python", images_per_batch=1000, seed=0)
    steps.append(train_and_resume(
        out / "training", f"cifar10:{fixtures}", "unet-cifar10",
        training_steps_for(args.train_seconds, unet_json),
        ["--batch-size", "128", "--amp", "bf16", "--compile"], args.train_seconds * 1.5))
    summary = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
               "cuda": torch.version.cuda, "seconds": time.perf_counter() - started,
               "ok": all(step["ok"] for step in steps), "steps": steps}
    write_summary(out, summary)
    print(f"gpu_check: {'all steps passed' if summary['ok'] else 'a step FAILED'}; "
          f"see {out / 'gpu_check.md'}")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
