"""How good is a suggested learning rate? Scored against a brute-force grid, for a fixed budget.

For each problem the best learning rate ``alpha*`` of a dense grid (one batched
``lrlab.sweep`` of 100-400 learning rates) is found for a fixed budget of steps. Each method's
suggestion ``alpha`` is then run for the same budget from the same start (on the same
mini-batches) and scored by

* normalised progress   ``NP = (f0 - f(alpha)) / (f0 - f(alpha*))``, and
* log-progress          ``LP = (log g0 - log g(alpha)) / (log g0 - log g(alpha*))``,
  with ``g = f - f_min`` the gap above the known minimum (0 where none is known and the
  cost is non-negative), which separates methods more sharply near the optimum.

1 is as good as the best of the grid; 0 is no progress; ``div`` means the run diverged.

Methods:

* ``suggest``  -- ``lrlab.suggest(f, steps)``;
* ``1/L``      -- the curvature bound alone: 1 / sharpness at the start;
* ``valley``   -- fastai's valley rule read off an LR range test (``lrlab.range_test``, SGD);
* ``tlrf``     -- torch-lr-finder: ``LRFinder.range_test`` with SGD, then the suggestion its
  ``plot(suggest_lr=True)`` returns (the steepest gradient of the loss after trimming 10
  points at the start and 5 at the end), computed here from its history the same way.

Both range tests run 100 iterations from ``1e-4/L`` to ``1e3/L`` (``L``: the sharpness at the
start), a range that holds every problem's best learning rate, so neither is handicapped by
a range chosen without knowing the problem. Analytic costs are wrapped as an ``nn.Module``
whose one ``nn.Parameter`` is the point, with the cost as its loss.

Usage::

    python benchmarks/suggest.py             # every problem (about a minute here)
    python benchmarks/suggest.py --quick     # three cheap problems, coarser grids
    python benchmarks/suggest.py --threads 2

Torch runs on one thread by default: on a shared 2-core machine two threads that contend with
other processes make timings swing tenfold; one thread keeps them steady.

Latest numbers (2-core x86 CPU shared with other work, torch 2.13, one thread)::

    learning rates (best a: the best of the dense grid; * at the grid's edge)
    problem                       steps    best a   suggest       1/L    valley      tlrf suggest s
    -----------------------------------------------------------------------------------------------
    bowl:kappa=10                   200     0.181      0.164       0.1   0.00572    0.0248      0.09
    bowl:kappa=100                  200    0.0192     0.0164      0.01  0.000413    0.0021      0.09
    bowl:kappa=1000                 200   0.00192    0.00164     0.001  4.13e-05   0.00021      0.11
    rosenbrock                      200   0.00371    0.00373  0.000664  4.47e-05  0.000164      0.09
    hill                            200     0.105     0.0812      0.02   0.00186   0.00685      0.07
    six-hump-camel                  200     0.081     0.0799    0.0211   0.00232   0.00852      0.13
    beale                           200    0.0353     0.0284   0.00355   0.00054   0.00448      0.14
    diabetes-linear                 100     0.235      0.204     0.124   0.00711    0.0817      0.11
    cancer-logistic                 100      16.1       16.6      0.34    0.0843     0.263      0.14
    cancer-logistic:batch_size=32   100       3.2        3.4      0.34     0.117     0.263      0.11
    digits-softmax                  100      14.5       13.4         1      0.11      0.66      0.35
    digits-mlp                      100       155        125      1.25    0.0713      1.14      1.84
    digits-mlp:batch_size=64        100      4.69       4.55      1.25     0.116      1.85      0.28

    scores: normalised progress / log-progress (1 = the grid's best, div = diverged)
    problem                            suggest         1/L      valley        tlrf
    ------------------------------------------------------------------------------
    bowl:kappa=10                   1.00/0.90   1.00/0.53   0.97/0.04   1.00/0.14
    bowl:kappa=100                  1.00/0.90   1.00/0.66   0.97/0.31   0.98/0.37
    bowl:kappa=1000                 1.00/0.98   1.00/0.94   1.00/0.88   1.00/0.89
    rosenbrock                      1.00/1.00   0.85/0.36   0.83/0.34   0.84/0.34
    hill                            1.00/1.00   0.76/0.04   0.76/0.04   0.76/0.04
    six-hump-camel                  1.00/1.00   0.22/0.01   0.22/0.01   0.22/0.01
    beale                           1.00/0.91   1.00/0.48   0.94/0.24   1.00/0.51
    diabetes-linear                 1.00/0.98   1.00/0.94   0.95/0.43   1.00/0.91
    cancer-logistic                 1.00/0.84   0.97/0.38   0.92/0.27   0.96/0.36
    cancer-logistic:batch_size=32   1.00/1.00   0.97/0.62   0.94/0.48   0.97/0.59
    digits-softmax                  1.00/0.99   0.99/0.53   0.91/0.29   0.98/0.47
    digits-mlp                      1.00/0.93   0.99/0.44   0.82/0.17   0.99/0.42
    digits-mlp:batch_size=64        1.00/0.97   0.99/0.68   0.89/0.35   0.99/0.76

    suggest  NP >= 0.9 on 13/13; median NP 1.000, median LP 0.982
    1/L      NP >= 0.9 on 10/13; median NP 0.988, median LP 0.529
    valley   NP >= 0.9 on 8/13; median NP 0.919, median LP 0.291
    tlrf     NP >= 0.9 on 10/13; median NP 0.983, median LP 0.425
    suggest ahead of torch-lr-finder (LP) on 13/13 problems
    suggest on digits-mlp: 1.84 s
    total 52 s

``suggest`` on digits-mlp (full batch, 100 steps) took 1.8 s inside this run; in a fresh process
(imports and first calls included) 3-4 s with one thread or two. With two threads while other
processes keep both cores busy it took up to 11 s: torch's two threads then wait on each other.
On an H100 (``objective("digits-mlp", device="cuda")``) it took 1.0 s.

Other rules (``--optimizer momentum``: SGD with momentum 0.9; ``--optimizer adam``), each
scored against a dense grid of that rule and with both range tests run with that rule (for
momentum the ``1/L`` column is half its stability limit, ``(1 + beta)/L``; Adam has none, and
its grid and range tests span 1e-6 to 10). Measured on the same shared 2-core machine under
heavy load (load average about 15), so the seconds are not comparable with the table above::

    momentum  suggest  NP >= 0.9 on 13/13; median NP 1.000, median LP 0.972
    momentum  1/L      NP >= 0.9 on 11/13; median NP 1.000, median LP 0.715
    momentum  valley   NP >= 0.9 on 10/13; median NP 0.994, median LP 0.493
    momentum  tlrf     NP >= 0.9 on 11/13; median NP 0.988, median LP 0.360
    momentum  suggest ahead of torch-lr-finder (LP) on 13/13 problems

    adam: suggest's NP is 1.000 on each of the 11 problems from bowl:kappa=10 to
    digits-softmax (LP 0.73-1.00); the digits-mlp rows did not finish in the time this run had.

SGD in the same run: suggest NP >= 0.9 on 13/13 (median LP 0.984), as before.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import time
import warnings

import numpy as np
import torch
from torch import nn

import lrlab
from lrlab.curvature import sharpness

# (objective, budget, grid lo and hi in units of 1/L, grid size)
PROBLEMS = [
    ("bowl:kappa=10", 200, 1e-3, 1e2, 400),
    ("bowl:kappa=100", 200, 1e-3, 1e2, 400),
    ("bowl:kappa=1000", 200, 1e-3, 1e2, 400),
    ("rosenbrock", 200, 1e-3, 1e2, 400),
    ("hill", 200, 1e-3, 1e2, 400),
    ("six-hump-camel", 200, 1e-3, 1e2, 400),
    ("beale", 200, 1e-3, 1e2, 400),
    ("diabetes-linear", 100, 1e-3, 1e2, 300),
    ("cancer-logistic", 100, 1e-3, 1e3, 300),
    ("cancer-logistic:batch_size=32", 100, 1e-3, 1e3, 300),
    ("digits-softmax", 100, 1e-2, 1e3, 300),
    ("digits-mlp", 100, 1e-1, 1e3, 200),
    ("digits-mlp:batch_size=64", 100, 1e-2, 1e3, 300),
]
QUICK = [
    ("bowl:kappa=100", 200, 1e-3, 1e2, 100),
    ("hill", 200, 1e-3, 1e2, 100),
    ("cancer-logistic", 100, 1e-3, 1e3, 60),
]
METHODS = ("suggest", "1/L", "valley", "tlrf")
#: The rules compared: plain SGD, heavy-ball momentum 0.9 and Adam (torch's defaults).
OPTIMIZERS = {
    "sgd": lrlab.optim.sgd(),
    "momentum": lrlab.optim.sgd(momentum=0.9),
    "adam": lrlab.optim.adam(),
}
#: An adaptive rule's learning rate does not scale with 1/L: its grid and range tests span
#: these absolute learning rates instead.
ADAPTIVE_RANGE = (1e-6, 10.0)


class Point(nn.Module):
    """An objective as a model: one parameter (the point); the output is the cost."""

    def __init__(self, f):
        super().__init__()
        self.f = f
        self.w = nn.Parameter(f.start.detach().clone())

    def forward(self, batch):
        return self.f.cost(self.w, batch)


def batches(f, n: int) -> list:
    """``n`` (batch, dummy target) pairs: the batches a sweep's first ``n`` steps see."""
    return [(b, torch.zeros(())) for b in f.batches(n)]


def cost_of(output, _target):
    return output


def test_range(rule, L: float) -> tuple[float, float]:
    """The range both range tests sweep: ``1e-4/L .. 1e3/L`` for SGD, fixed for Adam."""
    return ADAPTIVE_RANGE if rule.adaptive else (1e-4 / L, 1e3 / L)


def valley(f, L: float, rule) -> float | None:
    model = Point(f)
    lo, hi = test_range(rule, L)
    opt = rule.to_torch(model.parameters(), lr=lo)
    rt = lrlab.range_test(
        model, cost_of, batches(f, 100), opt, start_lr=lo, end_lr=hi, num_iter=100
    )
    return rt.suggestions["valley"]


def torch_lr_finder(f, L: float, rule) -> float | None:
    from torch_lr_finder import LRFinder

    model = Point(f)
    lo, hi = test_range(rule, L)
    opt = rule.to_torch(model.parameters(), lr=lo)
    # batch_size=None: the loader hands over each (batch, target) pair as it is.
    loader = torch.utils.data.DataLoader(
        batches(f, 100), batch_size=None, collate_fn=lambda item: item
    )
    finder = LRFinder(model, opt, cost_of)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        finder.range_test(loader, end_lr=hi, num_iter=100)
    lrs, losses = finder.history["lr"][10:-5], finder.history["loss"][10:-5]
    finder.reset()
    if len(lrs) < 2:
        return None
    return float(lrs[int(np.gradient(np.array(losses)).argmin())])


def scores(f0: float, floor: float, best: float, value: float, eps: float) -> tuple[float, float]:
    """(NP, LP) of a final cost ``value``; ``eps`` is the cost's machine epsilon."""
    if not math.isfinite(value):
        return -math.inf, -math.inf
    np_ = (f0 - value) / (f0 - best)
    # A gap below the rounding error of the cost at its minimum is zero: without this floor,
    # one run landing on the minimum's exact float and another one ulp off would differ by
    # hundreds of orders of magnitude in log-progress.
    tiny = max(4 * eps * abs(floor), 1e-300)

    def gap(v: float) -> float:
        return max(v - floor, tiny)

    lp = (math.log(gap(f0)) - math.log(gap(value))) / (math.log(gap(f0)) - math.log(gap(best)))
    return np_, lp


def fmt(x: float | None, spec: str = ".3g") -> str:
    if x is None:
        return "-"
    if not math.isfinite(x):
        return "div"
    return format(x, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three cheap problems")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--optimizer",
        action="append",
        choices=sorted(OPTIMIZERS),
        help="the rules to score (repeatable; default all: sgd, momentum, adam)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    t_all = time.perf_counter()
    for label in args.optimizer or list(OPTIMIZERS):
        print(f"=== {label}: {OPTIMIZERS[label].to_dict()}", flush=True)
        evaluate(OPTIMIZERS[label], QUICK if args.quick else PROBLEMS)
        print()
    print(f"total {time.perf_counter() - t_all:.0f} s")


def evaluate(rule, problems) -> None:
    """Score every method on every problem for one rule, and print the tables."""
    rows = []
    for name, steps, lo, hi, num in problems:
        f = lrlab.objective(name)
        f0 = f.loss(f.start)
        L = sharpness(f, tol=1e-4)
        t0 = time.perf_counter()
        # The rule's own scale: its stability limit over 2 (1/L for SGD), or absolute for Adam.
        unit = ADAPTIVE_RANGE[0] * 1e3 if rule.adaptive else rule.stability_limit(L) / 2
        if rule.adaptive:
            lo, hi = ADAPTIVE_RANGE[0] / unit, ADAPTIVE_RANGE[1] / unit
        grid = lrlab.sweep(
            f,
            lrs=lrlab.lr_grid(lo * unit, hi * unit, num),
            steps=steps,
            optimizer=rule,
            record="summary",
            keep_params=False,
        )
        t_grid = time.perf_counter() - t0
        finals = grid.final_losses
        b = int(np.argmin(np.where(np.isfinite(finals), finals, np.inf)))
        best_lr, best = float(grid.lrs[b]), float(finals[b])
        edge = b in (0, len(finals) - 1)
        t0 = time.perf_counter()
        s = lrlab.suggest(f, steps=steps, optimizer=rule)
        t_suggest = time.perf_counter() - t0
        alphas = {
            "suggest": s.lr,
            "1/L": None if rule.adaptive else unit,
            "valley": valley(f, L, rule),
            "tlrf": torch_lr_finder(f, L, rule),
        }
        run = [a for a in alphas.values() if a is not None]
        finals = lrlab.sweep(f, lrs=run, steps=steps, optimizer=rule).final_losses
        values = dict(zip(run, finals, strict=True))
        floor = f.minimum if f.minimum is not None else 0.0
        row = {
            "problem": name,
            "steps": steps,
            "best_lr": best_lr,
            "edge": edge,
            "grid": len(finals),
            "t_grid": t_grid,
            "t_suggest": t_suggest,
        }
        for m, a in alphas.items():
            eps = torch.finfo(f.dtype).eps
            row[m] = (
                a,
                *(scores(f0, floor, best, values[a], eps) if a is not None else (None, None)),
            )
        rows.append(row)
        print(
            f"{name:31s} best {best_lr:.3g}  suggest {s.lr:.3g} "
            f"NP {row['suggest'][1]:.3f} LP {row['suggest'][2]:.3f}  ({t_suggest:.1f}s)",
            flush=True,
        )
    print()
    print("learning rates (best a: the best of the dense grid; * at the grid's edge)")
    head = f"{'problem':29s} {'steps':>5s} {'best a':>9s}" + "".join(f" {m:>9s}" for m in METHODS)
    print(head + f" {'suggest s':>9s}")
    print("-" * (len(head) + 10))
    for r in rows:
        mark = "*" if r["edge"] else " "
        line = f"{r['problem']:29s} {r['steps']:5d} {r['best_lr']:9.3g}{mark}"
        line += "".join(f" {fmt(r[m][0]):>9s}" for m in METHODS)
        print(line + f" {r['t_suggest']:9.2f}")
    print()
    print("scores: normalised progress / log-progress (1 = the grid's best, div = diverged)")
    head = f"{'problem':30s}" + "".join(f" {m:>11s}" for m in METHODS)
    print(head)
    print("-" * len(head))
    for r in rows:
        line = f"{r['problem']:30s}"
        line += "".join(f" {fmt(r[m][1], '.2f'):>5s}/{fmt(r[m][2], '.2f'):<5s}" for m in METHODS)
        print(line.rstrip())
    print()
    for m in METHODS:
        nps = [r[m][1] for r in rows if r[m][1] is not None]
        lps = [r[m][2] for r in rows if r[m][2] is not None]
        if not nps:
            continue
        ok = sum(v >= 0.9 for v in nps)
        print(
            f"{m:8s} NP >= 0.9 on {ok}/{len(rows)}; median NP {np.median(nps):.3f}, "
            f"median LP {np.median(lps):.3f}"
        )

    def lp(r, m):
        return -math.inf if r[m][2] is None else r[m][2]

    ahead = sum(lp(r, "suggest") > lp(r, "tlrf") for r in rows)
    print(f"suggest ahead of torch-lr-finder (LP) on {ahead}/{len(rows)} problems")
    for r in rows:
        if r["problem"] == "digits-mlp":
            print(f"suggest on digits-mlp: {r['t_suggest']:.2f} s")


if __name__ == "__main__":
    main()
