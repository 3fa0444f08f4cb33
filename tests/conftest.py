"""Suite-wide settings."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_store(tmp_path_factory):
    """Commands record by default; in the tests they record into a store of their own, never
    into the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LRLAB_STORE", str(tmp_path_factory.mktemp("store") / "records.db"))
    yield
    mp.undo()
