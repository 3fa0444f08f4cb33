"""Learning-rate schedules as pure functions of the step.

A schedule is any ``Callable[[int], float]`` that returns the factor by which the base
learning rate is multiplied at step ``t`` (0-based). Nothing mutates an optimizer: a sweep
multiplies every lane's own learning rate by the same factor, so lanes still differ only
in their base learning rate.

Example:
    >>> s = cosine(100)
    >>> s(0), round(s(50), 3), s(100)
    (1.0, 0.5, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable

from . import _checks
from ._format import parse_spec

__all__ = [
    "NAMES",
    "OPTIONS",
    "Schedule",
    "constant",
    "cosine",
    "exponential",
    "factors",
    "from_text",
    "one_cycle",
    "step_decay",
    "warmup",
]

Schedule = Callable[[int], float]


def constant() -> Schedule:
    """The same learning rate at every step.

    Example:
        >>> constant()(123)
        1.0
    """
    return lambda t: 1.0


def step_decay(every: int, factor: float = 0.1) -> Schedule:
    """Multiply the learning rate by ``factor`` every ``every`` steps.

    Example:
        >>> s = step_decay(10, 0.5)
        >>> s(9), s(10), s(25)
        (1.0, 0.5, 0.25)
    """
    every = _checks.int_in_range("every", every, 1, 10**9)
    factor = _checks.positive_float("factor", factor)
    return lambda t: factor ** (t // every)


def exponential(gamma: float) -> Schedule:
    """Multiply the learning rate by ``gamma`` every step: ``gamma ** t``.

    Example:
        >>> exponential(0.5)(3)
        0.125
    """
    gamma = _checks.positive_float("gamma", gamma)
    return lambda t: gamma**t


def cosine(steps: int, final: float = 0.0) -> Schedule:
    """Cosine decay from 1 to ``final`` over ``steps`` steps, then ``final``.

    ``factor(t) = final + (1 - final) * (1 + cos(pi * t / steps)) / 2``

    Example:
        >>> cosine(10, final=0.1)(10)
        0.1
    """
    steps = _checks.int_in_range("steps", steps, 1, 10**9)
    final = _checks.positive_float("final", final, allow_zero=True)
    return lambda t: final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(t, steps) / steps))


def warmup(steps: int, then: Schedule | None = None) -> Schedule:
    """Linear warm-up from ``1/steps`` to 1 over ``steps`` steps, then ``then`` (constant).

    The schedule that follows counts its steps from the end of the warm-up.

    Example:
        >>> s = warmup(4)
        >>> [s(t) for t in range(6)]
        [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    """
    steps = _checks.int_in_range("steps", steps, 1, 10**9)
    after = then or constant()
    return lambda t: (t + 1) / steps if t < steps else after(t - steps)


def one_cycle(
    steps: int, peak_at: float = 0.3, div: float = 25.0, final_div: float = 1e4
) -> Schedule:
    """Smith's one-cycle policy: cosine up from ``1/div`` to 1, then down to ``1/(div*final_div)``.

    The base learning rate is the peak.

    Example:
        >>> s = one_cycle(100)
        >>> s(0), s(30), s(100) < 1e-5
        (0.04, 1.0, True)

    References:
        L. N. Smith, N. Topin. Super-convergence: very fast training of neural networks using
        large learning rates. 2017.
    """
    steps = _checks.int_in_range("steps", steps, 2, 10**9)
    if not 0 < peak_at < 1:
        _checks.fail("peak_at", peak_at, "must be between 0 and 1")
    div = _checks.positive_float("div", div)
    final_div = _checks.positive_float("final_div", final_div)
    up = max(1, round(peak_at * steps))
    lo, end = 1 / div, 1 / (div * final_div)

    def factor(t: int) -> float:
        if t < up:
            return lo + (1 - lo) * 0.5 * (1 - math.cos(math.pi * t / up))
        frac = min(1.0, (t - up) / max(1, steps - up))
        return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * frac))

    return factor


NAMES = ("constant", "step", "exponential", "cosine", "warmup", "one-cycle")

#: The options each schedule takes on the command line, with an example of each.
OPTIONS: dict[str, dict[str, str]] = {
    "constant": {},
    "step": {"every": "50", "factor": "0.5"},
    "exponential": {"gamma": "0.99"},
    "cosine": {"final": "0.01"},
    "warmup": {"steps": "20"},
    "one-cycle": {"peak_at": "0.3", "div": "25", "final_div": "1e4"},
}


def from_text(text: str, steps: int) -> Schedule:
    """A schedule from its name and options, as typed on the command line.

    ``constant``, ``step:every=50,factor=0.5``, ``exponential:gamma=0.99``,
    ``cosine[:final=0.01]``, ``warmup:steps=20`` (then constant), ``one-cycle[:peak_at=0.3]``.
    Options left out take the defaults of the functions above; ``step`` decays every third
    of the run and ``warmup`` lasts a tenth of it unless told.

    Raises:
        ValueError: an unknown schedule or option, or a value that is not a number the
            schedule accepts.

    Example:
        >>> from_text("step:every=2,factor=0.5", steps=10)(4)
        0.25
        >>> from_text("step:evry=2", steps=10)
        Traceback (most recent call last):
        ...
        ValueError: step has no option 'evry'; did you mean every? it takes every, factor
    """
    if not isinstance(text, str):
        _checks.fail("schedule", text, "expected text such as 'cosine'", TypeError)
    name = _checks.one_of("schedule", text.strip().partition(":")[0].strip(), NAMES)
    example = ",".join(f"{k}={v}" for k, v in OPTIONS[name].items())
    _, given = parse_spec(text, OPTIONS[name], example=example)
    opts = {key: _number(key, value) for key, value in given.items()}
    if name == "constant":
        return constant()
    if name == "step":
        every = opts.get("every", max(1, steps // 3))
        return step_decay(_whole(every, "every"), opts.get("factor", 0.1))
    if name == "exponential":
        return exponential(opts.get("gamma", 0.99))
    if name == "cosine":
        return cosine(steps, opts.get("final", 0.0))
    if name == "warmup":
        return warmup(_whole(opts.get("steps", max(1, steps // 10)), "steps"))
    return one_cycle(
        steps, opts.get("peak_at", 0.3), opts.get("div", 25.0), opts.get("final_div", 1e4)
    )


def _number(key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        _checks.fail(key, text, "expected a number")


def _whole(value: float, key: str) -> int:
    if not (math.isfinite(value) and value == int(value)):
        _checks.fail(key, value, "expected a whole number of steps")
    return int(value)


def factors(schedule: Schedule | str | None, steps: int) -> tuple[float, ...] | None:
    """Every step's factor of ``schedule``, checked before a run starts: a function of the
    step, text as the command line takes it (see :func:`from_text`), or None (no schedule).

    Raises:
        TypeError: a schedule that is neither.
        ValueError: a factor that is not a finite number >= 0.

    Example:
        >>> factors("step:every=2,factor=0.5", 4)
        (1.0, 1.0, 0.5, 0.5)
        >>> factors(lambda t: 1 - t, 3)
        Traceback (most recent call last):
        ...
        ValueError: schedule(2)=-1 is invalid: a factor must be a finite number >= 0
    """
    if schedule is None:
        return None
    if isinstance(schedule, str):
        schedule = from_text(schedule, steps)
    if not callable(schedule):
        _checks.fail(
            "schedule",
            schedule,
            "expected a function of the step or text such as 'cosine'",
            TypeError,
        )
    out = []
    for t in range(steps):
        value = schedule(t)
        try:
            factor = float(value)
        except (TypeError, ValueError, RuntimeError):
            factor = math.nan
        if not (math.isfinite(factor) and factor >= 0):
            _checks.fail(f"schedule({t})", value, "a factor must be a finite number >= 0")
        out.append(factor)
    return tuple(out)
