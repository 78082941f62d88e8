"""Unpickling that cannot run code from the file (DATA-5).

A pickle names callables ("globals") that the unpickler imports and calls; a hostile file names
``os.system`` or ``builtins.eval``. This unpickler resolves only the globals a numpy array needs
(the CIFAR-10 python batches are dicts of bytes, ints, lists and one uint8 array) to objects
chosen here, never by importing the named module, and refuses every other name before anything
from the file is called.
"""

import pickle
from typing import Any, BinaryIO

import numpy as np

# ndarray.__reduce__ returns numpy's array reconstructor, whichever module numpy keeps it in.
_reconstruct_array = np.empty(0).__reduce__()[0]

ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct_array,  # files pickled by numpy 1
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct_array,  # files re-pickled by numpy 2
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RefusedPickleGlobalError(pickle.UnpicklingError, ValueError):
    """A pickle named a global outside ALLOWED_GLOBALS; nothing it names was imported or called."""


class NumpyOnlyUnpickler(pickle.Unpickler):
    """A pickle.Unpickler whose find_class knows only ALLOWED_GLOBALS."""

    def __init__(self, file: BinaryIO, *, source: str, encoding: str = "bytes") -> None:
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in ALLOWED_GLOBALS)
            raise RefusedPickleGlobalError(
                f"{self.source}: refused to load global {module}.{name} from the pickle "
                f"(only {allowed} are allowed: the file may be hostile or not a CIFAR-10 batch)"
            ) from None


def load_numpy_pickle(file: BinaryIO, *, source: str) -> Any:
    """DATA-5: unpickle ``file`` (Python 2 str → bytes) with NumpyOnlyUnpickler."""
    return NumpyOnlyUnpickler(file, source=source).load()
