"""What keeping a sweep on record costs: a recorded and a checkpointed sweep beside the plain one.

Prints, measured side by side in one run on this machine (each the best of ``--repeat``
interleaved repeats, so that every variant sees the machine in the same state):

1. the plain in-process sweep: rosenbrock, 100,000 learning rates x 1,000 steps,
   ``record="summary"``;
2. the same sweep recorded in a SQLite store (the record written first, its shard's lanes
   when it finishes, the heartbeat while it runs), as a ratio to 1 (target <= 1.20);
3. the same sweep checkpointed every ``T`` seconds, ``T`` chosen so that it takes a few
   checkpoints: the ratio to 1, the cost of one checkpoint, and what that cost comes to at the
   default interval (``checkpoint_every=30``): one checkpoint per 30 s of sweeping
   (target <= 5%).

With ``--ray``, instead: what Ray costs against the in-process sweep (a local Ray with
``--cpus`` CPUs): starting Ray, and per shard (a 4-shard sweep of ``--lanes`` x ``--steps``,
the first time, when the workers import lrlab, and again, warm).

Usage::

    python benchmarks/store.py                      # the full measurement
    python benchmarks/store.py --lanes 10000 --steps 200 --repeat 1   # a smoke test
    python benchmarks/store.py --ray --lanes 10000 --steps 200

Latest numbers (torch 2.13 CPU, 2 cores shared with several other jobs: load average 15-18
during the run, so the plain sweep took 175 s where it takes about 1.6 s alone, and the
ratios below are within that load's noise; ``--repeat 1``)::

    variant                                        time s   ratio  target
    plain sweep (in memory)                        174.93    1.00
    recorded in SQLite (record + lanes)            160.32    0.92  <= 1.20
    checkpointed every 43.73 s (2 taken)           118.83    0.68
    one checkpoint: 1.901 s; at the default 30 s interval: 6.34% of the sweep's time (target <= 5%)
    stored lanes of the finished sweep: 51.1 MiB

A checkpoint of this sweep is the engine's state (100,000 lanes' parameters, optimizer state
and summary so far: about 50 MiB) written in one transaction; 1.9 s was measured under that
load, so the 6.3% is an upper bound that a machine to itself should bring well under 5%.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lrlab
from lrlab import descent, records, store

DEFAULT_INTERVAL = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="measure Ray's overhead instead")
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    if args.ray:
        ray_overhead(args)
        return

    f = lrlab.objective("rosenbrock")
    lrs = lrlab.lr_grid(1e-6, 2e-3, args.lanes)
    folder = Path(tempfile.mkdtemp(prefix="lrlab-store-bench-"))
    st = store.open(folder / "records.db")
    taken: list[float] = []  # the duration of every checkpoint
    plain_checkpoint = st.checkpoint

    def timed_checkpoint(*a, **kw):
        t = time.perf_counter()
        plain_checkpoint(*a, **kw)
        taken.append(time.perf_counter() - t)

    st.checkpoint = timed_checkpoint

    def plain():
        return descent.sweep(f, lrs, args.steps, record="summary")

    def recorded(every):
        return records.recorded_sweep(
            f, lrs, args.steps, record="summary", store=st, checkpoint_every=every
        )

    plain()  # warm up: first-touch allocations, thread pools
    print(f"rosenbrock, {args.lanes} learning rates x {args.steps} steps, record='summary'")
    print("(measuring; each line comes when its sweeps are done)", flush=True)
    best = {"plain": float("inf"), "recorded": float("inf"), "checkpointed": float("inf")}
    interval = None
    for _ in range(args.repeat):
        t = time.perf_counter()
        plain()
        best["plain"] = min(best["plain"], time.perf_counter() - t)
        # A few checkpoints per sweep, whatever this machine's speed.
        interval = interval or best["plain"] / 4
        t = time.perf_counter()
        recorded(1e9)  # no checkpoint: the record and the shard's lanes only
        best["recorded"] = min(best["recorded"], time.perf_counter() - t)
        taken.clear()
        t = time.perf_counter()
        recorded(interval)
        best["checkpointed"] = min(best["checkpointed"], time.perf_counter() - t)
        print({k: round(v, 2) for k, v in best.items()}, flush=True)
    size = max(len(s.data or b"") for r in st.list() for s in st.shards(r.id))
    ckpt = max(taken) if taken else float("nan")

    p = best["plain"]
    print(f"{'variant':<44}{'time s':>9}{'ratio':>8}  target")
    print(f"{'plain sweep (in memory)':<44}{p:>9.2f}{1:>8.2f}")
    print(
        f"{'recorded in SQLite (record + lanes)':<44}{best['recorded']:>9.2f}"
        f"{best['recorded'] / p:>8.2f}  <= 1.20"
    )
    print(
        f"{f'checkpointed every {interval:.2f} s ({len(taken)} taken)':<44}"
        f"{best['checkpointed']:>9.2f}{best['checkpointed'] / p:>8.2f}"
    )
    print(
        f"one checkpoint: {ckpt:.3f} s; at the default {DEFAULT_INTERVAL:.0f} s interval: "
        f"{100 * ckpt / DEFAULT_INTERVAL:.2f}% of the sweep's time (target <= 5%)"
    )
    print(f"stored lanes of the finished sweep: {size / 2**20:.1f} MiB")


def ray_overhead(args) -> None:
    import ray

    lrs = lrlab.lr_grid(1e-6, 2e-3, args.lanes)
    shards = 4

    def local():
        return descent.sweep("rosenbrock", lrs, args.steps, record="summary")

    def on_ray():
        return records.recorded_sweep(
            "rosenbrock", lrs, args.steps, record="summary", backend="ray", shards=shards
        )

    local()
    t = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    start = time.perf_counter() - t
    t = time.perf_counter()
    on_ray()
    first = time.perf_counter() - t
    inproc, warm = float("inf"), float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        local()
        inproc = min(inproc, time.perf_counter() - t)
        t = time.perf_counter()
        on_ray()
        warm = min(warm, time.perf_counter() - t)
    ray.shutdown()
    print(f"rosenbrock, {args.lanes} learning rates x {args.steps} steps, record='summary'")
    print(f"local Ray with {args.cpus} CPUs: ray.init {start:.2f} s")
    print(f"in-process sweep                    {inproc:8.2f} s")
    print(f"Ray, {shards} shards, first (workers start) {first:8.2f} s")
    print(f"Ray, {shards} shards, warm               {warm:8.2f} s")
    print(
        f"overhead per shard, warm: {(warm - inproc) / shards:.2f} s "
        f"(shards run {args.cpus} at a time)"
    )


if __name__ == "__main__":
    main()
