"""Recorded sweeps: checkpointed as they run, resumed after an interruption to exactly the
result of an uninterrupted sweep (the oracle: the same sweep run in one go, in memory)."""

import signal

import numpy as np
import pytest
import torch
from stores import store_url  # noqa: F401  (the parametrised fixture)

import lrlab
from lrlab import descent, records, schedules, store


class Stop(Exception):
    """Stands for a crash in the middle of a sweep."""


def stop_at(step):
    def progress(done, total):
        if done >= step:
            raise Stop

    return progress


def assert_same_sweep(got, want):
    np.testing.assert_array_equal(got.lrs, want.lrs)
    for name in ("losses", "grad_norms", "final", "best", "diverged_at"):
        np.testing.assert_array_equal(getattr(got._lanes, name), getattr(want._lanes, name))
    assert got.floor == want.floor and got.best_lr == want.best_lr


def interrupted(st, f, lrs, steps, at, **kw):
    with pytest.raises(Stop):
        records.recorded_sweep(f, lrs, steps, store=st, progress=stop_at(at), **kw)
    (rec,) = st.list()
    assert rec.status == "interrupted"
    return rec


def test_a_crashed_sweep_resumes_to_the_uninterrupted_result(store_url):  # noqa: F811
    st = store.open(store_url)
    lrs = lrlab.lr_grid(1e-4, 2e-2, 8)  # the largest lanes diverge
    kw = {"schedule": schedules.cosine(100), "optimizer": lrlab.optim.sgd(momentum=0.9)}
    rec = interrupted(st, "rosenbrock", lrs, 100, 40, checkpoint_every=0.0, **kw)
    (shard,) = st.shards(rec.id)
    assert shard.status == "pending" and shard.checkpoint is not None
    assert 0 < rec.steps_done < 100

    got = lrlab.resume(rec.id, store=store_url)
    want = descent.sweep("rosenbrock", lrs, 100, **kw)
    assert_same_sweep(got, want)
    assert (want.diverged_at >= 0).any()
    done = st.get(rec.id)
    assert (done.status, done.steps_done) == ("done", 100)
    assert st.shards(rec.id)[0].checkpoint is None
    assert_same_sweep(records.load(rec.id, store=st), want)  # read back, bit for bit


def test_ctrl_c_checkpoints_then_stops(tmp_path):
    st = store.open(tmp_path / "r.db")

    def ctrl_c_at_40(done, total):
        if done == 40:
            signal.raise_signal(signal.SIGINT)

    lrs = [1e-3, 2e-3]
    with pytest.raises(KeyboardInterrupt):
        # No periodic checkpoint: the one kept is Ctrl-C's, at the next step boundary.
        records.recorded_sweep(
            "rosenbrock", lrs, 100, store=st, checkpoint_every=3600, progress=ctrl_c_at_40
        )
    (rec,) = st.list()
    assert (rec.status, rec.steps_done) == ("interrupted", 40)
    assert_same_sweep(lrlab.resume(rec.id, store=st), descent.sweep("rosenbrock", lrs, 100))


def test_mini_batches_continue_in_the_same_order(tmp_path):
    st = store.open(tmp_path / "r.db")
    spec = "cancer-logistic:batch_size=32"
    lrs = lrlab.lr_grid(1e-3, 1.0, 4)
    rec = interrupted(st, spec, lrs, 30, 12, checkpoint_every=0.0)
    assert_same_sweep(lrlab.resume(rec.id, store=st), descent.sweep(spec, lrs, 30))


def test_a_model_made_in_python_is_given_again(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1
    model = torch.nn.Linear(3, 1)

    f = lrlab.objective(model, lambda out, t: ((out[:, 0] - t) ** 2).mean(), (x, y))
    st = store.open(tmp_path / "r.db")
    rec = interrupted(st, f, [0.01, 0.1], 30, 12, checkpoint_every=0.0)
    with pytest.raises(store.StoreError, match="objective=f"):
        lrlab.resume(rec.id, store=st)
    want = descent.sweep(f, [0.01, 0.1], 30)
    assert_same_sweep(lrlab.resume(rec.id, store=st, objective=f), want)


def test_what_cannot_be_resumed(tmp_path):
    st = store.open(tmp_path / "r.db")
    live = st.begin("sweep", "parabola", params={}, steps=5, lanes=1)  # this process: alive
    with pytest.raises(store.StoreError, match="still running"):
        lrlab.resume(live, store=st)
    diag = st.save(lrlab.diagnose([3.0, 2.0, 1.0]))
    with pytest.raises(store.StoreError, match="only sweeps resume"):
        lrlab.resume(diag, store=st)
    with pytest.raises(ValueError, match="needs a store"):
        records.recorded_sweep("parabola", [0.1], 5)


def test_sweep_records_through_the_public_api(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    sw = lrlab.sweep("parabola", lrs=[0.1, 0.5, 1.5], steps=30, store=url)
    (rec,) = store.open(url).list()
    assert (rec.kind, rec.status, rec.lanes, rec.output["best_lr"]) == ("sweep", "done", 3, 0.5)
    assert sw.record_id == rec.id and lrlab.sweep("parabola", [0.1], 3).record_id is None
    loaded = records.load(rec.id, store=url)
    assert_same_sweep(loaded, sw)
    assert loaded.record_id == lrlab.resume(rec.id, store=url).record_id == rec.id
