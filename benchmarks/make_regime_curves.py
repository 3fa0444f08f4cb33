"""Regenerate the labelled cost curves that ``benchmarks/regimes.py`` diagnoses.

Every curve is a real gradient-descent run made here with numpy or torch on float64, from
fixed seeds, so running this script again writes the same files::

    python benchmarks/make_regime_curves.py

It writes ``benchmarks/data/regimes/curves.json`` (every curve with its label) and a few
training logs as CSV / JSON-lines files under ``benchmarks/data/regimes/logs/`` (the
benchmark reads those through ``lrlab.logs.read_log``, as a user's log would be read).

Labels come from information that ``diagnose`` never sees: the parameters, the exact
minimum and the spectrum of the problem, the continuation of the same run far past its
budget, and the learning rates of the other runs of the same sweep. The tolerance is the
one the diagnosis documents: a run is ``good`` when its final cost is within
``TOL`` (2 %) of the initial gap above the minimum.

Families:

* ``quad1d``: f = L/2 x**2, closed form, alpha*L from 1e-4 to 10.
* ``quad2d``: rotated ill-conditioned quadratics (condition 100 and 1000).
* ``hill``: x**4 - 4 x**2 + x from several starts (local minimum near 1.35, global near -1.47).
* ``rosenbrock``: (1-x)**2 + 100 (y-x**2)**2 from (-1.5, 2), logged every 5 steps.
* ``diabetes-ls``: standardised least squares on sklearn's diabetes data, full batch.
* ``cancer-logreg``: L2-regularised logistic regression on sklearn's breast cancer data.
* ``digits-softmax``: L2-regularised softmax regression on sklearn's digits.
* ``*-sgd``: the same problems with mini-batch SGD; the curve is the full cost after every step.
* ``mlp-eos``: a small tanh MLP on two moons, full batch, up to the edge of stability.
* ``log-*``: mini-batch training logs (running mean of batch losses every k steps) in CSV or
  JSON lines, read back through the log reader.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

TOL = 0.02  # the diagnosis's "reached the minimum" tolerance, relative to the initial gap
OUT = Path(__file__).resolve().parent / "data" / "regimes"
HILL_MIN = -5.444192066610897  # global minimum of x**4 - 4x**2 + x (at x = -1.4729976)
DIGITS = 7  # significant digits stored


def _num(v: float) -> float | None:
    """Round for storage; NaN and inf are stored as null (the diagnosis only needs 'non-finite')."""
    v = float(v)
    return float(f"{v:.{DIGITS}g}") if math.isfinite(v) else None


def _rel_gap(level: float, floor: float, start: float) -> float:
    return (level - floor) / (start - floor)


def _tail_mean(values: np.ndarray, frac: float = 0.1) -> float:
    w = max(1, round(frac * len(values)))
    return float(np.mean(values[-w:]))


def _oscillating(params: np.ndarray, frac: float = 0.3) -> bool:
    """True when successive parameter steps point against each other in the tail of the run."""
    steps = np.diff(params, axis=0)
    steps = steps[-max(2, int(frac * len(steps))) :]
    dots = np.sum(steps[1:] * steps[:-1], axis=1)
    return bool(np.mean(dots < 0) > 0.5)


def _record(family, source, losses, label, floor, lr, grad_norms=None, nofloor="same", **extra):
    rec = {
        "id": "",
        "family": family,
        "source": source,
        "lr": float(lr),
        "floor": None if floor is None else _num(floor),
        "label": label,
        # expected label when the floor is withheld: None = not decidable from the curve alone
        "label_without_floor": label if nofloor == "same" else nofloor,
        "losses": [_num(v) for v in losses],
    }
    if grad_norms is not None:
        rec["grad_norms"] = [_num(v) for v in grad_norms]
    rec.update(extra)
    return rec


def _gd(grad, x0, lr, steps, loss, blowup=1e150):
    """Plain gradient descent; returns losses, grad norms and parameters (stops once overflowing)."""
    x = np.array(x0, dtype=float)
    xs, losses, gns = [x.copy()], [], []
    with np.errstate(all="ignore"):
        for t in range(steps + 1):
            losses.append(loss(x))
            g = grad(x)
            gns.append(float(np.linalg.norm(g)))
            if t == steps:
                break
            if not np.all(np.isfinite(x)) or np.max(np.abs(x)) > blowup:
                # keep the length: a diverged run logs non-finite costs from here on
                losses.extend([math.inf] * (steps - t))
                gns.extend([math.inf] * (steps - t))
                break
            x = x - lr * g
            xs.append(x.copy())
    return np.array(losses), np.array(gns), np.array(xs)


def _deterministic_label(losses, floor, xs, grad, lr, loss, extra_steps=20000):
    """Label a full-batch run from its own continuation and its parameters.

    diverging: non-finite, or the continuation blows up; good: final gap <= TOL; stuck: the
    run has converged (its gap to its own limit is <= TOL of its drop) to a worse point;
    otherwise too_high when the run bounces (successive steps point against each other, or the
    cost goes up on steps of the continuation), too_low when it creeps monotonically.
    """
    if not np.all(np.isfinite(losses)):
        return "diverging"
    start, final = losses[0], losses[-1]
    x = xs[-1].copy()
    cont = [final]
    ups = 0
    with np.errstate(all="ignore"):
        for _ in range(extra_steps):
            x = x - lr * grad(x)
            if not np.all(np.isfinite(x)) or np.max(np.abs(x)) > 1e100:
                return "diverging"
            cont.append(loss(x))
            ups += cont[-1] > cont[-2] + 1e-12 * abs(cont[-2])
    limit = cont[-1]
    if not math.isfinite(limit) or (limit > start and final > start):
        return "diverging"
    if _rel_gap(final, floor, start) <= TOL:
        return "good"
    gnorm = np.linalg.norm(grad(x))
    converged_limit = gnorm < 1e-6 * max(1.0, np.linalg.norm(grad(xs[0])))
    if converged_limit and (final - limit) <= TOL * (start - limit):
        return "good" if _rel_gap(limit, floor, start) <= TOL else "stuck"
    bouncing = _oscillating(xs) or ups > 0.05 * extra_steps
    return "too_high" if bouncing else "too_low"


# ----------------------------------------------------------------------------------------------
# closed-form quadratics

QUAD_AL = [
    1e-4,
    1e-3,
    3e-3,
    0.01,
    0.02,
    0.05,
    0.1,
    0.3,
    0.6,
    1.0,
    1.3,
    1.7,
    1.9,
    1.97,
    1.99,
    1.995,
    1.999,
    2.002,
    2.005,
    2.01,
    2.02,
    2.05,
    2.1,
    2.5,
    3.0,
    10.0,
]


def quad1d():
    out = []
    for L, x0, steps in [(1.0, 1.0, 200), (40.0, -3.0, 200), (0.5, 0.2, 100)]:
        for al in QUAD_AL:
            lr = al / L
            t = np.arange(steps + 1)
            with np.errstate(all="ignore"):
                x = x0 * (1.0 - al) ** t
                losses = 0.5 * L * x**2
                grads = L * np.abs(x)
            losses[~np.isfinite(losses)] = math.inf
            # exact rule: diverges iff alpha*L > 2; gap ratio (1-aL)^(2n); overshoot iff aL > 1
            if al > 2:
                label = "diverging"
            elif (1 - al) ** (2 * steps) <= TOL:
                label = "good"
            else:
                label = "too_high" if al > 1 else "too_low"
            # too_high near 2/L decays as smoothly as too_low: only the grad norms tell them apart
            src = f"GD on f = {L:g}/2 x^2 from x={x0:g}, alpha*L = {al:g}, {steps} steps"
            out.append(_record("quad1d", src, losses, label, 0.0, lr, grads))
    return out


def quad2d():
    out = []
    rng = np.random.RandomState(3)
    for kappa, steps, start in [
        (100.0, 200, (1.0, 1.0)),
        (1000.0, 300, (1.0, 0.5)),
        (100.0, 200, (1.0, 1e-3)),
    ]:
        theta = rng.uniform(0, np.pi)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        lam = np.array([1.0 / kappa, 1.0]) * 5.0
        x0 = rot @ np.array(start)
        als = QUAD_AL[1::2] + [2.02, 2.05] if start[1] > 0.01 else [1.0, 1.9, 2.05, 2.2, 3.0]
        for al in als:
            lr = al / lam.max()
            t = np.arange(steps + 1)[:, None]
            with np.errstate(all="ignore"):
                z = np.array(start)[None, :] * (1.0 - lr * lam[None, :]) ** t  # eigen coordinates
                losses = 0.5 * np.sum(lam * z**2, axis=1)
                grads = np.linalg.norm(lam * z, axis=1)
            losses[~np.isfinite(losses)] = math.inf
            factors = 1.0 - lr * lam
            gap_parts = 0.5 * lam * (np.array(start) * factors**steps) ** 2
            if np.any(np.abs(factors) > 1):
                label = "diverging"
            elif gap_parts.sum() <= TOL * losses[0]:
                label = "good"
            else:
                # which eigen-direction holds the remaining gap: an overshooting one or not
                label = (
                    "too_high"
                    if gap_parts[factors < 0].sum() > gap_parts[factors >= 0].sum()
                    else "too_low"
                )
            src = (
                f"GD on a rotated 2-D quadratic, eigenvalues {lam[0]:g} and {lam[1]:g}, start "
                f"{tuple(np.round(x0, 4))}, alpha*L = {al:g}, {steps} steps"
            )
            out.append(_record("quad2d", src, losses, label, 0.0, lr, grads))
    return out


# ----------------------------------------------------------------------------------------------
# analytic non-convex functions


def hill():
    def f(x):
        return float(x[0] ** 4 - 4 * x[0] ** 2 + x[0])

    def g(x):
        return np.array([4 * x[0] ** 3 - 8 * x[0] + 1])

    out = []
    plan = [
        (2.0, [0.0005, 0.001, 0.003, 0.01, 0.03, 0.1, 0.115, 0.12, 0.2, 0.3]),
        (2.5, [0.001, 0.01, 0.04, 0.06, 0.08, 0.1, 0.105, 0.115, 0.14]),
        (-0.2, [0.0003, 0.003, 0.03, 0.1, 0.13, 0.25]),
    ]
    for x0, lrs in plan:
        for lr in lrs:
            losses, gns, xs = _gd(g, [x0], lr, 200, f)
            label = _deterministic_label(losses, HILL_MIN, xs, g, lr, f)
            src = f"GD on x^4 - 4x^2 + x from x={x0:g}, alpha={lr:g}, 200 steps"
            nofloor = "good" if label == "stuck" else "same"
            out.append(_record("hill", src, losses, label, HILL_MIN, lr, gns, nofloor=nofloor))
    return out


def rosenbrock():
    def f(x):
        return float((1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2)

    def g(x):
        return np.array(
            [-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)]
        )

    out = []
    for lr in [1e-5, 3e-5, 1e-4, 3e-4, 6e-4, 1e-3, 1.5e-3, 2e-3, 3e-3, 5e-3]:
        losses, _, xs = _gd(g, [-1.5, 2.0], lr, 4000, f)
        label = _deterministic_label(losses, 0.0, xs, g, lr, f, extra_steps=200000)
        every = 20  # logged every 20 steps: what a long run's log looks like
        src = f"GD on Rosenbrock from (-1.5, 2), alpha={lr:g}, 4000 steps logged every {every}"
        out.append(_record("rosenbrock", src, losses[::every], label, 0.0, lr))
    return out


# ----------------------------------------------------------------------------------------------
# dataset problems (numpy float64, sklearn's bundled data sets only)


def _standard(x):
    return (x - x.mean(0)) / x.std(0)


def _diabetes():
    x, y = load_diabetes(return_X_y=True)
    a = np.c_[_standard(x), np.ones(len(y))]
    y = (y - y.mean()) / y.std()

    def loss(w, idx=None):
        aa, yy = (a, y) if idx is None else (a[idx], y[idx])
        return 0.5 * float(np.mean((aa @ w - yy) ** 2))

    def grad(w, idx=None):
        aa, yy = (a, y) if idx is None else (a[idx], y[idx])
        return aa.T @ (aa @ w - yy) / len(yy)

    w_star = np.linalg.lstsq(a, y, rcond=None)[0]  # closed-form minimum
    sharp = float(np.linalg.eigvalsh(a.T @ a / len(y)).max())
    return "diabetes least squares", a.shape[1], len(y), loss, grad, loss(w_star), sharp


def _newton_min(loss, grad, hess, dim):
    w = np.zeros(dim)
    for _ in range(60):
        w = w - np.linalg.solve(hess(w), grad(w))
    return loss(w)


def _cancer():
    x, y = load_breast_cancer(return_X_y=True)
    a = np.c_[_standard(x), np.ones(len(y))]
    lam = 1e-2

    def loss(w, idx=None):
        aa, yy = (a, y) if idx is None else (a[idx], y[idx])
        z = aa @ w
        return float(np.mean(np.logaddexp(0, z) - yy * z) + 0.5 * lam * w @ w)

    def grad(w, idx=None):
        aa, yy = (a, y) if idx is None else (a[idx], y[idx])
        p = 0.5 * (1 + np.tanh(0.5 * (aa @ w)))
        return aa.T @ (p - yy) / len(yy) + lam * w

    def hess(w):
        p = 0.5 * (1 + np.tanh(0.5 * (a @ w)))
        return (a * (p * (1 - p))[:, None]).T @ a / len(y) + lam * np.eye(len(w))

    fmin = _newton_min(loss, grad, hess, a.shape[1])  # Newton: exact to machine precision
    sharp = float(np.linalg.eigvalsh(hess(np.zeros(a.shape[1]))).max())
    return "breast-cancer logistic regression", a.shape[1], len(y), loss, grad, fmin, sharp


def _digits():
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    a = np.c_[x - x.mean(0), np.ones(len(y))]
    onehot = np.eye(10)[y]
    lam = 1e-3
    dim = a.shape[1] * 10

    def loss(w, idx=None):
        aa, yy = (a, onehot) if idx is None else (a[idx], onehot[idx])
        z = aa @ w.reshape(a.shape[1], 10)
        z = z - z.max(1, keepdims=True)
        lse = np.log(np.exp(z).sum(1))
        return float(np.mean(lse - np.sum(yy * z, 1)) + 0.5 * lam * w @ w)

    def grad(w, idx=None):
        aa, yy = (a, onehot) if idx is None else (a[idx], onehot[idx])
        z = aa @ w.reshape(a.shape[1], 10)
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        return (aa.T @ (p - yy) / len(yy)).ravel() + lam * w

    # the minimum from a long, safely stable run (strongly convex, so it is unique)
    w = np.zeros(dim)
    for _ in range(30000):
        w = w - 2.0 * grad(w)
    fmin = loss(w)
    hess0 = np.kron(a.T @ a / len(y), np.eye(10) / 10 - 1 / 100) + lam * np.eye(dim)
    sharp = float(np.linalg.eigvalsh(hess0).max())
    return "digits softmax regression", dim, len(y), loss, grad, fmin, sharp


def full_batch(problem, lr_factors, steps):
    name, dim, _, loss, grad, fmin, sharp = problem
    out = []
    for k in lr_factors:
        lr = k / sharp
        losses, gns, xs = _gd(grad, np.zeros(dim), lr, steps, loss)
        label = _deterministic_label(losses, fmin, xs, grad, lr, loss, extra_steps=5000)
        src = f"full-batch GD on {name}, alpha = {k:g}/L0 = {lr:.4g}, {steps} steps"
        out.append(_record(name.split()[0] + "-full", src, losses, label, fmin, lr, gns))
    return out


def _sgd(problem, lr, batch, epochs, seed):
    _, dim, n, loss, grad, _, _ = problem
    rng = np.random.RandomState(seed)
    w = np.zeros(dim)
    full, batch_losses = [loss(w)], []
    with np.errstate(all="ignore"):
        for _ in range(epochs):
            order = rng.permutation(n)
            for i in range(0, n - batch + 1, batch):
                idx = order[i : i + batch]
                batch_losses.append(loss(w, idx))
                w = w - lr * grad(w, idx)
                full.append(loss(w))
                if not np.all(np.isfinite(w)) or np.max(np.abs(w)) > 1e100:
                    return np.array(full), np.array(batch_losses), True
    return np.array(full), np.array(batch_losses), False


def _sweep_labels(finals, lrs, blown, fmin, start):
    """Sweep rule: good within TOL of the minimum; otherwise the side of the best learning rate."""
    gaps = [_rel_gap(f, fmin, start) if not b else math.inf for f, b in zip(finals, blown)]
    best = int(np.argmin(gaps))
    labels = []
    for i, (gap, b) in enumerate(zip(gaps, blown)):
        if b or gap > 1.0:
            labels.append("diverging")
        elif gap <= TOL:
            labels.append("good")
        else:
            labels.append("too_high" if lrs[i] > lrs[best] else "too_low")
    return labels, gaps[best]


def minibatch(problem, lr_factors, batch, epochs, seed, floor_from="minimum"):
    """SGD sweep; the curve is the full cost after every step (what lrlab records)."""
    name, _, _, _, _, fmin, sharp = problem
    lrs = [k / sharp for k in lr_factors]
    runs = [_sgd(problem, lr, batch, epochs, seed) for lr in lrs]
    start = runs[0][0][0]
    finals = [_tail_mean(r[0]) if np.all(np.isfinite(r[0])) else math.inf for r in runs]
    labels, _ = _sweep_labels(finals, lrs, [r[2] for r in runs], fmin, start)
    # the floor a user has: the exact minimum, or the best final cost of the same sweep
    floor = fmin if floor_from == "minimum" else min(finals)
    out = []
    for lr, k, (full, _, blown), label in zip(lrs, lr_factors, runs, labels):
        if blown:
            full = np.concatenate([full, np.full(len(runs[0][0]) - len(full), math.inf)])
        src = (
            f"mini-batch SGD (batch {batch}, {epochs} epochs, seed {seed}) on {name}, "
            f"alpha = {k:g}/L0 = {lr:.4g}; floor = {floor_from}"
        )
        # a noisy plateau above the minimum looks like convergence once the floor is withheld
        nofloor = None if label == "too_high" else "same"
        out.append(_record(name.split()[0] + "-sgd", src, full, label, floor, lr, nofloor=nofloor))
    return out


# ----------------------------------------------------------------------------------------------
# edge of stability: a small tanh MLP, full batch


def _moons(n, seed):
    rng = np.random.RandomState(seed)
    t = rng.uniform(0, np.pi, n)
    lab = rng.randint(0, 2, n)
    x = np.where(
        lab[:, None] == 0, np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)]
    )
    x = x + rng.normal(0, 0.15, x.shape)
    return _standard(x), 2.0 * lab - 1.0


def _mlp_run(x, y, lr, steps, width, seed):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, 1),
    ).double()
    xt = torch.tensor(x)
    yt = torch.tensor(y)[:, None]
    losses, gns = [], []
    for t in range(steps + 1):
        loss = ((net(xt) - yt) ** 2).mean()
        losses.append(loss.item())
        if not math.isfinite(losses[-1]) or losses[-1] > 1e100:
            losses.extend([math.inf] * (steps - t))
            gns.extend([math.inf] * (steps + 1 - t))
            break
        net.zero_grad()
        loss.backward()
        with torch.no_grad():
            gns.append(float(torch.sqrt(sum((p.grad**2).sum() for p in net.parameters()))))
            if t < steps:
                for p in net.parameters():
                    p -= lr * p.grad
    return np.array(losses), np.array(gns)


def mlp_eos():
    out = []
    for seed, width, lrs in [
        (0, 32, [0.01, 0.03, 0.1, 0.2, 0.3, 0.4, 0.6, 1.0]),
        (1, 16, [0.02, 0.1, 0.3, 0.4, 0.5, 1.0]),
        (2, 24, [0.05, 0.2, 0.35, 0.45, 2.0]),
    ]:
        x, y = _moons(200, seed)
        runs = [_mlp_run(x, y, lr, 600, width, seed) for lr in lrs]
        start = runs[0][0][0]
        finals = [_tail_mean(r[0]) if np.all(np.isfinite(r[0])) else math.inf for r in runs]
        blown = [not np.all(np.isfinite(r[0])) for r in runs]
        # no closed-form minimum: the floor is the best final cost of the sweep (what a user has)
        floor = min(finals)
        labels, _ = _sweep_labels(finals, lrs, blown, floor, start)
        for lr, (losses, gns), label in zip(lrs, runs, labels):
            up = float(np.mean(np.diff(losses[np.isfinite(losses)]) > 0))
            src = (
                f"full-batch GD on a tanh MLP (2-{width}-{width}-1, MSE) on 200 two-moons "
                f"points, seed {seed}, alpha={lr:g}, 600 steps; {up:.0%} of steps go up"
            )
            # too_low here means "a larger rate of the sweep got lower": that needs the floor
            nofloor = None if label == "too_low" else "same"
            out.append(
                _record(
                    "mlp-eos",
                    src,
                    losses,
                    label,
                    floor,
                    lr,
                    gns,
                    nofloor=nofloor,
                    up_fraction=round(up, 3),
                )
            )
    return out


# ----------------------------------------------------------------------------------------------
# training logs written as files


def logs(problems):
    """Mini-batch runs logged as a user would: running mean of batch losses every k steps."""
    out = []
    logdir = OUT / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    plan = [
        (problems[0], [0.002, 0.01, 0.05, 0.2, 0.6, 1.4, 2.5], 8, 60, 10),
        (problems[1], [0.01, 0.1, 0.5, 2.0, 8.0, 30.0], 16, 60, 10),
        (problems[2], [0.02, 0.2, 1.0, 4.0, 20.0], 32, 40, 5),
    ]
    for problem, factors, batch, epochs, every in plan:
        name, _, _, _, _, fmin, sharp = problem
        lrs = [k / sharp for k in factors]
        runs = [_sgd(problem, lr, batch, epochs, 11) for lr in lrs]
        start = runs[0][0][0]
        finals = [_tail_mean(r[0]) if not r[2] else math.inf for r in runs]
        labels, _ = _sweep_labels(finals, lrs, [r[2] for r in runs], fmin, start)
        short = name.split()[0]
        for i, (lr, (full, batch_losses, blown), label) in enumerate(zip(lrs, runs, labels)):
            n_log = len(runs[0][1]) // every
            vals = np.full(n_log, math.nan)
            m = len(batch_losses) // every
            with np.errstate(all="ignore"):
                vals[:m] = batch_losses[: m * every].reshape(m, every).mean(1)
            if blown:
                vals[m:] = math.nan  # a diverged run logs NaN from then on
            vals[~np.isfinite(vals)] = math.nan
            steps = (np.arange(n_log) + 1) * every
            # like most training loops, the very first batch loss is logged on its own at step 0
            vals = np.concatenate([[batch_losses[0]], vals])
            steps = np.concatenate([[0], steps])
            fname = f"{short}-sgd-{i}.{'jsonl' if i % 3 == 2 else 'csv'}"
            _write_log(logdir / fname, steps, vals, seed=i)
            src = (
                f"training log {fname}: mini-batch SGD (batch {batch}) on {name}, "
                f"alpha={lr:.4g}, mean batch loss every {every} steps"
            )
            # batch sampling noise left in a logged value, against the "good" tolerance: when it
            # is larger, the height of a plateau cannot be read without the floor
            m_ok = min(len(batch_losses), len(full) - 1)
            with np.errstate(all="ignore"):
                sampling = np.nanstd(batch_losses[:m_ok] - full[:m_ok]) / math.sqrt(every)
            noisy = not math.isfinite(sampling) or sampling > TOL * (start - fmin)
            nofloor = None if label == "too_high" or (noisy and label != "diverging") else "same"
            rec = _record(
                "log-" + short, src, [], label, fmin, lr, nofloor=nofloor, log="logs/" + fname
            )
            del rec["losses"]  # read back from the file
            out.append(rec)
    return out


def _write_log(path, steps, vals, seed):
    rng = np.random.RandomState(100 + seed)
    acc = np.clip(
        0.5 + 0.4 * (1 - np.exp(-steps / steps[-1] * 3)) + rng.normal(0, 0.01, len(steps)), 0, 1
    )
    if path.suffix == ".csv":
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["step", "epoch", "lr", "train_loss", "val_loss", "acc"])
            for s, v, a in zip(steps, vals, acc):
                # validation is only every 5th log line: empty cells elsewhere
                val = f"{v * 1.05:.6g}" if s % (5 * steps[1]) == 0 else ""
                w.writerow([int(s), int(s // 50), "", f"{v:.7g}", val, f"{a:.4f}"])
    else:
        with open(path, "w") as fh:
            for s, v, a in zip(steps, vals, acc):
                row = {
                    "global_step": int(s),
                    "train": {
                        "loss": _num(v) if math.isfinite(v) else "nan",
                        "acc": round(float(a), 4),
                    },
                }
                fh.write(json.dumps(row) + "\n")


def main() -> None:
    torch.set_num_threads(1)  # bit-for-bit the same on every machine we tried
    OUT.mkdir(parents=True, exist_ok=True)
    problems = [_diabetes(), _cancer(), _digits()]
    curves = []
    curves += quad1d()
    curves += quad2d()
    curves += hill()
    curves += rosenbrock()
    curves += full_batch(problems[0], [0.01, 0.1, 0.5, 1.0, 1.5, 1.9, 1.99, 2.05, 2.5], 200)
    curves += full_batch(problems[1], [0.003, 0.03, 0.3, 1.0, 3.0, 10.0, 30.0, 60.0], 300)
    curves += full_batch(problems[2], [0.01, 0.1, 1.0, 1.9, 2.2, 4.0], 200)
    curves += minibatch(problems[0], [0.004, 0.04, 0.2, 0.6, 1.0, 1.6], 16, 20, 0)
    curves += minibatch(problems[0], [0.004, 0.04, 0.2, 0.6, 1.0, 1.6], 16, 20, 1, "sweep")
    curves += minibatch(problems[1], [0.01, 0.3, 3.0, 10.0, 40.0, 120.0], 16, 20, 0)
    curves += minibatch(problems[2], [0.03, 0.3, 1.5, 6.0, 30.0], 32, 8, 0, "sweep")
    curves += mlp_eos()
    curves += logs(problems)
    for i, c in enumerate(curves):
        c["id"] = f"{i:03d}-{c['family']}"
    with open(OUT / "curves.json", "w") as fh:
        json.dump({"tolerance": TOL, "curves": curves}, fh, separators=(",", ":"))
    counts = {}
    for c in curves:
        counts[c["label"]] = counts.get(c["label"], 0) + 1
    print(f"{len(curves)} curves -> {OUT / 'curves.json'}: {counts}")


if __name__ == "__main__":
    main()
