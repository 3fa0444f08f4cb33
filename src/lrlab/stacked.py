"""Many copies of a layer stack at once, as a few large matrix products.

A sweep evaluates ``K`` copies of one model that differ only in their weights. For the
common case of a plain stack of ``nn.Linear`` layers and elementwise activations with a
standard loss, this module computes all ``K`` forward and backward passes with the lanes
folded into the matrix products: the first layer, whose input is shared by every lane, is a
single ``(K*h, d) @ (d, N)`` product, and later layers are one batched product each. Other
models go through ``torch.func.vmap`` instead; both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Unsupported", "stacked_lanes"]

_ELEMENTWISE = (nn.Tanh, nn.ReLU, nn.Sigmoid, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.ELU,
                nn.Softplus, nn.Identity)


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


def _lane_loss(loss_fn) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """``(out (K, C, N), y) -> (K,)``: the loss of every lane, or None if not supported."""
    if getattr(loss_fn, "reduction", None) != "mean":
        return None
    if type(loss_fn) is nn.MSELoss:
        return lambda out, y: (out - y.reshape(y.shape[0], -1).T).pow(2).mean(dim=(1, 2))
    if type(loss_fn) is nn.BCEWithLogitsLoss and loss_fn.weight is None and loss_fn.pos_weight is None:
        def bce(out, y):
            target = y.reshape(y.shape[0], -1).T.expand_as(out)
            return F.binary_cross_entropy_with_logits(out, target, reduction="none").mean(dim=(1, 2))
        return bce
    if (type(loss_fn) is nn.CrossEntropyLoss and loss_fn.weight is None
            and loss_fn.label_smoothing == 0.0):
        ignore = loss_fn.ignore_index

        def ce(out, y):
            if y.dtype != torch.long or y.dim() != 1 or bool((y == ignore).any()):
                raise Unsupported
            # (K, C, N) reads as cross_entropy's (batch, C, d1) with targets (K, N).
            target = y[None].expand(out.shape[0], y.shape[0])
            return F.cross_entropy(out, target, reduction="none").mean(dim=1)
        return ce
    return None


class Unsupported(Exception):
    """This batch cannot take the stacked path (e.g. images, ignored targets); use vmap."""


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
    lane_loss = _lane_loss(loss_fn)
    if layers is None or lane_loss is None:
        return None
    if any(not p.requires_grad for p in model.parameters()):
        return None
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    # The flat layout must be exactly weight, bias per Linear, in order.
    order = [p for m in linears for p in ((m.weight, m.bias) if m.bias is not None else (m.weight,))]
    if [id(p) for p in order] != [id(p) for p in model.parameters()]:
        return None

    def lanes(W: torch.Tensor, batch) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            raise Unsupported
        K = W.shape[0]
        W = W.detach()
        leaves: list[torch.Tensor] = []

        def leaf(start: int, *shape: int) -> torch.Tensor:
            # Each layer's weights are a separate leaf, so the backward pass writes each
            # gradient once instead of scattering slices into a zero-filled (K, dim) tensor.
            n = 1
            for s in shape:
                n *= s
            t = W[:, start : start + n].reshape(K, *shape).requires_grad_(True)
            leaves.append(t)
            return t

        with torch.enable_grad():
            offset = 0
            # Activations are laid out (K, features, N): every product below then reads and
            # writes contiguous memory, which is what makes the batched products fast.
            a = x.T  # (d, N), shared by every lane until the first layer
            for m in layers:
                if not isinstance(m, nn.Linear):
                    a = m(a)
                    continue
                o, i = m.out_features, m.in_features
                w = leaf(offset, o, i)
                offset += o * i
                b = None
                if m.bias is not None:
                    b = leaf(offset, o, 1)
                    offset += o
                # The bias rides along inside the product (addmm/baddbmm): one pass less.
                if a.dim() == 2:
                    flat = w.reshape(K * o, i)
                    a = (flat @ a if b is None else torch.addmm(b.reshape(K * o, 1), flat, a))
                    a = a.view(K, o, -1)
                else:
                    a = torch.bmm(w, a) if b is None else torch.baddbmm(b, w, a)
            costs = lane_loss(a, y)
            grads = torch.autograd.grad(costs.sum(), leaves)
        grad = torch.cat([g.reshape(K, -1) for g in grads], dim=1)
        costs = costs.detach()
        if l2:
            costs = costs + 0.5 * l2 * W.pow(2).sum(dim=1)
            grad = grad.add_(W, alpha=l2)
        return costs, grad

    return lanes
