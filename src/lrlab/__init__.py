"""lrlab, the learning-rate laboratory: see, diagnose and choose the learning rate.

Example:
    >>> import lrlab
    >>> f = lrlab.objective("x**4 - 4*x**2 + x")
    >>> run = lrlab.descend(f, lr=0.01, steps=200)
    >>> sw = lrlab.sweep("rosenbrock", lrs=lrlab.lr_grid(1e-4, 1e-2, 8), steps=100)
    >>> len(sw.runs)
    8
"""

from __future__ import annotations

import importlib

# The core API is imported eagerly: `lrlab.suggest` and `lrlab.range_test` must stay the
# functions even after `import lrlab.suggest` binds the submodules of the same names.
from . import optim, schedules
from .curvature import hessian_eigenvalues, sharpness
from .descent import Run, Sweep, descend, lr_grid, sweep
from .logs import read_log
from .monitor import Monitor
from .objectives import Objective, objective
from .objectives import catalogue_table as catalogue
from .range_test import RangeTest, range_test
from .regimes import REGIMES, Diagnosis, diagnose
from .restoring import restoring
from .suggest import Suggestion, suggest

__version__ = "0.1.0"

__all__ = [
    "REGIMES",
    "Diagnosis",
    "Monitor",
    "Objective",
    "RangeTest",
    "Run",
    "Suggestion",
    "Sweep",
    "catalogue",
    "descend",
    "diagnose",
    "hessian_eigenvalues",
    "lr_grid",
    "objective",
    "optim",
    "plot",
    "range_test",
    "read_log",
    "restoring",
    "resume",
    "schedules",
    "sharpness",
    "store",
    "suggest",
    "sweep",
]


def __getattr__(name: str):
    # The pictures load matplotlib, so they come in only when first used.
    if name == "plot":
        module = importlib.import_module(".plot", __name__)
        globals()["plot"] = module
        return module
    # The store loads SQLAlchemy: it too comes in on first use (``lrlab.store.open(url)``).
    if name == "store":
        module = importlib.import_module(".store", __name__)
        globals()["store"] = module
        return module
    if name == "resume":
        resume = importlib.import_module(".records", __name__).resume
        globals()["resume"] = resume
        return resume
    raise AttributeError(f"module 'lrlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
