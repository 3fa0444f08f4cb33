"""Gradient descent on an objective, for one learning rate or many at once.

One engine serves both :func:`descend` and :func:`sweep`: ``K`` learning rates are ``K`` lanes
of one stacked parameter tensor ``W (K, dim)``, updated together by

    W[n+1] = W[n] - (lrs * schedule(n))[:, None] * grad C(W[n])

so a sweep costs a handful of batched tensor operations per step, not ``K`` Python loops.
Every lane starts at the same point and sees the same mini-batches; a lane whose cost becomes
non-finite or grows by a huge factor is retired (dropped from the stacked tensor) so it costs
nothing more and cannot poison the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import torch

from . import _checks
from .objectives import Objective
from .objectives import objective as make_objective
from .schedules import Schedule

__all__ = ["MAX_LANES", "MAX_STEPS", "Run", "Sweep", "descend", "lr_grid", "sweep"]

MAX_STEPS = 1_000_000
MAX_LANES = 1_000_000
#: A lane whose cost has grown by this factor over its start is retired as diverged.
RETIRE_GROWTH = 1e10
#: The most memory the recorded history of one sweep may take.
MAX_HISTORY_BYTES = 8 * 2**30
#: Keep every lane's path automatically while it costs less than this.
AUTO_PARAMS_BYTES = 64 * 2**20

Progress = Callable[[int, int], None]


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _json_list(a: np.ndarray | None) -> list | None:
    """Nested lists of floats, None where a value is not finite."""
    if a is None:
        return None
    a = np.asarray(a, dtype=float)
    out = a.astype(object)  # Python floats, converted in one pass
    out[~np.isfinite(a)] = None
    return out.tolist()


@dataclass(frozen=True, eq=False)
class Run:
    """Gradient descent on one objective with one learning rate.

    Attributes:
        objective: the objective's name.
        lr: the base learning rate.
        steps: the number of steps asked for.
        losses: cost at ``w[0] ... w[n]``; shorter than ``steps + 1`` when the run diverged.
            With mini-batches, entry ``t < n`` is the cost of the batch seen at step ``t``
            (what a training log shows) and the last entry is the full-data cost.
        grad_norms: ``|grad C(w[t])|`` at the same points.
        step_sizes: ``|w[t+1] - w[t]|`` for each step taken.
        lrs: the learning rate used at each step (the schedule applied).
        params: the path ``w[0] ... w[n]`` when kept, shape ``(n + 1, dim)``.
        final_loss: the full-data cost at the last point (inf when diverged).
        diverged_at: the step at which the run was found diverging and retired, else None.
        floor: the best reachable cost known when the run was made (for its diagnosis).
        sharpness: ``(step, top Hessian eigenvalue)`` pairs when tracked, else None.

    Example:
        >>> run = descend("parabola", lr=0.1, steps=50)
        >>> run.losses.shape, bool(run.losses[-1] < run.losses[0])
        ((51,), True)
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

    @cached_property
    def diagnosis(self):
        """The run's regime, confidence, evidence and advice (see :func:`lrlab.diagnose`)."""
        from .regimes import diagnose

        return diagnose(
            self.losses,
            floor=self.floor,
            lr=self.lr,
            grad_norms=self.grad_norms,
            step_sizes=self.step_sizes,
        )

    @property
    def regime(self) -> str:
        """Shorthand for ``run.diagnosis.regime``."""
        return self.diagnosis.regime

    def to_dict(self, *, with_params: bool = True) -> dict:
        """A JSON-ready record of the run (non-finite numbers become None).

        Example:
            >>> sorted(descend("parabola", lr=0.5, steps=5).to_dict())[:4]
            ['diagnosis', 'diverged_at', 'final_loss', 'floor']
        """
        d = self.diagnosis
        return {
            "objective": self.objective,
            "lr": self.lr,
            "steps": self.steps,
            "losses": _json_list(self.losses),
            "grad_norms": _json_list(self.grad_norms),
            "step_sizes": _json_list(self.step_sizes),
            "lrs": _json_list(self.lrs),
            "params": _json_list(self.params) if with_params and self.params is not None else None,
            "final_loss": _json_float(self.final_loss),
            "diverged_at": self.diverged_at,
            "floor": self.floor,
            "sharpness": _json_list(self.sharpness) if self.sharpness is not None else None,
            "regime": d.regime,
            "diagnosis": d.to_dict(),
        }


@dataclass(frozen=True, eq=False)
class Sweep:
    """Many runs of one objective that differ only in learning rate, computed together.

    Attributes:
        objective: the objective's name.
        steps: steps per run.
        lrs: the learning rates, in the order given.
        runs: one :class:`Run` per learning rate, in the same order.
        floor: the cost the diagnoses compare against: the best final cost of the sweep
            (never below the known minimum).

    Example:
        >>> sw = sweep("parabola", lrs=[0.01, 0.5, 1.2], steps=100)
        >>> [r.lr for r in sw.runs], sw.best.lr
        ([0.01, 0.5, 1.2], 0.5)
    """

    objective: str
    steps: int
    lrs: np.ndarray
    floor: float | None
    _lanes: _Lanes = field(repr=False)

    @cached_property
    def runs(self) -> list[Run]:
        """One :class:`Run` per learning rate, built on first use (a sweep of 100,000
        learning rates need not make 100,000 objects unless asked)."""
        return _runs(self.objective, self.lrs, self.steps, self._lanes, self.floor)

    @property
    def best_index(self) -> int:
        """The index of the run with the lowest final cost (diverged runs never win)."""
        return int(np.argmin(self.final_losses))

    @property
    def best(self) -> Run:
        """The run with the lowest final cost (diverged runs never win)."""
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
        """Final full-data cost per learning rate (inf for diverged runs)."""
        return self._lanes.final

    def to_dict(self, *, with_curves: bool = False) -> dict:
        """A JSON-ready record: ``objective, steps, runs[{lr, final_loss, regime}], best_lr``.

        Example:
            >>> d = sweep("parabola", lrs=[0.1, 0.5], steps=20).to_dict()
            >>> d["best_lr"], [r["regime"] for r in d["runs"]]
            (0.5, ['good', 'good'])
        """
        runs = []
        for r in self.runs:
            row = {
                "lr": r.lr,
                "final_loss": _json_float(r.final_loss),
                "regime": r.regime,
                "diverged_at": r.diverged_at,
                "confidence": r.diagnosis.confidence,
            }
            if with_curves:
                row["losses"] = _json_list(r.losses)
            runs.append(row)
        return {
            "objective": self.objective,
            "steps": self.steps,
            "floor": self.floor,
            "best_lr": self.best_lr,
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


def _check_lrs(lrs) -> np.ndarray:
    if isinstance(lrs, (str, bytes)):
        _checks.fail("lrs", lrs, "expected a sequence of learning rates", TypeError)
    try:
        arr = np.asarray(lrs.detach().cpu() if isinstance(lrs, torch.Tensor) else lrs, dtype=float)
    except (TypeError, ValueError):
        _checks.fail("lrs", lrs, "expected a sequence of positive numbers", TypeError)
    arr = arr.reshape(-1)
    if not 1 <= arr.size <= MAX_LANES:
        _checks.fail("lrs", f"{arr.size} values", f"need between 1 and {MAX_LANES} learning rates")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        _checks.fail("lrs", float(arr[bad][0]), "every learning rate must be a finite number > 0")
    return arr


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return MAX_HISTORY_BYTES


@dataclass
class _Lanes:
    """The engine's raw output: histories with NaN after a lane's retirement."""

    losses: np.ndarray  # (K, steps + 1), a transposed view, NaN after retirement
    grad_norms: np.ndarray  # (K, steps + 1)
    lr_factors: np.ndarray  # (steps,)
    params: np.ndarray | None  # (K, steps + 1, dim)
    diverged_at: np.ndarray  # (K,) int, -1 when never
    final: np.ndarray  # (K,) full-data cost at the last point


def _check_interval(device: torch.device) -> int:
    """Steps between divergence checks. Each check costs a reduction over every lane (and on
    a GPU a wait for the device); the step a lane first went bad is found either way."""
    return 8 if device.type == "cpu" else 16


def _engine(
    f: Objective,
    lrs: np.ndarray,
    steps: int,
    start: torch.Tensor,
    schedule: Schedule | None,
    keep_params: bool,
    progress: Progress | None,
) -> _Lanes:
    K, dim = len(lrs), f.dim
    W = start.expand(K, dim).clone()
    lr_col = torch.as_tensor(lrs, dtype=f.dtype, device=f.device)[:, None]
    active: torch.Tensor | None = None  # None while every lane is still running
    diverged_at = np.full(K, -1)
    check_every = _check_interval(f.device)
    factors = np.ones(steps)
    stream = f.batches(steps)
    report_every = max(1, steps // 200)
    # Histories are step-major: recording a step writes one row, in order, even after some
    # lanes have retired. The NaN fill also touches every page up front, on all threads.
    like = {"dtype": f.dtype, "device": f.device}
    hist = (
        torch.full((steps + 1, K), float("nan"), **like),
        torch.full((steps + 1, K), float("nan"), **like),
        torch.full((steps + 1, K, dim), float("nan"), **like) if keep_params else None,
    )
    recent: list[tuple[torch.Tensor, torch.Tensor]] = []  # since the last divergence check
    t_now = 0

    def record(L: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
        gn = torch.linalg.vector_norm(G, dim=1)
        for h, row in zip(hist, (L, gn, W)):
            if h is None:
                continue
            if active is None:
                h[t_now] = row
            else:
                h[t_now].index_copy_(0, active, row)
        recent.append((L, gn))
        return gn

    threshold = None
    checked = -1  # the last step checked for divergence
    for t in range(steps):
        t_now = t
        L, G = f.value_and_grad(W, next(stream))
        gn = record(L, G)
        if threshold is None:
            threshold = L + RETIRE_GROWTH * L.abs().clamp_min(1e-12)
        if t % check_every == 0 or t == steps - 1:
            # NaN fails every comparison, so "not (L <= threshold)" also catches NaN and +inf.
            bad = ~((threshold >= L) & torch.isfinite(gn))
            if bool(bad.any()):
                keep = ~bad
                lanes = torch.arange(K, device=f.device) if active is None else active
                # The step each lane first went bad since the last check: the record is the
                # same whether checks run every step (CPU) or less often (GPU).
                hl = torch.stack([r[0][bad] for r in recent])
                hg = torch.stack([r[1][bad] for r in recent])
                ok = (hl <= threshold[bad]) & torch.isfinite(hg)
                first = (~ok).to(torch.uint8).argmax(dim=0) + checked + 1
                diverged_at[lanes[bad].cpu().numpy()] = first.cpu().numpy()
                active, W, G = lanes[keep], W[keep], G[keep]
                lr_col, threshold = lr_col[keep], threshold[keep]
                if active.numel() == 0:
                    break
            checked = t
            recent.clear()
        factor = 1.0 if schedule is None else float(schedule(t))
        factors[t] = factor
        W = torch.addcmul(W, lr_col, G, value=-factor)
        if progress is not None and (t % report_every == 0 or t == steps - 1):
            progress(t + 1, steps)
    final = np.full(K, np.inf)
    if active is None or active.numel():
        Lf, Gf = f.full_value_and_grad(W)
        t_now = steps
        gnf = record(Lf, Gf)
        lanes_np = np.arange(K) if active is None else active.cpu().numpy()
        ok = (torch.isfinite(Lf) & torch.isfinite(gnf)).cpu().numpy()
        final[lanes_np[ok]] = Lf.detach().cpu().double().numpy()[ok]
        diverged_at[lanes_np[~ok]] = steps
    losses, gnorms, params = (h.cpu().double().numpy() if h is not None else None for h in hist)
    return _Lanes(
        losses.T,
        gnorms.T,
        factors,
        params.transpose(1, 0, 2) if params is not None else None,
        diverged_at,
        final,
    )


def _prepare(
    f, lrs, steps, start, keep_params
) -> tuple[Objective, np.ndarray, int, torch.Tensor, bool]:
    f = make_objective(f)
    lrs = _check_lrs(lrs)
    steps = _checks.int_in_range("steps", steps, 1, MAX_STEPS)
    w0 = f.point(start)
    itemsize = torch.finfo(f.dtype).bits // 8
    path_bytes = len(lrs) * (steps + 1) * f.dim * itemsize
    if keep_params is None:
        keep_params = f.dim <= 16 and path_bytes <= AUTO_PARAMS_BYTES
    history = len(lrs) * (steps + 1) * 8 * 2 + (path_bytes if keep_params else 0)
    limit = min(MAX_HISTORY_BYTES, _available_memory() // 2)
    if history > limit:
        _checks.fail(
            "lrs",
            f"{len(lrs)} learning rates x {steps} steps",
            f"the history would take {history / 2**30:.1f} GiB, more than the {limit / 2**30:.1f} GiB "
            "allowed; use fewer learning rates or steps"
            + (", or keep_params=False" if keep_params else ""),
        )
    return f, lrs, steps, w0, bool(keep_params)


def _runs(name: str, lrs: np.ndarray, steps: int, out: _Lanes, floor: float | None) -> list[Run]:
    runs = []
    for k, lr in enumerate(lrs):
        stop = out.diverged_at[k]
        n = steps if stop < 0 else int(stop)
        losses = out.losses[k, : n + 1]
        gn = out.grad_norms[k, : n + 1]
        step_lrs = lr * out.lr_factors[:n]
        runs.append(
            Run(
                objective=name,
                lr=float(lr),
                steps=steps,
                losses=losses,
                grad_norms=gn,
                step_sizes=step_lrs * gn[:n],
                lrs=step_lrs,
                params=out.params[k, : n + 1] if out.params is not None else None,
                final_loss=float(out.final[k]),
                diverged_at=None if stop < 0 else int(stop),
                floor=floor,
            )
        )
    return runs


def descend(
    f,
    lr: float,
    steps: int = 200,
    start=None,
    schedule: Schedule | None = None,
    *,
    keep_params: bool | None = None,
    track_sharpness: int | None = None,
) -> Run:
    """Run gradient descent ``w[n+1] = w[n] - lr * schedule(n) * grad C(w[n])``.

    Args:
        f: an :class:`~lrlab.objectives.Objective` or anything :func:`lrlab.objective` takes.
        lr: the (base) learning rate, a finite number > 0.
        steps: number of steps, 1 to 1,000,000.
        start: the starting point (``dim`` numbers); None uses the objective's default.
        schedule: a function of the step giving the factor on ``lr`` (see :mod:`lrlab.schedules`).
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
    """
    lr = _checks.positive_float("lr", lr)
    if track_sharpness is not None:
        track_sharpness = _checks.int_in_range("track_sharpness", track_sharpness, 1, MAX_STEPS)
    # Tracking needs the path; it is dropped again afterwards if the caller said not to keep it.
    keep_path = True if track_sharpness is not None else keep_params
    f, lrs, steps, w0, keep = _prepare(f, [lr], steps, start, keep_path)
    out = _engine(f, lrs, steps, w0, schedule, keep, None)
    run = _runs(f.name, lrs, steps, out, f.minimum)[0]
    if track_sharpness is not None:
        from .curvature import sharpness

        n = len(run.losses) - 1
        at = sorted(set(range(0, n + 1, track_sharpness)) | {n})
        track = np.array([(t, sharpness(f, at=run.params[t])) for t in at])
        run = replace(run, sharpness=track, params=None if keep_params is False else run.params)
    return run


def sweep(
    f,
    lrs: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    steps: int = 200,
    start=None,
    schedule: Schedule | None = None,
    *,
    keep_params: bool | None = None,
    progress: Progress | None = None,
) -> Sweep:
    """Run gradient descent with many learning rates at once, as lanes of one batched tensor.

    Every lane starts at ``start`` and sees the same mini-batches, so runs differ only in
    learning rate. Diverging lanes are retired early.

    Args:
        f: an objective or anything :func:`lrlab.objective` takes.
        lrs: the learning rates (default ``lr_grid(1e-4, 1.0, 64)``).
        steps: steps per run.
        start: the common starting point.
        schedule: a schedule applied to every lane's own learning rate.
        keep_params: keep every lane's path; None keeps small ones (<= 16 parameters, 64 MiB).
        progress: called as ``progress(done, total)`` during the sweep.

    Example:
        >>> sw = sweep("bowl:kappa=10", lrs=lr_grid(1e-3, 1.0, 16), steps=100)
        >>> len(sw.runs), sw.best_lr < 2 / 10
        (16, True)
    """
    lrs = lr_grid(1e-4, 1.0, 64) if lrs is None else lrs
    f, lrs, steps, w0, keep = _prepare(f, lrs, steps, start, keep_params)
    out = _engine(f, lrs, steps, w0, schedule, keep, progress)
    finite = out.final[np.isfinite(out.final)]
    floor = float(finite.min()) if finite.size else None
    known = f.minimum
    if known is not None:
        floor = known if floor is None else max(floor, known)
    return Sweep(objective=f.name, steps=steps, lrs=lrs, floor=floor, _lanes=out)
