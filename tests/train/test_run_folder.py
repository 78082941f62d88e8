"""CKPT-6 one writer per run and CKPT-8 special files refused: real processes, real files."""

import contextlib
import ctypes
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from specdiff.cli import main
from specdiff.train import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from specdiff.train.config import TrainConfig
from specdiff.train.run import load_for_sampling, train_run
from tests.train.test_checkpoint import CONFIG, _net

TINY = ["--data", "digits", "--image-size", "8", "--model", "epsconv", "--timesteps", "20",
        "--batch-size", "8", "--quiet"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TRAIN = [sys.executable, "-m", "specdiff.cli", "train", *TINY]


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for a folder)."""
    return {str(path.relative_to(folder)): None if path.is_dir() else path.read_bytes()
            for path in sorted(folder.rglob("*"))}


def _wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, f"the holder ended early: {process.communicate()}"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


@pytest.mark.spec("CKPT-6")
def test_a_second_train_on_a_run_in_use_exits_2_naming_the_holder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    # A real `specdiff train` in another process, frozen (SIGSTOP) once it has logged its first
    # steps: it holds the run folder without using a CPU while this process tries it.
    holder = subprocess.Popen([*TRAIN, "--steps", "1000000", "--out", str(run)], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(run / "metrics.jsonl", holder)
        holder.send_signal(signal.SIGSTOP)
        before = _snapshot(tmp_path)
        capsys.readouterr()
        assert main(["train", *TINY, "--steps", "2", "--out", str(run)]) == 2
        refused = capsys.readouterr()
        lines = refused.err.splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"specdiff train: error: out folder {run} is in use")
        assert f"pid {holder.pid}" in lines[0]
        assert refused.out == ""  # refused before loading data or building a model
        assert _snapshot(tmp_path) == before
    finally:
        holder.kill()  # SIGKILL: the kernel releases its lock, the lock file stays behind
        holder.communicate()
    assert holder.returncode == -signal.SIGKILL
    assert main(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
    taken_over = capsys.readouterr().err
    assert f"pid {holder.pid}" in taken_over and "stale" in taken_over
    assert [path.name for path in list_checkpoints(run)] == ["checkpoint-00000002"]
    assert sorted(entry.name for entry in run.iterdir()) == ["checkpoint-00000002",
                                                            "metrics.jsonl"]


@pytest.mark.spec("CKPT-6")
def test_an_out_folder_that_is_a_file_or_below_one_is_refused_before_training(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "file"
    file.write_text("mine")
    for out, expected in ((file, f"out folder {file} is a file, not a folder"),
                          (file / "run", f"out folder {file / 'run'} is below {file}, "
                                         "which is not a folder")):
        # The library refuses it by name (the CLI checks --out earlier, while parsing)...
        with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
            train_run(out, TrainConfig(steps=2, batch_size=8), data="digits", model="epsconv",
                      timesteps=20, image_size=8, progress=False)
        # ...and the command in one line naming --out and the path.
        assert main(["train", *TINY, "--steps", "2", "--out", str(out)]) == 2
        output = capsys.readouterr()
        assert output.err.startswith(f"specdiff train: error: argument --out: {out}")
        assert output.err.count("\n") == 1
        assert output.out == ""
    assert _snapshot(tmp_path) == {"file": b"mine"}
    # Refused input writes nothing, not even the folders the lock would have needed.
    assert main(["train", *TINY, "--data", "nothing", "--steps", "2",
                 "--out", str(tmp_path / "new" / "run")]) == 2
    assert _snapshot(tmp_path) == {"file": b"mine"}


def _without_permission_override() -> None:
    """In the child, before exec: drop root's CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
    bounding set, so that file permissions bind it as they bind any other user."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@pytest.mark.spec("CKPT-6")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="drops capabilities (Linux)")
def test_an_out_folder_that_is_not_writable_is_refused_before_training(tmp_path: Path) -> None:
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    try:
        refused = subprocess.run([*TRAIN, "--steps", "2", "--out", str(read_only)], env=ENV,
                                 capture_output=True, text=True, timeout=300, check=False,
                                 preexec_fn=_without_permission_override if os.geteuid() == 0
                                 else None)
    finally:
        read_only.chmod(0o755)
    assert refused.returncode == 2, refused.stderr[-2000:]
    [line] = refused.stderr.splitlines()
    assert line.startswith(f"specdiff train: error: argument --out: {read_only}")
    assert "Permission denied" in line
    assert refused.stdout == ""
    assert list(read_only.iterdir()) == []


class StillRunningError(Exception):
    """Not an OSError (as TimeoutError is), so that no `except OSError` can swallow it."""


@contextlib.contextmanager
def _fails_within(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (a read of a FIFO would hang forever)."""
    def interrupt(signum: int, frame: object) -> None:
        raise StillRunningError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _two_checkpoint_run(root: Path) -> tuple[Path, Path]:
    run = root / "run"
    assert main(["train", *TINY, "--steps", "2", "--checkpoint-every", "1", "--out",
                 str(run)]) == 0
    first, second = list_checkpoints(run)
    return first, second


def _replace_with_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _replace_with_device(path: Path) -> None:
    path.unlink()
    try:  # a character device like /dev/null (1, 3)
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("this machine does not allow creating device files")


def _replace_with_link_out_of_the_run(path: Path) -> None:
    """A symlink to a byte-identical copy outside the run: only the link itself is wrong."""
    outside = path.parent.parent.parent / f"outside-{path.name}"
    shutil.copyfile(path, outside)
    path.unlink()
    path.symlink_to(outside)


@pytest.mark.spec("CKPT-8")
@pytest.mark.parametrize("name", ["checkpoint.json", "ema.safetensors"])
@pytest.mark.parametrize("replace", [_replace_with_fifo, _replace_with_device,
                                     _replace_with_link_out_of_the_run])
def test_special_files_in_a_checkpoint_are_refused_never_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
        replace: object) -> None:
    first, second = _two_checkpoint_run(tmp_path)
    replace(second / name)  # type: ignore[operator]
    capsys.readouterr()
    with _fails_within(20):
        assert main(["sample", str(second), "--n", "2", "--steps", "2", "--quiet",
                     "--out", str(tmp_path / "named.png")]) == 2
        refused = capsys.readouterr().err
        assert refused.startswith(f"specdiff sample: error: {second / name}: ")
        assert "not a regular file" in refused and refused.count("\n") == 1
        # The run folder: the latest checkpoint is skipped, out loud, for the one before it.
        assert main(["sample", str(first.parent), "--n", "2", "--steps", "2", "--quiet",
                     "--out", str(tmp_path / "run.png")]) == 0
    output = capsys.readouterr()
    assert f"{second / name}" in output.err and f"using {first}" in output.err
    assert f"loaded {first} (step 1)" in output.out


@pytest.mark.spec("CKPT-8")
def test_a_checkpoint_folder_that_is_a_symlink_is_refused_and_never_followed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(run / "checkpoint-00000002", elsewhere)
    links = [run / f"checkpoint-0000000{step}" for step in (3, 9)]
    for link in links:
        link.symlink_to(elsewhere, target_is_directory=True)
    target = _snapshot(elsewhere)
    with pytest.raises(CheckpointError, match="is a symbolic link"):
        load_checkpoint(links[0], model=_net())
    with pytest.raises(CheckpointError, match="is a symbolic link"):
        load_for_sampling(links[1])
    capsys.readouterr()
    # Resuming skips the links (saying so) and trains on: the save of step 3 replaces that link
    # (not what it points to), and pruning goes around the other one, never through it.
    assert main(["train", *TINY, "--steps", "6", "--checkpoint-every", "1", "--resume",
                 "--out", str(run)]) == 0
    warned = capsys.readouterr().err
    assert all(str(link) in warned for link in links)
    assert [path.name for path in list_checkpoints(run)] == [f"checkpoint-0000000{step}"
                                                             for step in (4, 5, 6)]
    assert not os.path.lexists(links[0]) and links[1].is_symlink()
    assert _snapshot(elsewhere) == target


@pytest.mark.spec("CKPT-8")
def test_files_are_written_with_the_umask_like_other_tools(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        run = tmp_path / "run"
        assert main(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
        assert main(["sample", str(run), "--n", "2", "--steps", "2", "--quiet",
                     "--out", str(tmp_path / "grid.png")]) == 0
        os.umask(0o077)
        private = save_checkpoint(tmp_path / "private", 1, model=_net(), config=CONFIG)
    finally:
        os.umask(previous)
    checkpoint = run / "checkpoint-00000002"
    modes = {str(path.relative_to(tmp_path)): stat.S_IMODE(path.stat().st_mode)
             for path in [run, checkpoint, *checkpoint.iterdir(), run / "metrics.jsonl",
                          tmp_path / "grid.png"]}
    assert modes == {**{name: 0o644 for name in modes}, "run": 0o755,
                     "run/checkpoint-00000002": 0o755}
    assert {stat.S_IMODE(path.stat().st_mode) for path in private.iterdir()} == {0o600}
