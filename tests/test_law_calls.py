"""The check of tests/law_calls.py, run on small synthetic projects: it fails the session for a
test that names a law and never calls the law's code, and only for such a test."""

import textwrap

import pytest

pytest_plugins = ["pytester"]

# The law of the synthetic project. Its ID is spelled out only inside the generated files, so that
# tests/test_traceability.py does not take it for a law of specdiff's.
LAW = "AREA" + "-1"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with one law, AREA-1, whose Function(s) is lawful.double, and the plugin on."""
    pytester.makeini("""
        [pytest]
        testpaths = tests
        markers = spec(law_id): the law this test checks
        addopts = -p tests.law_calls
        pythonpath = .
        """)
    pytester.mkdir("specs").joinpath("area.md").write_text(textwrap.dedent(f"""\
        # Area ({LAW.split("-")[0]})

        ### {LAW} — doubling

        **Statement.** double(x) = 2·x.
        **Function(s).** `lawful.double`, `specdiff.spec.forward.noised_sample_from_eps`.
        """), encoding="utf-8")
    pytester.makepyfile(lawful="def double(x):\n    return 2 * x\n")
    pytester.syspathinsert()
    pytester.mkdir("tests")
    return pytester


def write_tests(project: pytest.Pytester, source: str) -> None:
    header = f'import subprocess\nimport sys\n\nimport pytest\n\nimport lawful\n\nLAW = "{LAW}"\n'
    project.path.joinpath("tests", "test_area.py").write_text(
        header + textwrap.dedent(source), encoding="utf-8")


def test_a_test_that_names_a_law_and_calls_nothing_fails_the_session(
        project: pytest.Pytester) -> None:
    write_tests(project, """
        @pytest.mark.spec(LAW)
        def test_doubles() -> None:
            assert 2 * 3 == 6  # the law's formula, but not its code
        """)
    result = project.runpytest()
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*tests that never called their law's code*",
        f"tests/test_area.py::test_doubles names {LAW} but called none of its Function(s)",
    ])


def test_a_test_that_calls_the_laws_function_passes(project: pytest.Pytester) -> None:
    write_tests(project, """
        @pytest.mark.spec(LAW)
        def test_doubles() -> None:
            assert lawful.double(3) == 6

        def test_without_a_law() -> None:
            assert 2 * 3 == 6
        """)
    result = project.runpytest()
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK


def test_parametrized_cases_are_reported_once(project: pytest.Pytester) -> None:
    write_tests(project, """
        @pytest.mark.spec(LAW)
        @pytest.mark.parametrize("x", [1, 2, 3])
        def test_doubles(x: int) -> None:
            assert x + x == 2 * x
        """)
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"tests/test_area.py::test_doubles (3 cases) names {LAW} *"])


def test_a_call_the_type_check_rejects_is_a_call(project: pytest.Pytester) -> None:
    write_tests(project, """
        import numpy as np
        from specdiff.spec.forward import noised_sample_from_eps

        @pytest.mark.spec(LAW)
        def test_mismatched_shapes_are_refused() -> None:
            with pytest.raises(TypeError):
                noised_sample_from_eps(np.full(3, 0.5), np.zeros((2, 1)), np.zeros((3, 1)), 0)
        """)
    result = project.runpytest()
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK


def test_a_wide_fixtures_calls_count_for_every_test_that_uses_it(
        project: pytest.Pytester) -> None:
    write_tests(project, """
        @pytest.fixture(scope="module")
        def six() -> int:
            return lawful.double(3)

        @pytest.mark.spec(LAW)
        def test_first_user(six: int) -> None:
            assert six == 6

        @pytest.mark.spec(LAW)
        def test_second_user_gets_the_cached_value(six: int) -> None:
            assert six == 6
        """)
    result = project.runpytest()
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK


SUBPROCESS_ONLY = textwrap.dedent("""
    @pytest.mark.spec(LAW)
    def test_doubles_in_another_process() -> None:
        subprocess.run([sys.executable, "-c", "import lawful; lawful.double(3)"], check=True)
    """)


def test_a_skipped_test_proves_nothing(project: pytest.Pytester) -> None:
    write_tests(project, SUBPROCESS_ONLY + textwrap.dedent("""
        @pytest.mark.spec(LAW)
        def test_doubles_on_cuda() -> None:
            assert lawful.double(3) == 6
            pytest.skip("no CUDA device on this machine")
        """))
    result = project.runpytest()
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"{LAW} is named only by tests that ran it in another process *"])


def test_a_law_tested_only_in_another_process_fails_the_whole_suite(
        project: pytest.Pytester) -> None:
    write_tests(project, SUBPROCESS_ONLY)
    result = project.runpytest()
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"{LAW} is named only by tests that ran it in another process *"])


def test_a_test_driving_another_process_is_excused_in_part_of_the_suite(
        project: pytest.Pytester) -> None:
    write_tests(project, SUBPROCESS_ONLY)
    result = project.runpytest("tests/test_area.py")  # the in-process test may be elsewhere
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK


def test_under_xdist_the_controller_judges_what_every_worker_saw(
        project: pytest.Pytester) -> None:
    # Two test files, so that the two workers each run one: the law is proven on one worker
    # and only driven in another process on the other; a third test calls nothing.
    write_tests(project, SUBPROCESS_ONLY)
    project.path.joinpath("tests", "test_more.py").write_text(textwrap.dedent(f"""\
        import pytest

        import lawful

        @pytest.mark.spec("{LAW}")
        def test_doubles() -> None:
            assert lawful.double(3) == 6

        @pytest.mark.spec("{LAW}")
        def test_names_the_law_only() -> None:
            assert 2 * 3 == 6
        """), encoding="utf-8")
    result = project.runpytest("-n", "2", "--dist", "loadfile")
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*tests that never called their law's code*",
        f"tests/test_more.py::test_names_the_law_only names {LAW} but called none of its "
        "Function(s)"])
    result.stdout.no_fnmatch_line("*is named only by tests that ran it in another process*")

