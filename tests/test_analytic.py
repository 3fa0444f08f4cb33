"""Every catalogue entry runs through the same checks against independent oracles.

The oracles: numpy eigenvalues of the autograd Hessian for minima and sharpness, central finite
differences for gradients, the formula text evaluated with numpy for ``fn``, a dense grid for
"nothing is lower than the global minimum", and closed forms for gradient descent on quadratics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.autograd.functional import hessian

from lrlab.analytic import Entry, Minimum, entries, get, names

# The defaults plus non-default options, so options are checked as thoroughly as defaults.
ENTRIES = entries() + [get("parabola:L=4"), get("bowl:kappa=100"), get("parabola:L=0.5")]
each_entry = pytest.mark.parametrize("e", ENTRIES, ids=[e.name for e in ENTRIES])


def _tensor(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _value(e: Entry, point) -> float:
    return float(e.fn(_tensor(point)))


def _grad(e: Entry, W) -> np.ndarray:
    W = _tensor(W).clone().requires_grad_(True)
    (g,) = torch.autograd.grad(e.fn(W).sum(), W)
    return g.numpy()


def _hessian(e: Entry, point) -> np.ndarray:
    return hessian(e.fn, _tensor(point)).numpy()


def _in_box(e: Entry, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low, high = np.array(e.box).T
    return rng.uniform(low, high, size=(n, e.dim))


def _formula_numpy(e: Entry, X: np.ndarray) -> np.ndarray:
    # Evaluates the catalogue's own formula text (trusted, fixed in the library) with numpy,
    # so `fn` is checked against a second, independent reading of the formula.
    scope = {"__builtins__": {}, "cos": np.cos, "sin": np.sin, "exp": np.exp, "pi": np.pi}
    scope.update({name: X[..., i] for i, name in enumerate(e.params)})
    return np.asarray(eval(e.formula, scope), dtype=np.float64) * np.ones(X.shape[:-1])


def _descend(e: Entry, start, lrs, steps: int) -> np.ndarray:
    """Plain gradient descent, one lane per learning rate; returns the final points (K, d)."""
    lrs = _tensor(lrs)[:, None]
    W = _tensor(start).repeat(len(lrs), 1)
    for _ in range(steps):
        W = W - lrs * torch.as_tensor(_grad(e, W))
    return W.numpy()


# ----------------------------------------------------------------------------- conformance


@each_entry
def test_listed_minima_have_listed_values_and_zero_gradient(e):
    for m in e.minima:
        assert _value(e, m.point) == pytest.approx(m.value, abs=1e-10)
        assert np.linalg.norm(_grad(e, m.point)) < 1e-9, m


@each_entry
def test_listed_minima_are_strict_local_minima(e):
    rng = np.random.default_rng(0)
    for m in e.minima:
        assert np.linalg.eigvalsh(_hessian(e, m.point)).min() > 0, m
        directions = rng.normal(size=(64, e.dim))
        nearby = (
            np.asarray(m.point) + 1e-3 * directions / np.linalg.norm(directions, axis=1)[:, None]
        )
        assert (e.fn(_tensor(nearby)).numpy() > m.value).all(), m


@each_entry
def test_global_minimum_is_first_and_lowest(e):
    kinds = [m.kind for m in e.minima]
    assert kinds[0] == "global"
    assert set(kinds) <= {"global", "local"}
    assert kinds == sorted(kinds), "global minima come before local ones"
    for m in e.minima:
        if m.kind == "global":
            assert m.value == pytest.approx(e.minimum, abs=1e-12)
        else:
            assert m.value > e.minimum + 1e-6
    assert e.minimum == e.minima[0].value


@each_entry
def test_nothing_on_a_dense_grid_is_below_the_global_minimum(e):
    axes = [np.linspace(low, high, 401 if e.dim == 2 else 20001) for low, high in e.box]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    costs = e.fn(_tensor(grid)).numpy()
    assert costs.min() >= e.minimum - 1e-9


@each_entry
def test_gradient_matches_central_differences(e):
    X = _in_box(e, 25, seed=1)
    h = 1e-6
    fd = np.empty_like(X)
    for i in range(e.dim):
        step = np.zeros(e.dim)
        step[i] = h
        fd[:, i] = (e.fn(_tensor(X + step)).numpy() - e.fn(_tensor(X - step)).numpy()) / (2 * h)
    g = _grad(e, X)
    scale = 1 + np.abs(g).max(axis=1, keepdims=True)
    np.testing.assert_allclose(g / scale, fd / scale, atol=1e-6)


@each_entry
def test_sharpness_is_top_hessian_eigenvalue_at_the_global_minimum(e):
    top = np.linalg.eigvalsh(_hessian(e, e.minima[0].point)).max()
    assert e.sharpness == pytest.approx(top, rel=1e-8)


@each_entry
def test_formula_text_computes_the_same_cost_as_fn(e):
    X = _in_box(e, 200, seed=2)
    got = e.fn(_tensor(X)).numpy()
    want = _formula_numpy(e, X)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@each_entry
def test_fn_is_elementwise_over_leading_dims(e):
    X = _in_box(e, 12, seed=3)
    lanes = e.fn(_tensor(X))
    assert lanes.shape == (12,) and lanes.dtype == torch.float64
    one_by_one = torch.stack([e.fn(_tensor(x)) for x in X])
    assert e.fn(_tensor(X[0])).shape == ()
    torch.testing.assert_close(lanes, one_by_one, rtol=0, atol=0)
    grid = e.fn(_tensor(X.reshape(3, 4, e.dim)))
    assert grid.shape == (3, 4)
    torch.testing.assert_close(grid.reshape(12), lanes, rtol=0, atol=0)


@each_entry
def test_fn_rejects_the_wrong_number_of_coordinates(e):
    with pytest.raises(ValueError, match="last axis of length"):
        e.fn(torch.zeros(5, e.dim + 1, dtype=torch.float64))


@each_entry
def test_start_is_inside_the_box_and_not_stationary(e):
    def inside(point):
        return all(low <= v <= high for v, (low, high) in zip(point, e.box, strict=True))

    assert inside(e.start)
    assert all(inside(m.point) for m in e.minima)
    # A nonzero gradient rules out starting at a minimum, a maximum or a saddle.
    assert np.linalg.norm(_grad(e, e.start)) > 1e-2
    assert _value(e, e.start) > e.minimum


@each_entry
def test_metadata_is_consistent(e):
    assert e.params in {("x",), ("x", "y")}
    assert len(e.start) == len(e.box) == e.dim
    assert all(len(m.point) == e.dim for m in e.minima)
    assert all(low < high for low, high in e.box)
    assert e.sharpness > 0 and math.isfinite(e.sharpness)
    assert get(e.name).name == e.name, "the canonical name rebuilds the same entry"
    assert e.name.split(":")[0] in names()
    assert e.description.endswith(".") and e.description.count(". ") == 0
    assert all(isinstance(m, Minimum) for m in e.minima)


# ----------------------------------------------------------------------------- names and get


def test_names_are_sorted_and_cover_the_catalogue():
    assert names() == sorted(names())
    assert [e.name.split(":")[0] for e in entries()] == names()
    assert set(names()) >= {
        "parabola",
        "bowl",
        "hill",
        "rosenbrock",
        "beale",
        "himmelblau",
        "booth",
        "matyas",
        "rastrigin",
        "three-hump-camel",
        "six-hump-camel",
    }


def test_get_is_forgiving_about_case_and_spaces():
    assert get(" Bowl : kappa = 100 ").name == "bowl:kappa=100"
    assert get("parabola").name == "parabola:L=2"
    assert get("parabola:").name == "parabola:L=2"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("rosenbrok", "unknown objective 'rosenbrok'; did you mean rosenbrock?"),
        ("six-hump", "did you mean six-hump-camel"),
        ("zzzz", "choose one of beale, booth"),
        ("parabola:kappa=3", "parabola has no option 'kappa'; it takes L"),
        ("bowl:Kappa=3", "did you mean kappa?"),
        ("rosenbrock:a=1", "rosenbrock takes no options"),
        ("parabola:L", "write key=value, e.g. parabola:L=2"),
        ("parabola:L=1,L=2", "given twice"),
        ("parabola:L=abc", "L='abc' is invalid: L .* must be a number with 0 < L <= 1000000"),
        ("parabola:L=0", "0 < L"),
        ("parabola:L=-2", "0 < L"),
        ("parabola:L=1e9", "L <= 1000000"),
        ("parabola:L=inf", "must be a number"),
        ("bowl:kappa=nan", "must be a number"),
        ("bowl:kappa=0.5", "1 <= kappa"),
    ],
)
def test_get_explains_bad_names_and_options(name, message):
    with pytest.raises(ValueError, match=message):
        get(name)


def test_get_rejects_a_non_string():
    with pytest.raises(TypeError, match="name=3 is invalid"):
        get(3)


def test_options_change_the_facts():
    p = get("parabola:L=4")
    assert (p.name, p.sharpness, p.formula) == ("parabola:L=4", 4.0, "2*x**2")
    assert _value(p, [1.5]) == pytest.approx(4 / 2 * 1.5**2)
    b = get("bowl:kappa=100")
    assert (b.name, b.sharpness) == ("bowl:kappa=100", 100.0)
    assert _value(b, [1.0, 1.0]) == pytest.approx(0.5 * (1 + 100))
    assert dict(b.options) == {"kappa": 100.0}
    assert get("bowl").sharpness == 10.0


# ----------------------------------------------------------------------------- learning rates


@pytest.mark.parametrize(
    "name", ["parabola", "parabola:L=4", "bowl", "bowl:kappa=100", "booth", "matyas"]
)
def test_descent_with_lr_one_over_sharpness_follows_the_closed_form(name):
    e = get(name)
    target = np.asarray(e.minima[0].point)
    H = _hessian(e, target)  # constant: these costs are quadratic
    lr = 1 / e.sharpness
    w0 = target + 0.5
    steps = 50
    (got,) = _descend(e, w0, [lr], steps)
    # On a quadratic, w_n - w* = (I - lr H)^n (w_0 - w*).
    want = target + np.linalg.matrix_power(np.eye(e.dim) - lr * H, steps) @ (w0 - target)
    np.testing.assert_allclose(got, want, atol=1e-12)
    # The slowest direction shrinks by 1 - 1/condition per step: 20*condition steps leave e^-20.
    eig = np.linalg.eigvalsh(H)
    (far,) = _descend(e, w0, [lr], math.ceil(20 * eig.max() / eig.min()))
    np.testing.assert_allclose(far, target, atol=1e-6)


@pytest.mark.parametrize("L", [0.5, 2.0, 4.0])
def test_parabola_diverges_exactly_above_two_over_sharpness(L):
    e = get(f"parabola:L={L}")
    below, above = _descend(e, e.start, [1.99 / L, 2.01 / L], 2000)
    assert abs(below[0]) < 1e-6
    assert abs(above[0]) > 1e6


def _nearest(e: Entry, points: np.ndarray, tol: float) -> list[int | None]:
    """Index of the listed minimum each point has converged to, or None."""
    minima = np.array([m.point for m in e.minima])
    d = np.linalg.norm(points[:, None, :] - minima[None], axis=-1)
    return [int(i) if d[k, i] < tol else None for k, i in enumerate(d.argmin(axis=1))]


def test_hill_small_lr_stays_local_larger_lr_hops_to_the_global_minimum():
    e = get("hill")
    lrs = [0.005, 0.01, 0.05, 0.075, 0.085, 0.1, 0.105]
    ends = _nearest(e, _descend(e, e.start, lrs, 200), tol=1e-6)
    assert ends == [1, 1, 1, 1, 0, 0, 0]  # minima[0] is global, minima[1] local
    # Tiny steps have not arrived after 200 steps, but they are heading for the local well.
    (slow,) = _descend(e, e.start, [0.001], 200)
    assert slow[0] > e.minima[1].point[0]


@pytest.mark.parametrize(
    ("name", "small", "large", "steps"),
    [
        (
            "himmelblau",
            (0.005, (-3.7793102533777469, -3.2831859912861694)),
            (0.02, (-2.80511808695, 3.13131251825)),
            1000,
        ),
        ("three-hump-camel", (0.05, (-1.74755234583, 0.873776172915)), (0.3, (0.0, 0.0)), 1000),
        (
            "six-hump-camel",
            (0.03, (-1.60710475292, -0.568651454884)),
            (0.1, (0.0898420131, -0.712656403)),
            1000,
        ),
    ],
)
def test_descriptions_learning_rate_claims_hold(name, small, large, steps):
    e = get(name)
    (lr_small, want_small), (lr_large, want_large) = small, large
    got_small, got_large = _descend(e, e.start, [lr_small, lr_large], steps)
    np.testing.assert_allclose(got_small, want_small, atol=1e-8)
    np.testing.assert_allclose(got_large, want_large, atol=1e-8)
