"""What every drawing module needs: a figure or the caller's Axes, tidy axes, saving, and the
checks and conversions of the data a picture is given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import _checks
from ..descent import Run, Sweep
from ..objectives import objective

FORMATS = (".png", ".svg", ".pdf")


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
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "empty.svg"
        >>> save(new_figure((2, 2)), out).suffix
        '.svg'
    """
    if not isinstance(fig, Figure):
        _checks.fail("fig", type(fig).__name__, "expected a matplotlib Figure", TypeError)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        _checks.fail("path", str(path), f"the file name must end in {', '.join(FORMATS)}")
    dpi = _checks.int_in_range("dpi", dpi, 20, 1200)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fixed salt for SVG element ids and no dates keep SVG and PDF output byte-stable.
    metadata = {".svg": {"Date": None}, ".pdf": {"CreationDate": None}}.get(suffix)
    with rc_context({"svg.hashsalt": "lrlab"}):
        fig.savefig(path, format=suffix[1:], dpi=dpi, metadata=metadata)
    return path


def new_figure(figsize: tuple[float, float]) -> Figure:
    # Built directly, never through pyplot: no global state, and no display needed.
    return Figure(figsize=figsize, dpi=100, layout="constrained")


def axes_for(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The caller's Axes and its figure, or a new figure of ``figsize`` with one Axes."""
    if ax is None:
        fig = new_figure(figsize)
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        _checks.fail("ax", type(ax).__name__, "expected a matplotlib Axes or None", TypeError)
    return ax.get_figure(root=True), ax


def figure_for(fig: Figure | None, figsize: tuple[float, float]) -> Figure:
    if fig is None:
        return new_figure(figsize)
    if not isinstance(fig, Figure):
        _checks.fail("fig", type(fig).__name__, "expected a matplotlib Figure or None", TypeError)
    return fig


def tidy(ax: Axes) -> None:
    ax.grid(True, which="major", color="#DDDDDD", lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def check_run(run, name: str = "run") -> Run:
    if not isinstance(run, Run):
        _checks.fail(
            name, type(run).__name__, "expected an lrlab Run (from lrlab.descend)", TypeError
        )
    return run


def check_sweep(sw, name: str = "sweep") -> Sweep:
    if not isinstance(sw, Sweep):
        _checks.fail(
            name, type(sw).__name__, "expected an lrlab Sweep (from lrlab.sweep)", TypeError
        )
    return sw


def objective_of(run: Run, f=None):
    """The objective of ``run``: ``f`` when given, else rebuilt from the run's name."""
    if f is not None:
        return objective(f)
    try:
        return objective(run.objective)
    except (ValueError, TypeError):
        raise ValueError(
            f"run: its objective {run.objective!r} cannot be rebuilt from its name; "
            "pass the objective as f="
        ) from None


def params(run: Run) -> np.ndarray:
    if run.params is None:
        raise ValueError(
            "run: it kept no path (params is None); make it with descend(..., keep_params=True)"
        )
    return np.asarray(run.params, dtype=float)


def costs(f, points) -> np.ndarray:
    """Full-data costs of ``points (N, dim)`` as float64 numpy: the curve or contours behind
    a path (evaluating the cost, not descending)."""
    W = torch.as_tensor(np.asarray(points, dtype=float), dtype=f.dtype, device=f.device)
    return f.losses(W).detach().cpu().double().numpy()


def tiny(scale: float) -> float:
    """The smallest gap worth showing on a log axis: float64 rounding of the cost's scale."""
    return 1e-16 * max(1.0, abs(scale))


def log_gap(runs, ref: float | None) -> tuple[bool, float]:
    """Whether costs can go on a log axis (as cost - ref), and the ref to subtract."""
    if ref is not None:
        return True, ref
    values = np.concatenate([np.asarray(r.losses, float) for r in runs])
    values = values[np.isfinite(values)]
    return bool(values.size and values.min() > 0), 0.0
