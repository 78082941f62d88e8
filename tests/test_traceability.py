"""Every law ID in specs/ is named by a test, every ID a test names is a law in specs/, and
every law's Function(s) field names code that exists (the tests that name a law must call it:
tests/law_calls.py checks that while they run)."""

import re
from pathlib import Path

from tests.laws import LAW_HEADING, code_objects, defined_name, read_laws, resolve

ROOT = Path(__file__).resolve().parent.parent
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


def test_every_law_names_its_functions_in_the_documented_format() -> None:
    laws = read_laws(ROOT / "specs")  # raises LawFormatError naming the law and its field
    assert sorted(law.law_id for law in laws) == sorted(declared_laws())
    assert all(law.function_names for law in laws)


def test_every_function_name_is_python_code_written_where_it_is_defined() -> None:
    problems = [f"{law.law_id}: {problem}" for law in read_laws(ROOT / "specs")
                for name in law.function_names if (problem := _name_problem(name))]
    assert not problems, "Function(s) fields naming no code (specs/README.md, law format):\n" + \
        "\n".join(problems)


def _name_problem(name: str) -> str | None:
    try:
        obj = resolve(name)
    except LookupError as error:
        return str(error)
    if not code_objects(obj):
        return f"{name} is not Python code a test can call"
    if defined_name(obj) != name:
        return f"{name} is defined as {defined_name(obj)}: write that"
    return None
