"""lrlab.optim against its oracle: every lane equals a plain torch.optim loop."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

import lrlab
from lrlab import optim

TORCH = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}

RULES = [
    optim.sgd(),
    optim.sgd(momentum=0.9),
    optim.sgd(momentum=0.9, dampening=0.5),
    optim.sgd(momentum=0.8, nesterov=True),
    optim.sgd(momentum=0.5, weight_decay=0.1),
    optim.sgd(weight_decay=0.1),
    optim.adam(),
    optim.adam(amsgrad=True),
    optim.adam(betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1),
    optim.adamw(),
    optim.adamw(weight_decay=0.5, amsgrad=True),
    optim.rmsprop(),
    optim.rmsprop(centered=True),
    optim.rmsprop(momentum=0.9),
    optim.rmsprop(alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1, eps=1e-4),
    optim.adagrad(),
    optim.adagrad(lr_decay=0.1, initial_accumulator_value=0.5, weight_decay=0.1),
]
IDS = [str(r.to_dict()) for r in RULES]


def torch_optimizer(rule, params, lr):
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in rule.to_dict().items()}
    return TORCH[options.pop("name")](params, lr=lr, **options)


def oracle(f, rule, lr, steps, schedule=None):
    """A plain torch.optim loop on one parameter vector, through the objective's own cost:
    the cost at each step (the batch's) and the final full-data cost."""
    w = nn.Parameter(f.start.detach().clone())
    opt = torch_optimizer(rule, [w], lr)
    sched = None
    if schedule is not None:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: float(schedule(t)))
    losses = []
    for batch in f.batches(steps):
        opt.zero_grad()
        loss = f.cost(w, batch)
        losses.append(loss.item())
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    losses.append(float(f.cost(w.detach())))
    return np.array(losses), w.detach().numpy()


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_every_rule_equals_torch_optim_on_an_analytic_objective(rule):
    f = lrlab.objective("rosenbrock")
    lrs = [1e-4, 3e-3]
    sw = lrlab.sweep(f, lrs=lrs, steps=25, optimizer=rule, keep_params=True)
    for lr, run in zip(lrs, sw.runs):
        ref, w = oracle(f, rule, lr, 25)
        np.testing.assert_allclose(run.losses, ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(run.params[-1], w, rtol=1e-10, atol=1e-12)
        # The recorded step lengths are the parameter changes themselves.
        moved = np.linalg.norm(np.diff(run.params, axis=0), axis=1)
        np.testing.assert_allclose(run.step_sizes, moved, rtol=1e-9, atol=1e-15)
        assert run.optimizer == rule


@pytest.mark.parametrize(
    "rule",
    [
        optim.sgd(momentum=0.9, nesterov=True),
        optim.adamw(weight_decay=0.1),
        optim.adagrad(lr_decay=0.01),
    ],
    ids=lambda r: r.name,
)
def test_rules_on_a_dataset_problem_with_mini_batches_and_a_schedule(rule):
    f = lrlab.objective("digits-mlp", batch_size=64, seed=1)
    schedule = lrlab.schedules.cosine(12)
    lrs = [1e-3, 3e-2]
    sw = lrlab.sweep(f, lrs=lrs, steps=12, optimizer=rule, schedule=schedule)
    for lr, run in zip(lrs, sw.runs):
        ref, _ = oracle(f, rule, lr, 12, schedule)
        np.testing.assert_allclose(run.losses, ref, rtol=2e-4, atol=1e-5)


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.head = nn.Linear(3 * 4 * 4, 2)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).flatten(1))


@pytest.mark.parametrize("rule", [optim.sgd(momentum=0.9), optim.adam(), optim.rmsprop()])
def test_rules_on_a_users_convolutional_module(rule):
    torch.manual_seed(0)
    model = ConvNet()
    X, y = torch.randn(32, 1, 6, 6), torch.randint(0, 2, (32,))
    loss_fn = nn.CrossEntropyLoss()
    f = lrlab.objective(model, loss_fn, (X, y), batch_size=8, seed=2)
    batches = list(f.batches(10))
    lrs = [1e-3, 1e-2]
    sw = lrlab.sweep(f, lrs=lrs, steps=10, optimizer=rule)
    for lr, run in zip(lrs, sw.runs):
        net = copy.deepcopy(model)
        opt = torch_optimizer(rule, net.parameters(), lr)
        ref = []
        for xb, yb in batches:
            opt.zero_grad()
            loss = loss_fn(net(xb), yb)
            ref.append(loss.item())
            loss.backward()
            opt.step()
        with torch.no_grad():
            ref.append(loss_fn(net(X), y).item())
        np.testing.assert_allclose(run.losses, ref, rtol=2e-4, atol=1e-5)


def test_the_lr_by_momentum_product_runs_learning_rate_major():
    f = lrlab.objective("rosenbrock")
    lrs, momenta = [1e-4, 1e-3], [0.0, 0.5, 0.9]
    sw = lrlab.sweep(f, lrs=lrs, steps=20, optimizer=optim.sgd(momentum=momenta))
    assert [(r.lr, r.optimizer.momentum) for r in sw.runs] == [
        (lr, m) for lr in lrs for m in momenta
    ]
    finals = []
    for run in sw.runs:
        ref, _ = oracle(f, optim.sgd(momentum=run.optimizer.momentum), run.lr, 20)
        np.testing.assert_allclose(run.losses, ref, rtol=1e-10)
        finals.append(ref[-1])
    lr, m = [(lr, m) for lr in lrs for m in momenta][int(np.argmin(finals))]
    assert (sw.best.lr, sw.best.optimizer.momentum) == (lr, m)
    d = sw.to_dict()
    assert d["optimizer"]["momentum"] == momenta
    assert [r["momentum"] for r in d["runs"]] == momenta * 2
    assert d["best"] == {"lr": lr, "momentum": m}


def test_swept_betas_and_dampening_without_momentum():
    f = lrlab.objective("rosenbrock")
    betas = [(0.9, 0.999), (0.5, 0.99)]
    sw = lrlab.sweep(f, lrs=[1e-2], steps=15, optimizer=optim.adam(betas=betas))
    for run, b in zip(sw.runs, betas):
        assert run.optimizer.betas == b
        ref, _ = oracle(f, optim.adam(betas=b), 1e-2, 15)
        np.testing.assert_allclose(run.losses, ref, rtol=1e-9)
    # torch ignores dampening when momentum is 0: so must a swept lane with momentum 0.
    rule = optim.sgd(momentum=[0.0, 0.9], dampening=0.5)
    sw = lrlab.sweep(f, lrs=[1e-3], steps=15, optimizer=rule)
    for run in sw.runs:
        ref, _ = oracle(f, run.optimizer, 1e-3, 15)
        np.testing.assert_allclose(run.losses, ref, rtol=1e-10)


def test_descend_takes_a_rule_and_plain_sgd_is_unchanged():
    run = lrlab.descend("x**2", lr=0.25, steps=3, start=[1.0], optimizer="sgd")
    assert run.losses.tolist() == [1.0, 0.25, 0.0625, 0.015625]
    run = lrlab.descend("rosenbrock", lr=1e-3, steps=30, optimizer=optim.sgd(momentum=0.9))
    ref, _ = oracle(lrlab.objective("rosenbrock"), optim.sgd(momentum=0.9), 1e-3, 30)
    np.testing.assert_allclose(run.losses, ref, rtol=1e-10)
    assert run.to_dict()["optimizer"] == {
        "name": "sgd",
        "momentum": 0.9,
        "dampening": 0.0,
        "nesterov": False,
        "weight_decay": 0.0,
    }


def quadratic_diverges(rule, lr, L=1.0, steps=1000):
    """A plain torch.optim loop on L/2 w^2: does |w| grow?"""
    w = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = torch_optimizer(rule, [w], lr)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * L * w.pow(2).sum()).backward()
        opt.step()
    return abs(w.item()) > 1.0


@pytest.mark.parametrize(
    "rule",
    [
        optim.sgd(),
        optim.sgd(momentum=0.9),
        optim.sgd(momentum=0.5, dampening=0.3),
        optim.sgd(momentum=0.9, nesterov=True),
        optim.sgd(momentum=0.5, nesterov=True, weight_decay=0.5),
    ],
    ids=lambda r: str(r.to_dict()),
)
def test_stability_limit_separates_converging_from_diverging(rule):
    L = 2.0
    limit = rule.stability_limit(L)
    assert not quadratic_diverges(rule, 0.97 * limit, L)
    assert quadratic_diverges(rule, 1.03 * limit, L)


def test_stability_limit_values():
    assert optim.sgd(momentum=0.9).stability_limit(1.0) == pytest.approx(3.8)
    assert optim.sgd(momentum=0.9, nesterov=True).stability_limit(1.0) == pytest.approx(3.8 / 2.8)
    assert optim.adam().stability_limit(1.0) is None
    assert optim.rmsprop().stability_limit(1.0) is None
    assert optim.sgd(momentum=[0.0, 0.5]).stability_limit(1.0) == (2.0, 3.0)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: optim.adam(betas=(1.0, 0.999)), ValueError, r"\[0, 1\)"),
        (lambda: optim.adam(betas=(0.9, -0.1)), ValueError, "betas"),
        (lambda: optim.adam(eps=-1e-8), ValueError, "eps"),
        (lambda: optim.adamw(weight_decay=-0.1), ValueError, "weight_decay"),
        (lambda: optim.sgd(nesterov=True), ValueError, "Nesterov"),
        (lambda: optim.sgd(momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening"),
        (lambda: optim.sgd(momentum=-0.5), ValueError, "momentum"),
        (lambda: optim.sgd(momentum=[0.0, 0.9], nesterov=True), ValueError, "Nesterov"),
        (lambda: optim.rmsprop(alpha=-0.1), ValueError, "alpha"),
        (lambda: optim.adagrad(lr_decay=-1), ValueError, "lr_decay"),
        (lambda: optim.sgd(momentum=[0.5], weight_decay=[0.1]), ValueError, "one hyperparameter"),
        (lambda: optim.sgd(momentum=[]), ValueError, "at least one"),
        (lambda: optim.sgd(momentum="0.9"), TypeError, "real number"),
        (lambda: optim.sgd(momentum=math.nan), ValueError, "finite"),
        (lambda: optim.get("adma"), ValueError, "did you mean adam"),
        (
            lambda: optim.get({"name": "sgd", "momentun": 0.9}),
            ValueError,
            "momentun=0.9 .*did you mean momentum",
        ),
        (lambda: optim.get(3), TypeError, "optimizer"),
        (
            lambda: lrlab.descend("parabola", 0.1, optimizer=optim.sgd(momentum=[0.0, 0.5])),
            ValueError,
            "sweep",
        ),
        (lambda: lrlab.sweep("parabola", [0.1], optimizer="nadam"), ValueError, "optimizer"),
    ],
)
def test_bad_hyperparameters_are_refused_like_torch(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_get_round_trips_to_dict():
    for rule in RULES + [optim.sgd(momentum=[0.0, 0.9]), optim.adam(betas=[(0.9, 0.99)])]:
        assert optim.get(rule.to_dict()) == rule
    assert optim.get(None) == optim.sgd()
    assert optim.get("Adam") == optim.adam()
