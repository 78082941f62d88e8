"""``specdiff import``: a diffusers pipeline folder as a run (``import`` is a Python keyword)."""

import argparse
from typing import Any

from specdiff.cli.options import TIMESTEPS, new_folder
from specdiff.interop.pipeline_folder import import_diffusers_pipeline
from specdiff.spec.parameterization import PREDICTION_TYPES
from specdiff.train.models import SCHEDULES, schedule_record


def add_parser(commands: Any) -> None:
    """Adds the command, its options and their accepted ranges, to ``commands``."""
    importer = commands.add_parser(
        "import", help="make a run of a diffusers pipeline folder (model_index.json, unet/, "
                       "scheduler/), for sample, evaluate, inpaint and train --resume")
    importer.add_argument("folder", help="a pipeline folder, or a bare unet/ folder with "
                                         "--schedule")
    importer.add_argument("--out", required=True, type=new_folder,
                          help="the run folder to write: new, or empty")
    importer.add_argument("--data", default=None,
                          help="what evaluate measures the run on: digits | cifar10:PATH | "
                               "images:PATH (default: none recorded)")
    importer.add_argument("--schedule", default=None, choices=SCHEDULES,
                          help="a bare unet/ folder only: the schedule it was trained with")
    importer.add_argument("--timesteps", type=TIMESTEPS, default=None,
                          help=f"with --schedule: T, in {TIMESTEPS} (default 1000)")
    importer.add_argument("--zero-terminal-snr", action="store_true",
                          help="with --schedule: rescaled to zero terminal SNR")
    importer.add_argument("--prediction-type", default=None, choices=PREDICTION_TYPES,
                          help="with --schedule: what the model predicts (default epsilon)")
    importer.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    schedule = None
    if arguments.schedule is not None:
        schedule = schedule_record(arguments.schedule,
                                   1000 if arguments.timesteps is None else arguments.timesteps,
                                   arguments.zero_terminal_snr)
    else:
        given = [option for option, value in (
            ("--timesteps", arguments.timesteps), ("--zero-terminal-snr",
                                                   arguments.zero_terminal_snr or None),
            ("--prediction-type", arguments.prediction_type)) if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} describe the schedule of a bare unet/ folder: "
                             f"give them with --schedule")
    try:
        path = import_diffusers_pipeline(arguments.folder, arguments.out, schedule=schedule,
                                         prediction_type=arguments.prediction_type,
                                         data=arguments.data)
    except ImportError as error:  # diffusers missing: say which extra to install
        raise ValueError(str(error)) from None
    print(f"wrote the run {path}: specdiff sample {path}")
    return 0
