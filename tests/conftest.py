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


@pytest.fixture(autouse=True, scope="session")
def _private_contact_cache(tmp_path_factory):
    """Keep the tests' contact plans out of the user's cache."""
    old = os.environ.get("ORBSCHED_CACHE")
    os.environ["ORBSCHED_CACHE"] = str(tmp_path_factory.mktemp("orbsched-cache"))
    yield
    if old is None:
        os.environ.pop("ORBSCHED_CACHE", None)
    else:
        os.environ["ORBSCHED_CACHE"] = old
