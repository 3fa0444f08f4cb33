"""Put a model and its training state back exactly as they were, whatever happens in between.

:func:`restoring` copies, in memory, everything a few training steps change -- parameters and
buffers, gradients (a missing gradient stays missing), the optimizer's state and the settings
of each of its parameter groups, the training flag of every module, a gradient scaler's and a
learning-rate scheduler's state, and every random number generator (Python's ``random``,
numpy's global one, torch's CPU one and every CUDA device's once CUDA is in use) -- and puts
it all back, bit for bit, when the block ends, also when it ends by an exception. The LR range
test runs inside it; so can any probe that must leave a training run untouched.

Example:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(3, 1)
    >>> opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    >>> before = model.weight.detach().clone()
    >>> with restoring(model, opt):
    ...     model(torch.ones(2, 3)).sum().backward()
    ...     opt.step()
    >>> torch.equal(model.weight, before), model.weight.grad is None, opt.state_dict()["state"]
    (True, True, {})
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from . import _checks

__all__ = ["restoring"]


class _Short:
    """Shows an object by its type name, so an error never prints a whole module's repr."""

    def __init__(self, obj: object) -> None:
        self.text = f"<{type(obj).__name__}>"

    def __repr__(self) -> str:
        return self.text


def _has_state(obj: object) -> bool:
    return callable(getattr(obj, "state_dict", None)) and callable(
        getattr(obj, "load_state_dict", None)
    )


class _Snapshot:
    """In-memory copies of a model's and its optimizer's state, and a way to put them back."""

    def __init__(self, model: nn.Module, optimizer: Any, scaler: Any, scheduler: Any) -> None:
        modules = list(model.modules())
        # (module, name, tensor, copy, requires_grad): restoring by name also undoes an
        # attribute that was re-assigned to a new tensor rather than updated in place.
        self.slots = [
            (m, name, t, t.detach().clone(), t.requires_grad)
            for m in modules
            for name, t in itertools.chain(
                m.named_parameters(recurse=False), m.named_buffers(recurse=False)
            )
        ]
        seen = {id(t) for _, _, t, _, _ in self.slots}
        groups = [] if optimizer is None else optimizer.param_groups
        self.loose = [  # optimizer parameters that live outside the model
            (p, p.detach().clone(), p.requires_grad)
            for g in groups
            for p in g["params"]
            if id(p) not in seen
        ]
        params = {id(t): t for _, _, t, _, _ in self.slots if isinstance(t, nn.Parameter)}
        params.update({id(p): p for p, _, _ in self.loose})
        self.grads = [
            (p, None if p.grad is None else p.grad.detach().clone()) for p in params.values()
        ]
        self.modes = [(m, m.training) for m in modules]
        self.optimizer = optimizer
        if optimizer is not None:
            self.opt_state = copy.deepcopy(optimizer.state_dict())  # deepcopy clones tensors
            # The group dicts themselves are kept too: code that holds one (a scheduler, a
            # logger) must see the restored settings in the very same object.
            self.groups = [
                (g, {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}, g["params"])
                for g in groups
            ]
        self.scaler = scaler
        self.scaler_state = None if scaler is None else copy.deepcopy(scaler.state_dict())
        self.scheduler = scheduler
        self.scheduler_state = None if scheduler is None else copy.deepcopy(scheduler.state_dict())
        self.cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        self.rng = (
            torch.get_rng_state(),
            torch.cuda.get_rng_state_all() if self.cuda else None,
            np.random.get_state(),
            random.getstate(),
        )

    def restore(self) -> None:
        with torch.no_grad():
            for m, name, t, saved, flag in self.slots:
                if getattr(m, name, None) is not t:
                    setattr(m, name, t)
                t.copy_(saved)
                t.requires_grad_(flag)
            for p, saved, flag in self.loose:
                p.copy_(saved)
                p.requires_grad_(flag)
        for p, g in self.grads:
            p.grad = g
        for m, training in self.modes:
            m.training = training  # not m.train(): that would also set the children
        if self.optimizer is not None:
            self.optimizer.param_groups[:] = [g for g, _, _ in self.groups]
            for g, settings, params in self.groups:
                g.clear()
                g.update(copy.deepcopy(settings), params=params)
            self.optimizer.load_state_dict(self.opt_state)
            # load_state_dict installs new group dicts: put the original objects back.
            for i, (g, _, _) in enumerate(self.groups):
                fresh = self.optimizer.param_groups[i]
                g.clear()
                g.update(fresh)
                self.optimizer.param_groups[i] = g
        if self.scaler is not None:
            self.scaler.load_state_dict(copy.deepcopy(self.scaler_state))
        if self.scheduler is not None:
            self.scheduler.load_state_dict(copy.deepcopy(self.scheduler_state))
        cpu, cuda, np_state, py_state = self.rng
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        np.random.set_state(np_state)
        random.setstate(py_state)


@contextlib.contextmanager
def restoring(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    scaler: Any = None,
    scheduler: Any = None,
) -> Iterator[None]:
    """A block after which the model and its training state are exactly as before it.

    On entry, copies (in memory) the model's parameters and buffers -- including whether each
    parameter requires a gradient, and the tensor object behind each attribute -- every
    gradient (``None`` stays ``None``), the training flag of every submodule, the optimizer's
    state and the settings of each parameter group (the group dicts keep their identity), the
    scaler's and the scheduler's ``state_dict``, and the random number generators (Python's
    ``random``, numpy's global generator, torch's CPU generator and, once CUDA is in use, every
    CUDA device's). On exit -- normal or by an exception, which then propagates -- puts every
    one of them back, bit for bit.

    Args:
        model: The ``nn.Module`` whose state is kept (all its submodules).
        optimizer: An optimizer (anything with ``param_groups``, ``state_dict`` and
            ``load_state_dict``); parameters it holds outside ``model`` are kept too.
        scaler: A ``torch.amp.GradScaler`` (or anything with ``state_dict`` and
            ``load_state_dict``), e.g. the one of a mixed-precision training loop.
        scheduler: A learning-rate scheduler (``torch.optim.lr_scheduler``); its step count
            and learning rates come back.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, or an optimizer, scaler or scheduler
            lacks ``state_dict``/``load_state_dict``.

    Example:
        >>> import random
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
        >>> _ = model.eval()
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> _ = torch.manual_seed(0)
        >>> try:
        ...     with restoring(model, opt):
        ...         _ = model.train()
        ...         opt.param_groups[0]["lr"] = 10.0
        ...         _ = torch.rand(5), random.random()
        ...         raise RuntimeError("the probe failed")
        ... except RuntimeError:
        ...     pass
        >>> model.training, opt.param_groups[0]["lr"]
        (False, 0.1)
        >>> drawn = torch.rand(1)  # the stream goes on from where it was before the block
        >>> _ = torch.manual_seed(0)
        >>> torch.equal(drawn, torch.rand(1))
        True
    """
    if not isinstance(model, nn.Module):
        _checks.fail("model", _Short(model), "expected a torch.nn.Module", TypeError)
    if optimizer is not None and not (
        _has_state(optimizer) and isinstance(getattr(optimizer, "param_groups", None), list)
    ):
        _checks.fail("optimizer", _Short(optimizer), "expected a torch.optim.Optimizer", TypeError)
    for name, obj in (("scaler", scaler), ("scheduler", scheduler)):
        if obj is not None and not _has_state(obj):
            _checks.fail(
                name,
                _Short(obj),
                "expected an object with state_dict and load_state_dict",
                TypeError,
            )
    snapshot = _Snapshot(model, optimizer, scaler, scheduler)
    try:
        yield
    finally:
        snapshot.restore()
