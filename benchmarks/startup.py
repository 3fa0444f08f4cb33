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
import statistics
import subprocess
import sys
import time

COMMANDS: dict[str, list[str]] = {
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    'python -c "import lrlab"': [sys.executable, "-c", "import lrlab"],
    "lrlab --help": [sys.executable, "-m", "lrlab.cli", "--help"],
    "lrlab objectives": [sys.executable, "-m", "lrlab.cli", "objectives"],
    "lrlab objectives --json": [sys.executable, "-m", "lrlab.cli", "objectives", "--json"],
    "lrlab run hill --lr 0.01": [sys.executable, "-m", "lrlab.cli", "run", "hill", "--lr", "0.01"],
}


def _time_once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds over every command")
    args = parser.parse_args()
    for argv in COMMANDS.values():  # warm the file cache once, untimed
        _time_once(argv)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, argv in COMMANDS.items():
            times[name].append(_time_once(argv))
    floor = statistics.median(next(iter(times.values())))
    print(f"{'command':<28}{'median s':>10}{'fastest s':>11}{'ratio':>8}")
    for name, ts in times.items():
        median = statistics.median(ts)
        print(f"{name:<28}{median:>10.3f}{min(ts):>11.3f}{median / floor:>7.2f}x")


if __name__ == "__main__":
    main()
