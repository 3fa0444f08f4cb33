"""Sharpness and top Hessian eigenvalues against an independent oracle: numpy's eigenvalues of
the exact (dense, autograd) Hessian."""

import math
import warnings

import numpy as np
import pytest
import torch
from torch.autograd.functional import hessian

import lrlab
from lrlab import datasets
from lrlab.analytic import entries, get
from lrlab.curvature import _lanczos, hessian_eigenvalues, sharpness


def exact_eigenvalues(f, at) -> np.ndarray:
    """All Hessian eigenvalues, largest first, from the dense float64 Hessian of ``f.cost``."""
    w = f.point(at)
    H = hessian(f.cost, w).detach().double().numpy()
    return np.linalg.eigvalsh((H + H.T) / 2)[::-1]


def points(e):
    """The start, the global minimum and a seeded random point of the plotting box."""
    rng = np.random.default_rng(len(e.name))
    inside = [rng.uniform(lo, hi) for lo, hi in e.box]
    return [e.start, e.minima[0].point, inside]


CATALOGUE = [*entries(), get("bowl:kappa=1000"), get("parabola:L=0.5")]


@pytest.mark.parametrize("e", CATALOGUE, ids=[e.name for e in CATALOGUE])
def test_catalogue_sharpness_matches_dense_hessian(e):
    f = lrlab.objective(e.name)
    for at in points(e):
        exact = exact_eigenvalues(f, at)
        got = sharpness(f, at=at)
        assert got == pytest.approx(exact[0], rel=1e-9, abs=1e-9 * max(1.0, abs(exact).max()))


@pytest.mark.parametrize("e", CATALOGUE, ids=[e.name for e in CATALOGUE])
def test_sharpness_at_the_minimum_is_the_catalogue_value(e):
    assert sharpness(e.name, at=e.minima[0].point) == pytest.approx(e.sharpness, rel=1e-9)


# A non-quadratic cost in more dimensions than Lanczos runs iterations for at the start, so
# the answer comes from a real Krylov subspace, not a complete basis.
EXPR = (
    "a**4 + b**2*c + (c - d)**2 * 3 + e**2 * f**2 + 5*cos(a + f) + (b + c + d + e)**2"
    " + 0.1*g**2 + 7*h**2 + a*h"
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_expression_top_k_at_random_points(seed):
    f = lrlab.objective(EXPR)
    at = np.random.default_rng(seed).normal(size=f.dim)
    exact = exact_eigenvalues(f, at)
    got = hessian_eigenvalues(f, at=at, k=3, tol=1e-10)
    np.testing.assert_allclose(got, exact[:3], rtol=1e-6, atol=1e-8)


def test_lanczos_converges_before_the_basis_is_complete():
    # A diagonal operator of dimension 2000 with a clear top gap: far fewer than 2000 products.
    d = torch.cat([torch.tensor([100.0, 90.0]), torch.linspace(0, 50, 1998, dtype=torch.float64)])
    calls = []

    def matvec(v):
        calls.append(1)
        return d * v

    r = _lanczos(matvec, 2000, 2, tol=1e-8, max_iter=500, gen=torch.Generator().manual_seed(0))
    assert r.converged and len(calls) < 80
    np.testing.assert_allclose(r.values, [100.0, 90.0], rtol=1e-10)
    # The Ritz vector of the top value is the first coordinate axis, up to sign.
    assert abs(float(r.vector[0])) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("name", ["diabetes-linear", "cancer-logistic"])
def test_dataset_problems_match_dense_hessian(name):
    f = lrlab.objective(name)
    assert f.dtype == torch.float32
    rng = np.random.default_rng(0)
    for at in [f.start, f.start + torch.as_tensor(rng.normal(size=f.dim), dtype=f.dtype)]:
        exact = exact_eigenvalues(f, at)
        np.testing.assert_allclose(hessian_eigenvalues(f, at=at, k=3), exact[:3], rtol=1e-2)
        # Float32 products, float64 Lanczos: far better than the 1% asked for.
        assert sharpness(f, at=at) == pytest.approx(exact[0], rel=1e-4)


def test_one_mini_batch_has_its_own_curvature():
    f = lrlab.objective("cancer-logistic:batch_size=32")
    batch = next(f.batches(1))
    H = hessian(lambda w: f.cost(w, batch), f.start).double().numpy()
    exact = np.linalg.eigvalsh((H + H.T) / 2)[-1]
    assert sharpness(f, batch=batch) == pytest.approx(exact, rel=1e-4)
    assert sharpness(f, batch=batch) != pytest.approx(sharpness(f), rel=1e-3)


def test_user_model_objective():
    torch.manual_seed(0)
    X, y = torch.randn(64, 5, dtype=torch.float64), torch.randn(64, 1, dtype=torch.float64)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    f = lrlab.objective(model.double(), torch.nn.MSELoss(), (X, y))
    before = [p.detach().clone() for p in model.parameters()]
    exact = exact_eigenvalues(f, None)
    np.testing.assert_allclose(hessian_eigenvalues(f, k=2, tol=1e-10), exact[:2], rtol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_repeated_eigenvalues_keep_their_multiplicity():
    np.testing.assert_allclose(hessian_eigenvalues("x**2 + y**2 + z**2", k=3), [2, 2, 2])
    np.testing.assert_allclose(hessian_eigenvalues("x**2 + y**2 + 3*z**2", k=3), [6, 2, 2])


def test_largest_algebraic_not_largest_magnitude():
    # At the hilltop of x**4 - 4x**2 + x the curvature is negative; at a saddle the positive
    # eigenvalue wins over a larger negative one.
    x = np.sort(np.roots([4.0, 0.0, -8.0, 1.0]).real)[1]  # the hilltop, between the wells
    assert sharpness("hill", at=[x]) == pytest.approx(12 * x**2 - 8, rel=1e-12)
    assert sharpness("hill", at=[x]) < 0 < sharpness("hill", at=get("hill").minima[0].point)
    assert sharpness("x**2 - 10*y**2", at=[0.0, 0.0]) == pytest.approx(2.0)


def test_k_beyond_dim_gives_every_eigenvalue():
    np.testing.assert_allclose(hessian_eigenvalues("bowl:kappa=10", k=5), [10.0, 1.0])
    assert hessian_eigenvalues("parabola").shape == (1,)


def test_a_linear_cost_has_zero_curvature():
    np.testing.assert_allclose(hessian_eigenvalues("3*x - y", k=2), [0.0, 0.0])


def test_seeded_starts_are_reproducible_and_each_is_right():
    f = lrlab.objective("cancer-logistic")
    exact = exact_eigenvalues(f, None)[0]
    a, b = sharpness(f, tol=1e-3, seed=3), sharpness(f, tol=1e-3, seed=4)
    assert a == sharpness(f, tol=1e-3, seed=3)  # the same seed, the same bits
    assert a == pytest.approx(exact, rel=1e-3) and b == pytest.approx(exact, rel=1e-3)


def test_running_out_of_iterations_warns():
    with pytest.warns(RuntimeWarning, match="max_iter=2"):
        value = sharpness("diabetes-linear", max_iter=2)
    assert math.isfinite(value)


def test_no_warning_when_converged():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sharpness("cancer-logistic")


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"k": 0}, ValueError, "k=0"),
        ({"k": 1.5}, TypeError, "k=1.5"),
        ({"tol": 0}, ValueError, "tol=0"),
        ({"tol": 1.0}, ValueError, "tol=1.0"),
        ({"tol": "small"}, TypeError, "tol"),
        ({"max_iter": 0}, ValueError, "max_iter=0"),
        ({"at": [1.0, 2.0, 3.0]}, ValueError, "expected 2 numbers"),
        ({"at": [float("nan"), 0.0]}, ValueError, "finite"),
        ({"seed": -1}, ValueError, "seed=-1"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        hessian_eigenvalues("bowl", **kwargs)


def test_bad_objective():
    with pytest.raises(TypeError):
        sharpness(42)
    with pytest.raises(ValueError, match="unknown objective"):
        sharpness("rosenbrok")


def test_non_finite_cost_is_an_error():
    with pytest.raises(ValueError, match="not finite"):
        sharpness("log(x)", at=[-1.0])


def test_descend_tracks_sharpness_every_k_steps():
    f = lrlab.objective("cancer-logistic")
    run = lrlab.descend(f, lr=0.5, steps=20, track_sharpness=10, keep_params=True)
    assert run.sharpness.shape == (3, 2)
    assert run.sharpness[:, 0].tolist() == [0, 10, 20]
    # Each tracked value is the top eigenvalue of the dense Hessian where the run was then.
    for step, tracked in run.sharpness:
        exact = exact_eigenvalues(f, run.params[int(step)])[0]
        assert tracked == pytest.approx(exact, rel=1e-4)


def _digits_mse_network(seed: int):
    """A 64-32-10 tanh network fitting one-hot digits by mean squared error, full batch."""
    _, _, (X, y), _ = datasets.build("digits-mlp")
    X, Y = X[:500], torch.nn.functional.one_hot(y[:500], 10).float()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
    return lrlab.objective(model, torch.nn.MSELoss(), (X, Y))


def test_edge_of_stability_full_batch_network():
    # Cohen et al. (2021): full-batch gradient descent raises the sharpness until it reaches
    # 2/lr, then hovers there while the cost keeps falling over long windows, though it rises
    # on many single steps. Seeds 0-3 all settle within 5-12% of 2/lr; the bounds are loose.
    lr = 2.0
    run = lrlab.descend(_digits_mse_network(0), lr=lr, steps=600, track_sharpness=50)
    steps, S = run.sharpness[:, 0], run.sharpness[:, 1] * lr / 2  # in units of 2/lr
    assert run.diverged_at is None
    assert S[0] < 0.92  # starts stable: below the edge
    late = S[steps >= 300]
    assert np.all((late > 0.85) & (late < 1.25))
    assert int((np.diff(run.losses) > 0).sum()) > 20  # non-monotone, step to step
    assert run.losses[-1] < 0.1 * run.losses[0]  # yet it trains


def test_small_lr_stays_below_the_edge():
    lr = 0.5
    run = lrlab.descend(_digits_mse_network(0), lr=lr, steps=300, track_sharpness=100)
    assert np.all(run.sharpness[:, 1] < 0.5 * 2 / lr)
    assert np.all(np.diff(run.losses) <= 1e-6)
