"""Dataset problems: sizes from the architecture, minima against scikit-learn's solvers.

The oracle for each convex problem is scikit-learn fitted on data prepared here, not by lrlab.
lrlab's cost is ``mean loss + l2/2 * |w|^2`` over every parameter, bias included; scikit-learn
minimises ``C * sum(loss) + |w|^2 / 2``, which has the same minimiser when ``C = 1/(n * l2)``.
Its intercept is never penalised, so the tests append a column of ones to the features and fit
without an intercept: that column's weight is lrlab's (penalised) bias.
"""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss, mean_squared_error
from sklearn.preprocessing import StandardScaler

import lrlab
from lrlab import datasets


@pytest.mark.parametrize("name", datasets.names())
@pytest.mark.parametrize("hidden", [None, 8])
def test_parameter_count_without_building_matches_the_built_model(name, hidden):
    model = datasets.build(name, hidden=hidden)[0]
    built = sum(p.numel() for p in model.parameters())
    assert datasets.PROBLEMS[name].dim(hidden) == built


def test_listing_the_objectives_builds_no_model_and_loads_no_data(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the listing must not build a dataset problem")

    monkeypatch.setattr(datasets, "build", refuse)
    monkeypatch.setattr(datasets, "_data", refuse)
    rows = {r["name"]: r for r in lrlab.catalogue()}
    assert rows["digits-mlp"]["dim"] == 64 * 64 + 64 + 64 * 10 + 10
    assert rows["cancer-logistic"]["dim"] == 31


def _with_ones(X: np.ndarray) -> np.ndarray:
    return np.hstack([X, np.ones((len(X), 1))])


def _flat(coef: np.ndarray) -> torch.Tensor:
    """scikit-learn's coefficients on [X, 1] as lrlab's flat vector: weight rows, then bias."""
    coef = np.atleast_2d(coef)
    return torch.tensor(np.concatenate([coef[:, :-1].ravel(), coef[:, -1]]))


def _sklearn_logistic(loader, l2: float):
    X, y = loader(return_X_y=True)
    A = _with_ones(StandardScaler().fit_transform(X))
    fit = LogisticRegression(
        C=1 / (len(A) * l2), fit_intercept=False, tol=1e-10, max_iter=5000
    ).fit(A, y)
    value = log_loss(y, fit.predict_proba(A)) + l2 / 2 * float((fit.coef_**2).sum())
    return value, _flat(fit.coef_)


def _sklearn_least_squares():
    X, y = load_diabetes(return_X_y=True)
    A = _with_ones(StandardScaler().fit_transform(X))
    y = (y - y.mean()) / y.std()
    fit = Ridge(alpha=0.0, fit_intercept=False, solver="svd").fit(A, y)
    return mean_squared_error(y, fit.predict(A)), _flat(fit.coef_)


@pytest.mark.parametrize(
    "name, oracle",
    [
        ("diabetes-linear", _sklearn_least_squares),
        ("cancer-logistic", lambda: _sklearn_logistic(load_breast_cancer, 1e-3)),
        ("digits-softmax", lambda: _sklearn_logistic(load_digits, 1e-3)),
    ],
)
def test_convex_minimum_is_scikit_learns(name, oracle):
    assert datasets.PROBLEMS[name].l2 in (0.0, 1e-3)  # the penalty the oracle was given
    value, point = oracle()
    f = lrlab.objective(name, dtype=torch.float64)
    # The value lrlab reports is the minimum scikit-learn reaches...
    assert f.minimum == pytest.approx(value, rel=1e-9)
    # ...and scikit-learn's minimiser is where lrlab's own cost takes that value with a
    # vanishing gradient, so both solve the same problem (same data, loss and penalty).
    loss, grad = f.full_value_and_grad(point[None])
    assert float(loss[0]) == pytest.approx(value, rel=1e-9)
    assert float(grad.abs().max()) < 1e-6


def test_a_different_penalty_has_no_claimed_minimum():
    assert lrlab.objective("cancer-logistic", l2=0.1).minimum is None
    assert lrlab.objective("digits-mlp").minimum is None


def test_building_keeps_the_callers_random_stream():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    datasets.build("digits-mlp", seed=1)
    assert torch.equal(torch.rand(3), expected)


def test_seed_sets_the_initial_weights():
    a = datasets.build("digits-mlp", seed=1)[0][0].weight
    b = datasets.build("digits-mlp", seed=1)[0][0].weight
    c = datasets.build("digits-mlp", seed=2)[0][0].weight
    assert torch.equal(a, b) and not torch.equal(a, c)
