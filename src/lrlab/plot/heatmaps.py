"""Learning rate against a second hyperparameter (momentum, a beta): the regime and the final
cost of every pair, with the optimizer's stability boundary where it has one.

For heavy-ball momentum on a quadratic of sharpness ``L`` the iteration is stable exactly for
``lr < (2 + 2*beta) / L`` (torch's formulation, dampening 0): momentum widens the stable range
as it grows. The boundary is drawn as one mark per row, so a reader sees which cells lie past
it.

Example:
    >>> import numpy as np
    >>> lrs, betas = np.geomspace(0.1, 10, 5), np.array([0.0, 0.9])
    >>> costs = np.where(lrs[None, :] < 2 + 2 * betas[:, None], 0.0, np.inf)
    >>> regimes = np.where(np.isfinite(costs), "good", "diverging")
    >>> fig = heatmap(lrs, betas, costs, regimes, name="momentum", boundary=2 + 2 * betas)
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['regime', 'final cost']
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .. import _checks
from ..regimes import REGIMES
from ..scenes import Heatmap
from ._canvas import figure_for, tiny
from .style import INK, REGIME_COLORS, REGIME_LABELS, g

__all__ = ["heatmap"]


def _label(value) -> str:
    """A row's value as written on the axis: ``0.9``, or ``0.9, 0.999`` for a pair."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return ", ".join(g(float(v)) for v in value)
    return g(float(value))


def _edges(lrs: np.ndarray) -> np.ndarray:
    """Cell edges on a log axis: geometric midpoints, the outer ones mirrored."""
    if lrs.size == 1:
        return np.array([lrs[0] / 1.5, lrs[0] * 1.5])
    logs = np.log(lrs)
    mid = (logs[1:] + logs[:-1]) / 2
    return np.exp(np.concatenate([[2 * logs[0] - mid[0]], mid, [2 * logs[-1] - mid[-1]]]))


def heatmap(
    lrs,
    values=None,
    costs=None,
    regimes=None,
    *,
    name: str = "momentum",
    boundary=None,
    boundary_label: str = "stable below (2 + 2β)/L",
    minimum: float | None = None,
    title: str | None = None,
    fig: Figure | None = None,
) -> Figure:
    """Learning rate (columns, log scale) against a second hyperparameter (rows): the left
    panel coloured by regime, the right by final cost, diverged cells marked with a cross.

    Args:
        lrs: the learning rates, increasing, or a scene of :func:`lrlab.scenes.heatmap`
            (then the other data come from it).
        values: the second hyperparameter's values, one row each (numbers, or pairs such
            as Adam's ``betas``).
        costs: ``(len(values), len(lrs))`` final costs; inf or NaN where a run diverged.
        regimes: the same shape, each run's regime name.
        name: the hyperparameter's name, for the axis.
        boundary: one learning rate per row past which the rule is unstable (NaN: none), or
            None; drawn as a mark at that rate across each row.
        boundary_label: the boundary's legend entry.
        minimum: the known minimum; the costs are then drawn as ``C - C*``.
        title: the figure's title.
        fig: draw into this (empty) figure.

    Returns:
        The figure: two heatmap Axes and a colour bar.
    """
    if isinstance(lrs, Heatmap):
        scene = lrs
        lrs, values, costs, regimes = scene.lrs, scene.values, scene.costs, scene.regimes
        name, boundary, minimum = scene.name, scene.boundary, scene.objective.minimum
        title = title or f"{scene.objective.name}: learning rate × {name}"
    lrs = np.asarray(lrs, float)
    labels = [_label(v) for v in ([] if values is None else values)]
    costs = np.asarray(costs, float)
    regimes = np.asarray(regimes, dtype=object)
    if lrs.ndim != 1 or not lrs.size or not (np.all(lrs > 0) and np.all(np.diff(lrs) > 0)):
        _checks.fail("lrs", lrs.tolist(), "expected increasing positive learning rates")
    shape = (len(labels), lrs.size)
    if not labels:
        _checks.fail("values", values, f"expected one value of {name} per row")
    for what, a in (("costs", costs), ("regimes", regimes)):
        if a.shape != shape:
            _checks.fail(what, a.shape, f"expected shape {shape} (values × learning rates)")
    unknown = set(regimes.ravel()) - set(REGIMES)
    if unknown:
        _checks.fail("regimes", sorted(unknown), f"expected regime names: {', '.join(REGIMES)}")
    fig = figure_for(fig, (12.4, 1.2 + 0.42 * len(labels) + 2.4))
    left, right = fig.subplots(1, 2, sharey=True)
    xe, ye = _edges(lrs), np.arange(len(labels) + 1) - 0.5
    index = np.vectorize(REGIMES.index, otypes=[int])(regimes)
    palette = ListedColormap([REGIME_COLORS[r] for r in REGIMES])
    left.pcolormesh(xe, ye, index, cmap=palette, vmin=-0.5, vmax=len(REGIMES) - 0.5)
    gap = costs - (minimum or 0.0)
    finite = np.isfinite(gap)
    if minimum is not None:
        # Below float rounding of the cost's scale, a gap is zero: no colour scale of 1e-60.
        gap = np.where(finite, np.maximum(gap, tiny(minimum)), gap)
    shown = np.where(finite, gap, np.nan)
    positive = shown[finite & (shown > 0)]
    if positive.size and positive.size == finite.sum():
        norm = LogNorm(vmin=positive.min(), vmax=positive.max())
    else:
        norm = Normalize(
            vmin=np.nanmin(shown) if finite.any() else 0,
            vmax=np.nanmax(shown) if finite.any() else 1,
        )
    mesh = right.pcolormesh(xe, ye, np.ma.masked_invalid(shown), cmap="viridis_r", norm=norm)
    bar = fig.colorbar(mesh, ax=right, pad=0.01)
    bar.set_label("final cost − minimum" if minimum is not None else "final cost")
    rows, cols = np.nonzero(~finite)
    right.scatter(lrs[cols], rows, marker="x", color=INK, s=22, lw=1.0, label="diverged")
    handles = [
        Patch(color=REGIME_COLORS[r], label=REGIME_LABELS[r])
        for r in REGIMES
        if (regimes == r).any()
    ]
    if boundary is not None:
        boundary = np.asarray(boundary, float)
        if boundary.shape != (len(labels),):
            _checks.fail(
                "boundary", boundary.shape, f"expected one learning rate per row ({len(labels)})"
            )
        for ax in (left, right):
            for i, b in enumerate(boundary):
                if np.isfinite(b):
                    ax.plot(
                        [b, b],
                        [i - 0.5, i + 0.5],
                        color=INK,
                        lw=2.2,
                        ls="--",
                        label=boundary_label if i == 0 else None,
                    )
        handles += [left.get_lines()[0]] if left.get_lines() else []
    for ax, heading in ((left, "regime"), (right, "final cost")):
        ax.set_xscale("log")
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        ax.set_xlabel("learning rate α (log scale)")
        ax.set_title(heading, fontsize=11)
    left.set_yticks(np.arange(len(labels)), labels)
    left.set_ylabel(name)
    left.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18),
        ncols=3,
        fontsize=8.5,
        frameon=False,
    )
    if (~finite).any():
        right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize=8.5, frameon=False)
    fig.suptitle(title or f"Learning rate × {name}", fontsize=12)
    return fig
