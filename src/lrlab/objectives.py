"""Objectives: anything to minimise, as one flat parameter vector evaluated for many lanes at once.

An :class:`Objective` answers one question for the descent engine: given ``K`` parameter
vectors stacked as ``W`` of shape ``(K, dim)`` and a batch of data, what are the ``K`` costs
and their ``K`` gradients?  Lanes never interact, so one call serves a whole sweep.

Four kinds of objective share that interface:

* an **expression** typed by a person, parsed (never evaluated as Python) by :mod:`lrlab.expr`;
* a **catalogue** function with known minima and sharpness, from :mod:`lrlab.analytic`;
* a **dataset problem** on data shipped with scikit-learn, from :mod:`lrlab.datasets`;
* a user's own ``nn.Module`` with a loss and data.

Analytic objectives (expressions, catalogue) compute in float64; models in their own dtype.
"""

from __future__ import annotations

import importlib
import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from . import _checks, analytic, datasets, expr, globalmin, stacked, symbolic
from ._format import parse_spec
from .analytic import Minimum

__all__ = ["MAX_DIM", "Objective", "catalogue_table", "objective"]

#: The most parameters one objective may have (a 100M-parameter model is out of scope here).
MAX_DIM = 50_000_000

Batch = tuple | None
LaneFn = Callable[[torch.Tensor, Batch], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True, eq=False)
class Objective:
    """Something to minimise over a flat parameter vector of length ``dim``.

    Build one with :func:`objective`; the descent engine only calls :meth:`value_and_grad`
    and :meth:`batches`.

    Attributes:
        name: how the objective was named or typed.
        kind: ``"expression"``, ``"catalogue"``, ``"dataset"`` or ``"model"``.
        dim: number of parameters.
        start: the default starting point, shape ``(dim,)``.
        param_names: coordinate names for analytic objectives (``("x", "y")``), else None.
        minima: known minima, global first (empty when unknown).
        sharpness_at_minimum: top Hessian eigenvalue at the global minimum, when known.
        box: plotting range per coordinate for 1-D and 2-D objectives.
        description: one sentence for people.
        formula: the cost as text, for analytic objectives.
        batch_size: mini-batch size, or None for full-batch gradient descent.

    Example:
        >>> f = objective("x**2 + 10*y**2")
        >>> f.dim, f.param_names
        (2, ('x', 'y'))
        >>> values, grads = f.value_and_grad(torch.tensor([[1.0, 1.0], [0.0, 0.5]]))
        >>> values.tolist(), grads.tolist()
        ([11.0, 2.5], [[2.0, 20.0], [0.0, 10.0]])
    """

    name: str
    kind: str
    dim: int
    start: torch.Tensor
    _lanes: LaneFn = field(repr=False)
    _batches: Callable[[int], Iterator[Batch]] = field(repr=False)
    _full_batch: Callable[[], Iterator[tuple[Batch, float]]] = field(repr=False)
    _single: Callable[[torch.Tensor, Batch], torch.Tensor] = field(repr=False)
    param_names: tuple[str, ...] | None = None
    minima: tuple[Minimum, ...] = ()
    sharpness_at_minimum: float | None = None
    box: tuple[tuple[float, float], ...] | None = None
    description: str = ""
    formula: str | None = None
    batch_size: int | None = None
    _minimum: Callable[[], float | None] | None = field(default=None, repr=False)
    # Costs alone, without gradients (e.g. for a contour grid); None: the lanes' costs.
    _values: Callable[[torch.Tensor, Batch], torch.Tensor] | None = field(default=None, repr=False)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the parameters and of every cost."""
        return self.start.dtype

    @property
    def device(self) -> torch.device:
        """Where the computation runs."""
        return self.start.device

    @property
    def minimum(self) -> float | None:
        """The global minimum value when known (catalogue, convex dataset problems), else None."""
        if self.minima:
            return self.minima[0].value
        return self._minimum() if self._minimum is not None else None

    @property
    def stochastic(self) -> bool:
        """Whether steps see mini-batches rather than the full data."""
        return self.batch_size is not None

    def value_and_grad(
        self, W: torch.Tensor, batch: Batch = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Costs ``(K,)`` and gradients ``(K, dim)`` of ``K`` independent lanes ``W (K, dim)``.

        ``batch`` is one item of :meth:`batches`; None means the full data.
        """
        return self._lanes(W, batch)

    def cost(self, w: torch.Tensor, batch: Batch = None) -> torch.Tensor:
        """The cost at one point ``w (dim,)`` as a differentiable scalar tensor.

        Composable with ``torch.func`` (``grad``, ``jvp``, ``hessian``), which is how curvature
        is measured. ``batch`` None means the full data.

        Example:
            >>> f = objective("x**2 + 3*y**2")
            >>> torch.func.hessian(f.cost)(torch.zeros(2, dtype=torch.float64)).diag().tolist()
            [2.0, 6.0]
        """
        if batch is not None:
            return self._single(w, batch)
        total = None
        for b, weight in self._full_batch():
            c = weight * self._single(w, b)
            total = c if total is None else total + c
        return total

    def full_value_and_grad(self, W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Full-data costs and gradients of the lanes ``W (K, dim)``.

        For a DataLoader this is the average over one pass, weighted by batch size.
        """
        total_L = total_G = None
        for batch, weight in self._full_batch():
            L, G = self._lanes(W, batch)
            total_L = weight * L if total_L is None else total_L + weight * L
            total_G = weight * G if total_G is None else total_G + weight * G
        return total_L, total_G

    def losses(self, W: torch.Tensor) -> torch.Tensor:
        """Full-data costs ``(K,)`` of the lanes ``W (K, dim)``, without gradients."""
        if self._values is None:
            return self.full_value_and_grad(W)[0]
        total = None
        with torch.no_grad():
            for batch, weight in self._full_batch():
                v = weight * self._values(W, batch)
                total = v if total is None else total + v
        return total

    def loss(self, w: torch.Tensor | Sequence[float]) -> float:
        """The full-data cost at one point.

        Example:
            >>> objective("rosenbrock").loss([1.0, 1.0])
            0.0
        """
        return float(self.losses(self.point(w)[None])[0])

    def batches(self, steps: int) -> Iterator[Batch]:
        """The data each of ``steps`` steps sees: the same for every lane of a sweep."""
        return self._batches(steps)

    def point(self, w: torch.Tensor | Sequence[float] | None, name: str = "start") -> torch.Tensor:
        """``w`` checked and converted to a ``(dim,)`` tensor of this objective; None gives the
        start. ``name`` is the argument a refusal names.

        Example:
            >>> objective("booth").point([1, 2]).tolist()
            [1.0, 2.0]
        """
        if w is None:
            return self.start
        if isinstance(w, str):
            _checks.fail(name, w, f"expected {self.dim} numbers", TypeError)
        try:
            t = torch.as_tensor(w, dtype=self.dtype).to(self.device).reshape(-1)
        except (TypeError, ValueError, RuntimeError):
            _checks.fail(name, w, f"expected {self.dim} numbers", TypeError)
        if t.numel() != self.dim:
            names = f" ({', '.join(self.param_names)})" if self.param_names else ""
            _checks.fail(
                name,
                w,
                f"expected {self.dim} number{'s' if self.dim != 1 else ''}{names}, got {t.numel()}",
            )
        if not torch.isfinite(t).all():
            _checks.fail(name, w, "every coordinate must be finite")
        return t

    def to(self, device: str | torch.device) -> Objective:
        """This objective computing on ``device`` (e.g. ``"cuda"``); a user's model is not moved.

        Example:
            >>> objective("booth").to("cpu").device.type
            'cpu'
        """
        device = torch.device(device)
        if device == self.device:
            return self
        if self.kind in ("expression", "catalogue"):
            return replace(self, start=self.start.to(device))
        _checks.fail(
            "device", device, "move the model and data there before building the objective"
        )

    def describe(self) -> dict:
        """A JSON-ready summary: name, kind, dimension, known facts.

        Example:
            >>> objective("parabola").describe()["sharpness_at_minimum"]
            2.0
        """
        return {
            "name": self.name,
            "kind": self.kind,
            "dim": self.dim,
            "params": list(self.param_names) if self.param_names else None,
            "formula": self.formula,
            "description": self.description,
            "start": self.start.tolist() if self.dim <= 16 else None,
            "minimum": self.minimum,
            "minima": [
                {"point": list(m.point), "value": m.value, "kind": m.kind} for m in self.minima
            ],
            "sharpness_at_minimum": self.sharpness_at_minimum,
            "box": [list(b) for b in self.box] if self.box else None,
            "batch_size": self.batch_size,
        }


# ---------------------------------------------------------------------------------------------
# Analytic objectives: a torch function of the coordinates, batched over leading dimensions.


def _analytic_lanes(
    fn: Callable[[torch.Tensor], torch.Tensor], program: symbolic.Program
) -> LaneFn:
    def lanes(W: torch.Tensor, batch: Batch = None) -> tuple[torch.Tensor, torch.Tensor]:
        # On the CPU, the gradient derived once (lrlab.symbolic) costs a fraction of
        # autograd's per-step graph; the choice depends on the device only, never on the
        # number of lanes, so a sweep's shards compute exactly what the whole sweep does.
        if W.is_cpu and W.dtype in _PROGRAM_DTYPES:
            values, grads = program(W.numpy(force=True))
            return torch.from_numpy(values), torch.from_numpy(grads)
        with torch.enable_grad():
            W = W.detach().requires_grad_(True)
            values = fn(W)
            # Lanes are independent, so the gradient of the sum is every lane's own gradient.
            # (Passing ones as grad_outputs instead makes torch import sympy: +0.7 s startup.)
            if values.requires_grad:
                (grads,) = torch.autograd.grad(values.sum(), W)
            else:
                grads = torch.zeros_like(W)
        return values.detach(), grads

    return lanes


_PROGRAM_DTYPES = (torch.float64, torch.float32)


def _full_data_once() -> Iterator[tuple[Batch, float]]:
    yield None, 1.0


def _no_data(steps: int) -> Iterator[Batch]:
    for _ in range(steps):
        yield None


def _analytic(
    name: str,
    kind: str,
    fn: Callable[[torch.Tensor], torch.Tensor],
    expression: expr.Expression,
    start: Sequence[float],
    *,
    minima: tuple[Minimum, ...] = (),
    sharpness: float | None = None,
    box: tuple[tuple[float, float], ...] | None = None,
    description: str = "",
    formula: str | None = None,
    device: str | torch.device | None = None,
) -> Objective:
    return Objective(
        name=name,
        kind=kind,
        dim=len(expression.params),
        start=torch.tensor(list(start), dtype=torch.float64, device=device),
        _lanes=_analytic_lanes(fn, symbolic.program(expression)),
        _batches=_no_data,
        _full_batch=_full_data_once,
        _single=lambda w, batch=None: fn(w[None])[0],
        _values=lambda W, batch=None: fn(W),
        param_names=expression.params,
        minima=minima,
        sharpness_at_minimum=sharpness,
        box=box,
        description=description,
        formula=formula,
    )


def _expression_box(start: Sequence[float]) -> tuple[tuple[float, float], ...]:
    return tuple((min(-3.0, s - 1.0), max(3.0, s + 1.0)) for s in start)


#: Where an expression starts unless told: a point off the axes, where the usual
#: textbook examples (x**2, (x-1)**2, x**4 - 4*x**2 + x) all have a non-zero gradient.
EXPRESSION_START = 2.0


def _from_expression(text: str, device) -> Objective:
    e = expr.parse(text)
    start = (EXPRESSION_START,) * len(e.params)
    box = _expression_box(start) if len(e.params) <= 2 else None
    return _analytic(
        text,
        "expression",
        e,
        e,
        start,
        # one or two variables: the minima by a search of the box, run on first use
        minima=globalmin.Minima(e, box) if box is not None else (),
        box=box,
        description="A cost typed as an expression.",
        formula=str(e),
        device=device,
    )


def _from_catalogue(entry: analytic.Entry, device) -> Objective:
    return _analytic(
        entry.name,
        "catalogue",
        entry.fn,
        # The formula, parsed, is the same cost as entry.fn (tests/test_symbolic.py checks
        # every entry): its gradient program serves the lanes.
        expr.parse(entry.formula),
        entry.start,
        minima=entry.minima,
        sharpness=entry.sharpness,
        box=entry.box,
        description=entry.description,
        formula=entry.formula,
        device=device,
    )


# ---------------------------------------------------------------------------------------------
# Model objectives: a user's nn.Module (or a dataset problem's), run functionally per lane.


def _trainable(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def _check_model(model: nn.Module) -> None:
    if not _trainable(model):
        _checks.fail("model", type(model).__name__, "it has no trainable parameters")
    for m in model.modules():
        # Asked of the layer, not of its class: every batch-norm variant (lazy, synchronised,
        # third-party) and an instance norm that tracks statistics expose the same public flag.
        if m.training and getattr(m, "track_running_stats", False) is True:
            raise ValueError(
                "model: batch-norm layers in training mode update running statistics, which "
                "lanes of a sweep cannot share; call model.eval() first or use GroupNorm/LayerNorm"
            )


def _as_inputs(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _model_lanes(
    model: nn.Module, loss_fn: Callable, l2: float, device
) -> tuple[LaneFn, Callable, torch.Tensor]:
    named = _trainable(model)
    names = [n for n, _ in named]
    shapes = [p.shape for _, p in named]
    sizes = [p.numel() for _, p in named]
    frozen = {n: p.detach().to(device) for n, p in model.named_parameters() if not p.requires_grad}
    # Private copies: a forward pass must never touch the user's own buffers.
    buffers = {n: b.detach().clone().to(device) for n, b in model.named_buffers()}
    start = torch.cat([p.detach().reshape(-1) for _, p in named]).clone().to(device)

    def single(w: torch.Tensor, x, y) -> torch.Tensor:
        params = dict(zip(names, (c.view(s) for c, s in zip(w.split(sizes), shapes))))
        out = torch.func.functional_call(model, (params, frozen, buffers), _as_inputs(x))
        loss = loss_fn(out, y)
        if l2:
            loss = loss + 0.5 * l2 * w.pow(2).sum()
        return loss

    batched = torch.func.vmap(
        torch.func.grad_and_value(single), in_dims=(0, None, None), randomness="same"
    )

    fast = stacked.stacked_lanes(model, loss_fn, l2)

    def lanes(W: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        if fast is not None:
            try:
                return fast(W, batch)
            except stacked.Unsupported:
                pass
        x, y = batch
        grads, values = batched(W.detach(), x, y)
        return values.detach(), grads.detach()

    return lanes, lambda w, batch: single(w, *batch), start


def _tensor_data(data, batch_size: int | None, seed: int, device):
    X, y = data
    if not isinstance(X, (torch.Tensor, tuple, list)) or not isinstance(y, torch.Tensor):
        _checks.fail(
            "data",
            type(data).__name__,
            "expected (inputs, targets) tensors or a DataLoader",
            TypeError,
        )
    Xs = tuple(t.to(device) for t in _as_inputs(X))
    y = y.to(device)
    n = y.shape[0]
    if n == 0 or any(t.shape[0] != n for t in Xs):
        _checks.fail(
            "data",
            f"{[t.shape[0] for t in Xs]} inputs, {n} targets",
            "inputs and targets need the same, non-zero number of rows",
        )
    X_in = Xs if len(Xs) > 1 else Xs[0]
    if batch_size is not None:
        _checks.int_in_range("batch_size", batch_size, 1, n)

    def full() -> Iterator[tuple[Batch, float]]:
        yield (X_in, y), 1.0

    def batches(steps: int) -> Iterator[Batch]:
        if batch_size is None:
            for _ in range(steps):
                yield X_in, y
            return
        # One seeded generator: every sweep over this objective sees the same batches.
        gen = torch.Generator().manual_seed(seed)
        per_epoch = n // batch_size
        done = 0
        while done < steps:
            order = torch.randperm(n, generator=gen).to(device)
            for b in range(per_epoch):
                if done == steps:
                    return
                idx = order[b * batch_size : (b + 1) * batch_size]
                yield (tuple(t[idx] for t in Xs) if len(Xs) > 1 else Xs[0][idx]), y[idx]
                done += 1

    return batches, full


def _loader_data(loader: Iterable, device):
    def to_device(batch):
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            _checks.fail(
                "data",
                type(batch).__name__,
                "each batch must be an (inputs, targets) pair",
                TypeError,
            )
        x, y = batch
        x = tuple(t.to(device) for t in x) if isinstance(x, (tuple, list)) else x.to(device)
        return x, y.to(device)

    def batches(steps: int) -> Iterator[Batch]:
        done = 0
        while done < steps:
            empty = True
            for batch in loader:
                empty = False
                if done == steps:
                    return
                yield to_device(batch)
                done += 1
            if empty:
                _checks.fail("data", type(loader).__name__, "the loader yielded no batch")

    def full() -> Iterator[tuple[Batch, float]]:
        sized = [to_device(b) for b in loader]
        if not sized:
            _checks.fail("data", type(loader).__name__, "the loader yielded no batch")
        total = sum(b[1].shape[0] for b in sized)
        for b in sized:
            yield b, b[1].shape[0] / total

    return batches, full


def _from_model(
    model: nn.Module,
    loss_fn: Callable,
    data,
    *,
    name: str | None,
    batch_size: int | None,
    seed: int,
    l2: float,
    kind: str = "model",
    description: str = "",
    minimum: Callable[[], float | None] | None = None,
) -> Objective:
    if not isinstance(model, nn.Module):
        _checks.fail("model", type(model).__name__, "expected a torch.nn.Module", TypeError)
    if not callable(loss_fn):
        _checks.fail(
            "loss_fn", type(loss_fn).__name__, "expected a callable loss(output, target)", TypeError
        )
    if data is None:
        _checks.fail("data", None, "expected (inputs, targets) tensors or a DataLoader", TypeError)
    _check_model(model)
    l2 = _checks.positive_float("l2", l2, allow_zero=True)
    device = next(p for _, p in _trainable(model)).device
    lanes, single, start = _model_lanes(model, loss_fn, l2, device)
    if start.numel() > MAX_DIM:
        _checks.fail("model", f"{start.numel()} parameters", f"at most {MAX_DIM} are supported")
    if isinstance(data, (tuple, list)) and len(data) == 2:
        batches, full = _tensor_data(data, batch_size, seed, device)
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, torch.Tensor)):
        if batch_size is not None:
            _checks.fail(
                "batch_size", batch_size, "a DataLoader sets its own batch size; leave it None"
            )
        batches, full = _loader_data(data, device)
        batch_size = getattr(data, "batch_size", None) or -1
    else:
        _checks.fail(
            "data",
            type(data).__name__,
            "expected (inputs, targets) tensors or a DataLoader",
            TypeError,
        )
    obj = Objective(
        name=name or type(model).__name__,
        kind=kind,
        dim=start.numel(),
        start=start,
        _lanes=lanes,
        _batches=batches,
        _full_batch=full,
        _single=single,
        description=description,
        batch_size=batch_size,
        _minimum=minimum,
    )
    _check_scalar_loss(obj)
    return obj


def _check_scalar_loss(obj: Objective) -> None:
    batch = next(obj.batches(1))
    # Checked once on one lane so that a wrong loss fails here, not deep inside a sweep.
    try:
        values, _ = obj.value_and_grad(obj.start[None], batch)
    except RuntimeError as err:
        raise ValueError(
            f"loss_fn: computing the loss failed: {str(err).splitlines()[0]}"
        ) from None
    if values.shape != (1,):
        raise ValueError("loss_fn: the loss must be a scalar (use reduction='mean' or 'sum')")


# ---------------------------------------------------------------------------------------------
# The factory.


#: The options a dataset problem takes in its name: ``digits-mlp:batch_size=64,seed=2``.
DATASET_OPTIONS = ("batch_size", "hidden", "seed", "standardize")


def _dataset(spec: str, *, batch_size, seed, standardize, dtype, device, l2) -> Objective:
    base, options = parse_spec(spec, DATASET_OPTIONS, example="batch_size=64")
    numbers = {key: _whole_number(key, value) for key, value in options.items()}
    batch_size = numbers.get("batch_size", batch_size)
    seed = numbers.get("seed", seed)
    standardize = bool(numbers.get("standardize", standardize))
    hidden = numbers.get("hidden")
    if hidden is not None:
        _checks.int_in_range("hidden", hidden, 1, 4096)
    model, loss_fn, (X, y), problem = datasets.build(
        base, hidden=hidden, standardize=standardize, seed=seed, dtype=dtype or torch.float32
    )
    if device is not None:
        model, X, y = model.to(device), X.to(device), y.to(device)
    return _from_model(
        model,
        loss_fn,
        (X, y),
        name=spec,
        batch_size=batch_size,
        seed=seed,
        l2=problem.l2 if l2 is None else l2,
        kind="dataset",
        description=problem.description,
        minimum=lambda: (
            datasets.exact_minimum(base, standardize) if l2 in (None, problem.l2) else None
        ),
    )


def _whole_number(key: str, text: str) -> int:
    """A dataset option's value: a non-negative whole number (``64``, ``1e3``, ``0``)."""
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0 or number != int(number):
        _checks.fail(key, text, "expected a non-negative whole number")
    return int(number)


def objective(
    spec,
    loss_fn: Callable | None = None,
    data=None,
    *,
    batch_size: int | None = None,
    seed: int = 0,
    standardize: bool = True,
    l2: float | None = None,
    start=None,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    name: str | None = None,
) -> Objective:
    """Build an objective from a name, an expression, or a model with its loss and data.

    Args:
        spec: a catalogue name (``"rosenbrock"``, ``"bowl:kappa=100"``), a dataset problem
            (``"digits-mlp"``, ``"digits-mlp:batch_size=64"``), a cost expression in the free
            names it uses (``"x**4 - 4*x**2 + x"``), an existing :class:`Objective`, or an
            ``nn.Module`` (then ``loss_fn`` and ``data`` are required).
        loss_fn: ``loss_fn(model(inputs), targets) -> scalar`` for a model.
        data: ``(inputs, targets)`` tensors, or a DataLoader (or any re-iterable of batches).
        batch_size: mini-batch size for tensor data; None means full batch.
        seed: seeds the mini-batch order and a dataset problem's initial weights.
        standardize: standardise a dataset problem's features (and regression targets).
        l2: an L2 penalty ``l2/2 * |w|^2`` added to a model's loss (equivalent to SGD's
            ``weight_decay``); dataset problems have their own default.
        start: the default starting point instead of the built-in one.
        dtype: a dataset problem's dtype (default float32).
        device: where an analytic objective or dataset problem computes.
        name: a display name for a model objective.

    Raises:
        ValueError: an unknown name (with the closest known ones), a bad expression (with the
            position), or inconsistent model, loss and data.

    Example:
        >>> objective("x**4 - 4*x**2 + x").param_names
        ('x',)
        >>> objective("rosenbrock").minimum
        0.0
        >>> objective("digits-softmax").dim
        650
    """
    if isinstance(spec, Objective):
        obj = spec
    elif isinstance(spec, nn.Module):
        obj = _from_model(
            spec, loss_fn, data, name=name, batch_size=batch_size, seed=seed, l2=l2 or 0.0
        )
    elif isinstance(spec, str):
        obj = _from_text(
            spec.strip(),
            batch_size=batch_size,
            seed=seed,
            standardize=standardize,
            dtype=dtype,
            device=device,
            l2=l2,
        )
    else:
        _checks.fail(
            "objective",
            type(spec).__name__,
            "expected a name, an expression, an Objective, or an nn.Module with loss_fn and data",
            TypeError,
        )
    if isinstance(spec, str) and (loss_fn is not None or data is not None):
        _checks.fail("loss_fn", loss_fn, "loss_fn and data go with an nn.Module, not a name")
    if start is not None:
        obj = replace(obj, start=obj.point(start))
    return obj


def _from_text(text: str, *, batch_size, seed, standardize, dtype, device, l2) -> Objective:
    base = text.partition(":")[0]
    if base in datasets.names():
        return _dataset(
            text,
            batch_size=batch_size,
            seed=seed,
            standardize=standardize,
            dtype=dtype,
            device=device,
            l2=l2,
        )
    if base in analytic.names():
        return _from_catalogue(analytic.get(text), device)
    near = _checks.closest(base, analytic.names() + datasets.names())
    # A lone word, a word with options, or a dashed word close to a known name is a name that
    # was mistyped, not an expression: "rosenbrok" must not silently become f = rosenbrok.
    bare_word = re.fullmatch(r"[A-Za-z_]\w*", text)
    with_options = re.fullmatch(r"[A-Za-z][\w-]*:.*", text)
    dashed_near = re.fullmatch(r"[A-Za-z][\w-]*", text) and near
    if bare_word or with_options or dashed_near:
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise ValueError(
            f"unknown objective {text!r}{hint} (`lrlab objectives` lists them; to minimise an "
            "expression, write it out, e.g. 'x**2 + 3*y**2')"
        )
    if batch_size is not None:
        _checks.fail("batch_size", batch_size, "only dataset problems and models take a batch size")
    return _from_expression(text, device)


def catalogue_table() -> list[dict]:
    """One row per catalogue function and dataset problem: name, kind, dimension, description.

    Example:
        >>> rows = catalogue_table()
        >>> {"rosenbrock", "digits-mlp"} <= {r["name"] for r in rows}
        True
    """
    rows = []
    for e in analytic.entries():
        rows.append(
            {
                "name": e.name.partition(":")[0],
                "kind": "catalogue",
                "dim": len(e.params),
                "formula": e.formula,
                "minimum": e.minimum,
                "sharpness": e.sharpness,
                "description": e.description,
            }
        )
    for n in datasets.names():
        p = datasets.PROBLEMS[n]
        rows.append(
            {
                "name": n,
                "kind": "dataset",
                "dim": p.dim(),
                "formula": None,
                "minimum": None,
                "sharpness": None,
                "description": p.description,
            }
        )
    return rows


_FACTORY = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


def is_factory_path(text: str) -> bool:
    """Whether ``text`` names user code, ``package.module:function``, rather than an objective.

    Example:
        >>> is_factory_path("mymodels.cnn:build"), is_factory_path("bowl:kappa=10")
        (True, False)
    """
    base = text.partition(":")[0]
    return bool(_FACTORY.fullmatch(text)) and base not in analytic.names() + datasets.names()


def from_factory(path: str, **options) -> Objective:
    """Import ``package.module:function`` and build an objective from what it returns.

    The function takes no arguments and returns ``(model, loss_fn, data)``. The module is
    imported from the current directory or the installed packages, like ``uvicorn app:app``:
    this runs the user's own code, by their request.

    Example:
        >>> from_factory("lrlab.datasets:no_such_function")
        Traceback (most recent call last):
        ...
        ValueError: lrlab.datasets:no_such_function: the module has no function 'no_such_function'
    """
    if not is_factory_path(path):
        _checks.fail("objective", path, "expected package.module:function")
    module_name, _, func_name = path.partition(":")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    # The user's code failing is bad input, named as such (LRLAB_DEBUG=1 shows where).
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"{path}: cannot import {module_name}: {e}") from None
    except Exception as e:
        raise ValueError(f"{path}: importing {module_name} raised {type(e).__name__}: {e}") from e
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ValueError(f"{path}: the module has no function {func_name!r}")
    try:
        made = func()
    except Exception as e:
        raise ValueError(f"{path}: the function raised {type(e).__name__}: {e}") from e
    if not (isinstance(made, tuple) and len(made) == 3):
        raise TypeError(
            f"{path}: the function must return (model, loss_fn, data), got {type(made).__name__}"
        )
    model, loss_fn, data = made
    return objective(model, loss_fn, data, name=path, **options)
