"""Costs along runs: cost against iteration, step length against gradient norm, and one run
at a glance (the command line's ``--plot``). Every function draws runs it is given.

Example:
    >>> import lrlab
    >>> fig = run_figure(lrlab.descend("hill", lr=0.1, steps=30))
    >>> fig.axes[1].get_title()
    'Cost: cost -5.44 after 30 steps'
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from .. import _checks
from ..scenes import Scene
from ._canvas import axes_for, check_run, log_gap, new_figure, objective_of, tidy, tiny
from .paths import path
from .style import (
    GREY,
    INK,
    LINE_STYLES,
    REGIME_COLORS,
    REGIME_LABELS,
    SKY,
    alpha_text,
    g,
    name_of,
    outcome,
    regime_of,
)

__all__ = ["cost_curves", "run_figure", "step_lengths"]


def _draw_cost(ax: Axes, run, *, log: bool, ref: float, color: str, ls: str, label: str) -> None:
    y = np.asarray(run.losses, dtype=float) - ref
    if log:
        y = np.maximum(y, tiny(ref))
    t = np.arange(len(y))
    ax.plot(t, y, color=color, ls=ls, lw=2.0, label=label)
    if run.diverged_at is not None:
        last = np.flatnonzero(np.isfinite(y))
        k = int(last[-1]) if last.size else 0
        ax.plot(
            t[k],
            y[k] if last.size else 1.0,
            marker="X",
            ms=10,
            color=color,
            mec="white",
            ls="none",
            zorder=4,
        )


def _cost_limits(ax: Axes, runs, *, log: bool, ref: float) -> None:
    """Keep diverging curves from flattening the others: cap the axis, mark where they exit."""
    calm = [np.asarray(r.losses, float) - ref for r in runs if r.diverged_at is None]
    first = float(np.asarray(runs[0].losses, float)[0] - ref)
    highs = [float(np.nanmax(c[np.isfinite(c)])) for c in calm if np.isfinite(c).any()]
    top_data = max(highs + [first])
    if log:
        lows = [
            float(np.nanmin(np.maximum(c[np.isfinite(c)], tiny(ref))))
            for c in calm
            if np.isfinite(c).any()
        ]
        bottom = min(lows + [first]) / 3
        top = top_data * 30
        ax.set_yscale("log")
        ax.set_ylim(bottom, top)
    else:
        lows = [float(np.nanmin(c[np.isfinite(c)])) for c in calm if np.isfinite(c).any()]
        bottom = min(lows + [first])
        span = top_data - bottom or 1.0
        top = top_data + 0.25 * span
        ax.set_ylim(bottom - 0.05 * span, top)
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for r in runs:
        if r.diverged_at is None:
            continue
        y = np.asarray(r.losses, float) - ref
        over = np.flatnonzero(~(y <= top))
        if over.size:
            right = over[0] > 0.6 * ax.get_xlim()[1]
            ax.text(
                over[0],
                0.985,
                f"diverged ↑ step {r.diverged_at}",
                transform=trans,
                ha="right" if right else "left",
                va="top",
                fontsize=8.5,
                color=REGIME_COLORS["diverging"],
            )


def cost_curves(scene: Scene, *, ax: Axes | None = None) -> Figure:
    """Cost against iteration for several learning rates on one axis.

    Each curve is coloured by the regime its run was diagnosed with; divergence is marked
    with a cross where the run stopped and the axis is capped so that it does not flatten the
    other curves. The cost is drawn as ``C - C*`` on a log axis when the minimum ``C*`` is
    known (or as ``C`` when every cost is positive), so that a plateau and a steady descent
    are told apart at a glance.

    Args:
        scene: a scene of :func:`lrlab.scenes.cost_curves`.
        ax: draw into this Axes.

    Returns:
        The figure.

    Example:
        >>> from lrlab import scenes
        >>> fig = cost_curves(scenes.cost_curves("parabola", steps=50))
        >>> len(fig.axes[0].get_lines()) >= 4
        True
    """
    if not isinstance(scene, Scene):
        _checks.fail(
            "scene",
            type(scene).__name__,
            "expected a Scene from lrlab.scenes.cost_curves",
            TypeError,
        )
    f, runs, labels, L = scene.objective, scene.runs, scene.labels, scene.sharpness
    log, ref = log_gap(runs, f.minimum)
    fig, ax = axes_for(ax, (7.4, 4.6))
    used: dict[str, int] = {}
    for i, run in enumerate(runs):
        regime = regime_of(run)
        k = used.get(regime, 0)
        used[regime] = k + 1
        name = f"{labels[i]}: " if labels else ""
        label = f"{name}{alpha_text(run.lr, L)} → {REGIME_LABELS[regime]}"
        _draw_cost(
            ax,
            run,
            log=log,
            ref=ref,
            color=REGIME_COLORS[regime],
            ls=LINE_STYLES[k % len(LINE_STYLES)],
            label=label,
        )
    _cost_limits(ax, runs, log=log, ref=ref)
    ax.set_xlabel("iteration n")
    ax.set_ylabel("cost − minimum  C(wₙ) − C*" if f.minimum is not None else "cost C(wₙ)")
    ax.set_title(f"Cost against iteration on {name_of(f)}", fontsize=11)
    ax.legend(loc="best", fontsize=8.5, framealpha=0.9)
    tidy(ax)
    return fig


def step_lengths(run, *, ax: Axes | None = None) -> Figure:
    """Step length ``|w[n+1] - w[n]|`` and gradient norm against iteration, at constant alpha.

    The two curves run parallel on the log axis, one ``log(alpha)`` apart: the step is
    ``alpha * |grad|``, so it shrinks exactly as the gradient does near the minimum, and
    gradient descent approaches the minimum ever more finely although alpha never changes.
    Under a schedule, alpha along the run is drawn on a second axis.

    Args:
        run: a :class:`~lrlab.descent.Run` (any objective), or a scene of
            :func:`lrlab.scenes.step_lengths`.
        ax: draw into this Axes.

    Returns:
        The figure.

    Example:
        >>> import lrlab
        >>> fig = step_lengths(lrlab.descend("parabola", lr=0.2, steps=60))
        >>> [line.get_label() for line in fig.axes[0].get_lines()][:2]
        ['gradient norm |∇C(wₙ)|', 'step length |wₙ₊₁ − wₙ|']
    """
    if isinstance(run, Scene):
        run, name = run.run, name_of(run.objective)
    else:
        run, name = check_run(run), run.objective
    fig, ax = axes_for(ax, (7.4, 4.6))
    grad = np.asarray(run.grad_norms, float)
    s = np.asarray(run.step_sizes, float)
    n = len(s)
    if n == 0:
        _checks.fail("run", run.objective, "it took no step (it diverged at once); nothing to draw")
    floor = 1e-300
    ax.plot(
        np.arange(n + 1), np.maximum(grad, floor), color=INK, lw=2.0, label="gradient norm |∇C(wₙ)|"
    )
    ax.plot(
        np.arange(n),
        np.maximum(s, floor),
        color=SKY,
        lw=2.0,
        ls="--",
        label="step length |wₙ₊₁ − wₙ|",
    )
    ax.set_yscale("log")
    ok = np.isfinite(grad[:n]) & np.isfinite(s) & (grad[:n] > 0) & (s > 0)
    lrs = np.asarray(run.lrs, float)
    constant = lrs.size and np.allclose(lrs, lrs[0], rtol=1e-12)
    if constant and ok.any():
        # The double arrow between the curves is alpha itself, read on the log axis.
        t = int(np.flatnonzero(ok)[min(ok.sum() - 1, max(1, n // 6))])
        ax.annotate(
            "",
            xy=(t, s[t]),
            xytext=(t, grad[t]),
            arrowprops={"arrowstyle": "<->", "color": GREY, "lw": 1.2},
        )
        ax.annotate(
            f"× α = {g(run.lr)}\n(step = α · gradient)",
            xy=(t, math.sqrt(s[t] * grad[t])),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            color=INK,
        )
    elif not constant:
        twin = ax.twinx()
        twin.plot(
            np.arange(n), lrs, color=REGIME_COLORS["too_high"], lw=1.2, ls=":", label="α (schedule)"
        )
        twin.set_ylabel("learning rate α")
        twin.legend(loc="upper right", fontsize=8.5)
    if run.diverged_at is not None:
        ax.axvline(
            run.diverged_at,
            color=REGIME_COLORS["diverging"],
            ls="--",
            lw=1.2,
            label=f"diverged at step {run.diverged_at}",
        )
    ax.set_xlabel("iteration n")
    ax.set_ylabel("length (log scale)")
    title = (
        f"Steps shrink with the gradient at constant α = {g(run.lr)}"
        if constant
        else f"Step length and gradient norm under a schedule (base α = {g(run.lr)})"
    )
    ax.set_title(f"{title}\non {name}", fontsize=11)
    ax.legend(loc="upper right" if constant else "lower left", fontsize=8.5, framealpha=0.9)
    tidy(ax)
    return fig


def run_figure(run, f=None) -> Figure:
    """One run at a glance: its path (1-D or 2-D objectives) or step lengths, and its cost.

    Args:
        run: a :class:`~lrlab.descent.Run`.
        f: the run's objective (default: rebuilt from its name when the path is drawn).

    Returns:
        A figure with two panels.

    Example:
        >>> import lrlab
        >>> len(run_figure(lrlab.descend("himmelblau", lr=0.01, steps=30)).axes) >= 2
        True
    """
    check_run(run)
    fig = new_figure((13.0, 4.6))
    left, right = fig.subplots(1, 2, width_ratios=(1.1, 1.0))
    small = run.params is not None and run.params.shape[1] <= 2
    obj = objective_of(run, f) if small else None
    if obj is not None and obj.box is not None and obj.kind in ("expression", "catalogue"):
        path(run, f=obj, ax=left)
    else:
        step_lengths(run, ax=left)
    ref = obj.minimum if obj is not None else run.floor
    log, ref0 = log_gap([run], ref)
    regime = regime_of(run)
    _draw_cost(
        right,
        run,
        log=log,
        ref=ref0,
        color=REGIME_COLORS[regime],
        ls="-",
        label=f"α = {g(run.lr)} → {REGIME_LABELS[regime]}",
    )
    _cost_limits(right, [run], log=log, ref=ref0)
    right.set_xlabel("iteration n")
    right.set_ylabel("cost − minimum" if ref is not None else "cost")
    right.set_title(f"Cost: {outcome(run)}", fontsize=11)
    right.legend(loc="best", fontsize=8.5)
    tidy(right)
    return fig
