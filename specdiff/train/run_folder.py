"""Run-folder integrity: one writer, verified checkpoint files, no special files (CKPT-6..10).

Every reader and writer of a run folder goes through this module:

- ``run_lock`` (CKPT-6) keeps a second ``specdiff train`` out of a run folder in use;
- ``open_checkpoint`` (CKPT-7, CKPT-8) reads a checkpoint's manifest and files once, as regular
  files only, checked against the sizes and SHA-256 digests the manifest records, and falls
  back past damaged checkpoints of a run folder, saying so;
- ``list_checkpoints`` (CKPT-2) finds the complete checkpoints without reading their tensors;
- ``append_metrics`` / ``rewind_metrics`` (CKPT-10) keep the run's log in step with its
  checkpoints.
"""

import contextlib
import errno
import fcntl
import hashlib
import itertools
import json
import os
import re
import socket
import stat
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from specdiff._atomic import write_atomically

MANIFEST = "checkpoint.json"
FORMAT_VERSION = 2  # 2: each file's size and SHA-256; 1: sizes only (still read)
METRICS_FILE = "metrics.jsonl"
LOCK_FILE = ".lock"
CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d{8,})$")
_TENSOR_FILE = re.compile(r"^[a-z_]+\.safetensors$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CheckpointError(ValueError):
    """A checkpoint that does not fit what it is loaded into, or is not a complete checkpoint."""


class RunFolderError(ValueError):
    """A run folder that cannot be written: in use by another run, not a folder, not writable."""


def warn(message: str) -> None:
    """One line on stderr, for what a user must know but that does not stop the command."""
    print(f"specdiff: warning: {message}", file=sys.stderr, flush=True)


# CKPT-6: one writer per run folder.


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """CKPT-6: hold ``run_dir``'s lock (creating the folder) for the ``with`` block; yield it.

    The lock is an exclusive ``flock`` on ``run_dir/.lock``, which records the holder's pid,
    host and start time. The kernel releases it when the holder ends, however it ends, so the
    lock of a killed holder is stale: the next run takes it over and says so. A clean exit
    removes the lock file, and folders this call created when nothing else was written in them.
    Raises RunFolderError, having written nothing, when another process holds the lock or the
    folder is a file, below a file, or not writable.
    """
    root = Path(run_dir)
    created = _make_folders(root)
    try:
        descriptor = _take_lock(root)
    except BaseException:
        _remove_empty(created)
        raise
    try:
        yield root
    finally:
        # Unlinking while still holding the lock: a process that opened the old file sees
        # that the name now leads elsewhere, and retries (see _take_lock).
        (root / LOCK_FILE).unlink(missing_ok=True)
        os.close(descriptor)
        _remove_empty(created)


def _make_folders(root: Path) -> list[Path]:
    """Create ``root`` and its missing parents; return the folders created, outermost first."""
    missing = list(itertools.takewhile(lambda path: not os.path.lexists(path),
                                       [root, *root.parents]))[::-1]
    existing = missing[0].parent if missing else root
    if not existing.is_dir():
        if existing == root:
            raise RunFolderError(f"out folder {root} is a file, not a folder")
        raise RunFolderError(f"out folder {root} is below {existing}, which is not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(_unusable(root, error)) from None
    return missing


def _unusable(root: Path, error: OSError) -> str:
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"out folder {root} is not writable: {error.strerror}"
    return f"out folder {root} cannot be used: {error.strerror}"


def _take_lock(root: Path) -> int:
    path = root / LOCK_FILE
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK,
                                 0o666)
        except OSError as error:
            raise RunFolderError(_unusable(root, error)) from None
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise RunFolderError(f"out folder {root} cannot be used: its lock {path} is "
                                     f"not a regular file")
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunFolderError(
                    f"out folder {root} is in use by another training run "
                    f"({_holder(descriptor, wait=True)}); wait for it to end or choose another "
                    f"folder") from None
            except OSError as error:
                raise RunFolderError(f"out folder {root} cannot be locked: "
                                     f"{error.strerror}") from None
            if _names_same_file(path, descriptor):
                break
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)  # the holder removed the file between our open and our flock
    stale = _holder(descriptor, wait=False)
    if stale:
        warn(f"{root}: the lock of {stale} is stale (that process ended without releasing "
             f"it); taking it over")
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, (json.dumps(record) + "\n").encode(), 0)
    return descriptor


def _names_same_file(path: Path, descriptor: int) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _holder(descriptor: int, *, wait: bool) -> str:
    """Who the lock file names; a holder is given a moment to write its record after flock."""
    for _ in range(20 if wait else 1):
        text = os.pread(descriptor, 4096, 0).decode("utf-8", "replace")
        try:
            record = json.loads(text)
            return f"pid {record['pid']} on {record['host']}, started {record['started']}"
        except (ValueError, KeyError, TypeError):
            if text.strip():
                return f"a process whose lock record reads {text.strip()[:80]!r}"
        if wait:
            time.sleep(0.05)
    return "a process that has not recorded its pid yet" if wait else ""


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a lock created, innermost first, as long as they are empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


# CKPT-8: only regular files are read.


def read_regular_file(path: Path) -> bytes:
    """CKPT-8: the bytes of ``path``, refused (CheckpointError, never opened) unless it is a
    regular file itself: not a symbolic link, FIFO, socket or device."""
    status = _regular_status(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read: {error.strerror}") from None
    with open(descriptor, "rb") as stream:
        opened = os.fstat(descriptor)
        if (opened.st_dev, opened.st_ino) != (status.st_dev, status.st_ino):
            raise CheckpointError(f"{path}: was replaced while being opened")
        return stream.read()


def _regular_status(path: Path) -> os.stat_result:
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: is missing") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read: {error.strerror}") from None
    if not stat.S_ISREG(status.st_mode):
        raise CheckpointError(f"{path}: is a {_kind(status.st_mode)}, not a regular file; "
                              f"refused without reading it")
    return status


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISREG, "file"), (stat.S_ISLNK, "symbolic link"), (stat.S_ISFIFO, "FIFO"),
             (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
             (stat.S_ISBLK, "block device"), (stat.S_ISDIR, "folder"))
    return next((name for test, name in kinds if test(mode)), "special file")


def _require_real_folder(folder: Path) -> None:
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {folder} does not exist") from None
    if stat.S_ISLNK(mode):
        raise CheckpointError(f"{folder}: is a symbolic link; a checkpoint is read only from "
                              f"a folder of its own")
    if not stat.S_ISDIR(mode):
        raise CheckpointError(f"{folder}: is a {_kind(mode)}, not a checkpoint folder")


# CKPT-7: verified checkpoints.


def file_record(data: bytes) -> dict[str, Any]:
    """CKPT-7: what a format-2 manifest records of a file: its size and SHA-256."""
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@dataclass(frozen=True)
class CheckpointContents:
    """A checkpoint as read: its folder, its validated manifest, and the bytes of the files
    that were asked for, each checked against the manifest."""

    path: Path
    manifest: dict[str, Any]
    files: dict[str, bytes]

    @property
    def step(self) -> int:
        step: int = self.manifest["step"]
        return step

    def file(self, name: str) -> bytes:
        """The bytes of the listed file ``name``, checked (read now if not read yet)."""
        records = _file_records(self.path, self.manifest)
        if name not in records:
            raise CheckpointError(f"{self.path / MANIFEST}: files lists no {name}")
        if name not in self.files:
            self.files[name] = _verified(self.path / name, *records[name])
        return self.files[name]


def read_checkpoint(folder: Path, files: Collection[str] = ()) -> CheckpointContents:
    """CKPT-7, CKPT-8: the checkpoint in ``folder``: its manifest, validated; every file it
    lists a regular file of the recorded size; and ``files`` (those listed) read and checked
    against their SHA-256. Else a CheckpointError naming the file, and the key."""
    _require_real_folder(folder)
    manifest = read_manifest(folder)
    records = _file_records(folder, manifest)
    for name, (size, _) in records.items():
        actual = _regular_status(folder / name).st_size
        if actual != size:
            raise CheckpointError(f"{folder / name}: is {actual} bytes, but {MANIFEST} records "
                                  f"{size} (truncated or replaced)")
    contents = {name: _verified(folder / name, *records[name]) for name in files
                if name in records}
    return CheckpointContents(folder, manifest, contents)


def _verified(path: Path, size: int, digest: str | None) -> bytes:
    data = read_regular_file(path)
    if len(data) != size:
        raise CheckpointError(f"{path}: is {len(data)} bytes, but {MANIFEST} records {size} "
                              f"(truncated or replaced)")
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        raise CheckpointError(f"{path}: its SHA-256 differs from the one {MANIFEST} records: "
                              f"the file is damaged")
    return data


def read_manifest(folder: Path) -> dict[str, Any]:
    """The validated checkpoint.json of ``folder`` (CheckpointError naming the key if not)."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(read_regular_file(path), parse_constant=_no_constant)
    except ValueError as error:  # not UTF-8, not JSON, or NaN/Infinity
        raise CheckpointError(f"{path}: is not valid JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{path}: must hold a JSON object, got {_short(manifest)}")
    version = manifest.get("format_version")
    if not _is_int(version) or version not in (1, FORMAT_VERSION):
        raise CheckpointError(f"{path}: format_version must be 1 or {FORMAT_VERSION}, got "
                              f"{_short(manifest.get('format_version', '<missing>'))}")
    step = manifest.get("step")
    if not _is_int(step) or step < 0:
        raise CheckpointError(f"{path}: step must be an int >= 0, got "
                              f"{_short(manifest.get('step', '<missing>'))}")
    named = CHECKPOINT_NAME.match(folder.name)
    if named and int(named.group(1)) != step:
        raise CheckpointError(f"{path}: step {step} differs from the step "
                              f"{int(named.group(1))} of the folder's name")
    for key, kind in (("config", dict), ("extra", dict), ("specdiff_version", str)):
        if not isinstance(manifest.get(key), kind):
            raise CheckpointError(f"{path}: {key} must be a JSON "
                                  f"{'object' if kind is dict else 'string'}, got "
                                  f"{_short(manifest.get(key, '<missing>'))}")
    _file_records(folder, manifest)
    return manifest


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _file_records(folder: Path, manifest: Mapping[str, Any]) -> dict[str, tuple[int,
                                                                               str | None]]:
    """name → (size, SHA-256 or None for format 1) of the files the manifest lists."""
    path = folder / MANIFEST
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise CheckpointError(f"{path}: files must be a JSON object, got "
                              f"{_short(manifest.get('files', '<missing>'))}")
    records: dict[str, tuple[int, str | None]] = {}
    for name, record in files.items():
        if not _TENSOR_FILE.match(name):
            raise CheckpointError(f"{path}: files names {name!r}, which is not a tensor file "
                                  f"of the checkpoint (NAME.safetensors)")
        if manifest["format_version"] == 1:
            size, digest = record, None
        elif isinstance(record, dict) and set(record) == {"size", "sha256"}:
            size, digest = record["size"], record["sha256"]
        else:
            raise CheckpointError(f"{path}: files.{name} must be {{\"size\": bytes, "
                                  f"\"sha256\": hex digest}}, got {_short(record)}")
        if not _is_int(size) or size < 0:
            raise CheckpointError(f"{path}: files.{name} size must be an int >= 0, got "
                                  f"{_short(size)}")
        if digest is not None and not (isinstance(digest, str) and _SHA256.match(digest)):
            raise CheckpointError(f"{path}: files.{name} sha256 must be 64 hex digits, got "
                                  f"{_short(digest)}")
        records[name] = (size, digest)
    return records


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def open_checkpoint(
    path: str | os.PathLike[str],
    files: Collection[str] = (),
    accept: Callable[[CheckpointContents], object] | None = None,
) -> CheckpointContents:
    """CKPT-7: ``read_checkpoint(path, files)`` when ``path`` is a checkpoint folder (refused if
    damaged); for a run folder, its newest checkpoint that reads and that ``accept`` (if given)
    does not refuse with a CheckpointError, with one warning line on stderr for each newer one
    skipped, naming it, why, and the checkpoint used instead."""
    path = Path(path)
    if os.path.lexists(path / MANIFEST):
        return _open_one(path, files, accept)
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    candidates = sorted(((int(match.group(1)), entry) for entry in path.iterdir()
                         if (match := CHECKPOINT_NAME.match(entry.name))), reverse=True)
    skipped: list[tuple[Path, Exception]] = []
    for _, candidate in candidates:
        try:
            contents = _open_one(candidate, files, accept)
        except (CheckpointError, FileNotFoundError) as error:  # not found: pruned meanwhile
            skipped.append((candidate, error))
            continue
        for folder, reason in skipped:
            warn(f"skipped the checkpoint {folder}: {reason}; using {candidate} "
                 f"(step {contents.step}) instead")
        return contents
    if skipped:
        raise CheckpointError(f"{path}: no checkpoint of this run can be used: "
                              + "; ".join(str(reason) for _, reason in skipped))
    raise FileNotFoundError(f"{path}: neither a checkpoint (no {MANIFEST}) nor a run folder "
                            f"with a checkpoint-NNNNNNNN folder in it")


def _open_one(folder: Path, files: Collection[str],
              accept: Callable[[CheckpointContents], object] | None) -> CheckpointContents:
    contents = read_checkpoint(folder, files)
    if accept is not None:
        accept(contents)
    if contents.manifest["format_version"] == 1:
        warn(f"{folder}: a format 1 checkpoint (from before digests): its files are checked "
             f"by size only")
    return contents


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """CKPT-2: the complete checkpoints of ``run_dir``, by increasing step (empty if none):
    real folders named checkpoint-N whose manifest is valid and whose listed files are regular
    files of the recorded sizes. Tensors are not read (CKPT-7 checks them on load)."""
    root = Path(run_dir)
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        if match := CHECKPOINT_NAME.match(entry.name):
            with contextlib.suppress(CheckpointError, FileNotFoundError):
                read_checkpoint(entry)
                found.append((int(match.group(1)), entry))
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """CKPT-2: the complete checkpoint of ``run_dir`` with the highest step, or None."""
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


# CKPT-10: the run's log.


def append_metrics(run_dir: Path, record: Mapping[str, Any]) -> None:
    """Append one record to ``run_dir/metrics.jsonl`` (a regular file, created if missing)."""
    path = run_dir / METRICS_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW |
                             os.O_NONBLOCK, 0o666)
    except OSError as error:
        raise RunFolderError(f"{path}: cannot be written: {error.strerror}") from None
    with open(descriptor, "a", encoding="utf-8") as stream:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise RunFolderError(f"{path}: is not a regular file")
        stream.write(json.dumps(dict(record)) + "\n")


def read_metrics(run_dir: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The records of run_dir/metrics.jsonl, in order."""
    path = Path(run_dir) / METRICS_FILE
    if not os.path.lexists(path):
        raise FileNotFoundError(f"{path} does not exist")
    text = read_regular_file(path).decode("utf-8")
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


def rewind_metrics(run_dir: Path, step: int) -> None:
    """CKPT-10: drop the records of steps after ``step`` from the log, atomically (a new file
    renamed over it); a log without such records is left untouched."""
    path = run_dir / METRICS_FILE
    if not os.path.lexists(path):
        return
    lines = read_regular_file(path).decode("utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.strip() or _logged_step(line) <= step]
    if kept != lines:
        write_atomically(path, lambda stream: stream.write("".join(kept).encode("utf-8")))


def _logged_step(line: str) -> int:
    try:
        step = json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return sys.maxsize  # a line that is not a record of ours: not kept
    return step if _is_int(step) else sys.maxsize
