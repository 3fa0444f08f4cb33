"""Cost and gradient of an expression without autograd: reverse mode done once, symbolically.

Autograd records a graph on every call and walks it back: for a sweep of a few dozen lanes
that bookkeeping, and torch's per-operation overhead, cost far more than the arithmetic
(about 120 microseconds a step for himmelblau against a few for the numbers themselves).
An expression's operations are known when it is parsed, so its gradient can be derived once:
:func:`program` walks :meth:`lrlab.expr.Expression.program` backwards and appends, for each
operation, what its operands' adjoints receive (the chain rule), sharing every repeated
operation. The result is one flat list of operations on numpy arrays of ``(K,)`` lanes that
computes the cost and every coordinate of the gradient; running it costs about half a
microsecond per operation on a few dozen lanes.

Derivatives are torch's own formulas (``derivatives.yaml``), so values agree with autograd
to rounding, including where a function has no derivative: ``abs`` and ``relu`` give 0 at
0, ``sqrt`` gives inf at 0, ``min``/``max`` of two equal operands give each half of the
gradient, and a clamp (``max(u, 1)``) passes the gradient where ``u`` equals its bound.

Every operation is elementwise, and each kernel is chosen so that a lane's numbers do not
depend on how many lanes are computed together (see the primitives below): a sweep split
into shards gives bitwise the results of the whole.

Example:
    >>> from lrlab.expr import parse
    >>> cost_and_grad = program(parse("(1 - x)**2 + 100*(y - x**2)**2"))
    >>> values, grads = cost_and_grad(np.array([[0.0, 0.0], [1.0, 2.0]]))
    >>> values.tolist(), grads.tolist()
    ([1.0, 100.0], [[-2.0, 0.0], [-400.0, 200.0]])
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch

from ._checks import fail
from .expr import Expression

__all__ = ["CHUNK_LANES", "MAX_PRODUCT_POWER", "Program", "program"]

_Operand = int | float  # a register (an earlier operation's result) or a constant


# ---------------------------------------------------------------------------------------------
# The primitives, on numpy arrays. Each must give a lane the same bits however many lanes it
# is computed with (tests/test_symbolic.py checks every one): a sweep split into shards, or
# resumed with fewer lanes alive, then computes exactly what the whole sweep computes.
#
# * Arithmetic, square root, abs and comparisons are exactly rounded: numpy, cheapest per call.
# * exp, log and the trigonometric functions: torch's kernels on the same memory. They are
#   per-lane deterministic too and several times faster than numpy's on large arrays (cos:
#   16x on 100,000 lanes here), which keeps big sweeps as fast as they were with autograd.
# * cosh, sinh, sigmoid, softplus and pow: numpy. Torch's kernels for these compute the last
#   few lanes of an array by another method than the rest (one lane's cost then depends on
#   the lane count, in the last bit), numpy's do not. Integer powers are products, as torch's
#   x**2 and x**3 are, which is also 20x faster than numpy's general power.
# * min, max, clamps, relu and the sign: torch's, for torch's answers on ties of -0.0 and 0.0
#   and at NaN (numpy's sign(nan) is nan, torch's 0).


def _torch1(fn: Callable) -> Callable:
    return lambda a: fn(torch.from_numpy(a)).numpy()


def _torch2(fn: Callable) -> Callable:
    def call(a, b):
        return fn(torch.from_numpy(a), torch.from_numpy(b) if isinstance(b, np.ndarray) else b)

    return lambda a, b: call(a, b).numpy()


_exp = _torch1(torch.exp)


def _log(u):
    return torch.log(torch.from_numpy(u)).numpy() if isinstance(u, np.ndarray) else np.log(u)


#: Lanes computed together; more are computed in slices of this many (64 kB per array).
CHUNK_LANES = 8192
#: Integer exponents up to this size are computed as products (at most 2*log2 of it).
MAX_PRODUCT_POWER = 64


def _power(base, exponent):
    if (
        isinstance(exponent, float)
        and exponent.is_integer()
        and 1 <= abs(exponent) <= MAX_PRODUCT_POWER
        and isinstance(base, np.ndarray)
    ):
        n, result, square = int(abs(exponent)), None, base
        while True:  # binary powering: x**5 = x * (x*x)**2
            if n & 1:
                result = square if result is None else result * square
            n >>= 1
            if not n:
                break
            square = square * square
        return result if exponent > 0 else 1.0 / result
    return np.power(base, exponent)


def _sigmoid(u):
    return 1.0 / (1.0 + np.exp(-u))


def _softplus(u):
    # torch's softplus (beta 1, threshold 20): the identity above 20.
    return np.where(u > 20.0, u, np.log1p(np.exp(u)))


def _max_grad(g, a, b):
    """Adjoint of ``a`` in ``maximum(a, b)``: all of it where ``a`` is larger, half on a tie."""
    return np.where(a < b, 0.0, np.where(a == b, g * 0.5, g))


def _min_grad(g, a, b):
    return np.where(a > b, 0.0, np.where(a == b, g * 0.5, g))


def _pass_where_above(g, a, bound):  # clamp_min: the bound itself passes the gradient
    return np.where(a >= bound, g, 0.0)


def _pass_where_below(g, a, bound):
    return np.where(a <= bound, g, 0.0)


def _relu_grad(g, out):
    return np.where(out <= 0.0, 0.0, g)


def _softplus_grad(g, u):
    z = np.exp(u)
    return np.where(u > 20.0, g, g * z / (z + 1.0))


def _pow_grad_base(g, base, exponent):
    """torch: 0 where the exponent is 0 (even at base 0), else ``exponent * base**(exponent-1)``."""
    return np.where(exponent == 0.0, 0.0, g * (exponent * _power(base, exponent - 1.0)))


def _pow_grad_exponent(g, base, exponent, out):
    """torch: 0 where ``base == 0`` and ``exponent >= 0`` (0**t is flat there), else
    ``base**exponent * log(base)``."""
    flat = (base == 0.0) & (exponent >= 0.0)
    return g * np.where(flat, 0.0, out * _log(base))


def _rsqrt_one_minus_square(u):  # asin' and -acos'
    return 1.0 / np.sqrt(1.0 - u * u)


_EXACT = frozenset({"add", "sub", "mul", "div", "neg", "square", "sqrt", "abs"})
_KERNELS: dict[str, Callable] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.true_divide,
    "neg": np.negative,
    "square": np.square,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "pow": _power,
    "cosh": np.cosh,
    "sinh": np.sinh,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "exp": _exp,
    "log": _log,
    **{
        name: _torch1(fn)
        for name, fn in {
            "acos": torch.acos,
            "asin": torch.asin,
            "atan": torch.atan,
            "cos": torch.cos,
            "expm1": torch.expm1,
            "log1p": torch.log1p,
            "sin": torch.sin,
            "tan": torch.tan,
            "tanh": torch.tanh,
            "relu": torch.relu,
            "sign": torch.sign,
        }.items()
    },
    "minimum": _torch2(torch.minimum),
    "maximum": _torch2(torch.maximum),
    "clamp_min": _torch2(lambda a, c: torch.clamp(a, min=c)),
    "clamp_max": _torch2(lambda a, c: torch.clamp(a, max=c)),
    "max_grad": _max_grad,
    "min_grad": _min_grad,
    "pass_above": _pass_where_above,
    "pass_below": _pass_where_below,
    "relu_grad": _relu_grad,
    "softplus_grad": _softplus_grad,
    "pow_grad_base": _pow_grad_base,
    "pow_grad_exponent": _pow_grad_exponent,
    "rsqrt_1m_sq": _rsqrt_one_minus_square,
}


# ---------------------------------------------------------------------------------------------
# Building the program: the forward operations, then the adjoints, in one register machine.


class _Builder:
    """Operations as ``(name, args)`` over registers, each computed once (the same key
    returns the same register), with the exact simplifications ``1*u = u``, ``-1*u = -u``
    and constant folding by the same numpy functions the program runs."""

    def __init__(self):
        self.ops: list[tuple[str, tuple[_Operand, ...]]] = []
        self.seen: dict[tuple, int] = {}

    def emit(self, name: str, *args: _Operand) -> _Operand:
        # The chain rule only ever folds arithmetic (the expression's own constants are
        # folded by lrlab.expr): numpy's float64 scalars round it as the arrays would.
        if name in _EXACT and all(isinstance(a, float) for a in args):
            with np.errstate(all="ignore"):
                return float(_KERNELS[name](*(np.float64(a) for a in args)))
        # Constants by their bits: 0.0 and -0.0 differ, and register 2 is not the constant 2.0.
        key = (name, *(a if isinstance(a, int) else a.hex() for a in args))
        at = self.seen.get(key)
        if at is None:
            at = self.seen[key] = len(self.ops)
            self.ops.append((name, args))
        return at

    def mul(self, a: _Operand, b: _Operand) -> _Operand:
        for one, other in ((a, b), (b, a)):
            if isinstance(one, float) and one == 1.0:
                return other
            if isinstance(one, float) and one == -1.0:
                return self.neg(other)
        return self.emit("mul", a, b)

    def neg(self, a: _Operand) -> _Operand:
        if isinstance(a, int):
            name, args = self.ops[a]
            if name == "neg":
                return args[0]  # -(-u) is u, bit for bit
            if name == "mul" and isinstance(args[0], float):
                return self.emit("mul", -args[0], args[1])  # -(c*u) is (-c)*u, bit for bit
            if name == "mul" and isinstance(args[1], float):
                return self.emit("mul", args[0], -args[1])
        return self.emit("neg", a)


def _adjoints(b: _Builder, i: int, g: _Operand) -> list[tuple[_Operand, _Operand]]:
    """``(operand, contribution)`` pairs: what the chain rule sends from operation ``i``,
    whose adjoint is ``g``, to each of its operands (constants receive nothing)."""
    name, args = b.ops[i]
    a = args[0]
    x = args[1] if len(args) > 1 else None
    if name == "add":
        return [(a, g), (x, g)]
    if name == "sub":
        return [(a, g), (x, b.neg(g))]
    if name == "mul":
        return [(a, b.mul(g, x)), (x, b.mul(g, a))]
    if name == "div":  # torch: -g * ((a / x) / x)
        return [(a, b.emit("div", g, x)), (x, b.mul(b.neg(g), b.emit("div", i, x)))]
    if name == "neg":
        return [(a, b.neg(g))]
    if name == "square":  # torch: g * 2 * a
        return [(a, b.mul(b.mul(g, 2.0), a))]
    if name == "pow":
        out = []
        if isinstance(x, float):
            if x != 0.0:  # torch: g * (x * a**(x - 1)); zero gradient for x == 0
                if x == 1.0:
                    power: _Operand = 1.0
                elif x == 2.0:
                    power = a
                elif x == 3.0:
                    power = b.emit("square", a)
                else:
                    power = b.emit("pow", a, x - 1.0)
                out.append((a, b.mul(g, b.mul(x, power))))
        elif isinstance(a, int):
            out.append((a, b.emit("pow_grad_base", g, a, x)))
        if isinstance(x, int):
            out.append((x, b.emit("pow_grad_exponent", g, a, x, i)))
        return out
    if name in ("maximum", "minimum"):
        rule = "max_grad" if name == "maximum" else "min_grad"
        return [(a, b.emit(rule, g, a, x)), (x, b.emit(rule, g, x, a))]
    if name in ("clamp_min", "clamp_max"):
        rule = "pass_above" if name == "clamp_min" else "pass_below"
        return [(a, b.emit(rule, g, a, x))]
    return [(a, _unary_adjoint(b, name, a, i, g))]


def _unary_adjoint(b: _Builder, name: str, a: int, out: int, g: _Operand) -> _Operand:
    """The adjoint ``a`` receives from ``out = name(a)``, by torch's formula."""
    if name == "exp":
        return b.mul(g, out)
    if name == "expm1":
        return b.mul(g, b.emit("add", out, 1.0))
    if name == "log":
        return b.emit("div", g, a)
    if name == "log1p":
        return b.emit("div", g, b.emit("add", a, 1.0))
    if name == "sqrt":
        return b.emit("div", g, b.mul(2.0, out))
    if name == "sin":
        return b.mul(g, b.emit("cos", a))
    if name == "cos":
        return b.mul(g, b.neg(b.emit("sin", a)))
    if name == "tan":
        return b.mul(g, b.emit("add", b.emit("square", out), 1.0))
    if name == "sinh":
        return b.mul(g, b.emit("cosh", a))
    if name == "cosh":
        return b.mul(g, b.emit("sinh", a))
    if name == "tanh":
        return b.mul(g, b.emit("sub", 1.0, b.emit("square", out)))
    if name == "asin":
        return b.mul(g, b.emit("rsqrt_1m_sq", a))
    if name == "acos":
        return b.mul(g, b.neg(b.emit("rsqrt_1m_sq", a)))
    if name == "atan":
        return b.emit("div", g, b.emit("add", b.emit("square", a), 1.0))
    if name == "abs":
        return b.mul(g, b.emit("sign", a))
    if name == "relu":
        return b.emit("relu_grad", g, out)
    if name == "sigmoid":
        return b.mul(b.mul(g, b.emit("sub", 1.0, out)), out)
    if name == "softplus":
        return b.emit("softplus_grad", g, a)
    raise ValueError(f"no derivative for {name!r}")  # a function added to expr without one


# ---------------------------------------------------------------------------------------------
# Running it.


class Program:
    """Cost and gradient of an expression over lanes: a flat list of operations on arrays.

    Call it on ``W`` of shape ``(K, dim)`` (float64, or float32): it returns the costs
    ``(K,)`` and gradients ``(K, dim)``, new arrays in ``W``'s dtype. Build one with
    :func:`program`.

    Attributes:
        size: the number of array operations one call runs (cost and gradient together).

    Example:
        >>> from lrlab.expr import parse
        >>> f = program(parse("x*y + sin(x)"))
        >>> values, grads = f(np.array([[0.0, 2.0]]))
        >>> values.tolist(), grads.tolist(), f.size
        ([0.0], [[3.0, 0.0]], 5)
    """

    def __init__(self, ops: list[tuple[str, tuple[_Operand, ...]]], root: int, grads: list):
        # Registers: the columns first, then every constant, then each operation's result;
        # only the operations that the cost and the gradient need are run.
        dim = len(grads)
        live = [i for i in _live(ops, [root, *grads]) if ops[i][0] != "param"]
        slots = {i: args[0] for i, (name, args) in enumerate(ops) if name == "param"}
        consts: dict[str, int] = {}
        template: list = [None] * dim

        def register(x: _Operand) -> int:
            if isinstance(x, int):
                return slots[x]
            if x.hex() not in consts:
                consts[x.hex()] = len(template)
                template.append(x)
            return consts[x.hex()]

        for x in (*(a for i in live for a in ops[i][1]), *grads):
            if isinstance(x, float):
                register(x)
        self._steps = []
        for i in live:
            slots[i] = len(template)
            template.append(None)
            name, args = ops[i]
            self._steps.append((slots[i], _bind(_KERNELS[name], [register(a) for a in args])))
        self._template = template
        self._dim = dim
        self._root = slots[root]
        self._grads = [None if g is None else register(g) for g in grads]
        self.size = len(self._steps)

    def __call__(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Costs ``(K,)`` and gradients ``(K, dim)`` at the lanes ``W (K, dim)``."""
        if W.ndim != 2 or W.shape[1] != self._dim:
            fail("W.shape", W.shape, f"expected (lanes, {self._dim})")
        values = np.empty(W.shape[0], dtype=W.dtype)
        grads = np.empty(W.shape, dtype=W.dtype)
        if W.shape[0] <= CHUNK_LANES:
            self._run(W, values, grads)
            return values, grads
        # Lanes are independent: a big sweep runs in slices whose temporaries stay in the
        # cache (1.7x faster than whole arrays on 100,000 lanes of rosenbrock here).
        for start in range(0, W.shape[0], CHUNK_LANES):
            lanes = slice(start, start + CHUNK_LANES)
            self._run(W[lanes], values[lanes], grads[lanes])
        return values, grads

    def _run(self, W: np.ndarray, values: np.ndarray, grads: np.ndarray) -> None:
        r = self._template.copy()
        # One contiguous row per coordinate: every operation reads and writes contiguous
        # memory, whatever the layout of W.
        r[: self._dim] = np.ascontiguousarray(W.T)
        with np.errstate(all="ignore"):  # inf and nan are answers here (torch's), not errors
            for at, step in self._steps:
                r[at] = step(r)
        values[:] = r[self._root]
        for j, g in enumerate(self._grads):
            grads[:, j] = 0.0 if g is None else r[g]


def _live(ops: list[tuple[str, tuple[_Operand, ...]]], outputs: list) -> list[int]:
    """The operations that ``outputs`` need, in order. The chain rule also derives adjoints
    for constants (``x - 7`` sends one to 7), which nothing reads."""
    needed = {x for x in outputs if isinstance(x, int)}
    for i in range(len(ops) - 1, -1, -1):
        if i in needed:
            needed.update(a for a in ops[i][1] if isinstance(a, int))
    return sorted(needed)


def _bind(fn: Callable, regs: list[int]) -> Callable[[list], np.ndarray]:
    # One closure per arity: a call costs a list lookup per operand and nothing else.
    if len(regs) == 1:
        (a,) = regs
        return lambda r: fn(r[a])
    if len(regs) == 2:
        a, b = regs
        return lambda r: fn(r[a], r[b])
    return lambda r: fn(*(r[i] for i in regs))


def program(expression: Expression) -> Program:
    """The :class:`Program` computing ``expression``'s cost and gradient over lanes.

    Built once per expression text (and kept: expressions are immutable).

    Args:
        expression: a parsed expression (:func:`lrlab.expr.parse`).

    Returns:
        A :class:`Program`; its cost agrees with ``expression(W)``, and its gradient with
        ``torch.autograd`` on it, to rounding.

    Example:
        >>> from lrlab.expr import parse
        >>> values, grads = program(parse("x**3"))(np.array([[2.0], [-1.0]]))
        >>> values.tolist(), grads.tolist()
        ([8.0, -1.0], [[12.0], [3.0]])
    """
    if not isinstance(expression, Expression):
        fail("expression", expression, "expected an Expression (lrlab.expr.parse)", TypeError)
    return _build(expression)


@functools.lru_cache(maxsize=256)
def _build(expression: Expression) -> Program:
    b = _Builder()
    forward = expression.program()
    for op in forward:  # already one operation per key: emit keeps their indices
        b.emit(op.name, *op.args)
    root = len(forward) - 1
    # Reverse mode: operations in reverse order, each passing its adjoint to its operands.
    # An operation's operands come before it, so its adjoint is complete when it is reached.
    adjoint: dict[int, _Operand] = {root: 1.0}
    grads: list[_Operand | None] = [None] * len(expression.params)
    for i in range(root, -1, -1):
        g = adjoint.pop(i, None)
        if g is None:
            continue
        if b.ops[i][0] == "param":
            grads[b.ops[i][1][0]] = g
            continue
        for operand, contribution in _adjoints(b, i, g):
            if isinstance(operand, int):
                before = adjoint.get(operand)
                adjoint[operand] = (
                    contribution if before is None else b.emit("add", before, contribution)
                )
    return Program(b.ops, root, grads)
