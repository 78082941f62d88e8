"""The float dtypes every torch mirror is checked in, against the float64 spec."""

import pytest
import torch


@pytest.fixture(scope="session", params=[torch.float64, torch.float32], ids=["float64", "float32"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    """float64 is held to the policy's 1e-12 row; float32 to its own row (specs/README.md)."""
    return request.param  # type: ignore[no-any-return]
