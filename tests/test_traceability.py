"""Every law ID in specs/ is named by a test, and every ID a test names is a law in specs/."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A law is declared by a heading "### ID — title" in specs/*.md.
LAW_HEADING = re.compile(r"^###\s+([A-Z][A-Z0-9]*-\d+)\b", re.MULTILINE)
# A test names a law with @pytest.mark.spec("ID") (several IDs may be listed).
SPEC_MARK = re.compile(r"mark\.spec\(([^)]*)\)")
QUOTED_ID = re.compile(r"\"([A-Z][A-Z0-9]*-\d+)\"")


def declared_laws() -> set[str]:
    return {
        law for path in (ROOT / "specs").glob("*.md")
        for law in LAW_HEADING.findall(path.read_text(encoding="utf-8"))
    }


def laws_named_by_tests() -> set[str]:
    named: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for arguments in SPEC_MARK.findall(path.read_text(encoding="utf-8")):
            named.update(QUOTED_ID.findall(arguments))
    return named


def test_specs_declare_laws() -> None:
    assert len(declared_laws()) >= 20, "specs/ should declare the laws as '### ID — title'"


def test_every_law_has_a_test() -> None:
    missing = sorted(declared_laws() - laws_named_by_tests())
    assert not missing, f"laws in specs/ that no test names with @pytest.mark.spec: {missing}"


def test_every_named_law_exists() -> None:
    unknown = sorted(laws_named_by_tests() - declared_laws())
    assert not unknown, f"tests name law IDs that specs/ does not declare: {unknown}"


def test_law_ids_are_unique() -> None:
    headings = [
        law for path in (ROOT / "specs").glob("*.md")
        for law in LAW_HEADING.findall(path.read_text(encoding="utf-8"))
    ]
    duplicates = sorted({law for law in headings if headings.count(law) > 1})
    assert not duplicates, f"law IDs declared more than once: {duplicates}"


def test_the_readme_table_lists_every_law() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = sorted(law for law in declared_laws() if f"**{law}**" not in readme)
    assert not missing, f"laws missing from the README's table of laws: {missing}"
