"""Saves checkpoints and gets SIGKILLed mid-save, for tests/train/test_checkpoint.py (CKPT-2).

usage: python checkpoint_writer.py BASE_DIR

Step s saves a model whose every weight is s, an EMA of s + 0.5, Adam state of s and extra
{"step": s}, so a loaded checkpoint shows whether it holds one step's contents. torch is imported
once; each run is a forked child (one thread, so forking is safe):

- ``kill-at-K``: SIGKILLs itself inside the K-th fsync of its third save (a chosen exact point);
- ``free-D``: saves in a loop until this process SIGKILLs it D seconds after its first save.

Prints one line per run, "NAME SIGNAL", the signal that ended it.
"""

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from specdiff.train import save_checkpoint

# Per save: fsync of the model, ema, optimizer, rng files (1-4), the manifest (5), the temp
# folder (6), then the rename and the fsync of the run folder (7).
KILL_POINTS = (1, 4, 5, 6, 7)
FREE_RUNNING_DELAYS = (0.0, 0.01, 0.03, 0.07)
WIDTH = 256
CONFIG = {"width": WIDTH}


def model_of(step: float) -> torch.nn.Module:
    model = torch.nn.Linear(WIDTH, WIDTH)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(step)
    return model


def adam_with_state(model: torch.nn.Module, step: int) -> torch.optim.Adam:
    """An Adam whose exp_avg, exp_avg_sq and step are all ``step``; the model keeps its weights."""
    weights = [parameter.detach().clone() for parameter in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, WIDTH)).sum().backward()
    optimizer.step()  # creates the state
    with torch.no_grad():
        for parameter, weight in zip(model.parameters(), weights, strict=True):
            parameter.copy_(weight)
    for state in optimizer.state.values():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            state[key].fill_(step)
    return optimizer


def save_steps(run_dir: Path, steps: range) -> None:
    for step in steps:
        model = model_of(step)
        save_checkpoint(run_dir, step, model=model, optimizer=adam_with_state(model, step),
                        ema=model_of(step + 0.5), config=CONFIG, extra={"step": step}, keep=2)


def kill_self_at_fsync(run_dir: Path, kill_at: int) -> None:
    save_steps(run_dir, range(1, 3))
    real_fsync, calls = os.fsync, 0

    def fsync_then_maybe_die(descriptor: int) -> None:
        nonlocal calls
        real_fsync(descriptor)
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    os.fsync = fsync_then_maybe_die
    save_steps(run_dir, range(3, 4))


def in_child(work: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            work()
        finally:
            os._exit(0)
    return pid


def main() -> None:
    torch.set_num_threads(1)  # no thread pool exists when forking
    adam_with_state(model_of(0), 0)  # the first Adam step imports a lot: once, not per child
    base = Path(sys.argv[1])
    runs = {f"kill-at-{point}": in_child(lambda point=point: kill_self_at_fsync(
        base / f"kill-at-{point}", point)) for point in KILL_POINTS}
    for delay in FREE_RUNNING_DELAYS:
        run_dir = base / f"free-{delay}"
        pid = in_child(lambda run_dir=run_dir: save_steps(run_dir, range(1, 10_000)))
        while not (run_dir / "checkpoint-00000001").exists():
            time.sleep(0.001)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        runs[run_dir.name] = pid
    for name, pid in runs.items():
        _, status = os.waitpid(pid, 0)
        print(name, os.WTERMSIG(status) if os.WIFSIGNALED(status) else "exit", flush=True)


if __name__ == "__main__":
    main()
