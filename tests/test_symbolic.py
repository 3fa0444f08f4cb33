"""Symbolic gradients (lrlab.symbolic) against torch autograd, the independent oracle.

* Every catalogue entry: the program of its formula against autograd through the entry's own
  torch function, at the start, the minima and random points of its box.
* Random valid expressions (hypothesis, the trees of test_expr_properties): cost and gradient
  are the torch evaluator's and autograd's to 1e-12.
* Points without a derivative (abs, relu, sqrt at 0, ties of min and max, clamps at their
  bound, powers at 0): what autograd gives.
* Each lane's numbers do not depend on how many lanes are computed together.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_expr_properties import POINTS, SETTINGS, draw_tree, spellings

from lrlab import analytic
from lrlab.expr import FUNCTIONS, parse
from lrlab.symbolic import CHUNK_LANES, program

RTOL = 1e-12


def autograd(fn, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The oracle: costs and per-lane gradients by torch.autograd through ``fn``."""
    Wt = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    values = fn(Wt)
    if not values.requires_grad:  # a cost that does not depend on W
        return values.detach().numpy(), np.zeros_like(W)
    (grads,) = torch.autograd.grad(values.sum(), Wt)
    return values.detach().numpy(), grads.numpy()


def assert_close(got: np.ndarray, want: np.ndarray, rtol: float = RTOL) -> None:
    """Equal to ``rtol`` relative to the lane's largest finite component, or absolutely where
    that is below 1 (at a minimum the gradient is the rounding of sums of terms of order 1);
    non-finite values must match exactly."""
    assert got.shape == want.shape
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite], want[~finite])
    size = np.abs(np.where(finite, want, 0.0))
    if size.ndim == 2:
        size = np.broadcast_to(size.max(axis=1, keepdims=True), want.shape)
    error = np.abs(got[finite] - want[finite])
    assert np.all(error <= rtol * np.maximum(size[finite], 1.0)), f"{got} != {want}"


def points(entry: analytic.Entry, n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(0)
    low, high = np.array(entry.box).T
    special = [entry.start, *(m.point for m in entry.minima)]
    return np.concatenate([np.array(special), rng.uniform(low, high, (n, entry.dim))])


@pytest.mark.parametrize("entry", analytic.entries(), ids=lambda e: e.name)
def test_every_catalogue_formula_gives_the_autograd_gradient_of_its_function(entry):
    e = parse(entry.formula)
    assert e.params == entry.params  # the formula's columns are the function's
    W = points(entry)
    values, grads = program(e)(W)
    want_values, want_grads = autograd(entry.fn, W)
    assert_close(values, want_values)
    assert_close(grads, want_grads)
    # At a minimum the gradient vanishes (to rounding of the listed point).
    at_min = program(e)(np.array([entry.minima[0].point]))[1]
    assert np.abs(at_min).max() < 1e-6 * max(1.0, entry.sharpness)


@pytest.mark.parametrize("options", ["parabola:L=4", "bowl:kappa=250"])
def test_catalogue_options_reach_the_formula(options):
    entry = analytic.get(options)
    W = points(entry, 20)
    assert_close(program(parse(entry.formula))(W)[1], autograd(entry.fn, W)[1])


@settings(SETTINGS, max_examples=200)
@given(st.data())
def test_random_expressions_cost_as_the_evaluator_and_differentiate_as_autograd(data):
    tree, _ = draw_tree(data)
    f = parse(data.draw(spellings(tree)))
    W = np.array([[p[name] for name in f.params] for p in POINTS])
    values, grads = program(f)(W)
    want_values, want_grads = autograd(f, W)
    assert_close(values, want_values)
    assert_close(grads, want_grads)


# (text, point) where a function has no derivative or a special one: autograd's answer.
KINKS = [
    ("abs(x)", [0.0]),
    ("abs(x - 1)", [1.0]),
    ("relu(x)", [0.0]),
    ("sqrt(x)", [0.0]),
    ("sqrt(x**2)", [0.0]),
    ("x**0.5", [0.0]),
    ("x**3", [0.0]),
    ("x**0", [0.0]),
    ("x**y", [0.0, 0.0]),
    ("x**y", [0.0, 2.0]),
    ("x**y", [-2.0, 3.0]),
    ("x**y", [-2.0, 0.5]),
    ("0**x", [0.0]),
    ("0**x", [-1.0]),
    ("2**x", [3.0]),
    ("max(x, y)", [1.0, 1.0]),
    ("min(x, y)", [1.0, 1.0]),
    ("max(x, y, x)", [2.0, 2.0]),
    ("max(x, 1)", [1.0]),
    ("min(x, 1)", [1.0]),
    ("max(x, 1, 2)", [2.0]),
    ("min(x, -1, y)", [-1.0, -1.0]),
    ("log(x)", [0.0]),
    ("log(x)", [-1.0]),
    ("1/x", [0.0]),
    ("x/y", [1.0, 0.0]),
    ("asin(x)", [1.0]),
    ("acos(x)", [-1.0]),
    ("softplus(x)", [20.0]),
    ("softplus(x)", [20.5]),
    ("softplus(x)", [-800.0]),
    ("sigmoid(x)", [-800.0]),
    ("exp(x)", [1000.0]),
    ("tan(x)", [float(np.pi / 2)]),
    ("x - x", [3.0]),
    ("x*0", [float("inf")]),
]


@pytest.mark.parametrize("text, point", KINKS, ids=[f"{t}@{p}" for t, p in KINKS])
def test_points_without_a_derivative_give_what_autograd_gives(text, point):
    f = parse(text)
    W = np.array([point])
    values, grads = program(f)(W)
    want_values, want_grads = autograd(f, W)
    assert_close(values, want_values)
    assert_close(grads, want_grads)


def test_every_function_is_covered():
    # A function added to the language without a derivative rule fails here, not in a sweep.
    for name in FUNCTIONS:
        text = f"{name}(x, 2*x)" if name in ("min", "max") else f"{name}(x)"
        program(parse(text))(np.array([[0.3]]))


@pytest.mark.parametrize(
    "text",
    [f"{name}(x/3 + y)" for name in FUNCTIONS if name not in ("min", "max")]
    + ["max(x, y)*min(x, 0.5) + x**y + 3**x + x**5.5 - y**-2 + x**7", "(x**2 + y - 11)**2"],
)
def test_a_lane_gets_the_same_bits_alone_or_among_many(text):
    f = program(parse(text))
    rng = np.random.default_rng(1)
    W = rng.uniform(-3.0, 3.0, (2 * CHUNK_LANES + 100, 2))  # three slices
    W[:10] = [[0.0, 0.0], [1.0, 1.0], [-1.0, 0.5], [0.5, 0.5], [2.0, -2.0]] * 2
    values, grads = f(W)
    for K in (1, 3, 17, 64, 1000, CHUNK_LANES + 1):
        v, g = f(W[:K])
        np.testing.assert_array_equal(v, values[:K])
        np.testing.assert_array_equal(g, grads[:K])
    for k in (0, 1, 7, 4999, CHUNK_LANES + 3, len(W) - 1):
        v, g = f(W[k : k + 1])
        np.testing.assert_array_equal(v, values[k : k + 1])
        np.testing.assert_array_equal(g, grads[k : k + 1])


def test_float32_lanes_stay_float32_and_the_input_is_not_changed():
    f = program(parse("x**2 + 3*y"))
    W = np.array([[1.0, 2.0]], dtype=np.float32)
    values, grads = f(W)
    assert values.dtype == grads.dtype == np.float32
    assert values.tolist() == [7.0] and grads.tolist() == [[2.0, 3.0]]
    values, _ = program(parse("y"))(W[:, 1:])
    values[0] = 5.0
    assert W.tolist() == [[1.0, 2.0]]  # a bare parameter's cost is a copy


def test_shared_subexpressions_are_computed_once():
    once = program(parse("(x - 1)**2"))
    twice = program(parse("(x - 1)**2 + sin(x - 1)"))
    # sin adds itself, the sum and their adjoints; x - 1 is not computed a second time.
    assert twice.size - once.size <= 5


def test_wrong_shapes_and_types_are_refused():
    f = program(parse("x*y"))
    with pytest.raises(ValueError, match="W.shape"):
        f(np.ones((3, 3)))
    with pytest.raises(TypeError, match="Expression"):
        program("x*y")
