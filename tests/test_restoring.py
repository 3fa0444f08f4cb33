"""lrlab.restoring against two oracles: bitwise snapshots taken with public torch, numpy and
random calls, and a deep copy of the whole training setup that never entered the block (the
training that follows must be the same, step for step)."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch
from torch import nn
from training_state import assert_same, snapshot

import lrlab
from lrlab import restoring


class Net(nn.Module):
    """Batch norm (buffers), dropout (random numbers), a frozen layer, and a counter buffer
    that forward replaces rather than updates in place."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Dropout(0.3))
        self.frozen = nn.Linear(12, 12)
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(12, 3)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        self.calls = self.calls + 1
        return self.head(self.frozen(self.body(x)))


def setup(seed=0):
    """A warm training setup: Adam state, a scaler and a scheduler that have moved, grads set."""
    torch.manual_seed(seed)
    model = Net()
    opt = torch.optim.AdamW(
        [
            {"params": model.body.parameters(), "lr": 1e-3},
            {"params": model.head.parameters(), "lr": 1e-2, "weight_decay": 0.0},
        ],
        betas=(0.85, 0.99),
    )
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=2)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    X, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    for i in range(3):
        train_step(model, opt, scaler, X[16 * i : 16 * i + 16], y[16 * i : 16 * i + 16])
        scheduler.step()
    # Gradients of the last step stay; the frozen layer has none; one module in eval mode.
    model.body[1].eval()
    return model, opt, scaler, scheduler, (X, y)


def train_step(model, opt, scaler, xb, yb):
    opt.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = nn.functional.cross_entropy(model(xb), yb)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()


def meddle(model, opt, scaler, scheduler, data):
    """Everything a probe can do to a training setup."""
    X, y = data
    model.train()
    opt.param_groups[0]["lr"] = 123.0
    opt.param_groups[1]["initial_lr"] = 7.0
    opt.param_groups[1]["momentum"] = 0.5  # a key the group did not have
    for _ in range(3):
        train_step(model, opt, scaler, X[:16], y[:16])
        scheduler.step()
    scaler.update(new_scale=3.0)
    model.head.weight.grad = None
    model.frozen.weight.grad = torch.ones_like(model.frozen.weight)
    model.frozen.requires_grad_(True)
    with torch.no_grad():
        model.body[0].weight.mul_(2)
    model.body[1].running_mean = torch.full((12,), 9.0)  # a new tensor object
    torch.rand(7), np.random.rand(3), random.random()


def test_everything_comes_back_bitwise():
    model, opt, scaler, scheduler, data = setup()
    torch.manual_seed(11)
    np.random.seed(12)
    random.seed(13)
    buffer = model.body[1].running_mean
    groups = list(opt.param_groups)
    before = snapshot(model, opt, scaler, scheduler)
    assert before["grads"]["head.weight"] is not None and before["grads"]["frozen.weight"] is None

    with restoring(model, opt, scaler=scaler, scheduler=scheduler):
        meddle(model, opt, scaler, scheduler, data)
        assert not torch.equal(model.body[0].weight, before["params"]["body.0.weight"])

    assert_same(before, snapshot(model, opt, scaler, scheduler))
    assert model.body[1].running_mean is buffer  # the very tensor object, not a copy
    assert all(a is b for a, b in zip(opt.param_groups, groups, strict=True))
    assert torch.equal(torch.rand(4), (torch.manual_seed(11), torch.rand(4))[1])


def test_everything_comes_back_after_an_exception():
    model, opt, scaler, scheduler, data = setup()
    before = snapshot(model, opt, scaler, scheduler)
    with (
        pytest.raises(RuntimeError, match="probe failed"),
        restoring(model, opt, scaler=scaler, scheduler=scheduler),
    ):
        meddle(model, opt, scaler, scheduler, data)
        raise RuntimeError("probe failed")
    assert_same(before, snapshot(model, opt, scaler, scheduler))


def test_training_after_the_block_equals_training_that_never_entered_it():
    model, opt, scaler, scheduler, data = setup()
    twin = copy.deepcopy((model, opt, scaler, scheduler))  # the oracle: never touched
    torch.manual_seed(3)
    with restoring(model, opt, scaler=scaler, scheduler=scheduler):
        meddle(model, opt, scaler, scheduler, data)

    X, y = data
    losses = {}
    for name, (m, o, s, sch) in {"restored": (model, opt, scaler, scheduler), "twin": twin}.items():
        torch.manual_seed(3)  # the same dropout masks for both
        m.train()
        for i in range(4):
            train_step(m, o, s, X[16 * i : 16 * i + 16], y[16 * i : 16 * i + 16])
            sch.step()
        with torch.no_grad():
            losses[name] = (
                nn.functional.cross_entropy(m.eval()(X), y).item(),
                o.param_groups[0]["lr"],
                s.get_scale(),
            )
    assert losses["restored"] == losses["twin"]
    for a, b in zip(model.parameters(), twin[0].parameters(), strict=True):
        assert torch.equal(a, b)


def test_optimizer_parameters_outside_the_model_and_model_alone():
    model = nn.Linear(3, 2)
    extra = nn.Parameter(torch.randn(2))  # e.g. a learned temperature kept by the loop
    opt = torch.optim.SGD([*model.parameters(), extra], lr=0.1, momentum=0.9)
    saved = extra.detach().clone()
    with restoring(model, opt):
        (model(torch.ones(4, 3)).sum() + extra.sum()).backward()
        opt.step()
    assert torch.equal(extra, saved) and extra.grad is None
    with restoring(model):  # the optimizer, scaler and scheduler are optional
        model.weight.data.zero_()
    assert model.weight.abs().sum() > 0


def test_is_the_public_name():
    assert lrlab.restoring is restoring and "restoring" in lrlab.__all__


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"model": "not a module"}, "model"),
        ({"optimizer": object()}, "optimizer"),
        ({"scaler": object()}, "scaler"),
        ({"scheduler": 3}, "scheduler"),
    ],
)
def test_bad_arguments_are_refused(kwargs, fragment):
    args = {"model": nn.Linear(2, 2), "optimizer": None, **kwargs}
    model = args.pop("model")
    with pytest.raises(TypeError, match=fragment) as info, restoring(model, **args):
        pass
    assert "is invalid" in str(info.value)
