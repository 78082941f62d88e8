"""A tiny digits run with a known training log, for the report and trajectory tests."""

import json
from pathlib import Path

from tests._cli_runs import train

# A training log of 30 records, steps 10, 20, …, 300, with a known, noisy, falling loss.
LOGGED_STEPS = list(range(10, 310, 10))
LOGGED_LOSSES = [1.0 / (1 + index) + 0.05 * (index % 3) for index in range(30)]


def logged_run(folder: Path) -> Path:
    """A tiny digits run (8×8, T = 20) in ``folder`` whose metrics.jsonl is
    LOGGED_STEPS/LOGGED_LOSSES."""
    train(folder)
    records = [{"step": step, "loss": loss, "lr": 1e-3}
               for step, loss in zip(LOGGED_STEPS, LOGGED_LOSSES, strict=True)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder
