"""Many copies of a layer stack at once, as a few large matrix products.

A sweep evaluates ``K`` copies of one model that differ only in their weights. For the
common case of a plain stack of ``nn.Linear`` layers and elementwise activations with a
standard loss, this module computes all ``K`` forward and backward passes with the lanes
folded into the matrix products: the first layer, whose input is shared by every lane, is a
single ``(K*h, d) @ (d, n)`` product, and later layers are one batched product each.
Activations are laid out ``(K, features, n)``, so every product reads and writes contiguous
memory.

The backward pass is written out by hand, each layer's next to its forward: the graph is
known, so autograd has nothing to add. On the CPU the samples go through in blocks of
columns. The loss is a mean over samples, so the blocks' gradients add up to the full-batch
gradient, and a block's intermediates stay in cache instead of streaming through main
memory. Blocks and calls reuse the same buffers: a fresh multi-megabyte tensor costs a page
fault per 4 KiB on first touch, about as much as the arithmetic on it.

Other models go through ``torch.func.vmap`` instead; both give the same numbers up to float
rounding.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import native

__all__ = ["CPU_BLOCK_BYTES", "NATIVE_BLOCK_BYTES", "Unsupported", "stacked_lanes"]

CPU_BLOCK_BYTES = 8 * 2**20
"""On the CPU, the samples go through in blocks of columns whose widest ``(K, features,
columns)`` activation takes about this much memory (64 lanes of a 64-unit layer: 512
columns). Other devices take the whole batch at once.

The choice is broad, measured on a 2-core AVX-512 machine (2 MiB of L2 per core) with the
digits-mlp step, 64 lanes: 4 to 8 MiB within 3% of each other, 2 MiB 15% slower (more
blocks, each with its fixed cost), 16 MiB 0-20% and a single block 65% slower (the
intermediates leave the cache). It is a constant, not measured at run time: the blocks set
the order in which the gradient's sums are added, and a choice that followed the machine's
load would change results from run to run."""

NATIVE_BLOCK_BYTES = 32 * 2**20
"""The same, when the native head (:mod:`lrlab.native`) computes the last layer and the loss:
it reads each lane's activations once, so the blocks need not fit in the cache, and larger
ones make fewer calls and wider products (the digits-mlp sweep: 8% faster at 32 or 64 MiB,
one block, than at 8 MiB, measured alternately on the same 2-core machine)."""

_ELEMENTWISE = (
    nn.Tanh,
    nn.ReLU,
    nn.Sigmoid,
    nn.GELU,
    nn.SiLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.Softplus,
    nn.Identity,
)

_aten = torch.ops.aten


class Unsupported(Exception):
    """This batch cannot take the stacked path (e.g. images, ignored targets); use vmap."""


class _Buffers:
    """Scratch tensors by name, reused from block to block (and call to call on the CPU)."""

    def __init__(self) -> None:
        self._flat: dict[object, torch.Tensor] = {}

    def get(self, name: object, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        n = math.prod(shape)
        flat = self._flat.get(name)
        fits = flat is not None and flat.numel() >= n
        if not fits or (flat.dtype, flat.device) != (like.dtype, like.device):
            flat = self._flat[name] = torch.empty(n, dtype=like.dtype, device=like.device)
        return flat[:n].view(shape)


def _layers(model: nn.Module) -> list[nn.Module] | None:
    if isinstance(model, nn.Linear):
        return [model]
    if type(model) is not nn.Sequential:
        return None
    layers: list[nn.Module] = []
    for m in model:
        inner = _layers(m) if type(m) is nn.Sequential else [m]
        if inner is None:
            return None
        layers.extend(inner)
    ok = all(isinstance(m, nn.Linear) or type(m) in _ELEMENTWISE for m in layers)
    return layers if ok and isinstance(layers[0], nn.Linear) else None


# --- linear layers ---------------------------------------------------------------------


def _linear(
    w: torch.Tensor, b: torch.Tensor | None, a: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """``w @ a + b`` for every lane, into ``out (K, o, n)``: ``w`` is ``(K, o, i)``, ``b``
    ``(K, o, 1)``, and ``a`` is ``(K, i, n)``, or ``(i, n)`` when every lane reads the data
    (then with no ``b``: the first layer's bias rides in ``w`` and ``a``)."""
    if a.dim() == 2:  # one (K*o, i) @ (i, n) product
        torch.mm(w.flatten(0, 1), a, out=out.flatten(0, 1))
    elif b is None:
        torch.bmm(w, a, out=out)
    else:
        torch.baddbmm(b, w, a, out=out)
    return out


def _linear_backward(w, gw, gb, a, g, out, first: bool) -> torch.Tensor | None:
    """Adds a block's share to the gradients, ``gw += g @ a^T`` and ``gb += sum(g)`` (sets
    them on the ``first`` block: no pass to zero them first), and returns ``dL/da = w^T @ g``
    in ``out``, or None when ``a`` is the data."""
    beta = 0 if first else 1  # beta 0: the product ignores what the buffer held
    if gb is not None:
        if first:
            torch.sum(g, dim=2, keepdim=True, out=gb)
        else:
            gb += g.sum(dim=2, keepdim=True)
    if a.dim() == 2:
        gw.flatten(0, 1).addmm_(g.flatten(0, 1), a.T, beta=beta)
        return None
    gw.baddbmm_(g, a.transpose(1, 2), beta=beta)
    return torch.bmm(w.transpose(1, 2), g, out=out)


# --- activations -----------------------------------------------------------------------

# Activations before the last layer that the native head takes, by the kernel's name.
_HEAD_ACTIVATIONS = {getattr(nn, name): name for name in native.ACTIVATIONS}


# Activations computed in place, with autograd's backward from the output alone:
# type -> (forward in place, (dL/d output, output) -> dL/d input over dL/d output).
_FROM_OUTPUT: dict[type, tuple[Callable, Callable]] = {
    nn.Tanh: (torch.tanh_, lambda g, a: _aten.tanh_backward.grad_input(g, a, grad_input=g)),
    nn.Sigmoid: (
        torch.sigmoid_,
        lambda g, a: _aten.sigmoid_backward.grad_input(g, a, grad_input=g),
    ),
    nn.ReLU: (torch.relu_, lambda g, a: _aten.threshold_backward.grad_input(g, a, 0, grad_input=g)),
    nn.Identity: (lambda z: z, lambda g, a: g),
}


def _activation(m: nn.Module, z: torch.Tensor, in_place: bool) -> tuple[torch.Tensor, Callable]:
    """``m(z)`` and its backward, dL/d output -> dL/d ``z``; may overwrite ``z`` if
    ``in_place``."""
    if in_place and type(m) in _FROM_OUTPUT:
        forward, backward = _FROM_OUTPUT[type(m)]
        a = forward(z)
        return a, functools.partial(backward, a=a)
    a, vjp = torch.func.vjp(m, z)
    return a, lambda g: vjp(g)[0]


# --- losses ----------------------------------------------------------------------------

# (out (K, C, n), columns, buffers) -> (loss summed over the block's samples (K,), dL/d out)
BlockLoss = Callable[[torch.Tensor, slice, _Buffers], tuple[torch.Tensor, torch.Tensor]]


def _supported_loss(loss_fn) -> bool:
    if getattr(loss_fn, "reduction", None) != "mean":
        return False
    if type(loss_fn) is nn.MSELoss:
        return True
    if type(loss_fn) is nn.BCEWithLogitsLoss:
        return loss_fn.weight is None and loss_fn.pos_weight is None
    return (
        type(loss_fn) is nn.CrossEntropyLoss
        and loss_fn.weight is None
        and loss_fn.label_smoothing == 0.0
    )


def _flush(dtype: torch.dtype, count: int) -> float:
    """The softmax probability at or below which the cross-entropy's gradient takes it as
    zero (see ``cross_entropy`` in :func:`_block_loss`)."""
    return math.sqrt(torch.finfo(dtype).tiny) * count


def _in_range(y: torch.Tensor, classes: int) -> bool:
    """Whether every class index in ``y`` is one of ``classes``."""
    return y.numel() == 0 or (int(y.min()) >= 0 and int(y.max()) < classes)


def _block_loss(loss_fn, y: torch.Tensor) -> tuple[BlockLoss, int]:
    """The loss of a block of samples, and the count that turns the blocks' sum into the
    mean. The gradients it gives are already those of the mean."""
    N = y.shape[0]
    if type(loss_fn) is nn.CrossEntropyLoss:
        if y.dtype != torch.long or y.dim() != 1 or bool((y == loss_fn.ignore_index).any()):
            raise Unsupported

        def cross_entropy(out, cols, buffers):
            K, C, n = out.shape
            logp = _aten._log_softmax.out(out, 1, False, out=buffers.get("logp", out.shape, out))
            # Each sample's target in the flattened (C * n) plane of a lane: one index_select
            # picks every lane's log-probabilities at once (a gather with an expanded index
            # costs several times as much).
            target = y[cols]
            at = torch.arange(n, device=y.device).add_(target * n)
            picked = logp.view(K, C * n).index_select(1, at)
            p = logp.exp_()
            # A lane whose large learning rate saturated its network has many probabilities
            # so small that p / N, or its product with a weight and a tanh slope further back,
            # is a subnormal float, and every matrix product that reads subnormals runs several
            # times slower on the CPU (an Adam sweep of digits-mlp: 2.8x the SGD sweep when
            # p / N itself was subnormal, 3-5% slower calls when only those products were).
            # So p / N below the square root of the smallest normal float is flushed to zero:
            # a product of two factors at least that large stays normal. A GPU or a CPU in
            # flush-to-zero mode would flush the subnormals themselves; what is dropped here
            # changes no element of dL/d out by more than 1.1e-19 (float32; 1.5e-154 in
            # float64).
            F.threshold_(p, _flush(p.dtype, N), 0.0)
            # dL/d out = (softmax - onehot) / N, as torch's own backward computes it.
            onehot = out.new_zeros(C, n).scatter_(0, target[None], 1.0)
            grad = p.sub_(onehot).div_(N)
            return -picked.sum(dim=1), grad

        return cross_entropy, N

    target = y.reshape(N, -1).T  # (C, N)
    count = target.numel()
    if type(loss_fn) is nn.MSELoss:

        def mse(out, cols, buffers):
            diff = out - target[:, cols]
            return torch.linalg.vecdot(diff, diff).sum(dim=1), diff.mul_(2 / count)

        return mse, count

    def bce(out, cols, buffers):
        t = target[:, cols].expand_as(out)
        loss = F.binary_cross_entropy_with_logits(out, t, reduction="none").sum(dim=(1, 2))
        return loss, torch.sigmoid(out).sub_(t).div_(count)

    return bce, count


# --- the stack -------------------------------------------------------------------------


def stacked_lanes(model: nn.Module, loss_fn, l2: float):
    """A lanes function ``(W (K, dim), (x, y)) -> (costs (K,), grads (K, dim))`` for a plain
    layer stack with a standard loss, or None when the model or loss is anything else.

    Parameters are laid out in ``model.parameters()`` order, as in the flat vectors of
    :class:`~lrlab.objectives.Objective`.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        >>> fn = stacked_lanes(net, nn.CrossEntropyLoss(), 0.0)
        >>> W = torch.zeros(5, 26)
        >>> costs, grads = fn(W, (torch.randn(7, 3), torch.randint(0, 2, (7,))))
        >>> costs.shape, grads.shape
        (torch.Size([5]), torch.Size([5, 26]))
    """
    layers = _layers(model)
    if layers is None or not _supported_loss(loss_fn):
        return None
    if any(not p.requires_grad for p in model.parameters()):
        return None
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    # The flat layout must be exactly weight, bias per Linear, in order.
    order = [p for m in linears for p in (m.weight, m.bias) if p is not None]
    if [id(p) for p in order] != [id(p) for p in model.parameters()]:
        return None
    shapes = [tuple(p.shape) if p.dim() == 2 else (p.shape[0], 1) for p in order]
    # The Linear at each position in the stack: where its weight and bias are in ``order``.
    slots: dict[int, tuple[int, int | None]] = {}
    at = 0
    for i, m in enumerate(layers):
        if isinstance(m, nn.Linear):
            slots[i] = (at, None if m.bias is None else at + 1)
            at += 1 if m.bias is None else 2
    widest = max(m.out_features for m in linears)
    # A head the native kernel can take: Linear, an activation whose derivative comes from
    # its output, Linear, and the cross-entropy.
    head = (
        _HEAD_ACTIVATIONS.get(type(layers[-2]))
        if len(layers) >= 3
        and isinstance(layers[-1], nn.Linear)
        and isinstance(layers[-3], nn.Linear)
        and type(loss_fn) is nn.CrossEntropyLoss
        else None
    )
    # CPU buffers kept between calls, one set per call running at the same time. Other
    # devices' allocators already cache memory.
    idle: list[_Buffers] = []

    def lanes(W: torch.Tensor, batch) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            raise Unsupported
        buffers = idle.pop() if idle else _Buffers()
        try:
            with torch.no_grad():
                return _lanes(W.detach(), x, y, buffers)
        finally:
            if W.device.type == "cpu":
                idle.append(buffers)

    def _lanes(W: torch.Tensor, x: torch.Tensor, y: torch.Tensor, buffers: _Buffers):
        K, N = W.shape[0], x.shape[0]
        block_loss, count = _block_loss(loss_fn, y)
        classes = linears[-1].out_features
        if type(loss_fn) is nn.CrossEntropyLoss and not _in_range(y, classes):
            raise Unsupported  # torch's own cross-entropy refuses them, in its words
        # The head in native code, when it builds here.
        native_head = (
            head is not None
            and W.device.type == "cpu"
            and W.dtype == torch.float32
            and native.wanted()
        )
        stack = layers[:-1] if native_head else layers
        # Each parameter as a contiguous (K, ...) copy, and its gradient summed over blocks.
        # The first layer's bias rides in its product as one more input, a column of ones
        # beside the data: a separate bias costs a pass over the layer's output in each
        # direction (a broadcast copy before the product, a sum after it), the widest tensors
        # there are, for 1/d more arithmetic in the products.
        first = slots[0]
        fold = first[1] is not None
        if fold:
            d = x.shape[1]
            xa = buffers.get("data", (N, d + 1), x)
            xa[:, :d] = x
            xa[:, d] = 1.0
            x = xa
            units = shapes[0][0]
            wb = buffers.get("first", (K, units, d + 1), W)
            # Its gradient is stored input-major, (d + 1, K, out) seen as (K, out, d + 1):
            # the product then writes d + 1 rows rather than d + 1 columns, which runs 5-10%
            # faster here, with the same bits (d + 1 is a partial tile either way).
            gwb = buffers.get("first grad", (d + 1, K, units), W).permute(1, 2, 0)
        # Each parameter as a contiguous (K, ...) copy (the first layer's as views of one
        # (K, out, d + 1) tensor), and its gradient summed over blocks (the first block sets
        # it).
        pieces = W.split([math.prod(s) for s in shapes], dim=1)
        params, grads = [], []
        for k, (p, s) in enumerate(zip(pieces, shapes)):
            if fold and k in first:
                part = slice(None, -1) if k == first[0] else slice(-1, None)
                param, grad = wb[..., part], gwb[..., part]
            else:
                param = buffers.get(("param", k), (K, *s), W)
                grad = buffers.get(("grad", k), (K, *s), W)
            params.append(param.copy_(p.view(K, *s)))
            grads.append(grad)

        step = N
        if x.device.type == "cpu":
            size = NATIVE_BLOCK_BYTES if native_head else CPU_BLOCK_BYTES
            blocks = math.ceil(N / max(1, size // (K * widest * W.element_size())))
            step = math.ceil(N / blocks)  # equal blocks, no short tail
        costs = W.new_zeros(K)
        for start in range(0, N, step):
            cols = slice(start, min(start + step, N))
            tape: list[Callable] = []  # each layer's backward, in forward order
            a = x[cols].T  # (d, n), shared by every lane until the first layer
            for i, m in enumerate(stack):
                if isinstance(m, nn.Linear):
                    kw, kb = slots[i]
                    if i == 0 and fold:
                        w, gw, b, gb = wb, gwb, None, None
                    else:
                        w, gw = params[kw], grads[kw]
                        b, gb = (None, None) if kb is None else (params[kb], grads[kb])
                    grad_a = None if a.dim() == 2 else buffers.get(("grad_a", i), a.shape, W)
                    tape.append(
                        functools.partial(
                            _linear_backward, w, gw, gb, a, out=grad_a, first=start == 0
                        )
                    )
                    out = buffers.get(("out", i), (K, m.out_features, a.shape[-1]), W)
                    a = _linear(w, b, a, out)
                else:
                    # In place only over a Linear's output, which no backward step reads.
                    a, backward = _activation(m, a, in_place=isinstance(layers[i - 1], nn.Linear))
                    tape.append(backward)
            if native_head:
                kw, kb = slots[len(layers) - 1]
                native.cross_entropy_head(
                    a,
                    params[kw],
                    None if kb is None else params[kb].view(K, classes),
                    y[cols],
                    grads[kw],
                    None if kb is None else grads[kb].view(K, classes),
                    costs,
                    count=count,
                    flush=_flush(W.dtype, count),
                    activation=head,
                    first=start == 0,
                )
                g = a  # now dL/d the activation's input: its backward is done
                tape.pop()
            else:
                block_cost, g = block_loss(a, cols, buffers)
                costs += block_cost
            for backward in reversed(tape):
                g = backward(g)

        grad = W.new_empty(K, W.shape[1])
        sizes = [math.prod(s) for s in shapes]
        for piece, w, g in zip(grad.split(sizes, dim=1), W.split(sizes, dim=1), grads):
            if l2:  # the penalty's gradient joins in the same pass (the same bits)
                torch.add(g, w.view(g.shape), alpha=l2, out=piece.view(g.shape))
            else:
                piece.view(g.shape).copy_(g)
        costs /= count
        if l2:
            costs += 0.5 * l2 * W.pow(2).sum(dim=1)
        return costs, grad

    return lanes
