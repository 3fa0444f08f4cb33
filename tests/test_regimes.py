"""The regime rules, checked against closed forms and plain numpy / torch gradient descent."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes

import lrlab
from lrlab.regimes import REGIMES, TOL, Diagnosis, diagnose

STEPS = 200


def quad1d(al: float, steps: int = STEPS, L: float = 1.0, x0: float = 1.0):
    """Closed form of GD on f = L/2 x**2: x_t = (1 - alpha L)^t x0; returns losses, grad norms."""
    t = np.arange(steps + 1, dtype=float)
    with np.errstate(all="ignore"):
        x = x0 * (1.0 - al) ** t
        return 0.5 * L * x**2, L * np.abs(x)


def quad2d(al: float, steps: int = STEPS, kappa: float = 100.0, start=(1.0, 1.0)):
    """GD on a rotated ill-conditioned quadratic, plain loop; alpha = al / largest eigenvalue."""
    theta = 0.7
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    h = rot @ np.diag([1.0 / kappa, 1.0]) @ rot.T
    x = rot @ np.array(start)
    losses, grads = [], []
    with np.errstate(all="ignore"):
        for _ in range(steps + 1):
            g = h @ x
            losses.append(0.5 * x @ h @ x)
            grads.append(np.linalg.norm(g))
            x = x - al * g
    return np.array(losses), np.array(grads)


def hill(lr: float, x0: float, steps: int = STEPS):
    """GD on x**4 - 4x**2 + x: a local minimum near 1.35 and the global one near -1.47."""
    x, losses, grads = x0, [], []
    for _ in range(steps + 1):
        losses.append(x**4 - 4 * x**2 + x)
        g = 4 * x**3 - 8 * x + 1
        grads.append(abs(g))
        x -= lr * g
    return np.array(losses), np.array(grads)


HILL_MIN = -5.444192066610897  # f at x = -1.4729976, the global minimum


# ------------------------------------------------------------------------------------ rule 1


@pytest.mark.parametrize("al", [2.0001, 2.001, 2.02, 2.05, 2.1, 3.0, 10.0])
@pytest.mark.parametrize("floor", [0.0, None])
@pytest.mark.parametrize("with_grads", [False, True])
def test_quadratic_diverges_for_every_alpha_above_2_over_L(al, floor, with_grads):
    for L, x0 in [(1.0, 1.0), (40.0, -3.0)]:
        losses, grads = quad1d(al, L=L, x0=x0)
        d = diagnose(losses, floor, lr=al / L, grad_norms=grads if with_grads else None)
        assert d.regime == "diverging", (al, L, d.advice)
        losses2, grads2 = quad2d(al)
        d2 = diagnose(losses2, floor, lr=al, grad_norms=grads2 if with_grads else None)
        assert d2.regime == "diverging", (al, d2.advice)


def quad1d_label(al: float, steps: int, grads: bool, floor) -> str:
    """The closed-form regime of GD on L/2 x**2 at alpha*L = al <= 2 after ``steps`` steps.

    The gap left is |1 - al|**(2 steps) of the initial one: good within TOL; otherwise the
    run crawls (al < 1) or overshoots (al > 1), which only the gradient norms reveal (the
    cost curve of al is that of 2 - al). At al = 2 exactly the run hops between +-x0 for ever:
    overshoot with the gradients; without them a flat cost, which reads as stuck against a
    floor and as no progress (too_low) without one.
    """
    if abs(1 - al) ** (2 * steps) <= TOL:
        return "good"
    if al == 2.0 and not grads:
        return "stuck" if floor is not None else "too_low"
    return "too_high" if al > 1 and grads else "too_low"


@pytest.mark.parametrize("al", [1e-4, 1e-3, 0.01, 0.1, 0.5, 1.0, 1.5, 1.9, 1.98, 1.99, 1.999, 2.0])
@pytest.mark.parametrize("floor", [0.0, None])
def test_quadratic_regime_at_or_below_2_over_L_is_the_closed_form_one(al, floor):
    for L, x0 in [(1.0, 1.0), (40.0, -3.0)]:
        losses, grads = quad1d(al, L=L, x0=x0)
        for g in (None, grads):
            d = diagnose(losses, floor, lr=al / L, grad_norms=g)
            assert d.regime == quad1d_label(al, STEPS, g is not None, floor), (al, L, d.advice)
    for losses, grads in (quad2d(al), quad2d(al, kappa=1000.0, steps=300)):
        for g in (None, grads):
            assert diagnose(losses, floor, lr=al, grad_norms=g).regime != "diverging", al


def test_rebound_along_a_tiny_unstable_direction_is_diverging():
    # the stable direction shrinks first; the unstable one, started tiny, takes over later
    losses, _ = quad2d(2.05, start=(1.0, 3e-6))
    assert losses.argmin() > 0 and losses[-1] < losses[0]
    assert diagnose(losses, 0.0).regime == "diverging"


def test_overshooting_near_2_over_L_is_too_high_when_gradients_are_known():
    losses, grads = quad1d(1.999)
    assert diagnose(losses, 0.0, lr=1.999, grad_norms=grads).regime == "too_high"
    assert diagnose(losses, None, lr=1.999, grad_norms=grads).regime == "too_high"
    # step lengths instead of the learning rate give the same efficiency
    d = diagnose(losses, 0.0, grad_norms=grads, step_sizes=1.999 * grads)
    assert d.regime == "too_high" and d.evidence["efficiency"] < 0.01
    # the same cost curve comes from alpha = 0.001: without the gradients it reads as too_low
    assert np.allclose(losses, quad1d(1e-3)[0])


# ------------------------------------------------------------------------------------ rule 2


@pytest.mark.parametrize("floor", [0.0, None])
def test_tiny_alpha_on_a_short_budget_is_too_low(floor):
    for L in (1.0, 40.0):
        losses, grads = quad1d(1e-3, L=L)
        d = diagnose(losses, floor, lr=1e-3 / L, grad_norms=grads)
        assert d.regime == "too_low"
        assert 3 <= d.next_lr / (1e-3 / L) <= 10.5
        assert "larger" in d.advice
    losses, _ = quad2d(1e-3)
    assert diagnose(losses, floor, lr=1e-3).regime == "too_low"


# ------------------------------------------------------------------------------------ rule 3


@pytest.mark.parametrize("floor", [0.0, None])
def test_alpha_one_over_L_is_good_including_exact_zeros(floor):
    losses, grads = quad1d(1.0)
    assert losses[1] == 0.0 and np.all(losses[1:] == 0.0)
    d = diagnose(losses, floor, lr=1.0, grad_norms=grads)
    assert d.regime == "good" and d.next_lr is None
    assert "Keep" in d.advice
    assert diagnose([3.0, 0.0, 0.0], floor).regime == "good"
    assert diagnose([3.0, 1e-12, 1e-13, 0.0, 0.0], floor).regime == "good"


def test_a_run_sitting_at_the_floor_is_good():
    assert diagnose(np.zeros(50), 0.0).regime == "good"
    assert diagnose(np.full(50, -2.5), -2.5).regime == "good"


def test_negative_costs_and_affine_changes_do_not_matter():
    losses, grads = hill(0.08, 2.5)
    assert losses.min() < -5
    assert diagnose(losses, HILL_MIN, lr=0.08, grad_norms=grads).regime == "good"
    for al in (1e-3, 1.0, 1.999, 2.1):
        base, _ = quad1d(al)
        want = diagnose(base, 0.0).regime
        for scale, shift in [(1e-6, -3.0), (1e4, 7.0), (2.0, -1e3)]:
            assert diagnose(scale * base + shift, shift).regime == want, (al, scale, shift)


# ------------------------------------------------------------------------------------ rule 4


def _diabetes_sgd(lr, batch=16, epochs=20, seed=0):
    x, y = load_diabetes(return_X_y=True)
    a = np.c_[(x - x.mean(0)) / x.std(0), np.ones(len(y))]
    y = (y - y.mean()) / y.std()

    def loss(w):
        return 0.5 * float(np.mean((a @ w - y) ** 2))

    rng = np.random.RandomState(seed)
    w = np.zeros(a.shape[1])
    losses = [loss(w)]
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for i in range(0, len(y) - batch + 1, batch):
            idx = order[i : i + batch]
            w = w - lr * a[idx].T @ (a[idx] @ w - y[idx]) / batch
            losses.append(loss(w))
    w_star = np.linalg.lstsq(a, y, rcond=None)[0]
    sharp = float(np.linalg.eigvalsh(a.T @ a / len(y)).max())
    return np.array(losses), loss(w_star), sharp


def test_minibatch_sgd_on_a_noisy_plateau_is_too_high():
    _, fmin, sharp = _diabetes_sgd(0.0)
    big, _, _ = _diabetes_sgd(1.0 / sharp)  # stable, but well above what SGD can settle at
    small, _, _ = _diabetes_sgd(0.1 / sharp)
    tail = len(small) // 10
    small_final = float(np.mean(small[-tail:]))
    assert small_final < float(np.mean(big[-tail:]))
    for floor in (fmin, small_final):  # the closed-form minimum, or the smaller rate's run
        d = diagnose(big, floor, lr=1.0 / sharp)
        assert d.regime == "too_high", d.advice
        assert d.next_lr == pytest.approx(1.0 / sharp / 3, rel=0.05)
    assert diagnose(small, fmin, lr=0.1 / sharp).regime == "good"


# ------------------------------------------------------------------------------------ rule 5


def test_small_alpha_on_the_hill_is_stuck_and_a_hopping_alpha_is_good():
    losses, grads = hill(0.01, 2.0)
    assert losses[-1] == pytest.approx(-2.6186, abs=1e-3)  # the local minimum near x = 1.35
    d = diagnose(losses, HILL_MIN, lr=0.01, grad_norms=grads)
    assert d.regime == "stuck" and d.confidence >= 0.8
    assert d.next_lr > 0.01 and "larger" in d.advice
    assert diagnose(losses, HILL_MIN).regime == "stuck"  # without gradients too
    # without a floor a stuck run cannot be told from a good one: good, less sure, and said so
    blind = diagnose(losses, lr=0.01, grad_norms=grads)
    assert blind.regime == "good" and blind.confidence < d.confidence
    assert "stuck" in blind.advice and "floor" in blind.advice
    # from x = 2.5 the first steps of alpha = 0.08 hop over the hill into the global minimum
    hop, hop_grads = hill(0.08, 2.5)
    assert hop[-1] == pytest.approx(HILL_MIN, abs=1e-6)
    assert diagnose(hop, HILL_MIN, lr=0.08, grad_norms=hop_grads).regime == "good"
    # from x = 2, alpha = 0.12 hops the hill and then bounces: continued 20 times longer it
    # still goes up on half its steps, on average 5 % of the initial gap above the minimum
    bounce, _ = hill(0.12, 2.0)
    later = hill(0.12, 2.0, steps=20 * STEPS)[0][-STEPS:]
    assert np.mean(np.diff(later) > 0) > 0.4
    assert (later.mean() - HILL_MIN) / (bounce[0] - HILL_MIN) > 2 * TOL
    assert diagnose(bounce, HILL_MIN).regime == "too_high"


# ------------------------------------------------------------------------------------ rule 6


def _moons(n=200, seed=0):
    rng = np.random.RandomState(seed)
    t = rng.uniform(0, np.pi, n)
    lab = rng.randint(0, 2, n)
    x = np.where(
        lab[:, None] == 0, np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)]
    ) + rng.normal(0, 0.15, (n, 2))
    return (x - x.mean(0)) / x.std(0), 2.0 * lab - 1.0


def _mlp_full_batch(lr, steps=600, width=32, seed=0):
    x, y = _moons(seed=seed)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, 1),
    ).double()
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    xt, yt = torch.tensor(x), torch.tensor(y)[:, None]
    losses, grads = [], []
    for _ in range(steps + 1):
        opt.zero_grad()
        loss = ((net(xt) - yt) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        grads.append(float(torch.sqrt(sum((p.grad**2).sum() for p in net.parameters()))))
        opt.step()
    return np.array(losses[:-1]), np.array(grads[:-1])


def test_edge_of_stability_run_is_not_diverging():
    losses, grads = _mlp_full_batch(0.3)
    up = np.mean(np.diff(losses) > 0)
    assert up >= 0.10, up  # the cost goes up on many single steps ...
    assert losses[-1] < 0.1 * losses[0]  # ... and still ends far below its start
    for floor in (None, float(np.mean(losses[-60:])), 0.0):
        for g in (None, grads):
            d = diagnose(losses, floor, lr=0.3, grad_norms=g)
            assert d.regime != "diverging", (floor, d.advice)
    # the same network at twice the rate blows up
    assert diagnose(_mlp_full_batch(1.0, steps=150)[0]).regime == "diverging"


def test_up_steps_inside_falling_windows_are_not_diverging():
    t = np.arange(400)
    zigzag = np.exp(-t / 150) * (1 + 0.3 * (t % 2)) + 0.05 * (t % 7 == 0)
    assert np.mean(np.diff(zigzag) > 0) > 0.4
    assert diagnose(zigzag).regime != "diverging"
    assert diagnose(zigzag, 0.0).regime != "diverging"


# ------------------------------------------------------------------------------------ rule 7


def test_non_finite_values_mean_diverging():
    good, _ = quad1d(0.5)
    for bad in (math.nan, math.inf, -math.inf):
        log = good.copy()
        log[150] = bad
        d = diagnose(log, 0.0, lr=0.5)
        assert d.regime == "diverging" and d.confidence >= 0.95
        assert d.evidence["first_nonfinite_step"] == 150
        assert d.next_lr == pytest.approx(0.05)
        assert "non-finite" in d.advice
    assert diagnose([1.0, math.nan, math.nan]).regime == "diverging"


def test_huge_growth_is_diverging_with_high_confidence():
    d = diagnose(np.logspace(0, 12, 50), lr=0.5)
    assert d.regime == "diverging" and d.confidence >= 0.95
    assert d.next_lr <= 0.05 and "smaller" in d.advice
    assert d.evidence["growth"] > 1e10
    # Faster than geometric (rosenbrock's quartic at lr = 1 overflows in three steps): the
    # quadratic model's 1/L would be 1e-10; the advice stops at 10,000x smaller.
    d = lrlab.descend("rosenbrock", lr=1.0, steps=20).diagnosis
    assert d.regime == "diverging" and d.next_lr == pytest.approx(1e-4)


def test_slow_growth_suggests_the_quadratic_sweet_spot():
    losses, _ = quad1d(2.005)  # grows by (alpha L - 1)^2 = 1.01 per step
    d = diagnose(losses, 0.0, lr=2.005)
    assert d.regime == "diverging"
    assert d.next_lr == pytest.approx(1.0, rel=0.05)  # 1/L


# ------------------------------------------------------------------------ shape of the result


def test_diagnosis_is_json_ready_and_complete():
    for al in (1e-3, 1.0, 1.999, 2.1, 10.0):
        losses, grads = quad1d(al)
        for floor in (0.0, None):
            d = diagnose(losses, floor, lr=al, grad_norms=grads)
            assert isinstance(d, Diagnosis) and d.regime in REGIMES
            assert 0.0 <= d.confidence <= 1.0
            blob = json.dumps(d.to_dict(), allow_nan=False)
            back = json.loads(blob)
            assert set(back) == {"regime", "confidence", "evidence", "advice", "next_lr"}
            assert all(
                v is None or isinstance(v, (int, float, bool)) for v in back["evidence"].values()
            )
            assert d.advice.endswith(".")
            if d.regime != "good":
                assert d.next_lr is not None and f"{d.next_lr:.2g}" in d.advice


def test_advice_without_a_learning_rate_has_no_number():
    losses, _ = quad1d(1e-3)
    d = diagnose(losses, 0.0)
    assert d.regime == "too_low" and d.next_lr is None and "larger" in d.advice


def test_advice_factors_per_regime():
    lr = 0.1
    assert diagnose(quad1d(2.1)[0], 0.0, lr=lr).next_lr <= lr / 2
    assert diagnose(quad1d(1e-3)[0], 0.0, lr=lr).next_lr >= 3 * lr
    hi, g = quad1d(1.999)  # the run's own steps are 1.999 * g long
    d = diagnose(hi, 0.0, lr=lr, grad_norms=g, step_sizes=1.999 * g)
    assert d.regime == "too_high" and d.next_lr == pytest.approx(lr / 3, rel=0.05)
    assert diagnose(hill(0.01, 2.0)[0], HILL_MIN, lr=0.01).next_lr > 0.01


def test_inputs_of_many_kinds():
    losses, _ = quad1d(1e-3)
    want = diagnose(losses, 0.0).regime
    assert diagnose(list(losses), 0.0).regime == want
    assert diagnose(torch.tensor(losses, dtype=torch.float32), 0.0).regime == want
    ints = tuple(int(v) for v in losses * 1e6)
    assert diagnose(ints, 0.0).regime == diagnose(np.array(ints, dtype=float), 0.0).regime
    assert diagnose(losses[50:], 0.0, start_loss=losses[0]).regime == want
    assert diagnose(losses, np.float32(0.0), lr=np.float64(1e-3)).regime == want


@pytest.mark.parametrize(
    ("losses", "kwargs", "words"),
    [
        ([], {}, "empty"),
        ([1.0], {}, "one point"),
        (np.array([math.nan, math.nan]), {}, "no finite"),
        (["a", "b"], {}, "real numbers"),
        ([1.0, "x", 2.0], {}, "real numbers"),
        ([1 + 1j, 2.0], {}, "real numbers"),  # not the real part, with a warning
        ([True, False], {}, "real numbers"),
        (np.array([True, False]), {}, "real numbers"),
        ([[1.0, 2.0], [3.0, 4.0]], {}, "1-D"),
        ([1.0, 0.5, 0.2], {"lr": -0.1}, "lr=-0.1"),
        ([1.0, 0.5, 0.2], {"lr": math.inf}, "lr=inf"),
        ([1.0, 0.5, 0.2], {"grad_norms": [1.0]}, "grad_norms"),
        ([1.0, 0.5, 0.2], {"step_sizes": [1.0, -1.0, 1.0]}, "negative"),
        ([1.0, 0.5, 0.2], {"floor": math.nan}, "floor"),
    ],
)
def test_invalid_input_raises_value_error(losses, kwargs, words):
    with pytest.raises(ValueError, match=words):
        diagnose(losses, **kwargs)


def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError):
        diagnose("1,2,3")
    with pytest.raises(TypeError):
        diagnose(None)
    with pytest.raises(TypeError):
        diagnose([1.0, 0.5], lr="0.1")
    with pytest.raises(TypeError):
        diagnose([1.0, 0.5], lr=True)


@pytest.mark.parametrize(("left", "regime"), [(0.005, "good"), (0.015, "good"), (0.05, "too_low")])
def test_good_means_within_the_tolerance_of_the_minimum(left, regime):
    # the rate at which GD on x**2/2 leaves exactly `left` of the initial gap after the budget
    al = 1 - left ** (1 / (2 * STEPS))
    losses, grads = quad1d(al)
    assert losses[-1] / losses[0] == pytest.approx(left)
    assert diagnose(losses, 0.0, lr=al, grad_norms=grads).regime == regime


def test_a_flat_plateau_above_the_floor_is_not_good():
    # 10 % of the gap left and flat (a stationary point: the gradient vanished)
    d = diagnose([1.0, 0.3, 0.12, 0.1, 0.1, 0.1, 0.1], 0.0, grad_norms=[1, 0.5, 0.1, 0, 0, 0, 0])
    assert d.regime == "stuck"


def test_the_judges_statistics_are_numpys_to_the_bit():
    from lrlab.regimes import (
        _block_medians,
        _blocks,
        _detrend,
        _fraction,
        _mean,
        _median,
        _row_medians,
        _spans,
        _std,
    )

    def same(got, want):
        got, want = np.float64(got), np.float64(want)
        return np.array_equal(got, want, equal_nan=True) and np.signbit(got) == np.signbit(want)

    rng = np.random.default_rng(0)
    special = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e308, -1e308, 5e-324])
    with np.errstate(all="ignore"):
        for trial in range(600):
            if trial % 2:
                a = rng.choice(special, rng.integers(1, 9))
            else:
                a = rng.standard_normal(rng.integers(1, 400)) * 10.0 ** rng.integers(-300, 300)
            assert same(_median(a), np.median(a)), a
            assert same(_mean(a), np.mean(a)), a
            assert same(_fraction(a > 0), np.mean(a > 0)), a
            if len(a) >= 2:
                assert same(_std(list(a)), np.std(list(a), ddof=1)), a
            if len(a) >= 6:
                for got, want in zip(_blocks(a, 6), np.array_split(a, 6), strict=True):
                    np.testing.assert_array_equal(got, want)
                medians = _block_medians(a.copy(), 6)
                for got, block in zip(medians, np.array_split(a, 6), strict=True):
                    assert same(got, np.median(block)), a
                rows = a[: len(a) // 3 * 3].reshape(3, -1)
                for got, row in zip(_row_medians(rows.copy()), rows, strict=True):
                    assert same(got, np.median(row)), rows
    for n in range(2, 600):
        edges = np.linspace(0, n, min(10, n) + 1).astype(int)
        assert _spans(n, min(10, n)) == tuple(itertools.pairwise(edges.tolist()))
    for n in (12, 13, 91, 300, 1001):
        for y in (
            rng.standard_normal(n) * 1e-7,
            np.cumsum(rng.standard_normal(n)) + 1e6,
            np.exp(-0.01 * np.arange(n)),
        ):
            t = np.arange(n)
            want = y - np.polyval(np.polyfit(t, y, 1), t)
            np.testing.assert_array_equal(_detrend(y), want)


# ------------------------------------------------------------------------------ the optimizer


def _torch_quadratic(opt_cls, lr, steps=STEPS, kappa=1.0, **opts):
    """A plain torch.optim loop on f = (x1**2 + x2**2 / kappa) / 2 (sharpness 1) from (1, 1)."""
    x = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    lam = torch.tensor([1.0, 1.0 / kappa], dtype=torch.float64)
    opt = opt_cls([x], lr=lr, **opts)
    losses, grads = [], []
    for t in range(steps + 1):
        opt.zero_grad()
        f = 0.5 * (lam * x * x).sum()
        f.backward()
        losses.append(f.item())
        grads.append(x.grad.norm().item())
        if not math.isfinite(losses[-1]) or losses[-1] > 1e200:
            losses += [math.inf] * (steps - t)
            grads += [math.inf] * (steps - t)
            break
        opt.step()
    return np.array(losses), np.array(grads)


class _Momentum:
    """A rule object as lrlab.optim hands it over: a name, its momentum, its stability limit."""

    name = "sgd"

    def __init__(self, momentum, nesterov=False):
        self.momentum, self.nesterov = momentum, nesterov

    def stability_limit(self, sharpness):
        b = self.momentum
        return (2 + 2 * b) / ((1 + 2 * b) if self.nesterov else 1) / sharpness


def _momentum_converges(lr, momentum, nesterov=False, sharpness=1.0):
    """The oracle: torch's heavy-ball (or Nesterov) step on L/2 x**2 is the linear map
    (x, buf) -> (x - lr * step, buf'), buf' = momentum * buf + L x, step = buf' (Nesterov:
    L x + momentum * buf'); it converges when its spectral radius is below 1."""
    b, h = momentum, lr * sharpness
    if nesterov:
        a = np.array([[1 - h * (1 + b), -lr * b * b], [sharpness, b]])
    else:
        a = np.array([[1 - h, -lr * b], [sharpness, b]])
    return float(np.abs(np.linalg.eigvals(a)).max()) < 1


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_inside_its_limit_is_not_diverging_and_outside_is(beta, nesterov):
    rule = _Momentum(beta, nesterov)
    edge = rule.stability_limit(1.0)
    for m in (0.5, 0.9, 0.99, 1.02, 1.2):
        lr = m * edge
        losses, _ = _torch_quadratic(torch.optim.SGD, lr, momentum=beta, nesterov=nesterov)
        stable = _momentum_converges(lr, beta, nesterov)
        assert stable == (m < 1), (beta, m)  # the rule's limit agrees with the linear map
        for sharp in (None, 1.0):
            d = diagnose(losses, 0.0, lr=lr, optimizer=rule, sharpness=sharp)
            if m > 1:
                assert d.regime == "diverging", (beta, m, sharp, d.advice)
            else:
                assert d.regime != "diverging", (beta, m, sharp, d.advice)
            if sharp is not None and d.regime == "diverging":
                assert f"(2 + 2*{beta:g})" in d.advice and "2/L" not in d.advice
                assert d.next_lr == pytest.approx(edge / 2, rel=0.05)


def test_ringing_that_overshoots_above_the_start_is_not_diverging_with_momentum():
    lr = 0.99 * 3.98
    losses, _ = _torch_quadratic(torch.optim.SGD, lr, momentum=0.99)
    assert np.median(losses[-20:]) > losses[0]  # still above its start after 200 steps ...
    assert _momentum_converges(lr, 0.99)  # ... but it converges
    # read as plain gradient descent the curve looks like a blow-up; with momentum it rings
    assert diagnose(losses, 0.0, lr=lr).regime == "diverging"
    d = diagnose(losses, 0.0, lr=lr, optimizer=_Momentum(0.99))
    assert d.regime == "too_high" and "momentum" in d.advice


def test_adam_advice_judges_the_curve_and_does_not_cite_2_over_L():
    for lr in (0.01, 0.3, 3.0, 1e3):
        losses, grads = _torch_quadratic(torch.optim.Adam, lr, kappa=100.0)
        d = diagnose(losses, 0.0, lr=lr, grad_norms=grads, optimizer="adam", sharpness=1.0)
        assert "2/L" not in d.advice and "stability_limit" not in d.evidence
        assert d.evidence["efficiency"] is None  # 1 - alpha*L/2 is a gradient-descent fact
    # Adam's steps are about lr long whatever the gradient: lr = 1e-4 crawls from (1, 1)
    crawl, _ = _torch_quadratic(torch.optim.Adam, 1e-4, kappa=100.0)
    assert diagnose(crawl, 0.0, lr=1e-4, optimizer="adam").regime == "too_low"


@pytest.mark.parametrize(
    ("optimizer", "exc", "words"),
    [("adma", ValueError, "did you mean adam"), (3, TypeError, "optimizer")],
)
def test_unknown_optimizers_are_refused(optimizer, exc, words):
    with pytest.raises(exc, match=words):
        diagnose([1.0, 0.5, 0.25], optimizer=optimizer)


# ------------------------------------------------------------- a sweep's floor is not the minimum


def _two_scale(lr, steps=STEPS, lam=(2.0, 0.02), x0=(1.0, 10.0)):
    """Closed form of GD on (lam1 x**2 + lam2 y**2)/2: each coordinate shrinks by 1 - lr*lam."""
    t = np.arange(steps + 1)[:, None]
    x = np.array(x0) * (1 - lr * np.array(lam)) ** t
    return 0.5 * (np.array(lam) * x**2).sum(1), np.linalg.norm(np.array(lam) * x, axis=1)


def test_the_best_of_a_sweep_of_small_rates_is_still_too_low():
    # two small rates on x**2/2: the closed form leaves 67 % and 45 % of the gap after 200
    # steps, both far from the minimum; the sweep's floor is the better run's own end
    runs = {al: quad1d(al) for al in (1e-3, 2e-3)}
    floor = min(losses[-1] for losses, _ in runs.values())
    for al, (losses, grads) in runs.items():
        assert (1 - al) ** (2 * STEPS) > 10 * TOL  # the oracle: far from the minimum
        for g in (None, grads):
            d = diagnose(losses, floor, lr=al, grad_norms=g)
            assert d.regime == "too_low", (al, d.advice)
            assert d.next_lr > al
    # the same through lrlab.sweep, whose floor is the known minimum
    sw = lrlab.sweep("x**2", lrs=[5e-4, 1e-3], steps=STEPS)
    assert sw.floor == 0.0
    assert [r.regime for r in sw.runs] == ["too_low", "too_low"]


def test_lanes_still_falling_beside_a_fast_lane_are_too_low_not_stuck():
    lrs = np.geomspace(1e-3, 0.9, 16)
    runs = [_two_scale(lr) for lr in lrs]
    floor = min(losses[-1] for losses, _ in runs)  # the sweep's floor, from its fastest lane
    checked = 0
    for lr, (losses, grads) in zip(lrs, runs, strict=True):
        gap = losses[-1] / losses[0]
        later = _two_scale(lr, steps=10 * STEPS)[0][-1] / losses[0]
        if gap <= TOL:
            continue
        # the oracle: ten budgets later the closed form is lower by more than the tolerance,
        # so the run had not stopped descending
        assert gap - later > TOL
        d = diagnose(losses, floor, lr=lr, grad_norms=grads)
        assert d.regime == "too_low", (lr, d.advice)
        checked += 1
    assert checked >= 10


def test_stuck_needs_a_run_that_has_stopped_descending():
    # the slow coordinate of (2 x**2 + 0.02 y**2)/2 carries half the cost and moves slowly:
    # the cost curve flattens, yet the gradient is far from zero and the closed form falls
    # by more than the tolerance within one more budget
    lr = 0.0097
    losses, grads = _two_scale(lr)
    later = _two_scale(lr, steps=2 * STEPS)[0][-1]
    assert (losses[-1] - later) / losses[0] > TOL
    d = diagnose(losses, 0.0, lr=lr, grad_norms=grads)
    assert d.regime == "too_low" and d.evidence["grad_norm_ratio"] > 1e-3
    # at a real local minimum the run has stopped and the gradient vanished: stuck
    hill_losses, hill_grads = hill(0.01, 2.0)
    more = hill(0.01, 2.0, steps=2 * STEPS)[0]
    assert abs(more[-1] - hill_losses[-1]) < 1e-9
    assert diagnose(hill_losses, HILL_MIN, lr=0.01, grad_norms=hill_grads).regime == "stuck"


# ------------------------------------------------------------------------ mini-batch noise


def _block_means(rng, trend, size=9, batch_sd=0.1):
    """Means of ``size`` independent batch losses around ``trend``, and their standard error."""
    batches = trend[:, None] + batch_sd * rng.standard_normal((len(trend), size))
    return batches.mean(axis=1), batch_sd / math.sqrt(size)


@pytest.mark.parametrize("seed", range(4))
def test_sampling_noise_is_not_bouncing_a_noisy_descent_is_too_low(seed):
    # a run halving its gap every 100 blocks, seen for 50: at the end it has removed only
    # 30 % of its start, and falls at a pace the noise hides from block to block (0.012 a
    # block, a third of the standard error 0.033) but not over windows (the last 30 % of
    # blocks fall by 0.16, five standard errors)
    t = np.arange(50)
    trend = 2.0 * 0.5 ** (t / 100)
    curve, se = _block_means(np.random.default_rng(seed), trend)
    blind = diagnose(curve)
    assert blind.regime == "too_high" and "bounces" in blind.advice  # noise read as a bounce
    d = diagnose(curve, noise=se)
    assert d.regime == "too_low" and d.evidence["sampling_noise"] is True
    assert diagnose(curve, noise=np.full(50, se)).regime == "too_low"  # one error per cost


@pytest.mark.parametrize("seed", range(4))
def test_sampling_noise_on_a_converged_run_is_good_and_a_wandering_level_is_not(seed):
    rng = np.random.default_rng(seed)
    t = np.arange(50)
    trend = 0.1 + 2.0 * np.exp(-t / 4)  # converged by a third of the run
    curve, se = _block_means(rng, trend)
    assert diagnose(curve, noise=se).regime == "good"
    # a level that wanders from block to block (a rate too high to settle: AR(1) swings of
    # about 0.35, ten times the sampling error) is still a bounce
    wander = np.zeros(50)
    for i in range(1, 50):
        wander[i] = 0.5 * wander[i - 1] + 0.3 * rng.standard_normal()
    assert diagnose(curve + np.abs(wander), noise=se).regime == "too_high"


def test_noise_must_be_one_finite_non_negative_error_or_one_per_cost():
    with pytest.raises(ValueError, match="noise"):
        diagnose([3.0, 2.0, 1.0], noise=[0.1, 0.1])
    with pytest.raises(ValueError, match="noise"):
        diagnose([3.0, 2.0, 1.0], noise=-0.1)
    with pytest.raises(ValueError, match="noise"):
        diagnose([3.0, 2.0, 1.0], noise=[0.1, math.nan, 0.1])
    with pytest.raises(TypeError, match="noise"):
        diagnose([3.0, 2.0, 1.0], noise="0.1")


def test_a_blow_up_that_leaves_the_run_at_its_start_is_diverging_not_too_low():
    # what Adam at a huge rate does to a classifier: the loss shoots up, then the saturated
    # network predicts a constant and its loss sits at the start level for the rest of the run
    rng = np.random.default_rng(0)
    losses = np.concatenate([[2.3, 40.0, 900.0, 15.0], 2.3 + 0.01 * rng.standard_normal(96)])
    d = diagnose(losses, lr=0.5, optimizer="adam")
    assert d.regime == "diverging" and d.next_lr == pytest.approx(0.05)
    assert d.evidence["peak_growth"] > 100
    # the same rise followed by progress below the start is ringing, not a collapse
    ringing = np.concatenate([[2.3, 4.0, 3.0], 2.3 * np.exp(-np.arange(97) / 10)])
    assert diagnose(ringing, optimizer="adam").regime != "diverging"
