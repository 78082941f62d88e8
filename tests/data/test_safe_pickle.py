"""DATA-5: the CIFAR-10 pickle loader refuses every global but numpy's array reconstruction."""

import copyreg
import io
import os
import pickle
import re
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from specdiff.data import RefusedPickleGlobalError, load_cifar10
from specdiff.data.fixtures import write_cifar10_folder
from specdiff.data.safe_pickle import ALLOWED_GLOBALS, NumpyOnlyUnpickler, load_numpy_pickle


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


# --- hand-written opcodes: every way a pickle can name a callable -----------------------------

def _unicode(text: str) -> bytes:
    """BINUNICODE: a str of any length."""
    encoded = text.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(encoded)) + encoded


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode("utf-8", "surrogatepass")  # GLOBAL


def _stack_global(module: str, name: str) -> bytes:
    return _unicode(module) + _unicode(name) + b"\x93"  # STACK_GLOBAL


# Each payload calls module.name(argument) if the unpickler resolves the global.
PAYLOADS: dict[str, Callable[[str, str, str], bytes]] = {
    "GLOBAL+REDUCE": lambda m, n, a: b"\x80\x02" + _global(m, n) + _unicode(a) + b"\x85R.",
    "STACK_GLOBAL+REDUCE":
        lambda m, n, a: b"\x80\x04" + _stack_global(m, n) + _unicode(a) + b"\x85R.",
    "INST": lambda m, n, a: b"(" + _unicode(a) + b"i" + f"{m}\n{n}\n".encode("utf-8",
                                                                              "surrogatepass")
                            + b".",
    "OBJ": lambda m, n, a: b"\x80\x02(" + _global(m, n) + _unicode(a) + b"o.",
    "NEWOBJ": lambda m, n, a: b"\x80\x02" + _global(m, n) + _unicode(a) + b"\x85\x81.",
    "NEWOBJ_EX":
        lambda m, n, a: b"\x80\x04" + _stack_global(m, n) + _unicode(a) + b"\x85}\x92.",
    "BUILD": lambda m, n, a: b"\x80\x02" + _global(m, n) + b"}" + _unicode(a) + b"sb.",
    # A global hidden in a CIFAR-like dict, after an allowed array: refused mid-file.
    "in a batch": lambda m, n, a: (b"\x80\x02}(" + _unicode("data") + _global("numpy", "dtype")
                                   + _unicode("u1") + b"\x85R" + _unicode("labels")
                                   + _global(m, n) + _unicode(a) + b"\x85Ru."),
}

# Callables a hostile pickle would name: code execution, files, and numpy beyond the allow-list.
DANGEROUS = [
    ("os", "system"), ("posix", "system"), ("nt", "system"), ("builtins", "eval"),
    ("builtins", "exec"), ("__builtin__", "eval"), ("builtins", "getattr"),
    ("builtins", "__import__"), ("builtins", "open"), ("io", "open"),
    ("subprocess", "Popen"), ("subprocess", "check_output"), ("shutil", "rmtree"),
    ("pickle", "loads"), ("copyreg", "_reconstructor"), ("functools", "partial"),
    ("operator", "attrgetter"), ("_codecs", "encode"), ("torch", "load"),
    ("numpy", "load"), ("numpy", "fromfile"), ("numpy", "frombuffer"), ("numpy", "array"),
    ("numpy.lib.npyio", "load"), ("numpy.ctypeslib", "load_library"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct.__self__"), ("numpy", "ndarray.tofile"),
    ("numpy", "dtype.__class__"), ("numpy", "ndarray.__reduce_ex__"),
    ("numpy", "NDARRAY"), ("numpy ", "ndarray"), ("numpу", "ndarray"),  # Cyrillic у
    ("numpy.core.multiarray", "_reconstruct\x00"), ("", "ndarray"), ("numpy", ""),
]


def _carries(opcode: str, module: str, name: str) -> bool:
    """Whether the opcode can spell the names: GLOBAL and INST read non-empty lines (INST in
    ASCII); STACK_GLOBAL takes any two strs."""
    if "STACK_GLOBAL" in opcode or opcode == "NEWOBJ_EX":
        return True
    return all(part and "\n" not in part and (opcode != "INST" or part.isascii())
               for part in (module, name))


def _refused(opcode: str, module: str, name: str, argument: str = "argument") -> None:
    """The payload fails; by naming the global in RefusedPickleGlobalError when the opcode can
    spell it, else in the pickle parser, before any global is looked up."""
    payload = io.BytesIO(PAYLOADS[opcode](module, name, argument))
    if not _carries(opcode, module, name):
        with pytest.raises((pickle.UnpicklingError, UnicodeDecodeError)):
            load_numpy_pickle(payload, source="hand.pickle")
        return
    with pytest.raises(RefusedPickleGlobalError,
                       match=rf"^hand.pickle: refused to load global {re.escape(module)}\."
                             rf"{re.escape(name)} "):
        load_numpy_pickle(payload, source="hand.pickle")


@pytest.mark.spec("DATA-5")
@pytest.mark.parametrize("opcode", sorted(PAYLOADS))
@pytest.mark.parametrize(("module", "name"), DANGEROUS)
def test_hand_written_opcodes_naming_a_callable_are_refused(tmp_path: Path, opcode: str,
                                                             module: str, name: str) -> None:
    marker = tmp_path / "pwned"
    # The argument does harm for os.system (a shell line) and eval/exec (Python) if called.
    argument = (f"touch {marker}" if name == "system" else
                f"open({str(marker)!r}, 'w')")
    _refused(opcode, module, name, argument)
    assert not marker.exists()


@pytest.mark.spec("DATA-5")
@pytest.mark.parametrize(("module", "name"), [("os", "system"), ("numpy", "load")])
def test_an_extension_code_naming_a_callable_is_refused(tmp_path: Path, module: str,
                                                        name: str) -> None:
    # EXT1 looks the (module, name) pair up in copyreg's registry, then asks find_class.
    code = 0xF1
    copyreg.add_extension(module, name, code)
    try:
        marker = tmp_path / "pwned"
        payload = b"\x80\x02\x82" + bytes([code]) + _unicode(f"touch {marker}") + b"\x85R."
        with pytest.raises(RefusedPickleGlobalError, match=rf"global {module}\.{name} "):
            load_numpy_pickle(io.BytesIO(payload), source="hand.pickle")
        assert not marker.exists()
    finally:
        copyreg.remove_extension(module, name, code)


@pytest.mark.spec("DATA-5")
@pytest.mark.parametrize("opcode", [b"P0\n.", b"\x80\x02K\x00Q."])  # PERSID, BINPERSID
def test_persistent_ids_are_refused(opcode: bytes) -> None:
    with pytest.raises(pickle.UnpicklingError):
        load_numpy_pickle(io.BytesIO(opcode), source="hand.pickle")


def _documented_allow_list() -> set[tuple[str, str]]:
    """The backquoted names after "these globals (the allow-list):" in DATA-5's statement."""
    text = (Path(__file__).parents[2] / "specs" / "data.md").read_text(encoding="utf-8")
    law = text[text.index("### DATA-5"):text.index("### DATA-6")]
    listed = law[law.index("(the allow-list):"):law.index("; each resolves")]
    names = re.findall(r"`([\w.]+)`", re.sub(r"\([^)]*\)", "", listed))
    return {tuple(name.rsplit(".", 1)) for name in names}  # type: ignore[misc]


@pytest.mark.spec("DATA-5")
def test_the_allow_list_is_exactly_the_documented_one_and_resolves_to_numpy() -> None:
    documented = _documented_allow_list()
    assert documented == {("numpy.core.multiarray", "_reconstruct"),
                          ("numpy._core.multiarray", "_reconstruct"),
                          ("numpy", "ndarray"), ("numpy", "dtype")}
    assert set(ALLOWED_GLOBALS) == documented
    reconstruct = np.empty(0).__reduce__()[0]  # numpy's own, whatever module it lives in
    expected = {"_reconstruct": reconstruct, "ndarray": np.ndarray, "dtype": np.dtype}
    for (module, name), resolved in ALLOWED_GLOBALS.items():
        assert resolved is expected[name], (module, name)
        unpickler = NumpyOnlyUnpickler(io.BytesIO(b""), source="x")
        assert unpickler.find_class(module, name) is expected[name]


@pytest.mark.spec("DATA-5")
@given(opcode=st.sampled_from(sorted(PAYLOADS)),
       module=st.sampled_from(["numpy", "numpy.core.multiarray", "numpy._core.multiarray", "os",
                               "builtins"]) | st.text(max_size=12),
       name=st.sampled_from(["_reconstruct", "ndarray", "dtype", "system", "eval"])
       | st.text(max_size=12))
def test_every_global_outside_the_allow_list_is_refused(opcode: str, module: str,
                                                        name: str) -> None:
    assume((module, name) not in _documented_allow_list())
    _refused(opcode, module, name)
