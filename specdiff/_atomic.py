"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never a part.

Standard library only, so the torch-free spec's PPM writer can use it too.
"""

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write`` on a temporary file in ``path``'s folder, fsync it, rename it over ``path``.

    On any failure the temporary file is removed and an existing file at ``path`` is unchanged.
    The file gets mode 0666 less the umask, as other tools give it (mkstemp would give 0600).
    """
    target = Path(path)
    while True:
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target
