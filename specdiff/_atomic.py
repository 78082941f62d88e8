"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never a part.

Standard library only, so the torch-free spec's PPM writer can use it too.
"""

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_NAME_ATTEMPTS = 100


def write_atomically(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write`` on a temporary file in ``path``'s folder, fsync it, rename it over ``path``.

    Missing parent folders are created. The file gets mode 0666 minus the umask, as ``open``
    would give it (0644 under umask 022). On any failure the temporary file is removed and an
    existing file at ``path`` is unchanged.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = _create_temporary(target)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, target)
    except BaseException:
        temp_name.unlink(missing_ok=True)
        raise
    return target


def _create_temporary(target: Path) -> tuple[int, Path]:
    """A new file ``.{name}.{random}.tmp`` beside ``target`` (name cut at 64 characters), opened
    for writing.

    Not tempfile.mkstemp: it creates files with mode 0600 whatever the umask. Creating with
    0666 lets the kernel apply the umask, with no process-wide umask read (which races).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_NAME_ATTEMPTS):
        # The target's name shortened, so that any name the file system takes fits here too.
        temp_name = target.with_name(f".{target.name[:64]}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temp_name, flags, 0o666), temp_name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target} after {_NAME_ATTEMPTS} tries")
