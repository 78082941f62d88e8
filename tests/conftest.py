"""Hypothesis profiles and the law marker.

Profiles: ``dev`` (default; quick), ``ci`` (derandomized, reproducible; what .ci/run uses) and
``thorough`` (many more random examples; run before resolving an issue). Pick one with
``--hypothesis-profile=NAME`` or ``HYPOTHESIS_PROFILE=NAME``; pytest's header prints it.
"""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

# A test that names a law must call the law's code (tests/law_calls.py).
pytest_plugins = ["tests.law_calls"]

# The tests use tiny tensors, for which torch's intra-op threads cost more than they save: on a
# loaded machine an elementwise op on 40 000 floats took 38 ms with 2 threads and 0.08 ms with 1.
torch.set_num_threads(1)
# The same for the commands and scripts tests start: under `-n 2` two workers share two cores,
# and a child with torch's default of one thread per core would spin against them.
os.environ.setdefault("OMP_NUM_THREADS", "1")

settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=15, deadline=None)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_report_header(config: pytest.Config) -> str:
    return f"specdiff: hypothesis profile in use = {settings.get_current_profile_name()}"


def _cuda_available() -> bool:
    return bool(torch.cuda.is_available())


@pytest.fixture(
    scope="session",
    params=[
        "cpu",
        pytest.param(
            "cuda",
            marks=[
                pytest.mark.cuda,
                pytest.mark.skipif(not _cuda_available(), reason="no CUDA device on this machine"),
            ],
        ),
    ],
)
def device(request: pytest.FixtureRequest) -> str:
    """The torch device a test runs on: every device test runs on CPU, and on CUDA when present."""
    return str(request.param)
