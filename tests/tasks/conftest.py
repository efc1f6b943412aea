"""What several data tests check against, computed once a session (about 10 s each time)."""

import pytest

from promot_bench.tasks.mini.translation import build as translation


@pytest.fixture(scope="session")
def v2_probe_strings() -> frozenset:
    """Every string a v2 probe item shows or is about (seed 1234)."""
    return frozenset(translation.probe_strings(1234))
