"""Sweeps sharded on Ray: the merged result equals the in-process sweep bit for bit, each
shard lands in the store as it finishes, and a resumed sweep reruns only unfinished shards."""

import socket
import sys

import numpy as np
import pytest

import lrlab
from lrlab import descent, records, schedules, store

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


LRS = lrlab.lr_grid(1e-4, 2e-2, 9)  # the largest lanes diverge
KW = {"schedule": schedules.cosine(80), "optimizer": lrlab.optim.sgd(momentum=[0.0, 0.9])}


def assert_same_sweep(got, want):
    np.testing.assert_array_equal(got.lrs, want.lrs)
    for name in ("losses", "grad_norms", "final", "best", "diverged_at"):
        np.testing.assert_array_equal(getattr(got._lanes, name), getattr(want._lanes, name))
    assert got.best_lr == want.best_lr


def test_shards_merge_into_the_in_process_sweep(local_ray, tmp_path):
    st = store.open(tmp_path / "r.db")
    want = descent.sweep("rosenbrock", LRS, 80, **KW)
    got = records.recorded_sweep("rosenbrock", LRS, 80, store=st, backend="ray", shards=3, **KW)
    assert_same_sweep(got, want)
    (rec,) = st.list()
    assert rec.status == "done"
    stored = st.shards(rec.id)
    # Learning-rate-major lanes: 9 learning rates x 2 momenta, cut between learning rates.
    assert [(s.lane_lo, s.lane_hi, s.status) for s in stored] == [
        (0, 6, "done"),
        (6, 12, "done"),
        (12, 18, "done"),
    ]
    assert_same_sweep(records.load(rec.id, store=st), want)
    # Without a store, through the public API: nothing recorded, the same sweep.
    assert_same_sweep(lrlab.sweep("rosenbrock", LRS, 80, backend="ray", **KW), want)


def test_resume_reruns_only_unfinished_shards(local_ray, tmp_path):
    st = store.open(tmp_path / "r.db")

    class Lost(Exception):
        pass

    def lose_the_rest(done, total):  # the driver dies once the first shard has landed
        raise Lost

    with pytest.raises(Lost):
        records.recorded_sweep(
            "rosenbrock", LRS, 80, store=st, backend="ray", shards=3, progress=lose_the_rest, **KW
        )
    (rec,) = st.list()
    before = {s.index: s for s in st.shards(rec.id)}
    finished = [i for i, s in before.items() if s.status == "done"]
    assert rec.status == "interrupted" and len(finished) == 1

    got = lrlab.resume(rec.id, store=st)
    assert_same_sweep(got, descent.sweep("rosenbrock", LRS, 80, **KW))
    after = {s.index: s for s in st.shards(rec.id)}
    assert all(s.status == "done" for s in after.values())
    assert after[finished[0]].updated == before[finished[0]].updated  # not run again
    assert all(after[i].updated > before[i].updated for i in after if i not in finished)


def test_without_ray_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"lrlab\[ray\]"):
        lrlab.sweep("parabola", [0.1], 5, backend="ray")


def test_an_address_where_nothing_answers_is_refused_at_once():
    with socket.socket() as s:  # a port just freed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ValueError, match="no Ray cluster answers there"):
        lrlab.sweep("parabola", [0.1], 5, backend="ray", address=f"127.0.0.1:{port}")
