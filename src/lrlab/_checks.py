"""Argument checks shared by every public function.

Every check raises ``ValueError`` or ``TypeError`` whose message names the argument,
shows the value it got, and says what is allowed, so all errors have one shape.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from numbers import Integral, Real

#: The longest value a message shows in full; longer ones are cut, so that a 10,000-number
#: list or a pasted file still makes a one-line error.
SHOWN_CHARS = 80


def shown(value: object) -> str:
    """``repr(value)`` (of its numbers, for an array or tensor), cut to :data:`SHOWN_CHARS`
    characters with its full length noted.

    Example:
        >>> shown([1.0] * 3)
        '[1.0, 1.0, 1.0]'
        >>> shown("x" * 1000)
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (1002 characters)"
        >>> import numpy as np
        >>> shown(np.array([1.0, float("nan")])), shown(np.arange(1000))
        ('[1.0, nan]', '[0, 1, 2, 3, 4, 5, 6, 7, ... (1000 numbers)]')
    """
    if hasattr(value, "tolist"):  # an array or tensor shows its numbers, not its type
        size = math.prod(getattr(value, "shape", ()))
        if size > SHOWN_CHARS:  # never a list of millions for a one-line message
            return f"{repr(value.reshape(-1)[:8].tolist())[:-1]}, ... ({size} numbers)]"
        value = value.tolist()
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[: SHOWN_CHARS - 7]}... ({len(text)} characters)"


def fail(name: str, value: object, allowed: str, exc: type[Exception] = ValueError) -> None:
    """Raise ``exc`` with the uniform message ``"{name}={value!r} is invalid: {allowed}"``.

    Example:
        >>> fail("lr", -1.0, "must be a finite number > 0")
        Traceback (most recent call last):
        ...
        ValueError: lr=-1.0 is invalid: must be a finite number > 0
    """
    raise exc(f"{name}={shown(value)} is invalid: {allowed}")


def finite_cost(name: str, point, cost: float) -> None:
    """Refuse a point whose cost is not finite: nothing can descend, or measure curvature,
    from there.

    Example:
        >>> finite_cost("start", [1000.0], float("inf"))
        Traceback (most recent call last):
        ...
        ValueError: start=[1000.0] is invalid: the cost there is not finite (inf)
    """
    if not math.isfinite(cost):
        values = point.tolist() if hasattr(point, "tolist") else list(point)
        where = values if len(values) <= 8 else f"<a point of {len(values)} numbers>"
        fail(name, where, f"the cost there is not finite ({cost})")


def positive_float(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is a finite positive real number.

    Example:
        >>> positive_float("lr", 0.1)
        0.1
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        fail(name, value, "expected a real number", TypeError)
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        fail(name, value, "must be a finite number " + (">= 0" if allow_zero else "> 0"))
    return v


def finite_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, Real):
        fail(name, value, "expected a real number", TypeError)
    v = float(value)
    if not math.isfinite(v):
        fail(name, value, "must be finite")
    return v


def int_in_range(name: str, value: object, lo: int, hi: int) -> int:
    """Return ``value`` if it is an integer with ``lo <= value <= hi``.

    Example:
        >>> int_in_range("steps", 200, 1, 100_000)
        200
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        fail(name, value, f"expected an integer between {lo} and {hi}", TypeError)
    v = int(value)
    if not lo <= v <= hi:
        fail(name, value, f"must be between {lo} and {hi}")
    return v


def one_of(name: str, value: object, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``; otherwise name the closest choices."""
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        close = difflib.get_close_matches(str(value), allowed, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        fail(name, value, f"{hint}choose one of {', '.join(allowed)}")
    return value


def closest(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The choices closest to ``word``, for 'did you mean' hints."""
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=0.4)
