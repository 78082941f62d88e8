"""pytest plugin: a test that names a law must run the law's code.

While a test marked ``@pytest.mark.spec(IDs)`` sets up and runs, a profile hook watches the code
of the functions those laws name in their Function(s) fields (tests/laws.py). The session fails,
listing what is missing, when

- a test passed that names a law, ran in this process, and called none of the law's functions;
- (in a run of the whole suite) a law is named only by passing tests that started another
  process and called none of its functions here: such a test may drive the `specdiff` command
  or workers, but its law also needs a test that calls the law's code in-process.

What counts: calls made in this process and in the threads it starts during the test's setup
and call phases, a call that the run-time type check rejects included. A skipped test proves
nothing (a CUDA parameter skipped on a CPU machine leaves the proof to the CPU one). The whole
suite is a run on the configured testpaths with nothing deselected. The laws are read from
``<rootdir>/<law_specs>/*.md`` (ini option, default ``specs``); without them the plugin is idle.
Under pytest-xdist each worker watches its own tests and sends what it saw to the controller,
which judges the whole run.
"""

import contextlib
import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from tests.laws import Law, LawFormatError, code_objects, read_laws, resolve

# Calls that start another process: Popen underlies subprocess.run, BaseProcess.start
# multiprocessing and torch.multiprocessing.spawn.
STARTS_A_PROCESS = "another process"
PROCESS_STARTS = frozenset({subprocess.Popen.__init__, BaseProcess.start})


@dataclass
class _CallWatcher:
    """The profile hook of one test (or wide fixture): notes which watched code ran, and unhooks
    itself once each of its laws has run."""

    owners_of_code: dict[int, frozenset[str]]  # id(code) -> the laws it exercises (or the process)
    laws: frozenset[str]
    called: set[str] = field(default_factory=set)

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        # Runs on every call and return of the test, so it does one dict lookup and no more.
        owners = self.owners_of_code.get(id(frame.f_code))
        if owners is not None:
            self.called |= owners
            self.owners_of_code = {code: owners for code, owners in self.owners_of_code.items()
                                   if not owners <= self.called}
            if self.laws <= self.called:
                sys.setprofile(None)

    def start(self) -> None:
        if not self.laws <= self.called:
            threading.setprofile(self)
            sys.setprofile(self)

    def stop(self) -> None:
        sys.setprofile(None)
        threading.setprofile(None)


@dataclass
class _LawCallCheck:
    """The plugin's state for one session."""

    codes_of_law: dict[str, frozenset[int]]
    process_start_codes: frozenset[int]
    watchers: dict[str, _CallWatcher] = field(default_factory=dict)
    # What a fixture wider than a test called while set up, by (name, baseid): the tests that
    # reuse its value later get the credit too.
    laws_of_fixture: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    # The laws named by the tests that use each fixture: all a wide fixture needs watching for.
    laws_of_fixture_users: dict[str, frozenset[str]] = field(default_factory=dict)
    passing_tests_of_law: dict[str, list[str]] = field(default_factory=dict)
    proven: set[str] = field(default_factory=set)
    uncalled: list[tuple[str, str]] = field(default_factory=list)  # (test, law), in-process tests
    deselected: bool = False
    findings: list[str] = field(default_factory=list)

    def watcher(self, laws: frozenset[str]) -> _CallWatcher:
        owners_of_code = dict.fromkeys(self.process_start_codes, frozenset({STARTS_A_PROCESS}))
        for law in laws:
            for code in self.codes_of_law[law]:
                owners_of_code[code] = owners_of_code.get(code, frozenset()) | {law}
        return _CallWatcher(owners_of_code, laws)

    def watch(self, item: pytest.Item) -> _CallWatcher:
        self.watchers[item.nodeid] = self.watcher(frozenset(self.laws_named_by(item)))
        return self.watchers[item.nodeid]

    def record_pass(self, item: pytest.Item) -> None:
        called = self.watchers[item.nodeid].called | self._called_by_wide_fixtures(item)
        for law in sorted(self.laws_named_by(item)):
            self.passing_tests_of_law.setdefault(law, []).append(item.nodeid)
            if law in called:
                self.proven.add(law)
            elif STARTS_A_PROCESS not in called:
                self.uncalled.append((item.nodeid, law))

    def _called_by_wide_fixtures(self, item: pytest.Item) -> set[str]:
        called: set[str] = set()
        for name in getattr(item, "fixturenames", ()):
            # pytest's rule: of the definitions visible from the test, the innermost one is used.
            visible = [key for key in self.laws_of_fixture
                       if key[0] == name and item.nodeid.startswith(key[1])]
            if visible:
                called |= self.laws_of_fixture[max(visible, key=lambda key: len(key[1]))]
        return called

    def proven_only_in_another_process(self) -> list[str]:
        reported = {law for _, law in self.uncalled}
        return sorted(self.passing_tests_of_law.keys() - self.proven - reported)

    def seen(self) -> str:
        """What a worker sends the controller: its tests' outcomes, as JSON."""
        return json.dumps({"passing_tests_of_law": self.passing_tests_of_law,
                           "proven": sorted(self.proven), "uncalled": self.uncalled,
                           "deselected": self.deselected})

    def add_seen(self, seen: str) -> None:
        """Folds in what one worker saw."""
        worker = json.loads(seen)
        for law, tests in worker["passing_tests_of_law"].items():
            self.passing_tests_of_law.setdefault(law, []).extend(tests)
        self.proven.update(worker["proven"])
        self.uncalled.extend((test, law) for test, law in worker["uncalled"])
        self.deselected |= worker["deselected"]

    def laws_named_by(self, item: pytest.Item) -> set[str]:
        # An ID that specs/ does not declare is test_traceability's to report, not this check's.
        named = {law for mark in item.iter_markers("spec") for law in mark.args}
        return named & self.codes_of_law.keys()


_CHECK = pytest.StashKey[_LawCallCheck]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("law_specs", "folder, under the rootdir, of the specs/*.md whose laws tests "
                  "name with @pytest.mark.spec", default="specs")


def pytest_configure(config: pytest.Config) -> None:
    try:
        laws = read_laws(config.rootpath / Path(config.getini("law_specs")))
    except LawFormatError:
        laws = []  # tests/test_traceability.py reports the malformed field
    process_start_codes = frozenset(id(code) for start in PROCESS_STARTS
                                    for code in code_objects(start))
    config.stash[_CHECK] = _LawCallCheck({law.law_id: _codes_of(law) for law in laws},
                                         process_start_codes)


def _codes_of(law: Law) -> frozenset[int]:
    codes: set[int] = set()
    for name in law.function_names:
        with contextlib.suppress(LookupError):  # tests/test_traceability.py reports the name
            codes |= {id(code) for code in code_objects(resolve(name))}
    return frozenset(codes)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        items[0].config.stash[_CHECK].deselected = True


def pytest_collection_finish(session: pytest.Session) -> None:
    check = session.config.stash[_CHECK]
    users: dict[str, set[str]] = {}
    for item in session.items:
        for name in getattr(item, "fixturenames", ()):
            users.setdefault(name, set()).update(check.laws_named_by(item))
    check.laws_of_fixture_users = {name: frozenset(laws) for name, laws in users.items()}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    watcher = item.config.stash[_CHECK].watch(item)
    watcher.start()
    try:
        return (yield)
    finally:
        watcher.stop()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
                         ) -> Iterator[Any]:
    """A fixture of module or session scope is set up once, in the first test that uses it:
    note what it calls, for every test that uses it."""
    check = request.config.stash[_CHECK]
    laws = check.laws_of_fixture_users.get(fixturedef.argname, frozenset())
    if fixturedef.scope == "function" or not laws:
        return (yield)
    test_watcher = sys.getprofile()
    fixture_watcher = check.watcher(laws)
    fixture_watcher.start()
    try:
        return (yield)
    finally:
        fixture_watcher.stop()
        check.laws_of_fixture.setdefault((fixturedef.argname, fixturedef.baseid), set()).update(
            fixture_watcher.called)
        if isinstance(test_watcher, _CallWatcher):
            test_watcher.start()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    watcher = item.config.stash[_CHECK].watchers[item.nodeid]
    watcher.start()
    try:
        return (yield)
    finally:
        watcher.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    check = item.config.stash[_CHECK]
    if report.when == "call" and report.passed:
        check.record_pass(item)
    if report.when == "teardown":
        check.watchers.pop(item.nodeid, None)
    return report


def _findings(session: pytest.Session) -> list[str]:
    check = session.config.stash[_CHECK]
    # One line per test function and law: parametrized cases share it.
    cases = Counter((test.split("[", 1)[0], law) for test, law in check.uncalled)
    lines = [f"{test}{f' ({count} cases)' if count > 1 else ''} names {law} but called none of "
             "its Function(s)" for (test, law), count in cases.items()]
    whole_suite = (session.config.args_source == pytest.Config.ArgsSource.TESTPATHS
                   and not check.deselected)
    if whole_suite:
        lines += [f"{law} is named only by tests that ran it in another process "
                  f"({', '.join(check.passing_tests_of_law[law])}): call its code in a test"
                  for law in check.proven_only_in_another_process()]
    return lines


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist, on the controller: a worker finished and sent what it saw."""
    seen = getattr(node, "workeroutput", {}).get("law_calls")
    if seen is not None:
        node.config.stash[_CHECK].add_seen(seen)


def pytest_sessionfinish(session: pytest.Session) -> None:
    check = session.config.stash[_CHECK]
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # an xdist worker: the controller judges the whole run
        worker_output["law_calls"] = check.seen()
        return
    check.findings = _findings(session)
    if check.findings and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    findings = config.stash[_CHECK].findings
    if findings:
        terminalreporter.section("tests that never called their law's code", red=True)
        for line in findings:
            terminalreporter.write_line(line)
