"""Adapters for the diffusion libraries users run, and the conformance matrix over them.

One module per library — :mod:`~specdiff.testing.peers.diffusers`,
:mod:`~specdiff.testing.peers.k_diffusion`,
:mod:`~specdiff.testing.peers.denoising_diffusion_pytorch` — each importing its peer only when
its cases are built (never at ``import specdiff.testing``); a missing peer is an ImportError that
says what to ``pip install``. ``render_matrix(conformance_matrix(peer_cases("all")))`` is the
README's table; ``specdiff conformance`` prints it.
"""

from collections.abc import Callable

from specdiff.testing.peers import denoising_diffusion_pytorch, diffusers, k_diffusion
from specdiff.testing.peers.matrix import (
    PeerCase,
    conformance_matrix,
    render_matrix,
    render_report,
    summarize_matrix,
)

# Each library's configurations; building them imports the library.
LIBRARIES: dict[str, Callable[[], list[PeerCase]]] = {
    "diffusers": diffusers.cases,
    "k-diffusion": k_diffusion.cases,
    "denoising-diffusion-pytorch": denoising_diffusion_pytorch.cases,
}


def peer_cases(library: str) -> list[PeerCase]:
    """The matrix's configurations of one library (a key of :data:`LIBRARIES`) or of "all"."""
    if library == "all":
        return [case for name in LIBRARIES for case in peer_cases(name)]
    if library not in LIBRARIES:
        raise ValueError(f"library must be one of {[*LIBRARIES, 'all']}, got {library!r}")
    return LIBRARIES[library]()


__all__ = ["LIBRARIES", "PeerCase", "conformance_matrix", "peer_cases", "render_matrix",
           "render_report", "summarize_matrix"]
