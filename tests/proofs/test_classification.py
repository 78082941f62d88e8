"""Every law in specs/ has exactly one class; every algebraic law is proven by a test in
tests/proofs/ that names it, or says why it resists proof; README.md's law table shows each law's
class (specs/README.md, "Proofs")."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAW_HEADING = re.compile(r"^###\s+([A-Z][A-Z0-9]*-\d+)\b")
CLASS_LINE = re.compile(r"^\*\*Class\.\*\*\s*(.*)$")
PROVEN = re.compile(r"^algebraic \(proven: (tests/proofs/test_\w+\.py)\)$")
RESISTING = re.compile(r"^algebraic \(resisting proof: (.+); strongest check: (.+)\)$")
# The README's marker after a law's title, by class.
MARKERS = {"proven": "proven", "resisting": "resists proof", "numerical": "property",
           "statistical": "statistical"}
SPEC_MARK = re.compile(r"mark\.spec\(([^)]*)\)")
QUOTED_ID = re.compile(r"\"([A-Z][A-Z0-9]*-\d+)\"")


def law_sections() -> dict[str, list[str]]:
    """Each law's lines, from its heading to the next heading of any level."""
    sections: dict[str, list[str]] = {}
    for path in sorted((ROOT / "specs").glob("*.md")):
        law = None
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                match = LAW_HEADING.match(line)
                law = match.group(1) if match else None
                if law:
                    sections[law] = []
            elif law:
                sections[law].append(line)
    return sections


def class_line(lines: list[str]) -> str | None:
    """The text of the law's one **Class.** line (None unless there is exactly one)."""
    values = [match.group(1) for line in lines if (match := CLASS_LINE.match(line))]
    return values[0] if len(values) == 1 else None


def class_of(lines: list[str]) -> str | None:
    """The law's class: "proven", "resisting", "numerical" or "statistical" (None unless the
    law has exactly one class line; the first test reports that)."""
    value = class_line(lines)
    if value is None:
        return None
    if PROVEN.match(value):
        return "proven"
    if RESISTING.match(value):
        return "resisting"
    assert value in ("numerical", "statistical"), f"unknown class {value!r}"
    return value


def laws_named_by_proofs(path: Path) -> set[str]:
    return {law for arguments in SPEC_MARK.findall(path.read_text(encoding="utf-8"))
            for law in QUOTED_ID.findall(arguments)}


def test_every_law_has_one_class_line_just_before_its_tolerance() -> None:
    problems = []
    for law, lines in law_sections().items():
        positions = [i for i, line in enumerate(lines) if CLASS_LINE.match(line)]
        if len(positions) != 1:
            problems.append(f"{law}: {len(positions)} **Class.** lines")
            continue
        following = [line for line in lines[positions[0] + 1:] if line.strip()]
        if not following or "**Tolerance.**" not in following[0]:
            problems.append(f"{law}: the **Class.** line is not just before **Tolerance.**")
        try:
            class_of(lines)
        except AssertionError as error:
            problems.append(f"{law}: {error}")
    assert not problems, "\n".join(problems)


def test_every_algebraic_law_is_proven_in_tests_proofs_or_says_why_not() -> None:
    problems = []
    for law, lines in law_sections().items():
        value = class_line(lines) or ""
        if proven := PROVEN.match(value):
            path = ROOT / proven.group(1)
            if not path.is_file():
                problems.append(f"{law}: {proven.group(1)} does not exist")
            elif law not in laws_named_by_proofs(path):
                problems.append(f"{law}: no test in {proven.group(1)} is marked spec({law!r})")
        elif resisting := RESISTING.match(value):
            reason, check = resisting.groups()
            if not reason.strip() or not check.strip():
                problems.append(f"{law}: resisting proof needs a reason and the strongest check")
    assert not problems, "\n".join(problems)


def test_every_proof_in_tests_proofs_is_of_a_law_classed_as_proven_there() -> None:
    classes = {law: lines for law, lines in law_sections().items()}
    problems = []
    for path in sorted((ROOT / "tests" / "proofs").glob("test_*_proofs.py")):
        relative = path.relative_to(ROOT).as_posix()
        for law in sorted(laws_named_by_proofs(path)):
            line = f"**Class.** algebraic (proven: {relative})"
            if law not in classes or line not in classes[law]:
                problems.append(f"{relative} proves {law}, whose class line is not {line!r}")
    assert not problems, "\n".join(problems)


def test_the_readme_table_shows_each_laws_class() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## The laws"):]
    table = table[:table.index("\n## ", 1)]
    problems = []
    for law, lines in law_sections().items():
        law_class = class_of(lines)
        if law_class is None:
            continue
        entry = re.search(rf"\*\*{re.escape(law)}\*\*(.*?)(?=; \*\*[A-Z]|\s\|\s*$)", table, re.M)
        expected = MARKERS[law_class]
        if entry is None or not entry.group(1).endswith(f"({expected})"):
            shown = entry.group(1).strip() if entry else "no entry"
            problems.append(f"{law}: README shows {shown!r}, expected it to end '({expected})'")
    assert not problems, "\n".join(problems)
