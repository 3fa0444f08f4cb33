"""The global search of 1-D and 2-D costs, against closed forms and numpy brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lrlab
from lrlab import globalmin
from lrlab.globalmin import Minima, global_minima


def _poly_minima(coefs, lo, hi):
    """Closed form: the real roots of p' inside (lo, hi) where p'' > 0, as (x, p(x)), lowest first."""
    p = np.poly1d(coefs)
    roots = [r.real for r in p.deriv().roots if abs(r.imag) < 1e-9 and lo < r.real < hi]
    mins = [(x, p(x)) for x in roots if p.deriv(2)(x) > 0]
    return sorted(mins, key=lambda m: m[1])


def _torch_poly(coefs):
    def values(w):
        x = w[:, 0]
        out = torch.zeros_like(x)
        for c in coefs:
            out = out * x + c
        return out

    return values


@pytest.mark.parametrize("seed", range(8))
def test_quartics_and_sextics_match_the_roots_of_their_derivative(seed):
    rng = np.random.default_rng(seed)
    degree = 4 if seed % 2 else 6
    # p' with distinct roots (at least 0.3 apart) inside (-2.5, 2.5): p's stationary points;
    # its leading coefficient is positive, so p is bounded below and (-3, 3) holds its minima
    gaps = 0.3 + rng.uniform(0, 4.7 / (degree - 1) - 0.3, degree - 1)
    roots = -2.5 + np.cumsum(gaps)
    coefs = np.polyint(np.poly(roots) * degree)
    coefs[-1] = rng.normal()
    want = _poly_minima(coefs, -3.0, 3.0)
    got = global_minima(_torch_poly(coefs), [(-3.0, 3.0)])
    assert got[0].kind == "global"
    assert got[0].point[0] == pytest.approx(want[0][0], abs=1e-6)
    assert got[0].value == pytest.approx(want[0][1], rel=1e-9, abs=1e-9)
    # every basin is found, the local ones too
    assert len(got) == len(want)
    for m, (x, v) in zip(got, want, strict=True):
        assert m.point[0] == pytest.approx(x, abs=1e-6) and m.value == pytest.approx(v, abs=1e-9)


def test_a_separable_2d_cost_has_the_products_of_the_1d_minima():
    p = [1.0, 0.0, -3.0, 1.0, 0.0]  # x**4 - 3x**2 + x
    q = [1.0, 0.0, -2.0, 0.0, 0.0]  # y**4 - 2y**2: two equal minima at y = -1, 1
    px, qy = _poly_minima(p, -3, 3), _poly_minima(q, -3, 3)
    f = lrlab.objective("x**4 - 3*x**2 + x + y**4 - 2*y**2")
    got = sorted((round(m.point[0], 6), round(m.point[1], 6), m.kind) for m in f.minima)
    best = px[0][1] + qy[0][1]
    want = sorted(
        (round(x, 6), round(y, 6), "global" if abs(a + b - best) < 1e-9 else "local")
        for x, a in px
        for y, b in qy
    )
    assert got == want
    assert f.minimum == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize(
    ("text", "box"),
    [
        ("(4 - 2.1*x**2 + x**4/3)*x**2 + x*y + (-4 + 4*y**2)*y**2", [(-2.0, 2.0), (-1.5, 1.5)]),
        ("(x**2 + y - 11)**2 + (x + y**2 - 7)**2", [(-5.0, 5.0), (-5.0, 5.0)]),
        ("sin(3*x)*cos(2*y) + 0.1*(x**2 + y**2)", [(-3.0, 3.0), (-3.0, 3.0)]),
    ],
)
def test_non_separable_costs_match_numpy_brute_force(text, box):
    f = lrlab.objective(text)
    got = global_minima(lambda w: _values(f, w), box)
    # the oracle: numpy on a 1001 x 1001 grid, an upper bound on the true minimum
    xs = np.linspace(*box[0], 1001)
    ys = np.linspace(*box[1], 1001)
    xx, yy = np.meshgrid(xs, ys, indexing="ij")
    brute = _numpy_cost(text, xx, yy)
    step = max((box[0][1] - box[0][0]) / 1000, (box[1][1] - box[1][0]) / 1000)
    assert got[0].value <= brute.min() + 1e-12
    # within the grid's own error of the brute-force minimum (quadratic in the cell size)
    assert got[0].value >= brute.min() - 100 * step**2
    i, j = np.unravel_index(np.argmin(brute), brute.shape)
    assert (
        min(np.hypot(m.point[0] - xs[i], m.point[1] - ys[j]) for m in got if m.kind == "global")
        < 2 * step
    )


def _values(f, w):
    return f.value_and_grad(w)[0]


def _numpy_cost(text, x, y):
    table = {
        "(4 - 2.1*x**2 + x**4/3)*x**2 + x*y + (-4 + 4*y**2)*y**2": lambda: (
            (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2
        ),
        "(x**2 + y - 11)**2 + (x + y**2 - 7)**2": lambda: (
            (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2
        ),
        "sin(3*x)*cos(2*y) + 0.1*(x**2 + y**2)": lambda: (
            np.sin(3 * x) * np.cos(2 * y) + 0.1 * (x**2 + y**2)
        ),
    }
    return table[text]()


@pytest.mark.parametrize("text", ["x**3", "log(x)", "sqrt(x) - x", "x + y"])
def test_costs_that_fall_past_the_box_have_no_minimum(text):
    f = lrlab.objective(text)
    assert tuple(f.minima) == () and f.minimum is None


def test_the_search_runs_once_and_only_when_asked(monkeypatch):
    calls = []
    real = globalmin.global_minima

    def counting(values, box, **kw):
        calls.append(box)
        return real(values, box, **kw)

    monkeypatch.setattr(globalmin, "global_minima", counting)
    f = lrlab.objective("x**4 - 3*x**2 + x")
    assert calls == []  # building the objective does not search
    assert f.minimum == pytest.approx(_poly_minima([1, 0, -3, 1, 0], -3, 3)[0][1], abs=1e-12)
    assert f.minima[1].kind == "local" and len(calls) == 1
    f.describe()
    assert len(calls) == 1
    assert tuple(lrlab.objective("x**2 + y**2 + z**2").minima) == ()  # three variables: no search
    assert len(calls) == 1


def test_a_run_in_the_local_basin_of_a_typed_cost_is_stuck_and_the_other_good():
    local, glob = (m[0] for m in sorted(_poly_minima([1, 0, -3, 1, 0], -3, 3), key=lambda m: -m[0]))
    run = lrlab.descend("x**4 - 3*x**2 + x", lr=0.01, steps=200)  # from x = 2
    assert run.params[-1][0] == pytest.approx(local, abs=1e-6)  # it settled in the local basin
    assert run.regime == "stuck" and "larger" in run.diagnosis.advice
    other = lrlab.descend("x**4 - 3*x**2 + x", lr=0.01, steps=200, start=[-2.0])
    assert other.params[-1][0] == pytest.approx(glob, abs=1e-6)
    assert other.regime == "good"


def test_minima_sequence_behaves_like_the_tuple_it_stands_for():
    m = Minima(lambda w: (w[:, 0] - 0.25) ** 2 + (w[:, 1] + 1) ** 2, [(-3, 3), (-3, 3)])
    assert len(m) == 1 and m == (m[0],) and list(m) == [m[0]]
    assert m[0].point == pytest.approx((0.25, -1.0), abs=1e-9)


@pytest.mark.parametrize(
    ("box", "exc"),
    [
        ([(1.0, 0.0)], ValueError),
        ([(0, 1)] * 3, ValueError),
        ([(0, float("inf"))], ValueError),
        (3, TypeError),
    ],
)
def test_bad_boxes_are_refused(box, exc):
    with pytest.raises(exc, match="box"):
        global_minima(lambda w: w.sum(1), box)
