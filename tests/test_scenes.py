"""The scenes: the runs each picture needs, checked against closed forms.

On ``L/2 x²`` gradient descent is ``x[n] = (1 - alpha*L)^n x[0]``, the cost falls by
``(1 - alpha*L)^2`` per step, and a rate diverges exactly when ``alpha*L > 2``: every default
rate and every count below is checked against that, not against the code.
"""

import math

import numpy as np
import pytest
import torch

import lrlab
from lrlab import scenes

L = 4.0
PARABOLA = f"parabola:L={L:g}"  # C = 2 x², from x = 1


def closed_form_path(lr, steps, x0=1.0, curvature=L):
    return x0 * (1 - lr * curvature) ** np.arange(steps + 1)


def test_three_panels_default_rates_are_multiples_of_one_over_l():
    s = scenes.three_panels(PARABOLA, steps=8)
    assert s.sharpness == L
    assert [r.lr for r in s.runs] == pytest.approx([0.1 / L, 0.8 / L, 2.1 / L])
    for run in s.runs:
        np.testing.assert_allclose(run.params[:, 0], closed_form_path(run.lr, 8), atol=1e-12)
    low, right, high = s.runs
    # |1 - alpha L| = 0.9, 0.2, 1.1: crawls, arrives, grows.
    assert abs(low.params[-1, 0]) > 0.4
    assert abs(right.params[-1, 0]) < 1e-5
    assert abs(high.params[-1, 0]) > abs(high.params[0, 0])
    assert s.labels == ("too low", "just right", "too high")


def test_three_panels_on_an_expression_measures_the_sharpness():
    # 3x² has curvature 6 everywhere: the measured L sets the defaults.
    s = scenes.three_panels("3*x**2", steps=3)
    assert s.sharpness == pytest.approx(6.0, rel=1e-6)
    assert [r.lr for r in s.runs] == pytest.approx([0.1 / 6, 0.8 / 6, 2.1 / 6], rel=1e-6)


def test_cost_curves_regime_rates_straddle_the_stability_limit():
    s = scenes.cost_curves(PARABOLA, steps=60)
    assert s.labels == tuple(scenes.REGIME_RATES)
    for run, k in zip(s.runs, scenes.REGIME_RATES.values()):
        assert run.lr == pytest.approx(k / L)
        # alpha L > 2 diverges and nothing else does.
        assert (run.diverged_at is not None) == (run.lr * L > 2)
        assert run.params is None  # the picture needs only the costs
    very_high, _, good, low = s.runs
    assert very_high.regime == "diverging"
    assert good.regime == "good" and good.losses[1] == pytest.approx(0.0, abs=1e-15)
    # The low rate still falls at its closed-form rate at the end of the budget.
    assert low.losses[-1] / low.losses[-2] == pytest.approx((1 - 0.01) ** 2)
    assert low.regime == "too_low"


def test_cost_curves_labels_from_a_mapping_and_required_curvature():
    s = scenes.cost_curves(PARABOLA, {"slow": 0.01, "fast": 0.2}, steps=5)
    assert s.labels == ("slow", "fast") and [r.lr for r in s.runs] == [0.01, 0.2]
    with pytest.raises(ValueError, match="pass lrs"):
        scenes.cost_curves("-x**2")


def test_path_and_step_lengths_default_to_point_three_over_l():
    s = scenes.path(PARABOLA, steps=5)
    assert s.run.lr == pytest.approx(0.3 / L)
    np.testing.assert_allclose(s.run.params[:, 0], closed_form_path(0.3 / L, 5), atol=1e-12)
    run = scenes.step_lengths(PARABOLA, steps=5).run
    # |step| = alpha |C'(x)| = alpha L |x|.
    expected = (0.3 / L) * L * np.abs(closed_form_path(0.3 / L, 5)[:-1])
    np.testing.assert_allclose(run.step_sizes, expected, rtol=1e-12)


def test_small_hill_ends_in_the_minima_of_the_quartic():
    # C'(x) = 4x³ - 8x + 1: the two minima are the outer real roots.
    roots = np.sort(np.roots([4, 0, -8, 1]).real)
    global_min, local_min = roots[0], roots[2]
    small, large = scenes.small_hill("hill", lrs=(0.02, 0.1), steps=200).runs
    assert small.params[-1, 0] == pytest.approx(local_min, abs=1e-6)
    assert large.params[-1, 0] == pytest.approx(global_min, abs=1e-6)
    assert (small.regime, large.regime) == ("stuck", "good")


def test_contour_paths_defaults_and_dimension():
    s = scenes.contour_paths("bowl:kappa=10", steps=10)
    assert [r.lr for r in s.runs] == pytest.approx([0.01, 0.1, 0.19])
    with pytest.raises(ValueError, match="2-D"):
        scenes.contour_paths("parabola", lrs=[0.1])
    with pytest.raises(ValueError, match="1-D or 2-D"):
        scenes.path("a**2 + b**2 + c**2", lr=0.1)


def test_landscape_sharpness_and_divergence_above_two_over_l():
    s = scenes.landscape("x**2 + 10*y**2", steps=60)  # L = 20, measured by Lanczos
    assert s.sharpness == pytest.approx(20.0, rel=1e-6)
    lrs = s.sweep.lrs
    assert lrs.min() == pytest.approx(1e-3 / 20) and lrs.max() == pytest.approx(3 / 20)
    # The steep direction's factor |1 - 20 alpha| exceeds 1 exactly past 2/L: the cost grows.
    grew = np.array([not r.final_loss < r.losses[0] for r in s.sweep.runs])
    np.testing.assert_array_equal(grew, lrs * 20 > 2 + 1e-9)


def test_landscape_of_a_sweep_runs_nothing(monkeypatch):
    sw = lrlab.sweep(PARABOLA, lrs=[0.1, 0.6], steps=5)

    def refuse(*args, **kwargs):
        raise AssertionError("ran an experiment")

    monkeypatch.setattr(scenes, "sweep", refuse)
    monkeypatch.setattr(scenes, "descend", refuse)
    s = scenes.landscape_of(sw)
    assert s.sweep is sw and s.sharpness == L and s.minimum == 0.0
    # A model's curvature is not measured for marks (it would cost more than they are worth).
    net = lrlab.objective(
        torch.nn.Linear(2, 1), torch.nn.MSELoss(), (torch.ones(4, 2), torch.zeros(4, 1))
    )
    assert scenes.landscape_of(lrlab.sweep(net, lrs=[0.1], steps=2), net).sharpness is None
    with pytest.raises(TypeError, match="Sweep"):
        scenes.landscape_of([1, 2])


def test_compute_price_counts_match_the_closed_form():
    lrs = [0.01, 0.05, 0.2, 1 / L, 0.4, 0.6]
    s = scenes.compute_price(PARABOLA, lrs=lrs, steps=2000)
    gap0 = L / 2  # C(1) = 2
    assert s.tol == pytest.approx(1e-6 * gap0) and s.minimum == 0.0
    for lr, needed in zip(lrs, s.needed):
        q = (1 - lr * L) ** 2
        if q >= 1:
            assert needed is None  # 0.6 * 4 > 2 diverges
        elif q == 0:
            assert needed == 1
        else:
            assert needed == math.ceil(math.log(1e-6) / math.log(q) - 1e-9)


def test_compute_price_default_grid_holds_one_over_l_and_bad_input():
    s = scenes.compute_price(PARABOLA, steps=50)
    assert np.any(np.isclose(s.sweep.lrs, 1 / L, rtol=1e-12))
    assert s.needed[int(np.argmin(np.abs(s.sweep.lrs - 1 / L)))] == 1
    with pytest.raises(ValueError, match="tol"):
        scenes.compute_price(PARABOLA, tol=0.0, steps=10)
    with pytest.raises(ValueError, match="steps"):
        scenes.compute_price(PARABOLA, steps=0)


def test_iterations_to():
    run = lrlab.descend("parabola", lr=0.25, steps=10)  # C = x², halved distance: C / 4 a step
    assert scenes.iterations_to(run, run.losses[0]) == 0
    assert scenes.iterations_to(run, 1e-3) == 5  # 4^-5 < 1e-3 < 4^-4
    assert scenes.iterations_to(run, -1.0) is None


def test_sharpness_track_of_a_quadratic_is_constant():
    run = scenes.sharpness_track("bowl:kappa=10", lr=0.15, steps=12, every=5)
    np.testing.assert_array_equal(run.sharpness[:, 0], [0, 5, 10, 12])
    np.testing.assert_allclose(run.sharpness[:, 1], 10.0, rtol=1e-6)
    assert run.params is None
    with pytest.raises(ValueError, match="every"):
        scenes.sharpness_track("parabola", lr=0.1, every=0)


def test_three_panels_bad_rates():
    with pytest.raises(ValueError, match="three increasing"):
        scenes.three_panels(PARABOLA, lrs=(0.1, 0.5))
    with pytest.raises(ValueError, match="three increasing"):
        scenes.three_panels(PARABOLA, lrs=(0.5, 0.1, 1.0))
    with pytest.raises(ValueError):
        scenes.three_panels(PARABOLA, lrs=(0.1, float("nan"), 1.0))
    with pytest.raises(TypeError, match="lrs"):
        scenes.three_panels(PARABOLA, lrs="fast")


def heavy_ball_radius(lr, beta, curvature):
    # torch's SGD on C = L w²/2: b' = beta b + L w, w' = w - lr b'. The state (w, b) maps by
    # this matrix; its spectral radius decides stability (numpy, not the library's formula).
    M = np.array([[1 - lr * curvature, -lr * beta], [curvature, beta]])
    return max(abs(np.linalg.eigvals(M)))


def test_heatmap_of_momentum_against_the_heavy_ball_spectral_radius():
    from lrlab import optim

    lrs = lrlab.lr_grid(0.05, 1.2, 14)
    betas = [0.0, 0.5, 0.9]
    s = scenes.heatmap(PARABOLA, lrs, optim.sgd(momentum=betas), steps=300)
    assert s.name == "momentum" and s.values == tuple(betas) and s.sharpness == L
    np.testing.assert_allclose(s.lrs, np.sort(lrs))
    # The boundary is where the spectral radius reaches 1: (2 + 2 beta) / L.
    for beta, limit in zip(betas, s.boundary):
        assert (
            heavy_ball_radius(limit * 0.999, beta, L)
            < 1
            < heavy_ball_radius(limit * 1.001, beta, L)
        )
    # Cell (i, j) is the run with momentum i and learning rate j.
    by_pair = {(r.optimizer.momentum, r.lr): r for r in s.sweep.runs}
    for i, beta in enumerate(betas):
        for j, lr in enumerate(s.lrs):
            run = by_pair[(beta, lr)]
            assert s.costs[i, j] == run.final_loss or not np.isfinite(
                s.costs[i, j] + run.final_loss
            )
            rho = heavy_ball_radius(lr, beta, L)
            if abs(rho - 1) > 0.02:
                assert (rho > 1) == (not run.final_loss < run.losses[0]), (beta, lr)
                assert (s.regimes[i, j] == "diverging") == (rho > 1), (beta, lr)


def test_heatmap_needs_a_swept_hyperparameter_and_adam_has_no_boundary():
    from lrlab import optim

    with pytest.raises(ValueError, match="list of values"):
        scenes.heatmap(PARABOLA, [0.1, 0.2], optim.sgd(momentum=0.9), steps=5)
    s = scenes.heatmap(PARABOLA, [0.01, 0.1], optim.adam(betas=[(0.9, 0.999), (0.5, 0.9)]), steps=5)
    assert s.boundary is None and s.name == "betas" and s.regimes.shape == (2, 2)


def test_heatmap_of_a_sweep_already_run_sorts_columns_and_runs_nothing(monkeypatch):
    from lrlab import optim

    sw = lrlab.sweep(
        PARABOLA, lrs=[0.4, 0.1, 0.2], steps=10, optimizer=optim.sgd(momentum=[0.0, 0.9])
    )

    def refuse(*args, **kwargs):
        raise AssertionError("ran an experiment")

    monkeypatch.setattr(scenes, "sweep", refuse)
    s = scenes.heatmap_of(sw)
    assert s.lrs.tolist() == [0.1, 0.2, 0.4]
    for i, beta in enumerate((0.0, 0.9)):
        for j, lr in enumerate(s.lrs):
            (run,) = [r for r in sw.runs if r.lr == lr and r.optimizer.momentum == beta]
            assert s.costs[i, j] == pytest.approx(run.final_loss)
    assert s.boundary.tolist() == pytest.approx([2 / L, 3.8 / L])
    with pytest.raises(ValueError, match="heatmap"):
        scenes.landscape_of(sw)
    with pytest.raises(ValueError, match="landscape"):
        scenes.heatmap_of(lrlab.sweep(PARABOLA, lrs=[0.1], steps=2))
