"""DATA-5: the CIFAR-10 pickle loader refuses every global but numpy's array reconstruction."""

import io
import os
import pickle
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from specdiff.data import RefusedPickleGlobalError, load_cifar10
from specdiff.data.fixtures import write_cifar10_folder
from specdiff.data.safe_pickle import load_numpy_pickle


class _Hostile:
    """Unpickling calls ``call(*arguments)``: the classic code-execution pickle."""

    def __init__(self, call: Callable[..., object], *arguments: object) -> None:
        self.call, self.arguments = call, arguments

    def __reduce__(self) -> tuple[Callable[..., object], tuple[object, ...]]:
        return self.call, self.arguments


def _attacks(marker: Path) -> dict[str, tuple[object, str]]:
    """Payloads that would create ``marker``, and the name of the global each must be refused
    for (its module is spelled by the pickler: posix.system, __builtin__.eval at protocol < 3)."""
    create = f"open({str(marker)!r}, 'w')"
    return {
        "os.system": (_Hostile(os.system, f"touch {marker}"), "system"),
        "builtins.eval": (_Hostile(eval, create), "eval"),
        "builtins.exec": (_Hostile(exec, create), "exec"),
        "subprocess.Popen": (_Hostile(subprocess.Popen, ["touch", str(marker)]), "Popen"),
    }


@pytest.mark.spec("DATA-5")
@pytest.mark.parametrize("attack", ["os.system", "builtins.eval", "builtins.exec",
                                    "subprocess.Popen"])
@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_hostile_pickle_is_refused_and_never_runs(tmp_path: Path, attack: str,
                                                  protocol: int) -> None:
    marker = tmp_path / "pwned"
    payload, refused_name = _attacks(marker)[attack]
    # The payload hides in a dict next to an array; str keys, because Python 3 writes bytes at
    # protocol < 3 as _codecs.encode(...), which would be refused before the payload is reached.
    batch = {"labels": payload, "data": np.zeros((1, 3072), np.uint8)}
    hostile = pickle.dumps(batch, protocol=protocol)
    with pytest.raises(RefusedPickleGlobalError,
                       match=rf"refused to load global [\w.]*\.{refused_name} "):
        load_numpy_pickle(io.BytesIO(hostile), source="hostile.pickle")
    assert not marker.exists()


@pytest.mark.spec("DATA-5")
def test_hostile_batch_file_in_a_cifar_folder_is_refused(tmp_path: Path) -> None:
    write_cifar10_folder(tmp_path, "python", images_per_batch=1, seed=0)
    marker = tmp_path / "pwned"
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps(_Hostile(os.system, f"touch {marker}")))
    with pytest.raises(RefusedPickleGlobalError, match=r"data_batch_3: refused .*system"):
        load_cifar10(tmp_path, "train")
    assert not marker.exists()
    assert isinstance(RefusedPickleGlobalError("x"), ValueError)


@pytest.mark.spec("DATA-5")
@pytest.mark.parametrize("protocol", [3, 4])
def test_arrays_pickled_by_this_numpy_are_accepted(protocol: int) -> None:
    batch = {b"data": np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072), b"labels": [3, 7]}
    loaded = load_numpy_pickle(io.BytesIO(pickle.dumps(batch, protocol=protocol)), source="x")
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])
    assert loaded[b"labels"] == [3, 7]
