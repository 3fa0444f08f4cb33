"""Sweeps at a glance: the final cost of every learning rate, and the iterations each needs.

Example:
    >>> from lrlab import scenes
    >>> fig = landscape(scenes.landscape("parabola:L=1", lrs=[0.1, 1.0, 3.0], steps=20))
    >>> [c.get_label() for c in fig.axes[0].collections]
    ['good', 'diverging']
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from .. import _checks, analytic
from ..objectives import objective
from ..scenes import Landscape, Price
from ._canvas import axes_for, check_sweep, log_gap, tidy, tiny
from .style import GREY, INK, REGIME_COLORS, REGIME_LABELS, count, g, name_of, regime_of

__all__ = ["compute_price", "landscape"]


def _sweep_facts(sweep, f) -> tuple[float | None, float | None]:
    """(sharpness, minimum) of a sweep's objective: from ``f`` when given, else from its
    name when that is a catalogue function (rebuilding a dataset problem costs seconds and
    knows no sharpness)."""
    if f is not None:
        obj = objective(f)
        return obj.sharpness_at_minimum, obj.minimum
    if sweep.objective.partition(":")[0] in analytic.names():
        try:
            obj = objective(sweep.objective)
        except ValueError:
            return None, None
        return obj.sharpness_at_minimum, obj.minimum
    return None, None


def _mark_lr_lines(ax: Axes, L: float | None, lo: float, hi: float) -> None:
    if not L:
        return
    for k, ls, text in ((1, ":", "1/L"), (2, "--", "2/L")):
        x = k / L
        if lo <= x <= hi:
            ax.axvline(
                x,
                color=INK,
                ls=ls,
                lw=1.1,
                alpha=0.8,
                label=f"{text} = {g(x)}" + (" (a quadratic diverges above)" if k == 2 else ""),
            )
            ax.text(
                x,
                0.985,
                f"{text} ",
                transform=blended_transform_factory(ax.transData, ax.transAxes),
                ha="right",
                va="top",
                fontsize=9,
            )


def landscape(
    sweep,
    sharpness: float | None = None,
    *,
    f=None,
    ax: Axes | None = None,
) -> Figure:
    """A sweep's final cost against log alpha, each point coloured by its run's regime.

    With the sharpness ``L`` known (the scene's, the argument, or the catalogue facts of the
    sweep's objective) the lines ``alpha = 1/L`` and ``alpha = 2/L`` are drawn: on a
    quadratic, 1/L is the fastest rate and every rate above 2/L diverges. Diverged runs sit
    in a band at the top; the best learning rate is ringed.

    Args:
        sweep: a scene of :func:`lrlab.scenes.landscape`, or a :class:`~lrlab.descent.Sweep`.
        sharpness: the sharpness ``L`` for the 1/L and 2/L marks (default: the scene's, else
            the known facts of the sweep's objective).
        f: the sweep's objective, for its facts when its name cannot be rebuilt.
        ax: draw into this Axes.

    Returns:
        The figure.

    Example:
        >>> import lrlab
        >>> sw = lrlab.sweep("parabola", lrs=lrlab.lr_grid(0.01, 2.0, 24), steps=50)
        >>> fig = landscape(sw)
        >>> sorted(round(line.get_xdata()[0], 3) for line in fig.axes[0].get_lines()
        ...        if line.get_label().startswith(("1/L", "2/L")))
        [0.5, 1.0]
    """
    if isinstance(sweep, Landscape):
        sweep, L, minimum = sweep.sweep, sweep.sharpness, sweep.minimum
    else:
        if check_sweep(sweep).optimizer.swept is not None:
            _checks.fail(
                "sweep",
                sweep.objective,
                f"it also swept {sweep.optimizer.swept}: draw it with "
                "lrlab.plot.heatmap(lrlab.scenes.heatmap_of(sweep))",
            )
        L, minimum = _sweep_facts(sweep, f)
    if sharpness is not None:
        L = _checks.positive_float("sharpness", sharpness)
    fig, ax = axes_for(ax, (8.6, 4.6))
    lrs = np.asarray([r.lr for r in sweep.runs], float)
    finals = np.asarray([r.final_loss for r in sweep.runs], float)
    regimes = [regime_of(r) for r in sweep.runs]
    log, ref = log_gap(sweep.runs, minimum)
    y = finals - ref
    ok = np.isfinite(y)
    if log:
        y = np.where(ok, np.maximum(y, tiny(ref)), y)
        ax.set_yscale("log")
    order = np.argsort(lrs)
    ax.plot(lrs[order][ok[order]], y[order][ok[order]], color=GREY, lw=1.0, zorder=1)
    if ok.any():
        lo_y, hi_y = float(np.min(y[ok])), float(np.max(y[ok]))
        if log:
            ax.set_ylim(lo_y / 5, hi_y * 60)
        else:
            span = hi_y - lo_y or 1.0
            ax.set_ylim(lo_y - 0.05 * span, hi_y + 0.3 * span)
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    # Legend entries in the order the regimes appear from small to large learning rates.
    first_lr = {g: min(lr for lr, r in zip(lrs, regimes) if r == g) for g in set(regimes)}
    for regime in sorted(first_lr, key=first_lr.get):
        color = REGIME_COLORS[regime]
        pick = np.array([r == regime for r in regimes]) & ok
        if pick.any():
            ax.scatter(
                lrs[pick],
                y[pick],
                color=color,
                s=34,
                zorder=3,
                edgecolors="white",
                linewidths=0.5,
                label=REGIME_LABELS[regime],
            )
    gone = ~ok
    if gone.any():
        ax.scatter(
            lrs[gone],
            np.full(gone.sum(), 0.94),
            transform=trans,
            marker="X",
            s=50,
            color=REGIME_COLORS["diverging"],
            zorder=3,
            edgecolors="white",
            linewidths=0.5,
            clip_on=False,
            label="diverged"
            if "diverging" in [regimes[i] for i in np.flatnonzero(ok)]
            else REGIME_LABELS["diverging"],
        )
    best = sweep.best
    if math.isfinite(best.final_loss):
        yb = max(best.final_loss - ref, tiny(ref)) if log else best.final_loss - ref
        ax.plot(
            best.lr,
            yb,
            marker="o",
            ms=16,
            mfc="none",
            mec=INK,
            mew=1.6,
            ls="none",
            zorder=4,
            label=f"best α = {g(best.lr)}",
        )
    ax.set_xscale("log")
    _mark_lr_lines(ax, L, lrs.min() / 1.5, lrs.max() * 1.5)
    ax.set_xlim(lrs.min() / 1.3, lrs.max() * 1.3)
    ax.set_xlabel("learning rate α (log scale)")
    ax.set_ylabel("final cost − minimum" if minimum is not None else "final cost")
    ax.set_title(
        f"Sweep landscape on {sweep.objective}: {len(lrs)} learning rates × {sweep.steps} steps",
        fontsize=11,
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, frameon=False)
    tidy(ax)
    return fig


def compute_price(scene: Price, *, ax: Axes | None = None) -> Figure:
    """The price of a low learning rate: iterations needed to reach a tolerance, against alpha.

    Rates that never get within the tolerance inside the budget are drawn in a band at the
    top (``never within budget``), diverged ones likewise with a cross; the cheapest rate is
    ringed and ``1/L`` and ``2/L`` marked.

    Args:
        scene: a scene of :func:`lrlab.scenes.compute_price`.
        ax: draw into this Axes.

    Returns:
        The figure.

    Example:
        >>> from lrlab import scenes
        >>> fig = compute_price(scenes.compute_price("parabola", steps=300))
        >>> fig.axes[0].get_yscale()
        'log'
    """
    if not isinstance(scene, Price):
        _checks.fail(
            "scene",
            type(scene).__name__,
            "expected a Price from lrlab.scenes.compute_price",
            TypeError,
        )
    f, sw, needed, tol, L = scene.objective, scene.sweep, scene.needed, scene.tol, scene.sharpness
    steps = sw.steps
    fig, ax = axes_for(ax, (8.8, 4.6))
    lr_arr = np.asarray([r.lr for r in sw.runs])
    band = steps * 3.0
    reached = np.array([n is not None for n in needed])
    n_arr = np.array([max(n, 0.8) if n is not None else np.nan for n in needed], float)
    ax.plot(lr_arr[reached], n_arr[reached], color=GREY, lw=1.0, zorder=1)
    regimes = [regime_of(r) for r in sw.runs]
    for regime, color in REGIME_COLORS.items():
        pick = np.array([r == regime for r in regimes])
        hit, miss = pick & reached, pick & ~reached
        if hit.any():
            ax.scatter(
                lr_arr[hit],
                n_arr[hit],
                color=color,
                s=30,
                zorder=3,
                edgecolors="white",
                linewidths=0.5,
                label=REGIME_LABELS[regime],
            )
        if miss.any():
            ax.scatter(
                lr_arr[miss],
                np.full(miss.sum(), band),
                s=46,
                zorder=3,
                marker="X" if regime == "diverging" else "^",
                edgecolors="white",
                linewidths=0.5,
                color=color,
                label=None if hit.any() else REGIME_LABELS[regime],
            )
    ax.axhline(steps, color=GREY, ls=":", lw=1.0)
    ax.text(
        lr_arr.min(),
        steps * 1.12,
        f"budget: {steps} iterations",
        fontsize=8.5,
        color=GREY,
        va="bottom",
    )
    ax.text(
        lr_arr.min(),
        band * 1.25,
        "never within budget / diverged",
        fontsize=8.5,
        color=INK,
        va="bottom",
    )
    if reached.any():
        k = int(np.nanargmin(np.where(reached, n_arr, np.inf)))
        ax.plot(
            lr_arr[k],
            n_arr[k],
            marker="o",
            ms=15,
            mfc="none",
            mec=INK,
            mew=1.6,
            ls="none",
            zorder=4,
            label=f"fastest: α = {g(lr_arr[k])}, {count(needed[k], 'iteration')}",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(0.6, band * 2.4)
    _mark_lr_lines(ax, L, lr_arr.min() / 1.5, lr_arr.max() * 1.5)
    ax.set_xlim(lr_arr.min() / 1.3, lr_arr.max() * 1.3)
    ax.set_xlabel("learning rate α (log scale)")
    ax.set_ylabel(f"iterations until C − C* ≤ {g(tol)}")
    ax.set_title(f"The price of a low learning rate on {name_of(f)}", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, frameon=False)
    tidy(ax)
    return fig
