"""Experiment design for the pictures: which runs show each point, run once, returned as data.

A *scene* answers "which learning rates, from where, for how long, show this?" for any
objective it makes sense for, runs those experiments once, and returns them with the facts a
picture needs (the sharpness ``L`` for the ``1/L`` and ``2/L`` marks, the minimum, a
tolerance). The drawing functions of :mod:`lrlab.plot` take scenes (or runs and sweeps) and
run nothing, so one experiment feeds a picture and the numbers written next to it.

Most default learning rates are multiples of ``1/L``: on a quadratic with sharpness ``L``
every step multiplies the distance to the minimum by ``1 - alpha*L``, so the regimes sit at
fixed multiples (:data:`REGIME_RATES`, :data:`PANEL_RATES`). Where ``L`` is not known in
closed form it is measured at the start by Lanczos (:func:`lrlab.sharpness`).

====================  ==================================================================
scene                 what it runs
====================  ==================================================================
:func:`path`          one run that keeps its path (1-D or 2-D objectives)
:func:`three_panels`  too low / just right / too high: 0.1/L, 0.8/L, 2.1/L
:func:`cost_curves`   the four regimes of :data:`REGIME_RATES` (or rates of your choice)
:func:`step_lengths`  one run at constant alpha
:func:`small_hill`    a small and a larger rate from a start near a local minimum
:func:`contour_paths` several rates on a 2-D objective, paths kept
:func:`landscape`     a sweep, with L for the 1/L and 2/L marks
:func:`compute_price` a sweep with a budget, and the iterations each rate needs
:func:`sharpness_track` one run with the sharpness measured along it
:func:`heatmap`       learning rate against a second swept hyperparameter (momentum, betas)
====================  ==================================================================

Example:
    >>> from lrlab import scenes
    >>> s = scenes.three_panels("parabola:L=1")
    >>> [round(r.lr, 2) for r in s.runs], [r.regime for r in s.runs]
    ([0.1, 0.8, 2.1], ['too_low', 'good', 'diverging'])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from . import _checks
from . import optim as _optim
from .curvature import sharpness as measure_sharpness
from .descent import Run, Sweep, descend, lr_grid, sweep
from .objectives import Objective, objective

__all__ = [
    "PANEL_RATES",
    "REGIME_RATES",
    "Heatmap",
    "Landscape",
    "Price",
    "Scene",
    "compute_price",
    "contour_paths",
    "cost_curves",
    "heatmap",
    "heatmap_of",
    "iterations_to",
    "landscape",
    "landscape_of",
    "path",
    "regime_of",
    "sharpness_track",
    "small_hill",
    "step_lengths",
    "three_panels",
]

#: Default rates of the cost-curve picture, as multiples of 1/L. On a quadratic the factor per
#: step is 1 - alpha*L: -1.5 grows (very high), -0.9 shrinks slowly while flipping sides (high,
#: bouncing), 0 lands at once (good), 0.99 crawls (low).
REGIME_RATES: dict[str, float] = {"very high": 2.5, "high": 1.9, "good": 1.0, "low": 0.01}
#: Default rates of the three panels, as multiples of 1/L: a factor 0.9 per step crawls, 0.2
#: arrives in a few ever-shorter steps, -1.1 overshoots by more every step.
PANEL_RATES: dict[str, float] = {"too low": 0.1, "just right": 0.8, "too high": 2.1}
#: Default rate of a single path, as a multiple of 1/L: slow enough to see every step.
PATH_RATE = 0.3


@dataclass(frozen=True)
class Scene:
    """Runs on one objective, side by side, and the facts a picture needs.

    Attributes:
        objective: the :class:`~lrlab.objectives.Objective` the runs descended.
        runs: the runs, in the order of their learning rates as given.
        sharpness: the sharpness ``L`` the default rates were scaled by (known, or measured
            at the start); None when neither is available.
        labels: a name per run (``"too low"``, ``"good"``, ...) or None.

    Example:
        >>> s = path("parabola", lr=0.5, steps=3)
        >>> s.run.losses.tolist(), s.sharpness
        ([1.0, 0.0, 0.0, 0.0], 2.0)
    """

    objective: Objective
    runs: tuple[Run, ...]
    sharpness: float | None = None
    labels: tuple[str, ...] | None = None

    @property
    def run(self) -> Run:
        """The first (for single-run scenes, the only) run."""
        return self.runs[0]


@dataclass(frozen=True)
class Landscape:
    """A sweep and what its picture marks: ``1/L`` and ``2/L`` from the sharpness, the minimum.

    Example:
        >>> s = landscape("parabola:L=1", lrs=[0.5, 1.0, 3.0], steps=20)
        >>> s.sharpness, [r.regime for r in s.sweep.runs]
        (1.0, ['good', 'good', 'diverging'])
    """

    objective: Objective
    sweep: Sweep
    sharpness: float | None
    minimum: float | None


@dataclass(frozen=True)
class Price:
    """A sweep with a budget, and how many iterations each rate needs to come within ``tol``.

    Attributes:
        objective, sweep, sharpness: as in :class:`Landscape`.
        minimum: the cost the tolerance is measured from (known, else the sweep's best).
        tol: the gap to reach, ``C(w) - minimum <= tol``.
        needed: per run, the first iteration within the tolerance, or None if never.

    Example:
        >>> s = compute_price("parabola:L=1", lrs=[0.5, 1.0], steps=50)
        >>> s.needed  # 0.5 halves the distance each step; 1/L lands at once
        (10, 1)
    """

    objective: Objective
    sweep: Sweep
    sharpness: float | None
    minimum: float
    tol: float
    needed: tuple[int | None, ...]


@dataclass(frozen=True)
class Heatmap:
    """Learning rate against a second hyperparameter: final costs and regimes on a grid.

    Attributes:
        objective, sweep: the objective and the one batched sweep of every pair.
        lrs: the learning rates (columns), ascending.
        name: the second hyperparameter's name (``"momentum"``).
        values: its values (rows), as the rule holds them (numbers, or pairs for ``betas``).
        costs: ``(len(values), len(lrs))`` final costs (inf where a run diverged).
        regimes: the same shape, each run's regime.
        sharpness: L, for the stability boundary (None when unknown).
        boundary: per row, the largest stable learning rate on a quadratic of sharpness L
            (``(2 + 2*momentum)/L`` for heavy ball; NaN where none is finite), or None for
            rules with no such bound (Adam and the other adaptive rules).

    Example:
        >>> from lrlab import optim
        >>> s = heatmap("parabola:L=1", [0.5, 1.0, 3.5], optim.sgd(momentum=[0.0, 0.5]), steps=30)
        >>> s.boundary.tolist(), s.regimes[:, -1].tolist()
        ([2.0, 3.0], ['diverging', 'diverging'])
    """

    objective: Objective
    sweep: Sweep
    lrs: np.ndarray
    name: str
    values: tuple
    costs: np.ndarray
    regimes: np.ndarray
    sharpness: float | None
    boundary: np.ndarray | None = None


# ---------------------------------------------------------------------------------------------
# Shared pieces: the sharpness that scales default rates, the rates given, analytic objectives.


def _scale(f: Objective, required: bool) -> float | None:
    """The sharpness ``L`` for default rates and marks: known at the global minimum, else
    measured at the start (which sets the largest stable step there).

    With ``required`` (default rates were asked for) an unusable curvature is an error;
    otherwise it just means no marks.
    """
    L = f.sharpness_at_minimum
    if L:
        return float(L)
    if not required and f.kind not in ("expression", "catalogue"):
        return None  # measuring a network's curvature costs seconds that no mark is worth
    try:
        L = float(measure_sharpness(f))
    except (ValueError, RuntimeError):
        L = None
    if L is not None and math.isfinite(L) and L > 0:
        return L
    if required:
        raise ValueError(
            f"lrs=None: cannot pick default learning rates for {f.name!r} (its curvature is "
            "unknown or not positive at the start); pass lrs= explicitly"
        )
    return None


def _lr_list(lrs, name: str = "lrs") -> tuple[tuple[str, ...] | None, list[float]]:
    """``(labels or None, learning rates)`` from a sequence or a ``{label: lr}`` mapping."""
    if isinstance(lrs, Mapping):
        labels, values = tuple(str(k) for k in lrs), list(lrs.values())
    elif isinstance(lrs, np.ndarray):
        labels, values = None, lrs.ravel().tolist()
    elif isinstance(lrs, Sequence) and not isinstance(lrs, (str, bytes)):
        labels, values = None, list(lrs)
    else:
        _checks.fail(
            name, lrs, "expected a sequence of learning rates or a {label: lr} mapping", TypeError
        )
    if not values:
        _checks.fail(name, lrs, "expected at least one learning rate")
    return labels, [_checks.positive_float(f"{name}[{i}]", v) for i, v in enumerate(values)]


def _low_dim(f, allowed: tuple[int, ...], what: str) -> Objective:
    """``f`` as an Objective, checked to be an analytic objective a picture can draw."""
    f = objective(f)
    if f.dim not in allowed or f.box is None or f.kind not in ("expression", "catalogue"):
        dims = " or ".join(f"{d}-D" for d in allowed)
        _checks.fail(
            "f",
            f.name,
            f"{what} needs an analytic {dims} objective (an expression or a catalogue function); "
            f"this one has {f.dim} parameters",
        )
    return f


def regime_of(run: Run) -> str:
    """A run's regime; a run retired after its first step is called ``diverging``.

    Such a run is too short a curve to diagnose, but its retirement already says what
    happened.

    Example:
        >>> regime_of(descend("parabola", lr=5.0, steps=20))
        'diverging'
    """
    try:
        return run.diagnosis.regime
    except ValueError:
        if run.diverged_at is not None:
            return "diverging"
        raise


def _side_by_side(f, lrs, steps, start, keep_params: bool) -> tuple[Run, ...]:
    return tuple(sweep(f, lrs=lrs, steps=steps, start=start, keep_params=keep_params).runs)


# ---------------------------------------------------------------------------------------------
# The scenes.


def path(f="parabola", lr: float | None = None, steps: int = 20, start=None) -> Scene:
    """One run that keeps its path, on a 1-D or 2-D analytic objective.

    Args:
        f: a 1-D or 2-D analytic objective (name, expression or Objective).
        lr: the learning rate; default ``0.3/L`` (:data:`PATH_RATE`).
        steps: steps.
        start: the starting point.

    Example:
        >>> path("parabola:L=1", steps=2, start=[1.0]).run.params[:, 0].tolist()
        [1.0, 0.7, 0.49]
    """
    f = _low_dim(f, (1, 2), "path()")
    L = _scale(f, lr is None)
    lr = PATH_RATE / L if lr is None else lr
    run = descend(f, lr=lr, steps=steps, start=start, keep_params=True)
    return Scene(f, (run,), L)


def three_panels(
    f="parabola", lrs: Sequence[float] | None = None, steps: int = 12, start=None
) -> Scene:
    """Too low, just right and too high on one curve: three runs from one start.

    Args:
        f: a 1-D or 2-D analytic objective.
        lrs: three increasing learning rates; default :data:`PANEL_RATES` over ``L``.
        steps: steps per run.
        start: the common starting point.

    Example:
        >>> [r.regime for r in three_panels("parabola", lrs=(0.05, 0.4, 1.1)).runs]
        ['too_low', 'good', 'diverging']
    """
    f = _low_dim(f, (1, 2), "three_panels()")
    L = _scale(f, lrs is None)
    if lrs is None:
        lrs = [k / L for k in PANEL_RATES.values()]
    _, values = _lr_list(lrs)
    if len(values) != 3 or not values[0] < values[1] < values[2]:
        _checks.fail("lrs", lrs, "expected three increasing learning rates: low, right, high")
    runs = _side_by_side(f, values, steps, start, keep_params=True)
    return Scene(f, runs, L, tuple(PANEL_RATES))


def cost_curves(
    f,
    lrs: Mapping[str, float] | Sequence[float] | None = None,
    steps: int = 100,
    start=None,
    *,
    keep_params: bool | None = False,
) -> Scene:
    """Several rates on any objective, for cost against iteration; no paths kept.

    Args:
        f: any objective (name, expression, dataset problem, Objective).
        lrs: learning rates, or ``{label: lr}``; default :data:`REGIME_RATES` over ``L``.
        steps: steps per run.
        start: the common starting point.
        keep_params: keep the paths too (the picture needs only the costs).

    Example:
        >>> s = cost_curves("parabola:L=1", steps=50)
        >>> s.labels, [r.lr for r in s.runs]
        (('very high', 'high', 'good', 'low'), [2.5, 1.9, 1.0, 0.01])
    """
    f = objective(f)
    L = _scale(f, lrs is None)
    if lrs is None:
        lrs = {name: k / L for name, k in REGIME_RATES.items()}
    labels, values = _lr_list(lrs)
    return Scene(f, _side_by_side(f, values, steps, start, keep_params), L, labels)


def step_lengths(f, lr: float | None = None, steps: int = 60, start=None) -> Scene:
    """One run at constant alpha, for its step lengths against its gradient norms.

    Args:
        f: any objective.
        lr: the learning rate; default ``0.3/L``.
        steps: steps.
        start: the starting point.

    Example:
        >>> step_lengths("parabola", lr=0.2, steps=3).run.step_sizes.round(4).tolist()
        [0.4, 0.24, 0.144]
    """
    f = objective(f)
    L = _scale(f, lr is None)
    lr = PATH_RATE / L if lr is None else lr
    return Scene(f, (descend(f, lr=lr, steps=steps, start=start),), L)


def small_hill(f="hill", lrs: Sequence[float] = (0.02, 0.1), steps: int = 40, start=None) -> Scene:
    """A small rate and a larger one from a start near a shallow local minimum.

    On ``hill`` (``x⁴ - 4x² + x`` from 2.2) the small one settles in the local minimum at
    1.35 and the larger one's first step clears the hill to the global minimum at -1.47.

    Args:
        f: a 1-D or 2-D analytic objective with a local minimum near the start.
        lrs: the learning rates, one panel each.
        steps: steps per run.
        start: the common starting point.

    Example:
        >>> [r.regime for r in small_hill().runs]
        ['stuck', 'good']
    """
    f = _low_dim(f, (1, 2), "small_hill()")
    _, values = _lr_list(lrs)
    return Scene(f, _side_by_side(f, values, steps, start, keep_params=True))


def contour_paths(
    f="bowl", lrs: Sequence[float] | Mapping[str, float] | None = None, steps: int = 50, start=None
) -> Scene:
    """Several rates on a 2-D objective, paths kept: ``(0.1/L, 1/L, 1.9/L)`` by default.

    Args:
        f: a 2-D analytic objective.
        lrs: learning rates or ``{label: lr}``.
        steps: steps per run.
        start: the common starting point.

    Example:
        >>> s = contour_paths("bowl:kappa=10", steps=30)
        >>> [round(r.lr, 3) for r in s.runs]
        [0.01, 0.1, 0.19]
    """
    f = _low_dim(f, (2,), "contour_paths()")
    L = _scale(f, lrs is None)
    if lrs is None:
        lrs = (0.1 / L, 1.0 / L, 1.9 / L)
    labels, values = _lr_list(lrs)
    return Scene(f, _side_by_side(f, values, steps, start, keep_params=True), L, labels)


def landscape(f, lrs: Sequence[float] | None = None, steps: int = 200, start=None) -> Landscape:
    """A sweep, with the sharpness for the ``1/L`` and ``2/L`` marks.

    ``L`` is the known sharpness at the minimum, else measured at the start (analytic
    objectives only: a network's curvature costs more than a mark is worth).

    Args:
        f: any objective.
        lrs: learning rates; default 48 from ``1e-3/L`` to ``3/L``.
        steps: steps per run.
        start: the common starting point.

    Example:
        >>> landscape("x**2 + 10*y**2", lrs=[0.01, 0.1], steps=10).sharpness
        20.0
    """
    f = objective(f)
    L = _scale(f, lrs is None)
    if lrs is None:
        lrs = lr_grid(1e-3 / L, 3.0 / L, 48)
    _, values = _lr_list(lrs)
    sw = sweep(f, lrs=values, steps=steps, start=start, keep_params=False)
    return Landscape(f, sw, L, f.minimum)


def landscape_of(sw: Sweep, f=None) -> Landscape:
    """The landscape scene of a sweep already run (its objective rebuilt from its name
    unless given); nothing is run again.

    Example:
        >>> import lrlab
        >>> sw = lrlab.sweep("parabola", lrs=[0.1, 1.0], steps=5)
        >>> landscape_of(sw).sharpness
        2.0
    """
    if not isinstance(sw, Sweep):
        _checks.fail("sweep", type(sw).__name__, "expected an lrlab Sweep", TypeError)
    if sw.optimizer.swept is not None:
        _checks.fail(
            "sweep",
            sw.objective,
            f"it also swept {sw.optimizer.swept}; its picture is the heatmap (heatmap_of)",
        )
    f = objective(sw.objective if f is None else f)
    return Landscape(f, sw, _scale(f, False), f.minimum)


def iterations_to(run: Run, target: float) -> int | None:
    """The first iteration at which ``run``'s cost is at or below ``target``; None if never.

    Example:
        >>> iterations_to(descend("parabola", lr=0.5, steps=5), 1e-12)
        1
    """
    hit = np.flatnonzero(np.asarray(run.losses, float) <= target)
    return int(hit[0]) if hit.size else None


def compute_price(
    f="parabola",
    tol: float | None = None,
    lrs: Sequence[float] | None = None,
    steps: int = 1000,
    start=None,
) -> Price:
    """The price of a low learning rate: how many iterations each rate needs.

    Args:
        f: any objective; the minimum is the known one, else the best cost of the sweep.
        tol: the gap to reach; default ``1e-6`` times the starting gap.
        lrs: learning rates; default 64 from ``1e-3/L`` to ``3/L``, plus ``1/L`` itself (on a
            quadratic the cheapest rate of all).
        steps: the budget of iterations per rate.
        start: the common starting point.

    Example:
        >>> s = compute_price("parabola:L=1", tol=1e-6, lrs=[0.1, 2.5], steps=200)
        >>> s.needed  # C = 0.81**n / 2 <= 1e-6 from n = 63; 2.5/L diverges
        (63, None)
    """
    f = objective(f)
    L = _scale(f, lrs is None)
    if lrs is None:
        lrs = np.unique(np.append(lr_grid(1e-3 / L, 3.0 / L, 64), 1.0 / L))
    _, values = _lr_list(lrs)
    steps = _checks.int_in_range("steps", steps, 1, 1_000_000)
    if tol is not None:
        tol = _checks.positive_float("tol", tol)
    sw = sweep(f, lrs=values, steps=steps, start=start, keep_params=False)
    ref = f.minimum
    if ref is None:
        finite = sw.final_losses[np.isfinite(sw.final_losses)]
        ref = float(finite.min()) if finite.size else None
    c0 = float(sw.runs[0].losses[0])
    if ref is None or not c0 > ref:
        _checks.fail(
            "f",
            f.name,
            "every run diverged or the start is already the minimum; nothing to measure",
        )
    tol = 1e-6 * (c0 - ref) if tol is None else tol
    needed = tuple(iterations_to(r, ref + tol) for r in sw.runs)
    return Price(f, sw, L, ref, tol, needed)


def sharpness_track(
    f,
    lr: float,
    steps: int = 200,
    *,
    every: int = 10,
    start=None,
    tol: float = 1e-6,
    max_iter: int = 100,
) -> Run:
    """One run with the sharpness measured every ``every`` steps, for the edge of stability.

    The run keeps ``(step, sharpness)`` rows in ``run.sharpness`` and drops its path. A looser
    ``tol`` than the default makes each measurement several times cheaper; two digits of the
    top eigenvalue are all a picture needs.

    Args:
        f: any objective.
        lr: the learning rate.
        steps: steps.
        every: measure every this many steps (and at the last point).
        start: the starting point.
        tol, max_iter: the Lanczos stopping rule (see :func:`lrlab.sharpness`).

    Example:
        >>> run = sharpness_track("bowl:kappa=10", lr=0.15, steps=10, every=5)
        >>> run.sharpness.round(6).tolist()
        [[0.0, 10.0], [5.0, 10.0], [10.0, 10.0]]
    """
    f = objective(f)
    every = _checks.int_in_range("every", every, 1, 1_000_000)
    run = descend(f, lr=lr, steps=steps, start=start, keep_params=True)
    n = len(run.losses) - 1
    at = sorted(set(range(0, n + 1, every)) | {n})
    track = np.array(
        [(t, measure_sharpness(f, at=run.params[t], tol=tol, max_iter=max_iter)) for t in at]
    )
    return replace(run, sharpness=track, params=None)


def heatmap(f, lrs, optimizer, steps: int = 200, start=None) -> Heatmap:
    """Learning rate against a second hyperparameter: one batched sweep of every pair.

    The optimizer holds a list in one hyperparameter (``optim.sgd(momentum=[0, 0.5, 0.9])``);
    the sweep runs every (learning rate, value) pair at once. For heavy-ball momentum the
    boundary is the quadratic stability limit ``(2 + 2*beta)/L`` (torch's formulation), with
    ``L`` the known sharpness or the one measured at the start.

    Args:
        f: any objective.
        lrs: the learning rates (any order; the grid is sorted).
        optimizer: a rule of :mod:`lrlab.optim` with one swept hyperparameter.
        steps: steps per run.
        start: the common starting point.

    Example:
        >>> from lrlab import optim
        >>> s = heatmap("parabola:L=1", [0.1, 1.0], optim.sgd(momentum=[0.0, 0.9]), steps=20)
        >>> s.name, s.values, s.costs.shape
        ('momentum', (0.0, 0.9), (2, 2))
    """
    rule = _optim.get(optimizer)
    if rule.swept is None:
        _checks.fail(
            "optimizer",
            rule.to_dict(),
            "expected one hyperparameter with a list of values, e.g. optim.sgd(momentum=[0, 0.9])",
        )
    f = objective(f)
    _, values = _lr_list(lrs)
    sw = sweep(
        f, lrs=np.unique(values), steps=steps, start=start, optimizer=rule, keep_params=False
    )
    return heatmap_of(sw, f)


def heatmap_of(sw: Sweep, f=None) -> Heatmap:
    """The heatmap scene of a sweep already run with a swept hyperparameter (its objective
    rebuilt from its name unless given); nothing is run again.

    Example:
        >>> import lrlab
        >>> from lrlab import optim
        >>> sw = lrlab.sweep("parabola", lrs=[0.5, 0.1], steps=5, optimizer=optim.sgd(momentum=[0.0, 0.5]))
        >>> s = heatmap_of(sw)
        >>> s.lrs.tolist(), s.boundary.tolist()
        ([0.1, 0.5], [1.0, 1.5])
    """
    if not isinstance(sw, Sweep):
        _checks.fail("sweep", type(sw).__name__, "expected an lrlab Sweep", TypeError)
    rule = sw.optimizer
    if rule.swept is None:
        _checks.fail(
            "sweep",
            sw.objective,
            "it swept the learning rate only; its picture is the landscape (landscape_of)",
        )
    f = objective(sw.objective if f is None else f)
    n = len(rule.values)
    # Runs are learning-rate-major: run k has learning rate k // n and value k % n.
    lrs = np.asarray(sw.lrs, float).reshape(-1, n)[:, 0]
    order = np.argsort(lrs)
    costs = np.asarray(sw.final_losses, float).reshape(-1, n).T[:, order]
    regimes = np.array([regime_of(r) for r in sw.runs], dtype=object).reshape(-1, n).T[:, order]
    L = _scale(f, False)
    limits = rule.stability_limit(L) if L else None
    boundary = None
    if limits is not None:
        boundary = np.array([b if math.isfinite(b) else np.nan for b in limits], float)
    return Heatmap(f, sw, lrs[order], rule.swept, tuple(rule.values), costs, regimes, L, boundary)
