"""Fuzzing `specdiff` with hostile command lines: every outcome is success or one clear line.

Each example edits a valid, cheap command line of one subcommand: options taken from the parser
itself get values from a pool of nasty strings (negatives, zero, huge, NaN/inf, unicode digits,
empty, folders, files, missing paths, unreadable images) and flags are switched on. The rule,
for every command line:

- ``main`` returns 0 or 2 and never raises;
- on 2, stderr is exactly one line ``specdiff COMMAND: error: ...`` (parse errors included:
  the parser prints no usage text), and the folder the command ran in is unchanged: no output,
  temporary or empty folder is left behind.
"""

import argparse
import contextlib
import hashlib
import importlib.util
import io
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from specdiff.cli import build_parser, main
from specdiff.testing import peers
from tests import _cli_runs as cli_runs

# Relative to the folder each example runs in, which holds a copy of the fixture world.
RUN, SR_RUN, CONDITIONAL_RUN = "runs/tiny", "runs/sr", "runs/conditional"
PIPELINE = "pipeline"  # CONDITIONAL_RUN exported as a diffusers pipeline folder
PATHS = [RUN, SR_RUN, CONDITIONAL_RUN, PIPELINE, f"{PIPELINE}/unet", "runs", "missing",
         "missing/deeper/x.png", "inputs/notes.txt", "inputs/notes.txt/below.png", "inputs",
         "/proc/specdiff/x.png",
         "inputs/in.png", "inputs/mask.png", "inputs/small.png", "inputs/deep16.png",
         "inputs/garbage.png", "inputs/tiff.png", "out.png", "new/out.ppm", ".", ""]
NUMBERS = ["-1", "0", "1", "2", "-0", "1.5", "0.5", "1e309", "-1e309", "1e-320", "nan", "NaN",
           "inf", "-inf", "+1", "1e3", "0x10", "1_0", "³", "١", "１", "٢", " 1", "1 ", "",
           str(2**22 - 1), str(2**22), str(2**32 - 1), str(2**32), str(2**63), str(2**64 - 1),
           str(2**64),
           str(-(2**63)), str(10**30), "9" * 50, "9" * 5000, "all", "--quiet"]
WORDS = ["digits", "mnist", "images:inputs/folder", "images:inputs", "cifar10:missing",
         "images:", "cifar10:", "ddpm", "cpu", "cuda", "tpu", "sr", "unet-tiny"]
# No number option takes these (every range starts at 0 or above; numbers are ASCII and finite).
NEVER_A_VALID_NUMBER = {"-1", "-1e309", "1e309", "nan", "NaN", "inf", "-inf", "³", "١", "１", "٢",
                        " 1", "1 ", "", "1_0", "0x10", str(10**30), "9" * 50, "9" * 5000,
                        str(2**64), str(-(2**63)), "all", "--quiet"}
# Valid but costly (a long run, a 35M-parameter net, torch.compile): not what this test is for.
COSTLY = {("--steps", "train"): lambda value: value.isascii() and value.isdigit()
          and 3 < int(value) <= 10**9,
          ("--model", "train"): lambda value: "cifar10" in value}
SKIPPED_OPTIONS = {"--compile", "--help"}

BASE = {
    "train": ["--data", "digits", "--image-size", "8", "--model", "epsconv", "--timesteps", "4",
              "--batch-size", "4", "--steps", "1", "--quiet", "--out", "new-run"],
    "sample": [RUN, "--n", "2", "--steps", "2", "--quiet", "--out", "s.png"],
    "inpaint": [RUN, "--image", "inputs/in.png", "--mask", "inputs/mask.png", "--quiet",
                "--out", "i.png"],
    "upscale": [SR_RUN, "--image", "inputs/small.png", "--steps", "2", "--quiet",
                "--out", "u.png"],
    "evaluate": [RUN, "--n-samples", "2", "--batch-size", "2", "--vlb-timesteps", "2"],
    "export": [CONDITIONAL_RUN, "--format", "diffusers", "--out", "exported"],
    "import": [PIPELINE, "--out", "imported"],
    "conformance": ["--library", "denoising-diffusion-pytorch", "--out", "report.md"],
}
ONE_ERROR_LINE = re.compile(
    r"specdiff (train|sample|inpaint|upscale|evaluate|export|import|conformance): error: "
    r"\S[^\n]*\n")


@pytest.fixture(scope="module", autouse=True)
def peers_without_configurations() -> Iterator[None]:
    """`specdiff conformance` judges no configuration here: the fuzz is about its options, and the
    real matrix takes minutes (tests/test_cli_conformance.py runs a slice of it)."""
    saved = dict(peers.LIBRARIES)
    peers.LIBRARIES.update(dict.fromkeys(saved, list))  # list() is an empty list of cases
    yield
    peers.LIBRARIES.update(saved)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tiny runs and the input files every example starts from (made once)."""
    root = tmp_path_factory.mktemp("world")
    cli_runs.train(root / RUN)
    cli_runs.train(root / SR_RUN, "--task", "sr", model="unet-tiny", steps=1)
    cli_runs.train(root / CONDITIONAL_RUN, "--conditional", model="unet-tiny", steps=1)
    if importlib.util.find_spec("diffusers"):  # else import meets a missing folder
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["export", str(root / CONDITIONAL_RUN), "--format", "diffusers",
                         "--out", str(root / PIPELINE)]) == 0
    inputs = root / "inputs"
    cli_runs.write_inputs(inputs)  # in.png, mask.png, small.png
    Image.frombytes("I;16", (8, 8), (1000 * np.arange(64)).astype("<u2").tobytes()).save(
        inputs / "deep16.png")
    (inputs / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    Image.new("L", (8, 8)).save(inputs / "tiff.png", format="TIFF")
    (inputs / "notes.txt").write_text("not an image")
    (inputs / "folder").mkdir()
    for index in range(3):
        Image.new("L", (8, 8), 40 * index).save(inputs / "folder" / f"{index}.png")
    return root


@contextlib.contextmanager
def _inside_a_copy_of(world: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        shutil.copytree(world, folder, dirs_exist_ok=True)
        with contextlib.chdir(folder):
            yield Path(folder)


def _snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` with its contents' digest ("" for folders)."""
    return {str(path.relative_to(folder)):
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
            for path in folder.rglob("*")}


def _options(command: str) -> list[argparse.Action]:
    parser = build_parser()
    commands = next(action for action in parser._actions
                    if isinstance(action, argparse._SubParsersAction))
    return [action for action in commands.choices[command]._actions
            if not set(action.option_strings) & SKIPPED_OPTIONS]


def _values(action: argparse.Action) -> st.SearchStrategy[str]:
    choices = [str(choice) for choice in action.choices or ()]
    return st.sampled_from([*choices, *NUMBERS, *WORDS, *PATHS])


def _is_number_option(action: argparse.Action) -> bool:
    """Told by the option's default (or, for those without one, its name), not by how the
    parser checks it."""
    return ((isinstance(action.default, (int, float)) and not isinstance(action.default, bool))
            or action.dest in ("image_size", "vlb_timesteps", "scale", "timesteps"))


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[list[str], set[str]]:
    """A subcommand's cheap valid command line with one to three options edited, and the number
    options whose value (the last one given) is NEVER_A_VALID_NUMBER."""
    command = draw(st.sampled_from(sorted(BASE)))
    argv, invalid = [command, *BASE[command]], set()
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(_options(command)))
        if not action.option_strings:  # the run folder
            argv[1] = draw(st.sampled_from(PATHS))
            continue
        option = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(option)
            continue
        value = draw(_values(action))
        costly = COSTLY.get((option, command))
        assume(costly is None or not costly(value))
        if _is_number_option(action):
            (invalid.add if value in NEVER_A_VALID_NUMBER else invalid.discard)(action.dest)
        # "--opt=value" or "--opt value" (where argparse may read a value as an option).
        argv += [f"{option}={value}"] if draw(st.booleans()) else [option, value]
    return argv, invalid


@settings(max_examples=max(10, settings.default.max_examples),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=command_lines())
def test_any_command_line_succeeds_or_fails_with_one_line_and_writes_nothing(
    world: Path, case: tuple[list[str], set[str]]
) -> None:
    argv, invalid_numbers = case
    with _inside_a_copy_of(world) as folder:
        before = _snapshot(folder)
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(argv)
        assert code in (0, 2), (code, stderr.getvalue())
        assert code == 2 or not invalid_numbers, f"accepted invalid {sorted(invalid_numbers)}"
        if code == 2:
            assert ONE_ERROR_LINE.fullmatch(stderr.getvalue()), stderr.getvalue()
            assert stderr.getvalue().startswith(f"specdiff {argv[0]}: error: ")
            assert _snapshot(folder) == before, "a failed command left files behind"


def test_the_fuzz_reaches_every_option_of_every_command() -> None:
    # A new option is fuzzed without editing this file; a new command needs a BASE line.
    parser = build_parser()
    commands = next(action for action in parser._actions
                    if isinstance(action, argparse._SubParsersAction))
    assert set(commands.choices) == set(BASE)
    for command in BASE:
        assert [a for a in _options(command) if a.option_strings], command
