"""Shared fixtures: the real-data mirror (skipped with a reason when absent)."""
from __future__ import annotations

import pytest

from leukutils import config


@pytest.fixture(scope="session")
def mirror():
    """The folder mirroring the real datasets (``$LEUKUTILS_DATA_MIRROR``); skips when it is not set up."""
    path = config.mirror_dir()
    if path is None or not path.is_dir():
        pytest.skip("real-data mirror not found: set LEUKUTILS_DATA_MIRROR to a folder holding bccd/, "
                    "wbc-seg-jtsc/, aria-all/ (CI uses ../shared/data)")
    return path


def real_dataset(name: str):
    """The located folder of real dataset ``name``, or skip the test saying why."""
    from leukutils.data import registry

    found = registry.locate(name)
    if found is None:
        pytest.skip(f"real dataset {name!r} not present: run `leukutils data fetch {name}` or set "
                    f"LEUKUTILS_DATA_MIRROR (CI uses ../shared/data)")
    return found
