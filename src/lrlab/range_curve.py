"""Reading a range test's curve: pure functions from (learning rates, losses) to suggestions.

Nothing here runs a model. The run (:mod:`lrlab.range_test`) records a curve; this module
smooths it and reads three suggestions off it; :class:`lrlab.RangeTest` keeps both.

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
* ``min_div_10`` -- fastai's ``minimum``: the learning rate at the minimum of the smoothed
  curve, divided by 10.
* ``min_div_3`` -- the learning rate at the minimum of the *typical* loss, divided by 3. The
  minimum is the largest rate that still lowers the loss; Smith advises training at a third
  to a quarter of it. The typical loss is a running median of the raw losses followed by a
  running mean of those medians, both over the centred windows of ``steepest`` (so no lag,
  unlike the EMA, whose minimum comes 1/smoothing iterations late). The median because
  mini-batch curves spike: once a small dataset is nearly fitted during the test itself,
  the loss sits near zero for a decade of rates while single batches jump (catapults) to
  many times that level and back. Each spike lifts the mean of every window that holds it,
  so a least-squares level's minimum fell just before the first spike (0.4-0.9 of the best
  rate on wine with Adam, where the typical loss stayed low up to four times it); a median
  ignores any spikes short of half its window. The mean after it because a median alone
  wanders on Gaussian noise (its minimum scattered twice as far as the least-squares one
  on a noisy parabola); medians first, then a mean, is Tukey's order for robust smoothing.
  A smooth curve (full batch: most points are the medians of their own windows) has no
  spikes to see through, and keeps the least-squares level of ``steepest``: the wider span
  of the two windows would pull its minimum towards the flat side of a lopsided valley.

The recommended one (rule ``"auto"``) is ``min_div_3``. Measured on mini-batch training
(``benchmarks/range_test.py``: MLPs on scikit-learn's digits, wine and breast-cancer data with
Adam, AdamW and SGD with momentum, a few epochs, against a grid of full training runs), it is
the most even of the readings (mean log-progress 0.92, worst problem 0.85 on the benchmark's
seeds; 0.90 and 0.72 on seeds not used to choose it): the steepest point sits low whenever
the loss keeps falling after its fastest drop (a fifth of the best rate with SGD and
momentum on digits), fastai's ``valley`` reads the lagging EMA from the start of the descent
(5-20 times too low), and an earlier recommendation, the median of the other three, fell to
0.73 with SGD and momentum on wine. Where a tiny dataset is nearly fitted during the test
itself (wine with Adam) the typical loss bottoms out near the best rate for training, and a
third of it is still 2-4 times low.
None of them is given when the loss never fell clearly beyond its own batch-to-batch noise.

Example:
    >>> import numpy as np
    >>> lrs = np.geomspace(1e-5, 10, 100)
    >>> losses = 2.0 - 1.5 / (1 + np.exp(-(np.log10(lrs) + 2) * 3))
    >>> r = read_curve(lrs, losses, smoothing=0.05, skip_start=10, skip_end=5, half=5,
    ...                rule="auto", stopped_early=False)
    >>> round(float(np.log10(r.suggestions["steepest"])), 1)
    -2.0

References:
    fastai, ``Learner.lr_find`` and the ``valley``, ``steep`` and ``minimum`` suggestions,
    https://github.com/fastai/fastai/blob/master/fastai/callback/schedule.py.
    torch-lr-finder, ``LRFinder.plot`` (steepest gradient),
    https://github.com/davidtvs/pytorch-lr-finder.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from . import _checks
from ._format import fmt

__all__ = [
    "AUTO",
    "METHODS",
    "RULES",
    "Ema",
    "Reading",
    "check_smoothing",
    "ema",
    "ramp",
    "read_curve",
]

#: The suggestions a range test gives.
METHODS = ("steepest", "valley", "min_div_10", "min_div_3")
#: What ``rule`` accepts: ``"auto"`` (``min_div_3``, see the module docstring) or one method.
RULES = ("auto", *METHODS)
#: The method ``"auto"`` recommends.
AUTO = "min_div_3"
# Smith's advice: train at a third to a quarter of the largest rate that still lowers the
# loss. A third came closer to the best of full training runs on the mini-batch benchmark.
_BELOW_MINIMUM = 3.0

# The curve counts as falling when its fitted level drops by this many standard errors; the
# deepest of ~num_iter/window nearly independent windows of pure noise stays well short of it.
_Z_DESCENT = 4.0
# Steepest descent is sought where the curve has fallen at least this fraction of its drop.
_FALL_FRACTION = 0.2
# Values copied at a time by the windowed median (8 MB of float64).
_MEDIAN_BLOCK = 1 << 20


def check_smoothing(value: object) -> float:
    """``value`` as the weight of the newest loss in the EMA, which must lie in ``(0, 1]``.

    Example:
        >>> check_smoothing(0.05)
        0.05
    """
    v = _checks.positive_float("smoothing", value)
    if v > 1:
        _checks.fail("smoothing", value, "must be in (0, 1]: the weight of the newest loss")
    return v


def ramp(start_lr: float, end_lr: float, num_iter: int, mode: str) -> list[float]:
    """Learning rate of each iteration: ``start * (end/start)**t`` or ``start + (end-start)*t``.

    ``t = i / (num_iter - 1)``, so the first iteration uses ``start_lr`` and the last
    ``end_lr`` exactly. Python floats keep every value reproducible from the formula.

    Example:
        >>> [fmt(lr) for lr in ramp(1e-4, 1e-1, 4, "exp")]
        ['0.0001', '0.001', '0.01', '0.1']
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


class Ema:
    """Bias-corrected exponential moving average, one value at a time.

    ``m_i = beta * m_{i-1} + (1 - beta) * x_i`` with ``m_0 = 0`` and ``beta = 1 - smoothing``;
    the value is ``m_i / (1 - beta**i)``, which removes the pull towards the zero start
    (as in Adam, and fastai's smoothed loss).

    Example:
        >>> e = Ema(0.5)
        >>> e.update(4.0), e.update(2.0)  # the first value is the loss itself: no pull to 0
        (4.0, 2.6666666666666665)
    """

    def __init__(self, smoothing: float) -> None:
        self.beta = 1.0 - smoothing
        self.mean = 0.0
        self.count = 0

    def update(self, x: float) -> float:
        self.count += 1
        self.mean = self.beta * self.mean + (1.0 - self.beta) * x
        return self.mean / (1.0 - self.beta**self.count)


def ema(losses: Iterable[float], smoothing: float) -> np.ndarray:
    """The bias-corrected EMA of a whole curve (the same arithmetic the live test uses).

    Example:
        >>> ema([4.0, 2.0], 0.5).tolist()
        [4.0, 2.6666666666666665]
    """
    ema = Ema(smoothing)
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


def _window_median(y: np.ndarray, half: int) -> np.ndarray:
    """The median of every centred window of ``2*half + 1`` points (centres ``half .. n-half-1``).

    Rows of the sliding view are taken a block at a time, so the copies that ``np.median``
    makes stay within ``_MEDIAN_BLOCK`` values whatever the window.
    """
    windows = np.lib.stride_tricks.sliding_window_view(y, 2 * half + 1)
    rows = max(1, _MEDIAN_BLOCK // windows.shape[1])
    return np.concatenate(
        [np.median(windows[i : i + rows], axis=1) for i in range(0, len(windows), rows)]
    )


def _typical_minimum(y: np.ndarray, half: int) -> tuple[int, bool] | None:
    """Index of the minimum of the running mean of running medians (``2*half + 1`` each),
    and whether it is the last point the two windows can describe; ``None`` for a smooth
    curve.

    Both windows are centred, so the level at a point describes the rates around it, not
    the ones before it. A curve shorter than the two windows gets a shorter mean window.
    A smooth curve is locally monotone, so most of its points are the medians of their own
    windows (the median distance to them is exactly 0): it has no batch noise to see
    through, and no spikes, and its least-squares level is read as it was.
    """
    medians = _window_median(y, half)  # centres half .. n-half-1
    if np.median(np.abs(y[half : len(y) - half] - medians)) == 0:
        return None
    k = min(half, (len(medians) - 1) // 2)
    level = np.convolve(medians, np.full(2 * k + 1, 1.0 / (2 * k + 1)), mode="valid")
    at = int(np.argmin(level))
    return half + k + at, at == len(level) - 1


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
class Reading:
    """What :func:`read_curve` read: the smoothed curve, the suggestions, the pick and why.

    Example:
        >>> Reading(np.ones(3), {"steepest": None}, None, "none", ()).method
        'none'
    """

    smoothed: np.ndarray
    suggestions: dict[str, float | None]
    recommended: float | None
    method: str
    notes: tuple[str, ...]


def read_curve(
    lrs: np.ndarray,
    losses: np.ndarray,
    *,
    smoothing: float,
    skip_start: int,
    skip_end: int,
    half: int,
    rule: str,
    stopped_early: bool,
) -> Reading:
    """Smooth a recorded curve and read the suggestions and the recommendation off it.

    ``half`` is the half-width of the least-squares windows; ``skip_start`` leading and
    ``skip_end`` trailing points are left out as the module docstring says.
    """
    smoothed = ema(losses, smoothing)
    suggestions: dict[str, float | None] = dict.fromkeys(METHODS)
    notes: list[str] = []

    def reading() -> Reading:
        method = AUTO if rule == "auto" else rule
        rec = suggestions[method]
        if rec is None:
            method = "none"
        return Reading(smoothed, suggestions, rec, method, tuple(notes))

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
    # The minimum of the typical loss (see the module docstring): spikes do not move it.
    typical = _typical_minimum(y, half)
    i_low, at_end = typical if typical is not None else (i_min, i_min >= n - half - 1)
    suggestions["min_div_3"] = float(lrs[max(i_low, lo)]) / _BELOW_MINIMUM
    if not stopped_early and at_end:
        notes.append(
            f"the loss was still falling at the last learning rate ({fmt(lrs[n - 1])}): the "
            "minimum may lie beyond it, so raise end_lr for a sharper reading"
        )
    return reading()
