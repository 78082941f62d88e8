"""Atomic writes: a reader (or a crash) sees the old file or the new one, never a part; a new
folder appears whole or not at all.

Standard library only, so the torch-free spec's PPM writer can use it too.
"""

import contextlib
import os
import secrets
import shutil
import stat
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


def require_new_folder(path: str | os.PathLike[str]) -> Path:
    """``path``, which must not exist or be an empty folder (not a link to one); else a
    FileExistsError saying so, with nothing written."""
    target = Path(path)
    if os.path.lexists(target):
        mode = os.lstat(target).st_mode
        if not stat.S_ISDIR(mode) or any(target.iterdir()):
            kind = "a folder that is not empty" if stat.S_ISDIR(mode) else "not a folder"
            raise FileExistsError(f"{target} already exists and is {kind}; nothing was written "
                                  f"(choose a new folder)")
    return target


def write_folder_atomically(path: str | os.PathLike[str], fill: Callable[[Path], object]
                            ) -> Path:
    """Call ``fill`` on a new hidden folder beside ``path``, fsync everything in it, rename it
    to ``path``, which must not exist or be an empty folder (``require_new_folder``).

    Missing parent folders are created. On any failure the hidden folder and the parent folders
    this call created are removed, and nothing is at ``path``; a folder that appeared at ``path``
    meanwhile is never replaced unless empty.
    """
    target = require_new_folder(path)
    missing = [folder for folder in target.parents if not os.path.lexists(folder)]
    temp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = _create_temporary_folder(target)
        fill(temp)
        for folder, _, files in os.walk(temp):
            for name in files:
                fsync_path(Path(folder) / name)
            fsync_path(Path(folder))
        os.rename(temp, target)  # replaces an empty folder only (rename(2))
        fsync_path(target.parent)
    except BaseException:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
        for created in missing:  # innermost first; only the empty ones this call created
            with contextlib.suppress(OSError):
                created.rmdir()
        raise
    return target


def _create_temporary_folder(target: Path) -> Path:
    """A new folder ``.{name}.{random}.tmp`` beside ``target``, mode 0777 less the umask."""
    for _ in range(_NAME_ATTEMPTS):
        temp = target.with_name(f".{target.name[:64]}.{secrets.token_hex(6)}.tmp")
        try:
            temp.mkdir(0o777)
            return temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target} after {_NAME_ATTEMPTS} tries")


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a folder's entries, to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
