"""The look shared by every picture: one colour and one label per regime, and how numbers,
learning rates and objectives are written in titles and legends.

This module imports no matplotlib: anything that shows regimes (the web lab's API included)
can take its colours from here.

One colour stands for one regime in every picture, from the colour-blind-safe Okabe-Ito
palette, so a reader who has learnt that green is ``good`` and vermillion is ``diverging``
can read every other picture at a glance. Series that are not regimes use the palette's
remaining colours, so they never read as one.

Example:
    >>> REGIME_COLORS["good"], REGIME_LABELS["too_high"]
    ('#009E73', 'too high')
"""

from __future__ import annotations

import re

from .._format import fmt
from ..regimes import REGIMES
from ..scenes import regime_of

__all__ = ["REGIME_COLORS", "REGIME_LABELS", "alpha_text", "name_of", "outcome", "regime_of"]

#: One colour per regime (Okabe-Ito, safe for the common colour-vision deficiencies).
REGIME_COLORS: dict[str, str] = {
    "diverging": "#D55E00",  # vermillion
    "too_high": "#E69F00",  # orange
    "good": "#009E73",  # bluish green
    "too_low": "#0072B2",  # blue
    "stuck": "#CC79A7",  # reddish purple
}
#: How each regime is written in legends and titles: its name, in words.
REGIME_LABELS: dict[str, str] = {r: r.replace("_", " ") for r in REGIMES}

INK = "#000000"
SKY = "#56B4E9"
GREY = "#8C8C8C"
YELLOW = "#F0E442"
#: Line styles and markers that tell apart several runs of one regime in one picture.
LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")


def g(x: float | None) -> str:
    """A number as people write it in a picture: 3 significant digits, ``inf``/``nan`` as such.

    Example:
        >>> g(0.123456), g(float("inf")), g(None)
        ('0.123', 'inf', 'nan')
    """
    if x is not None and x == float("inf"):
        return "inf"
    return fmt(x, missing="nan", nonfinite="nan")


def count(n: int, word: str) -> str:
    """``1 iteration``, ``2 iterations``.

    Example:
        >>> count(1, "step"), count(3, "step")
        ('1 step', '3 steps')
    """
    return f"{n} {word}" + ("" if n == 1 else "s")


def alpha_text(lr: float, L: float | None) -> str:
    """``α = 0.05 (0.1/L)`` when the sharpness is known, else ``α = 0.05``.

    Example:
        >>> alpha_text(0.05, 2.0), alpha_text(0.05, None)
        ('α = 0.05 (0.1/L)', 'α = 0.05')
    """
    if L:
        return f"α = {g(lr)} ({lr * L:.2g}/L)"
    return f"α = {g(lr)}"


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def pretty(text: str) -> str:
    """A cost formula as people write it.

    Example:
        >>> pretty("x**4 - 4*x**2 + x")
        'x⁴ − 4x² + x'
    """
    text = re.sub(r"\*\*(-?\d+)\b", lambda m: m.group(1).translate(_SUPERSCRIPT), text)
    text = re.sub(r"(?<![\w./])(\d+(?:\.\d+)?)\*(?=[A-Za-z(])", r"\1", text)
    return text.replace("*", "·").replace(" - ", " − ")


def name_of(f) -> str:
    """How a picture names an objective: its formula, after its name for catalogue entries.

    Example:
        >>> import lrlab
        >>> name_of(lrlab.objective("hill"))
        'hill, C = x⁴ − 4x² + x'
    """
    if f.formula is None:
        return f.name
    formula = pretty(f.formula)
    if f.kind == "catalogue":
        return f"{f.name.partition(':')[0]}, C = {formula}"
    return f"C = {formula}"


def outcome(run) -> str:
    """What became of a run, in a few words with its numbers.

    Example:
        >>> import lrlab
        >>> outcome(lrlab.descend("parabola", lr=0.5, steps=3))
        'cost 0 after 3 steps'
    """
    if run.diverged_at is not None:
        return f"diverged at step {run.diverged_at}"
    return f"cost {g(run.final_loss)} after {len(run.losses) - 1} steps"
