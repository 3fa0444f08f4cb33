"""What ``Monitor.update`` costs inside a training loop: nanoseconds per step, side by side.

Each row times one loop over the same precomputed losses, in one run (so machine load
cancels out in the ratios), best of ``--repeat``:

* ``bare loop``      -- ``for x in losses: pass``, the floor of any Python loop;
* ``list.append``    -- keeping every loss in a list, what a hand-written loop does;
* ``update only``    -- the monitor with no checks: what one ``update`` costs by itself;
* ``Monitor``        -- the monitor as it runs by default, its diagnoses (about a millisecond
  each, every 100 kept losses) included, amortised over the steps;
* the same three with 0-d CPU tensors (``x.item()`` for the list, as people write it).

Usage::

    python benchmarks/monitor.py            # 10,000 and 1,000,000 steps
    python benchmarks/monitor.py --quick    # 10,000 steps only

Latest numbers (2-core x86 CPU shared with other work, torch 2.13, one thread; the absolute
nanoseconds swing with the load, the ratios less)::

        steps  loss   loop              ns/step  over bare    kept
       10,000  float  bare loop               4       1.0x       0
       10,000  float  list.append            10       2.3x   10000
       10,000  float  update only           280      63.9x       0
       10,000  float  Monitor              5111    1168.5x    1112
       10,000  tensor bare loop               4       1.0x       0
       10,000  tensor list.append           220      53.0x   10000
       10,000  tensor update only          1638     394.3x       0
       10,000  tensor Monitor              7361    1771.6x    1112
    1,000,000  float  bare loop              25       1.0x       0
    1,000,000  float  list.append            65       2.6x 1000000
    1,000,000  float  update only           352      14.0x       0
    1,000,000  float  Monitor               674      26.8x    1372

One ``update`` costs 0.2-0.4 us on a float and about 1.6 us on a CPU tensor (mostly its
``.item()``, which every loop that logs its loss pays anyway); the diagnoses, about a
millisecond each, dominate the first few thousand steps (5-7 us a step amortised) and fade
as the history thins (0.7 us a step over a million steps, with 1,372 losses kept). A
training step of a small model takes hundreds of microseconds or more.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from lrlab.monitor import Monitor


def timed(loop, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        loop()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    sizes = [10_000] if args.quick else [10_000, 1_000_000]
    print(f"{'steps':>9}  {'loss':<7}{'loop':<16}{'ns/step':>9}{'over bare':>11} {'kept':>7}")
    for n in sizes:
        floats = [0.1 + 2.0 / (1 + t / 100) for t in range(n)]
        kinds = [("float", floats)]
        if n <= 100_000:  # a million 0-d tensors take a while to build; floats say the same
            kinds.append(("tensor", [torch.tensor(x) for x in floats]))
        for kind, losses in kinds:

            def bare(losses=losses):
                for _ in losses:
                    pass

            def append(losses=losses, kind=kind):
                kept = []
                if kind == "float":
                    for x in losses:
                        kept.append(x)
                else:
                    for x in losses:
                        kept.append(x.item())

            mons: list[Monitor] = []

            def monitored(losses=losses, mons=mons):
                mon = Monitor(warn=False)
                for x in losses:
                    mon.update(x)
                _ = mon.regime  # the last diagnosis, as a user reading it at the end
                mons.append(mon)

            def unchecked(losses=losses):
                mon = Monitor(warn=False, check_every=10**12)
                for x in losses:
                    mon.update(x)

            t_bare = timed(bare, args.repeat)
            rows = (
                ("bare loop", bare),
                ("list.append", append),
                ("update only", unchecked),
                ("Monitor", monitored),
            )
            for label, loop in rows:
                t = t_bare if loop is bare else timed(loop, args.repeat)
                kept = len(mons[-1].losses) if loop is monitored else n if loop is append else 0
                print(
                    f"{n:>9,}  {kind:<7}{label:<16}{1e9 * t / n:>9.0f}{t / t_bare:>10.1f}x {kept:>7}"
                )


if __name__ == "__main__":
    main()
