"""Shared fixtures.  Data from ../shared/data is optional: tests that need it skip cleanly."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ORBSCHED_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not present at {SHARED_DATA}")
    return SHARED_DATA


def shared_file(rel):
    """Path of a shared-data file, or skip the calling test when it is absent."""
    p = SHARED_DATA / rel
    if not p.is_file():
        pytest.skip(f"shared data file not present: {p}")
    return p


@pytest.fixture
def repo():
    return REPO
