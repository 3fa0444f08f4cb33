"""The store: records kept and read back exactly, on SQLite and on PostgreSQL; foreign, corrupt
and read-only stores refused untouched; concurrent writers lose nothing; heartbeats."""

import os
import socket
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
import sqlalchemy as sa
from stores import store_url  # noqa: F401  (the parametrised fixture)

import lrlab
from lrlab import store
from lrlab.range_test import RangeTest
from lrlab.store import codec
from lrlab.store.schema import REVISION, metadata


def test_every_kind_round_trips(store_url):  # noqa: F811
    st = store.open(store_url)
    run = lrlab.descend("rosenbrock", lr=1e-3, steps=30)
    sw = lrlab.sweep("rosenbrock", lrs=lrlab.lr_grid(1e-4, 1e-2, 5), steps=30)
    sug = lrlab.suggest("parabola", steps=20)
    diag = lrlab.diagnose([4.0, 2.0, 1.0, 0.5, 0.25])
    rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1, 1, 10], [3, 2, 1, 2, 9])
    ids = {
        k: st.save(v)
        for k, v in zip(
            ("run", "sweep", "suggestion", "diagnosis", "range_test"), (run, sw, sug, diag, rt)
        )
    }

    listed = st.list()
    assert sorted(r.kind for r in listed) == sorted(ids)
    assert all(r.status == "done" for r in listed)

    got = st.get(ids["run"])
    assert got.objective == run.objective and got.steps == 30 and got.steps_done == 30
    back = codec.run_from_output(got.output)
    np.testing.assert_array_equal(back.losses, run.losses)  # JSON floats round-trip exactly
    assert got.environment["torch"] == __import__("torch").__version__
    assert got.environment["lrlab"] == lrlab.__version__

    (shard,) = st.shards(ids["sweep"])
    lanes, lrs = codec.lanes_from_bytes(shard.data)
    np.testing.assert_array_equal(lrs, sw.lrs)
    np.testing.assert_array_equal(lanes.losses, sw._lanes.losses)
    np.testing.assert_array_equal(lanes.final, sw.final_losses)
    assert st.get(ids["sweep"]).output["best_lr"] == sw.best_lr
    assert [r["regime"] for r in st.get(ids["sweep"]).output["runs"]] == [r.regime for r in sw.runs]

    assert st.get(ids["suggestion"]).output["lr"] == sug.lr
    assert st.get(ids["diagnosis"]).output["regime"] == diag.regime
    assert st.get(ids["range_test"]).output["recommended"] == rt.recommended

    st.delete(ids["sweep"])
    assert ids["sweep"] not in {r.id for r in st.list()}
    assert st.shards  # the sweep's shards went with it:
    with sa.create_engine(store_url).connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM lrlab_shards").scalar() == 0
    st.close()


def test_ids_by_prefix_and_unknown_ids(store_url):  # noqa: F811
    st = store.open(store_url)
    rid = st.save(lrlab.diagnose([3.0, 2.0, 1.0]))
    assert st.get(rid[:6]).id == rid
    with pytest.raises(store.StoreError, match="no record 'zzzz'"):
        st.get("zzzz")
    with pytest.raises(TypeError, match="Run, Sweep"):
        st.save("not a result")


def test_a_failed_write_leaves_nothing(store_url, monkeypatch):  # noqa: F811
    st = store.open(store_url)
    # The record row is written first; its shard row then violates NOT NULL (no lane count).
    broken = codec.Entry("sweep", "f", 5, None, {}, {}, data=b"x")
    monkeypatch.setattr(codec, "describe", lambda result: broken)
    with pytest.raises(sa.exc.IntegrityError):
        st.save(object())
    assert st.list() == []


def test_migrations_build_exactly_the_schema(store_url):  # noqa: F811
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    store.open(store_url).close()
    script = ScriptDirectory(str(os.path.dirname(store.__file__) + "/migrations"))
    assert script.get_current_head() == REVISION
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": "lrlab_alembic_version"})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_heartbeat_tells_running_from_interrupted(store_url):  # noqa: F811
    st = store.open(store_url)
    mine = st.begin("sweep", "parabola", params={}, steps=10, lanes=2, slices=[(0, 2)])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = st.begin("sweep", "parabola", params={}, steps=10, lanes=2)
    stale = st.begin("sweep", "parabola", params={}, steps=10, lanes=2)
    with sa.create_engine(store_url).begin() as conn:
        t = store.schema.records
        conn.execute(sa.update(t).where(t.c.id == orphan).values(pid=dead.pid))
        conn.execute(
            sa.update(t)
            .where(t.c.id == stale)
            .values(host="elsewhere", heartbeat=time.time() - 2 * store.STALE_AFTER)
        )
    status = {r.id: r.status for r in st.list()}
    assert status == {mine: "running", orphan: "interrupted", stale: "interrupted"}
    st.checkpoint(mine, 0, 7, b"state")
    assert st.get(mine).steps_done == 7
    st.finish_shard(mine, 0, 10, b"data")
    (shard,) = st.shards(mine)
    assert (shard.status, shard.checkpoint, shard.data) == ("done", None, b"data")
    st.finish(mine, output={"done": True})
    assert st.get(mine).status == "done" and st.get(mine).output == {"done": True}
    assert socket.gethostname() == st.get(mine).host


def test_of_two_claims_at_once_one_wins(store_url):  # noqa: F811
    """Two resumes of one interrupted record: the check and the take are one transaction, so
    exactly one gets it (each thread has its own connection, as two processes would)."""
    import threading

    st = store.open(store_url)
    stores = [store.open(store_url) for _ in range(2)]
    for _ in range(10):
        rid = st.begin("sweep", "parabola", params={}, steps=10, lanes=2, slices=[(0, 2)])
        st.finish(rid, status="interrupted")
        start, outcomes = threading.Barrier(2), []

        def claim(s, rid=rid, start=start, outcomes=outcomes):
            start.wait()
            try:
                s.claim(rid)
                outcomes.append("claimed")
            except store.StoreError as e:
                outcomes.append(str(e))

        threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes)[0] == "claimed" and outcomes.count("claimed") == 1, outcomes
        assert st.get(rid).status == "running"
    st.finish(rid)
    with pytest.raises(store.StoreError, match="is done: there is nothing to resume"):
        st.claim(rid)


# --- SQLite files ------------------------------------------------------------------------------


def test_sqlite_store_is_in_wal_mode(tmp_path):
    path = tmp_path / "r.db"
    store.open(path).save(lrlab.diagnose([2.0, 1.0, 0.5]))
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p.write_bytes(os.urandom(4096)),  # not SQLite at all
        lambda p: p.write_bytes(b"SQLite format 3\x00" + os.urandom(4096)),  # corrupt
        lambda p: sqlite3.connect(p).executescript(
            "CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada');"
        ),  # another application's database
    ],
    ids=["foreign", "corrupt", "other-application"],
)
def test_not_an_lrlab_store_is_refused_untouched(tmp_path, make):
    path = tmp_path / "x.db"
    make(path)
    before = path.read_bytes()
    with pytest.raises(store.StoreError, match="left untouched"):
        store.open(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.db"]  # no -wal, no -journal


def test_a_store_from_a_newer_lrlab_is_refused(tmp_path):
    path = tmp_path / "r.db"
    store.open(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE lrlab_alembic_version SET version_num = '9999'")
    con.commit()
    con.close()
    with pytest.raises(store.StoreError, match="does not know"):
        store.open(path)


def test_read_only_places_are_refused(tmp_path):
    with pytest.raises(store.StoreError, match="cannot be written"):
        store.open("/proc/lrlab/records.db")  # a read-only file system, even for root
    if os.geteuid() != 0:  # permission bits bind everyone but root
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        with pytest.raises(store.StoreError, match="cannot be written"):
            store.open(ro / "records.db")


_WRITER = """
import pathlib, sys, time, lrlab
from lrlab import store
st = store.open(sys.argv[1])
# Start writing only when both writers are ready, so that their transactions interleave.
pathlib.Path(sys.argv[2]).touch()
while not all(pathlib.Path(p).exists() for p in sys.argv[3:]):
    time.sleep(0.01)
for i in range(150):
    rid = st.begin("sweep", "f", params={"i": i}, steps=2, lanes=1, slices=[(0, 1)])
    st.checkpoint(rid, 0, 1, b"state")
    st.finish_shard(rid, 0, 2, b"data")
    st.finish(rid, output={"i": i})
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    store.open(url).close()
    flags = [str(tmp_path / f"ready-{k}") for k in range(2)]
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, url, flag, *flags], stderr=subprocess.PIPE)
        for flag in flags
    ]
    for w in writers:
        assert w.wait(timeout=120) == 0, w.stderr.read().decode()
    st = store.open(url)
    done = st.list()
    assert len(done) == 300 and {r.status for r in done} == {"done"}
    assert sorted(r.output["i"] for r in done) == sorted(list(range(150)) * 2)
    assert all(s.status == "done" for r in done for s in st.shards(r.id))


def test_a_summary_sweep_is_read_back_exactly(tmp_path):
    sw = lrlab.sweep("rosenbrock", lrs=lrlab.lr_grid(1e-6, 2e-3, 2000), steps=60, record="summary")
    st = store.open(tmp_path / "r.db")
    (shard,) = st.shards(st.save(sw))
    lanes, _ = codec.lanes_from_bytes(shard.data)
    for name in ("losses", "grad_norms", "paths", "final", "best", "bad_loss", "at"):
        got, want = getattr(lanes, name), getattr(sw._lanes, name)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_float64_curves_of_float32_values_are_kept_at_half_the_bytes():
    singles = np.linspace(0, 1, 4096).astype(np.float32).astype(np.float64)
    singles[7] = np.nan
    assert codec._narrowed(singles).dtype == np.float32
    assert codec._narrowed(np.linspace(0, 1, 4096)) is None  # real doubles stay
    assert codec._narrowed(np.full(4096, 1e300)) is None  # beyond float32's range
