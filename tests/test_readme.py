"""The README's Python examples run as written (and its property test passes)."""

import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_python_examples() -> None:
    assert len(PYTHON_BLOCKS) >= 3


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.splitlines()[0][:40])
def test_readme_example_runs(block: str) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(block, str(README), "exec"), namespace)
    for name, value in namespace.items():
        if name.startswith("test_") and callable(value):
            value()  # a property test defined by the example: run it


def test_ci_runs_the_readmes_test_command() -> None:
    # The README's second command is what CI runs: the line that starts pytest in each.
    def pytest_lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines()
                if line.strip().startswith("python -m pytest")]

    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert pytest_lines(ci) == pytest_lines(README.read_text(encoding="utf-8"))
