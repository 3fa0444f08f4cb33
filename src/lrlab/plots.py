"""Pictures of gradient descent and its learning rate, drawn with matplotlib.

Each function draws one phenomenon on any objective it makes sense for and returns a
:class:`matplotlib.figure.Figure`. Figures are built directly, never through ``pyplot``, so
drawing leaves no global state behind and works on a server without a display; pass ``ax``
(or ``fig``) to draw into a figure of your own. :func:`save` writes PNG, SVG or PDF.

One colour stands for one regime in every picture (:data:`REGIME_COLORS`, from the
colour-blind-safe Okabe-Ito palette), so a reader who has learnt that green is ``good`` and
vermillion is ``diverging`` can read every other picture at a glance.

===================  ===========================================================
function             what it shows
===================  ===========================================================
:func:`path`         the path of gradient descent on a 1-D cost curve (or a 2-D contour)
:func:`three_panels` too low / just right / too high, side by side, steps as arrows
:func:`cost_curves`  cost against iteration for very high, high, good and low alphas
:func:`step_lengths` step length and gradient norm shrink together at constant alpha
:func:`small_hill`   a small alpha stuck in a local minimum, a larger one over the hill
:func:`contour_paths` 2-D paths for several alphas on a contour plot
:func:`landscape`    a sweep's final cost against log alpha, by regime, with 1/L and 2/L
:func:`compute_price` iterations needed to reach a tolerance, against alpha
:func:`range_test_curve` an LR range test with its suggestions
:func:`sharpness_track` sharpness along a run against 2/alpha (the edge of stability)
:func:`run_figure`   one run at a glance: its path (or step lengths) and its cost
===================  ===========================================================

Example:
    >>> from lrlab import plots
    >>> fig = plots.three_panels("parabola")
    >>> len(fig.axes)
    3
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from . import _checks

__all__ = [
    "REGIME_COLORS",
    "REGIME_LABELS",
    "compute_price",
    "contour_paths",
    "cost_curves",
    "iterations_to",
    "landscape",
    "path",
    "range_test_curve",
    "run_figure",
    "save",
    "sharpness_track",
    "small_hill",
    "step_lengths",
    "three_panels",
]

#: One colour per regime (Okabe-Ito, safe for the common colour-vision deficiencies).
REGIME_COLORS: dict[str, str] = {
    "diverging": "#D55E00",  # vermillion
    "too_high": "#E69F00",  # orange
    "good": "#009E73",  # bluish green
    "too_low": "#0072B2",  # blue
    "stuck": "#CC79A7",  # reddish purple
}
#: How each regime is written in legends and titles.
REGIME_LABELS: dict[str, str] = {
    "diverging": "diverging",
    "too_high": "too high",
    "good": "good",
    "too_low": "too low",
    "stuck": "stuck",
}
# Series that are not regimes use the palette's remaining colours, so they never read as one.
_INK = "#000000"
_SKY = "#56B4E9"
_GREY = "#8C8C8C"
_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P")
_FORMATS = (".png", ".svg", ".pdf")
#: Steps drawn as arrows in a path; later steps are dots only, so a long run stays readable.
_ARROWS = 12


# ---------------------------------------------------------------------------------------------
# Small shared pieces.


def save(fig: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Write a figure as PNG, SVG or PDF, chosen by the file name's extension.

    Args:
        fig: the figure to write.
        path: where; the extension picks the format; missing folders are created.
        dpi: resolution of a PNG.

    Returns:
        The path written.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "path.svg"
        >>> save(path("parabola"), out).suffix
        '.svg'
    """
    if not isinstance(fig, Figure):
        _checks.fail("fig", type(fig).__name__, "expected a matplotlib Figure", TypeError)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        _checks.fail("path", str(path), f"the file name must end in {', '.join(_FORMATS)}")
    dpi = _checks.int_in_range("dpi", dpi, 20, 1200)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fixed salt for SVG element ids (restored on exit) keeps the output byte-stable.
    with rc_context({"svg.hashsalt": "lrlab"}):
        fig.savefig(path, format=suffix[1:], dpi=dpi, metadata=_metadata(suffix))
    return path


def _metadata(suffix: str) -> dict | None:
    # A fixed date keeps SVG and PDF output byte-stable from run to run.
    if suffix == ".svg":
        return {"Date": None}
    if suffix == ".pdf":
        return {"CreationDate": None}
    return None


def _new(figsize: tuple[float, float]) -> Figure:
    return Figure(figsize=figsize, dpi=100, layout="constrained")


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig = _new(figsize)
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        _checks.fail("ax", type(ax).__name__, "expected a matplotlib Axes or None", TypeError)
    return ax.get_figure(root=True), ax


def _style(ax: Axes) -> None:
    ax.grid(True, which="major", color="#DDDDDD", lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _g(x: float) -> str:
    """A number as people write it: 3 significant digits, no trailing zeros."""
    if x is None or not math.isfinite(x):
        return "inf" if x == math.inf else "nan"
    return f"{x:.3g}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _alpha(lr: float, L: float | None) -> str:
    """``α = 0.05 (0.1/L)`` when the sharpness is known, else ``α = 0.05``."""
    if L:
        return f"α = {_g(lr)} ({lr * L:.2g}/L)"
    return f"α = {_g(lr)}"


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _pretty(text: str) -> str:
    """A cost formula as people write it: ``x**4 - 4*x**2`` becomes ``x⁴ − 4x²``."""
    text = re.sub(r"\*\*(-?\d+)\b", lambda m: m.group(1).translate(_SUPERSCRIPT), text)
    text = re.sub(r"(?<![\w./])(\d+(?:\.\d+)?)\*(?=[A-Za-z(])", r"\1", text)
    return text.replace("*", "·").replace(" - ", " − ")


def _name(f) -> str:
    """How a picture names an objective: its formula, after its name for catalogue entries."""
    if f.formula is None:
        return f.name
    formula = _pretty(f.formula)
    if f.kind == "catalogue":
        return f"{f.name.partition(':')[0]}, C = {formula}"
    return f"C = {formula}"


def _objective(f):
    from .objectives import objective

    return objective(f)


def _run_type():
    from .descent import Run

    return Run


def _sweep_type():
    from .descent import Sweep

    return Sweep


def _check_run(run, name: str = "run"):
    if not isinstance(run, _run_type()):
        _checks.fail(
            name, type(run).__name__, "expected an lrlab Run (from lrlab.descend)", TypeError
        )
    return run


def _of_run(run, f):
    """The objective of ``run``: ``f`` when given, else rebuilt from the run's name."""
    if f is not None:
        return _objective(f)
    try:
        return _objective(run.objective)
    except (ValueError, TypeError):
        raise ValueError(
            f"run: its objective {run.objective!r} cannot be rebuilt from its name; "
            "pass the objective as f="
        ) from None


def _regime(run) -> str:
    try:
        return run.diagnosis.regime
    except ValueError:
        # A run retired after its first step is too short a curve to diagnose, but its
        # retirement already says what happened.
        if run.diverged_at is not None:
            return "diverging"
        raise


def _scale(f, lrs_given: bool) -> float | None:
    """The sharpness that default learning rates are scaled by (None when lrs were given).

    The sharpness at the global minimum when known; otherwise the curvature at the start,
    which sets the largest stable step there.
    """
    L = f.sharpness_at_minimum
    if L or lrs_given:
        return L
    try:
        from .curvature import sharpness

        L = float(sharpness(f))
    except (ImportError, ValueError, RuntimeError):
        L = None
    if L is None or not math.isfinite(L) or L <= 0:
        raise ValueError(
            f"lrs=None: cannot pick default learning rates for {f.name!r} (its curvature is "
            "unknown or not positive at the start); pass lrs= explicitly"
        )
    return L


def _lr_list(lrs, name: str = "lrs") -> tuple[list[str] | None, list[float]]:
    """``(labels or None, learning rates)`` from a sequence or a ``{label: lr}`` mapping."""
    if isinstance(lrs, Mapping):
        labels, values = [str(k) for k in lrs], list(lrs.values())
    else:
        if isinstance(lrs, (str, bytes)) or not isinstance(lrs, (Sequence, np.ndarray)):
            _checks.fail(
                name,
                lrs,
                "expected a sequence of learning rates or a {label: lr} mapping",
                TypeError,
            )
        labels, values = (
            None,
            list(np.asarray(lrs, dtype=object).ravel())
            if isinstance(lrs, np.ndarray)
            else list(lrs),
        )
    if not values:
        _checks.fail(name, lrs, "expected at least one learning rate")
    return labels, [_checks.positive_float(f"{name}[{i}]", v) for i, v in enumerate(values)]


def _costs(f, points: np.ndarray) -> np.ndarray:
    """Full-data costs of ``points (N, dim)``, as float64 numpy."""
    W = torch.as_tensor(np.asarray(points, dtype=float), dtype=f.dtype, device=f.device)
    return f.losses(W).detach().cpu().double().numpy()


def _params(run) -> np.ndarray:
    if run.params is None:
        raise ValueError(
            "run: it kept no path (params is None); make it with descend(..., keep_params=True)"
        )
    return np.asarray(run.params, dtype=float)


def _need_low_dim(f, allowed: tuple[int, ...], what: str) -> None:
    if f.dim not in allowed or f.box is None or f.kind not in ("expression", "catalogue"):
        dims = " or ".join(f"{d}-D" for d in allowed)
        _checks.fail(
            "f",
            f.name,
            f"{what} needs an analytic {dims} objective (an expression or a catalogue function); "
            f"this one has {f.dim} parameters",
        )


def _tiny(scale: float) -> float:
    """The smallest gap worth showing on a log axis: float64 rounding of the cost's scale."""
    return 1e-16 * max(1.0, abs(scale))


# ---------------------------------------------------------------------------------------------
# Drawing a path on a 1-D curve or a 2-D contour.


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
    ys = _costs(f, xs[:, None])
    ax.plot(xs, ys, color=_INK, lw=1.6, zorder=1)
    ax.set_xlim(*view)
    lo, hi = float(np.nanmin(ys)), float(np.nanmax(ys))
    pad = 0.06 * (hi - lo or 1.0)
    ax.set_ylim(lo - pad, hi + pad)
    if minima:
        _mark_minima(ax, f, view)
    ax.set_xlabel(f.param_names[0])
    ax.set_ylabel(f"cost C({f.param_names[0]})")
    _style(ax)
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
            mfc="#F0E442" if is_global else "white",
            mec=_INK,
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
    arrows: int = _ARROWS,
    by_step: bool = False,
    numbered: int = 0,
    label: str | None = None,
):
    """Dots at ``(w_t, C(w_t))`` joined by arrows; returns the scatter (for a colour bar)."""
    xs_all = _params(run)[:, 0]
    inside = np.isfinite(xs_all) & (xs_all >= view[0]) & (xs_all <= view[1])
    n_in = int(np.argmin(inside)) if not inside.all() else len(xs_all)
    xs = xs_all[:n_in]
    ys = _costs(f, xs[:, None]) if n_in else np.array([])
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
            color=_INK,
            zorder=4,
        )
    if n_in and n_in < len(xs_all):
        nxt = float(xs_all[n_in])
        if math.isfinite(nxt):
            target = (nxt, float(_costs(f, [[nxt]])[0]))
        else:
            target = (xs[-1] + (xs[-1] - xs[-2] if n_in > 1 else 1.0), ys[-1] + abs(ys[-1]) + 1)
        if not math.isfinite(target[1]):
            target = (target[0], ys[-1] + abs(ys[-1]) + 1)
        _leave_note(ax, (xs[-1], ys[-1]), target, f"off the chart at step {n_in}", color)
    return sc


def _draw_contour(ax: Axes, f, view, *, resolution: int = 180) -> None:
    (x0, x1), (y0, y1) = view
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    Z = _costs(f, np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(gx.shape)
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
    P = _params(run)
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
        *xy, marker="o", ms=9, mfc=_INK, mec="white", mew=1.5, ls="none", zorder=6, label="start"
    )


def _outcome(run) -> str:
    """What became of a run, in a few words with its numbers."""
    if run.diverged_at is not None:
        return f"diverged at step {run.diverged_at}"
    return f"cost {_g(run.final_loss)} after {len(run.losses) - 1} steps"


# ---------------------------------------------------------------------------------------------
# 1. The path of gradient descent.


def path(
    run_or_f,
    lr: float | None = None,
    steps: int = 20,
    start=None,
    *,
    f=None,
    numbered: int = 4,
    ax: Axes | None = None,
) -> Figure:
    """The path of gradient descent: dots on the cost curve moving to the minimum.

    On a 1-D objective, the dots ``(w_t, C(w_t))`` sit on the cost curve, coloured by step,
    joined by arrows, the first ``numbered`` of them numbered; on a 2-D objective, the path
    is drawn on a contour plot.

    Args:
        run_or_f: a :class:`~lrlab.descent.Run` (which kept its path) or an objective to
            run on.
        lr: the learning rate when ``run_or_f`` is an objective; default ``0.3/L`` for
            sharpness ``L``.
        steps: steps when ``run_or_f`` is an objective.
        start: the starting point when ``run_or_f`` is an objective.
        f: the run's objective, when it cannot be rebuilt from the run's name.
        numbered: how many of the first points carry their step number.
        ax: draw into this Axes instead of a new figure.

    Returns:
        The figure.

    Raises:
        ValueError: an objective that is not analytic 1-D or 2-D (e.g. 5 parameters), or a
            run that kept no path.

    Example:
        >>> fig = path("parabola", lr=0.15)
        >>> fig.axes[0].get_title().startswith("Gradient descent")
        True
    """
    run, f = _run_and_objective(run_or_f, lr, steps, start, f, default=0.3, who="path")
    _need_low_dim(f, (1, 2), "path()")
    numbered = _checks.int_in_range("numbered", numbered, 0, 1000)
    ax = _axes(ax, (7.0, 4.6))[1]
    regime = _regime(run)
    if f.dim == 1:
        view = _view_1d(f, [_params(run)])
        _draw_curve(ax, f, view)
        sc = _draw_path_1d(
            ax,
            f,
            run,
            color=_GREY,
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
        view = _view_2d(f, [_params(run)])
        _draw_contour(ax, f, view)
        _draw_path_2d(
            ax, run, color=REGIME_COLORS[regime], label=f"{_alpha(run.lr, f.sharpness_at_minimum)}"
        )
        _mark_minima(ax, f, *view)
        _mark_start(ax, tuple(_params(run)[0]))
    ax.set_title(
        f"Gradient descent on {_name(f)}\n"
        f"{_alpha(run.lr, f.sharpness_at_minimum)}: {_outcome(run)} ({REGIME_LABELS[regime]})",
        fontsize=11,
    )
    ax.legend(loc="upper center" if f.dim == 1 else "best", fontsize=8.5, framealpha=0.9)
    return ax.get_figure(root=True)


def _run_and_objective(run_or_f, lr, steps, start, f, *, default: float, who: str):
    if isinstance(run_or_f, _run_type()):
        if lr is not None or start is not None:
            _checks.fail("lr", lr, f"{who}() takes lr and start only with an objective, not a run")
        run = run_or_f
        if run.params is not None and run.params.shape[1] > 2:
            _checks.fail(
                "run",
                run.objective,
                f"{who}() needs a 1-D or 2-D objective; this run has "
                f"{run.params.shape[1]} parameters",
            )
        _params(run)
        return run, _of_run(run, f)
    from .descent import descend

    if f is not None:
        _checks.fail("f", f, "f= goes with a run; pass the objective as the first argument")
    obj = _objective(run_or_f)
    _need_low_dim(obj, (1, 2), f"{who}()")
    if lr is None:
        lr = default / _scale(obj, False)
    return descend(obj, lr=lr, steps=steps, start=start, keep_params=True), obj


# ---------------------------------------------------------------------------------------------
# 2 and 5. Panels: the same curve, one learning rate each.


def _panels(
    f, runs, titles: Sequence[str], suptitle: str, fig: Figure | None, colors: Sequence[str]
) -> Figure:
    n = len(runs)
    if fig is None:
        fig = _new((4.1 * n + 0.4, 4.3))
    elif not isinstance(fig, Figure):
        _checks.fail("fig", type(fig).__name__, "expected a matplotlib Figure or None", TypeError)
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    paths = [_params(r) for r in runs]
    if f.dim == 1:
        # Panels share the box: a run that leaves it is marked, not allowed to shrink the rest.
        view = _view_1d(f, paths, reach=0.08)
        for ax, run, title, color in zip(axes, runs, titles, colors):
            _draw_curve(ax, f, view)
            _draw_path_1d(ax, f, run, color=color, view=view, numbered=1)
            _mark_start(ax, (paths[0][0, 0], _costs(f, paths[0][:1])[0]))
            ax.set_title(title, fontsize=10, color=color, fontweight="bold")
        for ax in axes[1:]:
            ax.set_ylabel("")
    else:
        view = _view_2d(f, paths)
        for ax, run, title, color in zip(axes, runs, titles, colors):
            _draw_contour(ax, f, view)
            _draw_path_2d(ax, run, color=color, arrows=_ARROWS)
            _mark_minima(ax, f, *view)
            _mark_start(ax, tuple(paths[0][0]))
            ax.set_title(title, fontsize=10, color=color, fontweight="bold")
    axes[0].legend(loc="upper center", fontsize=8, framealpha=0.9)
    fig.suptitle(suptitle, fontsize=12)
    return fig


def three_panels(
    f="parabola",
    lrs: Sequence[float] | None = None,
    steps: int = 12,
    start=None,
    *,
    fig: Figure | None = None,
) -> Figure:
    """Too low, just right and too high, side by side on one curve, steps drawn as arrows.

    The default learning rates come from the sharpness ``L`` (the curvature at the minimum):
    ``0.1/L`` crawls, ``0.8/L`` arrives in a few ever-shorter steps, and ``2.1/L`` overshoots
    by more every step: on a quadratic every step multiplies the distance to the minimum by
    ``1 - alpha*L``, which is ``-1.1`` there, so the path zig-zags up the walls.

    Args:
        f: a 1-D or 2-D analytic objective (name, expression or Objective).
        lrs: three learning rates, low to high; default ``(0.1/L, 0.8/L, 2.1/L)``.
        steps: steps per run.
        start: the common starting point.
        fig: draw into this (empty) figure.

    Returns:
        The figure, one Axes per learning rate.

    Example:
        >>> fig = three_panels("parabola", lrs=(0.05, 0.4, 1.1))
        >>> [ax.get_title().split(":")[0] for ax in fig.axes]
        ['too low', 'just right', 'too high']
    """
    from .descent import sweep

    f = _objective(f)
    _need_low_dim(f, (1, 2), "three_panels()")
    L = _scale(f, lrs is not None)
    if lrs is None:
        lrs = (0.1 / L, 0.8 / L, 2.1 / L)
    _, lrs = _lr_list(lrs)
    if len(lrs) != 3 or not lrs[0] < lrs[1] < lrs[2]:
        _checks.fail("lrs", lrs, "expected three increasing learning rates: low, right, high")
    sw = sweep(f, lrs=lrs, steps=steps, start=start, keep_params=True)
    names = ("too low", "just right", "too high")
    intended = ("too_low", "good", "diverging")
    titles, colors = [], []
    for name, want, run in zip(names, intended, sw.runs):
        regime = _regime(run)
        colors.append(REGIME_COLORS[regime if regime != "good" or want == "good" else want])
        titles.append(f"{name}: {_alpha(run.lr, f.sharpness_at_minimum)}\n{_outcome(run)}")
    return _panels(
        f,
        sw.runs,
        titles,
        f"The learning rate on {_name(f)}: too low, just right, too high",
        fig,
        colors,
    )


def small_hill(
    f="hill",
    lrs: Sequence[float] = (0.02, 0.1),
    steps: int = 40,
    start=None,
    *,
    fig: Figure | None = None,
) -> Figure:
    """The small hill: a small alpha settles in the nearer local minimum, a larger one hops
    the hill to the global minimum.

    Each panel names the minimum its run ended in (the nearest known one).

    Args:
        f: a 1-D or 2-D analytic objective with a local minimum near the start.
        lrs: a small and a larger learning rate (any number of them draws that many panels).
        steps: steps per run.
        start: the common starting point.
        fig: draw into this (empty) figure.

    Returns:
        The figure, one Axes per learning rate.

    Example:
        >>> fig = small_hill("hill", lrs=(0.02, 0.1))
        >>> "local" in fig.axes[0].get_title(), "global" in fig.axes[1].get_title()
        (True, True)
    """
    from .descent import sweep

    f = _objective(f)
    _need_low_dim(f, (1, 2), "small_hill()")
    _, lrs = _lr_list(lrs)
    sw = sweep(f, lrs=lrs, steps=steps, start=start, keep_params=True)
    titles, colors = [], []
    for run in sw.runs:
        regime = _regime(run)
        colors.append(REGIME_COLORS[regime])
        where = _which_minimum(f, run)
        titles.append(f"{_alpha(run.lr, None)}: {where}\n{_outcome(run)}")
    return _panels(
        f, sw.runs, titles, f"The small hill on {_name(f)}: a larger step hops over it", fig, colors
    )


def _which_minimum(f, run) -> str:
    if run.diverged_at is not None:
        return "diverged"
    end = _params(run)[-1]
    if not f.minima:
        return "settled"
    dist = [float(np.linalg.norm(end - np.asarray(m.point))) for m in f.minima]
    k = int(np.argmin(dist))
    scale = max(float(np.ptp(np.asarray(f.box, dtype=float), axis=1).max()), 1e-12)
    if dist[k] > 0.05 * scale:
        return "between minima"
    m = f.minima[k]
    return f"{'stuck in the local' if m.kind == 'local' else 'reached the global'} minimum"


# ---------------------------------------------------------------------------------------------
# 3. Cost against iteration.


def _log_gap(runs, ref: float | None) -> tuple[bool, float]:
    """Whether costs can go on a log axis (as cost - ref), and the ref to subtract."""
    if ref is not None:
        return True, ref
    values = np.concatenate([np.asarray(r.losses, float) for r in runs])
    values = values[np.isfinite(values)]
    return bool(values.size and values.min() > 0), 0.0


def _draw_cost(ax: Axes, run, *, log: bool, ref: float, color: str, ls: str, label: str) -> None:
    y = np.asarray(run.losses, dtype=float) - ref
    if log:
        y = np.maximum(y, _tiny(ref))
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
            float(np.nanmin(np.maximum(c[np.isfinite(c)], _tiny(ref))))
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


def cost_curves(
    f,
    lrs: Mapping[str, float] | Sequence[float] | None = None,
    steps: int = 100,
    start=None,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Cost against iteration for several learning rates on one axis.

    Each curve is coloured by the regime its run was diagnosed with; divergence is marked
    with a cross where the run stopped and the axis is capped so that it does not flatten the
    other curves. The cost is drawn as ``C - C*`` on a log axis when the minimum ``C*`` is
    known (or as ``C`` when every cost is positive), so that a plateau and a steady descent
    are told apart at a glance.

    Args:
        f: any objective (name, expression, dataset problem, Objective).
        lrs: learning rates, or a ``{label: lr}`` mapping to name them; default
            ``{"very high": 2.5/L, "high": 1.9/L, "good": 1/L, "low": 0.01/L}``.
        steps: steps per run.
        start: the common starting point.
        ax: draw into this Axes.

    Returns:
        The figure.

    Example:
        >>> fig = cost_curves("parabola")
        >>> len(fig.axes[0].get_lines()) >= 4
        True
    """
    from .descent import sweep

    f = _objective(f)
    L = _scale(f, lrs is not None)
    if lrs is None:
        lrs = {"very high": 2.5 / L, "high": 1.9 / L, "good": 1.0 / L, "low": 0.01 / L}
    labels, values = _lr_list(lrs)
    sw = sweep(f, lrs=values, steps=steps, start=start, keep_params=False)
    log, ref = _log_gap(sw.runs, f.minimum)
    fig, ax = _axes(ax, (7.4, 4.6))
    used: dict[str, int] = {}
    for i, run in enumerate(sw.runs):
        regime = _regime(run)
        k = used.get(regime, 0)
        used[regime] = k + 1
        name = f"{labels[i]}: " if labels else ""
        label = f"{name}{_alpha(run.lr, L)} → {REGIME_LABELS[regime]}"
        _draw_cost(
            ax,
            run,
            log=log,
            ref=ref,
            color=REGIME_COLORS[regime],
            ls=_STYLES[k % len(_STYLES)],
            label=label,
        )
    _cost_limits(ax, sw.runs, log=log, ref=ref)
    ax.set_xlabel("iteration n")
    ax.set_ylabel("cost − minimum  C(wₙ) − C*" if f.minimum is not None else "cost C(wₙ)")
    ax.set_title(f"Cost against iteration on {_name(f)}", fontsize=11)
    ax.legend(loc="best", fontsize=8.5, framealpha=0.9)
    _style(ax)
    return fig


# ---------------------------------------------------------------------------------------------
# 4. Step length and gradient norm.


def step_lengths(
    run_or_f,
    lr: float | None = None,
    steps: int = 60,
    start=None,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Step length ``|w[n+1] - w[n]|`` and gradient norm against iteration, at constant alpha.

    The two curves run parallel on the log axis, one ``log(alpha)`` apart: the step is
    ``alpha * |grad|``, so it shrinks exactly as the gradient does near the minimum, and
    gradient descent approaches the minimum ever more finely although alpha never changes.
    Under a schedule, alpha along the run is drawn on a second axis.

    Args:
        run_or_f: a :class:`~lrlab.descent.Run` (any objective) or an objective to run on.
        lr: the learning rate when ``run_or_f`` is an objective; default ``0.3/L``.
        steps: steps when ``run_or_f`` is an objective.
        start: the starting point when ``run_or_f`` is an objective.
        ax: draw into this Axes.

    Returns:
        The figure.

    Example:
        >>> fig = step_lengths("parabola", lr=0.2)
        >>> [line.get_label() for line in fig.axes[0].get_lines()][:2]
        ['gradient norm |∇C(wₙ)|', 'step length |wₙ₊₁ − wₙ|']
    """
    if isinstance(run_or_f, _run_type()):
        if lr is not None or start is not None:
            _checks.fail("lr", lr, "step_lengths() takes lr and start only with an objective")
        run, name, L = run_or_f, run_or_f.objective, None
    else:
        from .descent import descend

        f = _objective(run_or_f)
        L = _scale(f, lr is not None)
        lr = 0.3 / L if lr is None else lr
        run = descend(f, lr=lr, steps=steps, start=start)
        name = _name(f)
    fig, ax = _axes(ax, (7.4, 4.6))
    g = np.asarray(run.grad_norms, float)
    s = np.asarray(run.step_sizes, float)
    n = len(s)
    if n == 0:
        _checks.fail("run", run.objective, "it took no step (it diverged at once); nothing to draw")
    floor = 1e-300
    ax.plot(
        np.arange(n + 1), np.maximum(g, floor), color=_INK, lw=2.0, label="gradient norm |∇C(wₙ)|"
    )
    ax.plot(
        np.arange(n),
        np.maximum(s, floor),
        color=_SKY,
        lw=2.0,
        ls="--",
        label="step length |wₙ₊₁ − wₙ|",
    )
    ax.set_yscale("log")
    ok = np.isfinite(g[:n]) & np.isfinite(s) & (g[:n] > 0) & (s > 0)
    lrs = np.asarray(run.lrs, float)
    constant = lrs.size and np.allclose(lrs, lrs[0], rtol=1e-12)
    if constant and ok.any():
        # The double arrow between the curves is alpha itself, read on the log axis.
        t = int(np.flatnonzero(ok)[min(ok.sum() - 1, max(1, n // 6))])
        ax.annotate(
            "",
            xy=(t, s[t]),
            xytext=(t, g[t]),
            arrowprops={"arrowstyle": "<->", "color": _GREY, "lw": 1.2},
        )
        ax.annotate(
            f"× α = {_g(run.lr)}\n(step = α · gradient)",
            xy=(t, math.sqrt(s[t] * g[t])),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            color=_INK,
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
        f"Steps shrink with the gradient at constant α = {_g(run.lr)}"
        if constant
        else f"Step length and gradient norm under a schedule (base α = {_g(run.lr)})"
    )
    ax.set_title(f"{title}\non {name}", fontsize=11)
    ax.legend(loc="upper right" if constant else "lower left", fontsize=8.5, framealpha=0.9)
    _style(ax)
    return fig


# ---------------------------------------------------------------------------------------------
# 6. Paths on a contour plot.


def contour_paths(
    f="bowl",
    lrs: Sequence[float] | Mapping[str, float] | None = None,
    steps: int = 50,
    start=None,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Paths of gradient descent for several learning rates on a contour plot of a 2-D cost.

    Contour levels are spaced evenly in ``log(C - C*)`` so that flat valleys show as well as
    steep walls; known minima are stars (filled: global), the start is a black dot, and each
    path is coloured by its regime.

    Args:
        f: a 2-D analytic objective (catalogue name, expression in two names, Objective).
        lrs: learning rates or ``{label: lr}``; default ``(0.1/L, 1/L, 1.9/L)``.
        steps: steps per run.
        start: the common starting point.
        ax: draw into this Axes.

    Returns:
        The figure.

    Example:
        >>> fig = contour_paths("bowl:kappa=10", lrs=(0.01, 0.1, 0.19))
        >>> sum(1 for line in fig.axes[0].get_lines() if line.get_label().startswith("α"))
        3
    """
    from .descent import sweep

    f = _objective(f)
    _need_low_dim(f, (2,), "contour_paths()")
    L = _scale(f, lrs is not None)
    if lrs is None:
        lrs = (0.1 / L, 1.0 / L, 1.9 / L)
    labels, values = _lr_list(lrs)
    sw = sweep(f, lrs=values, steps=steps, start=start, keep_params=True)
    view = _view_2d(f, [_params(r) for r in sw.runs])
    ratio = (view[1][1] - view[1][0]) / (view[0][1] - view[0][0])
    fig, ax = _axes(ax, (7.0, min(max(0.8 * 7.0 * ratio + 1.3, 3.8), 7.5)))
    _draw_contour(ax, f, view)
    used: dict[str, int] = {}
    for i, run in enumerate(sw.runs):
        regime = _regime(run)
        k = used.get(regime, 0)
        used[regime] = k + 1
        name = f" ({labels[i]})" if labels else ""
        _draw_path_2d(
            ax,
            run,
            color=REGIME_COLORS[regime],
            ls=_STYLES[k % len(_STYLES)],
            marker=_MARKERS[k % len(_MARKERS)],
            label=f"{_alpha(run.lr, f.sharpness_at_minimum)}{name} → "
            f"{REGIME_LABELS[regime]}"
            + (f", diverged at step {run.diverged_at}" if run.diverged_at is not None else ""),
        )
    _mark_minima(ax, f, *view)
    _mark_start(ax, tuple(_params(sw.runs[0])[0]))
    ax.set_title(
        f"Gradient descent on {_name(f)}, {steps} steps\ncontours of log(C − C*)", fontsize=11
    )
    ax.legend(loc="best", fontsize=8.5, framealpha=0.92)
    return fig


# ---------------------------------------------------------------------------------------------
# 7. The sweep landscape.


def _sweep_facts(sweep, f) -> tuple[float | None, float | None]:
    """(sharpness, minimum) for a sweep: from ``f`` when given, else from its objective's name
    when that is a catalogue function (rebuilding a dataset problem costs seconds and knows no
    sharpness)."""
    if f is not None:
        obj = _objective(f)
        return obj.sharpness_at_minimum, obj.minimum
    from . import analytic

    if sweep.objective.partition(":")[0] in analytic.names():
        try:
            obj = _objective(sweep.objective)
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
                color=_INK,
                ls=ls,
                lw=1.1,
                alpha=0.8,
                label=f"{text} = {_g(x)}" + (" (a quadratic diverges above)" if k == 2 else ""),
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

    With the sharpness ``L`` known (the argument, or the catalogue facts of the sweep's
    objective) the lines ``alpha = 1/L`` and ``alpha = 2/L`` are drawn: on a quadratic, 1/L
    is the fastest rate and every rate above 2/L diverges. Diverged runs sit in a band at the
    top; the best learning rate is ringed.

    Args:
        sweep: a :class:`~lrlab.descent.Sweep`.
        sharpness: the sharpness ``L`` for the 1/L and 2/L marks (default: known facts).
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
    if not isinstance(sweep, _sweep_type()):
        _checks.fail(
            "sweep", type(sweep).__name__, "expected an lrlab Sweep (from lrlab.sweep)", TypeError
        )
    L, minimum = _sweep_facts(sweep, f)
    if sharpness is not None:
        L = _checks.positive_float("sharpness", sharpness)
    fig, ax = _axes(ax, (8.6, 4.6))
    lrs = np.asarray([r.lr for r in sweep.runs], float)
    finals = np.asarray([r.final_loss for r in sweep.runs], float)
    regimes = [_regime(r) for r in sweep.runs]
    log, ref = _log_gap(sweep.runs, minimum)
    y = finals - ref
    ok = np.isfinite(y)
    if log:
        y = np.where(ok, np.maximum(y, _tiny(ref)), y)
        ax.set_yscale("log")
    order = np.argsort(lrs)
    ax.plot(lrs[order][ok[order]], y[order][ok[order]], color=_GREY, lw=1.0, zorder=1)
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
        yb = max(best.final_loss - ref, _tiny(ref)) if log else best.final_loss - ref
        ax.plot(
            best.lr,
            yb,
            marker="o",
            ms=16,
            mfc="none",
            mec=_INK,
            mew=1.6,
            ls="none",
            zorder=4,
            label=f"best α = {_g(best.lr)}",
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
    _style(ax)
    return fig


# ---------------------------------------------------------------------------------------------
# 8. The price of a low learning rate.


def iterations_to(run, target: float) -> int | None:
    """The first iteration at which ``run``'s cost is at or below ``target``; None if never.

    Example:
        >>> import lrlab
        >>> iterations_to(lrlab.descend("parabola", lr=0.5, steps=5), 1e-12)
        1
    """
    losses = np.asarray(run.losses, float)
    hit = np.flatnonzero(losses <= target)
    return int(hit[0]) if hit.size else None


def compute_price(
    f="parabola",
    tol: float | None = None,
    lrs: Sequence[float] | None = None,
    steps: int = 1000,
    start=None,
    *,
    ax: Axes | None = None,
) -> Figure:
    """The price of a low learning rate: iterations needed to reach a tolerance, against alpha.

    One batched sweep runs every learning rate. Rates that never get within ``tol`` of the
    minimum inside the budget are drawn in a band at the top (``never within budget``),
    diverged ones likewise with a cross; the cheapest rate is ringed and ``2/L`` marked.

    Args:
        f: any objective; the minimum is the known one, else the best cost of the sweep.
        tol: the gap to the minimum to reach, ``C(w) - C* <= tol``; default ``1e-6`` times the
            starting gap.
        lrs: learning rates; default 64 from ``1e-3/L`` to ``3/L``.
        steps: the budget of iterations per rate.
        start: the common starting point.
        ax: draw into this Axes.

    Returns:
        The figure.

    Example:
        >>> fig = compute_price("parabola", steps=300)
        >>> fig.axes[0].get_yscale()
        'log'
    """
    from .descent import lr_grid, sweep

    f = _objective(f)
    L = _scale(f, lrs is not None)
    if lrs is None:
        # 1/L itself is on the grid: on a quadratic it is the cheapest rate of all.
        lrs = np.unique(np.append(lr_grid(1e-3 / L, 3.0 / L, 64), 1.0 / L))
    _, values = _lr_list(lrs)
    steps = _checks.int_in_range("steps", steps, 1, 1_000_000)
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
    if tol is None:
        tol = 1e-6 * (c0 - ref)
    tol = _checks.positive_float("tol", tol)
    fig, ax = _axes(ax, (8.8, 4.6))
    lr_arr = np.asarray([r.lr for r in sw.runs])
    needed = [iterations_to(r, ref + tol) for r in sw.runs]
    band = steps * 3.0
    reached = np.array([n is not None for n in needed])
    n_arr = np.array([max(n, 0.8) if n is not None else np.nan for n in needed], float)
    ax.plot(lr_arr[reached], n_arr[reached], color=_GREY, lw=1.0, zorder=1)
    regimes = [_regime(r) for r in sw.runs]
    for regime, color in REGIME_COLORS.items():
        pick = np.array([g == regime for g in regimes])
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
    ax.axhline(steps, color=_GREY, ls=":", lw=1.0)
    ax.text(
        lr_arr.min(),
        steps * 1.12,
        f"budget: {steps} iterations",
        fontsize=8.5,
        color=_GREY,
        va="bottom",
    )
    ax.text(
        lr_arr.min(),
        band * 1.25,
        "never within budget / diverged",
        fontsize=8.5,
        color=_INK,
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
            mec=_INK,
            mew=1.6,
            ls="none",
            zorder=4,
            label=f"fastest: α = {_g(lr_arr[k])}, {_count(needed[k], 'iteration')}",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(0.6, band * 2.4)
    _mark_lr_lines(
        ax,
        f.sharpness_at_minimum or (L if lrs is None else None),
        lr_arr.min() / 1.5,
        lr_arr.max() * 1.5,
    )
    ax.set_xlim(lr_arr.min() / 1.3, lr_arr.max() * 1.3)
    ax.set_xlabel("learning rate α (log scale)")
    ax.set_ylabel(f"iterations until C − C* ≤ {_g(tol)}")
    ax.set_title(f"The price of a low learning rate on {_name(f)}", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, frameon=False)
    _style(ax)
    return fig


# ---------------------------------------------------------------------------------------------
# 9. The LR range test.


_SUGGESTION_STYLE = {"valley": ("o", _SKY), "steepest": ("v", _INK), "min_div_10": ("s", _GREY)}


def range_test_curve(rt, *, ax: Axes | None = None) -> Figure:
    """An LR range test: raw loss faint, smoothed loss bold, against log lr, with its
    suggestions marked and the recommended one ringed.

    :meth:`lrlab.RangeTest.plot` draws with this function.

    Args:
        rt: a :class:`~lrlab.range_test.RangeTest`.
        ax: draw into this Axes.

    Returns:
        The figure.

    Example:
        >>> import numpy as np
        >>> from lrlab.range_test import RangeTest
        >>> lrs = np.geomspace(1e-5, 10, 100)
        >>> rt = RangeTest.from_curve(lrs, 2 - 1.5 / (1 + np.exp(-(np.log10(lrs) + 2) * 3)))
        >>> range_test_curve(rt).axes[0].get_xscale()
        'log'
    """
    from .range_test import RangeTest

    if not isinstance(rt, RangeTest):
        _checks.fail(
            "rt", type(rt).__name__, "expected a RangeTest (from lrlab.range_test)", TypeError
        )
    fig, ax = _axes(ax, (7.4, 4.6))
    lrs, raw, smooth = (np.asarray(a, float) for a in (rt.lrs, rt.losses, rt.smoothed))
    ax.plot(lrs, raw, color=_GREY, alpha=0.45, lw=1.0, label="loss (raw)")
    ax.plot(
        lrs, smooth, color=_INK, lw=2.2, label=f"loss (smoothed, {rt.settings.get('smoothing')})"
    )
    ax.set_xscale("log")
    ok = np.isfinite(smooth) & np.isfinite(raw)
    log_lr, curve = np.log(lrs[ok]), smooth[ok]

    def on_curve(lr: float) -> float:
        return float(np.interp(math.log(lr), log_lr, curve)) if curve.size else math.nan

    for name, lr in rt.suggestions.items():
        if lr is None:
            continue
        marker, color = _SUGGESTION_STYLE.get(name, ("D", _SKY))
        ax.plot(
            [lr],
            [on_curve(lr)],
            marker=marker,
            color=color,
            ms=8,
            ls="none",
            zorder=3,
            mec="white",
            label=f"{name}: {_g(lr)}",
        )
    if rt.recommended is not None:
        ax.axvline(rt.recommended, color=REGIME_COLORS["good"], ls="--", lw=1.2)
        ax.plot(
            [rt.recommended],
            [on_curve(rt.recommended)],
            marker="o",
            ms=18,
            mfc="none",
            mec=REGIME_COLORS["good"],
            mew=2.2,
            ls="none",
            zorder=4,
            label=f"recommended ({rt.method}): {_g(rt.recommended)}",
        )
    if curve.size:
        # The curve up to its minimum sets the range; the blow-up after it is clipped.
        top = float(np.max(curve[: int(np.argmin(curve)) + 1]))
        bottom = float(min(np.min(curve), np.min(raw[ok])))
        pad = 0.08 * (top - bottom)
        if pad > 0:
            ax.set_ylim(bottom - pad, top + 3 * pad)
    title = "LR range test"
    if rt.recommended is not None:
        title += f": recommended α = {_g(rt.recommended)} ({rt.method})"
    if rt.stopped_early:
        title += "\nstopped when the loss diverged"
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.legend(loc="best", fontsize=8.5, framealpha=0.92)
    _style(ax)
    return fig


# ---------------------------------------------------------------------------------------------
# 10. Sharpness against 2/alpha.


def sharpness_track(run, *, ax: Axes | None = None) -> Figure:
    """Sharpness (the top Hessian eigenvalue) along a run, against the line ``2/alpha``.

    On a quadratic, gradient descent is stable exactly while the sharpness stays below
    ``2/alpha``. Full-batch training of a network often drives the sharpness up to that line
    and holds it there (the *edge of stability*) while the cost, on the twin axis, keeps
    falling over longer windows even though it rises on single steps.

    Args:
        run: a :class:`~lrlab.descent.Run` made with ``descend(..., track_sharpness=k)``.
        ax: draw into this Axes.

    Returns:
        The figure (with a twin Axes for the cost).

    Raises:
        ValueError: the run tracked no sharpness.

    Example:
        >>> import lrlab
        >>> run = lrlab.descend("bowl:kappa=10", lr=0.15, steps=20, track_sharpness=5)
        >>> len(sharpness_track(run).axes)
        2
    """
    _check_run(run)
    if run.sharpness is None or len(run.sharpness) == 0:
        raise ValueError(
            "run: it tracked no sharpness; make it with descend(..., track_sharpness=10)"
        )
    fig, ax = _axes(ax, (7.6, 4.6))
    track = np.asarray(run.sharpness, float)
    lrs = np.asarray(run.lrs, float)
    n = len(run.losses) - 1
    if lrs.size and not np.allclose(lrs, lrs[0], rtol=1e-12):
        ax.step(
            np.arange(lrs.size),
            2 / lrs,
            where="post",
            color=REGIME_COLORS["diverging"],
            ls="--",
            lw=1.5,
            label="2/α (schedule)",
        )
    else:
        ax.axhline(
            2 / run.lr,
            color=REGIME_COLORS["diverging"],
            ls="--",
            lw=1.5,
            label=f"2/α = {_g(2 / run.lr)}: edge of stability",
        )
    ax.plot(
        track[:, 0],
        track[:, 1],
        marker="o",
        ms=4,
        color=_INK,
        lw=2.0,
        label="sharpness (top Hessian eigenvalue)",
    )
    ax.set_xlabel("iteration n")
    ax.set_ylabel("sharpness")
    top = max(float(np.nanmax(track[:, 1])), 2 / run.lr)
    ax.set_ylim(0, top * 1.15)
    ax.set_xlim(0, max(n, 1))
    twin = ax.twinx()
    losses = np.asarray(run.losses, float)
    twin.plot(np.arange(len(losses)), losses, color=_SKY, lw=1.0, alpha=0.9, label="cost")
    if np.isfinite(losses).all() and losses.min() > 0:
        twin.set_yscale("log")
    twin.set_ylabel("cost", color="#2A7FB0")
    twin.tick_params(axis="y", colors="#2A7FB0")
    twin.spines["top"].set_visible(False)
    ups = int(np.sum(np.diff(losses[np.isfinite(losses)]) > 0))
    if run.diverged_at is not None:
        ax.axvline(
            run.diverged_at,
            color=REGIME_COLORS["diverging"],
            lw=1.2,
            label=f"diverged at step {run.diverged_at}",
        )
    handles = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(
        handles[0] + more[0],
        handles[1] + [f"cost (rose on {ups} of {n} steps)"],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncols=3,
        fontsize=8.5,
        frameon=False,
    )
    ax.grid(True, color="#DDDDDD", lw=0.6)
    ax.set_axisbelow(True)
    ax.spines["top"].set_visible(False)
    ax.set_title(f"Sharpness against 2/α on {run.objective}, α = {_g(run.lr)}", fontsize=11)
    return fig


# ---------------------------------------------------------------------------------------------
# One run at a glance (the command line's --plot).


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
    _check_run(run)
    fig = _new((13.0, 4.6))
    left, right = fig.subplots(1, 2, width_ratios=(1.1, 1.0))
    small = run.params is not None and run.params.shape[1] <= 2
    obj = _of_run(run, f) if small else None
    if obj is not None and obj.box is not None and obj.kind in ("expression", "catalogue"):
        path(run, f=obj, ax=left)
    else:
        step_lengths(run, ax=left)
    ref = obj.minimum if obj is not None else run.floor
    log, ref0 = _log_gap([run], ref)
    regime = _regime(run)
    _draw_cost(
        right,
        run,
        log=log,
        ref=ref0,
        color=REGIME_COLORS[regime],
        ls="-",
        label=f"α = {_g(run.lr)} → {REGIME_LABELS[regime]}",
    )
    _cost_limits(right, [run], log=log, ref=ref0)
    right.set_xlabel("iteration n")
    right.set_ylabel("cost − minimum" if ref is not None else "cost")
    right.set_title(f"Cost: {_outcome(run)}", fontsize=11)
    right.legend(loc="best", fontsize=8.5)
    _style(right)
    return fig
