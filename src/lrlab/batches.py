"""From whatever a data loader yields to a loss: the batches a range test can read.

Training code comes in a few shapes, and each has one reading:

* a tuple or list ``(inputs, targets, *extras)``: ``loss_fn(model(inputs), targets)``; the
  extras (sample weights, indices, lengths) are ignored;
* a dict: ``model(**batch)``, which must return the loss -- a scalar tensor, or an object or
  dict carrying it as ``loss`` (a Hugging Face model given its ``labels``, say);
* anything else, or any loop of one's own: ``step_fn(model, batch) -> loss``, which may
  return the same three kinds of loss.

Tensors anywhere in a batch (nested tuples, named tuples, lists, dicts) are moved to the
device; everything else (lists of words, strings, numbers) is passed through as it is.

Example:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(2, 1)
    >>> batch = (torch.ones(4, 2), torch.zeros(4, 1), torch.arange(4))  # extras are ignored
    >>> loss = batch_loss(model, nn.MSELoss(), batch, torch.device("cpu"))
    >>> loss.shape, loss.requires_grad
    (torch.Size([]), True)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from . import _checks
from .restoring import _Short

__all__ = ["batch_loss", "batch_size", "cycle", "is_full_batch", "read_loss", "to_device"]

#: What an unreadable batch is told, beside its type.
_HOW = (
    "lrlab reads (inputs, targets, *extras) tuples and lists, and dicts given to the model "
    "as model(**batch) when it returns the loss (or an object with .loss); for any other "
    "batch pass step_fn=lambda model, batch: loss"
)


def is_full_batch(loader: object) -> bool:
    """Whether ``loader`` is a pair ``(X, y)`` of tensors: one full batch, used every time.

    Example:
        >>> is_full_batch((torch.ones(3, 2), torch.zeros(3))), is_full_batch([torch.ones(3)])
        (True, False)
    """
    return (
        isinstance(loader, (tuple, list))
        and len(loader) == 2
        and all(isinstance(t, torch.Tensor) for t in loader)
    )


def cycle(loader: Iterable) -> Iterator:
    """Batches for ever: re-iterate the loader when a pass ends.

    A one-shot iterator (a generator) cannot be re-iterated, so its batches are kept and
    replayed; a loader that yields nothing in a pass ends the stream.

    Example:
        >>> list(itertools.islice(cycle(iter([1, 2])), 5))
        [1, 2, 1, 2, 1]
    """
    if is_full_batch(loader):
        yield from itertools.repeat(tuple(loader))
        return
    one_shot = isinstance(loader, Iterator)
    seen = []
    while True:
        count = 0
        for batch in loader:
            count += 1
            if one_shot:
                seen.append(batch)
            yield batch
        if count == 0:
            return
        if one_shot:
            yield from itertools.cycle(seen)
            return


def to_device(obj: Any, device: torch.device) -> Any:
    """``obj`` with every tensor in it moved to ``device``; anything else passed through.

    Tuples, named tuples, lists and dicts are rebuilt with their own type.

    Example:
        >>> to_device((["a", "b"], {"x": torch.ones(1)}), torch.device("cpu"))
        (['a', 'b'], {'x': tensor([1.])})
    """
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_device(o, device) for o in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, to_device(v, device)) for k, v in obj.items())
    return obj


def read_loss(out: object, who: str, source: object, *, training: bool = True) -> torch.Tensor:
    """The scalar loss in ``out``: a tensor, a dict's ``"loss"`` or an object's ``.loss``.

    ``who`` and ``source`` name what produced it in an error. In training the loss must
    depend on a trainable parameter.

    Example:
        >>> read_loss({"loss": torch.tensor(2.0, requires_grad=True)}, "step_fn", None)
        tensor(2., requires_grad=True)
    """
    loss = out
    if isinstance(out, Mapping) and "loss" in out:
        loss = out["loss"]
    elif not isinstance(out, torch.Tensor) and isinstance(getattr(out, "loss", None), torch.Tensor):
        loss = out.loss
    if not isinstance(loss, torch.Tensor):
        _checks.fail(
            who,
            _Short(source),
            f"it returned a {type(out).__name__}; expected a scalar tensor, or a dict or "
            "object carrying one as loss",
            TypeError,
        )
    if loss.numel() != 1:
        _checks.fail(
            who,
            _Short(source),
            f"it returned a loss of shape {tuple(loss.shape)}; expected a scalar "
            "(reduce the loss, e.g. reduction='mean')",
        )
    if training and not loss.requires_grad:
        _checks.fail(
            who, _Short(source), "its loss does not depend on any trainable parameter (no grad_fn)"
        )
    return loss if loss.ndim == 0 else loss.reshape(())


def batch_loss(
    model: nn.Module,
    loss_fn: Callable | None,
    batch: object,
    device: torch.device,
    step_fn: Callable | None = None,
    *,
    loader_name: str = "loader",
    training: bool = True,
) -> torch.Tensor:
    """The loss of one batch, read as the module docstring says.

    Raises:
        TypeError: A batch lrlab cannot read (its type is named, and ``step_fn=`` offered), or
            a tuple batch without a ``loss_fn``.

    Example:
        >>> model = nn.Linear(2, 1)
        >>> step = lambda m, b: (m(b["x"]) ** 2).mean()
        >>> batch_loss(model, None, {"x": torch.ones(3, 2)}, torch.device("cpu"), step).ndim
        0
    """
    batch = to_device(batch, device)
    if step_fn is not None:
        return read_loss(step_fn(model, batch), "step_fn", step_fn, training=training)
    if isinstance(batch, Mapping):
        return read_loss(model(**batch), "model", model, training=training)
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        if loss_fn is None:
            _checks.fail(
                "loss_fn",
                None,
                "batches of (inputs, targets) need loss_fn(outputs, targets) -> loss; "
                "or pass step_fn=lambda model, batch: loss",
                TypeError,
            )
        inputs, targets = batch[0], batch[1]
        return read_loss(loss_fn(model(inputs), targets), "loss_fn", loss_fn, training=training)
    kind = type(batch).__name__
    if isinstance(batch, (tuple, list)):
        kind += f" of length {len(batch)}"
    _checks.fail(
        loader_name, _Short(batch), f"cannot read a batch of type {kind}: {_HOW}", TypeError
    )
    raise AssertionError  # unreachable: fail raises


def batch_size(batch: object) -> int:
    """How many samples a batch holds, for weighting batch means (1 when it cannot tell).

    The length of the targets of a tuple batch, else the first dimension of the first
    tensor found in it.

    Example:
        >>> batch_size((torch.ones(5, 2), torch.zeros(5))), batch_size("words")
        (5, 1)
    """
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        targets = batch[1]
        if isinstance(targets, torch.Tensor) and targets.ndim > 0:
            return int(targets.shape[0])
    values = batch.values() if isinstance(batch, Mapping) else batch
    if isinstance(values, torch.Tensor):
        return int(values.shape[0]) if values.ndim > 0 else 1
    if isinstance(values, Iterable) and not isinstance(values, (str, bytes)):
        for v in values:
            if isinstance(v, torch.Tensor) and v.ndim > 0:
                return int(v.shape[0])
    return 1
