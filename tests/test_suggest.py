"""lrlab.suggest against brute force: closed forms on quadratics, dense learning-rate grids
elsewhere, and a user's model that must come back untouched."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.autograd.functional import hessian

import lrlab


def progress(f, steps, lr, grid):
    """Normalised progress ``(f0 - f(lr)) / (f0 - f(lr*))`` against the best ``lr*`` of
    ``grid``, and that ``lr*``."""
    f = lrlab.objective(f)
    f0 = f.loss(f.start)
    dense = lrlab.sweep(f, lrs=grid, steps=steps, keep_params=False).final_losses
    dense = np.where(np.isfinite(dense), dense, np.inf)
    mine = float(lrlab.sweep(f, lrs=[lr], steps=steps).final_losses[0])
    return (f0 - mine) / (f0 - dense.min()), float(grid[int(np.argmin(dense))])


# ----------------------------------------------------------------------------- quadratics

QUADRATICS = [  # (objective, L, mu)
    ("bowl:kappa=1", 1.0, 1.0),
    ("bowl:kappa=10", 10.0, 1.0),
    ("bowl:kappa=100", 100.0, 1.0),
    ("bowl:kappa=1000", 1000.0, 1.0),
    ("parabola:L=4", 4.0, 4.0),
    ("2*x**2 + 5*y**2 + 10*z**2 + 2*x*y", None, None),
]


@pytest.mark.parametrize("spec, L, mu", QUADRATICS, ids=[q[0] for q in QUADRATICS])
@pytest.mark.parametrize("steps", [30, 200])
def test_quadratics_near_optimal_and_below_two_over_L(spec, L, mu, steps):
    f = lrlab.objective(spec)
    if L is None:
        H = hessian(f.cost, f.start).numpy()
        eig = np.linalg.eigvalsh(H)
        L, mu = float(eig[-1]), float(eig[0])
    s = lrlab.suggest(f, steps=steps)
    optimal = 2 / (L + mu)
    grid = lrlab.lr_grid(1e-3 / L, 3 / L, 300)
    np_, brute = progress(f, steps, s.lr, grid)
    assert s.lr < 2 / L
    assert (optimal / 2 <= s.lr <= 2 * optimal) or (brute / 2 <= s.lr <= 2 * brute)
    assert np_ >= 0.99
    # On a quadratic the curvature bound is exact, and the sweep does not contradict it.
    assert s.methods["curvature"]["sharpness"] == pytest.approx(L, rel=1e-6)
    assert s.lr_max == pytest.approx(2 / L, rel=1e-6)
    assert s.methods["curvature"]["lr"] == pytest.approx(1 / L, rel=1e-6)


def test_a_best_at_the_edge_steps_back():
    # 2/(L+mu) = 1.98/L: the best of the sweep is within 1.25x of divergence.
    s = lrlab.suggest("bowl:kappa=100", steps=200)
    sweep = s.methods["sweep"]
    assert sweep["best_lr"] * 1.25 > sweep["first_failing_lr"]
    assert s.lr <= sweep["first_failing_lr"] / 1.25 * (1 + 1e-9)
    assert s.lr < sweep["best_lr"]
    assert "edge" in s.explanation


# ----------------------------------------------------------------------------- brute force

CATALOGUE = ["rosenbrock", "hill", "six-hump-camel", "beale", "himmelblau"]


@pytest.mark.parametrize("name", CATALOGUE)
def test_catalogue_progress_against_dense_grid(name):
    f = lrlab.objective(name)
    L = lrlab.sharpness(f)
    s = lrlab.suggest(f, steps=200)
    np_, _ = progress(f, 200, s.lr, lrlab.lr_grid(1e-3 / L, 1e2 / L, 300))
    assert np_ >= 0.9
    assert s.lr < s.lr_max


DATASETS = ["diabetes-linear", "cancer-logistic", "cancer-logistic:batch_size=32"]


@pytest.mark.parametrize("name", DATASETS)
def test_dataset_progress_against_dense_grid(name):
    f = lrlab.objective(name)
    s = lrlab.suggest(f)
    assert s.steps == 100
    np_, _ = progress(f, 100, s.lr, lrlab.lr_grid(1e-3, 1e3, 60))
    assert np_ >= 0.9
    assert s.lr < s.lr_max
    rt = s.methods["range_test"]
    assert rt["lr"] is not None and {"valley", "steepest", "min_div_10"} <= set(rt["suggestions"])


def test_mini_batch_network_against_grid():
    f = lrlab.objective("digits-mlp:batch_size=64")
    s = lrlab.suggest(f, steps=60)
    np_, _ = progress(f, 60, s.lr, lrlab.lr_grid(1e-2, 1e2, 40))
    assert np_ >= 0.9


# ----------------------------------------------------------------------------- the result


def test_json_record():
    s = lrlab.suggest("cancer-logistic", steps=50)
    d = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert {"lr", "lr_max", "methods", "agree", "steps", "explanation"} <= set(d)
    assert set(d["methods"]) == {"curvature", "range_test", "sweep"}
    for m in d["methods"].values():
        assert "lr" in m
    assert d["lr"] == s.lr and d["steps"] == 50 and d["methods"]["sweep"]["lr"] == s.lr
    assert isinstance(d["agree"], bool) and d["explanation"]


def test_analytic_objectives_have_no_range_test():
    s = lrlab.suggest("rosenbrock", steps=50)
    assert set(s.methods) == {"curvature", "sweep"}
    assert isinstance(s, lrlab.Suggestion)


def test_agreement():
    s = lrlab.suggest("bowl:kappa=10", steps=100)
    assert s.agree and "agree" in s.explanation
    # Logistic regression's best step for 100 steps is far above 1/L (the curvature falls as
    # the fit improves): the methods disagree, and the explanation says which one decides.
    s = lrlab.suggest("cancer-logistic", steps=100)
    assert not s.agree and "sweep measured the budget" in s.explanation
    lrs = [m["lr"] for m in s.methods.values() if m["lr"]]
    assert max(lrs) / min(lrs) > 3


def test_start_and_steps_are_used():
    s = lrlab.suggest("bowl:kappa=10", steps=20, start=[1.0, 0.0])
    # From (1, 0) only the flat direction (curvature 1) matters, yet the ceiling is still
    # set by the steep one the sharpness sees.
    assert s.steps == 20
    assert s.methods["sweep"]["start_loss"] == pytest.approx(0.5)
    assert s.lr < s.lr_max


def test_progress_callback():
    seen = []
    lrlab.suggest("cancer-logistic", steps=20, progress=lambda d, total: seen.append((d, total)))
    assert seen and seen[-1][0] == seen[-1][1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


# ----------------------------------------------------------------------------- user models


def test_users_model_is_unchanged():
    torch.manual_seed(0)
    X, y = torch.randn(128, 6), torch.randint(0, 3, (128,))
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 3))
    model.eval()  # batch norm with running statistics must be frozen for lanes
    model[0].weight.grad = torch.ones_like(model[0].weight)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grad = model[0].weight.grad.clone()
    rng = torch.get_rng_state()
    f = lrlab.objective(model, nn.CrossEntropyLoss(), (X, y), batch_size=32)
    s = lrlab.suggest(f, steps=30)
    assert s.lr < s.lr_max and "range_test" in s.methods
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert torch.equal(model[0].weight.grad, grad)
    assert not model.training
    assert all(p.requires_grad for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)


def test_public_names_stay_functions():
    # Running suggest must not rebind lrlab.range_test (a function) to its module of the same
    # name; a fresh interpreter, so that no other test has imported anything first.
    code = (
        "import lrlab; lrlab.suggest('diabetes-linear', steps=5); "
        "assert callable(lrlab.range_test) and callable(lrlab.suggest)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"steps": 0}, ValueError, "steps=0"),
        ({"steps": 1.5}, TypeError, "steps=1.5"),
        ({"steps": "100"}, TypeError, "steps"),
        ({"steps": 10**9}, ValueError, "steps"),
        ({"seed": -1}, ValueError, "seed=-1"),
        ({"progress": 5}, TypeError, "progress"),
        ({"start": [1.0, 2.0, 3.0]}, ValueError, "expected 2 numbers"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        lrlab.suggest("bowl", **kwargs)


def test_bad_objectives():
    with pytest.raises(TypeError):
        lrlab.suggest(3.14)
    with pytest.raises(ValueError, match="unknown objective"):
        lrlab.suggest("rosenbrok")
    with pytest.raises(ValueError, match="not finite"):
        lrlab.suggest("log(x)", start=[-1.0])
    with pytest.raises(ValueError, match="stationary point"):
        lrlab.suggest("x**2 + y**2", start=[0.0, 0.0])
    with pytest.raises(ValueError, match="without bound"):
        lrlab.suggest("-x**2")


def test_explanation_is_plain_words():
    s = lrlab.suggest("hill", steps=200)
    text = s.explanation
    for word in ("Curvature", "Sweep", "Recommended"):
        assert word in text
    assert math.isfinite(s.lr) and f"{s.lr:.3g}" in text
