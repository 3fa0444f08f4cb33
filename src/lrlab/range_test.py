"""The learning-rate range test, run on a user's own PyTorch training setup, state restored.

The learning rate grows from ``start_lr`` to ``end_lr``, one optimizer step per value, while
the training loss (and, with a validation loader, the validation loss after each step) is
recorded (Smith 2017). Where the loss falls fastest and where it blows up bracket the useful
learning rates; :mod:`lrlab.range_curve` reads the suggestions off the curve and
:class:`~lrlab.range_result.RangeTest` keeps it.

The test runs the way the user's training does: batches of any shape (:mod:`lrlab.batches`,
or a ``step_fn``), several parameter groups at their own ratios, mixed precision with a
gradient scaler, gradient clipping, gradient accumulation. Everything it changes is put back
bit for bit by :func:`lrlab.restoring` when it ends, also when it ends by an exception.

Example:
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> X, y = torch.randn(256, 8), torch.randint(0, 3, (256,))
    >>> model = nn.Linear(8, 3)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> rt = range_test(model, nn.CrossEntropyLoss(), (X, y), opt, num_iter=50)
    >>> rt.method in (*METHODS, "none")
    True
    >>> opt.param_groups[0]["lr"]  # restored
    0.1

References:
    Leslie N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    arXiv:1506.01186 (the range test, and its validation-loss variant).
    fastai, ``Learner.lr_find``; torch-lr-finder, ``LRFinder.range_test``,
    https://github.com/davidtvs/pytorch-lr-finder.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from . import _checks
from ._format import fmt
from .batches import batch_loss, batch_size, cycle, is_full_batch
from .range_curve import METHODS, RULES, Ema, check_smoothing, ramp
from .range_result import MAX_NUM_ITER, RangeTest
from .restoring import _Short, restoring

__all__ = ["METHODS", "PRECISIONS", "RULES", "RangeTest", "range_test"]

#: What ``precision`` accepts besides ``None`` (full precision), and the autocast dtypes.
PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16}

# Divergence is not tested on the first few steps: the bias-corrected EMA is then nearly the
# raw loss of one or two batches, and one unlucky batch must not end the test.
_WARMUP = 5
_MAX_ACCUMULATION = 10_000
# A gradient scaler halves its scale at each overflow; this many skipped steps in a row take
# it from 65536 to far below 1, so the gradients themselves are not finite: the loss diverged.
_MAX_SKIPS = 30


def _check_loader(name: str, loader: object) -> None:
    if is_full_batch(loader):
        return
    if isinstance(loader, (str, bytes, Mapping)) or not isinstance(loader, Iterable):
        _checks.fail(
            name,
            _Short(loader),
            "expected a DataLoader, an iterable of batches or a pair (X, y) of tensors",
            TypeError,
        )
    try:
        empty = len(loader) == 0
    except TypeError:  # unsized iterables are checked when the first batch is drawn
        empty = False
    if empty:
        _checks.fail(name, _Short(loader), "it is empty: it yields no batches")


def _group_ratios(optimizer: torch.optim.Optimizer) -> list[float]:
    """Each group's learning rate over the largest one: the ratios the test keeps."""
    lrs = [float(g["lr"]) for g in optimizer.param_groups]
    top = max(lrs)
    if not (math.isfinite(top) and top > 0):
        return [1.0] * len(lrs)
    return [lr / top for lr in lrs]


def _set_lr(optimizer: torch.optim.Optimizer, lr: float, ratios: list[float]) -> None:
    for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
        if isinstance(group["lr"], torch.Tensor):  # fused and capturable optimizers
            group["lr"].fill_(lr * ratio)
        else:
            group["lr"] = lr * ratio


class _Validation:
    """The mean validation loss over the same batches after every step (no gradients)."""

    def __init__(self, loader: Any, batches: int | None, run: Callable[[Any], torch.Tensor]):
        if is_full_batch(loader):
            loader = [tuple(loader)]
        elif isinstance(loader, Iterator):  # a one-shot iterator: keep what each pass uses
            loader = list(itertools.islice(loader, batches))
        self.loader, self.batches, self.run = loader, batches, run

    def loss(self, model: nn.Module) -> float:
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        total, count = 0.0, 0
        try:
            with torch.no_grad():
                for batch in itertools.islice(self.loader, self.batches):
                    n = batch_size(batch)
                    total += float(self.run(batch)) * n
                    count += n
        finally:
            for m, training in modes:
                m.training = training
        if count == 0:
            _checks.fail("val_loader", _Short(self.loader), "it is empty: it yields no batches")
        return total / count


def range_test(
    model: nn.Module,
    loss_fn: Callable | None,
    loader: Any,
    optimizer: torch.optim.Optimizer,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    mode: str = "exp",
    smoothing: float = 0.05,
    diverge_factor: float = 5.0,
    accumulation_steps: int = 1,
    device: Any = None,
    val_loader: Any = None,
    val_batches: int | None = None,
    step_fn: Callable | None = None,
    precision: str | None = None,
    scaler: Any = None,
    scheduler: Any = None,
    max_grad_norm: float | None = None,
) -> RangeTest:
    """Run the learning-rate range test on a model, then put everything back as it was.

    Iteration ``i`` (of ``num_iter``) sets the learning rate to ``start_lr * (end_lr /
    start_lr) ** (i / (num_iter - 1))`` (``mode="exp"``) or ``start_lr + (end_lr - start_lr) *
    i / (num_iter - 1)`` (``mode="linear"``), computes the loss of the next batch in training
    mode and takes one optimizer step. With several parameter groups the ramp sets the group
    that started with the largest learning rate, and every other group keeps its ratio to it
    (discriminative learning rates stay discriminative). With ``val_loader``, the validation
    loss is measured after each step, in evaluation mode, and the suggestions are read from
    it. The test stops early when the smoothed curve (validation when there is one) rises above
    ``diverge_factor`` times its best so far (checked from the sixth iteration on; for a
    negative best, the rise is measured against ``|best|``), or when a loss is not finite.

    Batches: ``(inputs, targets, *extras)`` tuples or lists give ``loss_fn(model(inputs),
    targets)``; dicts give ``model(**batch)``, which must return the loss (or an object or
    dict with ``loss``); anything else needs ``step_fn``. Tensors are moved to ``device``,
    other inputs (lists of words, nested structures) are passed through as they are.

    Args:
        model: The ``nn.Module`` to test; it is not moved between devices.
        loss_fn: ``loss_fn(outputs, targets)`` returning a scalar tensor; ``None`` when the
            batches are dicts whose model returns its loss, or with ``step_fn``.
        loader: A ``DataLoader`` or any iterable of batches, cycled when it runs out (a
            one-shot iterator's batches are kept in memory and replayed); or a pair ``(X, y)``
            of tensors, used as one full batch every time.
        optimizer: The optimizer to step; it must hold some of the model's trainable
            parameters. Optimizers whose ``step`` needs a closure (LBFGS) are not supported.
        start_lr: Learning rate of the first iteration (> 0).
        end_lr: Learning rate of the last iteration (> start_lr).
        num_iter: Number of iterations (optimizer steps that were taken), 5 to 100000.
        mode: ``"exp"`` (even steps in log lr; the usual choice) or ``"linear"``.
        smoothing: Weight of the newest loss in the bias-corrected EMA, in ``(0, 1]``.
        diverge_factor: Stop when the smoothed loss exceeds this multiple of its best (> 1).
        accumulation_steps: Micro-batches per optimizer step; each backpropagates
            ``loss / accumulation_steps``, so with a mean-reduced loss ``k`` batches of ``b``
            act like one batch of ``k * b``.
        device: Where batches are moved; default: the device of the model's first parameter.
        val_loader: Validation batches (read like ``loader``), evaluated after every step.
        val_batches: Use only the first this many validation batches each time (all if None).
        step_fn: ``step_fn(model, batch) -> loss`` for batches or models lrlab cannot read;
            it gets the batch with its tensors on ``device`` and runs the forward pass only
            (lrlab does the backward pass and the step). Also used for validation.
        precision: ``None`` (as the model is), ``"bf16"`` or ``"fp16"``: autocast to that type
            on the model's device type (bf16 works on the CPU). fp16 scales the loss with a
            ``torch.amp.GradScaler``; steps it skips for overflow are not counted.
        scaler: Your own ``GradScaler`` to scale the loss with (and restore afterwards).
        scheduler: A learning-rate scheduler attached to the optimizer: it is not stepped
            during the test, and its state is restored exactly afterwards.
        max_grad_norm: Clip the gradients' total norm to this before each step, as your
            training does (after unscaling, with a scaler).

    Returns:
        A :class:`RangeTest` with the curve, the suggestions and the recommended rate (per
        parameter group in :attr:`RangeTest.recommended_groups`).

    Raises:
        TypeError: An argument of the wrong kind (not a module, not an optimizer, a batch
            lrlab cannot read -- named by its type, with ``step_fn=`` offered -- a loss that
            is not a tensor).
        ValueError: A bad value: no trainable parameters, an optimizer without any of them,
            a non-scalar loss, an empty loader, bad learning rates or counts, a loss that is
            not finite at the first step. Model and optimizer are then left unchanged.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> X, y = torch.randn(512, 10), torch.randn(512, 1)
        >>> model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))
        >>> opt = torch.optim.Adam([{"params": model[0].parameters(), "lr": 1e-4},
        ...                         {"params": model[2].parameters(), "lr": 1e-3}])
        >>> loader = torch.utils.data.DataLoader(list(zip(X, y)), batch_size=32, shuffle=True)
        >>> rt = range_test(model, nn.MSELoss(), loader, opt, end_lr=1.0, num_iter=60,
        ...                 val_loader=(X[:64], y[:64]), precision="bf16", max_grad_norm=1.0)
        >>> len(rt.lrs) == len(rt.val_losses) <= 60, rt.settings["group_ratios"]
        (True, [0.1, 1.0])

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017; fastai
        ``Learner.lr_find``; torch-lr-finder ``LRFinder.range_test``.
    """
    if not isinstance(model, nn.Module):
        _checks.fail("model", _Short(model), "expected a torch.nn.Module", TypeError)
    if loss_fn is not None and not callable(loss_fn):
        _checks.fail(
            "loss_fn", _Short(loss_fn), "expected a callable (outputs, targets) -> loss", TypeError
        )
    if step_fn is not None and not callable(step_fn):
        _checks.fail(
            "step_fn", _Short(step_fn), "expected a callable (model, batch) -> loss", TypeError
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        _checks.fail("optimizer", _Short(optimizer), "expected a torch.optim.Optimizer", TypeError)
    start_lr = _checks.positive_float("start_lr", start_lr)
    end_lr = _checks.positive_float("end_lr", end_lr)
    if start_lr >= end_lr:
        _checks.fail("end_lr", end_lr, f"must be greater than start_lr={start_lr!r}")
    num_iter = _checks.int_in_range("num_iter", num_iter, 5, MAX_NUM_ITER)
    mode = _checks.one_of("mode", mode, ("exp", "linear"))
    smoothing = check_smoothing(smoothing)
    diverge_factor = _checks.positive_float("diverge_factor", diverge_factor)
    if diverge_factor <= 1:
        _checks.fail("diverge_factor", diverge_factor, "must be > 1 (a multiple of the best loss)")
    accumulation_steps = _checks.int_in_range(
        "accumulation_steps", accumulation_steps, 1, _MAX_ACCUMULATION
    )
    if precision is not None:
        precision = _checks.one_of("precision", precision, PRECISIONS)
    if max_grad_norm is not None:
        max_grad_norm = _checks.positive_float("max_grad_norm", max_grad_norm)
    if val_batches is not None:
        if val_loader is None:
            _checks.fail("val_batches", val_batches, "needs a val_loader to take batches from")
        val_batches = _checks.int_in_range("val_batches", val_batches, 1, MAX_NUM_ITER)
    for name, obj in (("scaler", scaler), ("scheduler", scheduler)):
        if obj is not None and not callable(getattr(obj, "state_dict", None)):
            _checks.fail(name, _Short(obj), "expected an object with state_dict", TypeError)

    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        _checks.fail("model", _Short(model), "it has no trainable parameters (requires_grad=True)")
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in trainable):
        _checks.fail(
            "model",
            _Short(model),
            "it has uninitialised (lazy) parameters: run one forward pass first",
        )
    held = {id(p) for g in optimizer.param_groups for p in g["params"]}
    if not any(id(p) in held for p in trainable):
        _checks.fail(
            "optimizer", _Short(optimizer), "it holds none of the model's trainable parameters"
        )
    if device is None:
        device = trainable[0].device
    else:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError):
            _checks.fail("device", device, "expected a torch.device or a name like 'cpu', 'cuda'")
    _check_loader("loader", loader)
    if val_loader is not None:
        _check_loader("val_loader", val_loader)

    lrs = ramp(start_lr, end_lr, num_iter, mode)
    if any(b <= a for a, b in itertools.pairwise(lrs)):
        _checks.fail(
            "end_lr",
            end_lr,
            f"too close to start_lr={start_lr!r} for {num_iter} distinct learning rates",
        )
    ratios = _group_ratios(optimizer)
    if scaler is None and precision == "fp16":
        scaler = torch.amp.GradScaler(device.type)

    def autocast() -> contextlib.AbstractContextManager:
        if precision is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=PRECISIONS[precision])

    def loss_of(batch: object, *, training: bool = True, name: str = "loader") -> torch.Tensor:
        with autocast():
            return batch_loss(
                model, loss_fn, batch, device, step_fn, loader_name=name, training=training
            )

    validation = (
        None
        if val_loader is None
        else _Validation(
            val_loader, val_batches, lambda b: loss_of(b, training=False, name="val_loader")
        )
    )
    params = [p for g in optimizer.param_groups for p in g["params"]]
    batches = cycle(loader)
    seen_lrs: list[float] = []
    losses: list[float] = []
    val_losses: list[float] = []
    notes: list[str] = []
    stopped, drawn, skipped, skips_in_a_row = False, 0, 0, 0
    # A loss module with parameters or buffers of its own is kept as well.
    keep_loss = restoring(loss_fn) if isinstance(loss_fn, nn.Module) else contextlib.nullcontext()
    with restoring(model, optimizer, scaler=scaler, scheduler=scheduler), keep_loss:
        model.train()
        ema = Ema(smoothing)
        best = math.inf
        i = 0
        while i < num_iter:
            lr = lrs[i]
            _set_lr(optimizer, lr, ratios)
            model.zero_grad(set_to_none=True)
            optimizer.zero_grad(set_to_none=True)
            total, finite = 0.0, True
            for _ in range(accumulation_steps):
                batch = next(batches, None)
                if batch is None:
                    _checks.fail(
                        "loader",
                        _Short(loader),
                        "it is empty: it yields no batches"
                        if drawn == 0
                        else "it stopped yielding batches",
                    )
                drawn += 1
                loss = loss_of(batch)
                value = float(loss.detach())
                if not math.isfinite(value):
                    if i == 0:
                        _checks.fail(
                            "loss_fn" if step_fn is None else "step_fn",
                            _Short(loss_fn if step_fn is None else step_fn),
                            f"the loss was not finite at the first step (loss={value} "
                            f"at lr={fmt(lr)}): check the data, the model's "
                            "initialisation and the loss",
                        )
                    total, finite = value, False
                    break
                if accumulation_steps > 1:
                    loss = loss / accumulation_steps
                (loss if scaler is None else scaler.scale(loss)).backward()
                total += value
            step_loss = total / accumulation_steps if finite else total
            if not finite:
                seen_lrs.append(lr)
                losses.append(step_loss)
                if validation is not None:
                    val_losses.append(math.nan)
                stopped = True
                break
            if scaler is not None and max_grad_norm is not None:
                scaler.unscale_(optimizer)
            if max_grad_norm is not None:
                nn.utils.clip_grad_norm_(params, max_grad_norm)
            if scaler is None:
                optimizer.step()
            else:
                scale = scaler.get_scale()
                scaler.step(optimizer)
                scaler.update()
                # The scaler lowers its scale exactly when it skipped the step for overflow.
                if scaler.get_scale() < scale:
                    skipped += 1
                    skips_in_a_row += 1
                    if skips_in_a_row >= _MAX_SKIPS:
                        notes.append(
                            f"{_MAX_SKIPS} steps in a row overflowed in fp16 at lr={fmt(lr)}: "
                            "the gradients are not finite, so the test stopped there"
                        )
                        stopped = True
                        break
                    continue  # the same learning rate again, with the next batch
            skips_in_a_row = 0
            seen_lrs.append(lr)
            losses.append(step_loss)
            curve = step_loss
            if validation is not None:
                curve = validation.loss(model)
                val_losses.append(curve)
            i += 1
            smooth = ema.update(curve)
            best = min(best, smooth)
            if not math.isfinite(smooth) or (
                i > _WARMUP and smooth > best + (diverge_factor - 1.0) * abs(best)
            ):
                stopped = True
                break

    settings = {
        "start_lr": start_lr,
        "end_lr": end_lr,
        "num_iter": num_iter,
        "mode": mode,
        "smoothing": smoothing,
        "diverge_factor": diverge_factor,
        "accumulation_steps": accumulation_steps,
        "group_ratios": ratios,
        "precision": precision,
        "max_grad_norm": max_grad_norm,
        "val_batches": val_batches,
        "skipped_steps": skipped,
    }
    if not seen_lrs:  # every step overflowed
        _checks.fail(
            "precision",
            precision,
            "every step overflowed: the loss or its gradients are not finite in this precision",
        )
    rt = RangeTest.from_curve(
        seen_lrs,
        losses,
        smoothing=smoothing,
        stopped_early=stopped,
        settings=settings,
        val_losses=val_losses if validation is not None else None,
    )
    if notes:
        rt = RangeTest(**{**rt.__dict__, "notes": (*notes, *rt.notes)})
    return rt
