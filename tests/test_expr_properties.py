"""Properties of the expression language, on text that hypothesis makes up.

* Any text at all, and any stream of the language's own tokens: ``parse`` either returns an
  expression that evaluates, or raises :class:`ExpressionError` (a ``ValueError``) pointing
  inside the text; never another exception, never a hang, never much memory.
* Random valid expressions: built here as a tree, written out as text, and evaluated by this
  file's own oracle on Python floats with :mod:`math` (no eval); lrlab's value must agree.

Every run draws the same examples (``derandomize``), a bounded number of them, so the file
stays fast and a failure reproduces.
"""

from __future__ import annotations

import math
import signal
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrlab.expr import MAX_LENGTH, Expression, ExpressionError, parse

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,  # machine load must not fail a test; the alarm below catches real hangs
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)


@contextmanager
def no_hang(seconds: int = 30):
    """Fail, rather than wait forever, if the block runs ``seconds`` (a hang, not slowness)."""

    def alarm(signum, frame):
        raise AssertionError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _parses_or_explains(text: str) -> Expression | None:
    """The one allowed outcome of bad text is an ExpressionError that points into it."""
    try:
        f = parse(text)
    except ExpressionError as err:
        assert isinstance(err, ValueError)
        assert 0 <= err.position <= len(text)
        assert err.reason and str(err).startswith(f"at position {err.position}: ")
        return None
    # Whatever parses evaluates, for every lane, and its canonical text reads back the same.
    W = torch.linspace(-1.5, 1.5, 2 * len(f.params), dtype=torch.float64).reshape(2, -1)
    values = f(W)
    assert values.shape == (2,) and values.dtype == torch.float64
    # (Spaces around + and -, ** for ^ and 0.001 for 1e-3 can make the canonical text of a
    # long expression longer than MAX_LENGTH, and then it is refused like any long text.)
    if len(str(f)) <= MAX_LENGTH:
        again = parse(str(f))
        assert again.params == f.params
        torch.testing.assert_close(again(W), values, rtol=0, atol=0, equal_nan=True)
    return f


# ---------------------------------------------------------------------------------------------
# Any text, and streams of tokens


@SETTINGS
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_an_expression_error(text):
    _parses_or_explains(text)


TOKENS = [
    # numbers, good and bad
    "0", "2", "3.5", ".5", "3.", "1e-3", "2E+4", "1e", "1e+", "1.2.3", "1e999", "9" * 30,
    # names: parameters, constants, functions, unknown functions
    "x", "y", "z", "_a", "x1", "pi", "e", "sin", "cos", "exp", "log", "sqrt", "min", "max",
    "softplus", "foo", "__import__",
    # operators and punctuation
    "+", "-", "*", "/", "**", "^", "(", ")", ",",
    # characters outside the language
    "$", ".", "[", "]", "'", "=", ";", "é", "²", "\x00", "\u202e", "∑",
]  # fmt: skip


@st.composite
def token_streams(draw, max_tokens: int = 60) -> str:
    tokens = draw(st.lists(st.sampled_from(TOKENS), max_size=max_tokens))
    gaps = draw(st.lists(st.sampled_from(["", "", " ", "\t"]), min_size=len(tokens)))
    return "".join(t + g for t, g in zip(tokens, gaps))


@SETTINGS
@given(token_streams())
def test_token_streams_parse_or_raise_an_expression_error(text):
    _parses_or_explains(text)


@settings(SETTINGS, max_examples=40)
@given(st.sampled_from(TOKENS), st.sampled_from(["", "(", "-", "sin(", "x**", "x+"]))
def test_long_text_near_and_over_the_limits_stays_bounded(token, prefix):
    # Repetitions up to and past MAX_LENGTH: nesting, node and length limits all come into play.
    text = (prefix + token) * ((MAX_LENGTH + 50) // max(1, len(prefix + token)))
    for piece in (text[: MAX_LENGTH // 2], text[:MAX_LENGTH], text):
        with no_hang():
            _parses_or_explains(piece)  # once untraced: torch's first use of an op allocates
            tracemalloc.start()
            try:
                _parses_or_explains(piece)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert peak < 32 * 2**20, f"{peak / 2**20:.1f} MiB for {len(piece)} characters"


# ---------------------------------------------------------------------------------------------
# Random valid expressions against an oracle on Python floats


@dataclass(frozen=True)
class Num:
    text: str  # as written; its value is float(text)


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or a function name
    arg: object


@dataclass(frozen=True)
class Binary:
    op: str  # "+", "-", "*", "/", "**"
    left: object
    right: object


@dataclass(frozen=True)
class Many:
    op: str  # "min" or "max"
    args: tuple


def _softplus(u: float) -> float:
    return max(u, 0.0) + math.log1p(math.exp(-abs(u)))


ORACLE_FUNCTIONS = {
    "abs": abs,
    "acos": math.acos,
    "asin": math.asin,
    "atan": math.atan,
    "cos": math.cos,
    "cosh": math.cosh,
    "exp": math.exp,
    "expm1": math.expm1,
    "log": math.log,
    "log1p": math.log1p,
    "relu": lambda u: max(u, 0.0),
    "sigmoid": lambda u: 1.0 / (1.0 + math.exp(-u)),
    "sin": math.sin,
    "sinh": math.sinh,
    "softplus": _softplus,
    "sqrt": math.sqrt,
    "square": lambda u: u * u,
    "tan": math.tan,
    "tanh": math.tanh,
}
ORACLE_BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": math.pow,
}
NAMES = ("a", "b", "x", "y")
LITERALS = ("0", "1", "2", "3", "0.5", ".25", "3.", "1e-2", "2E+1", "1.5", "10")


def trees(max_leaves: int = 12):
    leaves = st.one_of(st.sampled_from(LITERALS).map(Num), st.sampled_from(NAMES).map(Var))

    def extend(children):
        return st.one_of(
            st.builds(Unary, st.sampled_from(["-", *ORACLE_FUNCTIONS]), children),
            st.builds(Binary, st.sampled_from(list(ORACLE_BINARY)), children, children),
            st.builds(
                Many, st.sampled_from(["min", "max"]), st.lists(children, min_size=2, max_size=4)
            ).map(lambda m: Many(m.op, tuple(m.args))),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


class Undefined(Exception):
    """The oracle's value is not a finite real number at this point."""


def oracle(node, env: dict[str, float]) -> tuple[float, float]:
    """The value at ``env`` and the largest magnitude met on the way (for the tolerance)."""
    try:
        if isinstance(node, Num):
            value, big = float(node.text), 0.0
        elif isinstance(node, Var):
            value, big = env[node.name], 0.0
        elif isinstance(node, Unary):
            u, big = oracle(node.arg, env)
            value = -u if node.op == "-" else ORACLE_FUNCTIONS[node.op](u)
            big = max(big, abs(u))
        elif isinstance(node, Binary):
            (a, big_a), (b, big_b) = oracle(node.left, env), oracle(node.right, env)
            value, big = ORACLE_BINARY[node.op](a, b), max(big_a, big_b, abs(a), abs(b))
        else:
            parts = [oracle(a, env) for a in node.args]
            values = [v for v, _ in parts]
            value = (min if node.op == "min" else max)(values)
            big = max([b for _, b in parts] + [abs(v) for v in values])
    except (ValueError, OverflowError, ZeroDivisionError):
        raise Undefined from None
    if not math.isfinite(value):
        raise Undefined
    return value, max(big, abs(value))


@st.composite
def spellings(draw, node) -> str:
    """``node`` written out with explicit parentheses, in one of the language's spellings."""
    space = draw(st.sampled_from(["", " "]))
    if isinstance(node, Num):
        return node.text
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Unary):
        arg = draw(spellings(node.arg))
        return f"-({arg})" if node.op == "-" else f"{node.op}({arg})"
    if isinstance(node, Binary):
        op = draw(st.sampled_from(["**", "^"])) if node.op == "**" else node.op
        left, right = draw(spellings(node.left)), draw(spellings(node.right))
        return f"({left}){space}{op}{space}({right})"
    args = [draw(spellings(a)) for a in node.args]
    return f"{node.op}({f',{space}'.join(args)})"


POINTS = [
    {"a": 0.3, "b": -1.2, "x": 1.7, "y": 0.05},
    {"a": -0.8, "b": 2.5, "x": -0.4, "y": 1.1},
    {"a": 1.0, "b": 0.0, "x": 2.0, "y": -2.0},
]


def _free_names(node) -> set[str]:
    if isinstance(node, Var):
        return {node.name}
    if isinstance(node, Num):
        return set()
    children = (
        [node.arg]
        if isinstance(node, Unary)
        else [node.left, node.right]
        if isinstance(node, Binary)
        else list(node.args)
    )
    return set().union(*(_free_names(c) for c in children))


def draw_tree(data) -> tuple[object, tuple[str, ...]]:
    """A random expression tree with at least one name in it, and its names in order."""
    tree = data.draw(trees())
    params = tuple(sorted(_free_names(tree)))
    if not params:
        tree, params = Binary("+", tree, Var("x")), ("x",)
    return tree, params


@settings(SETTINGS, max_examples=150)
@given(st.data())
def test_random_expressions_evaluate_as_the_oracle_does(data):
    tree, params = draw_tree(data)
    text = data.draw(spellings(tree))
    f = parse(text)
    assert f.params == params
    W = torch.tensor([[p[name] for name in params] for p in POINTS], dtype=torch.float64)
    got = f(W)
    compared = 0
    for k, point in enumerate(POINTS):
        try:
            want, big = oracle(tree, point)
        except Undefined:
            continue  # log(-1), 1/0, exp(1000): torch says nan or inf, math raises
        compared += 1
        assert float(got[k]) == pytest.approx(want, rel=1e-9, abs=1e-9 * (1 + big)), text
    # Canonical text is the same tree: the same value, to the bit, wherever it is defined.
    torch.testing.assert_close(parse(str(f))(W), got, rtol=0, atol=0, equal_nan=True)
    COMPARED.append(compared)


COMPARED: list[int] = []  # points compared per example, read by the test below


def test_most_random_expressions_were_compared_somewhere():
    # Run after the property above (pytest keeps file order): an oracle that skipped nearly
    # every example would pass vacuously.
    if not COMPARED:
        test_random_expressions_evaluate_as_the_oracle_does()
    assert sum(c > 0 for c in COMPARED) > 0.7 * len(COMPARED)


def test_the_oracle_is_a_real_oracle():
    # The oracle disagrees with a wrong answer and refuses what is undefined.
    tree = Binary("**", Var("x"), Num("2"))
    assert oracle(tree, {"x": 3.0})[0] == 9.0
    with pytest.raises(Undefined):
        oracle(Unary("log", Num("0")), {})
    with pytest.raises(Undefined):
        oracle(Binary("/", Var("x"), Num("0")), {"x": 1.0})
    assert oracle(Many("max", (Num("1"), Var("x"))), {"x": -5.0})[0] == 1.0
