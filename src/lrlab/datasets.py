"""Dataset problems: real models on real data that ships with scikit-learn.

Each problem is an ordinary ``nn.Module`` with a loss and a data set, wrapped as an
:class:`~lrlab.objectives.Objective`; so a sweep over a dataset problem runs the very same
code as a sweep over a user's own model.

================  =======================  ===========  ====================================
name              data                     model        loss
================  =======================  ===========  ====================================
diabetes-linear   diabetes (442 x 10)      linear       mean squared error (least squares)
cancer-logistic   breast cancer (569 x 30) linear       logistic loss + 1e-3 |w|^2 / 2
digits-softmax    digits (1797 x 64)       linear       cross-entropy + 1e-3 |w|^2 / 2
digits-mlp        digits (1797 x 64)       64-64-10     cross-entropy (tanh hidden layer)
================  =======================  ===========  ====================================

The convex problems carry a small L2 penalty so that their minimum is unique and finite (the
breast-cancer data are linearly separable: without it the logistic loss has no minimiser).
Their exact minimum is computed once, on first use, by Newton's method in float64.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import _checks

__all__ = ["PROBLEMS", "Problem", "build", "names"]


@dataclass(frozen=True)
class Problem:
    """A dataset problem's recipe: data, model and loss, before it becomes an objective.

    ``inputs`` and ``outputs`` are the model's widths, written here (and checked against the
    data when the problem is built) so that listing the problems needs neither the data nor
    scikit-learn.

    Example:
        >>> PROBLEMS["digits-mlp"].dim(), PROBLEMS["digits-mlp"].dim(hidden=8)
        (4810, 610)
    """

    name: str
    description: str
    loader: str  # scikit-learn loader name
    task: str  # "regression", "binary" or "multiclass"
    hidden: int | None  # hidden width for an MLP, None for a linear model
    l2: float
    inputs: int  # features per sample
    outputs: int  # 1 for regression and binary tasks, the number of classes otherwise

    def dim(self, hidden: int | None = None) -> int:
        """The number of parameters, weights and biases, of the model :func:`build` makes."""
        width = hidden if hidden is not None else self.hidden
        if width is None:
            return (self.inputs + 1) * self.outputs
        return (self.inputs + 1) * width + (width + 1) * self.outputs


PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        Problem(
            "diabetes-linear",
            "Least squares on the diabetes data: a convex quadratic with a closed-form minimum.",
            "load_diabetes",
            "regression",
            None,
            0.0,
            10,
            1,
        ),
        Problem(
            "cancer-logistic",
            "Logistic regression on the breast-cancer data: convex, smooth, ill-conditioned.",
            "load_breast_cancer",
            "binary",
            None,
            1e-3,
            30,
            1,
        ),
        Problem(
            "digits-softmax",
            "Softmax regression on 8x8 handwritten digits: convex, 650 parameters.",
            "load_digits",
            "multiclass",
            None,
            1e-3,
            64,
            10,
        ),
        Problem(
            "digits-mlp",
            "A 64-64-10 tanh network on 8x8 handwritten digits: non-convex, with a minimum "
            "nobody knows.",
            "load_digits",
            "multiclass",
            64,
            0.0,
            64,
            10,
        ),
    ]
}


def names() -> list[str]:
    """The dataset problems' names, sorted.

    Example:
        >>> names()
        ['cancer-logistic', 'diabetes-linear', 'digits-mlp', 'digits-softmax']
    """
    return sorted(PROBLEMS)


@functools.cache
def _data(loader: str, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    # scikit-learn takes about half a second to import: only building a problem pays it.
    import sklearn.datasets

    X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    X = X.astype(np.float64)
    if standardize:
        std = X.std(axis=0)
        # Constant pixels in the digits data have zero spread; leave them centred at zero.
        X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return X, y


_GLOBAL_RNG = threading.Lock()


def build(
    name: str,
    *,
    hidden: int | None = None,
    standardize: bool = True,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[nn.Module, nn.Module, tuple[torch.Tensor, torch.Tensor], Problem]:
    """The model, loss, full data set and recipe of a dataset problem.

    The model's initial weights come from PyTorch's default initialisation under ``seed``.

    Example:
        >>> model, loss_fn, (X, y), problem = build("diabetes-linear")
        >>> tuple(X.shape), problem.task
        ((442, 10), 'regression')
    """
    _checks.one_of("name", name, names())
    problem = PROBLEMS[name]
    X, y = _data(problem.loader, bool(standardize))
    if X.shape[1] != problem.inputs:
        raise RuntimeError(f"{name}: the data have {X.shape[1]} features, not {problem.inputs}")
    Xt = torch.tensor(X, dtype=dtype)
    if problem.task == "regression":
        y = (y - y.mean()) / y.std() if standardize else y
        yt = torch.tensor(y, dtype=dtype).unsqueeze(1)
        loss_fn: nn.Module = nn.MSELoss()
    elif problem.task == "binary":
        yt = torch.tensor(y, dtype=dtype).unsqueeze(1)
        loss_fn = nn.BCEWithLogitsLoss()
    else:
        yt = torch.tensor(y, dtype=torch.long)
        loss_fn = nn.CrossEntropyLoss()
    n_in, n_out = problem.inputs, problem.outputs
    width = hidden if hidden is not None else problem.hidden
    # PyTorch's default initialisation draws from the global generator: seeding it, building
    # and putting the caller's state back is one step under a lock, or two threads building
    # problems at once (the web lab's heavy requests) would draw each other's numbers.
    with _GLOBAL_RNG:
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            if width is None:
                model: nn.Module = nn.Linear(n_in, n_out)
            else:
                model = nn.Sequential(nn.Linear(n_in, width), nn.Tanh(), nn.Linear(width, n_out))
        finally:
            # Building a problem must not disturb the caller's random stream.
            torch.random.set_rng_state(gen_state)
    return model.to(dtype), loss_fn, (Xt, yt), problem


#: Minima of the standardised convex problems, as :func:`newton_minimum` finds them (the
#: test suite recomputes them); the Hessian of digits-softmax takes seconds to build.
KNOWN_MINIMA = {
    "diabetes-linear": 0.4822515777796501,
    "cancer-logistic": 0.059829471881805096,
    "digits-softmax": 0.08752898364164446,
}


def exact_minimum(name: str, standardize: bool = True) -> float | None:
    """The global minimum of a convex dataset problem; None for non-convex ones.

    Example:
        >>> round(exact_minimum("diabetes-linear"), 4)
        0.4823
    """
    if PROBLEMS[name].hidden is not None:
        return None
    if standardize:
        return KNOWN_MINIMA[name]
    return newton_minimum(name, standardize)


@functools.lru_cache(maxsize=32)
def newton_minimum(name: str, standardize: bool = True) -> float:
    """The minimum of a convex (linear-model) dataset problem by Newton's method in float64.

    Example:
        >>> round(newton_minimum("cancer-logistic"), 6)
        0.059829
    """
    problem = PROBLEMS[name]
    model, loss_fn, (X, y), _ = build(name, standardize=standardize, dtype=torch.float64)
    n_in, n_out = X.shape[1], model.out_features
    w = torch.zeros((n_in + 1) * n_out, dtype=torch.float64)

    def cost(v: torch.Tensor) -> torch.Tensor:
        W, b = v[: n_in * n_out].view(n_out, n_in), v[n_in * n_out :]
        return loss_fn(X @ W.T + b, y) + 0.5 * problem.l2 * v.pow(2).sum()

    for _ in range(100):
        g = torch.func.grad(cost)(w)
        H = torch.func.hessian(cost)(w)
        # Softmax regression's Hessian is singular along the all-classes-equal direction
        # when l2 is 0; the tiny ridge keeps the Newton step defined without changing it.
        step = torch.linalg.solve(H + 1e-12 * torch.eye(len(w), dtype=w.dtype), g)
        w = w - step
        if step.abs().max() < 1e-13:
            break
    return float(cost(w))
