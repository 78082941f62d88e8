"""``specdiff export``: a run as a folder other tools load (a diffusers DDPMPipeline)."""

import argparse
from typing import Any

from specdiff.cli.options import new_folder
from specdiff.interop.pipeline_folder import export_diffusers_pipeline


def add_parser(commands: Any) -> None:
    """Adds the command, its options and their accepted ranges, to ``commands``."""
    exporter = commands.add_parser(
        "export", help="write a run as a diffusers pipeline folder (DDPMPipeline.from_pretrained)")
    exporter.add_argument("run_dir")
    exporter.add_argument("--format", required=True, choices=["diffusers"])
    exporter.add_argument("--out", required=True, type=new_folder,
                          help="the folder to write: new, or empty")
    exporter.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    try:
        path = export_diffusers_pipeline(arguments.run_dir, arguments.out)
    except ImportError as error:  # diffusers missing: say which extra to install
        raise ValueError(str(error)) from None
    print(f"wrote {path}; load it with diffusers.DDPMPipeline.from_pretrained({str(path)!r})")
    return 0
