"""Mutation testing of specdiff with cosmic-ray (not part of CI: it takes hours in full).

    pip install cosmic-ray==8.7.0
    python .ci/mutation.py                       # a random sample of 40 mutants per area
    python .ci/mutation.py --sample 0 --areas spec   # every mutant of one area
    python .ci/mutation.py --jobs 2 --out mutation-report.md

Each area is a set of modules and the tests that check them. cosmic-ray lists every mutant of
the area's modules; the operators that only produce type errors on float arrays (bitwise and
shift operators, ``%``, ``//``, ``**`` replacements, ``~``/``not`` on numbers) are left out, so
they cannot inflate the score. A uniform random sample of the rest (``--seed``) is run, each
mutant in a copy of the committed tree with ``pytest -x`` over the area's tests, and the score
is reported with its binomial standard error (a sample estimates the score of all mutants).
Survivors are listed with their diff: each one is either killed by a new test or explained as
equivalent in the README.
"""

import argparse
import concurrent.futures
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# area -> (modules to mutate, tests that check them)
AREAS: dict[str, tuple[list[str], list[str]]] = {
    "spec": (["specdiff/spec"], ["tests/spec", "tests/diffusion"]),
    "diffusion": (["specdiff/diffusion"], ["tests/diffusion", "tests/test_latent.py"]),
    "train": (["specdiff/train"], ["tests/train"]),
    "data": (["specdiff/data"], ["tests/data"]),
    "cli": (["specdiff/cli"], ["tests/test_cli.py", "tests/test_cli_fuzz.py"]),
}

# Replacements that raise TypeError on floats/arrays (so are "killed" by any call): left out.
EXCLUDED_OPERATORS = re.compile(
    r"core/ReplaceBinaryOperator_\w+_(BitOr|BitAnd|BitXor|LShift|RShift|FloorDiv|Mod|Pow)$"
    r"|core/ReplaceBinaryOperator_(BitOr|BitAnd|BitXor|LShift|RShift)_"
    r"|core/ReplaceUnaryOperator_\w+_(Invert|Not)$"
)


@dataclass(frozen=True)
class Mutant:
    module: str
    operator: str
    occurrence: int
    line: int
    definition: str


def list_mutants(tree: Path, modules: list[str]) -> list[Mutant]:
    """Every mutant cosmic-ray makes of ``modules`` in ``tree``, less the excluded operators."""
    config = tree / "cosmic-ray.toml"
    found: list[Mutant] = []
    for module in modules:
        config.write_text(
            "[cosmic-ray]\n"
            f'module-path = "{module}"\n'
            "timeout = 600.0\nexcluded-modules = []\n"
            'test-command = "true"\n'
            '[cosmic-ray.distributor]\nname = "local"\n',
            encoding="utf-8",
        )
        session = tree / "session.sqlite"
        session.unlink(missing_ok=True)
        subprocess.run(["cosmic-ray", "init", str(config), str(session)], cwd=tree, check=True)
        dump = subprocess.run(["cosmic-ray", "dump", str(session)], cwd=tree, check=True,
                              capture_output=True, text=True).stdout
        for line in dump.splitlines():
            for mutation in json.loads(line)[0]["mutations"]:
                if EXCLUDED_OPERATORS.match(mutation["operator_name"]):
                    continue
                found.append(Mutant(mutation["module_path"], mutation["operator_name"],
                                    mutation["occurrence"], mutation["start_pos"][0],
                                    mutation["definition_name"] or "<module>"))
    return sorted(found, key=lambda m: (m.module, m.line, m.operator, m.occurrence))


def copy_tree(destination: Path) -> Path:
    """The committed tree (HEAD) in ``destination``: mutants never touch the working copy."""
    destination.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)
    return destination


def run_mutant(tree: Path, mutant: Mutant, tests: list[str], profile: str,
               timeout: float) -> tuple[Mutant, str, str]:
    """('killed' | 'survived' | 'timeout', the mutant's diff) for one mutant."""
    command = (f"{sys.executable} -m pytest -x -q -p no:cacheprovider "
               f"--hypothesis-profile={profile} {' '.join(tests)}")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tree)}
    result = subprocess.run(
        ["cosmic-ray", "mutate-and-test", mutant.module, mutant.operator,
         str(mutant.occurrence), f"timeout {int(timeout)} {command}"],
        cwd=tree, capture_output=True, text=True, check=False, env=environment,
    )
    try:
        record = json.loads(result.stdout)
    except json.JSONDecodeError:
        return mutant, "error", result.stdout[-500:] + result.stderr[-500:]
    outcome = record.get("test_outcome") or record.get("worker_outcome")
    return mutant, str(outcome), record.get("diff") or ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--areas", default=",".join(AREAS),
                        help=f"comma-separated, from {', '.join(AREAS)}")
    parser.add_argument("--sample", type=int, default=40,
                        help="mutants drawn per area (0: all of them)")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once")
    parser.add_argument("--profile", default="dev", help="Hypothesis profile of the runs")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant")
    parser.add_argument("--out", default=None, help="also write the report (Markdown) here")
    arguments = parser.parse_args()
    areas = [area.strip() for area in arguments.areas.split(",")]
    unknown = sorted(set(areas) - AREAS.keys())
    if unknown:
        parser.error(f"--areas: unknown {unknown}; choose from {sorted(AREAS)}")
    if shutil.which("cosmic-ray") is None:
        parser.error("cosmic-ray is not installed: pip install cosmic-ray==8.7.0")

    lines = ["| area | mutants | run | killed | survived | score (± 1 s.e.) |",
             "|---|---|---|---|---|---|"]
    survivors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="specdiff-mutation-") as scratch:
        trees = [copy_tree(Path(scratch) / f"tree{job}") for job in range(arguments.jobs)]
        for area in areas:
            modules, tests = AREAS[area]
            tests = [test for test in tests if (trees[0] / test).exists()]
            mutants = list_mutants(trees[0], modules)
            chosen = mutants
            if 0 < arguments.sample < len(mutants):
                chosen = sorted(random.Random(f"{arguments.seed}/{area}").sample(
                    mutants, arguments.sample), key=lambda m: (m.module, m.line))
            outcomes: dict[str, int] = {}
            # One mutant per tree at a time: cosmic-ray mutates the file in place.
            with concurrent.futures.ThreadPoolExecutor(len(trees)) as pool:
                free = list(trees)
                pending: dict[concurrent.futures.Future[tuple[Mutant, str, str]], Path] = {}
                queue = list(chosen)
                while queue or pending:
                    while queue and free:
                        tree = free.pop()
                        future = pool.submit(run_mutant, tree, queue.pop(0), tests,
                                             arguments.profile, arguments.timeout)
                        pending[future] = tree
                    done, _ = concurrent.futures.wait(
                        pending, return_when=concurrent.futures.FIRST_COMPLETED)
                    for future in done:
                        free.append(pending.pop(future))
                        mutant, outcome, diff = future.result()
                        outcomes[outcome] = outcomes.get(outcome, 0) + 1
                        print(f"{area}: {outcome:9s} {mutant.module}:{mutant.line} "
                              f"{mutant.definition} {mutant.operator}", flush=True)
                        if outcome == "survived":
                            survivors.append(f"### {mutant.module}:{mutant.line} "
                                             f"({mutant.definition}, {mutant.operator} "
                                             f"#{mutant.occurrence})\n```diff\n{diff}\n```")
            killed = outcomes.get("killed", 0) + outcomes.get("timeout", 0)
            survived = outcomes.get("survived", 0)
            judged = killed + survived
            score = killed / judged if judged else math.nan
            error = math.sqrt(score * (1 - score) / judged) if judged else math.nan
            lines.append(f"| {area} | {len(mutants)} | {len(chosen)} | {killed} | {survived} | "
                         f"{100 * score:.0f} % ± {100 * error:.0f} |")
            if outcomes.keys() - {"killed", "survived", "timeout"}:
                lines[-1] += f" other outcomes: {outcomes}"
    report = "\n".join(lines) + "\n\n## Surviving mutants\n\n" + "\n\n".join(survivors) + "\n"
    print(report)
    if arguments.out:
        Path(arguments.out).write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
