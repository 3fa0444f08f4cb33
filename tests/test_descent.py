"""The descent engine against independent oracles: closed forms and plain torch.optim.SGD."""

import copy
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import lrlab
from lrlab import datasets, descent
from lrlab.descent import RETIRE_GROWTH


def sgd_oracle(model, loss_fn, batches, lr, steps, full, weight_decay=0.0):
    """A plain torch.optim.SGD loop: the losses it sees and its final parameters."""
    model = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for _, (x, y) in zip(range(steps), batches):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        penalty = 0.5 * weight_decay * sum(p.pow(2).sum() for p in model.parameters())
        losses.append((loss + penalty).item())
        loss.backward()
        opt.step()
    x, y = full
    with torch.no_grad():
        penalty = 0.5 * weight_decay * sum(p.pow(2).sum() for p in model.parameters())
        losses.append((loss_fn(model(x), y) + penalty).item())
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return np.array(losses), flat


@pytest.mark.parametrize("steps", [1, 7])
def test_quadratic_closed_form(steps):
    # f = L/2 x^2 from x0: x_n = (1 - lr L)^n x0 exactly.
    L, x0 = 4.0, 1.5
    lrs = [0.01, 0.1, 0.25, 0.45, 0.49]
    sw = lrlab.sweep(f"{L / 2}*x**2", lrs=lrs, steps=steps, start=[x0], keep_params=True)
    for lr, run in zip(lrs, sw.runs):
        n = np.arange(steps + 1)
        xs = (1 - lr * L) ** n * x0
        np.testing.assert_allclose(run.params[:, 0], xs, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(run.losses, L / 2 * xs**2, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(run.grad_norms, np.abs(L * xs), rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(run.step_sizes, np.abs(np.diff(xs)), rtol=1e-10, atol=1e-300)


def test_step_length_equals_parameter_change():
    run = lrlab.descend("rosenbrock", lr=1e-3, steps=50)
    moved = np.linalg.norm(np.diff(run.params, axis=0), axis=1)
    np.testing.assert_allclose(run.step_sizes, moved, rtol=1e-9)


def test_sweep_lanes_equal_single_runs_on_analytic():
    lrs = lrlab.lr_grid(1e-4, 2e-3, 5)
    sw = lrlab.sweep("rosenbrock", lrs=lrs, steps=100)
    for lr, run in zip(lrs, sw.runs):
        single = lrlab.descend("rosenbrock", lr=lr, steps=100)
        np.testing.assert_array_equal(run.losses, single.losses)


@pytest.mark.parametrize("name", ["cancer-logistic", "digits-mlp"])
def test_dataset_sweep_equals_plain_sgd(name):
    model, loss_fn, (X, y), problem = datasets.build(name)
    f = lrlab.objective(name)
    lrs = [0.01, 0.3, 3.0]
    steps = 25
    sw = lrlab.sweep(f, lrs=lrs, steps=steps)
    for lr, run in zip(lrs, sw.runs):
        batches = [(X, y)] * steps
        ref, _ = sgd_oracle(model, loss_fn, batches, lr, steps, (X, y), problem.l2)
        np.testing.assert_allclose(run.losses, ref, rtol=2e-5, atol=1e-6)


def test_minibatch_lanes_see_same_batches_and_match_sgd():
    f = lrlab.objective("diabetes-linear", batch_size=32, seed=3)
    model, loss_fn, (X, y), _ = datasets.build("diabetes-linear", seed=3)
    steps = 40
    batches = list(f.batches(steps))
    assert len(batches) == steps
    # The same seed gives the same batches again, so every sweep lane sees the same data.
    again = list(f.batches(steps))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))
    lrs = [0.003, 0.03, 0.3]
    sw = lrlab.sweep(f, lrs=lrs, steps=steps)
    for lr, run in zip(lrs, sw.runs):
        ref, _ = sgd_oracle(model, loss_fn, batches, lr, steps, (X, y))
        np.testing.assert_allclose(run.losses, ref, rtol=2e-5, atol=1e-6)


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 8)
        self.b = nn.Linear(8, 2)
        self.register_buffer("scale", torch.tensor(0.5))

    def forward(self, x):
        return self.b(torch.relu(self.a(x))) * self.scale


def test_user_module_sweep_equals_plain_sgd_and_leaves_model_alone():
    torch.manual_seed(0)
    model = TwoLayer()
    X = torch.randn(64, 3)
    y = torch.randint(0, 2, (64,))
    loss_fn = nn.CrossEntropyLoss()
    before = copy.deepcopy(model.state_dict())
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16)
    f = lrlab.objective(model, loss_fn, loader)
    lrs = [0.01, 0.1, 1.0]
    steps = 12
    sw = lrlab.sweep(f, lrs=lrs, steps=steps)
    cycled = [b for _ in range(3) for b in loader][:steps]
    for lr, run in zip(lrs, sw.runs):
        ref, _ = sgd_oracle(model, loss_fn, cycled, lr, steps, (X, y))
        # The last entry is the full-data cost: the loader's batch-size-weighted mean.
        np.testing.assert_allclose(run.losses, ref, rtol=2e-5, atol=1e-6)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_diverging_lane_is_retired_and_others_unaffected():
    lrs = [0.1, 0.9, 5.0, float(1 / 2)]
    sw = lrlab.sweep("parabola", lrs=lrs, steps=300)  # L = 2: diverges iff lr > 1
    diverged = sw.runs[2]
    assert diverged.diverged_at is not None and diverged.diverged_at < 300
    assert math.isinf(diverged.final_loss)
    assert len(diverged.losses) == diverged.diverged_at + 1
    last = diverged.losses[-1]
    assert last > RETIRE_GROWTH * diverged.losses[0] or not np.isfinite(last)
    alone = lrlab.descend("parabola", lr=0.1, steps=300)
    np.testing.assert_array_equal(sw.runs[0].losses, alone.losses)
    assert sw.best.lr == 0.5
    assert all(len(r.losses) == 301 for r in (sw.runs[0], sw.runs[1], sw.runs[3]))


def test_nan_lane_is_retired():
    sw = lrlab.sweep("sqrt(x)", lrs=[0.1, 100.0], steps=50, start=[1.0])
    assert sw.runs[1].diverged_at is not None
    assert sw.runs[0].diverged_at is None or sw.runs[0].diverged_at > 0


def test_records_are_plain_json_with_null_for_non_finite_numbers():
    run = lrlab.sweep("sqrt(x)", lrs=[100.0], steps=50, start=[1.0]).runs[0]  # goes NaN
    d = run.to_dict()
    for key in ("losses", "grad_norms", "step_sizes", "lrs"):
        values = getattr(run, key)
        assert d[key] == [float(v) if math.isfinite(v) else None for v in values], key
        assert all(type(v) is float for v in d[key] if v is not None), key
    assert d["params"] == [
        [float(v) if math.isfinite(v) else None for v in row] for row in run.params
    ]
    assert None in d["losses"] + d["grad_norms"]
    json.dumps(d, allow_nan=False)
    sw = lrlab.sweep("parabola", lrs=[0.1, 5.0], steps=40)
    rows = sw.to_dict(with_curves=True)["runs"]
    assert rows[1]["final_loss"] is None and rows[1]["regime"] == "diverging"
    assert [r["losses"] for r in rows] == [r.to_dict()["losses"] for r in sw.runs]


def test_schedule_applies_per_step():
    sched = lrlab.schedules.step_decay(2, 0.5)
    run = lrlab.descend("x**2", lr=0.1, steps=6, start=[1.0], schedule=sched)
    np.testing.assert_allclose(run.lrs, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    x = 1.0
    for lr in run.lrs:
        x -= lr * 2 * x
    assert run.params[-1, 0] == pytest.approx(x, rel=1e-12)


def test_analytic_is_float64_and_models_keep_dtype():
    assert lrlab.objective("rosenbrock").dtype == torch.float64
    assert lrlab.objective("x*y + x**2 + y**2").dtype == torch.float64
    assert lrlab.objective("digits-mlp").dtype == torch.float32
    assert lrlab.objective("digits-mlp", dtype=torch.float64).dtype == torch.float64


def test_lr_grid():
    g = lrlab.lr_grid(1e-4, 1.0, 5)
    np.testing.assert_allclose(g, [1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert g[0] == 1e-4 and g[-1] == 1.0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: lrlab.descend("parabola", lr=0.0), "lr=0.0"),
        (lambda: lrlab.descend("parabola", lr=float("nan")), "finite"),
        (lambda: lrlab.descend("parabola", lr=-1), "> 0"),
        (lambda: lrlab.descend("parabola", lr=0.1, steps=0), "steps=0"),
        (lambda: lrlab.descend("parabola", lr=0.1, steps=10**9), "steps"),
        (lambda: lrlab.descend("rosenbrock", lr=0.1, start=[1.0]), "expected 2 numbers"),
        (lambda: lrlab.descend("rosenbrock", lr=0.1, start=[1.0, float("inf")]), "finite"),
        (lambda: lrlab.sweep("parabola", lrs=[]), "between 1 and"),
        (lambda: lrlab.sweep("parabola", lrs=[0.1, -0.2]), "-0.2"),
        (lambda: lrlab.sweep("rosenbrock", lrs=np.full(500_000, 1e-3), steps=100_000), "GiB"),
        (lambda: lrlab.lr_grid(1.0, 0.1, 4), "greater than"),
        (lambda: lrlab.sweep("parabola", lrs=[[0.1, 0.2]]), "flat sequence"),
        (lambda: lrlab.sweep("parabola", lrs=[0.1], checkpoint_every=-1), "checkpoint_every"),
        (lambda: lrlab.sweep("parabola", lrs=[0.1], address="h:1"), "needs backend='ray'"),
    ],
)
def test_bad_input_is_a_clear_value_error(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_bad_types():
    with pytest.raises(TypeError):
        lrlab.descend("parabola", lr="0.1")
    with pytest.raises(TypeError):
        lrlab.sweep("parabola", lrs="0.1,0.2")


def test_sparse_divergence_checks_record_the_same(monkeypatch):
    # Divergence is checked every few steps; the record must equal checking every step.
    lrs = lrlab.lr_grid(1e-4, 5e-2, 40)
    every_step = lrlab.sweep("rosenbrock", lrs=lrs, steps=120)
    monkeypatch.setattr("lrlab.descent._check_interval", lambda device: 1)
    sparse = lrlab.sweep("rosenbrock", lrs=lrs, steps=120)
    assert any(r.diverged_at is not None for r in every_step.runs)
    for a, b in zip(every_step.runs, sparse.runs):
        assert a.diverged_at == b.diverged_at
        np.testing.assert_array_equal(a.losses, b.losses)


def test_tracking_sharpness_respects_keep_params_false():
    run = lrlab.descend("hill", lr=0.05, steps=20, track_sharpness=10, keep_params=False)
    assert run.params is None
    assert run.sharpness[:, 0].tolist() == [0, 10, 20]


# ----------------------------------------------------------------------------- records


RULE = lrlab.optim.sgd(momentum=0.5)


def test_every_kth_step_keeps_those_points_of_the_full_record():
    lrs = lrlab.lr_grid(1e-4, 5e-2, 12)
    full = lrlab.sweep("rosenbrock", lrs=lrs, steps=100, optimizer=RULE)
    thin = lrlab.sweep("rosenbrock", lrs=lrs, steps=100, optimizer=RULE, record=7)
    assert any(r.diverged_at is not None for r in full.runs)
    for a, b in zip(full.runs, thin.runs):
        n = len(a.losses) - 1
        expect = [t for t in range(0, 101, 7) if t <= n] + ([n] if n % 7 else [])
        assert b.recorded_steps.tolist() == sorted(set(expect) | ({100} if n == 100 else set()))
        np.testing.assert_allclose(b.losses, a.losses[b.recorded_steps], rtol=1e-12)
        np.testing.assert_allclose(b.grad_norms, a.grad_norms[b.recorded_steps], rtol=1e-12)
        # The path between recorded points: the sum of the steps taken in between.
        path = [a.step_sizes[s:e].sum() for s, e in zip(b.recorded_steps, b.recorded_steps[1:])]
        if a.diverged_at is None:
            np.testing.assert_allclose(b.step_sizes, path, rtol=1e-9)
        assert b.diverged_at == a.diverged_at and b.final_loss == a.final_loss
        assert b.best_loss == np.nanmin(a.losses[np.isfinite(a.losses)])


def test_summary_keeps_best_divergence_and_regimes():
    lrs = lrlab.lr_grid(1e-4, 0.3, 16)
    full = lrlab.sweep("bowl:kappa=10", lrs=lrs, steps=400)
    summary = lrlab.sweep("bowl:kappa=10", lrs=lrs, steps=400, record="summary")
    assert {r.regime for r in full.runs} >= {"too_low", "good", "diverging"}
    for a, b in zip(full.runs, summary.runs):
        assert len(b.losses) <= descent.SUMMARY_INTERVALS + 2
        assert b.diverged_at == a.diverged_at
        assert b.best_loss == pytest.approx(np.min(a.losses[np.isfinite(a.losses)]), rel=1e-12)
        assert b.regime == a.regime, (a.lr, a.regime, b.regime)
    np.testing.assert_array_equal(summary.final_losses, full.final_losses)
    assert summary.to_dict()["record"] == "summary"


def test_bad_record_is_refused():
    with pytest.raises(ValueError, match="record"):
        lrlab.sweep("parabola", lrs=[0.1], record="half")
    with pytest.raises((ValueError, TypeError), match="record"):
        lrlab.sweep("parabola", lrs=[0.1], record=0)


# ----------------------------------------------------------------------------- resume, shards


def checkpoints(f, lrs, steps, **kw):
    saved = []
    sw = descent.run_sweep(
        f,
        lrs,
        steps,
        checkpoint_every=0.0,
        on_checkpoint=lambda s: saved.append(s.to_bytes()),
        **kw,
    )
    return sw, saved


def assert_same(a, b):
    np.testing.assert_array_equal(a.final_losses, b.final_losses)
    np.testing.assert_array_equal(a.diverged_at, b.diverged_at)
    for x, y in zip(a.runs, b.runs):
        np.testing.assert_array_equal(x.losses, y.losses)
        np.testing.assert_array_equal(x.step_sizes, y.step_sizes)


@pytest.mark.parametrize(
    "spec, kw",
    [
        ("rosenbrock", {"optimizer": "adam", "record": "full"}),
        ("rosenbrock", {"optimizer": lrlab.optim.sgd(momentum=[0.0, 0.9]), "record": 5}),
        ("digits-mlp:batch_size=64", {"optimizer": "rmsprop", "record": "summary"}),
    ],
)
def test_resuming_from_any_checkpoint_is_bitwise_an_uninterrupted_run(spec, kw):
    f = lrlab.objective(spec)
    lrs = lrlab.lr_grid(1e-3, 3.0, 6)
    steps = 30
    whole, saved = checkpoints(f, lrs, steps, **kw)
    assert len(saved) == steps
    for i in (1, 13, steps - 1):
        state = descent.EngineState.from_bytes(saved[i])
        assert state.step == i
        assert_same(descent.run_sweep(f, lrs, steps, state=state, **kw), whole)


def test_resume_continues_a_shuffling_loader():
    torch.manual_seed(0)
    X, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(X, y), batch_size=16, shuffle=True
    )
    f = lrlab.objective(TwoLayer(), nn.CrossEntropyLoss(), loader)
    torch.manual_seed(5)
    whole, saved = checkpoints(f, [0.01, 0.1], 9, optimizer="adam")
    torch.manual_seed(123)  # whatever the generator is now, the resumed run picks up its own
    again = descent.run_sweep(
        f, [0.01, 0.1], 9, optimizer="adam", state=descent.EngineState.from_bytes(saved[4])
    )
    assert_same(again, whole)


def test_ctrl_c_checkpoints_at_the_next_step_and_reraises():
    import signal

    saved = []

    def progress(done, total):
        if done == 10:
            signal.raise_signal(signal.SIGINT)

    kw = {"optimizer": lrlab.optim.sgd(momentum=0.9)}
    with pytest.raises(KeyboardInterrupt):
        descent.run_sweep(
            "rosenbrock", [1e-4, 1e-3], 40, progress=progress, checkpoint_every=1e9,
            on_checkpoint=lambda s: saved.append(s.to_bytes()), **kw,
        )  # fmt: skip
    assert len(saved) == 1
    state = descent.EngineState.from_bytes(saved[0])
    assert state.step == 10
    whole = descent.run_sweep("rosenbrock", [1e-4, 1e-3], 40, **kw)
    assert_same(descent.run_sweep("rosenbrock", [1e-4, 1e-3], 40, state=state, **kw), whole)


def test_merged_shards_equal_the_in_process_sweep():
    lrs = lrlab.lr_grid(1e-4, 2e-2, 10)
    rule = lrlab.optim.sgd(momentum=[0.0, 0.9])
    whole = lrlab.sweep("rosenbrock", lrs=lrs, steps=80, optimizer=rule, record="summary")
    parts = [
        lrlab.sweep("rosenbrock", lrs=part, steps=80, optimizer=rule, record="summary")
        for part in (lrs[:3], lrs[3:4], lrs[4:])
    ]
    merged = descent.merge(parts)
    assert_same(merged, whole)
    assert merged.floor == whole.floor and merged.to_dict() == whole.to_dict()
    with pytest.raises(ValueError, match="same"):
        descent.merge([parts[0], lrlab.sweep("rosenbrock", lrs=lrs[:2], steps=81, optimizer=rule)])


def test_store_or_ray_hand_the_sweep_to_the_records_module(monkeypatch):
    import sys
    import types

    seen = {}
    fake = types.ModuleType("lrlab.records")
    fake.recorded_sweep = lambda *args, **kw: seen.update(args=args, kw=kw) or "recorded"
    monkeypatch.setitem(sys.modules, "lrlab.records", fake)
    assert lrlab.sweep("parabola", [0.1], 5, store="sqlite://", record="summary") == "recorded"
    assert seen["kw"]["store"] == "sqlite://" and seen["kw"]["record"] == "summary"
    assert seen["kw"]["backend"] == "local" and seen["args"][2] == 5


def test_lanes_all_settled_in_one_local_minimum_are_stuck_not_good():
    # x**4 - 3x**2 + x from x = 1.5: every rate below 2/L settles in the local minimum near
    # x = 1.13 (cost -1.070), while the global minimum near x = -1.30 costs -3.514. The
    # best lane of such a sweep is no better than the others: judged against the known
    # minimum, as a single run is, each is stuck.
    sw = lrlab.sweep("x**4 - 3*x**2 + x", lrs=[0.005, 0.01, 0.02, 0.04], steps=400, start=[1.5])
    assert sw.floor == pytest.approx(-3.5139, abs=1e-4)
    assert [round(r.final_loss, 3) for r in sw.runs] == [-1.070] * 4
    assert [r.regime for r in sw.runs] == ["stuck"] * 4
    alone = lrlab.descend("x**4 - 3*x**2 + x", lr=0.04, steps=400, start=[1.5])
    assert alone.regime == sw.runs[-1].regime
