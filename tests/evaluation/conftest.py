"""The run the report and trajectory tests share (made once per session)."""

from pathlib import Path

import pytest

from tests.evaluation._logged_run import logged_run


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return logged_run(tmp_path_factory.mktemp("report") / "run")
