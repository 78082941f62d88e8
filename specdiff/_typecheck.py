"""The one switch for run-time shape and dtype checking (jaxtyping + beartype).

Public functions and model ``forward`` methods are wrapped with :func:`typechecked`. Checking is
on by default (and in the tests); ``SPECDIFF_TYPECHECK=0`` in the environment turns it off at
import, and ``with specdiff.typecheck(False): ...`` turns it off for a block.
"""

import functools
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from beartype import beartype
from jaxtyping import jaxtyped

P = ParamSpec("P")
R = TypeVar("R")

_OFF_VALUES = {"0", "false", "off", "no"}


class _Switch(threading.local):
    def __init__(self) -> None:
        self.enabled = os.environ.get("SPECDIFF_TYPECHECK", "1").strip().lower() not in _OFF_VALUES


_switch = _Switch()


def typecheck_enabled() -> bool:
    """Whether run-time shape/dtype checks are on in this thread."""
    return _switch.enabled


@contextmanager
def typecheck(enabled: bool) -> Iterator[None]:
    """Turn run-time shape/dtype checking on or off inside a ``with`` block (thread-local)."""
    previous = _switch.enabled
    _switch.enabled = enabled
    try:
        yield
    finally:
        _switch.enabled = previous


def _traced_by_torch_compile() -> bool:
    """Whether torch.compile is tracing this call. Its fake tensors fail jaxtyping's checks, and
    Python-side checks cannot be part of a compiled graph anyway: compiled calls go unchecked."""
    torch = sys.modules.get("torch")  # never import it here: specdiff.spec stays torch-free
    return torch is not None and bool(torch.compiler.is_compiling())


def typechecked(fn: Callable[P, R]) -> Callable[P, R]:
    """Check ``fn``'s jaxtyping annotations with beartype on every call while the switch is on
    (except while torch.compile traces it)."""
    checked = jaxtyped(typechecker=beartype)(fn)

    @functools.wraps(fn)
    def dispatch(*args: P.args, **kwargs: P.kwargs) -> R:
        if _switch.enabled and not _traced_by_torch_compile():
            return checked(*args, **kwargs)
        return fn(*args, **kwargs)

    return dispatch
