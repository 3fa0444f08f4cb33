"""Make the held-out regime curves: other problems, optimizers, seeds and labelling rule.

The curves ``benchmarks/regimes.py`` was tuned on come from ``make_regime_curves.py``. This
script is a different generator, written separately and run once; its output,
``benchmarks/data/regimes/heldout.json``, was committed before any threshold of the
diagnosis changed, and is data from then on (rerunning writes the same curves)::

    python benchmarks/make_heldout_curves.py

Every run is a plain ``torch.optim`` loop in float64 (SGD with heavy-ball and Nesterov
momentum, Adam, RMSprop, plain SGD), on problems the tuned set does not use:

* ``quad-momentum``: diagonal quadratics (dimension 5, condition 10 and 300), random starts,
  SGD with momentum 0.5 / 0.9 / Nesterov 0.9, lr from 1e-3 to 1.3 times its stability limit;
* ``quad-gd``: a random-spectrum quadratic (dimension 8), plain SGD around 2/L;
* ``quad-adaptive``: the same quadratics with Adam and RMSprop;
* ``quartic``: ``x**4 - 3*x**2 + x`` (a local minimum near 1.13, the global one near -1.30)
  from four starts, plain SGD and momentum 0.9;
* ``camel``: the six-hump camel function, plain SGD from three starts;
* ``wine-softmax``: L2-regularised softmax regression on scikit-learn's wine data, full
  batch, momentum 0.9 and Adam;
* ``iris-sgd``: L2-regularised softmax regression on iris with mini-batches of 16 (plain and
  momentum 0.9); the curve is the full cost after every step.

Labels come from an independent rule, never from lrlab: the exact minimum (closed form, or
L-BFGS run to a gradient below 1e-10), and the same loop continued to 6 times its budget:

* ``diverging``: a non-finite cost, or the continued run ends above its start;
* ``good``: the run's end level is within ``TOL`` (2 %) of the initial gap above the minimum;
* ``too_low``: not yet, but the continued run gets there, or is still falling by more than
  the tolerance over its last budget (the budget ran out);
* ``too_high``: the continued run stays above it while its cost keeps going up and down;
* ``stuck``: the continued run has stopped (its last budget fell by less than the
  tolerance) smoothly, at a level above it.

Each curve also carries ``sweep_floor``, the best end level of its sweep (the runs that
share everything but the learning rate), which is the floor lrlab's ``sweep`` gives its
diagnoses when no minimum is known.
"""

from __future__ import annotations

import json
import math
import multiprocessing
from functools import partial
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_iris, load_wine

TOL = 0.02
OUT = Path(__file__).resolve().parent / "data" / "regimes" / "heldout.json"
CONTINUE = 6  # the continued run is this many budgets long (the budget included)
DIGITS = 7


def _num(v: float) -> float | None:
    v = float(v)
    return float(f"{v:.{DIGITS}g}") if math.isfinite(v) else None


# ---------------------------------------------------------------------------- problems


class Problem:
    """A differentiable cost of a flat parameter vector, with its exact minimum."""

    def __init__(self, name, cost, x0, fmin, batches=None):
        self.name, self.cost, self.x0, self.fmin, self.batches = name, cost, x0, fmin, batches


def diag_quadratic(dim, kappa, seed):
    lam = torch.tensor(np.geomspace(1.0 / kappa, 1.0, dim))
    x0 = torch.tensor(np.random.RandomState(seed).normal(size=dim))

    def cost(x, idx=None):
        return 0.5 * (lam * x * x).sum()

    return Problem(f"quadratic dim {dim} kappa {kappa:g} seed {seed}", cost, x0, 0.0)


def random_quadratic(dim, kappa, seed):
    rng = np.random.RandomState(seed)
    lam = np.sort(rng.uniform(1.0 / kappa, 1.0, dim))
    lam[0], lam[-1] = 1.0 / kappa, 1.0
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    h = torch.tensor(q @ np.diag(lam) @ q.T)
    x0 = torch.tensor(rng.normal(size=dim))

    def cost(x, idx=None):
        return 0.5 * x @ h @ x

    return Problem(f"rotated quadratic dim {dim} kappa {kappa:g} seed {seed}", cost, x0, 0.0)


def quartic(start):
    # f'(x) = 4x^3 - 6x + 1: its real roots are the stationary points
    roots = np.roots([4.0, 0.0, -6.0, 1.0]).real
    fmin = float(min(r**4 - 3 * r**2 + r for r in roots))

    def cost(x, idx=None):
        return (x**4 - 3 * x**2 + x).sum()

    return Problem(f"x^4 - 3x^2 + x from {start:g}", cost, torch.tensor([start]), fmin)


def _camel_np(x, y):
    return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2


def camel(start):
    # the global minimum by brute force: a fine grid, then Newton steps on the gradient
    g = np.linspace(-2.0, 2.0, 2001)
    xx, yy = np.meshgrid(g, g, indexing="ij")
    v = _camel_np(xx, yy)
    i = np.unravel_index(np.argmin(v), v.shape)
    p = torch.tensor([xx[i], yy[i]], requires_grad=True)
    opt = torch.optim.LBFGS([p], tolerance_grad=1e-14, tolerance_change=0, max_iter=200)

    def closure():
        opt.zero_grad()
        f = _camel_np(p[0], p[1])
        f.backward()
        return f

    opt.step(closure)
    fmin = float(_camel_np(p[0], p[1]).detach())

    def cost(x, idx=None):
        return _camel_np(x[0], x[1])

    name = f"six-hump camel from ({start[0]:g}, {start[1]:g})"
    return Problem(name, cost, torch.tensor(start), fmin)


def softmax_problem(name, x, y, l2, batch=None, seed=0):
    x = (x - x.mean(0)) / x.std(0)
    xt = torch.tensor(np.c_[x, np.ones(len(x))])
    yt = torch.tensor(y)
    k = int(y.max()) + 1
    d = xt.shape[1]

    def cost(w, idx=None):
        a, b = (xt, yt) if idx is None else (xt[idx], yt[idx])
        logits = a @ w.view(d, k)
        return torch.nn.functional.cross_entropy(logits, b) + 0.5 * l2 * (w * w).sum()

    w = torch.zeros(d * k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w], tolerance_grad=1e-10, tolerance_change=0, max_iter=5000, line_search_fn="strong_wolfe"
    )

    def closure():
        opt.zero_grad()
        f = cost(w)
        f.backward()
        return f

    opt.step(closure)
    fmin = float(cost(w).detach())
    batches = None
    if batch is not None:
        n = len(y)

        def batches(gen):  # an endless stream of shuffled mini-batches
            while True:
                order = torch.randperm(n, generator=gen)
                for i in range(0, n - batch + 1, batch):
                    yield order[i : i + batch]

    return Problem(name, cost, torch.zeros(d * k, dtype=torch.float64), fmin, batches)


# ---------------------------------------------------------------------------- runs


def run(problem, make_opt, steps, seed=0):
    """The budget and its continuation by one torch.optim loop: (losses, grad norms, more)."""
    x = problem.x0.clone().double().requires_grad_(True)
    opt = make_opt([x])
    gen = torch.Generator().manual_seed(seed)
    stream = problem.batches(gen) if problem.batches is not None else None
    losses, grads = [], []
    total = steps * CONTINUE
    for t in range(total + 1):
        with torch.no_grad():
            full = float(problem.cost(x))
        losses.append(full)
        if not math.isfinite(full) or abs(full) > 1e30 * (abs(losses[0]) + 1):
            losses[-1] = math.inf
            losses += [math.inf] * (total - t)
            grads += [math.inf] * (total + 1 - len(grads))
            break
        opt.zero_grad()
        f = problem.cost(x, next(stream) if stream is not None else None)
        f.backward()
        gn = float(x.grad.norm())
        if stream is not None:  # log the full gradient, as lrlab does at its points
            with torch.enable_grad():
                y = x.detach().clone().requires_grad_(True)
                problem.cost(y).backward()
                gn = float(y.grad.norm())
        grads.append(gn)
        if t < total:
            opt.step()
    losses, grads = np.array(losses), np.array(grads)
    return losses[: steps + 1], grads[: steps + 1], losses


def _level(curve):
    """Where a curve ends: its last value when the tail falls monotonically, else the mean of
    its last tenth (a bouncing run sits at its average level)."""
    w = max(2, len(curve) // 10)
    tail = curve[-w:]
    return float(tail[-1]) if np.all(np.diff(tail) <= 0) else float(np.mean(tail))


def label(budget, cont, fmin):
    start = float(budget[0])
    gap0 = start - fmin
    if not np.all(np.isfinite(budget)) or not np.all(np.isfinite(cont)):
        return "diverging"
    if _level(cont) > start:
        return "diverging"
    if (_level(budget) - fmin) / gap0 <= TOL:
        return "good"
    if (_level(cont) - fmin) / gap0 <= TOL:
        return "too_low"
    tail = cont[-len(cont) // 10 :]
    ups = np.mean(np.diff(tail) > 1e-12 * max(1.0, abs(float(tail[-1]))))
    if ups > 0.05:
        return "too_high"
    last_budget = len(budget) - 1
    still = (_level(cont[-2 * last_budget : -last_budget]) - _level(cont)) / gap0 > TOL
    return "too_low" if still else "stuck"


# ---------------------------------------------------------------------------- the set


def sweep(family, problem, opt_name, make_opt, lrs, steps, seed=0):
    rows = []
    for lr in lrs:
        budget, grads, cont = run(problem, lambda p, lr=lr: make_opt(p, lr), steps, seed)
        rows.append((lr, budget, grads, label(budget, cont, problem.fmin)))
    ends = [_level(b) for _, b, _, _ in rows if np.all(np.isfinite(b))]
    sweep_floor = min(ends) if ends else None
    out = []
    for lr, budget, grads, lab in rows:
        out.append(
            {
                "id": "",
                "family": family,
                "source": f"{opt_name} on {problem.name}, lr {lr:.4g}, {steps} steps",
                "optimizer": opt_name,
                "lr": float(lr),
                "floor": _num(problem.fmin),
                "sweep_floor": None if sweep_floor is None else _num(sweep_floor),
                "label": lab,
                # a run stuck at a worse point reads as good when the floor is withheld
                "label_without_floor": "good" if lab == "stuck" else lab,
                "losses": [_num(v) for v in budget],
                "grad_norms": [_num(v) for v in grads],
            }
        )
    return out


class sgd:  # a picklable factory, used like torch.optim.SGD
    def __init__(self, momentum=0.0, nesterov=False):
        self.momentum, self.nesterov = momentum, nesterov

    def __call__(self, p, lr):
        return torch.optim.SGD(p, lr=lr, momentum=self.momentum, nesterov=self.nesterov)


def adam(p, lr):
    return torch.optim.Adam(p, lr=lr)


def rmsprop(p, lr):
    return torch.optim.RMSprop(p, lr=lr)


def _job(args):
    torch.set_num_threads(1)  # tiny tensors: threads only contend
    torch.set_default_dtype(torch.float64)
    family, build, opt_name, make_opt, lrs, steps, seed = args
    return sweep(family, build(), opt_name, make_opt, lrs, steps, seed)


def _wine():
    x, y = load_wine(return_X_y=True)
    return softmax_problem("wine softmax, l2 0.01", x, y, 0.01)


def _iris():
    x, y = load_iris(return_X_y=True)
    return softmax_problem("iris softmax, l2 0.001, batches of 16", x, y, 1e-3, batch=16)


def main():
    jobs = []
    fractions = [1e-3, 0.01, 0.2, 0.5, 0.9, 0.99, 1.03, 1.3]
    for kappa, seed in [(10.0, 1001), (300.0, 1002)]:
        prob = partial(diag_quadratic, 5, kappa, seed)
        for beta, nest in [(0.5, False), (0.9, False), (0.9, True)]:
            edge = (2 + 2 * beta) / ((1 + 2 * beta) if nest else 1)  # sharpness 1
            name = f"SGD(momentum={beta:g}{', nesterov' if nest else ''})"
            lrs = [m * edge for m in fractions]
            jobs.append(("quad-momentum", prob, name, sgd(beta, nest), lrs, 300, 0))
        for name, make in [("Adam", adam), ("RMSprop", rmsprop)]:
            lrs = [1e-4, 1e-3, 0.01, 0.1, 0.3, 1.0, 10.0]
            jobs.append(("quad-adaptive", prob, name, make, lrs, 300, 0))
    prob = partial(random_quadratic, 8, 30.0, 2002)
    lrs = [m * 2 for m in (1e-4, 1e-3, 0.01, 0.2, 0.5, 0.9, 0.995, 1.01, 1.1, 2.0)]
    jobs.append(("quad-gd", prob, "SGD", sgd(), lrs, 300, 0))
    for start in (2.0, -2.0, 0.3, 2.6):
        lrs = [1e-3, 0.01, 0.03, 0.06, 0.1, 0.15]
        jobs.append(("quartic", partial(quartic, start), "SGD", sgd(), lrs, 300, 0))
    lrs = [1e-3, 3e-3, 0.01, 0.02]
    jobs.append(("quartic", partial(quartic, 2.0), "SGD(momentum=0.9)", sgd(0.9), lrs, 300, 0))
    for start in [(1.5, 0.8), (-1.7, 0.8), (1.0, -0.5)]:
        lrs = [1e-3, 0.005, 0.02, 0.1]
        jobs.append(("camel", partial(camel, start), "SGD", sgd(), lrs, 300, 0))
    lrs = list(np.geomspace(1e-3, 10, 6))
    jobs.append(("wine-softmax", _wine, "SGD(momentum=0.9)", sgd(0.9), lrs, 400, 0))
    lrs = list(np.geomspace(1e-4, 1.0, 6))
    jobs.append(("wine-softmax", _wine, "Adam", adam, lrs, 400, 0))
    for beta in (0.0, 0.9):
        name = "SGD" if beta == 0 else f"SGD(momentum={beta:g})"
        lrs = list(np.geomspace(1e-3, 3.0, 5))
        jobs.append(("iris-sgd", _iris, name, sgd(beta), lrs, 360, 7))
    # the slowest jobs first, two processes: the curves do not depend on the split
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        done = pool.map(_job, jobs[::-1], chunksize=1)[::-1]
    curves = [c for part in done for c in part]
    for i, c in enumerate(curves):
        c["id"] = f"h{i:03d}"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w") as fh:
        json.dump({"tolerance": TOL, "continued": CONTINUE, "curves": curves}, fh)
    counts = {}
    for c in curves:
        counts[c["label"]] = counts.get(c["label"], 0) + 1
    print(f"{len(curves)} curves -> {OUT}: {counts}")


if __name__ == "__main__":
    main()
