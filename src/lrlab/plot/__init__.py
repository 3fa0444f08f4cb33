"""Pictures of gradient descent and its learning rate, drawn with matplotlib from data.

The drawing functions take runs, sweeps, arrays or the scenes of :mod:`lrlab.scenes` and run
nothing; each returns a :class:`matplotlib.figure.Figure`, built directly, never through
``pyplot``, so drawing leaves no global state behind and works on a server without a
display. Pass ``ax`` (or ``fig``) to draw into a figure of your own; :func:`save` writes PNG,
SVG or PDF. One colour stands for one regime in every picture (:data:`REGIME_COLORS`).

Given an objective instead of a scene, the functions below first design and run the scene
with the same arguments (``plot.three_panels("parabola")`` is
``plot.three_panels(scenes.three_panels("parabola"))``): one call for a quick look, while
code that also needs the numbers keeps the scene and draws from it.

=========================  ==========================================================  ===========
function                   what it shows                                               module
=========================  ==========================================================  ===========
:func:`path`               the path of gradient descent on a 1-D curve or a 2-D contour  paths
:func:`three_panels`       too low / just right / too high, side by side                 paths
:func:`small_hill`         a small alpha stuck in a local minimum, a larger one over     paths
:func:`contour_paths`      2-D paths for several alphas on a contour plot                paths
:func:`cost_curves`        cost against iteration for very high, high, good, low alphas  curves
:func:`step_lengths`       step length and gradient norm shrink together                 curves
:func:`run_figure`         one run at a glance: its path (or step lengths) and its cost  curves
:func:`landscape`          a sweep's final cost against log alpha, with 1/L and 2/L      sweeps
:func:`compute_price`      iterations needed to reach a tolerance, against alpha         sweeps
:func:`heatmap`            learning rate against a second hyperparameter, by regime      heatmaps
:func:`range_test_curve`   an LR range test with its suggestions                         finder
:func:`sharpness_track`    sharpness along a run against 2/alpha                         stability
=========================  ==========================================================  ===========

Example:
    >>> from lrlab import plot, scenes
    >>> scene = scenes.three_panels("parabola")
    >>> len(plot.three_panels(scene).axes)
    3
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .. import _checks, scenes
from ..descent import Run
from ..scenes import Price, Scene, iterations_to
from .style import REGIME_COLORS, REGIME_LABELS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# The drawing modules load matplotlib (a third of a second), so they load when first used:
# what needs only the regime colours and labels of plot.style, as the web lab does, goes
# without it. Each name below is served from its module on first access.
_FROM_MODULE = {
    "save": "_canvas",
    "run_figure": "curves",
    "range_test_curve": "finder",
    "heatmap": "heatmaps",
    "sharpness_track": "stability",
    "landscape": "sweeps",
}
_MODULES = ("_canvas", "curves", "finder", "heatmaps", "paths", "stability", "style", "sweeps")


def __getattr__(name: str):
    if name in _FROM_MODULE:
        return getattr(importlib.import_module(f".{_FROM_MODULE[name]}", __name__), name)
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FROM_MODULE) | set(_MODULES))


__all__ = [
    "REGIME_COLORS",
    "REGIME_LABELS",
    "compute_price",
    "contour_paths",
    "cost_curves",
    "heatmap",
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


def _run_only(who: str, lr, start) -> None:
    if lr is not None or start is not None:
        _checks.fail("lr", lr, f"{who}() takes lr and start only with an objective, not a run")


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
    """The path of gradient descent (see :func:`lrlab.plot.paths.path`).

    Args:
        run_or_f: a :class:`~lrlab.descent.Run` that kept its path, a scene of
            :func:`lrlab.scenes.path`, or an objective to design that scene on.
        lr, steps, start: the scene's arguments, with an objective.
        f: the run's objective, when it cannot be rebuilt from the run's name.
        numbered: how many of the first points carry their step number.
        ax: draw into this Axes.

    Example:
        >>> path("parabola", lr=0.15).axes[0].get_title().startswith("Gradient descent")
        True
    """
    from . import paths

    if isinstance(run_or_f, (Run, Scene)):
        _run_only("path", lr, start)
        return paths.path(run_or_f, f=f, numbered=numbered, ax=ax)
    if f is not None:
        _checks.fail("f", f, "f= goes with a run; pass the objective as the first argument")
    return paths.path(scenes.path(run_or_f, lr, steps, start), numbered=numbered, ax=ax)


def three_panels(
    f="parabola",
    lrs: Sequence[float] | None = None,
    steps: int = 12,
    start=None,
    *,
    fig: Figure | None = None,
) -> Figure:
    """Too low, just right and too high (see :func:`lrlab.scenes.three_panels` for the runs
    and :func:`lrlab.plot.paths.three_panels` for the picture).

    Args:
        f: a scene, or a 1-D or 2-D analytic objective to design it on.
        lrs, steps, start: the scene's arguments, with an objective.
        fig: draw into this (empty) figure.

    Example:
        >>> fig = three_panels("parabola", lrs=(0.05, 0.4, 1.1))
        >>> [ax.get_title().split(":")[0] for ax in fig.axes]
        ['too low', 'just right', 'too high']
    """
    from . import paths

    if not isinstance(f, Scene):
        f = scenes.three_panels(f, lrs, steps, start)
    return paths.three_panels(f, fig=fig)


def small_hill(
    f="hill",
    lrs: Sequence[float] = (0.02, 0.1),
    steps: int = 40,
    start=None,
    *,
    fig: Figure | None = None,
) -> Figure:
    """The small hill (see :func:`lrlab.scenes.small_hill` and
    :func:`lrlab.plot.paths.small_hill`).

    Args:
        f: a scene, or a 1-D or 2-D analytic objective to design it on.
        lrs, steps, start: the scene's arguments, with an objective.
        fig: draw into this (empty) figure.

    Example:
        >>> len(small_hill().axes)
        2
    """
    from . import paths

    if not isinstance(f, Scene):
        f = scenes.small_hill(f, lrs, steps, start)
    return paths.small_hill(f, fig=fig)


def contour_paths(
    f="bowl",
    lrs: Sequence[float] | Mapping[str, float] | None = None,
    steps: int = 50,
    start=None,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Paths on a contour plot (see :func:`lrlab.scenes.contour_paths` and
    :func:`lrlab.plot.paths.contour_paths`).

    Args:
        f: a scene, or a 2-D analytic objective to design it on.
        lrs, steps, start: the scene's arguments, with an objective.
        ax: draw into this Axes.

    Example:
        >>> bool(contour_paths("bowl:kappa=10").axes[0].collections)
        True
    """
    from . import paths

    if not isinstance(f, Scene):
        f = scenes.contour_paths(f, lrs, steps, start)
    return paths.contour_paths(f, ax=ax)


def cost_curves(
    f,
    lrs: Mapping[str, float] | Sequence[float] | None = None,
    steps: int = 100,
    start=None,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Cost against iteration (see :func:`lrlab.scenes.cost_curves` and
    :func:`lrlab.plot.curves.cost_curves`).

    Args:
        f: a scene, or any objective to design it on.
        lrs, steps, start: the scene's arguments, with an objective.
        ax: draw into this Axes.

    Example:
        >>> len(cost_curves("parabola", steps=50).axes[0].get_lines()) >= 4
        True
    """
    from . import curves

    if not isinstance(f, Scene):
        f = scenes.cost_curves(f, lrs, steps, start)
    return curves.cost_curves(f, ax=ax)


def step_lengths(
    run_or_f,
    lr: float | None = None,
    steps: int = 60,
    start=None,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Step length and gradient norm (see :func:`lrlab.plot.curves.step_lengths`).

    Args:
        run_or_f: a :class:`~lrlab.descent.Run`, a scene of
            :func:`lrlab.scenes.step_lengths`, or an objective to design it on.
        lr, steps, start: the scene's arguments, with an objective.
        ax: draw into this Axes.

    Example:
        >>> step_lengths("parabola", lr=0.2).axes[0].get_yscale()
        'log'
    """
    from . import curves

    if isinstance(run_or_f, (Run, Scene)):
        _run_only("step_lengths", lr, start)
        return curves.step_lengths(run_or_f, ax=ax)
    return curves.step_lengths(scenes.step_lengths(run_or_f, lr, steps, start), ax=ax)


def compute_price(
    f="parabola",
    tol: float | None = None,
    lrs: Sequence[float] | None = None,
    steps: int = 1000,
    start=None,
    *,
    ax: Axes | None = None,
) -> Figure:
    """The price of a low learning rate (see :func:`lrlab.scenes.compute_price` and
    :func:`lrlab.plot.sweeps.compute_price`).

    Args:
        f: a scene, or any objective to design it on.
        tol, lrs, steps, start: the scene's arguments, with an objective.
        ax: draw into this Axes.

    Example:
        >>> compute_price("parabola", steps=300).axes[0].get_yscale()
        'log'
    """
    from . import sweeps

    if not isinstance(f, Price):
        f = scenes.compute_price(f, tol, lrs, steps, start)
    return sweeps.compute_price(f, ax=ax)
