"""The web lab's heatmap and History: the learning rate x momentum heatmap against closed-form
stability and the library's own runs, and the History view against a store filled here."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

import lrlab
from lrlab import optim
from lrlab.web import create_app

LOOPBACK = "http://127.0.0.1"
MOMENTA = [0.0, 0.5, 0.9]


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), base_url=LOOPBACK) as c:
        yield c


def heatmap(client, objective, num=12, steps=200, momenta=MOMENTA, **extra):
    body = {"objective": objective, "num": num, "steps": steps, "optimizer": {"momentum": momenta}}
    return client.post("/api/heatmap", json={**body, **extra})


# ------------------------------------------------------------------------------------ heatmap


def test_heatmap_boundary_is_the_heavy_ball_limit_and_cells_obey_it(client):
    # parabola:L=4 is C(x) = 2 x**2: its Hessian is 4 everywhere (the closed form).
    L = 4.0
    d = heatmap(client, "parabola:L=4", lr_min=0.01, lr_max=2.0).json()
    assert d["name"] == "momentum" and d["values"] == MOMENTA
    assert d["boundary"] == pytest.approx([(2 + 2 * b) / L for b in MOMENTA], rel=1e-9)
    lrs = np.array(d["lrs"])
    assert (
        np.all(np.diff(lrs) > 0) and lrs[0] == pytest.approx(0.01) and lrs[-1] == pytest.approx(2.0)
    )
    # Linear stability of heavy ball on a quadratic: well past the limit every run blows up,
    # well inside it none does.
    for i, beta in enumerate(MOMENTA):
        limit = (2 + 2 * beta) / L
        for j, lr in enumerate(lrs):
            if lr > 1.25 * limit:
                assert d["regimes"][i][j] == "diverging", (beta, lr)
                assert d["costs"][i][j] is None
            elif lr < 0.75 * limit:
                assert d["regimes"][i][j] != "diverging", (beta, lr)


def test_heatmap_cells_are_the_librarys_runs(client):
    d = heatmap(client, "bowl:kappa=10", num=6, steps=120, lr_min=0.01, lr_max=0.5).json()
    sw = lrlab.sweep(
        "bowl:kappa=10", np.array(d["lrs"]), 120, optimizer=optim.sgd(momentum=MOMENTA)
    )
    assert len(sw.runs) == 6 * len(MOMENTA)
    for run in sw.runs:
        i, j = MOMENTA.index(run.optimizer.momentum), d["lrs"].index(run.lr)
        assert d["regimes"][i][j] == run.regime
        if np.isfinite(run.final_loss):
            assert d["costs"][i][j] == pytest.approx(run.final_loss, rel=1e-9, abs=1e-300)
        else:
            assert d["costs"][i][j] is None
    assert d["best"]["lr"] == sw.best_lr and d["best"]["momentum"] == sw.best.optimizer.momentum


def test_heatmap_lanes_are_capped_and_the_schema_says_so(client):
    r = heatmap(client, "parabola", num=40, momenta=[0.0, 0.5])
    assert r.status_code == 400 and "at most 64" in r.json()["detail"]
    assert heatmap(client, "parabola", momenta=[0.5] * 13).status_code == 422
    assert heatmap(client, "parabola", momenta=[1.0]).status_code == 422
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["SweptOptimizer"]["properties"]["momentum"]["maxItems"] == 12
    assert "at most 64" in schema["HeatmapRequest"]["properties"]["num"]["description"]


# ------------------------------------------------------------------------------------ history


def test_history_lists_and_opens_what_the_store_holds(tmp_path):
    url = f"sqlite:///{tmp_path / 'records.db'}"
    with lrlab.store.open(url) as st:
        run = lrlab.descend("parabola", lr=0.3, steps=20)
        sweep = lrlab.sweep("bowl", lrs=[0.01, 0.1, 0.3], steps=30)
        rid, sid = st.save(run), st.save(sweep)
    with TestClient(create_app(store=url), base_url=LOOPBACK) as c:
        listing = c.get("/api/history").json()
        assert listing["recording"] and listing["problem"] is None
        rows = {r["id"]: r for r in listing["records"]}
        assert set(rows) == {rid, sid}
        assert (rows[rid]["kind"], rows[rid]["objective"], rows[rid]["status"]) == (
            "run",
            run.objective,
            "done",
        )
        assert (rows[sid]["kind"], rows[sid]["lanes"], rows[sid]["steps"]) == ("sweep", 3, 30)

        one = c.get(f"/api/history/{rid}").json()
        assert one["output"]["losses"] == pytest.approx(run.losses.tolist(), rel=1e-12)
        swept = c.get(f"/api/history/{sid[:6]}").json()  # a unique prefix finds it too
        assert [x["lr"] for x in swept["curves"]] == [0.01, 0.1, 0.3]
        for got, want in zip(swept["curves"], sweep.runs, strict=True):
            assert got["losses"] == pytest.approx(want.losses.tolist(), rel=1e-12)
        assert c.get("/api/history/000000000000").status_code == 404

        # What the lab computes lands in the store, after the answer.
        made = heatmap(c, "parabola", num=4, steps=20, momenta=[0.0, 0.9]).json()
        c.app.state.lab.history.flush()
        again = {r["id"]: r for r in c.get("/api/history").json()["records"]}
        assert made["record"] in again and again[made["record"]]["lanes"] == 8


def test_a_corrupt_store_is_left_alone_and_everything_else_works(tmp_path):
    path = tmp_path / "records.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\x07" * 4000)
    before = path.read_bytes()
    with TestClient(create_app(store=str(path)), base_url=LOOPBACK) as c:
        listing = c.get("/api/history").json()
        assert not listing["recording"] and listing["records"] == []
        assert str(path) in listing["problem"]
        r = c.post("/api/sweep", json={"objective": "parabola", "num": 3, "steps": 10})
        assert r.status_code == 200
        assert c.get("/api/history/abc").status_code == 404
    assert path.read_bytes() == before


def test_no_store_says_records_are_off(client):
    listing = client.get("/api/history").json()
    assert listing == {
        "store": None,
        "recording": False,
        "problem": listing["problem"],
        "records": [],
    }
    assert "--no-store" in listing["problem"]


def test_serve_records_into_the_clis_default_store_unless_told_otherwise(monkeypatch, tmp_path):
    import lrlab.web.app
    from lrlab import cli

    asked = []
    monkeypatch.setattr(lrlab.web.app, "serve", lambda **kw: asked.append(kw["store"]))
    monkeypatch.setenv("LRLAB_STORE", f"sqlite:///{tmp_path / 'env.db'}")
    assert cli.main(["serve"]) == 0
    assert cli.main(["serve", "--store", "sqlite:///other.db"]) == 0
    assert cli.main(["serve", "--no-store"]) == 0
    assert asked == [lrlab.store.default_url(), "sqlite:///other.db", None]
    assert asked[0] == f"sqlite:///{tmp_path / 'env.db'}"


def test_a_store_error_never_breaks_an_answer_and_history_says_why(tmp_path, monkeypatch):
    with TestClient(create_app(store=str(tmp_path / "r.db")), base_url=LOOPBACK) as c:
        history = c.app.state.lab.history

        def broken(*_a, **_k):
            raise lrlab.store.StoreError("disk full")

        monkeypatch.setattr(history.store, "save", broken)
        r = c.post("/api/sweep", json={"objective": "parabola", "num": 3, "steps": 10})
        assert r.status_code == 200 and len(r.json()["runs"]) == 3
        history.flush()
        assert "disk full" in c.get("/api/history").json()["problem"]


def test_a_slow_store_does_not_pile_up_results(tmp_path, monkeypatch):
    import threading

    from lrlab.web.history import PENDING, History

    history = History(str(tmp_path / "r.db"))
    gate, saved = threading.Event(), []
    monkeypatch.setattr(history.store, "save", lambda r, **_k: gate.wait() and saved.append(r))
    run = lrlab.descend("parabola", lr=0.1, steps=3)
    for _ in range(PENDING + 3):
        history.record(run)
    assert "too slow" in history.problem
    gate.set()
    history.flush()
    assert len(saved) == PENDING
