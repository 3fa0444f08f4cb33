"""Sweep speed: all learning rates at once against the same runs one after another.

Prints, measured side by side in one run on this machine:

1. a 64-learning-rate, 200-step full-batch sweep against the same 64 runs with a plain
   ``torch.optim.SGD`` loop, on ``cancer-logistic`` (target >= 10x) and ``digits-mlp``
   (target >= 4x);
2. the achieved GFLOP/s of the ``digits-mlp`` sweep as a fraction of this machine's float32
   matmul peak, measured in the same run (target >= 50%);
3. lane-steps per second on rosenbrock with 100,000 learning rates x 1,000 steps
   (target >= 5e7);
4. Adam sweeps beside the SGD rows, against sequential ``torch.optim.Adam`` runs (an Adam
   sweep should cost at most 1.3x the SGD sweep on the same problem);
5. the peak memory a rosenbrock sweep adds over the imported library, for
   ``record="summary"`` (target <= 100 MB) and ``"full"`` (<= 1.2x the bytes returned +
   100 MB), each in a fresh subprocess (``--memory`` runs only these).

Each time is the best of two repeats (three for rosenbrock), sequential and batched
interleaved so that both see the machine in the same state.

Usage::

    python benchmarks/sweep.py            # the full measurement
    python benchmarks/sweep.py --quick    # smaller sizes, for a smoke test

Latest numbers (torch 2.13 CPU, float32 models, float64 rosenbrock, 2 threads of a shared
AMD EPYC virtual machine with AVX-512, whose other tenants make timings vary by up to 40%)::

    problem             sequential s   batched s  speed-up  target
    cancer-logistic            1.132       0.047     24.1x     10x
    digits-mlp                10.380       4.047      2.6x      4x
    digits-mlp sweep: 115.5 GFLOP/s of a 199.2 GFLOP/s matmul peak = 58% (target >= 50%)
    rosenbrock 100000 lanes x 1000 steps: 1.63 s (best of 3), 6.15e+07 lane-steps/s (target >= 5e7)

Other runs on the same code: digits-mlp 2.2-2.6x and 51-63% of peak; rosenbrock single runs
3.8e7-6.3e7 lane-steps/s, depending on the other tenants.
Before the stacked path had its hand-written
backward over blocks of samples, the same script gave digits-mlp 1.1x and 28%.

Optimizers and memory (this version; the machine under heavy load, load average about 15 on
2 cores, matmul peak measured at 18-27 GFLOP/s instead of 199, so absolute times mean
little; ratios come from one run each)::

    rosenbrock 100000 lanes x 1000 steps (lr 1e-6..2e-3, every lane alive), record=summary:
        adds 55 MB over the imported library and returns 52 MB (target <= 100 MB)
    rosenbrock 100000 lanes x 1000 steps, record=full:
        adds 1536 MB over the imported library and returns 1532 MB (target <= 1938 MB)
    cancer-logistic 64 lrs x 200 steps, best of 3: Adam sweep 1.07x the SGD sweep
        (target <= 1.3x; SGD with momentum 0.9 1.53x in the same run, the noisiest row)

The digits-mlp Adam rows and the speed table did not finish under that load; run
``python benchmarks/sweep.py`` on a quiet machine to fill them in.

On this machine (2 AVX-512 cores, quiet, peak 275-353 GFLOP/s; the latest numbers and where
each millisecond of a digits-mlp step goes are in benchmarks/README.md): cancer-logistic 27-31x,
digits-mlp 5.1x and 54% of a 328.7 GFLOP/s peak with the native head (3.4-3.75x and 32-38% on
torch's operations alone), Adam sweeps 1.08-1.35x the
SGD sweeps (cancer-logistic, whose sweeps take 0.1 s, at the edge of the 1.3x target),
rosenbrock fused 5.5e7-7.1e7 lane-steps/s, record=summary adds 74-75 MB.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import time

import torch

import lrlab
from lrlab import datasets, fused, native


def sequential(name: str, lrs, steps: int, optimizer=torch.optim.SGD) -> float:
    """Seconds for ``len(lrs)`` plain full-batch torch.optim runs, one after another (the
    problem's L2 penalty as the optimizer's coupled weight decay, which is the same)."""
    model, loss_fn, (X, y), problem = datasets.build(name)
    t0 = time.perf_counter()
    for lr in lrs:
        m = copy.deepcopy(model)
        opt = optimizer(m.parameters(), lr=float(lr), weight_decay=problem.l2)
        losses = []
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(m(X), y)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        torch.stack(losses)
    return time.perf_counter() - t0


def batched(name: str, lrs, steps: int, optimizer: str = "sgd") -> tuple[float, int]:
    """Seconds for one lrlab sweep over the same learning rates, and the number of
    gradients it evaluated: ``steps + 1`` per lane (the last at the end point), fewer for a
    lane retired early."""
    f = lrlab.objective(name)
    t0 = time.perf_counter()
    sw = lrlab.sweep(f, lrs=lrs, steps=steps, optimizer=optimizer)
    return time.perf_counter() - t0, sum(len(run.losses) for run in sw.runs)


def mlp_flops_per_gradient() -> float:
    """Matmul FLOPs of one full-batch forward+backward of the digits MLP (bias and
    elementwise work not counted): forward, weight gradients, and the hidden-layer gradient
    (none for the data)."""
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


# A subprocess that reports the peak memory a sweep adds to the imported library.
_MEMORY = """
import sys, numpy as np, lrlab

def peak_rss():
    # This process's own high-water mark. ru_maxrss would not do: Linux carries a parent's
    # peak over fork and exec, so after the speed rows it reads the benchmark's own peak.
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
lanes, steps, record = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lrs = lrlab.lr_grid(1e-6, 2e-3, lanes)
lrlab.sweep("rosenbrock", lrs=lrs[:10], steps=10, record=record)  # everything imported
f = lrlab.objective("rosenbrock")
if lrlab.fused.wanted(f, lanes, steps):  # the compiled step counts as part of the library
    lrlab.fused.fused_step(f)(f.start.expand(4096, 2).clone())
before = peak_rss()
sw = lrlab.sweep("rosenbrock", lrs=lrs, steps=steps, record=record)
peak = peak_rss()
kept = sum(a.nbytes for a in vars(sw._lanes).values() if isinstance(a, np.ndarray))
print(peak - before, kept)
"""


def memory(lanes: int, steps: int, record: str) -> tuple[int, int]:
    """(peak bytes a rosenbrock sweep adds over the imported library, bytes it returns)."""
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY, str(lanes), str(steps), record],
        check=True,
        capture_output=True,
        text=True,
    )
    added, kept = out.stdout.split()
    return int(added), int(kept)


def speed(quick: bool) -> dict[str, float]:
    """The SGD and Adam sweeps against sequential torch.optim runs, printed; gradients/s of
    each SGD sweep."""
    steps = 20 if quick else 200
    lanes = 8 if quick else 64
    grids = {"sgd": lrlab.lr_grid(1e-3, 3.0, lanes), "adam": lrlab.lr_grid(1e-5, 1.0, lanes)}
    optimizers = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}
    print(
        f"{'problem':<18}{'rule':<6}{'sequential s':>14}{'batched s':>12}{'speed-up':>10}"
        f"{'target':>8}   sweep vs SGD sweep"
    )
    repeats = 1 if quick else 2
    gradients_per_s = {}
    for name, target in (("cancer-logistic", 10), ("digits-mlp", 4)):
        for rule in grids:  # warm-ups: first calls load and set up things
            sequential(name, grids[rule][:2], 2, optimizers[rule])
            batched(name, grids[rule][:2], 2, rule)
        times = {rule: ([], []) for rule in grids}
        lane_steps = {}  # gradients evaluated: a lane retired early costs less
        for _ in range(repeats):  # interleaved: all see the same machine, at its best
            for rule, (seq, bat) in times.items():
                seq.append(sequential(name, grids[rule], steps, optimizers[rule]))
                seconds, gradients = batched(name, grids[rule], steps, rule)
                bat.append(seconds)
                lane_steps[rule] = gradients
                if rule == "sgd":
                    gradients_per_s[name] = max(gradients_per_s.get(name, 0), gradients / seconds)
        if name == "digits-mlp" and native.unavailable() is None:
            native_gain(name, grids["sgd"], steps, repeats)
        sgd_sweep = min(times["sgd"][1])
        per_step = {rule: min(bat) / lane_steps[rule] for rule, (_, bat) in times.items()}
        for rule, (seq, bat) in times.items():
            seq, bat = min(seq), min(bat)
            # The SGD grid's large rates diverge and retire; Adam's lanes all run to the end,
            # so the cost per lane-step is the like-for-like comparison of the two rules.
            ratio = (
                f"   {bat / sgd_sweep:.2f}x, per lane-step {per_step[rule] / per_step['sgd']:.2f}x "
                f"(target <= 1.3x; lane-steps {lane_steps[rule]} vs {lane_steps['sgd']})"
                if rule != "sgd"
                else ""
            )
            print(
                f"{name:<18}{rule:<6}{seq:>14.3f}{bat:>12.3f}{seq / bat:>9.1f}x{target:>7}x" + ratio
            )
    return gradients_per_s


def native_gain(name: str, lrs, steps: int, repeats: int) -> None:
    """The SGD sweep with the native head against the same sweep on torch's operations
    alone (``LRLAB_NATIVE=off``), interleaved."""
    best = {"on": float("inf"), "off": float("inf")}
    for _ in range(repeats):
        for mode in best:
            os.environ[native.ENV] = mode
            best[mode] = min(best[mode], batched(name, lrs, steps)[0])
    os.environ.pop(native.ENV)
    print(
        f"{name} sgd sweep: native head {best['on']:.3f} s, torch's operations alone "
        f"{best['off']:.3f} s ({best['off'] / best['on']:.2f}x)"
    )


def rosenbrock_speed(n_lanes: int, n_steps: int, repeats: int = 2) -> None:
    """Lane-steps/s of rosenbrock sweeps with the eager and the fused step (lrlab.fused),
    interleaved, on two grids: every lane alive, and the older grid whose lanes above 2e-3
    diverge and retire early. The fused step's compile is timed apart (the first call; a
    compile found in inductor's disk cache is much shorter than a first one)."""
    grids = {
        "1e-6..2e-3, every lane alive": lrlab.lr_grid(1e-6, 2e-3, n_lanes),
        "1e-6..1e-2, lanes > 2e-3 retire": lrlab.lr_grid(1e-6, 1e-2, n_lanes),
    }
    os.environ[fused.ENV] = "on"
    t0 = time.perf_counter()
    lrlab.sweep("rosenbrock", lrs=grids["1e-6..2e-3, every lane alive"][:4096], steps=2)
    first = time.perf_counter() - t0
    compiled = fused.last_compile_seconds()
    print(
        f"rosenbrock fused step: compile {compiled or 0:.1f} s (first sweep {first:.1f} s; "
        f"C++ compiler {'found' if fused.compiler_available() else 'missing: eager only'})"
    )

    def rate(mode: str, lrs) -> float:
        os.environ[fused.ENV] = mode
        t0 = time.perf_counter()
        lrlab.sweep("rosenbrock", lrs=lrs, steps=n_steps)
        return n_lanes * n_steps / (time.perf_counter() - t0)

    # Best of `repeats`, interleaved: other tenants of a shared machine only add time.
    for label, lrs in grids.items():
        best = {"off": 0.0, "on": 0.0}
        for _ in range(repeats):
            for mode in best:
                best[mode] = max(best[mode], rate(mode, lrs))
        print(
            f"rosenbrock {n_lanes} lanes x {n_steps} steps ({label}): eager {best['off']:.2e}, "
            f"fused {best['on']:.2e} lane-steps/s = {best['on'] / best['off']:.1f}x "
            "(target >= 5e7)"
        )
    os.environ.pop(fused.ENV)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    parser.add_argument("--memory", action="store_true", help="only the memory measurements")
    parser.add_argument("--rosenbrock", action="store_true", help="only rosenbrock's speed")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    peak = matmul_peak()
    print(f"this machine's float32 matmul peak: {peak:.1f} GFLOP/s")
    print(f"native head: {native.unavailable() or 'built and checked'}")
    n_lanes, n_steps = (10_000, 100) if args.quick else (100_000, 1000)
    if args.rosenbrock:
        rosenbrock_speed(n_lanes, n_steps)
        return
    if not args.memory:
        gradients_per_s = speed(args.quick)
        achieved = mlp_flops_per_gradient() * gradients_per_s["digits-mlp"] / 1e9
        print(
            f"digits-mlp sweep: {achieved:.1f} GFLOP/s of a {peak:.1f} GFLOP/s matmul peak "
            f"= {achieved / peak:.0%} (target >= 50%)"
        )
        rosenbrock_speed(n_lanes, n_steps)
    mb = 2**20
    for record in ("summary", "full"):
        added, kept = memory(n_lanes, n_steps, record)
        target = 100 * mb + (1.2 * kept if record == "full" else 0)
        print(
            f"rosenbrock {n_lanes} lanes x {n_steps} steps (lr 1e-6..2e-3, every lane alive), "
            f"record={record}: adds {added / mb:.0f} MB over the imported library and returns "
            f"{kept / mb:.0f} MB (target <= {target / mb:.0f} MB)"
        )


if __name__ == "__main__":
    main()
