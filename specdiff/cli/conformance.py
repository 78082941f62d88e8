"""``specdiff conformance``: the peer libraries' samplers judged by our laws, as a Markdown matrix.

One row per peer configuration, one column per law of specs/conformance.md (CONF-1 … CONF-4,
CONF-6); each cell "holds", "fails (…)" naming the CONF-5 item that explains it, or "—". A peer
that is not installed is one line naming what to install (exit status 2).
"""

import argparse
from typing import Any

from specdiff._atomic import write_atomically
from specdiff.cli.options import output_file

# The keys of specdiff.testing.peers.LIBRARIES, named here so that the command line loads the kit
# (and hypothesis, which it needs) only when this command runs.
LIBRARIES = ("diffusers", "k-diffusion", "denoising-diffusion-pytorch")
KIT_INSTALL = 'pip install "specdiff[conformance]"'


def add_parser(commands: Any) -> None:
    """Adds the command and its options to ``commands``."""
    checker = commands.add_parser(
        "conformance", help="judge diffusers, k-diffusion and denoising-diffusion-pytorch by "
                            "our sampler laws (a Markdown matrix)")
    checker.add_argument("--library", default="all", choices=[*LIBRARIES, "all"],
                         help="the peer library to judge (default: all)")
    checker.add_argument("--out", type=output_file, default=None,
                         help="also write the report (Markdown) to this file")
    checker.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    try:
        from specdiff.testing import peers
    except ImportError as missing:
        raise ValueError(f"the conformance kit needs {missing.name}: {KIT_INSTALL}") from missing
    try:
        cases = peers.peer_cases(arguments.library)
    except ImportError as missing:  # one line that says what to install, not a traceback
        raise ValueError(str(missing)) from missing
    report = peers.render_report(peers.conformance_matrix(cases))
    print(report, end="")
    if arguments.out:
        path = write_atomically(arguments.out, lambda stream: stream.write(report.encode()))
        print(f"wrote {path}")
    return 0
