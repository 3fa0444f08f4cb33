"""Batched update rules: torch.optim's optimizers over ``K`` lanes at once.

A sweep holds ``K`` copies of the parameters as one tensor ``W (K, dim)``. Each rule here is
one of torch.optim's optimizers written for that layout, in the shape optax made standard:

* ``state = rule.init(W)``: the optimizer state, every tensor with the lane axis first;
* ``W, state = rule.update(G, state, W, lrs)``: one step for every lane, where ``G (K, dim)``
  holds the gradients and ``lrs (K, 1)`` each lane's learning rate, the schedule already
  applied.

Names, defaults and semantics are exactly torch.optim's (``SGD``, ``Adam``, ``AdamW``,
``RMSprop``, ``Adagrad``): each lane follows the same arithmetic as a plain torch.optim loop
with that learning rate, so the two agree to float rounding. ``update`` works in place on
``W`` and on the state (a sweep step must not allocate ``K x dim`` tensors it can avoid) and
returns them.

A list in one hyperparameter sweeps it: ``sgd(momentum=[0.0, 0.9])`` in a sweep over ``n``
learning rates runs ``2n`` lanes, learning-rate-major (lane ``i`` has learning rate
``i // 2`` and momentum ``i % 2``). Inside ``update`` such a hyperparameter is a ``(K, 1)``
tensor kept in ``state["hyper"]``, so it follows the lanes when some are retired.

Example:
    >>> import torch
    >>> rule = sgd(momentum=0.9)
    >>> W = torch.ones(3, 2)
    >>> state = rule.init(W)
    >>> W, state = rule.update(torch.ones(3, 2), state, W, torch.tensor([[0.1], [0.2], [0.3]]))
    >>> W[:, 0].tolist()
    [0.8999999761581421, 0.800000011920929, 0.699999988079071]

References:
    torch.optim (https://pytorch.org/docs/stable/optim.html), whose code each rule follows.
    optax's ``GradientTransformation`` (``init``/``update``).
    I. Sutskever et al., "On the importance of initialization and momentum in deep
    learning", ICML 2013 (momentum); G. Goh, "Why momentum really works", Distill 2017.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from numbers import Real
from typing import Any, ClassVar

import numpy as np
import torch

from . import _checks

__all__ = [
    "RULES",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "RMSprop",
    "Rule",
    "adagrad",
    "adam",
    "adamw",
    "get",
    "lane_rules",
    "rmsprop",
    "sgd",
]

#: The rules by name, as torch.optim's classes are named in lower case.
RULES = ("sgd", "adam", "adamw", "rmsprop", "adagrad")

State = dict[str, Any]


def _is_sweep(value: object) -> bool:
    return isinstance(value, (list, tuple, np.ndarray)) and not isinstance(value, str)


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        _checks.fail(name, value, "expected a real number", TypeError)
    v = float(value)
    if not math.isfinite(v):
        _checks.fail(name, value, "must be finite")
    return v


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        _checks.fail(name, value, "expected True or False", TypeError)
    return bool(value)


def _axpy(y: torch.Tensor, x: torch.Tensor, a) -> torch.Tensor:
    """``y += a * x`` in place, for a scalar or a per-lane ``(K, 1)`` ``a``."""
    return y.addcmul_(x, a) if isinstance(a, torch.Tensor) else y.add_(x, alpha=a)


def _decayed(grads: torch.Tensor, params: torch.Tensor, weight_decay) -> torch.Tensor:
    """``grad + weight_decay * param`` (torch's coupled L2 weight decay), a new tensor."""
    if isinstance(weight_decay, torch.Tensor):
        return torch.addcmul(grads, params, weight_decay)
    return grads.add(params, alpha=weight_decay) if weight_decay != 0 else grads


@dataclass(frozen=True)
class Rule:
    """An update rule with its hyperparameters; one subclass per torch.optim optimizer.

    Attributes are the torch.optim keyword arguments of the same names. At most one of them
    may hold a list of values (a swept hyperparameter; see :attr:`swept`).
    """

    name: ClassVar[str] = ""
    #: Hyperparameters that are flags, never swept.
    _flags: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        swept = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in self._flags:
                object.__setattr__(self, f.name, _flag(f.name, value))
                continue
            if self._is_swept_value(f.name, value):
                values = tuple(self._one(f.name, v) for v in value)
                if not values:
                    _checks.fail(f.name, value, "a swept hyperparameter needs at least one value")
                object.__setattr__(self, f.name, values)
                swept.append(f.name)
            else:
                object.__setattr__(self, f.name, self._one(f.name, value))
        if len(swept) > 1:
            _checks.fail(
                "optimizer",
                f"{self.name} with lists in {', '.join(swept)}",
                "sweep one hyperparameter at a time (with the learning rate)",
            )
        object.__setattr__(self, "_swept", swept[0] if swept else None)
        if swept:
            for i in range(len(self.values)):
                self.at(i)  # validates that value
        else:
            self._validate()

    # -- hyperparameters ---------------------------------------------------------------------

    def _is_swept_value(self, name: str, value: object) -> bool:
        return _is_sweep(value)

    def _one(self, name: str, value: object):
        return _real(name, value)

    def _validate(self) -> None:
        """torch.optim's checks, for one value of each hyperparameter."""

    @property
    def swept(self) -> str | None:
        """The name of the swept hyperparameter (holding a tuple of values), or None.

        Example:
            >>> sgd(momentum=[0.0, 0.9]).swept, sgd(momentum=0.9).swept
            ('momentum', None)
        """
        return self._swept

    @property
    def values(self) -> tuple:
        """The swept hyperparameter's values (``()`` when nothing is swept)."""
        return getattr(self, self._swept) if self._swept else ()

    def at(self, i: int) -> Rule:
        """This rule with the swept hyperparameter set to its ``i``-th value.

        Example:
            >>> sgd(momentum=[0.0, 0.9]).at(1).momentum
            0.9
        """
        if self._swept is None:
            return self
        return replace(self, **{self._swept: self.values[i]})

    def to_dict(self) -> dict:
        """``{"name": ..., <hyperparameters>}``, JSON-ready (pairs and sweeps become lists).

        Example:
            >>> adam().to_dict()
            {'name': 'adam', 'betas': [0.9, 0.999], 'eps': 1e-08, 'weight_decay': 0.0, 'amsgrad': False}
        """

        def plain(v):
            return [plain(x) for x in v] if isinstance(v, tuple) else v

        return {"name": self.name, **{f.name: plain(getattr(self, f.name)) for f in fields(self)}}

    @property
    def plain(self) -> bool:
        """Whether this is plain gradient descent ``w -= lr * g`` (SGD, no momentum or decay)."""
        return False

    @property
    def adaptive(self) -> bool:
        """Whether the step is rescaled per coordinate (Adam, AdamW, RMSprop, Adagrad), so that
        no curvature bound in ``L`` alone limits the learning rate."""
        return self.name != "sgd"

    def to_torch(self, params, lr: float) -> torch.optim.Optimizer:
        """The same rule as a ``torch.optim`` optimizer over ``params`` (one value per
        hyperparameter: take ``rule.at(i)`` of a swept rule first).

        Example:
            >>> opt = sgd(momentum=0.9).to_torch([torch.zeros(2, requires_grad=True)], lr=0.1)
            >>> type(opt).__name__, opt.defaults["momentum"]
            ('SGD', 0.9)
        """
        if self._swept:
            _checks.fail("optimizer", self.to_dict(), "pick one value first: rule.at(i)")
        options = {f.name: getattr(self, f.name) for f in fields(self)}
        return _TORCH[self.name](params, lr=lr, **options)

    # -- lanes -------------------------------------------------------------------------------

    def _hyper(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-lane ``(K, 1)`` tensors of the swept hyperparameter, learning-rate-major."""
        if self._swept is None:
            return {}
        K, n = params.shape[0], len(self.values)
        if K % n:
            _checks.fail(
                "params", f"{K} lanes", f"a multiple of the {n} values of {self._swept} is needed"
            )
        return self._lane_values(torch.tensor(self.values, dtype=torch.float64), K // n, params)

    def _lane_values(self, values: torch.Tensor, repeats: int, params) -> dict[str, torch.Tensor]:
        column = values.repeat(repeats)[:, None].to(dtype=params.dtype, device=params.device)
        return {self._swept: column}

    def _get(self, state: State, name: str):
        return state["hyper"].get(name, getattr(self, name))

    def init(self, params: torch.Tensor) -> State:
        """The optimizer state for lanes ``params (K, dim)``: every tensor ``(K, ...)``."""
        return {"step": 0, "hyper": self._hyper(params), **self._buffers(params)}

    def _buffers(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def update(
        self, grads: torch.Tensor, state: State, params: torch.Tensor, lrs: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """One step for every lane: ``(new params, new state)``; works in place on both."""
        raise NotImplementedError

    def stability_limit(self, sharpness: float):
        """The largest stable learning rate on a quadratic of curvature ``sharpness``.

        None for adaptive rules (their step is rescaled per coordinate, so no bound in
        ``L`` alone applies); inf when ``sharpness + weight_decay <= 0``. A swept rule gives
        a tuple, one limit per value.
        """
        return None


# --------------------------------------------------------------------------- SGD


@dataclass(frozen=True)
class SGD(Rule):
    """``torch.optim.SGD``: gradient descent with (Nesterov) momentum and L2 weight decay.

    With ``d = g + weight_decay * w``; ``b = d`` on the first step, then
    ``b = momentum * b + (1 - dampening) * d``; the step is ``lr * b`` (or
    ``lr * (d + momentum * b)`` with ``nesterov``).

    Example:
        >>> rule = sgd(momentum=0.9, nesterov=True)
        >>> rule.name, rule.momentum, round(rule.stability_limit(2.0), 6)
        ('sgd', 0.9, 0.678571)
    """

    momentum: Any = 0.0
    dampening: Any = 0.0
    nesterov: bool = False
    weight_decay: Any = 0.0

    name: ClassVar[str] = "sgd"
    _flags: ClassVar[tuple[str, ...]] = ("nesterov",)

    def _validate(self) -> None:
        if self.momentum < 0:
            _checks.fail("momentum", self.momentum, "must be >= 0")
        if self.weight_decay < 0:
            _checks.fail("weight_decay", self.weight_decay, "must be >= 0")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            _checks.fail(
                "nesterov",
                True,
                f"Nesterov momentum needs momentum > 0 and dampening 0 (got momentum="
                f"{self.momentum}, dampening={self.dampening})",
            )

    @property
    def plain(self) -> bool:
        return self.momentum == 0 and self.weight_decay == 0

    def _buffers(self, params):
        if self.momentum == 0:
            return {}
        return {"momentum_buffer": torch.zeros_like(params)}

    def _lane_values(self, values, repeats, params):
        out = super()._lane_values(values, repeats, params)
        if self._swept == "momentum":
            # torch ignores dampening without momentum: such lanes take the plain gradient.
            out["dampening"] = torch.where(out["momentum"] == 0, 0.0, self.dampening).to(
                params.dtype
            )
        return out

    def update(self, grads, state, params, lrs):
        if self.plain:
            state["step"] += 1
            return params.addcmul_(lrs, grads, value=-1.0), state
        momentum = self._get(state, "momentum")
        d_p = _decayed(grads, params, self._get(state, "weight_decay"))
        if "momentum_buffer" in state:
            buf = state["momentum_buffer"]
            if state["step"] == 0:
                buf.copy_(d_p)
            else:
                damp = self._get(state, "dampening")
                _axpy(buf.mul_(momentum), d_p, 1 - damp)
            d_p = _axpy(d_p.clone(), buf, momentum) if self.nesterov else buf
        state["step"] += 1
        return params.addcmul_(lrs, d_p, value=-1.0), state

    def stability_limit(self, sharpness: float):
        """Heavy ball: ``lr < (2 + 2*momentum) / ((1 - dampening) * (L + weight_decay))``
        (torch's formulation, where the buffer adds up raw gradients); Nesterov:
        ``lr < (2 + 2*momentum) / ((1 + 2*momentum) * (L + weight_decay))``; plain: ``2/L``.

        On ``C = L w^2 / 2`` the pair ``(w, lr * buffer)`` evolves linearly; these are the
        learning rates where both eigenvalues of that map lie inside the unit circle (Jury's
        conditions; for Nesterov ``1 + tr + det > 0`` binds, for heavy ball ``1 + tr +
        det > 0`` with ``det = momentum``).

        Example:
            >>> sgd(momentum=0.5).stability_limit(1.0), sgd().stability_limit(4.0)
            (3.0, 0.5)
        """
        if self._swept:
            return tuple(self.at(i).stability_limit(sharpness) for i in range(len(self.values)))
        curvature = float(sharpness) + self.weight_decay
        if curvature <= 0:
            return math.inf
        m = self.momentum
        if self.nesterov:
            return (2 + 2 * m) / ((1 + 2 * m) * curvature)
        if m == 0:
            return 2 / curvature
        if self.dampening >= 1:
            return math.inf
        return (2 + 2 * m) / ((1 - self.dampening) * curvature)


def sgd(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0) -> SGD:
    """``torch.optim.SGD``'s rule: ``sgd(momentum=0.9, nesterov=True)``; see :class:`SGD`.

    Example:
        >>> sgd(momentum=[0.0, 0.5, 0.9]).swept
        'momentum'
    """
    return SGD(momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay)


# --------------------------------------------------------------------------- Adam, AdamW


def _check_betas(betas) -> None:
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            _checks.fail("betas", betas, f"beta {i} = {b} must be in [0, 1)")


@dataclass(frozen=True)
class Adam(Rule):
    """``torch.optim.Adam``: ``m = lerp(m, g, 1 - beta1)``, ``v = beta2 v + (1 - beta2) g^2``,
    ``w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`` (with
    ``g + weight_decay * w`` as the gradient; ``amsgrad`` uses the running maximum of ``v``).

    Example:
        >>> adam(betas=[(0.9, 0.999), (0.5, 0.999)]).values
        ((0.9, 0.999), (0.5, 0.999))
    """

    betas: Any = (0.9, 0.999)
    eps: Any = 1e-8
    weight_decay: Any = 0.0
    amsgrad: bool = False

    name: ClassVar[str] = "adam"
    _flags: ClassVar[tuple[str, ...]] = ("amsgrad",)
    #: Decoupled weight decay (AdamW): ``w *= 1 - lr * weight_decay`` before the step.
    _decoupled: ClassVar[bool] = False

    def _is_swept_value(self, name, value):
        if name != "betas":
            return _is_sweep(value)
        # A list of pairs sweeps; one pair (a tuple, or a list as JSON gives it) does not.
        return _is_sweep(value) and len(value) > 0 and all(_is_sweep(v) for v in value)

    def _one(self, name, value):
        if name != "betas":
            return _real(name, value)
        if not _is_sweep(value) or len(value) != 2:
            _checks.fail("betas", value, "expected a pair (beta1, beta2)", TypeError)
        return (_real("betas", value[0]), _real("betas", value[1]))

    def _validate(self) -> None:
        if self.eps < 0:
            _checks.fail("eps", self.eps, "must be >= 0")
        _check_betas(self.betas)
        if self.weight_decay < 0:
            _checks.fail("weight_decay", self.weight_decay, "must be >= 0")

    def _lane_values(self, values, repeats, params):
        if self._swept != "betas":
            return super()._lane_values(values, repeats, params)
        pairs = values.repeat(repeats, 1).to(dtype=params.dtype, device=params.device)
        return {"beta1": pairs[:, :1], "beta2": pairs[:, 1:]}

    def _buffers(self, params):
        out = {"exp_avg": torch.zeros_like(params), "exp_avg_sq": torch.zeros_like(params)}
        if self.amsgrad:
            out["max_exp_avg_sq"] = torch.zeros_like(params)
        return out

    def update(self, grads, state, params, lrs):
        hyper = state["hyper"]
        beta1, beta2 = (hyper["beta1"], hyper["beta2"]) if "beta1" in hyper else self.betas
        eps, wd = self._get(state, "eps"), self._get(state, "weight_decay")
        state["step"] += 1
        t = state["step"]
        if self._decoupled:
            if isinstance(wd, torch.Tensor) or wd != 0:
                params.mul_(1 - lrs * wd)
        else:
            grads = _decayed(grads, params, wd)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grads, 1 - beta1)
        if isinstance(beta2, torch.Tensor):
            exp_avg_sq.mul_(beta2).addcmul_(grads.square(), 1 - beta2)
        else:
            exp_avg_sq.mul_(beta2).addcmul_(grads, grads, value=1 - beta2)
        bias_correction1 = 1 - beta1**t
        bias_correction2_sqrt = (1 - beta2**t) ** 0.5
        second = exp_avg_sq
        if self.amsgrad:
            second = torch.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
        denom = second.sqrt().div_(bias_correction2_sqrt).add_(eps)
        step = torch.div(exp_avg, denom, out=denom)
        return params.addcmul_(step, lrs / bias_correction1, value=-1.0), state


@dataclass(frozen=True)
class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay, ``w *= 1 - lr * weight_decay``
    before each step (default ``weight_decay=0.01``).

    Example:
        >>> adamw().weight_decay
        0.01
    """

    weight_decay: Any = 1e-2

    name: ClassVar[str] = "adamw"
    _decoupled: ClassVar[bool] = True


def adam(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False) -> Adam:
    """``torch.optim.Adam``'s rule; ``betas=[(0.9, 0.999), (0.5, 0.999)]`` sweeps the pair.

    Example:
        >>> adam(eps=1e-6).eps
        1e-06
    """
    return Adam(betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


def adamw(betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False) -> AdamW:
    """``torch.optim.AdamW``'s rule (decoupled weight decay).

    Example:
        >>> adamw(weight_decay=[0.0, 0.1]).swept
        'weight_decay'
    """
    return AdamW(betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


# --------------------------------------------------------------------------- RMSprop, Adagrad


@dataclass(frozen=True)
class RMSprop(Rule):
    """``torch.optim.RMSprop``: ``v = alpha v + (1 - alpha) g^2``, ``avg = sqrt(v) + eps``
    (``sqrt(v - mean(g)^2) + eps`` when ``centered``); ``w -= lr * g / avg``, or through a
    momentum buffer ``b = momentum * b + g / avg``.

    Example:
        >>> rmsprop(centered=True).alpha
        0.99
    """

    alpha: Any = 0.99
    eps: Any = 1e-8
    weight_decay: Any = 0.0
    momentum: Any = 0.0
    centered: bool = False

    name: ClassVar[str] = "rmsprop"
    _flags: ClassVar[tuple[str, ...]] = ("centered",)

    def _validate(self) -> None:
        for name in ("alpha", "eps", "momentum", "weight_decay"):
            if getattr(self, name) < 0:
                _checks.fail(name, getattr(self, name), "must be >= 0")

    def _buffers(self, params):
        out = {"square_avg": torch.zeros_like(params)}
        if self.swept == "momentum" or self.momentum != 0:
            out["momentum_buffer"] = torch.zeros_like(params)
        if self.centered:
            out["grad_avg"] = torch.zeros_like(params)
        return out

    def update(self, grads, state, params, lrs):
        alpha, eps = self._get(state, "alpha"), self._get(state, "eps")
        grads = _decayed(grads, params, self._get(state, "weight_decay"))
        square_avg = state["square_avg"]
        if isinstance(alpha, torch.Tensor):
            square_avg.mul_(alpha).addcmul_(grads.square(), 1 - alpha)
        else:
            square_avg.mul_(alpha).addcmul_(grads, grads, value=1 - alpha)
        if self.centered:
            grad_avg = state["grad_avg"].lerp_(grads, 1 - alpha)
            avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
        else:
            avg = square_avg.sqrt()
        avg = avg.add_(eps)
        state["step"] += 1
        if "momentum_buffer" in state:
            buf = state["momentum_buffer"].mul_(self._get(state, "momentum")).addcdiv_(grads, avg)
            return params.addcmul_(lrs, buf, value=-1.0), state
        return params.addcmul_(lrs, torch.div(grads, avg, out=avg), value=-1.0), state


def rmsprop(alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False) -> RMSprop:
    """``torch.optim.RMSprop``'s rule.

    Example:
        >>> rmsprop(alpha=[0.9, 0.99]).values
        (0.9, 0.99)
    """
    return RMSprop(
        alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered
    )


@dataclass(frozen=True)
class Adagrad(Rule):
    """``torch.optim.Adagrad``: ``s += g^2`` (from ``initial_accumulator_value``) and
    ``w -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)``.

    Example:
        >>> adagrad().eps
        1e-10
    """

    lr_decay: Any = 0.0
    weight_decay: Any = 0.0
    initial_accumulator_value: Any = 0.0
    eps: Any = 1e-10

    name: ClassVar[str] = "adagrad"

    def _validate(self) -> None:
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            if getattr(self, name) < 0:
                _checks.fail(name, getattr(self, name), "must be >= 0")

    def _buffers(self, params):
        return {"sum": torch.zeros_like(params)}

    def init(self, params):
        state = super().init(params)
        state["sum"].add_(self._get(state, "initial_accumulator_value"))
        return state

    def update(self, grads, state, params, lrs):
        state["step"] += 1
        t = state["step"]
        grads = _decayed(grads, params, self._get(state, "weight_decay"))
        clr = lrs / (1 + (t - 1) * self._get(state, "lr_decay"))
        total = state["sum"].addcmul_(grads, grads, value=1)
        std = total.sqrt().add_(self._get(state, "eps"))
        step = torch.div(grads, std, out=std)
        return params.addcmul_(step, clr, value=-1.0), state


def adagrad(lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10) -> Adagrad:
    """``torch.optim.Adagrad``'s rule.

    Example:
        >>> adagrad(lr_decay=1e-3).lr_decay
        0.001
    """
    return Adagrad(
        lr_decay=lr_decay,
        weight_decay=weight_decay,
        initial_accumulator_value=initial_accumulator_value,
        eps=eps,
    )


# --------------------------------------------------------------------------- lookup

_TORCH = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}
_FACTORIES = {"sgd": sgd, "adam": adam, "adamw": adamw, "rmsprop": rmsprop, "adagrad": adagrad}


def get(rule: Rule | str | dict | None) -> Rule:
    """The rule for a name (its defaults), a :class:`Rule`, a ``to_dict()`` record, or None
    (plain SGD).

    Raises:
        ValueError: an unknown name (with the closest ones) or hyperparameter; values
            torch.optim rejects.
        TypeError: anything else.

    Example:
        >>> get("adam").betas, get(None).name, get({"name": "sgd", "momentum": 0.9}).momentum
        ((0.9, 0.999), 'sgd', 0.9)
        >>> get("adma")
        Traceback (most recent call last):
        ...
        ValueError: optimizer='adma' is invalid: did you mean adam, adamw, adagrad? choose one of sgd, adam, adamw, rmsprop, adagrad
    """
    if rule is None:
        return sgd()
    if isinstance(rule, Rule):
        return rule
    if isinstance(rule, str):
        return _FACTORIES[_checks.one_of("optimizer", rule.strip().lower(), RULES)]()
    if isinstance(rule, dict):
        options = dict(rule)
        name = _checks.one_of("optimizer", options.pop("name", None), RULES)
        factory = _FACTORIES[name]
        allowed = [f.name for f in fields(factory())]
        for key in options:
            if key not in allowed:
                near = _checks.closest(str(key), allowed)
                hint = f"did you mean {', '.join(near)}? " if near else ""
                _checks.fail(key, options[key], f"{hint}{name} takes {', '.join(allowed)}")
        return factory(**options)
    _checks.fail(
        "optimizer",
        type(rule).__name__,
        f"expected a name ({', '.join(RULES)}) or a rule",
        TypeError,
    )
    raise AssertionError  # unreachable: fail raises


def lane_rules(rule: Rule, n_lrs: int) -> list[Rule]:
    """Each lane's rule (its own value of the swept hyperparameter), learning-rate-major.

    Example:
        >>> [r.momentum for r in lane_rules(sgd(momentum=[0.0, 0.9]), 2)]
        [0.0, 0.9, 0.0, 0.9]
    """
    if rule.swept is None:
        return [rule] * n_lrs
    each = [rule.at(i) for i in range(len(rule.values))]
    return each * n_lrs
