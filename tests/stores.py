"""The stores every store test runs on: a SQLite file and a real PostgreSQL server.

The PostgreSQL URL comes from ``LRLAB_TEST_POSTGRES`` (``make test`` and ``.ci/run`` start the
server and set it); each test gets a schema of its own, dropped afterwards.
"""

import os
import uuid

import pytest

POSTGRES = os.environ.get("LRLAB_TEST_POSTGRES", "").strip()


def _postgres_schema():
    import sqlalchemy as sa

    schema = "lrlab_test_" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(POSTGRES)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in POSTGRES else "?"
    url = f"{POSTGRES}{sep}options=-csearch_path%3D{schema}"

    def drop():
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()

    return url, drop


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A URL of an empty store: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'records.db'}"
        return
    if not POSTGRES:
        pytest.skip("LRLAB_TEST_POSTGRES is not set (make test starts PostgreSQL and sets it)")
    url, drop = _postgres_schema()
    yield url
    drop()
