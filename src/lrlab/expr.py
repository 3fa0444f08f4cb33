"""Cost functions typed as text, parsed into differentiable torch functions over many lanes.

A person types ``"x**4 - 4*x**2 + x"`` or ``"(1-x)**2 + 100*(y-x**2)**2"``; :func:`parse` turns
it into an :class:`Expression` that maps points ``W`` of shape ``(..., d)`` to costs of shape
``W.shape[:-1]`` with torch operations, so autograd supplies the gradient and a sweep over
100,000 learning rates evaluates all its lanes in one call.

The text is read by the small tokenizer and recursive-descent parser below and evaluated with
torch operations from a fixed list; it is never handed to Python (no ``eval``, ``exec``,
``compile`` or ``ast``), so nothing in it can reach Python objects, attributes, files or the
network.  Hostile text fails quickly with an :class:`ExpressionError`: the length, the
nesting depth, the number of nodes and the number of parameters are all bounded, and the
parser counts its own nesting so that Python's recursion limit is never reached.

Grammar, loosest binding first::

    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := ("+" | "-")* power
    power   := atom (("**" | "^") unary)?          # right-associative: 2**3**2 = 2**9
    atom    := number | name | name "(" sum ("," sum)* ")" | "(" sum ")"

As in Python, ``-x**2`` is ``-(x**2)`` and ``2**-x`` is allowed.  Numbers (``3``, ``.5``,
``1e-3``) are float64; ``pi`` and ``e`` are constants; the names in :data:`FUNCTIONS` are
functions; every other name is a parameter, and parameters are ordered by name.
"""

from __future__ import annotations

import difflib
import math
import operator
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import _checks
from ._format import exact

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NODES",
    "MAX_PARAMS",
    "Expression",
    "ExpressionError",
    "Op",
    "parse",
]

#: The longest text accepted, in characters.
MAX_LENGTH = 2000
#: The deepest nesting of parentheses, calls and exponents accepted.
MAX_DEPTH = 50
#: The most nodes (numbers, names, operators, calls) an expression may have.
MAX_NODES = 2000
#: The most parameters (free names) an expression may have.
MAX_PARAMS = 16

#: Named constants.
CONSTANTS: dict[str, float] = {"e": math.e, "pi": math.pi}


class _Function(NamedTuple):
    op: Callable[..., torch.Tensor]
    signature: str
    min_args: int
    max_args: int | None  # None: no upper limit


def _minimum(*args: torch.Tensor) -> torch.Tensor:
    out = args[0]
    for a in args[1:]:
        out = torch.minimum(out, a)
    return out


def _maximum(*args: torch.Tensor) -> torch.Tensor:
    out = args[0]
    for a in args[1:]:
        out = torch.maximum(out, a)
    return out


def _one_arg(op: Callable[[torch.Tensor], torch.Tensor], name: str) -> _Function:
    return _Function(op, f"{name}(u)", 1, 1)


_FUNCTIONS: dict[str, _Function] = {
    "abs": _one_arg(torch.abs, "abs"),
    "acos": _one_arg(torch.acos, "acos"),
    "asin": _one_arg(torch.asin, "asin"),
    "atan": _one_arg(torch.atan, "atan"),
    "cos": _one_arg(torch.cos, "cos"),
    "cosh": _one_arg(torch.cosh, "cosh"),
    "exp": _one_arg(torch.exp, "exp"),
    "expm1": _one_arg(torch.expm1, "expm1"),
    "log": _one_arg(torch.log, "log"),
    "log1p": _one_arg(torch.log1p, "log1p"),
    "max": _Function(_maximum, "max(u, v, ...)", 2, None),
    "min": _Function(_minimum, "min(u, v, ...)", 2, None),
    "relu": _one_arg(torch.relu, "relu"),
    "sigmoid": _one_arg(torch.sigmoid, "sigmoid"),
    "sin": _one_arg(torch.sin, "sin"),
    "sinh": _one_arg(torch.sinh, "sinh"),
    "softplus": _one_arg(F.softplus, "softplus"),
    "sqrt": _one_arg(torch.sqrt, "sqrt"),
    "square": _one_arg(torch.square, "square"),
    "tan": _one_arg(torch.tan, "tan"),
    "tanh": _one_arg(torch.tanh, "tanh"),
}

#: The functions an expression may call, name -> how to call it (``"min(u, v, ...)"``).
#: ``log`` is natural; ``min`` and ``max`` take two or more arguments and act elementwise;
#: ``softplus(u) = log(1 + exp(u))``; ``sigmoid(u) = 1 / (1 + exp(-u))``.
FUNCTIONS: dict[str, str] = {name: f.signature for name, f in _FUNCTIONS.items()}


class ExpressionError(ValueError):
    """Text that is not a valid expression, with where and why.

    Attributes:
        position: 0-based index of the offending character in the text.
        reason: what is wrong, for people.

    Example:
        >>> try:
        ...     parse("x + foo(2)")
        ... except ExpressionError as err:
        ...     print(err.position, err.reason.split(";")[0])
        4 unknown function 'foo'
    """

    def __init__(self, position: int, reason: str):
        super().__init__(f"at position {position}: {reason}")
        self.position = position
        self.reason = reason

    def __reduce__(self):
        # The default pickling replays ``args`` (the whole message) into ``__init__``.
        return (type(self), (self.position, self.reason))


# ---------------------------------------------------------------------------------------------
# Tokenizer: text -> list of tokens, ending with an "end" token.


class _Token(NamedTuple):
    kind: str  # "number", "name", "op" or "end"
    text: str
    position: int
    value: float = 0.0


# Explicit ASCII sets: str.isdigit and str.isalpha also accept characters such as "²" and "é",
# which float() and the grammar do not.
_SPACE = frozenset(" \t\n\r\f\v")
_DIGITS = frozenset(string.digits)
_NAME_START = frozenset(string.ascii_letters + "_")
_NAME_CHARS = _NAME_START | _DIGITS
_OPERATORS = frozenset("+-*/^(),")  # and "**"


def _digits_end(text: str, i: int) -> int:
    while i < len(text) and text[i] in _DIGITS:
        i += 1
    return i


def _number(text: str, start: int) -> tuple[_Token, int]:
    """Read the number starting at ``start`` (a digit, or "." before a digit)."""
    i = _digits_end(text, start)
    if i < len(text) and text[i] == ".":
        i = _digits_end(text, i + 1)
    if i < len(text) and text[i] in "eE":
        j = i + 1
        if j < len(text) and text[j] in "+-":
            j += 1
        if j == len(text) or text[j] not in _DIGITS:
            raise ExpressionError(
                start, f"bad number {text[start:j]!r}: the exponent after 'e' has no digits"
            )
        i = _digits_end(text, j)
    if i < len(text) and text[i] == ".":
        end = i
        while end < len(text) and (text[end] in _DIGITS or text[end] in ".eE"):
            end += 1
        raise ExpressionError(start, f"bad number {text[start:end]!r}: too many decimal points")
    value = float(text[start:i])
    if math.isinf(value):
        raise ExpressionError(start, f"bad number {text[start:i][:20]!r}: too large for float64")
    return _Token("number", text[start:i], start, value), i


def _tokenize(text: str) -> list[_Token]:
    """Split ``text`` into tokens; one pass, no backtracking."""
    tokens = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in _SPACE:
            i += 1
        elif ch in _DIGITS or (ch == "." and text[i + 1 : i + 2] in _DIGITS):
            token, i = _number(text, i)
            tokens.append(token)
        elif ch in _NAME_START:
            start = i
            while i < len(text) and text[i] in _NAME_CHARS:
                i += 1
            tokens.append(_Token("name", text[start:i], start))
        elif ch in _OPERATORS:
            op = "**" if text.startswith("**", i) else ch
            tokens.append(_Token("op", op, i))
            i += len(op)
        else:
            raise ExpressionError(i, f"unexpected character {ch!r}")
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "end of text"
    if token.kind == "number":
        return f"number {token.text[:20]}"
    return f"{token.kind} {token.text!r}" if token.kind == "name" else repr(token.text)


# ---------------------------------------------------------------------------------------------
# Abstract syntax tree: numbers, names, and operators over them.


@dataclass(frozen=True, slots=True)
class _Num:
    value: float


@dataclass(frozen=True, slots=True)
class _Const:
    name: str  # a key of CONSTANTS


@dataclass(frozen=True, slots=True)
class _Param:
    name: str


@dataclass(frozen=True, slots=True)
class _Neg:
    operand: _Node


@dataclass(frozen=True, slots=True)
class _Chain:
    """``first op b op c ...`` with operators of one level: all in "+-" or all in "*/".

    Chains are kept flat, rather than as nested binary nodes, so that the long sums people
    write (``x1**2 + x2**2 + ...``) give a shallow tree.
    """

    first: _Node
    rest: tuple[tuple[str, _Node], ...]


@dataclass(frozen=True, slots=True)
class _Pow:
    base: _Node
    exponent: _Node


@dataclass(frozen=True, slots=True)
class _Call:
    name: str  # a key of _FUNCTIONS
    args: tuple[_Node, ...]


_Node = _Num | _Const | _Param | _Neg | _Chain | _Pow | _Call


# ---------------------------------------------------------------------------------------------
# Parser: tokens -> tree, by recursive descent with an explicit nesting counter.


class _Parser:
    """One use per text.  Every recursion passes through :meth:`_nest`, which stops at
    ``MAX_DEPTH``, so the Python stack stays a few hundred frames deep at most."""

    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.nodes = 0
        self.first_seen: dict[str, int] = {}  # parameter name -> first position

    @property
    def token(self) -> _Token:
        return self.tokens[self.i]

    def _at(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def _node(self, node: _Node) -> _Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(
                self.token.position,
                f"too many nodes: more than {MAX_NODES} numbers, names, operators and calls",
            )
        return node

    def _nest(self, parse: Callable[[], _Node], position: int) -> _Node:
        """``parse()`` one level deeper; ``position`` is where the level opens."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(
                position,
                f"too deeply nested: more than {MAX_DEPTH} levels of parentheses, calls or powers",
            )
        node = parse()
        self.depth -= 1
        return node

    def parse(self) -> _Node:
        if self.token.kind == "end":
            raise ExpressionError(0, "empty expression")
        node = self._sum()
        token = self.token
        if token.kind == "end":
            return node
        if token.text == ")":
            raise ExpressionError(token.position, "unbalanced parentheses: ')' has no matching '('")
        if token.kind in ("number", "name") or token.text == "(":
            raise ExpressionError(
                token.position,
                f"unexpected {_describe(token)}: an operator is missing (write 2*x, not 2x)",
            )
        raise ExpressionError(token.position, f"unexpected {_describe(token)}")

    def _chain(self, ops: tuple[str, str], operand: Callable[[], _Node]) -> _Node:
        first = operand()
        rest = []
        while self._at(*ops):
            op = self.token.text
            self.i += 1
            rest.append((op, operand()))
        if not rest:
            return first
        if isinstance(first, _Chain) and first.rest[0][0] in ops:
            # "(a - b) - c" is "a - b - c": same operations in the same order, one node less.
            return _Chain(first.first, first.rest + tuple(rest))
        return self._node(_Chain(first, tuple(rest)))

    def _sum(self) -> _Node:
        return self._chain(("+", "-"), self._product)

    def _product(self) -> _Node:
        return self._chain(("*", "/"), self._unary)

    def _unary(self) -> _Node:
        # Runs of signs are folded in a loop ("--x" is x), so they cost no recursion.
        negative = False
        while self._at("+", "-"):
            negative ^= self.token.text == "-"
            self.i += 1
        node = self._power()
        return self._node(_Neg(node)) if negative else node

    def _power(self) -> _Node:
        base = self._atom()
        if not self._at("**", "^"):
            return base
        position = self.token.position
        self.i += 1
        # The exponent is a unary, so 2**-x works and 2**3**2 groups to the right.
        exponent = self._nest(self._unary, position)
        return self._node(_Pow(base, exponent))

    def _atom(self) -> _Node:
        token = self.token
        if token.kind == "number":
            self.i += 1
            return self._node(_Num(token.value))
        if token.kind == "name":
            self.i += 1
            if self._at("("):
                return self._call(token)
            if token.text in _FUNCTIONS:
                raise ExpressionError(
                    token.position,
                    f"{token.text!r} is a function; call it as {FUNCTIONS[token.text]}",
                )
            if token.text in CONSTANTS:
                return self._node(_Const(token.text))
            self.first_seen.setdefault(token.text, token.position)
            return self._node(_Param(token.text))
        if self._at("("):
            self.i += 1
            node = self._nest(self._sum, token.position)
            self._close(token)
            return node
        raise ExpressionError(
            token.position, f"unexpected {_describe(token)}; expected a number, a name or '('"
        )

    def _call(self, name: _Token) -> _Node:
        function = _FUNCTIONS.get(name.text)
        if function is None:
            known = ", ".join(_FUNCTIONS)
            near = difflib.get_close_matches(name.text, _FUNCTIONS, n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(near)}? " if near else ""
            raise ExpressionError(
                name.position, f"unknown function {name.text!r}; {hint}known functions: {known}"
            )
        opening = self.token
        self.i += 1
        args = []
        if not self._at(")"):
            args.append(self._nest(self._sum, opening.position))
            while self._at(","):
                self.i += 1
                args.append(self._nest(self._sum, opening.position))
        self._close(opening)
        n = len(args)
        if n < function.min_args or (function.max_args is not None and n > function.max_args):
            if function.max_args is None:
                wanted = f"{function.min_args} or more arguments"
            else:
                wanted = (
                    "1 argument" if function.min_args == 1 else f"{function.min_args} arguments"
                )
            raise ExpressionError(
                name.position, f"{name.text} takes {wanted}, got {n}: {function.signature}"
            )
        return self._node(_Call(name.text, tuple(args)))

    def _close(self, opening: _Token) -> None:
        token = self.token
        if self._at(")"):
            self.i += 1
        elif token.kind == "end":
            raise ExpressionError(opening.position, "unbalanced parentheses: '(' is never closed")
        else:
            raise ExpressionError(
                token.position, f"unexpected {_describe(token)}; expected ')' or an operator"
            )


# ---------------------------------------------------------------------------------------------
# Canonical text: fewest parentheses that parse back to the same tree.

_SUM, _PRODUCT, _SIGN, _POWER, _ATOM = range(5)


def _level(node: _Node) -> int:
    if isinstance(node, _Chain):
        return _SUM if node.rest[0][0] in "+-" else _PRODUCT
    if isinstance(node, _Neg):
        return _SIGN
    if isinstance(node, _Pow):
        return _POWER
    return _ATOM


def _unparse(node: _Node, loosest: int = _SUM) -> str:
    """Text for ``node``, in parentheses when it binds looser than ``loosest``."""
    if isinstance(node, _Num):
        text = exact(node.value)
    elif isinstance(node, _Const | _Param):
        text = node.name
    elif isinstance(node, _Call):
        text = f"{node.name}({', '.join(_unparse(a) for a in node.args)})"
    elif isinstance(node, _Neg):
        text = "-" + _unparse(node.operand, _POWER)
    elif isinstance(node, _Pow):
        text = f"{_unparse(node.base, _ATOM)}**{_unparse(node.exponent, _SIGN)}"
    else:
        level = _level(node)
        # Operands one level tighter than the chain: a nested chain keeps its parentheses.
        parts = [_unparse(node.first, level + 1)]
        for op, operand in node.rest:
            sep = f" {op} " if level == _SUM else op
            parts.append(sep + _unparse(operand, level + 1))
        text = "".join(parts)
    return f"({text})" if _level(node) < loosest else text


# ---------------------------------------------------------------------------------------------
# Evaluator: the tree is compiled once into nested closures over the columns of W.
#
# A compiled node is either a float (a sub-expression without parameters, folded at parse
# time) or a function from the tuple of parameter columns to a tensor of the lane shape.
# Folded constants enter torch operations as Python scalars, which take the dtype of the
# tensor they meet, so float32 points give float32 costs.

_Columns = tuple[torch.Tensor, ...]
_Compiled = float | Callable[[_Columns], torch.Tensor]

_BINARY = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


def _fold(op: Callable[..., torch.Tensor], *values: float) -> float:
    # float64 torch arithmetic, not Python's: 1/0 is inf and log(-1) is nan instead of raising.
    return op(*(torch.tensor(v, dtype=torch.float64) for v in values)).item()


def _binary(op: Callable, a: _Compiled, b: _Compiled) -> _Compiled:
    if isinstance(a, float) and isinstance(b, float):
        return _fold(op, a, b)
    if isinstance(b, float):
        return lambda cols: op(a(cols), b)
    if isinstance(a, float):
        return lambda cols: op(a, b(cols))
    return lambda cols: op(a(cols), b(cols))


def _power(base: _Compiled, exponent: _Compiled) -> _Compiled:
    # x*x (square) is much cheaper than the general pow and has the same value and gradient.
    if exponent == 2.0 and callable(base):
        return lambda cols: torch.square(base(cols))
    if base == math.e and callable(exponent):
        return lambda cols: torch.exp(exponent(cols))
    return _binary(torch.pow, base, exponent)


def _call(function: _Function, args: list[_Compiled]) -> _Compiled:
    if all(isinstance(a, float) for a in args):
        return _fold(function.op, *args)
    op = function.op
    if len(args) == 1:
        (a,) = args
        return lambda cols: op(a(cols))
    # min and max: fold the constant arguments into one bound for a clamp.
    consts = [a for a in args if isinstance(a, float)]
    fns = tuple(a for a in args if not isinstance(a, float))
    out = fns[0] if len(fns) == 1 else (lambda cols: op(*(f(cols) for f in fns)))
    if not consts:
        return out
    bound = _fold(op, *consts) if len(consts) > 1 else consts[0]
    if op is _minimum:
        return lambda cols: torch.clamp(out(cols), max=bound)
    return lambda cols: torch.clamp(out(cols), min=bound)


def _compile(node: _Node, index: dict[str, int]) -> _Compiled:
    if isinstance(node, _Num):
        return node.value
    if isinstance(node, _Const):
        return CONSTANTS[node.name]
    if isinstance(node, _Param):
        i = index[node.name]
        return lambda cols: cols[i]
    if isinstance(node, _Neg):
        operand = _compile(node.operand, index)
        if isinstance(operand, float):
            return -operand
        return lambda cols: torch.neg(operand(cols))
    if isinstance(node, _Pow):
        return _power(_compile(node.base, index), _compile(node.exponent, index))
    if isinstance(node, _Call):
        return _call(_FUNCTIONS[node.name], [_compile(a, index) for a in node.args])
    out = _compile(node.first, index)
    for op, operand in node.rest:
        out = _binary(_BINARY[op], out, _compile(operand, index))
    return out


def _compile_root(tree: _Node, params: tuple[str, ...]) -> Callable[[_Columns], torch.Tensor]:
    index = {name: i for i, name in enumerate(params)}
    fn = _compile(tree, index)
    if isinstance(tree, _Param):
        # A bare name would hand back a view of W, which a later in-place step would change.
        return lambda cols: fn(cols).clone()
    return fn


# ---------------------------------------------------------------------------------------------
# Straight-line program: the tree as a flat list of primitive operations, for code that works
# on whole arrays without torch (lrlab.symbolic differentiates it). The choices mirror the
# evaluator above, one for one: constants fold with the same float64 arithmetic (_fold), x**2
# is a square, e**u an exp, and min/max fold their constant arguments into one clamp; so a
# program computes the operations the evaluator computes, in the same order.


class Op(NamedTuple):
    """One operation of :meth:`Expression.program`.

    Attributes:
        name: ``"param"`` (``args`` holds its column), ``"add"``, ``"sub"``, ``"mul"``,
            ``"div"``, ``"pow"``, ``"neg"``, ``"minimum"``, ``"maximum"`` (elementwise, two
            operands), ``"clamp_min"``, ``"clamp_max"`` (an operand and a constant bound), or
            the name of a one-argument function of :data:`FUNCTIONS` (``"exp"`` also for
            ``e**u``; ``"square"`` also for ``u**2``).
        args: the operands: an ``int`` is the index of an earlier operation, a ``float`` a
            constant.

    Example:
        >>> parse("max(x, 0) + x**2").program()
        (Op(name='param', args=(0,)), Op(name='clamp_min', args=(0, 0.0)), \
Op(name='square', args=(0,)), Op(name='add', args=(1, 2)))
    """

    name: str
    args: tuple[int | float, ...]


class _Lowering:
    """Builds a program, sharing repeated operations: ``(x - 1)**2 + (x - 1)`` computes
    ``x - 1`` once."""

    def __init__(self, index: dict[str, int]):
        self.index = index
        self.ops: list[Op] = []
        self.seen: dict[tuple, int] = {}

    def emit(self, name: str, *args: int | float) -> int:
        # Constants by their bits: 0.0 and -0.0 (equal as floats) give different results, and
        # an operation index 2 must not meet the constant 2.0.
        key = (name, *(a if isinstance(a, int) else a.hex() for a in args))
        at = self.seen.get(key)
        if at is None:
            at = self.seen[key] = len(self.ops)
            self.ops.append(Op(name, args))
        return at

    def binary(self, name: str, op: Callable, a: int | float, b: int | float) -> int | float:
        if isinstance(a, float) and isinstance(b, float):
            return _fold(op, a, b)
        return self.emit(name, a, b)

    def call(self, name: str, args: list[int | float]) -> int | float:
        function = _FUNCTIONS[name]
        if all(isinstance(a, float) for a in args):
            return _fold(function.op, *args)
        if len(args) == 1:
            return self.emit(name, args[0])
        consts = [a for a in args if isinstance(a, float)]
        out, *others = [a for a in args if isinstance(a, int)]
        for a in others:  # left to right, as _minimum and _maximum do
            out = self.emit("minimum" if name == "min" else "maximum", out, a)
        if not consts:
            return out
        bound = _fold(function.op, *consts) if len(consts) > 1 else consts[0]
        return self.emit("clamp_max" if name == "min" else "clamp_min", out, bound)

    def lower(self, node: _Node) -> int | float:
        """The operation computing ``node``, or its value when it has no parameter."""
        if isinstance(node, _Num):
            return node.value
        if isinstance(node, _Const):
            return CONSTANTS[node.name]
        if isinstance(node, _Param):
            return self.emit("param", self.index[node.name])
        if isinstance(node, _Neg):
            a = self.lower(node.operand)
            return -a if isinstance(a, float) else self.emit("neg", a)
        if isinstance(node, _Pow):
            base, exponent = self.lower(node.base), self.lower(node.exponent)
            if isinstance(exponent, float) and exponent == 2.0 and isinstance(base, int):
                return self.emit("square", base)
            if isinstance(base, float) and base == math.e and isinstance(exponent, int):
                return self.emit("exp", exponent)
            return self.binary("pow", torch.pow, base, exponent)
        if isinstance(node, _Call):
            return self.call(node.name, [self.lower(a) for a in node.args])
        names = {"+": "add", "-": "sub", "*": "mul", "/": "div"}
        out = self.lower(node.first)
        for op, operand in node.rest:
            out = self.binary(names[op], _BINARY[op], out, self.lower(operand))
        return out


# ---------------------------------------------------------------------------------------------
# Public API.


@dataclass(frozen=True)
class Expression:
    """A parsed cost function of named parameters, evaluated on many points at once.

    Build one with :func:`parse`.  Calling it on ``W`` of shape ``(..., len(params))`` (``(K, d)``
    for ``K`` lanes, ``(H, W, d)`` for a plotting grid) returns the costs, shape ``W.shape[:-1]``,
    in ``W``'s dtype and device.  Only elementwise operations are used, so every point is
    independent of the others and ``torch.autograd`` gives each point's own gradient.

    Attributes:
        text: the text as typed.
        params: the free names, sorted; column ``i`` of ``W`` is ``params[i]``.

    Example:
        >>> f = parse("(1-x)**2 + 100*(y-x**2)**2")
        >>> f.params
        ('x', 'y')
        >>> W = torch.tensor([[0.0, 0.0], [1.0, 2.0]], requires_grad=True)
        >>> f(W)
        tensor([  1., 100.], grad_fn=<AddBackward0>)
        >>> torch.autograd.grad(f(W).sum(), W)[0]
        tensor([[  -2.,    0.],
                [-400.,  200.]])
    """

    text: str
    params: tuple[str, ...]
    _tree: _Node = field(repr=False, compare=False)
    _fn: Callable[[_Columns], torch.Tensor] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fn", _compile_root(self._tree, self.params))

    def __call__(self, W: torch.Tensor) -> torch.Tensor:
        """The cost at every point of ``W``; shape ``W.shape[:-1]``.

        Args:
            W: points, shape ``(..., len(params))``, floating point.

        Returns:
            Costs of shape ``W.shape[:-1]``, differentiable with respect to ``W``.

        Raises:
            TypeError: ``W`` is not a floating-point tensor.
            ValueError: the last dimension of ``W`` is not ``len(params)``.

        Example:
            >>> parse("x*y")(torch.ones(2, 3, 2, dtype=torch.float64)).shape
            torch.Size([2, 3])
        """
        if not isinstance(W, torch.Tensor) or not W.is_floating_point():
            got = W.dtype if isinstance(W, torch.Tensor) else type(W).__name__
            _checks.fail("W", got, "expected a floating-point torch.Tensor", TypeError)
        if W.ndim == 0 or W.shape[-1] != len(self.params):
            _checks.fail(
                "W.shape",
                tuple(W.shape),
                f"the last dimension must be {len(self.params)}, one per parameter {self.params}",
            )
        return self._fn(W.unbind(-1))

    def __str__(self) -> str:
        """The canonical text: one spelling per tree, ``**`` for powers, few parentheses.

        Example:
            >>> str(parse("((1-x))^2+100*(y-x^2)^2"))
            '(1 - x)**2 + 100*(y - x**2)**2'
        """
        return _unparse(self._tree)

    def program(self) -> tuple[Op, ...]:
        """The expression as a straight-line program of primitive operations over the
        columns of ``W``; the last operation is the cost. Each operation appears once,
        however often the text repeats it.

        Example:
            >>> [op.name for op in parse("(x - 1)**2 + 3*(x - 1)").program()]
            ['param', 'sub', 'square', 'mul', 'add']
        """
        lowering = _Lowering({name: i for i, name in enumerate(self.params)})
        lowering.lower(self._tree)  # a parsed text always has a parameter: never a constant
        return tuple(lowering.ops)

    def __reduce__(self):
        # The compiled closures cannot be pickled; the text rebuilds them.
        return (parse, (self.text,))


def parse(text: str) -> Expression:
    """Parse a cost function typed by a person.

    Args:
        text: an expression such as ``"x**4 - 4*x**2 + x"``: numbers, ``+ - * /``, powers
            ``**`` or ``^``, parentheses, the constants ``pi`` and ``e``, calls to the
            functions in :data:`FUNCTIONS`, and any other name as a parameter.

    Returns:
        The :class:`Expression`, with its parameters sorted by name.

    Raises:
        TypeError: ``text`` is not a string.
        ExpressionError: the text is not a valid expression, or it exceeds a limit
            (:data:`MAX_LENGTH`, :data:`MAX_DEPTH`, :data:`MAX_NODES`, :data:`MAX_PARAMS`),
            or it has no parameter to minimise.

    Example:
        >>> parse("y + x*z").params
        ('x', 'y', 'z')
        >>> parse("x**2 - 4*x")(torch.tensor([[1.0], [2.0]]))
        tensor([-3., -4.])
        >>> parse("sinn(x)")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        lrlab.expr.ExpressionError: at position 0: unknown function 'sinn'; did you mean sin, ...
    """
    if not isinstance(text, str):
        _checks.fail("text", type(text).__name__, "expected a string", TypeError)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            MAX_LENGTH, f"too long: {len(text)} characters (at most {MAX_LENGTH})"
        )
    parser = _Parser(text)
    tree = parser.parse()
    if not parser.first_seen:
        raise ExpressionError(0, "the expression has no free variable to minimise")
    if len(parser.first_seen) > MAX_PARAMS:
        extra = list(parser.first_seen)[MAX_PARAMS]
        raise ExpressionError(
            parser.first_seen[extra],
            f"too many parameters: {len(parser.first_seen)} (at most {MAX_PARAMS}): "
            + ", ".join(sorted(parser.first_seen)),
        )
    return Expression(text, tuple(sorted(parser.first_seen)), tree)
