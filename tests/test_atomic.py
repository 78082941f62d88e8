"""The atomic writer behind every PNG, PPM and metrics.json the CLI writes (IMG-4)."""

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from specdiff._atomic import write_atomically
from specdiff.evaluation import write_json_atomic
from specdiff.spec.images import write_ppm
from specdiff.visualize import write_png

WRITERS: dict[str, Callable[[Path], object]] = {
    "png": lambda path: write_png(path, np.zeros((2, 2, 3), np.uint8)),
    "ppm": lambda path: write_ppm(path, np.zeros((1, 3, 2, 2))),
    "metrics.json": lambda path: write_json_atomic(path, {"loss": 1.0}),
    "bytes": lambda path: write_atomically(path, lambda stream: stream.write(b"x")),
}


@pytest.fixture
def restore_umask() -> Iterator[None]:
    """The test may change the process umask; it is restored after it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.spec("IMG-4")
@pytest.mark.parametrize("writer", sorted(WRITERS))
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002, 0o000])
def test_written_files_get_the_mode_the_umask_allows(tmp_path: Path, writer: str, mask: int,
                                                     restore_umask: None) -> None:
    # Like open(path, "w") or `touch`: 0666 with the umask's bits cleared (0644 under 022).
    os.umask(mask)
    path = tmp_path / f"out.{writer}"
    WRITERS[writer](path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    WRITERS[writer](path)  # replacing an existing file gives it the same mode
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left


@pytest.mark.spec("IMG-4")
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_missing_parent_folders_are_created(tmp_path: Path, writer: str) -> None:
    path = tmp_path / "a" / "b" / f"out.{writer}"
    WRITERS[writer](path)
    assert path.is_file()


@pytest.mark.spec("IMG-4")
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_name_as_long_as_the_file_system_takes_is_written(tmp_path: Path, writer: str) -> None:
    longest = os.pathconf(tmp_path, "PC_NAME_MAX")
    path = tmp_path / ("n" * (longest - len(writer) - 1) + f".{writer}")
    WRITERS[writer](path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
