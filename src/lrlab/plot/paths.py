"""Paths of gradient descent: on a 1-D cost curve, on a 2-D contour plot, side by side.

Every function here draws runs it is given (with their objective, for the curve or the
contours behind them) and runs nothing; :mod:`lrlab.scenes` designs and runs the scenes.

Example:
    >>> from lrlab import scenes
    >>> fig = three_panels(scenes.three_panels("parabola"))
    >>> [ax.get_title().split(":")[0] for ax in fig.axes]
    ['too low', 'just right', 'too high']
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .. import _checks
from ..scenes import Scene
from ._canvas import axes_for, check_run, costs, figure_for, objective_of, params, tidy
from .style import (
    GREY,
    INK,
    LINE_STYLES,
    MARKERS,
    REGIME_COLORS,
    REGIME_LABELS,
    YELLOW,
    alpha_text,
    name_of,
    outcome,
    regime_of,
)

__all__ = ["contour_paths", "path", "small_hill", "three_panels"]

#: Steps drawn as arrows in a path; later steps are dots only, so a long run stays readable.
ARROWS = 12


def _view_1d(f, paths: Sequence[np.ndarray], reach: float = 1.0) -> tuple[float, float]:
    """The x-range to draw: the plotting box, widened to hold the path's points that lie
    within ``reach`` box-widths of it (and always the start)."""
    lo, hi = f.box[0]
    width = hi - lo
    xs = np.concatenate([p[:, 0] for p in paths]) if paths else np.array([])
    near = xs[np.isfinite(xs) & (xs >= lo - reach * width) & (xs <= hi + reach * width)]
    if paths:
        near = np.concatenate([near, [p[0, 0] for p in paths]])
    if near.size:
        lo, hi = min(lo, float(near.min())), max(hi, float(near.max()))
    pad = 0.03 * (hi - lo)
    return lo - pad, hi + pad


def _view_2d(f, paths: Sequence[np.ndarray]) -> tuple[tuple[float, float], tuple[float, float]]:
    view = []
    for d in range(2):
        lo, hi = f.box[d]
        width = hi - lo
        vs = np.concatenate([p[:, d] for p in paths]) if paths else np.array([])
        # Only points a little outside the box widen the view: a diverging path would
        # otherwise shrink everything else to a dot.
        near = vs[np.isfinite(vs) & (vs >= lo - 0.25 * width) & (vs <= hi + 0.25 * width)]
        if near.size:
            lo, hi = min(lo, float(near.min())), max(hi, float(near.max()))
        view.append((lo, hi))
    return view[0], view[1]


def _draw_curve(
    ax: Axes, f, view: tuple[float, float], *, minima: bool = True
) -> tuple[float, float]:
    xs = np.linspace(view[0], view[1], 500)
    ys = costs(f, xs[:, None])
    ax.plot(xs, ys, color=INK, lw=1.6, zorder=1)
    ax.set_xlim(*view)
    lo, hi = float(np.nanmin(ys)), float(np.nanmax(ys))
    pad = 0.06 * (hi - lo or 1.0)
    ax.set_ylim(lo - pad, hi + pad)
    if minima:
        _mark_minima(ax, f, view)
    ax.set_xlabel(f.param_names[0])
    ax.set_ylabel(f"cost C({f.param_names[0]})")
    tidy(ax)
    return lo - pad, hi + pad


def _mark_minima(ax: Axes, f, xview, yview=None) -> None:
    shown_global = shown_local = False
    for m in f.minima:
        p = m.point
        if not xview[0] <= p[0] <= xview[1] or (yview and not yview[0] <= p[1] <= yview[1]):
            continue
        is_global = m.kind == "global"
        label = None
        if is_global and not shown_global:
            label, shown_global = "global minimum", True
        elif not is_global and not shown_local:
            label, shown_local = "local minimum", True
        xy = (p[0], m.value) if f.dim == 1 else (p[0], p[1])
        ax.plot(
            *xy,
            marker="*",
            ms=15 if is_global else 12,
            ls="none",
            zorder=5,
            mfc=YELLOW if is_global else "white",
            mec=INK,
            mew=1.0,
            label=label,
        )


def _leave_note(
    ax: Axes, xy: tuple[float, float], toward: tuple[float, float], text: str, color: str
) -> None:
    """Mark where a path leaves the picture: a dashed arrow pointing the way it went."""
    x0, y0 = xy
    (xl, xh), (yl, yh) = ax.get_xlim(), ax.get_ylim()
    # Work in axes fractions so the arrow is a fixed size whatever the path's real jump was.
    fx, fy = (x0 - xl) / (xh - xl), (y0 - yl) / (yh - yl)
    dx, dy = (toward[0] - x0) / (xh - xl), (toward[1] - y0) / (yh - yl)
    norm = math.hypot(dx, dy) or 1.0
    ex = min(max(fx + 0.16 * dx / norm, 0.03), 0.97)
    ey = min(max(fy + 0.16 * dy / norm, 0.03), 0.97)
    ax.annotate(
        "",
        xy=(ex, ey),
        xycoords="axes fraction",
        xytext=(x0, y0),
        textcoords="data",
        annotation_clip=False,
        arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.3, "ls": "--", "shrinkA": 4},
    )
    ax.text(
        ex,
        ey + (0.02 if dy >= 0 else -0.02),
        text,
        transform=ax.transAxes,
        color=color,
        fontsize=8.5,
        ha="right" if ex > 0.5 else "left",
        va="bottom" if dy >= 0 else "top",
    )


def _draw_path_1d(
    ax: Axes,
    f,
    run,
    *,
    color: str,
    view: tuple[float, float],
    arrows: int = ARROWS,
    by_step: bool = False,
    numbered: int = 0,
    label: str | None = None,
):
    """Dots at ``(w_t, C(w_t))`` joined by arrows; returns the scatter (for a colour bar)."""
    xs_all = params(run)[:, 0]
    inside = np.isfinite(xs_all) & (xs_all >= view[0]) & (xs_all <= view[1])
    n_in = int(np.argmin(inside)) if not inside.all() else len(xs_all)
    xs = xs_all[:n_in]
    ys = costs(f, xs[:, None]) if n_in else np.array([])
    width = view[1] - view[0]
    for t in range(min(arrows, n_in - 1)):
        if abs(xs[t + 1] - xs[t]) < 2e-3 * width:
            break  # the rest of the steps are too short to see as arrows
        ax.annotate(
            "",
            xy=(xs[t + 1], ys[t + 1]),
            xytext=(xs[t], ys[t]),
            zorder=2,
            arrowprops={
                "arrowstyle": "-|>",
                "color": color,
                "lw": 1.4,
                "shrinkA": 3.5,
                "shrinkB": 3.5,
                "mutation_scale": 11,
            },
        )
    if by_step:
        sc = ax.scatter(
            xs,
            ys,
            c=np.arange(n_in),
            cmap="viridis",
            vmin=0,
            vmax=max(len(xs_all) - 1, 1),
            s=38,
            zorder=3,
            edgecolors="white",
            linewidths=0.6,
            label=label,
        )
    else:
        sc = ax.scatter(
            xs, ys, color=color, s=30, zorder=3, edgecolors="white", linewidths=0.6, label=label
        )
    for t in range(min(numbered, n_in)):
        ax.annotate(
            str(t),
            (xs[t], ys[t]),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=9,
            fontweight="bold",
            color=INK,
            zorder=4,
        )
    if n_in and n_in < len(xs_all):
        nxt = float(xs_all[n_in])
        if math.isfinite(nxt):
            target = (nxt, float(costs(f, [[nxt]])[0]))
        else:
            target = (xs[-1] + (xs[-1] - xs[-2] if n_in > 1 else 1.0), ys[-1] + abs(ys[-1]) + 1)
        if not math.isfinite(target[1]):
            target = (target[0], ys[-1] + abs(ys[-1]) + 1)
        _leave_note(ax, (xs[-1], ys[-1]), target, f"off the chart at step {n_in}", color)
    return sc


def _draw_contour(ax: Axes, f, view, *, resolution: int = 180) -> None:
    (x0, x1), (y0, y1) = view
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    Z = costs(f, np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(gx.shape)
    Z = np.where(np.isfinite(Z), Z, np.nan)
    known = f.minimum
    zmin = float(np.nanmin(Z)) if known is None else min(known, float(np.nanmin(Z)))
    gap = Z - zmin
    top = float(np.nanmax(gap))
    positive = gap[gap > 0]
    # Levels spaced evenly in log(C - C*): valleys get as many lines as walls.
    low = max(float(np.nanquantile(positive, 0.002)) if positive.size else top * 1e-6, top * 1e-7)
    if not top > low > 0:
        low, top = 1e-3, 1.0
    levels = np.geomspace(low, top, 16)
    filled = np.clip(gap, low, top)
    # White valleys to mid-grey walls: the coloured paths stay the darkest things drawn.
    shades = [str(1.0 - 0.3 * k / (len(levels) - 2)) for k in range(len(levels) - 1)]
    ax.contourf(gx, gy, filled, levels=levels, colors=shades, zorder=0)
    ax.contour(gx, gy, filled, levels=levels, colors="#8F8F8F", linewidths=0.5, zorder=0)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if 1 / 3 <= (y1 - y0) / (x1 - x0) <= 3:
        # Equal scales, so that each step is seen at right angles to the contour it leaves.
        ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f.param_names[0])
    ax.set_ylabel(f.param_names[1])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _draw_path_2d(
    ax: Axes,
    run,
    *,
    color: str,
    ls: str = "-",
    marker: str = "o",
    label: str | None = None,
    arrows: int = 6,
) -> None:
    P = params(run)
    finite = np.isfinite(P).all(axis=1)
    P = P[: int(np.argmin(finite)) if not finite.all() else len(P)]
    ax.plot(
        P[:, 0],
        P[:, 1],
        ls=ls,
        marker=marker,
        ms=3.2,
        lw=1.5,
        color=color,
        label=label,
        zorder=3,
        mec="white",
        mew=0.3,
    )
    (xl, xh), (yl, yh) = ax.get_xlim(), ax.get_ylim()
    for t in range(min(arrows, len(P) - 1)):
        a, b = P[t], P[t + 1]
        if not (xl <= b[0] <= xh and yl <= b[1] <= yh):
            break
        if math.hypot((b[0] - a[0]) / (xh - xl), (b[1] - a[1]) / (yh - yl)) < 0.02:
            break
        # Only the head: the path's own line (solid, dashed, ...) stays what tells paths apart.
        ax.annotate(
            "",
            xy=tuple(b),
            xytext=tuple(a + 0.85 * (b - a)),
            zorder=3,
            arrowprops={
                "arrowstyle": "-|>",
                "color": color,
                "lw": 1.0,
                "shrinkA": 0,
                "shrinkB": 2,
                "mutation_scale": 11,
            },
        )


def _mark_start(ax: Axes, xy: tuple[float, float]) -> None:
    ax.plot(
        *xy, marker="o", ms=9, mfc=INK, mec="white", mew=1.5, ls="none", zorder=6, label="start"
    )


def _panels(
    f, runs, titles: Sequence[str], suptitle: str, fig: Figure | None, colors: Sequence[str]
) -> Figure:
    n = len(runs)
    fig = figure_for(fig, (4.1 * n + 0.4, 4.3))
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    paths = [params(r) for r in runs]
    if f.dim == 1:
        # Panels share the box: a run that leaves it is marked, not allowed to shrink the rest.
        view = _view_1d(f, paths, reach=0.08)
        for ax, run, title, color in zip(axes, runs, titles, colors):
            _draw_curve(ax, f, view)
            _draw_path_1d(ax, f, run, color=color, view=view, numbered=1)
            _mark_start(ax, (paths[0][0, 0], costs(f, paths[0][:1])[0]))
            ax.set_title(title, fontsize=10, color=color, fontweight="bold")
        for ax in axes[1:]:
            ax.set_ylabel("")
    else:
        view = _view_2d(f, paths)
        for ax, run, title, color in zip(axes, runs, titles, colors):
            _draw_contour(ax, f, view)
            _draw_path_2d(ax, run, color=color, arrows=ARROWS)
            _mark_minima(ax, f, *view)
            _mark_start(ax, tuple(paths[0][0]))
            ax.set_title(title, fontsize=10, color=color, fontweight="bold")
    axes[0].legend(loc="upper center", fontsize=8, framealpha=0.9)
    fig.suptitle(suptitle, fontsize=12)
    return fig


def _which_minimum(f, run) -> str:
    if run.diverged_at is not None:
        return "diverged"
    end = params(run)[-1]
    if not f.minima:
        return "settled"
    dist = [float(np.linalg.norm(end - np.asarray(m.point))) for m in f.minima]
    k = int(np.argmin(dist))
    scale = max(float(np.ptp(np.asarray(f.box, dtype=float), axis=1).max()), 1e-12)
    if dist[k] > 0.05 * scale:
        return "between minima"
    m = f.minima[k]
    return f"{'stuck in the local' if m.kind == 'local' else 'reached the global'} minimum"


def _scene(scene, what: str) -> Scene:
    if not isinstance(scene, Scene):
        _checks.fail(
            "scene", type(scene).__name__, f"expected a Scene from lrlab.scenes.{what}", TypeError
        )
    return scene


def _low_dim_run(run, f, who: str):
    check_run(run)
    if run.params is not None and run.params.shape[1] > 2:
        _checks.fail(
            "run",
            run.objective,
            f"{who}() needs a 1-D or 2-D objective; this run has {run.params.shape[1]} parameters",
        )
    params(run)
    f = objective_of(run, f)
    if f.dim not in (1, 2) or f.box is None or f.kind not in ("expression", "catalogue"):
        _checks.fail(
            "f",
            f.name,
            f"{who}() needs an analytic 1-D or 2-D objective (an expression or a "
            f"catalogue function); this one has {f.dim} parameters",
        )
    return f


# ---------------------------------------------------------------------------------------------
# The path of gradient descent.


def path(
    run, *, f=None, numbered: int = 4, sharpness: float | None = None, ax: Axes | None = None
) -> Figure:
    """The path of gradient descent: dots on the cost curve moving to the minimum.

    On a 1-D objective, the dots ``(w_t, C(w_t))`` sit on the cost curve, coloured by step,
    joined by arrows, the first ``numbered`` of them numbered; on a 2-D objective, the path
    is drawn on a contour plot.

    Args:
        run: a :class:`~lrlab.descent.Run` that kept its path, or a scene of
            :func:`lrlab.scenes.path`.
        f: the run's objective, when it cannot be rebuilt from the run's name.
        numbered: how many of the first points carry their step number.
        sharpness: ``L`` for the title's ``α = ... (k/L)`` (default: the known one).
        ax: draw into this Axes instead of a new figure.

    Returns:
        The figure.

    Raises:
        ValueError: a run on an objective that is not analytic 1-D or 2-D, or that kept no
            path.

    Example:
        >>> import lrlab
        >>> fig = path(lrlab.descend("parabola", lr=0.15, steps=20))
        >>> fig.axes[0].get_title().startswith("Gradient descent")
        True
    """
    if isinstance(run, Scene):
        run, f, sharpness = run.run, run.objective, run.sharpness
    f = _low_dim_run(run, f, "path")
    numbered = _checks.int_in_range("numbered", numbered, 0, 1000)
    L = sharpness or f.sharpness_at_minimum
    ax = axes_for(ax, (7.0, 4.6))[1]
    regime = regime_of(run)
    if f.dim == 1:
        view = _view_1d(f, [params(run)])
        _draw_curve(ax, f, view)
        sc = _draw_path_1d(
            ax,
            f,
            run,
            color=GREY,
            view=view,
            by_step=True,
            numbered=numbered,
            label="w after each step",
        )
        bar = ax.get_figure(root=True).colorbar(sc, ax=ax, pad=0.01, fraction=0.04, aspect=30)
        bar.set_label("step")
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
    else:
        view = _view_2d(f, [params(run)])
        _draw_contour(ax, f, view)
        _draw_path_2d(ax, run, color=REGIME_COLORS[regime], label=alpha_text(run.lr, L))
        _mark_minima(ax, f, *view)
        _mark_start(ax, tuple(params(run)[0]))
    ax.set_title(
        f"Gradient descent on {name_of(f)}\n"
        f"{alpha_text(run.lr, L)}: {outcome(run)} ({REGIME_LABELS[regime]})",
        fontsize=11,
    )
    ax.legend(loc="upper center" if f.dim == 1 else "best", fontsize=8.5, framealpha=0.9)
    return ax.get_figure(root=True)


# ---------------------------------------------------------------------------------------------
# Panels: the same curve, one learning rate each.


def three_panels(scene: Scene, *, fig: Figure | None = None) -> Figure:
    """Too low, just right and too high, side by side on one curve, steps drawn as arrows.

    Each panel's title is coloured by its run's regime; a run that is ``good`` but not
    the panel meant to be just right keeps the colour of what it was meant to show.

    Args:
        scene: a scene of :func:`lrlab.scenes.three_panels`.
        fig: draw into this (empty) figure.

    Returns:
        The figure, one Axes per learning rate.

    Example:
        >>> from lrlab import scenes
        >>> fig = three_panels(scenes.three_panels("parabola", lrs=(0.05, 0.4, 1.1)))
        >>> [ax.get_title().split("\\n")[0] for ax in fig.axes]
        ['too low: α = 0.05 (0.1/L)', 'just right: α = 0.4 (0.8/L)', 'too high: α = 1.1 (2.2/L)']
    """
    scene = _scene(scene, "three_panels")
    f, L = scene.objective, scene.sharpness or scene.objective.sharpness_at_minimum
    names = scene.labels or ("too low", "just right", "too high")
    intended = ("too_low", "good", "diverging")
    titles, colors = [], []
    for name, want, run in zip(names, intended, scene.runs):
        regime = regime_of(run)
        colors.append(REGIME_COLORS[regime if regime != "good" or want == "good" else want])
        titles.append(f"{name}: {alpha_text(run.lr, L)}\n{outcome(run)}")
    return _panels(
        f,
        scene.runs,
        titles,
        f"The learning rate on {name_of(f)}: too low, just right, too high",
        fig,
        colors,
    )


def small_hill(scene: Scene, *, fig: Figure | None = None) -> Figure:
    """The small hill: a small alpha settles in the nearer local minimum, a larger one hops
    the hill to the global minimum. Each panel names the minimum its run ended in.

    Args:
        scene: a scene of :func:`lrlab.scenes.small_hill`.
        fig: draw into this (empty) figure.

    Returns:
        The figure, one Axes per learning rate.

    Example:
        >>> from lrlab import scenes
        >>> fig = small_hill(scenes.small_hill("hill", lrs=(0.02, 0.1)))
        >>> "local" in fig.axes[0].get_title(), "global" in fig.axes[1].get_title()
        (True, True)
    """
    scene = _scene(scene, "small_hill")
    f = scene.objective
    titles, colors = [], []
    for run in scene.runs:
        colors.append(REGIME_COLORS[regime_of(run)])
        titles.append(f"{alpha_text(run.lr, None)}: {_which_minimum(f, run)}\n{outcome(run)}")
    return _panels(
        f,
        scene.runs,
        titles,
        f"The small hill on {name_of(f)}: a larger step hops over it",
        fig,
        colors,
    )


# ---------------------------------------------------------------------------------------------
# Paths on a contour plot.


def contour_paths(scene: Scene, *, ax: Axes | None = None) -> Figure:
    """Paths of gradient descent for several learning rates on a contour plot of a 2-D cost.

    Contour levels are spaced evenly in ``log(C - C*)`` so that flat valleys show as well as
    steep walls; known minima are stars (filled: global), the start is a black dot, and each
    path is coloured by its regime.

    Args:
        scene: a scene of :func:`lrlab.scenes.contour_paths`.
        ax: draw into this Axes.

    Returns:
        The figure.

    Example:
        >>> from lrlab import scenes
        >>> fig = contour_paths(scenes.contour_paths("bowl:kappa=10", lrs=(0.01, 0.1, 0.19)))
        >>> sum(1 for line in fig.axes[0].get_lines() if line.get_label().startswith("α"))
        3
    """
    scene = _scene(scene, "contour_paths")
    f, runs = scene.objective, scene.runs
    L = scene.sharpness or f.sharpness_at_minimum
    view = _view_2d(f, [params(r) for r in runs])
    ratio = (view[1][1] - view[1][0]) / (view[0][1] - view[0][0])
    fig, ax = axes_for(ax, (7.0, min(max(0.8 * 7.0 * ratio + 1.3, 3.8), 7.5)))
    _draw_contour(ax, f, view)
    used: dict[str, int] = {}
    for i, run in enumerate(runs):
        regime = regime_of(run)
        k = used.get(regime, 0)
        used[regime] = k + 1
        name = f" ({scene.labels[i]})" if scene.labels else ""
        diverged = f", diverged at step {run.diverged_at}" if run.diverged_at is not None else ""
        _draw_path_2d(
            ax,
            run,
            color=REGIME_COLORS[regime],
            ls=LINE_STYLES[k % len(LINE_STYLES)],
            marker=MARKERS[k % len(MARKERS)],
            label=f"{alpha_text(run.lr, L)}{name} → {REGIME_LABELS[regime]}{diverged}",
        )
    _mark_minima(ax, f, *view)
    _mark_start(ax, tuple(params(runs[0])[0]))
    steps = len(runs[0].losses) - 1
    ax.set_title(
        f"Gradient descent on {name_of(f)}, {steps} steps\ncontours of log(C − C*)", fontsize=11
    )
    ax.legend(loc="best", fontsize=8.5, framealpha=0.92)
    return fig
