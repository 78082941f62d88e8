"""``specdiff evaluate``: held-out loss, bits/dim and sample statistics into metrics.json, and
a report (report.html and its PNGs, the ``plots`` extra) beside it."""

import argparse
from pathlib import Path
from typing import Any

from specdiff.cli.loading import load_run, require_generative
from specdiff.cli.options import (
    BATCH_SIZE,
    DEVICES,
    EVALUATE_SEED,
    SAMPLE_COUNT,
    TIMESTEPS,
    add_sampler_options,
    output_file,
    output_problem,
)
from specdiff.evaluation import evaluate_run, write_json_atomic
from specdiff.evaluation.plots import require_matplotlib
from specdiff.evaluation.report import report_paths, write_report
from specdiff.evaluation.run_metrics import Sampling
from specdiff.interop.pipeline_folder import NO_DATA
from specdiff.train.run import resolve_device


def add_parser(commands: Any) -> None:
    """Adds the command, its options and their accepted ranges, to ``commands``."""
    evaluator = commands.add_parser(
        "evaluate", help="held-out loss, bits/dim and sample statistics into metrics.json, "
                         "and a report.html beside it")
    evaluator.add_argument("run_dir")
    evaluator.add_argument("--n-samples", type=SAMPLE_COUNT, default=256,
                           help=f"held-out images evaluated and samples generated (default "
                                f"256), in {SAMPLE_COUNT}")
    evaluator.add_argument("--vlb-timesteps", type=TIMESTEPS, default=None,
                           help=f"K: stratified bound estimate over K timesteps (default: all "
                                f"T), in {TIMESTEPS} and at most T")
    evaluator.add_argument("--batch-size", type=BATCH_SIZE, default=64, help=f"in {BATCH_SIZE}")
    evaluator.add_argument("--seed", type=EVALUATE_SEED, default=0,
                           help=f"in {EVALUATE_SEED} (batch i draws from seed + i)")
    evaluator.add_argument("--device", default="auto", choices=DEVICES)
    add_sampler_options(evaluator)
    evaluator.add_argument("--out", type=output_file, default=None,
                           help="default: RUN_DIR/metrics.json")
    evaluator.add_argument("--no-report", dest="report", action="store_false",
                           help="write metrics.json only: no report.html and report-*.png beside "
                                "it (the report needs matplotlib, pip install "
                                "'specdiff[plots]')")
    evaluator.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    out = Path(arguments.out or Path(arguments.run_dir) / "metrics.json")
    problem = None if arguments.out else output_problem(out)
    if problem:
        raise ValueError(f"cannot write {out}: {problem}; choose a file with --out")
    if arguments.report:  # before any work: a missing extra or folder costs nothing
        require_matplotlib()
        for path in report_paths(out.parent):
            problem = output_problem(path)
            if problem:
                raise ValueError(f"cannot write the report {path}: {problem}; put metrics.json "
                                 f"elsewhere with --out, or pass --no-report")
    device = resolve_device(arguments.device)
    diffusion, config = load_run(arguments.run_dir, device)
    require_generative(arguments, diffusion)
    if config.get("data") == NO_DATA:
        raise ValueError(f"{arguments.run_dir} records no data set (imported without --data): "
                         f"evaluate measures a run on its held-out data; import it again with "
                         f"--data digits | cifar10:PATH | images:PATH")
    evaluation = evaluate_run(diffusion, config, n_samples=arguments.n_samples,
                              vlb_timesteps=arguments.vlb_timesteps,
                              batch_size=arguments.batch_size, seed=arguments.seed,
                              sampling=Sampling(arguments.sampler, arguments.steps,
                                                arguments.eta))
    metrics = evaluation.metrics
    print(f"test loss {metrics['test_loss']:.4f}, {metrics['bits_per_dim']:.3f} bits/dim; "
          f"wrote {write_json_atomic(out, metrics)}")
    if arguments.report:
        print(f"wrote {write_report(arguments.run_dir, evaluation, out.parent)}")
    return 0
