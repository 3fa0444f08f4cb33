"""Sharpness along a run against ``2/alpha``: the edge of stability.

Example:
    >>> from lrlab import scenes
    >>> run = scenes.sharpness_track("bowl:kappa=10", lr=0.15, steps=20, every=5)
    >>> len(sharpness_track(run).axes)
    2
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._canvas import axes_for, check_run
from .style import INK, REGIME_COLORS, SKY, g

__all__ = ["sharpness_track"]


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
    check_run(run)
    if run.sharpness is None or len(run.sharpness) == 0:
        raise ValueError(
            "run: it tracked no sharpness; make it with descend(..., track_sharpness=10)"
        )
    fig, ax = axes_for(ax, (7.6, 4.6))
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
            label=f"2/α = {g(2 / run.lr)}: edge of stability",
        )
    ax.plot(
        track[:, 0],
        track[:, 1],
        marker="o",
        ms=4,
        color=INK,
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
    twin.plot(np.arange(len(losses)), losses, color=SKY, lw=1.0, alpha=0.9, label="cost")
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
    ax.set_title(f"Sharpness against 2/α on {run.objective}, α = {g(run.lr)}", fontsize=11)
    return fig
