"""Sweep speed: all learning rates at once against the same runs one after another.

Prints, measured side by side in one run on this machine:

1. a 64-learning-rate, 200-step full-batch sweep against the same 64 runs with a plain
   ``torch.optim.SGD`` loop, on ``cancer-logistic`` (target >= 10x) and ``digits-mlp``
   (target >= 4x);
2. the achieved GFLOP/s of the ``digits-mlp`` sweep as a fraction of this machine's float32
   matmul peak, measured in the same run (target >= 50%);
3. lane-steps per second on rosenbrock with 100,000 learning rates x 1,000 steps
   (target >= 5e7).

Usage::

    python benchmarks/sweep.py            # the full measurement
    python benchmarks/sweep.py --quick    # smaller sizes, for a smoke test

The latest numbers are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

import lrlab
from lrlab import datasets


def sequential_sgd(name: str, lrs, steps: int) -> float:
    """Seconds for ``len(lrs)`` plain full-batch SGD runs, one after another."""
    model, loss_fn, (X, y), problem = datasets.build(name)
    t0 = time.perf_counter()
    for lr in lrs:
        m = copy.deepcopy(model)
        opt = torch.optim.SGD(m.parameters(), lr=float(lr), weight_decay=problem.l2)
        losses = []
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(m(X), y)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        torch.stack(losses)
    return time.perf_counter() - t0


def batched(name: str, lrs, steps: int) -> float:
    """Seconds for one lrlab sweep over the same learning rates."""
    f = lrlab.objective(name)
    t0 = time.perf_counter()
    lrlab.sweep(f, lrs=lrs, steps=steps)
    return time.perf_counter() - t0


def mlp_flops_per_lane_step(f) -> float:
    """Matmul FLOPs of one full-batch forward+backward of the digits MLP (bias and
    elementwise work not counted): forward, weight gradients, and the hidden-layer gradient."""
    model, _, (X, _), _ = datasets.build("digits-mlp")
    n = X.shape[0]
    l1, l2 = model[0], model[2]
    fwd = 2 * n * (l1.in_features * l1.out_features + l2.in_features * l2.out_features)
    weight_grads = fwd
    hidden_grad = 2 * n * l2.in_features * l2.out_features
    return fwd + weight_grads + hidden_grad


def matmul_peak(size: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of a square matmul: this machine's practical peak."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


def best_of(fn, repeats: int) -> float:
    return min(fn() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    args = parser.parse_args()
    steps = 20 if args.quick else 200
    lanes = 8 if args.quick else 64
    lrs = lrlab.lr_grid(1e-3, 3.0, lanes)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'problem':<18}{'sequential s':>14}{'batched s':>12}{'speed-up':>10}{'target':>8}")
    results = {}
    for name, target in (("cancer-logistic", 10), ("digits-mlp", 4)):
        batched(name, lrs[:2], 2)  # warm-up
        seq = best_of(lambda name=name: sequential_sgd(name, lrs, steps), 1)
        bat = best_of(lambda name=name: batched(name, lrs, steps), 2)
        results[name] = bat
        print(f"{name:<18}{seq:>14.3f}{bat:>12.3f}{seq / bat:>9.1f}x{target:>7}x")

    peak = matmul_peak()
    f = lrlab.objective("digits-mlp")
    flops = mlp_flops_per_lane_step(f) * lanes * (steps + 1)
    achieved = flops / results["digits-mlp"] / 1e9
    print(f"digits-mlp sweep: {achieved:.1f} GFLOP/s of a {peak:.1f} GFLOP/s matmul peak "
          f"= {achieved / peak:.0%} (target >= 50%)")

    n_lanes, n_steps = (10_000, 100) if args.quick else (100_000, 1000)
    rosen_lrs = lrlab.lr_grid(1e-6, 1e-2, n_lanes)
    lrlab.sweep("rosenbrock", lrs=rosen_lrs[:10], steps=10)
    t0 = time.perf_counter()
    lrlab.sweep("rosenbrock", lrs=rosen_lrs, steps=n_steps)
    dt = time.perf_counter() - t0
    print(f"rosenbrock {n_lanes} lanes x {n_steps} steps: {dt:.2f} s, "
          f"{n_lanes * n_steps / dt:.2e} lane-steps/s (target >= 5e7)")


if __name__ == "__main__":
    main()
