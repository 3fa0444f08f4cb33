"""Gradient descent on an objective, for one learning rate or many at once.

One engine serves both :func:`descend` and :func:`sweep`: ``K`` learning rates are ``K`` lanes
of one stacked parameter tensor ``W (K, dim)``. Each step computes every lane's gradient in
one call and then applies one batched update rule (:mod:`lrlab.optim`; plain SGD is
``W[n+1] = W[n] - (lrs * schedule(n))[:, None] * grad C(W[n])``), so a sweep costs a handful
of batched tensor operations per step, not ``K`` Python loops. Every lane starts at the same
point and sees the same mini-batches; a lane whose cost becomes non-finite or grows by a huge
factor is retired (dropped from the stacked tensor) so it costs nothing more and cannot
poison the others.

What is kept follows ``record``: every step (``"full"``), every ``k``-th step, or a summary of
a few dozen points per lane (``"summary"``), so a sweep's memory follows what it returns.

Hooks for recording, resuming and sharding sweeps:

* :class:`EngineState` is everything the engine needs to continue from a step boundary: the
  step, the active lanes' parameters and optimizer state, which lanes are active, the
  divergence bookkeeping, the histories (or summary accumulators) so far, the schedule's
  factors, the mini-batch position (batches already drawn) and the torch RNG state.
  ``state.to_bytes()`` / ``EngineState.from_bytes(data)`` serialise it (tensors only, so
  ``torch.load(weights_only=True)`` reads it back).
* :func:`run_sweep` is the in-process engine behind :func:`sweep`: it takes ``state=`` to
  continue from a checkpoint (bitwise the same result on the CPU as an uninterrupted run)
  and ``on_checkpoint(state)``, called every ``checkpoint_every`` seconds and once on
  Ctrl-C (then ``KeyboardInterrupt`` is raised again).
* A shard is a sweep over a subset of the learning rates, with the same objective, start,
  steps, schedule, optimizer and record; :func:`merge` joins shards, in lane order, into the
  one :class:`Sweep` an in-process run would give.
* ``sweep(..., store=..., backend="ray")`` hands the whole sweep to
  ``lrlab.records.recorded_sweep``, which uses these hooks.
"""

from __future__ import annotations

import io
import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import NamedTuple

import numpy as np
import torch

from . import _checks
from . import fused as _fused
from . import optim as _optim
from . import schedules as _schedules
from ._format import json_list, json_safe
from .curvature import sharpness
from .objectives import Objective
from .objectives import objective as make_objective
from .regimes import diagnose
from .schedules import Schedule

__all__ = ["MAX_LANES", "MAX_STEPS", "RECORDS", "EngineState", "Run", "Sweep", "SweepArgs"]
__all__ += ["check_sweep", "descend", "lr_grid", "merge", "run_sweep", "sweep", "sweep_floor"]

MAX_STEPS = 1_000_000
MAX_LANES = 1_000_000
#: A lane whose cost has grown by this factor over its start is retired as diverged.
RETIRE_GROWTH = 1e10
#: The most memory the recorded history of one sweep may take.
MAX_HISTORY_BYTES = 8 * 2**30
#: Keep every lane's path automatically while it costs less than this.
AUTO_PARAMS_BYTES = 64 * 2**20
#: What a sweep can keep per lane: every step, a summary, or (an int k) every k-th step.
RECORDS = ("full", "summary")
#: A summary keeps about this many intervals of each curve: enough for the diagnosis's
#: windows (a tenth of the run each) and tail statistics (the last 30 %).
SUMMARY_INTERVALS = 40

Progress = Callable[[int, int], None]
Checkpoint = Callable[["EngineState"], None]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class Run:
    """Gradient descent on one objective with one learning rate.

    Attributes:
        objective: the objective's name.
        lr: the base learning rate.
        steps: the number of steps asked for.
        losses: cost at ``w[0] ... w[n]``; shorter than ``steps + 1`` when the run diverged.
            With mini-batches, entry ``t < n`` is the cost of the batch seen at step ``t``
            (what a training log shows) and the last entry is the full-data cost. When the
            sweep recorded every ``k``-th step or a summary, the costs at
            :attr:`recorded_steps` only (the divergence step included).
        grad_norms: ``|grad C(w[t])|`` at the same points.
        step_sizes: ``|w[t+1] - w[t]|`` for each step taken; with a thinned record, the
            length of the path from each recorded point to the next.
        lrs: the learning rate used at each step (the schedule applied; every step).
        params: the path ``w[0] ... w[n]`` when kept (recorded points only), ``(n + 1, dim)``.
        final_loss: the full-data cost at the last point (inf when diverged).
        diverged_at: the step at which the run was found diverging and retired, else None.
        floor: the best reachable cost known when the run was made (for its diagnosis).
        sharpness: ``(step, top Hessian eigenvalue)`` pairs when tracked, else None.
        optimizer: the update rule (:mod:`lrlab.optim`), with this run's hyperparameters.
        recorded_steps: the step of each entry of :attr:`losses`; None when every step is.
        best_loss: the lowest cost seen at any step (recorded or not).

    Example:
        >>> run = descend("parabola", lr=0.1, steps=50)
        >>> run.losses.shape, bool(run.losses[-1] < run.losses[0]), run.optimizer.name
        ((51,), True, 'sgd')
    """

    objective: str
    lr: float
    steps: int
    losses: np.ndarray
    grad_norms: np.ndarray
    step_sizes: np.ndarray
    lrs: np.ndarray
    params: np.ndarray | None
    final_loss: float
    diverged_at: int | None = None
    floor: float | None = None
    sharpness: np.ndarray | None = field(default=None, repr=False)
    optimizer: _optim.Rule = field(default_factory=_optim.sgd)
    recorded_steps: np.ndarray | None = field(default=None, repr=False)
    best_loss: float | None = None

    @cached_property
    def diagnosis(self):
        """The run's regime, confidence, evidence and advice (see :func:`lrlab.diagnose`)."""
        return diagnose(
            self.losses,
            floor=self.floor,
            lr=self.lr,
            grad_norms=self.grad_norms,
            step_sizes=self.step_sizes,
            optimizer=self.optimizer,
        )

    @property
    def regime(self) -> str:
        """Shorthand for ``run.diagnosis.regime``."""
        return self.diagnosis.regime

    def to_dict(self, *, with_params: bool = True, arrays: bool = False) -> dict:
        """A JSON-ready record of the run (non-finite numbers become None).

        With ``arrays`` the curves (losses, grad norms, step sizes, learning rates, path)
        stay numpy arrays, for a serialiser that writes arrays itself, non-finite as null
        (the web lab's): turning them into lists of Python floats first costs more than
        writing them.

        Example:
            >>> sorted(descend("parabola", lr=0.5, steps=5).to_dict())[:4]
            ['best_loss', 'diagnosis', 'diverged_at', 'final_loss']
            >>> type(descend("parabola", lr=0.5, steps=5).to_dict(arrays=True)["losses"])
            <class 'numpy.ndarray'>
        """
        d = self.diagnosis
        curve = (lambda a: a) if arrays else json_list
        out = {
            "objective": self.objective,
            "lr": self.lr,
            "steps": self.steps,
            "optimizer": self.optimizer.to_dict(),
            "losses": curve(self.losses),
            "grad_norms": curve(self.grad_norms),
            "step_sizes": curve(self.step_sizes),
            "lrs": curve(self.lrs),
            "params": curve(self.params) if with_params and self.params is not None else None,
            "final_loss": json_safe(self.final_loss),
            "best_loss": json_safe(self.best_loss),
            "diverged_at": self.diverged_at,
            "floor": self.floor,
            "sharpness": curve(self.sharpness) if self.sharpness is not None else None,
            "regime": d.regime,
            "diagnosis": d.to_dict(),
        }
        if self.recorded_steps is not None:
            out["recorded_steps"] = self.recorded_steps.tolist()
        return out


@dataclass(frozen=True, eq=False)
class Sweep:
    """Many runs of one objective that differ only in learning rate (and at most one
    optimizer hyperparameter), computed together.

    Attributes:
        objective: the objective's name.
        steps: steps per run.
        lrs: each run's learning rate, in the order of :attr:`runs` (with a swept
            hyperparameter, each learning rate once per value: learning-rate-major).
        runs: one :class:`Run` per lane, in the same order.
        floor: the cost the diagnoses compare against: the objective's known minimum, else
            the best final cost of the sweep.
        optimizer: the update rule; its swept hyperparameter (if any) holds every value.
        record: what was kept per lane: ``"full"``, ``"summary"`` or every ``k``-th step.
        record_id: the id of its record in a store (a sweep made with ``store=``, resumed or
            loaded), for :func:`lrlab.resume` and ``lrlab show``; None when not recorded.

    Example:
        >>> sw = sweep("parabola", lrs=[0.01, 0.5, 1.2], steps=100)
        >>> [r.lr for r in sw.runs], sw.best.lr
        ([0.01, 0.5, 1.2], 0.5)
        >>> from lrlab import optim
        >>> sw = sweep("parabola", lrs=[0.1, 0.3], steps=50, optimizer=optim.sgd(momentum=[0.0, 0.5]))
        >>> [(r.lr, r.optimizer.momentum) for r in sw.runs]
        [(0.1, 0.0), (0.1, 0.5), (0.3, 0.0), (0.3, 0.5)]
    """

    objective: str
    steps: int
    lrs: np.ndarray
    floor: float | None
    _lanes: _Lanes = field(repr=False)
    optimizer: _optim.Rule = field(default_factory=_optim.sgd)
    record: str | int = "full"
    _known_minimum: float | None = field(default=None, repr=False)
    record_id: str | None = None

    @cached_property
    def runs(self) -> list[Run]:
        """One :class:`Run` per lane, built on first use (a sweep of 100,000 learning rates
        need not make 100,000 objects unless asked)."""
        return _runs(self.objective, self.lrs, self.steps, self._lanes, self.floor, self.optimizer)

    @property
    def values(self) -> tuple:
        """Each lane's value of the swept hyperparameter (``()`` when none is swept)."""
        v = self.optimizer.values
        return tuple(v) * (len(self.lrs) // len(v)) if v else ()

    @property
    def best_index(self) -> int:
        """The index of the run with the lowest final cost (diverged runs never win)."""
        return int(np.argmin(self.final_losses))

    @property
    def best(self) -> Run:
        """The run with the lowest final cost (diverged runs never win); its ``optimizer``
        names the swept value."""
        return self.runs[self.best_index]

    @property
    def best_lr(self) -> float:
        """The learning rate of :attr:`best`."""
        return float(self.lrs[self.best_index])

    @property
    def diagnoses(self) -> list:
        """Each run's diagnosis, judged against the sweep's floor."""
        return [r.diagnosis for r in self.runs]

    @property
    def final_losses(self) -> np.ndarray:
        """Final full-data cost per lane (inf for diverged runs)."""
        return self._lanes.final

    @property
    def best_losses(self) -> np.ndarray:
        """The lowest cost each lane saw at any step."""
        return self._lanes.best

    @property
    def diverged_at(self) -> np.ndarray:
        """Per lane, the step it was retired at as diverging, -1 when it never was."""
        return self._lanes.diverged_at

    def to_dict(self, *, with_curves: bool = False) -> dict:
        """A JSON-ready record: ``objective, steps, optimizer, record, runs[{lr, final_loss,
        regime, ...}], best_lr, best``; with a swept hyperparameter each run and ``best``
        also carry its value.

        Example:
            >>> d = sweep("parabola", lrs=[0.1, 0.5], steps=20).to_dict()
            >>> d["best_lr"], [r["regime"] for r in d["runs"]], d["optimizer"]["name"]
            (0.5, ['good', 'good'], 'sgd')
        """
        swept = self.optimizer.swept
        runs = []
        for r in self.runs:
            row = {
                "lr": r.lr,
                "final_loss": json_safe(r.final_loss),
                "regime": r.regime,
                "diverged_at": r.diverged_at,
                "confidence": r.diagnosis.confidence,
            }
            if swept:
                row[swept] = json_safe(getattr(r.optimizer, swept))
            if with_curves:
                row["losses"] = json_list(r.losses)
                if r.recorded_steps is not None:
                    row["recorded_steps"] = r.recorded_steps.tolist()
            runs.append(row)
        best = {"lr": self.best_lr}
        if swept:
            best[swept] = runs[self.best_index][swept]
        return {
            "objective": self.objective,
            "steps": self.steps,
            "optimizer": self.optimizer.to_dict(),
            "record": self.record,
            "floor": self.floor,
            "best_lr": self.best_lr,
            "best": best,
            "runs": runs,
        }


def lr_grid(lo: float, hi: float, num: int) -> np.ndarray:
    """``num`` learning rates spaced evenly on a log scale from ``lo`` to ``hi`` inclusive.

    Example:
        >>> lr_grid(1e-3, 1e-1, 3).tolist()
        [0.001, 0.01, 0.1]
    """
    lo = _checks.positive_float("lo", lo)
    hi = _checks.positive_float("hi", hi)
    num = _checks.int_in_range("num", num, 1, MAX_LANES)
    if num > 1 and not lo < hi:
        _checks.fail("hi", hi, f"must be greater than lo={lo}")
    if num == 1:
        return np.array([lo])
    grid = np.logspace(math.log10(lo), math.log10(hi), num)
    grid[0], grid[-1] = lo, hi  # exact ends, not 10**log10(x)
    return grid


# --------------------------------------------------------------------------- checks


def _check_lrs(lrs) -> np.ndarray:
    if isinstance(lrs, (str, bytes)):
        _checks.fail("lrs", lrs, "expected a sequence of learning rates", TypeError)
    try:
        arr = np.asarray(lrs.detach().cpu() if isinstance(lrs, torch.Tensor) else lrs, dtype=float)
    except (TypeError, ValueError):
        _checks.fail("lrs", lrs, "expected a sequence of positive numbers", TypeError)
    if arr.ndim > 1:
        _checks.fail("lrs", f"an array of shape {arr.shape}", "expected a flat sequence", TypeError)
    arr = arr.reshape(-1)
    if not 1 <= arr.size <= MAX_LANES:
        _checks.fail("lrs", f"{arr.size} values", f"need between 1 and {MAX_LANES} learning rates")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        _checks.fail("lrs", float(arr[bad][0]), "every learning rate must be a finite number > 0")
    return arr


def _check_record(record) -> str | int:
    if isinstance(record, str) and record in RECORDS:
        return record
    if isinstance(record, (int, np.integer)) and not isinstance(record, bool):
        return _checks.int_in_range("record", record, 1, MAX_STEPS)
    _checks.fail("record", record, "expected 'full', 'summary' or every k-th step (an int >= 1)")
    raise AssertionError  # unreachable


def _stride(record: str | int, steps: int) -> int:
    """Steps between recorded points. A summary's stride is odd, so a 2-cycle (a lane
    bouncing across a valley) still alternates in the recorded points instead of aliasing
    to one phase."""
    if record == "full":
        return 1
    if record == "summary":
        k = max(1, math.ceil(steps / SUMMARY_INTERVALS))
        return k if k % 2 or k == 1 else k + 1
    return int(record)


def _recorded_steps(steps: int, every: int) -> np.ndarray:
    at = np.arange(0, steps + 1, every)
    return at if at[-1] == steps else np.append(at, steps)


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return MAX_HISTORY_BYTES


# --------------------------------------------------------------------------- engine


@dataclass
class _Lanes:
    """The engine's raw output: histories with NaN after a lane's retirement."""

    losses: np.ndarray  # (K, points), a transposed view, NaN after retirement
    grad_norms: np.ndarray  # (K, points)
    paths: np.ndarray | None  # (K, points): path length to the next point; None: lr * |g|
    lr_factors: np.ndarray  # (steps,)
    params: np.ndarray | None  # (K, points, dim)
    diverged_at: np.ndarray  # (K,) int, -1 when never
    final: np.ndarray  # (K,) full-data cost at the last point
    best: np.ndarray  # (K,) lowest cost seen at any step
    at: np.ndarray  # (points,) the step of each recorded point
    bad_loss: np.ndarray  # (K,) cost and gradient norm at the divergence step
    bad_grad: np.ndarray
    bad_path: np.ndarray  # path from the last recorded point to where the lane was retired


@dataclass
class EngineState:
    """Everything needed to continue a sweep from a step boundary.

    Lanes are numbered ``0 .. K-1`` in the sweep's order; per-lane tensors hold the active
    lanes only (``active`` says which), as the engine compacts retired lanes away.

    Attributes:
        step: steps taken so far; also the number of mini-batches drawn.
        params: ``(A, dim)`` the active lanes' parameters.
        opt_state: the optimizer state (:meth:`lrlab.optim.Rule.init`) of the active lanes.
        active: ``(A,)`` indices of the active lanes, or None while all ``K`` are.
        lrs: ``(A, 1)`` the active lanes' base learning rates.
        threshold: ``(A,)`` the cost above which a lane is retired (None before step 0).
        checked: the last step checked for divergence (-1: none yet).
        recent: ``(costs, grad norms)`` of each step since that check.
        diverged_at, bad_loss, bad_grad, bad_path, retired_best: ``(K,)`` per lane, the
            step it diverged at (-1: never), its cost, gradient norm and path there, and the
            best cost of a retired lane.
        factors: ``(steps,)`` the schedule's factor at each step taken.
        history: the recorded rows so far: ``losses``, ``grad_norms`` (``(points, K)``),
            optionally ``paths`` and ``params``.
        best, path: ``(A,)`` the active lanes' lowest cost so far and the path length since
            the last recorded point.
        rng_start, rng_state: ``torch.get_rng_state()`` when the sweep began and at the
            boundary. A resumed sweep redraws the batches already seen from ``rng_start``
            (so a DataLoader that shuffles with torch's global generator is where it was),
            then continues from ``rng_state``.

    Example:
        >>> saved = []  # a checkpoint before every step
        >>> sw = run_sweep("parabola", [0.1, 0.2], steps=20, checkpoint_every=0.0,
        ...                on_checkpoint=lambda state: saved.append(state.to_bytes()))
        >>> EngineState.from_bytes(saved[7]).step
        7
        >>> again = run_sweep("parabola", [0.1, 0.2], steps=20, state=EngineState.from_bytes(saved[7]))
        >>> np.array_equal(again.final_losses, sw.final_losses)
        True
    """

    step: int
    params: torch.Tensor
    opt_state: dict
    active: torch.Tensor | None
    lrs: torch.Tensor
    threshold: torch.Tensor | None
    checked: int
    recent: list
    diverged_at: np.ndarray
    bad_loss: np.ndarray
    bad_grad: np.ndarray
    bad_path: np.ndarray
    retired_best: np.ndarray
    factors: np.ndarray
    history: dict
    best: torch.Tensor
    path: torch.Tensor
    rng_start: torch.Tensor
    rng_state: torch.Tensor

    def to_bytes(self) -> bytes:
        """The state as bytes (``torch.save`` of tensors and numbers only)."""

        def plain(x):
            if isinstance(x, np.ndarray):
                return {"__numpy__": torch.from_numpy(np.ascontiguousarray(x))}
            if isinstance(x, torch.Tensor):
                return x.detach().cpu()
            if isinstance(x, dict):
                return {k: plain(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [plain(v) for v in x]
            return x

        buffer = io.BytesIO()
        torch.save({k: plain(getattr(self, k)) for k in self.__dataclass_fields__}, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, device: str | torch.device | None = None) -> EngineState:
        """A state read back from :meth:`to_bytes`, its tensors moved to ``device``."""

        def back(x):
            if isinstance(x, dict):
                if set(x) == {"__numpy__"}:
                    return x["__numpy__"].numpy()
                return {k: back(v) for k, v in x.items()}
            if isinstance(x, list):
                return [back(v) for v in x]
            if isinstance(x, torch.Tensor) and device is not None:
                return x.to(device)
            return x

        raw = torch.load(io.BytesIO(data), weights_only=True)
        raw["recent"] = [tuple(r) for r in raw["recent"]]
        return cls(**{k: back(v) for k, v in raw.items()})


def _check_interval(device: torch.device) -> int:
    """Steps between divergence checks. Each check costs a reduction over every lane (and on
    a GPU a wait for the device); the step a lane first went bad is found either way."""
    return 8 if device.type == "cpu" else 16


def _take(x, keep: torch.Tensor):
    """``x`` (a tensor, or a dict of them with lanes first) restricted to the lanes ``keep``."""
    if isinstance(x, torch.Tensor):
        return x[keep]
    if isinstance(x, dict):
        return {k: _take(v, keep) for k, v in x.items()}
    return x


def _start_state(f: Objective, lrs: np.ndarray, steps: int, start, rule, record, keep_params):
    K, dim = len(lrs), f.dim
    like = {"dtype": f.dtype, "device": f.device}
    W = start.expand(K, dim).clone()
    every = _stride(record, steps)
    points = len(_recorded_steps(steps, every))
    # A summary keeps its few points in float32: the diagnosis needs shapes, not 16 digits.
    hdtype = torch.float32 if record == "summary" else f.dtype
    hist = {"dtype": hdtype, "device": f.device}
    # Histories are step-major: recording a step writes one row, in order, even after some
    # lanes have retired. The NaN fill also touches every page up front, on all threads.
    history = {
        "losses": torch.full((points, K), float("nan"), **hist),
        "grad_norms": torch.full((points, K), float("nan"), **hist),
    }
    if every > 1 or not rule.plain:
        history["paths"] = torch.full((points, K), float("nan"), **hist)
    if keep_params:
        history["params"] = torch.full((points, K, dim), float("nan"), **like)
    return EngineState(
        step=0,
        params=W,
        opt_state=rule.init(W),
        active=None,
        lrs=torch.as_tensor(lrs, **like)[:, None],
        threshold=None,
        checked=-1,
        recent=[],
        diverged_at=np.full(K, -1),
        bad_loss=np.full(K, np.nan),
        bad_grad=np.full(K, np.nan),
        bad_path=np.full(K, np.nan),
        retired_best=np.full(K, np.inf),
        factors=np.ones(steps),
        history=history,
        best=torch.full((K,), math.inf, **like),
        path=torch.zeros(K, **like),
        rng_start=torch.get_rng_state(),
        rng_state=torch.get_rng_state(),
    )


class _Interrupts:
    """Ctrl-C deferred to the next step boundary, where a checkpoint is consistent; a second
    Ctrl-C interrupts at once. Only in the main thread (signals go nowhere else)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.pending = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def __enter__(self):
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)


def _engine(
    f: Objective,
    lrs: np.ndarray,
    steps: int,
    start: torch.Tensor,
    schedule: Schedule | None,
    rule: _optim.Rule,
    record: str | int,
    keep_params: bool,
    progress: Progress | None,
    state: EngineState | None = None,
    on_checkpoint: Checkpoint | None = None,
    checkpoint_every: float = 30.0,
) -> _Lanes:
    K = len(lrs)
    table = _schedules.factors(schedule, steps)  # checked before any work
    s = _start_state(f, lrs, steps, start, rule, record, keep_params) if state is None else state
    at = _recorded_steps(steps, _stride(record, steps))
    row_of = {int(t): i for i, t in enumerate(at)}
    hist = s.history
    check_every = _check_interval(f.device)
    report_every = max(1, steps // 200)
    thinned_or_rule = "paths" in hist
    # Analytic objectives in big sweeps: cost, gradient and norm in one compiled kernel.
    fused = _fused.fused_step(f) if _fused.wanted(f, K, steps) else None

    # The data continue where the state left them: the same stream, advanced.
    if state is not None:
        torch.set_rng_state(state.rng_start)
    stream = f.batches(steps)
    for _ in range(s.step):
        next(stream)
    if state is not None:
        torch.set_rng_state(state.rng_state)

    # On the CPU a row is written through numpy views: a tensor's indexed assignment costs
    # several times as much, and a small sweep writes three rows every step.
    on_cpu = f.device.type == "cpu"
    views = {name: h.numpy() for name, h in hist.items()} if on_cpu else None

    def write(row: int, L: torch.Tensor, gn: torch.Tensor) -> None:
        rows = [("losses", L), ("grad_norms", gn)]
        if "params" in hist:
            rows.append(("params", s.params))
        for name, value in rows:
            if s.active is None and on_cpu:
                _put(views[name], row, value)
            elif s.active is None:
                hist[name][row] = value
            else:
                hist[name][row].index_copy_(0, s.active, value.to(hist[name].dtype))

    def record_path(row: int) -> None:
        h = hist["paths"]
        if s.active is None and on_cpu:
            _put(views["paths"], row, s.path)
        elif s.active is None:
            h[row] = s.path
        else:
            h[row].index_copy_(0, s.active, s.path.to(h.dtype))
        s.path.zero_()

    def retire(bad: torch.Tensor) -> None:
        keep = ~bad
        lanes = torch.arange(K, device=f.device) if s.active is None else s.active
        # The step each lane first went bad since the last check: the record is the same
        # whether checks run every step (CPU) or less often (GPU).
        hl = torch.stack([r[0][bad] for r in s.recent])
        hg = torch.stack([r[1][bad] for r in s.recent])
        ok = (hl <= s.threshold[bad]) & torch.isfinite(hg)
        first = (~ok).to(torch.uint8).argmax(dim=0)
        idx = lanes[bad].cpu().numpy()
        cols = torch.arange(len(idx), device=f.device)
        s.diverged_at[idx] = (first + s.checked + 1).cpu().numpy()
        s.bad_loss[idx] = hl[first, cols].double().cpu().numpy()
        s.bad_grad[idx] = hg[first, cols].double().cpu().numpy()
        s.bad_path[idx] = s.path[bad].double().cpu().numpy()
        s.retired_best[idx] = s.best[bad].double().cpu().numpy()
        s.active, s.params = lanes[keep], s.params[keep]
        s.opt_state = _take(s.opt_state, keep)
        s.lrs, s.threshold = s.lrs[keep], s.threshold[keep]
        s.best, s.path = s.best[keep], s.path[keep]

    last_checkpoint = time.monotonic()
    with _Interrupts(on_checkpoint is not None) as interrupts, _fused.scope(fused):
        while s.step < steps and (s.active is None or s.active.numel()):
            if on_checkpoint is not None:
                now = time.monotonic()
                if interrupts.pending or now - last_checkpoint >= checkpoint_every:
                    s.rng_state = torch.get_rng_state()
                    on_checkpoint(s)
                    last_checkpoint = time.monotonic()
                    if interrupts.pending:
                        raise KeyboardInterrupt
            t = s.step
            batch = next(stream)
            computed = None if fused is None else fused(s.params)
            if computed is not None:
                L, G, gn = computed
            else:
                L, G = f.value_and_grad(s.params, batch)
                # The update works in place: what is kept of this step must not be a view of W.
                if _shares(L, s.params):
                    L = L.clone()
                if _shares(G, s.params):
                    G = G.clone()
                gn = torch.linalg.vector_norm(G, dim=1)
            torch.fmin(s.best, L, out=s.best)
            row = row_of.get(t)
            if row is not None:
                write(row, L, gn)
            s.recent.append((L, gn))
            if s.threshold is None:  # the first step
                bad_start = ~torch.isfinite(L)
                if bool(bad_start.any()):
                    i = int(bad_start.nonzero()[0, 0])
                    _checks.finite_cost("start", s.params[i], float(L[i]))
                s.threshold = L + RETIRE_GROWTH * L.abs().clamp_min(1e-12)
            if t % check_every == 0 or t == steps - 1:
                # NaN fails every comparison, so "not (L <= threshold)" also catches NaN and +inf.
                bad = ~((s.threshold >= L) & torch.isfinite(gn))
                if bool(bad.any()):
                    keep = ~bad
                    retire(bad)
                    if s.active.numel() == 0:
                        s.recent.clear()
                        s.step = t + 1
                        break
                    G, gn = G[keep], gn[keep]
                s.checked = t
                s.recent.clear()
            factor = 1.0 if table is None else table[t]
            s.factors[t] = factor
            lr_t = s.lrs if factor == 1.0 else s.lrs * factor  # (x * 1.0 is x, bit for bit)
            if thinned_or_rule:
                if rule.plain:
                    s.path.addcmul_(lr_t[:, 0], gn)
                else:
                    before = s.params.clone()
            s.params, s.opt_state = rule.update(G, s.opt_state, s.params, lr_t)
            if thinned_or_rule:
                if not rule.plain:
                    s.path += torch.linalg.vector_norm(before.sub_(s.params), dim=1)
                following = row_of.get(t + 1)
                if following is not None:  # the path since the point before it is complete
                    record_path(following - 1)
            s.step = t + 1
            if progress is not None and (t % report_every == 0 or t == steps - 1):
                progress(t + 1, steps)

    final = np.full(K, np.inf)
    if s.active is None or s.active.numel():
        Lf, Gf = f.full_value_and_grad(s.params)
        gnf = torch.linalg.vector_norm(Gf, dim=1)
        torch.fmin(s.best, Lf, out=s.best)
        write(len(at) - 1, Lf, gnf)
        lanes_np = np.arange(K) if s.active is None else s.active.cpu().numpy()
        ok = (torch.isfinite(Lf) & torch.isfinite(gnf)).cpu().numpy()
        final[lanes_np[ok]] = Lf.detach().cpu().double().numpy()[ok]
        s.diverged_at[lanes_np[~ok]] = steps
        s.bad_loss[lanes_np[~ok]] = Lf.detach().cpu().double().numpy()[~ok]
        s.bad_grad[lanes_np[~ok]] = gnf.detach().cpu().double().numpy()[~ok]
    best = s.retired_best.copy()
    if s.active is None or s.active.numel():
        lanes_np = np.arange(K) if s.active is None else s.active.cpu().numpy()
        best[lanes_np] = s.best.double().cpu().numpy()
    best[~np.isfinite(best)] = np.inf

    def out(name):
        h = hist.get(name)
        if h is None:
            return None
        # A summary stays float32 (a float64 copy would double its memory).
        h = (
            h.cpu().numpy()
            if record == "summary" and name != "params"
            else h.cpu().double().numpy()
        )
        return h.transpose(1, 0, 2) if h.ndim == 3 else h.T

    return _Lanes(
        losses=out("losses"),
        grad_norms=out("grad_norms"),
        paths=out("paths"),
        lr_factors=s.factors,
        params=out("params"),
        diverged_at=s.diverged_at,
        final=final,
        best=best,
        at=at,
        bad_loss=s.bad_loss,
        bad_grad=s.bad_grad,
        bad_path=s.bad_path,
    )


def _put(view: np.ndarray, row: int, value: torch.Tensor) -> None:
    """``view[row] = value`` for a CPU tensor, as torch's own assignment would write it."""
    a = value.numpy(force=True)  # force: a lanes function may hand back a tensor with a graph
    if a.dtype == view.dtype:
        view[row] = a
    else:  # a float32 summary takes inf where a float64 cost overflows it, as torch does
        with np.errstate(over="ignore"):
            view[row] = a


def _shares(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


# --------------------------------------------------------------------------- runs


def _runs(
    name: str,
    lrs: np.ndarray,
    steps: int,
    out: _Lanes,
    floor: float | None,
    rule: _optim.Rule,
) -> list[Run]:
    rules = _optim.lane_rules(rule, len(lrs) // (len(rule.values) or 1))
    full = len(out.at) == steps + 1
    runs = []
    for k, lr in enumerate(lrs):
        stop = out.diverged_at[k]
        n = steps if stop < 0 else int(stop)
        step_lrs = lr * out.lr_factors[:n]
        if full:
            losses = out.losses[k, : n + 1]
            gn = out.grad_norms[k, : n + 1]
            sizes = step_lrs * gn[:n] if out.paths is None else out.paths[k, :n]
            params = out.params[k, : n + 1] if out.params is not None else None
            recorded = None
        else:
            upto = int(np.searchsorted(out.at, n, side="right"))  # points at steps <= n
            recorded = out.at[:upto]
            losses, gn = out.losses[k, :upto], out.grad_norms[k, :upto]
            sizes = out.paths[k, : upto - 1]
            params = out.params[k, :upto] if out.params is not None else None
            if recorded[-1] != n:  # the divergence step, which the stride skipped
                recorded = np.append(recorded, n)
                losses = np.append(losses, out.bad_loss[k])
                gn = np.append(gn, out.bad_grad[k])
                sizes = np.append(sizes, out.bad_path[k])
                if params is not None:
                    params = np.concatenate([params, np.full((1, params.shape[1]), np.nan)])
        runs.append(
            Run(
                objective=name,
                lr=float(lr),
                steps=steps,
                losses=losses,
                grad_norms=gn,
                step_sizes=sizes,
                lrs=step_lrs,
                params=params,
                final_loss=float(out.final[k]),
                diverged_at=None if stop < 0 else int(stop),
                floor=floor,
                optimizer=rules[k],
                recorded_steps=recorded,
                best_loss=float(out.best[k]),
            )
        )
    return runs


class SweepArgs(NamedTuple):
    """A sweep's arguments, checked and resolved by :func:`check_sweep` (an example there)."""

    f: Objective
    lrs: np.ndarray  # the learning rates as given
    lane_lrs: np.ndarray  # one per lane: each learning rate times the optimizer's swept values
    steps: int
    start: torch.Tensor
    keep_params: bool
    rule: _optim.Rule
    record: str | int


def check_sweep(
    f, lrs, steps: int, start=None, *, optimizer=None, record="full", keep_params=None
) -> SweepArgs:
    """The arguments of :func:`sweep`, checked before any work starts, with what they resolve
    to: the objective, each lane's learning rate, the update rule, and whether paths are kept.
    Bad values raise the library's own errors; so does a history too large for the memory.

    Example:
        >>> momenta = {"name": "sgd", "momentum": [0, 0.9]}
        >>> args = check_sweep("parabola", [0.1, 0.2], 10, optimizer=momenta)
        >>> args.lane_lrs.tolist(), args.keep_params
        ([0.1, 0.1, 0.2, 0.2], True)
    """
    f = make_objective(f)
    rule = _optim.get(optimizer)
    lrs = lane_lrs = _check_lrs(lrs)
    steps = _checks.int_in_range("steps", steps, 1, MAX_STEPS)
    record = _check_record(record)
    w0 = f.point(start)
    if rule.values:  # the product: learning-rate-major
        lane_lrs = np.repeat(lrs, len(rule.values))
        if len(lane_lrs) > MAX_LANES:
            _checks.fail("lrs", f"{len(lane_lrs)} lanes", f"at most {MAX_LANES} lanes in one sweep")
    every = _stride(record, steps)
    points = len(_recorded_steps(steps, every))
    itemsize = torch.finfo(f.dtype).bits // 8
    path_bytes = len(lane_lrs) * points * f.dim * itemsize
    if keep_params is None:  # a summary is for sweeps too large to keep every path
        keep_params = record != "summary" and f.dim <= 16 and path_bytes <= AUTO_PARAMS_BYTES
    curves = 2 if every == 1 and rule.plain else 3
    history = len(lane_lrs) * points * (4 if record == "summary" else 8) * curves
    history += path_bytes if keep_params else 0
    limit = min(MAX_HISTORY_BYTES, _available_memory() // 2)
    if history > limit:
        _checks.fail(
            "lrs",
            f"{len(lane_lrs)} learning rates x {steps} steps",
            f"the history would take {history / 2**30:.1f} GiB, more than the {limit / 2**30:.1f} GiB "
            "allowed; use fewer learning rates or steps, record='summary'"
            + (", or keep_params=False" if keep_params else ""),
        )
    return SweepArgs(f, lrs, lane_lrs, steps, w0, bool(keep_params), rule, record)


def sweep_floor(final: np.ndarray, known: float | None) -> float | None:
    """The cost a sweep's runs are judged against: the known minimum when there is one, as
    for a single run, else the best final cost of its lanes.

    The best lane is not the floor when the minimum is known: when every lane settles in
    the same local minimum, the best of them is stuck there too, not good.

    Example:
        >>> sweep_floor(np.array([3.0, 1.5, np.inf]), known=0.0), sweep_floor(np.array([3.0, 1.5]), None)
        (0.0, 1.5)
    """
    if known is not None:
        return known
    finite = final[np.isfinite(final)]
    return float(finite.min()) if finite.size else None


def descend(
    f,
    lr: float,
    steps: int = 200,
    start=None,
    schedule: Schedule | None = None,
    *,
    optimizer=None,
    keep_params: bool | None = None,
    track_sharpness: int | None = None,
) -> Run:
    """Run gradient descent ``w[n+1] = w[n] - lr * schedule(n) * grad C(w[n])``, or another
    torch.optim rule.

    Args:
        f: an :class:`~lrlab.objectives.Objective` or anything :func:`lrlab.objective` takes.
        lr: the (base) learning rate, a finite number > 0.
        steps: number of steps, 1 to 1,000,000.
        start: the starting point (``dim`` numbers); None uses the objective's default.
        schedule: a function of the step giving the factor on ``lr`` (see :mod:`lrlab.schedules`).
        optimizer: ``"sgd"`` (default), ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``
            or a rule from :mod:`lrlab.optim` (e.g. ``lrlab.optim.sgd(momentum=0.9)``).
        keep_params: keep the path ``w[0..n]``; None keeps it for objectives of up to 16
            parameters.
        track_sharpness: measure the top Hessian eigenvalue every this many steps (and at the
            last point), to compare with ``2 / lr`` (the edge of stability).

    Returns:
        A :class:`Run`, diagnosed against the objective's known minimum when there is one.

    Example:
        >>> run = descend("x**2", lr=0.25, steps=3, start=[1.0])
        >>> run.losses.tolist(), run.step_sizes.tolist()
        ([1.0, 0.25, 0.0625, 0.015625], [0.5, 0.25, 0.125])
        >>> descend("x**2", lr=0.25, steps=3, start=[1.0], optimizer="adam").optimizer.name
        'adam'
    """
    lr = _checks.positive_float("lr", lr)
    if track_sharpness is not None:
        track_sharpness = _checks.int_in_range("track_sharpness", track_sharpness, 1, MAX_STEPS)
    rule = _optim.get(optimizer)
    if rule.swept:
        _checks.fail(
            "optimizer", rule.to_dict(), "descend makes one run: sweep lists of values with sweep()"
        )
    # Tracking needs the path; it is dropped again afterwards if the caller said not to keep it.
    keep_path = True if track_sharpness is not None else keep_params
    f, _, lrs, steps, w0, keep, rule, _ = check_sweep(
        f, [lr], steps, start, optimizer=rule, keep_params=keep_path
    )
    out = _engine(f, lrs, steps, w0, schedule, rule, "full", keep, None)
    run = _runs(f.name, lrs, steps, out, f.minimum, rule)[0]
    if track_sharpness is not None:
        n = len(run.losses) - 1
        at = sorted(set(range(0, n + 1, track_sharpness)) | {n})
        track = np.array([(t, sharpness(f, at=run.params[t])) for t in at])
        run = replace(run, sharpness=track, params=None if keep_params is False else run.params)
    return run


def run_sweep(
    f,
    lrs: Sequence[float] | np.ndarray | torch.Tensor,
    steps: int = 200,
    start=None,
    schedule: Schedule | None = None,
    *,
    optimizer=None,
    record: str | int = "full",
    keep_params: bool | None = None,
    progress: Progress | None = None,
    state: EngineState | None = None,
    on_checkpoint: Checkpoint | None = None,
    checkpoint_every: float = 30.0,
) -> Sweep:
    """The in-process sweep engine, with the hooks to checkpoint and resume it.

    Arguments as :func:`sweep`, plus:

    Args:
        state: an :class:`EngineState` from ``on_checkpoint`` of a run with the same
            arguments: the sweep continues from it (bitwise the same result on the CPU).
        on_checkpoint: called with the live :class:`EngineState` every ``checkpoint_every``
            seconds (at a step boundary) and once when Ctrl-C arrives, after which
            ``KeyboardInterrupt`` is raised. It must copy what it keeps before it returns
            (``state.to_bytes()``): the engine goes on updating the tensors in place.
        checkpoint_every: seconds between checkpoints (0: before every step).

    A shard of a sweep is ``run_sweep`` over a subset of ``lrs`` with every other argument
    the same; :func:`merge` joins shards.

    Example:
        >>> sw = run_sweep("parabola", [0.1, 0.5], steps=20, record="summary")
        >>> sw.best_lr, sw.record
        (0.5, 'summary')
    """
    f, _, lane_lrs, steps, w0, keep, rule, record = check_sweep(
        f, lrs, steps, start, optimizer=optimizer, record=record, keep_params=keep_params
    )
    if state is not None and (
        not isinstance(state, EngineState) or len(state.diverged_at) != len(lane_lrs)
    ):
        _checks.fail(
            "state", type(state).__name__, f"expected the EngineState of {len(lane_lrs)} lanes"
        )
    if checkpoint_every is not None:
        checkpoint_every = _checks.positive_float(
            "checkpoint_every", checkpoint_every, allow_zero=True
        )
    out = _engine(
        f, lane_lrs, steps, w0, schedule, rule, record, keep, progress,
        state=state, on_checkpoint=on_checkpoint, checkpoint_every=checkpoint_every,
    )  # fmt: skip
    return Sweep(
        objective=f.name,
        steps=steps,
        lrs=lane_lrs,
        floor=sweep_floor(out.final, f.minimum),
        _lanes=out,
        optimizer=rule,
        record=record,
        _known_minimum=f.minimum,
    )


def merge(shards: Sequence[Sweep]) -> Sweep:
    """One :class:`Sweep` from shards (sweeps over consecutive parts of the learning rates,
    all else equal), in the order given: what one in-process sweep over every learning rate
    gives.

    Example:
        >>> whole = sweep("rosenbrock", lrs=[1e-4, 1e-3, 2e-3, 5e-3], steps=50)
        >>> parts = [sweep("rosenbrock", lrs=lrs, steps=50) for lrs in ([1e-4, 1e-3], [2e-3, 5e-3])]
        >>> np.array_equal(merge(parts).final_losses, whole.final_losses)
        True
    """
    shards = list(shards)
    if not shards or not all(isinstance(s, Sweep) for s in shards):
        _checks.fail("shards", shards, "expected one or more Sweep objects", TypeError)
    first = shards[0]
    for s in shards[1:]:
        same = (s.objective, s.steps, s.record, s.optimizer) == (
            first.objective,
            first.steps,
            first.record,
            first.optimizer,
        )
        if not same:
            _checks.fail(
                "shards",
                s.objective,
                "every shard needs the same objective, steps, record and rule",
            )
    parts = [s._lanes for s in shards]

    def cat(name):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values, axis=0)

    lanes = _Lanes(
        losses=cat("losses"),
        grad_norms=cat("grad_norms"),
        paths=cat("paths"),
        lr_factors=parts[0].lr_factors,
        params=cat("params"),
        diverged_at=cat("diverged_at"),
        final=cat("final"),
        best=cat("best"),
        at=parts[0].at,
        bad_loss=cat("bad_loss"),
        bad_grad=cat("bad_grad"),
        bad_path=cat("bad_path"),
    )
    return replace(
        first,
        lrs=np.concatenate([s.lrs for s in shards]),
        floor=sweep_floor(lanes.final, first._known_minimum),
        _lanes=lanes,
    )


def sweep(
    f,
    lrs: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    steps: int = 200,
    start=None,
    schedule: Schedule | None = None,
    *,
    optimizer=None,
    record: str | int = "full",
    keep_params: bool | None = None,
    progress: Progress | None = None,
    store=None,
    checkpoint_every: float = 30.0,
    backend: str = "local",
    address: str | None = None,
    gpus_per_shard: float = 0,
) -> Sweep:
    """Run gradient descent with many learning rates at once, as lanes of one batched tensor.

    Every lane starts at ``start`` and sees the same mini-batches, so runs differ only in
    learning rate (and in the swept optimizer hyperparameter, if any). Diverging lanes are
    retired early.

    Args:
        f: an objective or anything :func:`lrlab.objective` takes.
        lrs: the learning rates (default ``lr_grid(1e-4, 1.0, 64)``).
        steps: steps per run.
        start: the common starting point.
        schedule: a schedule applied to every lane's own learning rate.
        optimizer: a name (``"sgd"``, ``"adam"``, ...) or a rule from :mod:`lrlab.optim`.
            A list in one of its hyperparameters (``lrlab.optim.sgd(momentum=[0, 0.9])``)
            sweeps every pair of learning rate and value, learning-rate-major.
        record: ``"full"`` keeps every step; an int ``k`` every ``k``-th step (and the last);
            ``"summary"`` about ``SUMMARY_INTERVALS`` points per lane at an odd stride (enough
            for each run's regime) plus each lane's best cost and divergence step, so memory
            stays small for 100,000 lanes. Thinned runs' ``losses`` are the recorded points
            (``run.recorded_steps``).
        keep_params: keep every lane's path (at the recorded points); None keeps small ones
            (<= 16 parameters, 64 MiB), but not with ``record="summary"``.
        progress: called as ``progress(done, total)`` during the sweep.
        store: record the sweep (and checkpoints) in a store (see ``lrlab.records``).
        checkpoint_every: seconds between checkpoints into the store.
        backend: ``"local"`` (this process) or ``"ray"`` (shards on a Ray cluster).
        address: the Ray cluster's address (None: a local Ray).
        gpus_per_shard: GPUs each Ray shard asks for.

    Example:
        >>> sw = sweep("bowl:kappa=10", lrs=lr_grid(1e-3, 1.0, 16), steps=100)
        >>> len(sw.runs), sw.best_lr < 2 / 10
        (16, True)
    """
    lrs = lr_grid(1e-4, 1.0, 64) if lrs is None else lrs
    backend = _checks.one_of("backend", backend, ("local", "ray"))
    checkpoint_every = _checks.positive_float("checkpoint_every", checkpoint_every, allow_zero=True)
    if address is not None and backend != "ray":  # not run here in silence
        _checks.fail("address", address, "a cluster's address needs backend='ray'")
    if store is not None or backend != "local":
        try:
            from .records import recorded_sweep
        except ImportError as e:
            _checks.fail(
                "store" if store is not None else "backend",
                store if store is not None else backend,
                f"recording and Ray need lrlab.records, which is not available ({e})",
            )
        return recorded_sweep(
            f,
            lrs,
            steps,
            start,
            schedule,
            optimizer=optimizer,
            record=record,
            store=store,
            checkpoint_every=checkpoint_every,
            backend=backend,
            address=address,
            gpus_per_shard=gpus_per_shard,
            progress=progress,
        )
    return run_sweep(
        f,
        lrs,
        steps,
        start,
        schedule,
        optimizer=optimizer,
        record=record,
        keep_params=keep_params,
        progress=progress,
    )
