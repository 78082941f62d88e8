"""The laws of specs/*.md and the code each one names in its "Function(s)" field.

Field format (specs/README.md, "Law format"): a comma-separated list of backquoted dotted names,
each written where the thing is defined (``module.qualname``), and of the words "all of the
above" (every name of the laws above it in the same file). A name is a function, a method
(``Class.method``; class and static methods and properties included) or a class, which stands for
every function defined in its body (constructing it or calling any of its methods).
"""

import importlib
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

LAW_HEADING = re.compile(r"^###\s+([A-Z][A-Z0-9]*-\d+)\b", re.MULTILINE)
SECTION_START = re.compile(r"^(?=#{1,3}\s)", re.MULTILINE)
# The field runs to the end of its paragraph: a blank line, the next heading or the end of file.
FUNCTIONS_FIELD = re.compile(r"\*\*Function\(s\)\.\*\*(.*?)(?=\n[ \t]*\n|\n#|\Z)", re.DOTALL)
DOTTED_NAME = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)`")
ALL_OF_THE_ABOVE = "all of the above"


class LawFormatError(ValueError):
    """A law's Function(s) field does not follow specs/README.md's format."""


@dataclass(frozen=True)
class Law:
    law_id: str
    function_names: tuple[str, ...]


def read_laws(spec_dir: Path) -> list[Law]:
    """Every law declared in spec_dir/*.md, with its Function(s) field expanded to names."""
    return [law for path in sorted(spec_dir.glob("*.md")) for law in _laws_of_file(path)]


def _laws_of_file(path: Path) -> Iterator[Law]:
    text = path.read_text(encoding="utf-8")
    above: list[str] = []
    for section in SECTION_START.split(text):
        heading = LAW_HEADING.match(section)
        if heading is None:
            continue
        law_id = heading.group(1)
        names: list[str] = []
        for item in _field_items(law_id, path, section):
            if item == ALL_OF_THE_ABOVE and not above:
                raise LawFormatError(f"{path.name} {law_id}: '{ALL_OF_THE_ABOVE}' with no law "
                                     "above it")
            names.extend(above if item == ALL_OF_THE_ABOVE else [item])
        names = list(dict.fromkeys(names))
        above.extend(name for name in names if name not in above)
        yield Law(law_id, tuple(names))


def _field_items(law_id: str, path: Path, section: str) -> list[str]:
    """The items of a law's field: dotted names and the words "all of the above"."""
    fields = FUNCTIONS_FIELD.findall(section)
    if len(fields) != 1:
        raise LawFormatError(f"{path.name} {law_id}: expected one **Function(s).** field, "
                             f"found {len(fields)}")
    field = " ".join(fields[0].split()).removesuffix(".")
    items = [item.strip() for item in field.split(",")]
    names = [DOTTED_NAME.fullmatch(item) for item in items]
    if not all(name or item == ALL_OF_THE_ABOVE for name, item in zip(names, items, strict=True)):
        raise LawFormatError(
            f"{path.name} {law_id}: Function(s) must list, separated by commas, backquoted "
            f"dotted names (`module.function`, `module.Class.method`) or '{ALL_OF_THE_ABOVE}'; "
            f"got {field!r}")
    return [name.group(1) if name else item for name, item in zip(names, items, strict=True)]


def resolve(name: str) -> Any:
    """The object a dotted name denotes: the longest importable module prefix, then attributes
    (looked up statically, so a property or classmethod is returned as itself)."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module = _import_or_none(".".join(parts[:split]))
        if module is None:
            continue
        obj: Any = module
        for attribute in parts[split:]:
            try:
                obj = inspect.getattr_static(obj, attribute)
            except AttributeError:
                raise LookupError(f"{name}: {'.'.join(parts[:split])} has no "
                                  f"{'.'.join(parts[split:])}") from None
        return obj
    raise LookupError(f"{name}: no importable module prefix")


def _import_or_none(module_name: str) -> ModuleType | None:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            return None  # this prefix is not a module; a shorter one may be
        raise  # the module exists but one of its own imports is missing


def defined_name(obj: Any) -> str | None:
    """``module.qualname`` of the function, method, property or class obj (seen through its
    decorators), or None for anything else."""
    if inspect.isclass(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    functions = _functions_of(obj)
    return f"{functions[0].__module__}.{functions[0].__qualname__}" if functions else None


def code_objects(obj: Any) -> frozenset[CodeType]:
    """The code whose execution exercises obj: a function's body and the checks its decorators
    generated for it, a method's, or, for a class, those of every function in the class body."""
    members = vars(obj).values() if inspect.isclass(obj) else [obj]
    return frozenset(
        code
        for member in members
        for function in _functions_of(member)
        for code in _body_and_generated_checks(function)
    )


def _functions_of(obj: Any) -> list[Any]:
    """The functions behind a function, method, class/static method or property."""
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        return [f for f in (obj.fget, obj.fset, obj.fdel) if f is not None]
    return [obj] if inspect.isfunction(obj) else []


def _body_and_generated_checks(function: Any) -> set[CodeType]:
    """The code of a function's body and of the wrappers its decorators generated for it alone.

    A call that the run-time type check rejects never reaches the body, yet it is a call of the
    function and what a law about validation tests. beartype generates a checking wrapper per
    function, named like it; the wrappers shared by every decorated function (specdiff's switch,
    jaxtyping's) are named otherwise and left out, as they would match any checked function.
    They are found through ``__wrapped__`` and the closures of the decorator chain.
    """
    name = inspect.unwrap(function).__code__.co_name
    codes: set[CodeType] = set()
    seen: set[int] = set()
    pending = [function]
    while pending:
        current = pending.pop()
        if not inspect.isfunction(current) or id(current) in seen:
            continue
        seen.add(id(current))
        if current.__code__.co_name == name:
            codes.add(current.__code__)
        pending.extend(_cell_contents(cell) for cell in current.__closure__ or ())
        pending.append(getattr(current, "__wrapped__", None))
    return codes


def _cell_contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # a cell not filled yet
        return None
