"""Peer configurations, their conformance matrix, and the matrix as a Markdown table.

A :class:`PeerCase` is one configuration of a peer library's sampler together with the sampler of
ours it is compared with (its :class:`~specdiff.testing.conformance.Reference`, or None where no
law of ours describes it yet); :func:`conformance_matrix` checks every case and
:func:`render_matrix` prints one row per case and one column per law (specs/conformance.md).
"""

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from specdiff.diffusion.noise_schedule import NoiseSchedule
from specdiff.spec.parameterization import PredictionType
from specdiff.testing.conformance import (
    LAWS,
    ConformanceReport,
    Convergence,
    MakeAdapter,
    Reference,
    check_conformance,
)

# The Gaussian oracle's data, N(mean, std²) per element, in two dimensions.
DATA_MEAN, DATA_STD = (0.3, -0.2), (0.5, 0.2)


@dataclass(frozen=True)
class PeerCase:
    library: str
    name: str  # the peer's own call, with the settings that differ from its defaults
    make_adapter: MakeAdapter
    schedule: NoiseSchedule
    reference: Reference | None
    compared_with: str  # our sampler and its law, or why none applies yet
    prediction_type: PredictionType = "epsilon"
    data_mean: tuple[float, ...] = DATA_MEAN
    data_std: tuple[float, ...] = DATA_STD
    num_samples: int = 4000
    # law -> the item of specs/conformance.md (CONF-5) that explains why it fails here.
    explained: Mapping[str, str] = field(default_factory=dict)
    dtype: str = "float32"  # the precision the peer computes in (CONF-3's bound)
    # CONF-6, for deterministic samplers: the order the peer's authors state, and this
    # configuration with n steps on another β schedule.
    order: int | None = None
    at_steps: Callable[[int, NoiseSchedule], MakeAdapter] | None = None
    convergence_std: tuple[float, ...] = Convergence.data_std

    def check(self, seed: int = 0) -> ConformanceReport:
        convergence = (Convergence(self.order, self.at_steps, self.convergence_std)
                       if self.order is not None and self.at_steps is not None else None)
        return check_conformance(self.make_adapter, self.schedule, self.reference,
                                 data_mean=np.array(self.data_mean),
                                 data_std=np.array(self.data_std),
                                 prediction_type=self.prediction_type,
                                 num_samples=self.num_samples, seed=seed, dtype=self.dtype,
                                 convergence=convergence)


def conformance_matrix(cases: Iterable[PeerCase]) -> list[tuple[PeerCase, ConformanceReport]]:
    """Every case with its report (CONF-1…4, CONF-6)."""
    return [(case, case.check()) for case in cases]


def render_matrix(rows: Iterable[tuple[PeerCase, ConformanceReport]]) -> str:
    """The Markdown table: one row per peer configuration, one column per law; each cell
    "holds", "fails (max deviation …)" or "—" (the law does not apply)."""
    header = ["library", "configuration", "compared with",
              *(f"{law} {title}" for law, title in LAWS.items())]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case, report in rows:
        why = case.explained
        cells = [case.library, case.name.replace("|", "\\|"), case.compared_with,
                 *(report.cell(law) + (f" — CONF-5: {why[law]}" if law in why else "")
                   for law in LAWS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summarize_matrix(rows: Iterable[tuple[PeerCase, ConformanceReport]]) -> str:
    """One sentence: configurations per library, and how many cells hold, do not apply and fail
    (and whether CONF-5 explains every failure)."""
    rows = list(rows)
    libraries = Counter(case.library for case, _ in rows)
    cells = [(case, law, report.cell(law)) for case, report in rows for law in LAWS]
    holding = sum(cell == "holds" for _, _, cell in cells)
    missing = sum(cell == "—" for _, _, cell in cells)
    failing = [(case, law) for case, law, cell in cells if cell.startswith("fails")]
    unexplained = sum(law not in case.explained for case, law in failing)
    explained = ("each explained in CONF-5" if not unexplained
                 else f"{unexplained} of them not explained in CONF-5")
    return (f"{len(rows)} configurations ("
            + ", ".join(f"{library} {count}" for library, count in libraries.items())
            + f"): of {len(cells)} cells, {holding} hold, {missing} do not apply and "
            f"{len(failing)} fail, {explained}.\n")


def render_report(rows: Iterable[tuple[PeerCase, ConformanceReport]]) -> str:
    """:func:`summarize_matrix` and :func:`render_matrix`: what ``specdiff conformance`` prints."""
    rows = list(rows)
    return summarize_matrix(rows) + "\n" + render_matrix(rows)
