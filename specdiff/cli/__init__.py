"""The ``specdiff`` command: one module per command over a shared parser and option types
(specdiff.cli.parser, whose doc is the command's ``--help``)."""

from specdiff.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
