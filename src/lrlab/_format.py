"""The three small conversions every layer needs, written once.

* :func:`json_safe` and :func:`json_list`: numbers as JSON can carry them (non-finite -> None);
* :func:`fmt`: a number as people read it in advice, tables and pictures, and :func:`exact`:
  a number as text that reads back to the same float, for names and formulas;
* :func:`parse_spec`: ``name:key=value,key=value`` as typed for catalogue functions, dataset
  problems, schedules and optimizers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ._checks import closest

__all__ = ["exact", "fmt", "json_list", "json_safe", "parse_spec"]


def json_safe(x: Any) -> Any:
    """``x`` with every number a plain Python number and every non-finite float None.

    Dicts (keys become strings), lists, tuples, numpy arrays and scalars, and 0-d torch
    tensors are converted recursively; anything else is returned as it is.

    Example:
        >>> json_safe({"a": float("inf"), "b": np.array([1.0, np.nan]), "c": np.int64(3)})
        {'a': None, 'b': [1.0, None], 'c': 3}
    """
    # The common case first (a diagnosis has dozens of plain numbers): exact builtin types,
    # answered as the general branches below would answer them, without their checks.
    kind = type(x)
    if kind is float:
        return x if math.isfinite(x) else None
    if kind is int or kind is bool or kind is str or x is None:
        return x
    if isinstance(x, Mapping):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return json_list(x) if x.dtype.kind == "f" else json_safe(x.tolist())
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if hasattr(x, "item") and getattr(x, "ndim", None) == 0:  # a 0-d tensor
        return json_safe(x.item())
    return x


def json_list(a: Any) -> list | None:
    """A float array as nested lists, None where a value is not finite (one pass, no loop).

    Example:
        >>> json_list(np.array([[1.0, np.inf], [np.nan, 2.5]]))
        [[1.0, None], [None, 2.5]]
        >>> json_list(None) is None
        True
    """
    if a is None:
        return None
    a = np.asarray(a, dtype=float)
    out = a.astype(object)
    out[~np.isfinite(a)] = None
    return out.tolist()


def fmt(
    x: float | None, digits: int = 3, *, missing: str = "-", nonfinite: str = "diverged"
) -> str:
    """``x`` with ``digits`` significant digits; ``missing`` for None, ``nonfinite`` for inf/NaN.

    Example:
        >>> fmt(0.000123456), fmt(2 / 3, 2), fmt(None), fmt(float("inf"))
        ('0.000123', '0.67', '-', 'diverged')
    """
    if x is None:
        return missing
    x = float(x)
    if not math.isfinite(x):
        return nonfinite
    return f"{x:.{digits}g}"


def exact(x: float) -> str:
    """The shortest text that reads back as exactly ``x``: ``2`` rather than ``2.0``.

    For names and formulas that must rebuild the same object, where :func:`fmt` would round.

    Example:
        >>> exact(2.0), exact(0.1), exact(1e-3), exact(1e20)
        ('2', '0.1', '0.001', '1e+20')
    """
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def parse_spec(
    text: str,
    allowed: Iterable[str] | None = None,
    *,
    what: str = "spec",
    example: str = "key=1",
) -> tuple[str, dict[str, str]]:
    """Split ``name:key=value,key=value`` into the name and its options (values as typed).

    Each key may appear once; with ``allowed`` given, an unknown key gets the closest
    allowed ones. Values stay strings: each caller knows what its options mean. ``what``
    names the thing in messages when the text has no name; ``example`` shows a valid option.

    Raises:
        ValueError: an option without ``=``, an unknown or repeated key.

    Example:
        >>> parse_spec("bowl:kappa=100")
        ('bowl', {'kappa': '100'})
        >>> parse_spec("step:every=50, factor=0.5", ("every", "factor"))
        ('step', {'every': '50', 'factor': '0.5'})
        >>> parse_spec("step:evry=5", ("every", "factor"))
        Traceback (most recent call last):
        ...
        ValueError: step has no option 'evry'; did you mean every? it takes every, factor
    """
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    options: dict[str, str] = {}
    if allowed is not None:
        # A set has no order of its own: sort it, so that messages are the same every run.
        allowed = sorted(allowed) if isinstance(allowed, (set, frozenset)) else list(allowed)
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = (part.strip() for part in item.partition("="))
        if not eq or not key:
            raise ValueError(
                f"option {item!r} of {name or what} is invalid: write key=value, "
                f"e.g. {name or what}:{example}"
            )
        if allowed is not None and key not in allowed:
            if not allowed:
                raise ValueError(f"{name or what} takes no options; got {rest.strip()!r}")
            near = closest(key, allowed)
            hint = f"did you mean {', '.join(near)}? " if near else ""
            raise ValueError(
                f"{name or what} has no option {key!r}; {hint}it takes {', '.join(allowed)}"
            )
        if key in options:
            raise ValueError(f"option {key!r} of {name or what} is given twice")
        options[key] = value
    return name, options
