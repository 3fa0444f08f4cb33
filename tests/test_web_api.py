"""The web lab's JSON API: every endpoint against independent facts, and no 500 for bad input."""

import concurrent.futures
import json
import math
import os
import re
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

import lrlab
from lrlab.web import Limits, create_app
from lrlab.web.routes import Lab

LOOPBACK = "http://127.0.0.1"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), base_url=LOOPBACK) as c:
        yield c


# ------------------------------------------------------------------------------------- the page


def test_page_and_every_asset_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(r.startswith("/") and not r.startswith("//") for r in refs), refs
    for ref in refs:
        assert client.get(ref).status_code == 200, ref
    plotly = client.get("/static/vendor/plotly.min.js")
    assert plotly.headers["content-type"].startswith("text/javascript")
    assert b"plotly.js" in plotly.content[:200] and len(plotly.content) > 1_000_000
    # The page's ES modules, each imported by path from the same origin, and its style.
    static = Path(lrlab.__file__).parent / "web" / "static"
    assets = [f"/static/{p.name}" for p in sorted(static.glob("*.js"))] + ["/static/style.css"]
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200, asset
        assert not re.search(r"https?://", r.text), f"{asset} refers to another host"
        for module in re.findall(r'from "([^"]+)"', r.text):
            assert module.startswith("./") and (static / module[2:]).is_file(), (asset, module)
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp


def test_openapi_schema_without_cdn_docs(client):
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    assert {
        "/api/run",
        "/api/compare",
        "/api/sweep",
        "/api/pictures",
        "/api/objective",
        "/api/suggest",
        "/api/sharpness",
        "/api/diagnose",
        "/api/diagnose/losses",
        "/api/catalogue",
    } <= paths
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404


def test_only_loopback_host_names_are_answered(client):
    assert client.get("/api/health", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/api/health", headers={"host": "localhost:8000"}).status_code == 200


# -------------------------------------------------------------------------------- objectives


def test_catalogue_lists_functions_problems_and_limits(client):
    d = client.get("/api/catalogue").json()
    names = {r["name"] for r in d["objectives"]}
    assert {"parabola", "rosenbrock", "himmelblau", "hill", "digits-mlp"} <= names
    assert d["limits"]["analytic"]["steps"] == Limits().steps
    assert d["limits"]["dataset"]["steps"] == Limits().dataset_steps
    # The regimes in the library's order, with the colours and names the pictures use.
    from lrlab.plot.style import REGIME_COLORS, REGIME_LABELS

    assert [r["name"] for r in d["regimes"]] == list(lrlab.REGIMES)
    assert all(r["color"] == REGIME_COLORS[r["name"]] for r in d["regimes"])
    assert all(r["label"] == REGIME_LABELS[r["name"]] for r in d["regimes"])


def test_objective_contour_is_the_function_on_its_grid(client):
    d = client.post("/api/objective", json={"objective": "himmelblau", "resolution": 20}).json()
    x, y, z = (np.array(d["surface"][k], dtype=float) for k in "xyz")
    assert z.shape == (20, 20) and x[0] == d["box"][0][0] and y[-1] == d["box"][1][1]
    X, Y = np.meshgrid(x, y)
    np.testing.assert_allclose(z, (X**2 + Y - 11) ** 2 + (X + Y**2 - 7) ** 2, rtol=1e-12)
    assert d["marks"]["where"] == "minimum"
    assert d["marks"]["two_over_L"] == pytest.approx(2 / d["sharpness_at_minimum"])


def test_expression_objective_measures_sharpness_at_the_start(client):
    d = client.post("/api/objective", json={"objective": "x**2 + 3*y**2"}).json()
    assert d["params"] == ["x", "y"] and d["marks"]["where"] == "start"
    assert d["marks"]["sharpness"] == pytest.approx(6.0)
    assert d["marks"]["one_over_L"] == pytest.approx(1 / 6)
    assert d["default_lr"] == pytest.approx(1 / 6)
    one_d = client.post("/api/objective", json={"objective": "x**4 - 4*x**2 + x"}).json()
    xs = np.array(one_d["surface"]["x"])
    np.testing.assert_allclose(one_d["surface"]["z"], xs**4 - 4 * xs**2 + xs, atol=1e-12)
    assert one_d["surface"]["y"] is None


def test_dataset_problem_has_no_surface_and_smaller_limits(client):
    d = client.post("/api/objective", json={"objective": "diabetes-linear"}).json()
    assert d["kind"] == "dataset" and d["surface"] is None and d["dim"] == 11
    assert d["limits"]["steps"] == Limits().dataset_steps


# ---------------------------------------------------------------------------------------- runs


def test_run_on_a_parabola_follows_the_closed_form(client):
    # f = L/2 x^2 from x0 = 1: x_n = (1 - lr L)^n, so C_n = (1 - lr L)^(2n) C_0.
    L, lr, steps = 2.0, 0.1, 30
    d = client.post("/api/run", json={"objective": "parabola", "lr": lr, "steps": steps}).json()
    n = np.arange(steps + 1)
    np.testing.assert_allclose(d["losses"], (1 - lr * L) ** (2 * n) * (L / 2), rtol=1e-12)
    np.testing.assert_allclose(np.array(d["params"])[:, 0], (1 - lr * L) ** n, rtol=1e-12)
    # The step length alpha*|grad| shrinks with the gradient at constant alpha.
    np.testing.assert_allclose(d["step_sizes"], lr * L * (1 - lr * L) ** n[:-1], rtol=1e-12)
    assert d["regime"] in lrlab.REGIMES and d["diagnosis"]["regime"] == d["regime"]


def test_run_is_what_the_library_returns(client):
    body = {"objective": "rosenbrock", "lr": 1.5e-3, "steps": 120, "start": [-1.5, 2.0]}
    d = client.post("/api/run", json=body).json()
    run = lrlab.descend("rosenbrock", lr=1.5e-3, steps=120, start=[-1.5, 2.0])
    ref = run.to_dict()
    keys = ("losses", "grad_norms", "step_sizes", "final_loss", "diverged_at", "floor", "regime")
    for key in keys:
        assert d[key] == ref[key], key
    assert d["diagnosis"] == json.loads(json.dumps(ref["diagnosis"]))
    np.testing.assert_array_equal(np.array(d["params"]), run.params)


def test_a_quadratic_diverges_exactly_above_two_over_l(client):
    def run(lr):
        body = {"objective": "parabola", "lr": lr, "steps": 300}
        return client.post("/api/run", json=body).json()

    below, above = run(0.999), run(1.001)
    assert below["regime"] != "diverging" and above["losses"][-1] > above["losses"][0]


def test_a_run_that_diverges_at_once_is_a_diverging_run(client):
    r = client.post("/api/run", json={"objective": "beale", "lr": 1.0, "steps": 50})
    assert r.status_code == 200 and r.json()["regime"] == "diverging"


def test_runs_with_an_optimizer_are_the_library_runs_with_that_rule(client):
    # Concurrent requests with different rules never share a sweep: each is its own rule's.
    bodies = [
        ("sgd", 0.0, lrlab.optim.sgd()),
        ("sgd", 0.9, lrlab.optim.sgd(momentum=0.9)),
        ("adam", 0.0, lrlab.optim.adam()),
    ]

    def ask(item):
        name, momentum, _ = item
        body = {"objective": "booth", "lr": 0.02, "steps": 60}
        body["optimizer"] = {"name": name, "momentum": momentum}
        return client.post("/api/run", json=body).json()

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(ask, bodies))
    for (_, _, rule), d in zip(bodies, answers, strict=True):
        ref = lrlab.descend("booth", lr=0.02, steps=60, optimizer=rule).to_dict()
        assert d["losses"] == ref["losses"] and d["regime"] == ref["regime"]
    assert answers[0]["losses"] != answers[1]["losses"] != answers[2]["losses"]
    bad = {"objective": "booth", "lr": 0.02, "optimizer": {"name": "adam", "momentum": 0.9}}
    r = client.post("/api/run", json=bad)
    assert r.status_code == 400 and "momentum" in r.json()["detail"]


def test_compare_is_one_sweep_of_those_learning_rates(client):
    lrs = [1e-4, 1e-3, 1.9e-3]
    body = {"objective": "rosenbrock", "lrs": lrs, "steps": 150}
    d = client.post("/api/compare", json=body).json()
    sw = lrlab.sweep("rosenbrock", lrs=lrs, steps=150)
    assert [r["lr"] for r in d["runs"]] == lrs and d["best_lr"] == sw.best_lr
    assert d["floor"] == sw.floor
    for got, run in zip(d["runs"], sw.runs, strict=True):
        assert got["losses"] == run.to_dict()["losses"] and got["regime"] == run.regime


def test_concurrent_requests_each_get_their_own_answer(client):
    lrs = [0.05 * k for k in range(1, 13)]

    def ask(lr):
        return client.post("/api/run", json={"objective": "booth", "lr": lr, "steps": 80}).json()

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(ask, lrs))
    for lr, d in zip(lrs, answers, strict=True):
        ref = lrlab.descend("booth", lr=lr, steps=80).to_dict()
        assert d["lr"] == lr and d["losses"] == ref["losses"] and d["regime"] == ref["regime"]


def test_bodies_are_json_with_null_for_non_finite_numbers():
    from lrlab.web.routes import dumps as _dumps

    body = {
        "a": np.array([[1.0, np.nan], [np.inf, -0.0]]),
        "b": [0.1, 1e-05, 1e16, None],
        "c": "é ✓",
        "d": (1, True),
    }
    assert json.loads(_dumps(body)) == {
        "a": [[1.0, None], [None, -0.0]],
        "b": [0.1, 1e-05, 1e16, None],
        "c": "é ✓",
        "d": [1, True],
    }
    # numpy scalars and strided views are written as numbers; anything else is refused.
    assert _dumps({"x": np.int64(1), "y": np.arange(5.0)[::2]}) == b'{"x":1,"y":[0.0,2.0,4.0]}'
    with pytest.raises(TypeError, match="not JSON serializable"):
        _dumps({"x": object()})


def test_serve_freezes_the_startup_heap_and_passes_its_settings(monkeypatch):
    import gc

    import uvicorn

    from lrlab.web import serve

    seen = {}

    def run(server, sockets):
        (sock,) = sockets
        seen.update(config=server.config, address=sock.getsockname())
        sock.close()

    monkeypatch.setattr(gc, "freeze", lambda: seen.setdefault("frozen", True))
    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.setdefault("threads", n))
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve(port=port, limits=Limits(steps=77), ready=lambda url: seen.setdefault("url", url))
    config = seen["config"]
    assert seen["frozen"] and config.port == port and config.access_log is False
    # The server listens on the socket taken before the lab said where it is.
    assert seen["address"] == ("127.0.0.1", port) and seen["url"] == f"http://127.0.0.1:{port}/"
    # Heavy work leaves a core to light requests (when there is more than one).
    assert 1 <= seen["threads"] <= max(1, os.cpu_count() - 1)
    assert config.app.state.lab.limits.steps == 77


def test_sweep_finds_one_over_l_on_a_quadratic_with_the_marks(client):
    d = client.post(
        "/api/sweep",
        json={"objective": "parabola", "lr_min": 0.01, "lr_max": 3.0, "num": 41, "steps": 50},
    ).json()
    assert d["marks"]["one_over_L"] == 0.5 and d["marks"]["two_over_L"] == 1.0
    # x_n = (1 - lr L)^n x0 with L = 2: lr = 1/L = 0.5 reaches the minimum in one step.
    assert abs(math.log(d["best_lr"] / 0.5)) < math.log(3.0 / 0.01) / 40
    for r in d["runs"]:
        assert (r["regime"] == "diverging") == (r["lr"] > 1.0), r


def test_sweep_default_range_brackets_two_over_l(client):
    d = client.post("/api/sweep", json={"objective": "bowl:kappa=10", "num": 24}).json()
    lrs = [r["lr"] for r in d["runs"]]
    two_over_l = 2 / 10
    assert len(lrs) == 24 and lrs[0] < two_over_l / 2 and two_over_l < lrs[-1]


def test_pictures_show_the_four_regimes_on_the_small_hill(client):
    d = client.post("/api/pictures", json={"objective": "hill", "steps": 200}).json()
    assert [c["label"] for c in d["curves"]] == ["very high", "high", "low", "good"]
    assert [c["run"]["regime"] for c in d["curves"]] == ["diverging", "too_high", "too_low", "good"]
    lrs = [c["run"]["lr"] for c in d["curves"]]
    assert lrs[0] > lrs[1] > lrs[3] > lrs[2]
    assert [p["label"] for p in d["paths"]] == ["too low", "just right", "too high"]
    assert all(p["run"]["params"] for p in d["paths"])
    assert d["sweep"]["best_lr"] == d["curves"][3]["run"]["lr"]


def test_sharpness_matches_numpy_eigenvalues(client):
    body = {"objective": "x**2 + x*y + 2*y**2", "at": [0.3, -1.0]}
    d = client.post("/api/sharpness", json=body).json()
    top = np.linalg.eigvalsh([[2.0, 1.0], [1.0, 4.0]]).max()
    assert d["sharpness"] == pytest.approx(top, rel=1e-6)


def test_suggest(client):
    d = client.post("/api/suggest", json={"objective": "parabola:L=4"}).json()
    assert 0 < d["lr"] <= 2 / 4 and d["methods"]


# ------------------------------------------------------------------------------------ diagnose


def test_diagnose_an_uploaded_csv_log(client):
    steps = np.arange(60)
    loss = 2.0 * 1.3**steps  # grows by orders of magnitude: diverging
    rows = (f"{s},{float(v)!r},0.5\n" for s, v in zip(steps, loss, strict=True))
    text = "step,loss,acc\n" + "".join(rows)
    r = client.post("/api/diagnose", files={"file": ("train.csv", text.encode(), "text/csv")})
    d = r.json()
    assert r.status_code == 200 and d["regime"] == "diverging"
    assert d["column"] == "loss" and "acc" in d["available"] and d["points"] == 60
    np.testing.assert_allclose(d["values"], loss)
    assert d["advice"] and 0 <= d["confidence"] <= 1


def test_diagnose_a_json_lines_log_with_a_chosen_column(client):
    lines = "".join(
        json.dumps({"step": t, "train": {"loss": 1.0 / (t + 1)}, "lr": 0.1}) + "\n"
        for t in range(50)
    )
    d = client.post(
        "/api/diagnose",
        files={"file": ("run.jsonl", lines.encode())},
        data={"column": "train/loss"},
    ).json()
    assert d["column"] == "train/loss" and d["values"][0] == 1.0 and len(d["steps"]) == 50


@pytest.mark.parametrize(
    "name,content",
    [
        ("garbage.csv", bytes(range(256)) * 20),
        ("empty.csv", b""),
        ("words.csv", b"hello\nworld\n"),
        ("one.csv", b"loss\n1.0\n"),
        ("../../etc/passwd", b"root:x:0:0\n"),
        ("x.jsonl", b'{"loss": \n'),
    ],
)
def test_a_garbage_upload_is_a_4xx(client, name, content):
    r = client.post("/api/diagnose", files={"file": (name, content)})
    assert 400 <= r.status_code < 500 and r.json()["detail"]


def test_an_upload_over_the_limit_is_refused():
    limits = Limits(upload_bytes=1000)
    with TestClient(create_app(limits=limits), base_url=LOOPBACK) as c:
        r = c.post("/api/diagnose", files={"file": ("big.csv", b"loss\n" + b"1.0\n" * 5000)})
        assert r.status_code == 413 and "larger than 1,000 bytes" in r.json()["detail"]
        huge = b'{"losses": [' + b"1.0," * 2_000_000 + b"1.0]}"
        json_body = {"content-type": "application/json"}
        r1 = c.post("/api/diagnose/losses", content=huge, headers=json_body)
        body = limits.body_bytes
        # The error shape and headers of every refusal, whether the body declares its size
        # (refused before it is read) or is sent in chunks (refused once the bytes pass it).
        chunked = (huge[i : i + 2**16] for i in range(0, len(huge), 2**16))
        r2 = c.post("/api/diagnose/losses", content=chunked, headers=json_body)
        for r in (r1, r2):
            assert r.status_code == 413 and r.headers["content-type"] == "application/json"
            assert r.json() == {
                "detail": f"the request body is larger than {body:,} bytes, the limit",
                "limit_bytes": body,
            }
            assert "content-security-policy" in r.headers
        assert "content-length" not in r2.request.headers
        # Under the limit: read and refused for what it says, not for its size.
        r = c.post("/api/diagnose/losses", content=huge[: body - 10], headers=json_body)
        assert r.status_code == 422


def test_diagnose_a_list_of_costs(client):
    t = np.arange(201)
    losses = 0.5 * (1 - 1e-3) ** (2 * t)
    d = client.post(
        "/api/diagnose/losses", json={"losses": losses.tolist(), "floor": 0.0, "lr": 1e-3}
    ).json()
    assert d["regime"] == lrlab.diagnose(losses, floor=0.0, lr=1e-3).regime == "too_low"
    d = client.post("/api/diagnose/losses", json={"losses": [1.0, 10.0, 1e3, None]}).json()
    assert d["regime"] == "diverging"


# ---------------------------------------------------------------------------- bad input, caps


@pytest.mark.parametrize("text,position", [("x**2 + (y", 7), ("x + foo(2)", 4), ("2 ** ** x", 5)])
def test_expression_errors_say_where(client, text, position):
    for path, extra in (("/api/objective", {}), ("/api/run", {"lr": 0.1})):
        r = client.post(path, json={"objective": text, **extra})
        d = r.json()
        assert r.status_code == 400 and d["position"] == position and d["reason"], d


@pytest.mark.parametrize(
    "text",
    [
        "os.path:join",
        "__import__('os').system('true')",
        "open('/etc/passwd')",
        "x.__class__",
        "lambda: 0",
        "rosenbrok",
        "x; import os",
        "exec('1')",
    ],
)
def test_text_never_becomes_code(client, text):
    r = client.post("/api/run", json={"objective": text, "lr": 0.1, "steps": 2})
    assert r.status_code == 400 and r.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"objective": "parabola", "lr": 0.1, "steps": Limits().steps + 1},
        {"objective": "digits-mlp", "lr": 0.1, "steps": Limits().dataset_steps + 1},
        {"objective": "digits-mlp:hidden=4096", "lr": 0.1, "steps": 300},
    ],
)
def test_runs_over_the_caps_are_refused(client, body):
    # Limits the schema states are refused by validation (422); the others by the lab (400).
    r = client.post("/api/run", json=body)
    assert r.status_code in (400, 422) and "at most" in r.json()["detail"], r.json()


def test_a_grid_of_no_given_size_is_as_large_as_the_limits_allow(client):
    lim = Limits()
    d = client.post("/api/sweep", json={"objective": "parabola", "steps": 20}).json()
    assert len(d["runs"]) == 40
    # Every pair of a heatmap is a run: 3 momentum values share the 64 lanes.
    body = {"objective": "parabola", "steps": 20, "optimizer": {"momentum": [0, 0.5, 0.9]}}
    d = client.post("/api/heatmap", json=body).json()
    assert (len(d["lrs"]), len(d["values"])) == (lim.lanes // 3, 3)
    # A dataset problem: the work limit over its parameters (as digits-mlp's 4810 at 200
    # steps: 12 learning rates), or the lanes limit.
    assert Lab(lim, 1).grid_size(lrlab.objective("digits-mlp"), None, 200) == 12
    small = Limits(dataset_work=5 * 200 * 31 + 100)
    with TestClient(create_app(limits=small), base_url=LOOPBACK) as c:
        r = c.post("/api/sweep", json={"objective": "cancer-logistic"})
        assert r.status_code == 200 and len(r.json()["runs"]) == 5
        r = c.post("/api/sweep", json={"objective": "cancer-logistic", "steps": 10})
        assert len(r.json()["runs"]) == small.dataset_lanes
    # A grid from the sharpness stays within the rates a request may name.
    d = client.post("/api/sweep", json={"objective": "1e-300*x**2", "num": 3, "steps": 5}).json()
    assert [r["lr"] for r in d["runs"]][-1] == 1e6


def test_sweeps_and_comparisons_over_the_caps_are_refused(client):
    r = client.post("/api/sweep", json={"objective": "parabola", "num": Limits().lanes + 1})
    assert r.status_code == 422 and "at most 64" in r.json()["detail"]
    lrs = [0.1] * (Limits().compare_lanes + 1)
    r = client.post("/api/compare", json={"objective": "parabola", "lrs": lrs})
    assert r.status_code == 422 and "at most 8 items" in r.json()["detail"]
    r = client.post("/api/sweep", json={"objective": "digits-mlp", "num": 17})
    assert r.status_code == 400 and "at most 16" in r.json()["detail"]
    r = client.post("/api/sweep", json={"objective": "parabola", "lr_min": 1.0, "lr_max": 0.1})
    assert r.status_code == 400
    r = client.post("/api/diagnose/losses", json={"losses": [1.0, 0.5], "lr": 1e308})
    assert r.status_code == 422 and "lr" in r.json()["detail"]


def test_a_start_with_no_finite_cost_is_refused_for_what_it_is(client):
    for path, body in [
        ("/api/run", {"objective": "exp(x)", "lr": 1, "steps": 5, "start": [1e3]}),
        ("/api/compare", {"objective": "1e308*x**2", "lrs": [0.1], "steps": 5, "start": [10]}),
    ]:
        r = client.post(path, json=body)
        assert r.status_code == 400
        assert r.json()["detail"].endswith("is invalid: the cost there is not finite (inf)")
    r = client.post("/api/diagnose/losses", json={"losses": [None, None, None]})
    assert r.status_code == 400 and r.json()["detail"].startswith("losses=[nan, nan, nan] is")


def test_a_computation_over_its_time_is_stopped_with_a_503():
    with TestClient(create_app(limits=Limits(seconds=0.2)), base_url=LOOPBACK) as c:
        r = c.post("/api/sweep", json={"objective": "rastrigin", "num": 64, "steps": 5000})
        assert r.status_code == 503 and "longer than" in r.json()["detail"]


def test_a_full_queue_is_a_503_with_retry_after():
    with TestClient(create_app(limits=Limits(queue=0)), base_url=LOOPBACK) as c:
        r = c.post("/api/run", json={"objective": "parabola", "lr": 0.1})
        assert r.status_code == 503 and "busy" in r.json()["detail"]
        assert int(r.headers["retry-after"]) >= 1


def test_a_wrong_method_is_a_405_that_says_which_are_allowed(client):
    r = client.get("/api/run")
    assert r.status_code == 405 and r.headers["allow"] == "POST" and r.json()["detail"]


def test_a_body_not_sent_as_json_is_a_415_and_bad_json_says_where(client):
    body = b'{"objective": "x**2", "lr": 0.1, "steps": 3, "start": [1.0]}'
    for kind in ("text/plain", "application/x-www-form-urlencoded", None):
        r = client.post("/api/run", content=body, headers={"content-type": kind} if kind else {})
        assert r.status_code == 415 and "Content-Type: application/json" in r.json()["detail"]
    for kind in ("application/json", "application/json; charset=utf-8"):
        assert client.post("/api/run", content=body, headers={"content-type": kind}).is_success
    r = client.post("/api/run", content=b"{bad", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    assert r.json()["detail"].startswith("body: not JSON at character 1:")
    assert client.post("/api/run").status_code == 422  # no body at all: a missing field


def test_head_is_get_without_the_body(client):
    for path in ("/", "/api/catalogue", "/static/app.js"):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200 and head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert int(head.headers["content-length"]) == len(got.content)
    assert client.head("/api/run").status_code == 405  # POST only


HOSTILE = [
    "",
    " ",
    "\x00",
    "x" * 5000,
    "(" * 3000,
    "1" + "+1" * 1500,
    "x**" * 60 + "2",
    "💥",
    "NaN",
    "<script>alert(1)</script>",
    "'; DROP TABLE runs; --",
    "${7*7}",
    "{{7*7}}",
    "../../etc/passwd",
    "digits-mlp:hidden=99999999",
    "bowl:kappa=-1",
    "bowl:kappa=1e999",
    "parabola:L=nan",
    "digits-mlp:batch_size=0",
    "x" * 17 + "+y",
]
BAD_VALUES = [None, "abc", "NaN", "Infinity", -1, 0, 1e308, 1e400, True, [], {}, [1, 2], "1e-3x"]
ENDPOINTS = {
    "/api/objective": {"objective": "parabola"},
    "/api/run": {"objective": "parabola", "lr": 0.1, "steps": 5},
    "/api/compare": {"objective": "parabola", "lrs": [0.1, 0.2], "steps": 5},
    "/api/pictures": {"objective": "parabola", "steps": 5},
    "/api/sweep": {"objective": "parabola", "num": 4, "steps": 5},
    "/api/sharpness": {"objective": "parabola"},
    "/api/suggest": {"objective": "parabola"},
    "/api/diagnose/losses": {"losses": [1.0, 0.5, 0.25]},
}


def fuzz_cases():
    for path, good in ENDPOINTS.items():
        for field in good:
            for bad in BAD_VALUES:
                yield path, {**good, field: bad}
        yield path, {k: v for k, v in good.items() if k != next(iter(good))}
        yield path, {**good, "unexpected": 1}
        if "objective" in good:
            for text in HOSTILE:
                yield path, {**good, "objective": text}
        if "start" not in good and path not in (
            "/api/diagnose/losses",
            "/api/sharpness",
            "/api/suggest",
        ):
            for start in ([1.0, 2.0, 3.0], [1e300], ["a"], [float("nan")], [0.0] * 40):
                yield path, {**good, "start": start}


def test_no_500_for_a_battery_of_bad_inputs(client):
    failures = []
    for path, body in fuzz_cases():
        text = json.dumps(body, allow_nan=True)
        r = client.post(path, content=text, headers={"content-type": "application/json"})
        if r.status_code >= 500 and r.status_code != 503:
            failures.append((path, text[:120], r.status_code))
        elif r.status_code >= 400:
            assert isinstance(r.json()["detail"], str) and r.json()["detail"]
    assert not failures, failures[:10]


@pytest.mark.parametrize(
    "raw,ctype",
    [
        (b"{not json", "application/json"),
        (b'{"objective": "parabola", "lr": NaN}', "application/json"),
        (b'{"objective": "parabola", "lr": -Infinity}', "application/json"),
        (b"[]", "application/json"),
        (b'"parabola"', "application/json"),
        (b"objective=parabola&lr=0.1", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00", "application/json"),
        (b'{"objective": "parabola", "lr": 0.1, "steps": 1.5}', "application/json"),
        (
            b'{"objective": "parabola", "lr": 0.1, "steps": 99999999999999999999999}',
            "application/json",
        ),
    ],
)
def test_malformed_bodies_are_4xx(client, raw, ctype):
    r = client.post("/api/run", content=raw, headers={"content-type": ctype})
    assert 400 <= r.status_code < 500 and r.json()["detail"]


def test_diagnose_form_fields_are_validated(client):
    files = {"file": ("log.csv", b"loss\n1\n0.5\n0.2\n")}
    for data in ({"floor": "abc"}, {"floor": "nan"}, {"column": "x" * 500}):
        r = client.post("/api/diagnose", files=files, data=data)
        assert 400 <= r.status_code < 500, (data, r.text)
    assert client.post("/api/diagnose", data={"column": "loss"}).status_code == 422


def test_the_package_ships_the_page():
    static = Path(lrlab.__file__).parent / "web" / "static"
    shipped = {p.name for p in static.iterdir()}
    assert {"index.html", "app.js", "api.js", "state.js", "style.css", "favicon.svg"} <= shipped
    for view in ("explore", "compare", "sweep", "diagnose", "suggest"):
        assert f"{view}.js" in shipped
