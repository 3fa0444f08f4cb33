"""The learning-rate range test, run on a user's own PyTorch model, with every state restored.

The learning rate grows from ``start_lr`` to ``end_lr``, one optimizer step per value, while
the training loss is recorded (Smith 2017). Where the loss falls fastest and where it blows up
bracket the useful learning rates. Three suggestions are read off the curve:

* ``steepest`` -- the learning rate where the loss falls fastest against ``log(lr)``. The
  slope is that of a least-squares line through a centred window of raw losses. Unlike the
  one-step differences of the smoothed curve that today's finders use, it is robust to
  batch noise, and unlike any slope of the exponential moving average it is not delayed:
  an EMA with weight ``a`` lags a trend by about ``1/a - 1`` iterations, more than a
  decade of learning rate with the default settings. It is sought on the main fall only
  (where the fitted loss is already clearly below its starting level, up to its minimum),
  so a wiggle on the flat start cannot win.
* ``valley`` -- fastai's rule: the longest descending run of the smoothed curve (a longest
  strictly decreasing subsequence), and the point about half-way along it.
* ``min_div_10`` -- the learning rate at the minimum of the smoothed curve, divided by 10.

The recommended one is the median of the three: the suggestion whose learning rate lies
between the other two (see :meth:`RangeTest.from_curve` for why). None of them is given when
the loss never fell clearly beyond its own batch-to-batch noise.

The model's parameters, buffers and gradients, the optimizer's state and learning rates, the
training flags of every module and the random number generators (torch CPU and CUDA, numpy's
global one, Python's ``random``) are copied in memory before the test and put back, bit for
bit, when it ends -- also when it ends by an exception.

Example:
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> X, y = torch.randn(256, 8), torch.randint(0, 3, (256,))
    >>> model = nn.Linear(8, 3)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> rt = range_test(model, nn.CrossEntropyLoss(), (X, y), opt, num_iter=50)
    >>> rt.method in ("valley", "steepest", "min_div_10", "none")
    True
    >>> opt.param_groups[0]["lr"]  # restored
    0.1

References:
    Leslie N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    arXiv:1506.01186 (the range test).
    fastai, ``Learner.lr_find`` and the ``valley``, ``steep`` and ``minimum`` suggestions,
    https://github.com/fastai/fastai/blob/master/fastai/callback/schedule.py.
    torch-lr-finder, ``LRFinder.range_test`` and ``LRFinder.plot`` (steepest gradient),
    https://github.com/davidtvs/pytorch-lr-finder.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import json
import math
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from . import _checks

__all__ = ["METHODS", "RULES", "RangeTest", "range_test"]

#: The suggestions a range test gives.
METHODS = ("steepest", "valley", "min_div_10")
#: What ``rule`` accepts: ``"auto"`` (the median of the suggestions) or one method, as is.
RULES = ("auto", *METHODS)

# Divergence is not tested on the first few steps: the bias-corrected EMA is then nearly the
# raw loss of one or two batches, and one unlucky batch must not end the test.
_WARMUP = 5
_MAX_NUM_ITER = 100_000
_MAX_ACCUMULATION = 10_000
# The curve counts as falling when its fitted level drops by this many standard errors; the
# deepest of ~num_iter/window nearly independent windows of pure noise stays well short of it.
_Z_DESCENT = 4.0
# Steepest descent is sought where the curve has fallen at least this fraction of its drop.
_FALL_FRACTION = 0.2


class _Short:
    """Shows an object by its type name, so an error never prints a whole module's repr."""

    def __init__(self, obj: object) -> None:
        self.text = f"<{type(obj).__name__}>"

    def __repr__(self) -> str:
        return self.text


# --------------------------------------------------------------------------- pure pieces


def _ramp(start_lr: float, end_lr: float, num_iter: int, mode: str) -> list[float]:
    """Learning rate of each iteration: ``start * (end/start)**t`` or ``start + (end-start)*t``.

    ``t = i / (num_iter - 1)``, so the first iteration uses ``start_lr`` and the last
    ``end_lr`` exactly. Python floats keep every value reproducible from the formula.
    """
    lrs = []
    for i in range(num_iter):
        t = i / (num_iter - 1)
        if mode == "exp":
            lrs.append(start_lr * (end_lr / start_lr) ** t)
        else:
            lrs.append(start_lr + (end_lr - start_lr) * t)
    lrs[0], lrs[-1] = start_lr, end_lr
    return lrs


class _Ema:
    """Bias-corrected exponential moving average, one value at a time.

    ``m_i = beta * m_{i-1} + (1 - beta) * x_i`` with ``m_0 = 0`` and ``beta = 1 - smoothing``;
    the value is ``m_i / (1 - beta**i)``, which removes the pull towards the zero start
    (as in Adam, and fastai's smoothed loss).
    """

    def __init__(self, smoothing: float) -> None:
        self.beta = 1.0 - smoothing
        self.mean = 0.0
        self.count = 0

    def update(self, x: float) -> float:
        self.count += 1
        self.mean = self.beta * self.mean + (1.0 - self.beta) * x
        return self.mean / (1.0 - self.beta**self.count)


def _ema(losses: Iterable[float], smoothing: float) -> np.ndarray:
    """The bias-corrected EMA of a whole curve (the same arithmetic the live test uses)."""
    ema = _Ema(smoothing)
    return np.array([ema.update(float(x)) for x in losses], dtype=np.float64)


def _window_fit(x: np.ndarray, y: np.ndarray, half: int) -> tuple[np.ndarray, ...]:
    """Least-squares line through every centred window of ``2*half + 1`` points.

    Returns ``(slope, fitted, sxx)`` for the centres ``half .. n-half-1``: the slope, the
    line's value at the centre, and ``sum((x - mean x)**2)`` over the window (for the slope's
    standard error). Windowed sums come from cumulative sums, so any window size is O(n).
    """
    w = 2 * half + 1
    xc = x - x.mean()  # centring keeps the cumulative sums of x**2 small and exact enough

    def window_sum(a: np.ndarray) -> np.ndarray:
        c = np.concatenate(([0.0], np.cumsum(a)))
        return c[w:] - c[:-w]

    sx, sy = window_sum(xc), window_sum(y)
    sxx = window_sum(xc * xc) - sx * sx / w
    sxy = window_sum(xc * y) - sx * sy / w
    slope = sxy / sxx
    fitted = sy / w + slope * (xc[half : len(x) - half] - sx / w)
    return slope, fitted, sxx


def _valley_index(losses: np.ndarray) -> int:
    """fastai's ``valley``: about half-way along the longest decreasing run of ``losses``.

    fastai finds, for each point, the length of the longest strictly decreasing subsequence
    ending there, takes the first point where that length is largest (``end``), sets
    ``start = end - length`` and returns ``start + int(L/3) + int(L/6)`` with
    ``L = end - start`` -- about half-way, although the rule is often described as "two
    thirds". fastai loops in O(n**2); patience sorting gives the same lengths in O(n log n).
    """
    tails: list[float] = []  # tails[k]: largest -loss ending an increasing run of length k+1
    lengths = np.empty(len(losses), dtype=np.int64)
    for i, v in enumerate(losses):
        k = bisect.bisect_left(tails, -float(v))
        if k == len(tails):
            tails.append(-float(v))
        else:
            tails[k] = -float(v)
        lengths[i] = k + 1
    end = int(np.argmax(lengths))
    start = end - int(lengths[end])
    sections = (end - start) / 3
    return max(0, start + int(sections) + int(sections / 2))


@dataclass(frozen=True)
class _Reading:
    smoothed: np.ndarray
    suggestions: dict[str, float | None]
    recommended: float | None
    method: str
    notes: tuple[str, ...]


def _read_curve(
    lrs: np.ndarray,
    losses: np.ndarray,
    *,
    smoothing: float,
    skip_start: int,
    skip_end: int,
    half: int,
    rule: str,
    stopped_early: bool,
) -> _Reading:
    """Smooth a recorded curve and read the three suggestions and the recommendation off it."""
    smoothed = _ema(losses, smoothing)
    suggestions: dict[str, float | None] = dict.fromkeys(METHODS)
    notes: list[str] = []

    def reading() -> _Reading:
        if rule == "auto":
            given = sorted((lr, m) for m, lr in suggestions.items() if lr is not None)
            # The middle one of three; of two, the lower, which is the safer side.
            rec, method = given[(len(given) - 1) // 2] if given else (None, "none")
        else:
            rec = suggestions[rule]
            method = rule if rec is not None else "none"
        return _Reading(smoothed, suggestions, rec, method, tuple(notes))

    # Only the part before the first non-finite value is a curve; fastai drops the rest too.
    bad = ~(np.isfinite(losses) & np.isfinite(smoothed) & (lrs > 0))
    n = int(np.argmax(bad)) if bad.any() else len(losses)
    lo, hi = skip_start, n - skip_end
    if hi - lo < 5 or n < 2 * half + 1:
        notes.append(
            f"too few usable points ({n} finite losses, skip_start={skip_start}, "
            f"skip_end={skip_end}, window={2 * half + 1}): "
            + (
                "the loss diverged almost at once, lower start_lr"
                if stopped_early
                else "raise num_iter"
            )
        )
        return reading()

    x, y, s = np.log(lrs[:n]), losses[:n], smoothed[:n]
    slope, fitted, _ = _window_fit(x, y, half)
    centres = np.arange(half, n - half)
    # The lag-free minimum: steepest descent is only sought before it, never on the way up.
    i_min = int(centres[np.argmin(fitted)])
    before = centres <= i_min
    resid = (y[half : n - half] - fitted)[before]
    # Plain standard deviation: batch losses are skewed, and a robust scale (MAD) would
    # understate their spread and let noise pass for descent.
    sigma = float(np.std(resid)) * math.sqrt((2 * half + 1) / (2 * half - 1))
    # A perfectly smooth (full-batch, deterministic) curve has no noise at all; any real
    # descent then counts, but an exactly flat one still does not.
    sigma = max(sigma, 1e-12 * max(1.0, float(np.median(np.abs(y)))))
    # The descent is real when the fitted level falls from the first usable point to the
    # minimum by several standard errors of a difference of two window means.
    first = max(skip_start, half)
    drop = float(fitted[first - half] - fitted[i_min - half]) if i_min > first else 0.0
    candidates = np.flatnonzero(before & (centres >= skip_start))
    if drop <= _Z_DESCENT * sigma * math.sqrt(2.0 / (2 * half + 1)) or candidates.size == 0:
        notes.append(
            "the loss never fell clearly below its batch-to-batch noise: lower start_lr, "
            "raise end_lr, or check that the model can learn from these batches"
        )
        return reading()

    # Steepest descent of the main fall, not of a noise wiggle on the plateau before it: walk
    # back from the minimum while the fitted level is clearly below the starting level.
    level = fitted[candidates]
    ceiling = float(fitted[first - half]) - _FALL_FRACTION * drop
    k = candidates.size - 1
    while k > 0 and level[k - 1] <= ceiling:
        k -= 1
    fall = candidates[k:]
    steep = int(centres[fall[np.argmin(slope[fall])]])
    suggestions["steepest"] = float(lrs[steep])
    suggestions["valley"] = float(lrs[lo + _valley_index(s[lo:hi])])
    suggestions["min_div_10"] = float(lrs[lo + int(np.argmin(s[lo:hi]))]) / 10.0
    if not stopped_early and i_min >= n - half - 1:
        notes.append(
            f"the loss was still falling at the last learning rate ({lrs[n - 1]:.3g}): the "
            "minimum may lie beyond it, so raise end_lr for a sharper reading"
        )
    return reading()


# --------------------------------------------------------------------------- the result


def _floats(a: np.ndarray) -> list[float | None]:
    """JSON has no NaN or infinity: a non-finite value is written as null."""
    return [float(v) if math.isfinite(v) else None for v in a.tolist()]


def _array(name: str, values: object) -> np.ndarray:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        _checks.fail(name, _Short(values), "expected a sequence of numbers", TypeError)
    try:
        arr = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        _checks.fail(name, _Short(values), "expected a sequence of numbers (or null)", TypeError)
    if arr.ndim != 1:
        _checks.fail(name, _Short(values), "expected a flat sequence of numbers")
    arr.flags.writeable = False  # a frozen result should not change under its owner's feet
    return arr


def _option(settings: Mapping, key: str, given: object, default: object) -> object:
    """An explicit option, else the one the result was read with, else the default."""
    if given is not None:
        return given
    saved = settings.get(key)
    return default if saved is None else saved


@dataclass(frozen=True, eq=False)
class RangeTest:
    """The recorded curve of a learning-rate range test and what it suggests.

    Attributes:
        lrs: The learning rate of each iteration that ran.
        losses: The raw training loss of each iteration, measured before its optimizer step;
            with gradient accumulation, the mean over the accumulated micro-batches. A last
            non-finite value is kept: it is why the test stopped.
        smoothed: Bias-corrected EMA of ``losses`` with ``beta = 1 - smoothing``.
        stopped_early: Whether the test ended because the loss diverged (the smoothed loss
            rose above ``diverge_factor`` times its best) or stopped being finite.
        suggestions: ``"valley"``, ``"steepest"`` and ``"min_div_10"``, each a learning rate or
            ``None`` where the curve cannot say.
        recommended: The suggestion the rule picked, or ``None``.
        method: The name of the recommended suggestion, or ``"none"``.
        settings: How the test ran (``start_lr``, ``end_lr``, ``num_iter``, ``mode``,
            ``smoothing``, ``diverge_factor``, ``accumulation_steps``) and how it was read
            (``skip_start``, ``skip_end``, ``window``, ``rule``).
        notes: Plain-words remarks on the curve (why a suggestion is missing, or that the
            range was too narrow).

    Example:
        >>> import numpy as np
        >>> lrs = np.geomspace(1e-5, 10, 100)
        >>> losses = 2.0 - 1.5 / (1 + np.exp(-(np.log10(lrs) + 2) * 3))
        >>> rt = RangeTest.from_curve(lrs, losses)
        >>> round(float(np.log10(rt.suggestions["steepest"])), 1)
        -2.0
        >>> RangeTest.from_json(rt.to_json()) == rt
        True

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks" (2017); fastai
        ``lr_find``; torch-lr-finder ``LRFinder``.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stopped_early: bool
    suggestions: dict[str, float | None]
    recommended: float | None
    method: str
    settings: dict
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("lrs", "losses", "smoothed"):
            object.__setattr__(self, name, _array(name, getattr(self, name)))
        if not len(self.lrs) == len(self.losses) == len(self.smoothed):
            _checks.fail(
                "losses",
                _Short(self.losses),
                f"lrs, losses and smoothed must have one length; got {len(self.lrs)}, "
                f"{len(self.losses)} and {len(self.smoothed)}",
            )
        object.__setattr__(self, "stopped_early", bool(self.stopped_early))
        object.__setattr__(self, "suggestions", dict(self.suggestions))
        object.__setattr__(self, "settings", dict(self.settings))
        object.__setattr__(self, "notes", tuple(self.notes))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RangeTest):
            return NotImplemented
        return (
            all(
                np.array_equal(getattr(self, k), getattr(other, k), equal_nan=True)
                for k in ("lrs", "losses", "smoothed")
            )
            and (self.stopped_early, self.suggestions, self.recommended, self.method)
            == (other.stopped_early, other.suggestions, other.recommended, other.method)
            and self.settings == other.settings
            and self.notes == other.notes
        )

    __hash__ = None  # equal by value but mutable inside (dicts): not hashable

    @classmethod
    def from_curve(
        cls,
        lrs: Iterable[float],
        losses: Iterable[float],
        *,
        smoothing: float = 0.05,
        stopped_early: bool = False,
        skip_start: int | None = None,
        skip_end: int = 5,
        window: int | None = None,
        rule: str = "auto",
        settings: Mapping | None = None,
    ) -> RangeTest:
        """Read suggestions off a recorded curve (from lrlab or any other finder).

        Args:
            lrs: Increasing positive learning rates, one per iteration.
            losses: The raw loss of each iteration (non-finite values end the usable curve).
            smoothing: Weight of the newest loss in the EMA, in ``(0, 1]``; 1 turns smoothing
                off. The EMA feeds ``valley`` and ``min_div_10``.
            stopped_early: Whether the curve ended because the loss diverged.
            skip_start: Leading iterations that no suggestion may pick; default
                ``num_iter // 10`` as in fastai (the first few points describe the start,
                not the learning rate).
            skip_end: Trailing iterations left out of ``valley`` and ``min_div_10``; 5 as in
                fastai (they are the blow-up that stopped the test).
            window: Odd number of points in the centred window whose least-squares slope
                defines ``steepest``; default about ``num_iter / 10``.
            rule: ``"auto"`` recommends the median suggestion (the lower of two when only
                two exist); a method name recommends that one (nothing when it is missing).
            settings: How the curve was recorded; merged into :attr:`settings`.

        Returns:
            A :class:`RangeTest` for the curve.

        Why the ``"auto"`` rule: each suggestion fails in its own way. ``steepest`` tends
        to sit low for long budgets (the loss of a range test is cumulative, so it falls
        fastest before the learning rate that trains fastest); ``min_div_10`` can land
        too close to the blow-up for Adam; ``valley`` lands far too low whenever the curve
        starts falling early, since its descent then begins at the first points. The median
        outvotes whichever one has failed. Measured on scikit-learn's digits, breast-cancer
        and diabetes data (linear and one-hidden-layer models; SGD, SGD with momentum and
        Adam; 100 and 500 training steps: 36 cases), the final loss at the median was on
        average (geometric mean) 1.57 times the best over a grid of learning rates, against
        1.65 for ``steepest``, 1.86 for ``min_div_10``, 2.63 for ``valley`` and 1.82 for
        torch-lr-finder's steepest-gradient rule.

        Example:
            >>> import numpy as np
            >>> flat = RangeTest.from_curve(np.geomspace(1e-6, 1, 50), np.ones(50))
            >>> flat.recommended, flat.method
            (None, 'none')
        """
        settings = dict(settings or {})
        lrs_a = _array("lrs", lrs)
        losses_a = _array("losses", losses)
        if len(lrs_a) != len(losses_a):
            _checks.fail("losses", _Short(losses), f"must have one value per lr ({len(lrs_a)})")
        if len(lrs_a) < 2 or not (np.all(lrs_a > 0) and np.all(np.diff(lrs_a) > 0)):
            _checks.fail("lrs", _Short(lrs), "expected at least 2 increasing positive values")
        smoothing = _smoothing(smoothing)
        num_iter = int(settings.get("num_iter") or len(lrs_a))
        if skip_start is None:
            skip_start = num_iter // 10
        skip_start = _checks.int_in_range("skip_start", skip_start, 0, _MAX_NUM_ITER)
        skip_end = _checks.int_in_range("skip_end", skip_end, 0, _MAX_NUM_ITER)
        if window is None:
            window = 2 * max(2, min(num_iter // 20, 100)) + 1
        window = _checks.int_in_range("window", window, 3, 2 * _MAX_NUM_ITER + 1)
        if window % 2 == 0:
            _checks.fail("window", window, "must be odd (a window centred on each point)")
        rule = _checks.one_of("rule", rule, RULES)

        read = _read_curve(
            lrs_a,
            losses_a,
            smoothing=smoothing,
            skip_start=skip_start,
            skip_end=skip_end,
            half=window // 2,
            rule=rule,
            stopped_early=bool(stopped_early),
        )
        settings.setdefault("start_lr", float(lrs_a[0]))
        settings.setdefault("end_lr", float(lrs_a[-1]))
        settings.setdefault("num_iter", num_iter)
        settings.setdefault("mode", None)
        settings.setdefault("diverge_factor", None)
        settings.setdefault("accumulation_steps", None)
        settings.update(
            smoothing=smoothing,
            skip_start=skip_start,
            skip_end=skip_end,
            window=window,
            rule=rule,
        )
        return cls(
            lrs=lrs_a,
            losses=losses_a,
            smoothed=read.smoothed,
            stopped_early=stopped_early,
            suggestions=read.suggestions,
            recommended=read.recommended,
            method=read.method,
            settings=settings,
            notes=read.notes,
        )

    def suggest(
        self,
        *,
        smoothing: float | None = None,
        skip_start: int | None = None,
        skip_end: int | None = None,
        window: int | None = None,
        rule: str | None = None,
    ) -> RangeTest:
        """Read the saved curve again with other options, without running anything.

        Options left at ``None`` keep their current values (see :meth:`from_curve`). The
        divergence stop was decided during the run with the smoothing it had then; a new
        ``smoothing`` changes :attr:`smoothed` and the suggestions, not where the run ended.

        Returns:
            A new :class:`RangeTest` with the same ``lrs`` and ``losses``.

        Example:
            >>> import numpy as np
            >>> lrs = np.geomspace(1e-5, 10, 100)
            >>> rt = RangeTest.from_curve(lrs, 1 / (1 + lrs))
            >>> rt.suggest(smoothing=0.2).settings["smoothing"]
            0.2
        """
        s = self.settings
        return RangeTest.from_curve(
            self.lrs,
            self.losses,
            smoothing=_option(s, "smoothing", smoothing, 0.05),
            stopped_early=self.stopped_early,
            skip_start=_option(s, "skip_start", skip_start, None),
            skip_end=_option(s, "skip_end", skip_end, 5),
            window=_option(s, "window", window, None),
            rule=_option(s, "rule", rule, "auto"),
            settings=s,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; non-finite losses become ``None`` (read back as NaN).

        Example:
            >>> rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1, 1, 10], [3, 2, 1, 2, 9])
            >>> sorted(rt.to_dict())[:3]
            ['losses', 'lrs', 'method']
        """
        return {
            "lrs": _floats(self.lrs),
            "losses": _floats(self.losses),
            "smoothed": _floats(self.smoothed),
            "stopped_early": self.stopped_early,
            "suggestions": dict(self.suggestions),
            "recommended": self.recommended,
            "method": self.method,
            "settings": dict(self.settings),
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        """The result as one JSON object (strict JSON: no NaN or infinity).

        Example:
            >>> rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1, 1, 10], [3, 2, 1, 2, 9])
            >>> rt.to_json().startswith('{"lrs"')
            True
        """
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RangeTest:
        """Rebuild a result from :meth:`to_dict` output, exactly as it was saved.

        Example:
            >>> rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1, 1, 10], [3, 2, 1, 2, 9])
            >>> RangeTest.from_dict(rt.to_dict()) == rt
            True
        """
        if not isinstance(data, Mapping):
            _checks.fail(
                "data", _Short(data), "expected a mapping from RangeTest.to_dict", TypeError
            )
        required = (
            "lrs",
            "losses",
            "smoothed",
            "stopped_early",
            "suggestions",
            "recommended",
            "method",
            "settings",
        )
        missing = [k for k in required if k not in data]
        if missing:
            _checks.fail("data", _Short(data), f"missing keys {', '.join(missing)}")
        suggestions = data["suggestions"]
        if not isinstance(suggestions, Mapping) or not isinstance(data["settings"], Mapping):
            _checks.fail(
                "data", _Short(data), "suggestions and settings must be mappings", TypeError
            )
        rec = data["recommended"]
        return cls(
            lrs=data["lrs"],
            losses=data["losses"],
            smoothed=data["smoothed"],
            stopped_early=bool(data["stopped_early"]),
            suggestions={str(k): (None if v is None else float(v)) for k, v in suggestions.items()},
            recommended=None if rec is None else float(rec),
            method=str(data["method"]),
            settings=dict(data["settings"]),
            notes=tuple(str(n) for n in data.get("notes", ())),
        )

    @classmethod
    def from_json(cls, text: str) -> RangeTest:
        """Rebuild a result from :meth:`to_json` output.

        Example:
            >>> rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1, 1, 10], [3, 2, 1, 2, 9])
            >>> RangeTest.from_json(rt.to_json()) == rt
            True
        """
        if not isinstance(text, (str, bytes, bytearray)):
            _checks.fail("text", _Short(text), "expected a JSON string", TypeError)
        return cls.from_dict(json.loads(text))

    def plot(self, ax: Any = None) -> Any:
        """Draw the curve: raw loss faint, smoothed bold, log-x, a marker per suggestion.

        The recommended learning rate is ringed; the y-range follows the descent, so the
        final blow-up does not flatten the picture. See :func:`lrlab.plot.range_test_curve`.

        Args:
            ax: A matplotlib ``Axes`` to draw on; a new figure when ``None``.

        Returns:
            The ``Axes``.

        Example:
            >>> rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1, 1, 10], [3, 2, 1, 2, 9])
            >>> rt.plot().get_xscale()
            'log'
        """
        from .plots import range_test_curve  # imported here: plotting is optional for a finder

        fig = range_test_curve(self, ax=ax)
        return ax if ax is not None else fig.axes[0]


def _smoothing(value: object) -> float:
    v = _checks.positive_float("smoothing", value)
    if v > 1:
        _checks.fail("smoothing", value, "must be in (0, 1]: the weight of the newest loss")
    return v


# --------------------------------------------------------------------------- the run


class _Snapshot:
    """In-memory copies of everything a range test changes, and a way to put them back."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: object):
        modules = list(model.modules())
        if isinstance(loss_fn, nn.Module):  # a loss with parameters or buffers of its own
            modules += list(loss_fn.modules())
        # (module, name, tensor, copy): restoring by name also undoes a re-assigned attribute.
        self.slots = []
        for m in modules:
            for name, t in itertools.chain(
                m.named_parameters(recurse=False), m.named_buffers(recurse=False)
            ):
                self.slots.append((m, name, t, t.detach().clone()))
        seen = {id(t) for _, _, t, _ in self.slots}
        self.loose = [  # optimizer parameters that live outside the model
            (p, p.detach().clone())
            for g in optimizer.param_groups
            for p in g["params"]
            if id(p) not in seen
        ]
        params = {id(t): t for _, _, t, _ in self.slots if isinstance(t, nn.Parameter)}
        params.update({id(p): p for p, _ in self.loose})
        self.grads = [
            (p, None if p.grad is None else p.grad.detach().clone()) for p in params.values()
        ]
        self.optimizer = optimizer
        self.opt_state = copy.deepcopy(optimizer.state_dict())  # deepcopy clones the tensors
        self.modes = [(m, m.training) for m in modules]
        self.cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        self.rng = (
            torch.get_rng_state(),
            torch.cuda.get_rng_state_all() if self.cuda else None,
            np.random.get_state(),
            random.getstate(),
        )

    def restore(self) -> None:
        with torch.no_grad():
            for m, name, t, saved in self.slots:
                if getattr(m, name, None) is not t:
                    setattr(m, name, t)
                t.copy_(saved)
            for p, saved in self.loose:
                p.copy_(saved)
        for p, g in self.grads:
            p.grad = g
        self.optimizer.load_state_dict(self.opt_state)
        for m, training in self.modes:
            m.training = training
        cpu, cuda, np_state, py_state = self.rng
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        np.random.set_state(np_state)
        random.setstate(py_state)


def _is_full_batch(loader: object) -> bool:
    return (
        isinstance(loader, (tuple, list))
        and len(loader) == 2
        and all(isinstance(t, torch.Tensor) for t in loader)
    )


def _cycle(loader: Iterable) -> Iterator:
    """Batches for ever: re-iterate the loader when a pass ends.

    A one-shot iterator (a generator) cannot be re-iterated, so its batches are kept and
    replayed; a loader that yields nothing in a pass ends the stream.
    """
    if _is_full_batch(loader):
        yield from itertools.repeat(tuple(loader))
        return
    one_shot = isinstance(loader, Iterator)
    seen = []
    while True:
        count = 0
        for batch in loader:
            count += 1
            if one_shot:
                seen.append(batch)
            yield batch
        if count == 0:
            return
        if one_shot:
            yield from itertools.cycle(seen)
            return


def _to(obj: Any, device: torch.device) -> Any:
    """Move the tensors in a batch (nested tuples, named tuples, lists, dicts) to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_to(o, device) for o in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    return obj


def _loss_value(loss: object, loss_fn: object) -> float:
    if not isinstance(loss, torch.Tensor):
        _checks.fail(
            "loss_fn",
            _Short(loss_fn),
            f"it returned a {type(loss).__name__}; expected a scalar tensor",
            TypeError,
        )
    if loss.numel() != 1:
        _checks.fail(
            "loss_fn",
            _Short(loss_fn),
            f"it returned a tensor of shape {tuple(loss.shape)}; expected a scalar "
            "(reduce the loss, e.g. reduction='mean')",
        )
    if not loss.requires_grad:
        _checks.fail(
            "loss_fn",
            _Short(loss_fn),
            "its loss does not depend on any trainable parameter (no grad_fn)",
        )
    return float(loss.detach())


def range_test(
    model: nn.Module,
    loss_fn: Any,
    loader: Any,
    optimizer: torch.optim.Optimizer,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    mode: str = "exp",
    smoothing: float = 0.05,
    diverge_factor: float = 5.0,
    accumulation_steps: int = 1,
    device: Any = None,
) -> RangeTest:
    """Run the learning-rate range test on a model, then put everything back as it was.

    Iteration ``i`` (of ``num_iter``) sets every parameter group's learning rate to
    ``start_lr * (end_lr / start_lr) ** (i / (num_iter - 1))`` (``mode="exp"``) or
    ``start_lr + (end_lr - start_lr) * i / (num_iter - 1)`` (``mode="linear"``) -- all groups
    get the same rate, so relative group rates are not kept -- computes the loss of the next
    batch in training mode, and takes one optimizer step. The test stops early when the
    smoothed loss rises above ``diverge_factor`` times its best so far (checked from the
    sixth iteration on; for a negative best, the rise is measured against ``|best|``), or
    when a loss is not finite.

    Args:
        model: The ``nn.Module`` to test; it is not moved between devices.
        loss_fn: ``loss_fn(model(inputs), targets)`` must return a scalar tensor.
        loader: A ``DataLoader`` or any iterable of ``(inputs, targets)`` batches, cycled
            when it runs out (a one-shot iterator's batches are kept in memory and replayed);
            or a pair ``(X, y)`` of tensors, used as one full batch every time.
        optimizer: The optimizer to step; it must hold some of the model's trainable
            parameters. Optimizers whose ``step`` needs a closure (LBFGS) are not supported.
        start_lr: Learning rate of the first iteration (> 0).
        end_lr: Learning rate of the last iteration (> start_lr).
        num_iter: Number of iterations (optimizer steps), 5 to 100000.
        mode: ``"exp"`` (even steps in log lr; the usual choice) or ``"linear"``.
        smoothing: Weight of the newest loss in the bias-corrected EMA, in ``(0, 1]``.
        diverge_factor: Stop when the smoothed loss exceeds this multiple of its best (> 1).
        accumulation_steps: Micro-batches per optimizer step; each backpropagates
            ``loss / accumulation_steps``, so with a mean-reduced loss ``k`` batches of ``b``
            act like one batch of ``k * b``.
        device: Where batches are moved; default: the device of the model's first parameter.

    Returns:
        A :class:`RangeTest` with the curve, the suggestions and the recommended rate.

    Raises:
        TypeError: An argument of the wrong kind (not a module, not an optimizer, a batch
            that is not a pair, a loss that is not a tensor).
        ValueError: A bad value: no trainable parameters, an optimizer without any of them,
            a non-scalar loss, an empty loader, bad learning rates or counts, a loss that is
            not finite at the first step. The model and optimizer are then left unchanged.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> X, y = torch.randn(512, 10), torch.randn(512, 1)
        >>> model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))
        >>> opt = torch.optim.Adam(model.parameters())
        >>> loader = torch.utils.data.DataLoader(list(zip(X, y)), batch_size=32, shuffle=True)
        >>> rt = range_test(model, nn.MSELoss(), loader, opt, end_lr=1.0, num_iter=60)
        >>> len(rt.lrs) <= 60
        True

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017; fastai
        ``Learner.lr_find``; torch-lr-finder ``LRFinder.range_test``.
    """
    if not isinstance(model, nn.Module):
        _checks.fail("model", _Short(model), "expected a torch.nn.Module", TypeError)
    if not callable(loss_fn):
        _checks.fail(
            "loss_fn", _Short(loss_fn), "expected a callable (outputs, targets) -> loss", TypeError
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        _checks.fail("optimizer", _Short(optimizer), "expected a torch.optim.Optimizer", TypeError)
    start_lr = _checks.positive_float("start_lr", start_lr)
    end_lr = _checks.positive_float("end_lr", end_lr)
    if start_lr >= end_lr:
        _checks.fail("end_lr", end_lr, f"must be greater than start_lr={start_lr!r}")
    num_iter = _checks.int_in_range("num_iter", num_iter, 5, _MAX_NUM_ITER)
    mode = _checks.one_of("mode", mode, ("exp", "linear"))
    smoothing = _smoothing(smoothing)
    diverge_factor = _checks.positive_float("diverge_factor", diverge_factor)
    if diverge_factor <= 1:
        _checks.fail("diverge_factor", diverge_factor, "must be > 1 (a multiple of the best loss)")
    accumulation_steps = _checks.int_in_range(
        "accumulation_steps", accumulation_steps, 1, _MAX_ACCUMULATION
    )

    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        _checks.fail("model", _Short(model), "it has no trainable parameters (requires_grad=True)")
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in trainable):
        _checks.fail(
            "model",
            _Short(model),
            "it has uninitialised (lazy) parameters: run one forward pass first",
        )
    held = {id(p) for g in optimizer.param_groups for p in g["params"]}
    if not any(id(p) in held for p in trainable):
        _checks.fail(
            "optimizer", _Short(optimizer), "it holds none of the model's trainable parameters"
        )
    if device is None:
        device = trainable[0].device
    else:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError):
            _checks.fail("device", device, "expected a torch.device or a name like 'cpu', 'cuda'")
    if not _is_full_batch(loader):
        if isinstance(loader, (str, bytes, Mapping)) or not isinstance(loader, Iterable):
            _checks.fail(
                "loader",
                _Short(loader),
                "expected a DataLoader, an iterable of (inputs, targets) or a pair "
                "(X, y) of tensors",
                TypeError,
            )
        try:
            empty = len(loader) == 0
        except TypeError:  # unsized iterables are checked when the first batch is drawn
            empty = False
        if empty:
            _checks.fail("loader", _Short(loader), "it is empty: it yields no batches")

    lrs = _ramp(start_lr, end_lr, num_iter, mode)
    if any(b <= a for a, b in itertools.pairwise(lrs)):
        _checks.fail(
            "end_lr",
            end_lr,
            f"too close to start_lr={start_lr!r} for {num_iter} distinct learning rates",
        )
    batches = _cycle(loader)
    seen_lrs: list[float] = []
    losses: list[float] = []
    stopped, drawn = False, 0
    snapshot = _Snapshot(model, optimizer, loss_fn)
    try:
        model.train()
        ema = _Ema(smoothing)
        best = math.inf
        for i, lr in enumerate(lrs):
            for group in optimizer.param_groups:
                group["lr"] = lr
            model.zero_grad(set_to_none=True)
            optimizer.zero_grad(set_to_none=True)
            total, finite = 0.0, True
            for _ in range(accumulation_steps):
                batch = next(batches, None)
                if batch is None:
                    _checks.fail(
                        "loader",
                        _Short(loader),
                        "it is empty: it yields no batches"
                        if drawn == 0
                        else "it stopped yielding batches",
                    )
                drawn += 1
                if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
                    _checks.fail(
                        "loader",
                        _Short(loader),
                        f"each batch must be a pair (inputs, targets); got {_Short(batch)!r}",
                        TypeError,
                    )
                inputs, targets = batch
                loss = loss_fn(model(_to(inputs, device)), _to(targets, device))
                value = _loss_value(loss, loss_fn)
                if not math.isfinite(value):
                    if i == 0:
                        _checks.fail(
                            "loss_fn",
                            _Short(loss_fn),
                            f"the loss was not finite at the first step (loss={value} "
                            f"at lr={lr:.3g}): check the data, the model's "
                            "initialisation and the loss",
                        )
                    total, finite = value, False
                    break
                (loss if accumulation_steps == 1 else loss / accumulation_steps).backward()
                total += value
            step_loss = total / accumulation_steps if finite else total
            seen_lrs.append(lr)
            losses.append(step_loss)
            if not finite:
                stopped = True
                break
            optimizer.step()
            smooth = ema.update(step_loss)
            best = min(best, smooth)
            if not math.isfinite(smooth) or (
                i >= _WARMUP and smooth > best + (diverge_factor - 1.0) * abs(best)
            ):
                stopped = True
                break
    finally:
        snapshot.restore()

    settings = {
        "start_lr": start_lr,
        "end_lr": end_lr,
        "num_iter": num_iter,
        "mode": mode,
        "smoothing": smoothing,
        "diverge_factor": diverge_factor,
        "accumulation_steps": accumulation_steps,
    }
    return RangeTest.from_curve(
        seen_lrs, losses, smoothing=smoothing, stopped_early=stopped, settings=settings
    )
