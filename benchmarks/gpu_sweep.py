"""Sweeps on a CUDA device: the same numbers as on the CPU, and how fast.

Run on a machine with a GPU::

    PYTHONPATH=src python benchmarks/gpu_sweep.py

Checks, printing each result:

1. a rosenbrock sweep on CUDA equals the same sweep on the CPU (float64, to 1e-9) for every
   learning rate below 2/L, and every lane diverges at the same step on both;
2. every lane of a digits-mlp sweep on CUDA equals a plain ``torch.optim.SGD`` loop on CUDA;
3. a mini-batch dataset sweep runs on CUDA with its batches on the device;
4. throughput: rosenbrock lane-steps per second with 1,000,000 lanes x 1,000 steps, and a
   64-lr x 200-step digits-mlp sweep against 64 sequential SGD runs on the same GPU.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

import lrlab
from lrlab import datasets


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")

    lrs = lrlab.lr_grid(1e-5, 1e-2, 256)
    cpu = lrlab.sweep("rosenbrock", lrs=lrs, steps=300)
    gpu = lrlab.sweep(lrlab.objective("rosenbrock", device="cuda"), lrs=lrs, steps=300)
    # Above 2/L at the minimum, GD on rosenbrock is chaotic: a 1e-15 change of the start
    # changes the cost by 10x within 300 steps, so only lanes below 2/L can match exactly.
    limit = 2 / lrlab.objective("rosenbrock").sharpness_at_minimum
    stable = [(a, b) for a, b in zip(cpu.runs, gpu.runs) if a.diverged_at is None and a.lr < limit]
    diff = max(
        float(np.max(np.abs(a.losses - b.losses) / (1 + np.abs(a.losses)))) for a, b in stable
    )
    same_div = sum(a.diverged_at == b.diverged_at for a, b in zip(cpu.runs, gpu.runs))
    print(
        f"1. rosenbrock cuda vs cpu: {len(stable)} lanes below 2/L, max rel diff {diff:.2e}; "
        f"same divergence step on {same_div}/{len(lrs)} lanes"
    )

    model, loss_fn, (X, y), _ = datasets.build("digits-mlp")
    model, X, y = model.cuda(), X.cuda(), y.cuda()
    f = lrlab.objective("digits-mlp", device="cuda")
    assert f.device.type == "cuda"
    mlp_lrs = [0.01, 0.3, 3.0]
    sw = lrlab.sweep(f, lrs=mlp_lrs, steps=50)
    worst = 0.0
    for lr, run in zip(mlp_lrs, sw.runs):
        m = copy.deepcopy(model)
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        ref = []
        for _ in range(50):
            opt.zero_grad()
            loss = loss_fn(m(X), y)
            ref.append(loss.item())
            loss.backward()
            opt.step()
        ref.append(loss_fn(m(X), y).item())
        worst = max(worst, float(np.max(np.abs(np.array(ref) - run.losses))))
    print(f"2. digits-mlp cuda sweep vs plain SGD on cuda: max abs diff {worst:.2e}")

    fb = lrlab.objective("digits-mlp:batch_size=128", device="cuda")
    swb = lrlab.sweep(fb, lrs=lrlab.lr_grid(1e-2, 3, 16), steps=100)
    print(
        f"3. mini-batch on cuda: best lr {swb.best_lr:.3g}, regimes "
        f"{sorted({r.regime for r in swb.runs})}"
    )

    big = lrlab.lr_grid(1e-6, 1e-2, 1_000_000)
    fr = lrlab.objective("rosenbrock", device="cuda")
    lrlab.sweep(fr, lrs=big[:1000], steps=10)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    lrlab.sweep(fr, lrs=big, steps=250, keep_params=False)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(
        f"4a. rosenbrock 1e6 lanes x 250 steps on cuda: {dt:.2f} s, {2.5e8 / dt:.2e} lane-steps/s"
    )

    grid = lrlab.lr_grid(1e-3, 3.0, 64)
    lrlab.sweep(f, lrs=grid[:2], steps=5)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    lrlab.sweep(f, lrs=grid, steps=200)
    torch.cuda.synchronize()
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for lr in grid:
        m = copy.deepcopy(model)
        opt = torch.optim.SGD(m.parameters(), lr=float(lr))
        for _ in range(200):
            opt.zero_grad(set_to_none=True)
            loss_fn(m(X), y).backward()
            opt.step()
    torch.cuda.synchronize()
    seq = time.perf_counter() - t0
    print(
        f"4b. digits-mlp 64 lrs x 200 steps on cuda: batched {batched:.2f} s, sequential "
        f"{seq:.2f} s, {seq / batched:.1f}x"
    )


if __name__ == "__main__":
    main()
