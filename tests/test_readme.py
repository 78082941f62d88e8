"""The README's Python examples run as written (and its property test passes)."""

import importlib.util
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


def _readme_numbers() -> Any:
    spec = importlib.util.spec_from_file_location(
        "readme_numbers", README.parent / "benchmarks" / "readme_numbers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_measured_passage_is_one_the_script_regenerates() -> None:
    numbers = _readme_numbers()
    text = README.read_text(encoding="utf-8")
    names = numbers.block_names(text)
    assert sorted(names) == sorted(set(names))  # each passage once
    assert set(names) == {"demo", "recipe", "samplers", "threads", "memory", "mutation"}
    for name in names:  # replacing a passage touches nothing outside it
        replaced = numbers.replace_block(text, name, "NEW\n")
        before, after = text.split(f"<!-- numbers:{name} -->\n")
        assert replaced.startswith(before + f"<!-- numbers:{name} -->\nNEW\n<!-- /numbers:")
        assert replaced.endswith(after.split(f"<!-- /numbers:{name} -->", 1)[1])


def test_the_demo_measured_is_the_readmes_first_command() -> None:
    commands = _readme_numbers().main_job_commands(README.read_text(encoding="utf-8"))
    assert [command[:2] for command in commands] == [["specdiff", "train"],
                                                    ["specdiff", "sample"]]


def test_the_recipe_rows_change_only_what_they_name() -> None:
    # The ablation reruns the README's training command; a helper that dropped or duplicated
    # an option would measure another recipe than the one the table names.
    numbers = _readme_numbers()
    train = numbers.main_job_commands(README.read_text(encoding="utf-8"))[0]
    changed = numbers._with_options(train, {"--model": "unet-digits-large",
                                            "--min-snr-gamma": None, "--out": "run0"})
    assert "--min-snr-gamma" in train and "--min-snr-gamma" not in changed
    assert numbers._option(changed, "--model") == "unet-digits-large"
    assert numbers._option(changed, "--out") == "run0"
    kept = [name for name in train if name.startswith("--")
            and name not in ("--model", "--min-snr-gamma", "--out")]
    assert all(numbers._option(changed, name) == numbers._option(train, name) for name in kept)
    assert len(changed) == len(train) - 2


def test_the_demo_is_evaluated_with_the_sampler_it_draws_with() -> None:
    numbers = _readme_numbers()
    sample = numbers.main_job_commands(README.read_text(encoding="utf-8"))[1]
    sampler = numbers._sampler_of(sample)
    assert sampler[::2] == [name for name in ("--sampler", "--steps", "--eta") if name in sample]
    assert all(numbers._option(sample, name) == value
               for name, value in zip(sampler[::2], sampler[1::2], strict=True))
