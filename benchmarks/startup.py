"""Startup cost of the command line, as a ratio to ``python -c "import torch"``.

Every ``lrlab`` command needs torch, so importing torch is the floor a fresh command can reach;
the target is that ``lrlab objectives`` and ``lrlab run hill`` cost little more than that floor.
Each command runs in a fresh interpreter, ``--repeat`` times, interleaved with the others
(hyperfine style) so that all of them see the machine in the same state; the table shows the
median wall time and median CPU time (user + system, which a loaded machine disturbs far less)
of each, and their ratios to the torch import.

Usage::

    python benchmarks/startup.py              # 7 rounds
    python benchmarks/startup.py --repeat 15
    git archive OLD src | tar -x -C /tmp/old && python benchmarks/startup.py --before /tmp/old/src

To see where the time of one command goes: ``python -X importtime -m lrlab.cli objectives``.

Latest numbers: ``--repeat 3 --before`` a checkout of the code before the listing stopped
building models and runs stopped importing sympy (torch 2.13 CPU, 2 cores shared with other
work at a load average of 12-16, so the wall times are inflated; CPU times and ratios hold
better, and ratios below 1 show the noise, about 10%)::

    command                                 wall s   ratio   CPU s   ratio
    python -c "import torch"                 11.17   1.00x    3.11   1.00x
    python -c "import lrlab"                 11.72   1.05x    3.23   1.04x
    lrlab --help                             12.76   1.14x    3.50   1.13x
    lrlab objectives                         12.09   1.08x    3.28   1.05x
    lrlab objectives --json                  13.66   1.22x    2.79   0.90x
    lrlab run hill --lr 0.01                 11.42   1.02x    3.20   1.03x
      the same, --no-store                   10.04   0.90x    2.76   0.89x
    lrlab objectives (before)                22.08   1.98x    6.34   2.04x
    lrlab run hill --lr 0.01 (before)        14.77   1.32x    4.87   1.57x

On the same machine unloaded (load average 0.8), before: torch 1.63 s, ``lrlab objectives``
2.43x, ``lrlab run hill`` 1.50x. Where the time went: ``objectives`` built every dataset
model (importing scikit-learn and loading its data) to count parameters, now computed from
the architecture; every analytic run called ``torch.autograd.grad`` with ``grad_outputs``,
whose shape check imports ``torch.fx.experimental.symbolic_shapes`` and with it sympy (0.7 s).
A run that records into the store also imports SQLAlchemy (the ``--no-store`` row).
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _time_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one fresh run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds over every command")
    parser.add_argument(
        "--before",
        metavar="SRC",
        help="also time the listing and the run from another checkout's src/ folder (e.g. "
        "one made by git archive of an older commit), side by side with this one",
    )
    args = parser.parse_args()
    commands = dict(COMMANDS)
    if args.before:
        for name in ("lrlab objectives", "lrlab run hill --lr 0.01"):
            commands[f"{name} (before)"] = ["env", f"PYTHONPATH={args.before}", *COMMANDS[name]]
    with tempfile.TemporaryDirectory() as folder:
        # Runs record into a store by default: a throwaway one here, not the user's.
        env = {**os.environ, "LRLAB_STORE": f"sqlite:///{Path(folder) / 'records.db'}"}
        for argv in commands.values():  # warm the file cache and the store once, untimed
            _time_once(argv, env)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, argv in commands.items():
                wall, cpu = _time_once(argv, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
    # CPU time is what a command costs; wall time also holds the waits of a loaded machine.
    floor_wall = statistics.median(next(iter(walls.values())))
    floor_cpu = statistics.median(next(iter(cpus.values())))
    print(f"{'command':<38}{'wall s':>8}{'ratio':>8}{'CPU s':>8}{'ratio':>8}")
    for name in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(
            f"{name:<38}{wall:>8.2f}{wall / floor_wall:>7.2f}x{cpu:>8.2f}{cpu / floor_cpu:>7.2f}x"
        )


if __name__ == "__main__":
    main()
