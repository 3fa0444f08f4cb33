"""Copies of everything a training step can change, taken with public APIs only, and a bitwise
comparison: the oracle for every restoration test."""

from __future__ import annotations

import copy
import random

import numpy as np
import torch


def snapshot(model, optimizer=None, scaler=None, scheduler=None, loss_fn=None):
    """Everything a range test or a probe may touch, copied (tensors cloned)."""
    modules = list(model.modules()) + ([] if loss_fn is None else list(loss_fn.modules()))
    state = {
        "params": {k: v.detach().clone() for k, v in model.named_parameters()},
        "requires_grad": {k: v.requires_grad for k, v in model.named_parameters()},
        "buffers": {k: v.detach().clone() for k, v in model.named_buffers()},
        "grads": {
            k: None if v.grad is None else v.grad.clone() for k, v in model.named_parameters()
        },
        "identity": [id(t) for t in [*model.parameters(), *model.buffers()]],
        "modes": [m.training for m in modules],
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
    }
    if loss_fn is not None:
        state["loss_buffers"] = {k: v.detach().clone() for k, v in loss_fn.named_buffers()}
    if optimizer is not None:
        state["optimizer"] = copy.deepcopy(optimizer.state_dict())
        state["group_ids"] = [id(g) for g in optimizer.param_groups]
        state["groups"] = [
            {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            for g in optimizer.param_groups
        ]
        state["group_params"] = [[id(p) for p in g["params"]] for g in optimizer.param_groups]
    if scaler is not None:
        state["scaler"] = copy.deepcopy(scaler.state_dict())
    if scheduler is not None:
        state["scheduler"] = copy.deepcopy(scheduler.state_dict())
    return state


def assert_same(a, b, path="state"):
    """Recursive bitwise comparison: tensors with torch.equal, containers element by element."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), path
        assert a.dtype == b.dtype and a.shape == b.shape and a.device == b.device, path
        assert torch.equal(a, b), path
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{path}: {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == b or (a != a and b != b), f"{path}: {a!r} != {b!r}"  # NaN equals NaN
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"
