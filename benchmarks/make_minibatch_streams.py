"""Make labelled mini-batch loss streams for the live monitor (``benchmarks/monitor.py --accuracy``).

A :class:`lrlab.Monitor` sees what a training loop logs: the loss of each mini-batch, which
scatters from batch to batch. This script makes such streams with plain ``torch.optim`` loops
(no lrlab inside), and labels each from what the stream does not show: the full training loss
of the same run, of the runs at every other learning rate of its grid (same budget,
initialisation and batch order) and of the same run continued to ``CONTINUE`` times its budget.

* ``diverging``: a non-finite loss, or a rate above the grid's best whose final full loss is
  no lower than the initial one or than a constant predictor's (the entropy of the class
  frequencies): the steps broke the network (a blow-up that left it predicting the prior);
* ``good``: the final full loss is within ``TOL`` (2 %) of the initial gap above the best final
  loss of the grid (the product's tolerance, on gaps);
* ``too_low``: more than ``MARGIN`` (5 %) of the gap left, a rate below the grid's best, and
  the continued run still falls by more than ``TOL`` of the gap: the budget ran out;
* ``too_high``: more than ``MARGIN`` of the gap left, a rate above the grid's best, and the
  continued run never gets within ``TOL`` of the best: it stalls above the minimum;
* anything else (between ``TOL`` and ``MARGIN``, or a continuation that says otherwise) is
  left out as ambiguous.

Problems (an MLP with two hidden ReLU layers; cross-entropy; shuffled mini-batches) and
optimizers (plain SGD, SGD with momentum 0.9, Adam) are split in two sets: ``tuned`` (digits,
breast cancer; seeds 0 and 1), on which the monitor's noise rules were set, and ``heldout``
(wine, iris; seeds 2 and 3), not looked at while tuning. Run once::

    python benchmarks/make_minibatch_streams.py     # writes benchmarks/data/monitor/streams.json
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from sklearn import datasets
from torch import nn

OUT = Path(__file__).resolve().parent / "data" / "monitor" / "streams.json"
TOL, MARGIN, CONTINUE = 0.02, 0.05, 4
LRS = np.geomspace(1e-4, 3.0, 13).tolist()
OPTIMIZERS = {
    "sgd": lambda p, lr: torch.optim.SGD(p, lr=lr),
    "sgd-m0.9": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
    "adam": lambda p, lr: torch.optim.Adam(p, lr=lr),
}
# (set, name, loader, hidden width, batch, epochs, seeds): about 300-400 steps each
PROBLEMS = [
    ("tuned", "digits", datasets.load_digits, 64, 32, 8, (0, 1)),
    ("tuned", "cancer", datasets.load_breast_cancer, 32, 32, 25, (0, 1)),
    ("heldout", "wine", datasets.load_wine, 32, 16, 40, (2, 3)),
    ("heldout", "iris", datasets.load_iris, 16, 16, 45, (2, 3)),
]


def prior_entropy(load) -> float:
    """The cross-entropy of predicting the class frequencies: what a network that learned
    nothing (or was blown up into a constant output) reaches."""
    _, y = load(return_X_y=True)
    p = np.bincount(y) / len(y)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def run(load, hidden, batch, epochs, seed, make_opt, lr):
    """The mini-batch losses of one run, its full loss at the budget and continued runs."""
    X, y = load(return_X_y=True)
    X = (X - X.mean(0)) / (X.std(0) + 1e-8)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(X.shape[1], hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, int(y.max()) + 1),
    )
    opt = make_opt(model.parameters(), lr)
    g = torch.Generator().manual_seed(seed + 1000)

    def full():
        with torch.no_grad():
            return nn.functional.cross_entropy(model(X), y).item()

    f0, stream, ends = full(), [], []
    for epoch in range(epochs * CONTINUE):
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), batch):
            idx = perm[i : i + batch]
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            if epoch < epochs:
                stream.append(loss.item())
            if not torch.isfinite(loss):
                ends += [math.inf] * (CONTINUE - len(ends))
                return f0, stream, ends
            opt.zero_grad()
            loss.backward()
            opt.step()
        if (epoch + 1) % epochs == 0:
            value = full()
            ends.append(value if math.isfinite(value) else math.inf)
    return f0, stream, ends


def label(lr, best_lr, f0, best, stream, ends, prior):
    if not all(math.isfinite(x) for x in stream):
        return "diverging"
    if lr > best_lr and ends[0] >= min(f0, prior):
        return "diverging"
    gap0 = f0 - best
    r = (ends[0] - best) / gap0
    if r <= TOL:
        return "good"
    if r <= MARGIN:
        return None
    if lr < best_lr and (ends[0] - ends[-1]) / gap0 > TOL:
        return "too_low"
    if lr > best_lr and (min(ends) - best) / gap0 > TOL:
        return "too_high"
    return None


def main() -> None:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    streams = []
    for part, name, load, hidden, batch, epochs, seeds in PROBLEMS:
        for opt_name, make_opt in OPTIMIZERS.items():
            for seed in seeds:
                runs = [run(load, hidden, batch, epochs, seed, make_opt, lr) for lr in LRS]
                finals = [ends[0] for _, _, ends in runs]
                k = int(np.argmin(finals))
                for lr, (f0, stream, ends) in zip(LRS, runs, strict=True):
                    streams.append(
                        {
                            "set": part,
                            "problem": f"{name}/{opt_name}/{seed}",
                            "optimizer": opt_name,
                            "lr": lr,
                            "label": label(
                                lr, LRS[k], f0, finals[k], stream, ends, prior_entropy(load)
                            ),
                            "start": f0,
                            "best": finals[k],
                            "ends": [e if math.isfinite(e) else None for e in ends],
                            "losses": [
                                float(f"{x:.6g}") if math.isfinite(x) else None for x in stream
                            ],
                        }
                    )
                print(f"{name}/{opt_name}/{seed}: best lr {LRS[k]:.3g}", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    meta = {"tolerance": TOL, "margin": MARGIN, "continue": CONTINUE, "lrs": LRS}
    OUT.write_text(json.dumps({**meta, "streams": streams}))
    counts = {}
    for s in streams:
        key = (s["set"], s["label"])
        counts[key] = counts.get(key, 0) + 1
    print(counts, f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
