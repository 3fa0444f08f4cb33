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

__version__ = "0.1.0"

# Public names and the module that defines each; modules load on first use so that
# `import lrlab` stays fast and does not pull in matplotlib or the web server.
_EXPORTS = {
    "Objective": "objectives",
    "objective": "objectives",
    "catalogue": "objectives",
    "Run": "descent",
    "Sweep": "descent",
    "descend": "descent",
    "sweep": "descent",
    "lr_grid": "descent",
    "schedules": None,
    "Diagnosis": "regimes",
    "diagnose": "regimes",
    "REGIMES": "regimes",
    "read_log": "logs",
    "sharpness": "curvature",
    "hessian_eigenvalues": "curvature",
    "RangeTest": "range_test",
    "range_test": "range_test",
    "Suggestion": "suggest",
    "suggest": "suggest",
    "plot": None,
}
_RENAMED = {("objectives", "catalogue"): "catalogue_table", ("plot", None): "plots"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lrlab' has no attribute {name!r}")
    module = _EXPORTS[name]
    if module is None:
        value = importlib.import_module(f".{_RENAMED.get((name, None), name)}", __name__)
    else:
        attr = _RENAMED.get((module, name), name)
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
