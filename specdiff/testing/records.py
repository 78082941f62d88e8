"""Hypothesis strategies over the JSON records a run keeps of its schedule
(``specdiff.train.models.schedule_record``): every kind, parameters drawn or left at their
defaults, some rescaled to zero terminal SNR."""

from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from specdiff.testing.strategies import linear_schedules
from specdiff.train.models import SCHEDULES, build_schedule


@st.composite
def schedule_records(draw: st.DrawFn, max_T: int = 64) -> dict[str, Any]:
    """A valid schedule record with 2 ≤ T ≤ max_T."""
    kind = draw(st.sampled_from(SCHEDULES))
    record: dict[str, Any] = {"kind": kind, "T": draw(st.integers(2, max_T))}
    if draw(st.booleans()):  # else the constructor's defaults
        if kind == "linear":
            _, beta_start, beta_end = draw(linear_schedules(max_T=2, max_beta=0.5))
            record |= {"beta_start": beta_start, "beta_end": beta_end}
        elif kind == "cosine":
            record |= {"s": draw(st.floats(0.0, 0.1)), "max_beta": draw(st.floats(0.5, 0.999))}
        else:
            start = draw(st.floats(-6.0, 0.0))
            record |= {"start": start, "end": draw(st.floats(start + 0.5, 6.0)),
                       "tau": draw(st.floats(0.3, 2.0))}
    if draw(st.booleans()):
        record["zero_terminal_snr"] = True
    try:  # a rescale can round a β of a near-flat stretch to 0 (SCHED-7's domain)
        build_schedule(record)
    except ValueError:
        assume(False)
    return record
