"""The LR range test's curve: loss against an exponentially growing learning rate.

Takes the result of :func:`lrlab.range_test` (or its data) and runs nothing.

Example:
    >>> import numpy as np
    >>> from lrlab import RangeTest
    >>> lrs = np.geomspace(1e-5, 10, 100)
    >>> rt = RangeTest.from_curve(lrs, 2 - 1.5 / (1 + np.exp(-(np.log10(lrs) + 2) * 3)))
    >>> range_test_curve(rt).axes[0].get_xlabel()
    'learning rate (log scale)'
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import _checks
from ._canvas import axes_for, tidy
from .style import GREY, INK, REGIME_COLORS, SKY, g

__all__ = ["range_test_curve"]

#: Marker and colour of each suggestion the range test makes; any other name gets a diamond.
_SUGGESTION_STYLE = {
    "valley": ("o", SKY),
    "steepest": ("v", INK),
    "min_div_10": ("s", GREY),
    "min_div_3": ("D", INK),
}


def range_test_curve(
    rt=None,
    *,
    lrs=None,
    losses=None,
    smoothed=None,
    suggestions: dict[str, float | None] | None = None,
    recommended: float | None = None,
    method: str = "none",
    stopped_early: bool = False,
    smoothing: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """An LR range test: raw loss faint, smoothed loss bold, against log lr, with its
    suggestions marked and the recommended one ringed.

    :meth:`lrlab.RangeTest.plot` draws with this function. Give the result, or its data by
    keyword (any object with the fields of :class:`~lrlab.range_test.RangeTest` will do).

    Args:
        rt: a :class:`~lrlab.range_test.RangeTest`, or None to draw the keyword data.
        lrs, losses: the learning rate and raw loss of each iteration.
        smoothed: the smoothed loss (default: the raw loss).
        suggestions: ``{name: lr or None}`` to mark on the curve.
        recommended, method: the recommended rate and the rule that chose it.
        stopped_early: whether the test stopped when the loss diverged.
        smoothing: the smoothing factor, for the legend.
        ax: draw into this Axes.

    Returns:
        The figure.

    Example:
        >>> import numpy as np
        >>> lrs = np.geomspace(1e-5, 10, 100)
        >>> losses = 2 - 1.5 / (1 + np.exp(-(np.log10(lrs) + 2) * 3))
        >>> fig = range_test_curve(lrs=lrs, losses=losses, suggestions={"valley": 1e-3})
        >>> fig.axes[0].get_xscale(), [l.get_label() for l in fig.axes[0].get_lines()][-1]
        ('log', 'valley: 0.001')
    """
    if rt is not None:
        try:
            lrs, losses, smoothed = rt.lrs, rt.losses, rt.smoothed
            suggestions, recommended, method = rt.suggestions, rt.recommended, rt.method
            stopped_early, smoothing = rt.stopped_early, rt.settings.get("smoothing")
        except AttributeError:
            _checks.fail(
                "rt",
                type(rt).__name__,
                "expected a RangeTest (from lrlab.range_test) or its data by keyword",
                TypeError,
            )
    if lrs is None or losses is None:
        _checks.fail("lrs", lrs, "expected the learning rates and losses of a range test")
    lrs, raw = np.asarray(lrs, float), np.asarray(losses, float)
    smooth = raw if smoothed is None else np.asarray(smoothed, float)
    if lrs.ndim != 1 or lrs.shape != raw.shape or lrs.shape != smooth.shape or not lrs.size:
        _checks.fail("losses", raw.shape, f"expected one loss per learning rate ({lrs.shape})")
    suggestions = suggestions or {}
    fig, ax = axes_for(ax, (7.4, 4.6))
    ax.plot(lrs, raw, color=GREY, alpha=0.45, lw=1.0, label="loss (raw)")
    ax.plot(lrs, smooth, color=INK, lw=2.2, label=f"loss (smoothed, {smoothing})")
    ax.set_xscale("log")
    ok = np.isfinite(smooth) & np.isfinite(raw)
    log_lr, curve = np.log(lrs[ok]), smooth[ok]

    def on_curve(lr: float) -> float:
        return float(np.interp(math.log(lr), log_lr, curve)) if curve.size else math.nan

    for name, lr in suggestions.items():
        if lr is None:
            continue
        marker, color = _SUGGESTION_STYLE.get(name, ("D", SKY))
        ax.plot(
            [lr],
            [on_curve(lr)],
            marker=marker,
            color=color,
            ms=8,
            ls="none",
            zorder=3,
            mec="white",
            label=f"{name}: {g(lr)}",
        )
    if recommended is not None:
        ax.axvline(recommended, color=REGIME_COLORS["good"], ls="--", lw=1.2)
        ax.plot(
            [recommended],
            [on_curve(recommended)],
            marker="o",
            ms=18,
            mfc="none",
            mec=REGIME_COLORS["good"],
            mew=2.2,
            ls="none",
            zorder=4,
            label=f"recommended ({method}): {g(recommended)}",
        )
    if curve.size:
        # The curve up to its minimum sets the range; the blow-up after it is clipped.
        top = float(np.max(curve[: int(np.argmin(curve)) + 1]))
        bottom = float(min(np.min(curve), np.min(raw[ok])))
        pad = 0.08 * (top - bottom)
        if pad > 0:
            ax.set_ylim(bottom - pad, top + 3 * pad)
    title = "LR range test"
    if recommended is not None:
        title += f": recommended α = {g(recommended)} ({method})"
    if stopped_early:
        title += "\nstopped when the loss diverged"
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.legend(loc="best", fontsize=8.5, framealpha=0.92)
    tidy(ax)
    return fig
