"""Objectives: names, expressions, dataset problems and user models behind one interface."""

import numpy as np
import pytest
import torch
from torch import nn

import lrlab


def test_expression_objective():
    f = lrlab.objective("x**4 - 4*x**2 + x")
    assert f.kind == "expression" and f.param_names == ("x",) and f.dim == 1
    assert f.loss([1.0]) == pytest.approx(-2.0)
    values, grads = f.value_and_grad(torch.tensor([[1.0], [2.0]], dtype=torch.float64))
    np.testing.assert_allclose(values, [-2.0, 2.0])
    np.testing.assert_allclose(grads[:, 0], [4 - 8 + 1, 32 - 16 + 1])


def test_catalogue_objective_carries_facts():
    f = lrlab.objective("bowl:kappa=50")
    assert f.kind == "catalogue" and f.sharpness_at_minimum == pytest.approx(50)
    assert f.minimum == 0.0 and f.box is not None


@pytest.mark.parametrize("name", ["rosenbrok", "digits-mpl", "parabol:L=2", "foo"])
def test_unknown_names_suggest_close_ones(name):
    with pytest.raises(ValueError, match="unknown objective"):
        lrlab.objective(name)


def test_close_name_hint():
    with pytest.raises(ValueError, match="did you mean rosenbrock"):
        lrlab.objective("rosenbrok")
    with pytest.raises(ValueError, match="digits-mlp"):
        lrlab.objective("digits-mpl")


def test_dashed_expression_is_still_an_expression():
    assert lrlab.objective("x-y*y").param_names == ("x", "y")


@pytest.mark.parametrize(
    "name,dim",
    [
        ("diabetes-linear", 11),
        ("cancer-logistic", 31),
        ("digits-softmax", 650),
        ("digits-mlp", 4810),
    ],
)
def test_dataset_problems(name, dim):
    f = lrlab.objective(name)
    assert f.kind == "dataset" and f.dim == dim and f.dtype == torch.float32
    assert np.isfinite(f.loss(f.start))


def test_minibatch_option_in_name():
    f = lrlab.objective("digits-mlp:batch_size=64,seed=2")
    assert f.batch_size == 64 and f.stochastic
    x, _ = next(f.batches(1))
    assert x.shape == (64, 64)


def test_user_model_from_tensors_and_checks():
    model = nn.Linear(3, 1)
    X, y = torch.randn(20, 3), torch.randn(20, 1)
    f = lrlab.objective(model, nn.MSELoss(), (X, y))
    assert f.kind == "model" and f.dim == 4
    with pytest.raises(ValueError, match="scalar"):
        lrlab.objective(model, nn.MSELoss(reduction="none"), (X, y))
    frozen = nn.Linear(3, 1).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        lrlab.objective(frozen, nn.MSELoss(), (X, y))
    with pytest.raises(ValueError, match="same, non-zero number of rows"):
        lrlab.objective(model, nn.MSELoss(), (X, y[:5]))
    with pytest.raises(TypeError):
        lrlab.objective(model, nn.MSELoss(), "data")
    with pytest.raises(TypeError):
        lrlab.objective(42)
    bn = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    with pytest.raises(ValueError, match="batch-norm"):
        lrlab.objective(bn, nn.MSELoss(), (X, y))
    lrlab.objective(bn.eval(), nn.MSELoss(), (X, y))


@pytest.mark.parametrize(
    "norm",
    [
        lambda: nn.BatchNorm1d(4),
        lambda: nn.LazyBatchNorm1d(),
        lambda: nn.SyncBatchNorm(4),
        lambda: nn.InstanceNorm1d(4, track_running_stats=True),
    ],
)
def test_layers_that_update_running_statistics_in_training_are_refused(norm):
    model = nn.Sequential(nn.Linear(3, 4), norm(), nn.Linear(4, 1))
    with pytest.raises(ValueError, match="batch-norm"):
        lrlab.objective(model, nn.MSELoss(), (torch.randn(20, 3), torch.randn(20, 1)))


@pytest.mark.parametrize(
    "norm", [lambda: nn.BatchNorm1d(4, track_running_stats=False), lambda: nn.GroupNorm(2, 4)]
)
def test_normalisation_without_running_statistics_is_accepted(norm):
    model = nn.Sequential(nn.Linear(3, 4), norm(), nn.Linear(4, 1))
    f = lrlab.objective(model, nn.MSELoss(), (torch.randn(20, 3), torch.randn(20, 1)))
    assert f.dim == 3 * 4 + 4 + 8 + 4 + 1  # the norm's affine weight and bias train too


def test_cost_is_differentiable_with_torch_func():
    f = lrlab.objective("x**2 + 3*y**2 + x*y")
    H = torch.func.hessian(f.cost)(torch.zeros(2, dtype=torch.float64))
    np.testing.assert_allclose(H, [[2, 1], [1, 6]])


def test_factory_path(tmp_path, monkeypatch):
    (tmp_path / "mymodels.py").write_text(
        "import torch\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    X = torch.randn(30, 2); y = X @ torch.tensor([[1.0], [-2.0]])\n"
        "    return torch.nn.Linear(2, 1), torch.nn.MSELoss(), (X, y)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    from lrlab.objectives import from_factory, is_factory_path

    assert is_factory_path("mymodels:build") and not is_factory_path("bowl:kappa=3")
    f = from_factory("mymodels:build")
    assert f.dim == 3
    with pytest.raises(ValueError, match="no function"):
        from_factory("mymodels:nothing")
    with pytest.raises(ValueError, match="cannot import"):
        from_factory("no_such_module_here:build")


@pytest.mark.parametrize(
    "spec",
    [
        "himmelblau",
        "rosenbrock",
        "beale",
        "rastrigin",
        "hill",
        "x**4 - 4*x**2 + x",
        "sin(3*x)*y**2 + exp(x/5) - x*y",
    ],
)
def test_lane_gradients_are_autograd_of_the_summed_cost(spec):
    # On the CPU the lanes' gradients come from a program derived once (lrlab.symbolic), not
    # from autograd: the same numbers to rounding (x**4 is a product there, torch's pow here).
    f = lrlab.objective(spec)
    W = f.start + torch.linspace(-1.5, 1.5, 7, dtype=torch.float64)[:, None]
    values, grads = f.value_and_grad(W)
    Wr = W.clone().requires_grad_(True)
    costs = torch.stack([f.cost(w) for w in Wr])  # one point at a time, then summed
    (oracle,) = torch.autograd.grad(costs.sum(), Wr)
    scale = oracle.abs().amax(dim=1, keepdim=True).clamp_min(1.0)
    torch.testing.assert_close(values, costs.detach(), rtol=1e-12, atol=0)
    assert ((grads - oracle).abs() <= 1e-12 * scale).all()
