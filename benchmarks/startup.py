"""Startup cost of the command line, as a ratio to ``python -c "import torch"``.

Every ``lrlab`` command needs torch, so importing torch is the floor a fresh command can reach;
the target is that ``lrlab objectives`` and ``lrlab run hill`` cost little more than that floor.
Each command runs in a fresh interpreter, ``--repeat`` times, interleaved with the others
(hyperfine style) so that all of them see the machine in the same state; the table shows the
median and the fastest wall time and the ratio of medians to the torch import.

Usage::

    python benchmarks/startup.py              # 7 rounds
    python benchmarks/startup.py --repeat 15

To see where the time of one command goes: ``python -X importtime -m lrlab.cli objectives``.

Latest numbers (torch 2.13 CPU; 2 cores shared with other work, so absolute times move by
tens of percent between runs while the ratios move less)::

    (filled in below by the latest run)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LRLAB = [sys.executable, "-m", "lrlab.cli"]
COMMANDS: dict[str, list[str]] = {
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    'python -c "import lrlab"': [sys.executable, "-c", "import lrlab"],
    "lrlab --help": [*LRLAB, "--help"],
    "lrlab objectives": [*LRLAB, "objectives"],
    "lrlab objectives --json": [*LRLAB, "objectives", "--json"],
    "lrlab run hill --lr 0.01": [*LRLAB, "run", "hill", "--lr", "0.01"],
    "  the same, --no-store": [*LRLAB, "run", "hill", "--lr", "0.01", "--no-store"],
}


def _time_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
        check=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds over every command")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        # Runs record into a store by default: a throwaway one here, not the user's.
        env = {**os.environ, "LRLAB_STORE": f"sqlite:///{Path(folder) / 'records.db'}"}
        for argv in COMMANDS.values():  # warm the file cache and the store once, untimed
            _time_once(argv, env)
        times: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for _ in range(args.repeat):
            for name, argv in COMMANDS.items():
                times[name].append(_time_once(argv, env))
    floor = statistics.median(next(iter(times.values())))
    print(f"{'command':<28}{'median s':>10}{'fastest s':>11}{'ratio':>8}")
    for name, ts in times.items():
        median = statistics.median(ts)
        print(f"{name:<28}{median:>10.3f}{min(ts):>11.3f}{median / floor:>7.2f}x")


if __name__ == "__main__":
    main()
