"""Diagnose the learning-rate regime of a run from its cost curve.

A run of gradient descent falls in one of five regimes (``REGIMES``):

* ``diverging``: the cost becomes non-finite, grows by orders of magnitude, grows steadily
  over the whole run, or rebounds steadily by an order of magnitude from its best level;
* ``too_high``: the cost stalls clearly above the best reachable cost (by more than the
  tolerance plus the error of its own noisy level) while bouncing (noise or a 2-cycle large
  against the gap), or creeps down only because its steps overshoot;
* ``good``: the cost gets within ``TOL`` (2 %) of the initial gap of the best reachable cost
  *and has flattened out*: a run sitting on a floor it is still falling through (the best
  lane of a sweep whose lanes all crawl) has not converged;
* ``too_low``: the cost is still falling steadily at the end of the budget, whatever the
  other runs of its sweep did;
* ``stuck``: the run has stopped descending (at its pace, neither the extrapolation nor its
  final gradient would take it down by the tolerance in another budget) at a worse level.

Every judgement is made on *gaps* ``cost - floor`` scaled by the initial gap, so the sign and
the scale of the costs do not matter, and trends are judged on *windows* of the curve (a tenth
of the run each), never on single steps: a full-batch run at the edge of stability goes up
on many single steps but keeps falling over windows, and is not diverging.

The floor (the best reachable cost: a known minimum, or the best final cost of a sweep) makes
the diagnosis sharp. Without it the remaining gap is projected from the last three windows
(Aitken's extrapolation, exact for geometric convergence), and ``stuck`` cannot be told from
``good``. Per-step gradient norms (and step lengths), which lrlab records for its own runs,
add two pieces of evidence: a tiny final gradient (a stationary point) and the *descent
efficiency* ``q = (C[t] - C[t+1]) / (|g[t]| * |step[t]|)``, which is ``1 - alpha*L/2`` on a
quadratic: near 1 for cautious steps, near 0 (or below) for steps that overshoot the valley.

With momentum or an adaptive rule (``optimizer=``) the cost overshoots and rings on its way
down: a run whose swings shrink is not diverging, and the advice speaks of that rule's
stability limit (``(2 + 2*beta)/L`` for heavy-ball momentum) or, for Adam and its kin, of
the curve alone. When each cost is a mean of noisy mini-batch losses and the error of that
mean is known (``noise=``, as :class:`lrlab.Monitor` passes it), scatter that sampling
explains is not read as bouncing. A run whose cost shot up and came back down to no real
progress (a blown-up network predicting a constant) is diverging. Every threshold lives in
``RULES`` with its reason.

Example:
    >>> import numpy as np
    >>> from lrlab.regimes import diagnose
    >>> losses = 0.5 * (1 - 2.1) ** (2 * np.arange(100))   # f = x**2/2, alpha = 2.1
    >>> diagnose(losses, floor=0.0, lr=2.1).regime
    'diverging'
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

from lrlab._checks import closest, fail, finite_float, positive_float
from lrlab._format import fmt, json_safe

__all__ = ["REGIMES", "RULES", "TOL", "Diagnosis", "Rules", "diagnose"]

REGIMES = ("diverging", "too_high", "good", "too_low", "stuck")


@dataclass(frozen=True)
class Rules:
    """Every threshold of the diagnosis, once, with the reason for its value.

    Gaps and drops are fractions of the initial gap ``start - floor`` (or of the total drop
    without a floor); windows are fractions of the run. The values were set on the tuned
    curves of ``benchmarks/data/regimes/curves.json``; ``heldout.json`` checks them on curves
    made by another generator.

    Example:
        >>> RULES.tol, RULES.blowup_growth
        (0.02, 10.0)
    """

    #: "reached the minimum": within 2 % of the initial gap above the floor. Product promise;
    #: the labels of both benchmark sets use the same tolerance.
    tol: float = 0.02
    #: a window is a tenth of the run: long enough that its median ignores spikes and
    #: jitter, short enough that three of them fit in the last 60 %.
    window: float = 0.1
    #: the windows end at 40 %, 70 % and 100 % of the run: two equal spans of 30 % for the
    #: three-point (Aitken) extrapolation, late enough to skip the first transient.
    level_ends: tuple[float, float] = (0.4, 0.7)
    #: a change is real when it exceeds this many standard errors of a window level ...
    significance: float = 3.0
    #: ... and this fraction of the cost's scale (below it, float rounding).
    rounding: float = 1e-9
    #: a tail is smooth (its end is its last value) with fewer sign flips than this ...
    smooth_alternation: float = 0.1
    #: ... and fewer up-steps than this.
    smooth_up: float = 0.05
    #: a late drop at least this fraction of the drop before it is no geometric convergence
    #: that the budget could see the end of: the remaining fall is unbounded.
    geometric: float = 0.95
    #: descent efficiency (1 - alpha*L/2 on a quadratic) below this: alpha*L > 1.6, steps
    #: that cross the valley rather than go down it.
    overshoot_efficiency: float = 0.2
    #: a final gradient norm below this fraction of the largest: a stationary point.
    stationary: float = 1e-3
    #: tail noise above this fraction of the remaining gap: the run bounces on a plateau.
    noise_plateau: float = 0.01
    #: with ``noise=`` (each cost a mean of batch losses, with that standard error): a tail
    #: that scatters by no more than this many times it shows batch sampling, not a bounce.
    #: Means of independent batches scatter by their standard error whatever the learning
    #: rate; a rate too high to settle makes the loss itself wander over many batches, which
    #: a mean does not average out. Twice: the scatter is read from a few dozen points, and
    #: batch losses are skewed, so the error of either estimate is tens of percent.
    sampling_excess: float = 2.0
    #: a run that ends no lower than it started, calm (below this) over its last third after
    #: its cost rose to this many times its initial gap, was broken by its steps (a blow-up
    #: that left a saturated or dead network behind), not slow: a descent never doubles its
    #: cost, and the momentum or Adam overshoot that can is followed by progress below the
    #: start, or is still ringing at the end.
    collapse_peak: float = 2.0
    #: ... and so was one whose cost grew by orders of magnitude (``blowup_growth``), then
    #: came back down, calm, without even halving its initial gap: a blow-up that left the
    #: network predicting a constant (whose cost can sit a little below the start).
    collapse_left: float = 0.5
    #: sign flips of successive changes above this fraction: a 2-cycle.
    cycle: float = 0.9
    #: the cost grew this many times its initial gap: blown up, whatever the shape and the
    #: optimizer (momentum and Adam overshoot, but not by an order of magnitude for long).
    blowup_growth: float = 10.0
    #: the smallest factor a blow-up's advice applies to the learning rate: past 10,000x the
    #: cost grew faster than any quadratic's geometric rate (a quartic, as on rosenbrock,
    #: asked for 1e-10), and the quadratic model behind the factor no longer says anything.
    least_factor: float = 1e-4
    #: rising windows that end this many times above the initial gap: steady growth.
    steady_growth: float = 1.2
    #: an order of magnitude back up from the best window, still climbing: a rebound.
    rebound: float = 10.0
    #: a run still removing more than this part of its remaining gap over the last 30 % is
    #: descending ...
    late_progress: float = 0.1
    #: ... as is one whose projected end is below this fraction of its current gap.
    projected_half: float = 0.5
    #: a run that, at its last window's rate or at its final gradient, would fall by more
    #: than the tolerance within this many more budgets has not stopped descending: it is
    #: not ``stuck``, and not ``good`` on a floor it would fall through. One budget: what
    #: the user would try next.
    horizon: float = 1.0
    #: the last window's gradient above this fraction of the one at 40 %: the gradient has
    #: stopped shrinking.
    stalled_gradient: float = 0.5
    #: fewer points than this show no trend worth trusting: confidence at most 0.5.
    few_points: int = 10
    #: more points than this are refused (memory of the judge's copies).
    max_points: int = 10_000_000


#: The rules in force.
RULES = Rules()
#: "reached the minimum": within 2 % of the initial gap above the floor (``RULES.tol``).
TOL = RULES.tol


@dataclass(frozen=True)
class Diagnosis:
    """The regime of a run, how sure the diagnosis is, the numbers behind it and what to do.

    Attributes:
        regime: one of ``REGIMES``.
        confidence: between 0 and 1.
        evidence: the numbers the label rests on (JSON-ready; ``None`` where unknown). Gaps
            are fractions of the initial gap ``start - floor``; without a floor, of the total
            drop. Keys, as they apply: ``points``, ``start``, ``floor``, ``floor_used``,
            ``nonfinite`` (count), ``first_nonfinite_step``, ``final`` (the end level),
            ``best``, ``up_steps`` (fraction of steps that went up), ``tail_alternation``
            (fraction of sign flips of successive changes over the last 30 %), ``growth``
            (end gap over start gap), ``growth_per_step``, ``rebound``, ``final_gap``,
            ``projected_gap`` (where the current pace leads), ``late_progress`` (part of the
            gap removed over the last 30 %), ``tail_noise``, ``tail_amplitude``,
            ``total_drop``, ``efficiency`` (descent efficiency, see the module),
            ``grad_norm_ratio`` (final over largest gradient norm), ``grad_trend``.
        advice: plain words, with a concrete next learning rate when ``lr`` was given.
        next_lr: the learning rate the advice suggests (``None`` when ``lr`` is unknown or the
            regime is ``good``).

    Example:
        >>> d = diagnose([1.0, 0.5, 0.25, 0.125, 0.0625] + [0.0] * 20, floor=0.0, lr=0.1)
        >>> d.regime, d.next_lr
        ('good', None)
        >>> sorted(d.to_dict())
        ['advice', 'confidence', 'evidence', 'next_lr', 'regime']
    """

    regime: str
    confidence: float
    evidence: dict[str, float | int | bool | None] = field(default_factory=dict)
    advice: str = ""
    next_lr: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The diagnosis as plain JSON-ready types.

        Example:
            >>> Diagnosis("good", 0.9, {"final_gap": 0.0}, "keep it").to_dict()["regime"]
            'good'
        """
        return {
            "regime": self.regime,
            "confidence": self.confidence,
            "evidence": {k: json_safe(v) for k, v in self.evidence.items()},
            "advice": self.advice,
            "next_lr": self.next_lr,
        }


def diagnose(
    losses: Any,
    floor: float | None = None,
    *,
    lr: float | None = None,
    grad_norms: Any = None,
    step_sizes: Any = None,
    start_loss: float | None = None,
    optimizer: Any = None,
    sharpness: float | None = None,
    noise: Any = None,
) -> Diagnosis:
    """Label a run's cost curve with its learning-rate regime, with evidence and advice.

    Args:
        losses: the cost at each logged step: a sequence, numpy array or torch tensor of real
            numbers, at least 2 of them. NaN and inf are allowed (they mean divergence).
        floor: the best reachable cost when known (a known minimum, or the best final cost of
            the runs of the same sweep). Without it the diagnosis projects the remaining gap
            from the shape of the curve and cannot tell ``stuck`` from ``good``.
        lr: the learning rate of the run, for the advice (and, with ``grad_norms``, for the
            descent efficiency).
        grad_norms: the gradient norm at each step (same length as ``losses``, or one less).
        step_sizes: the length of each step (same length as ``losses``, or one less).
        start_loss: the cost at the starting point when the log begins later.
        optimizer: the update rule that made the run: None or ``"sgd"`` (plain gradient
            descent), a name (``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``), or a rule
            object with ``.name`` and, as it applies, ``.momentum``, ``.nesterov``,
            ``.dampening`` and ``stability_limit(sharpness)`` (``lrlab.optim``'s rules). With
            momentum or an adaptive rule the cost rings and overshoots on its way down: a
            run whose swings shrink is not diverging, the descent efficiency (a plain
            gradient-descent quantity) is not used, and the advice speaks of that rule.
        sharpness: the largest Hessian eigenvalue ``L`` near the run, when known: the advice
            then names the rule's quadratic stability limit (``2/L``; ``(2 + 2*beta)/L`` with
            heavy-ball momentum), and a run inside it is not called diverging unless it blows up.
        noise: when each cost is the mean of noisy mini-batch losses (as the block means of a
            :class:`lrlab.Monitor` are), the standard error of each from batch sampling alone:
            one number, or one per cost. Scatter within ``RULES.sampling_excess`` times it is
            then not read as bouncing: a noisy run that still descends is ``too_low``, a noisy
            one that has flattened out ``good``.

    Returns:
        A ``Diagnosis``.

    Raises:
        ValueError: empty or one-point curves, no finite value, non-numeric values, a negative
            or non-finite ``lr``, or per-step arrays of the wrong length.
        TypeError: arguments of the wrong type.

    Example:
        >>> import numpy as np
        >>> t = np.arange(201)
        >>> diagnose(0.5 * (1 - 1e-3) ** (2 * t), floor=0.0, lr=1e-3).regime  # f = x**2/2
        'too_low'
        >>> diagnose(0.5 * (1 - 1.0) ** (2 * t), floor=0.0, lr=1.0).regime
        'good'
    """
    v = _as_curve("losses", losses)
    floor_v = None if floor is None else finite_float("floor", floor)
    lr_v = None if lr is None else positive_float("lr", lr, allow_zero=True)
    g = None if grad_norms is None else _per_step("grad_norms", grad_norms, len(v))
    s = None if step_sizes is None else _per_step("step_sizes", step_sizes, len(v))
    opt = _Optimizer.of(optimizer)
    sharp = None if sharpness is None else positive_float("sharpness", sharpness, allow_zero=True)
    se = None if noise is None else _noise(noise, len(v))
    c0 = float(v[0]) if start_loss is None else finite_float("start_loss", start_loss)
    if start_loss is None and not math.isfinite(c0):
        c0 = float(v[np.isfinite(v)][0])
    with np.errstate(all="ignore"):  # huge finite costs overflow in squares: no warnings
        return _Judge(v, floor_v, lr_v, g, s, c0, opt, sharp, se).run()


# ------------------------------------------------------------------------------- the optimizer

# Rules whose step is scaled per coordinate by running gradient statistics: no 2/L applies.
_ADAPTIVE = ("adam", "adamw", "rmsprop", "adagrad")
_OPTIMIZERS = ("sgd", *_ADAPTIVE)


@dataclass(frozen=True)
class _Optimizer:
    """What the judge needs to know of the rule that made a run (read from any duck type)."""

    name: str = "sgd"
    momentum: float = 0.0
    nesterov: bool = False
    dampening: float = 0.0
    rule: Any = None  # the caller's rule object, for its own ``stability_limit``

    @classmethod
    def of(cls, optimizer: Any) -> _Optimizer:
        if optimizer is None:
            return _PLAIN
        if isinstance(optimizer, str):
            name = optimizer.strip().lower()
            if name not in _OPTIMIZERS:
                hint = closest(name, _OPTIMIZERS)
                fail(
                    "optimizer",
                    optimizer,
                    (f"did you mean {', '.join(hint)}? " if hint else "")
                    + f"choose one of {', '.join(_OPTIMIZERS)}, or pass a rule object",
                )
            return cls(name)
        name = getattr(optimizer, "name", None)
        if not isinstance(name, str):
            fail(
                "optimizer",
                _short(optimizer),
                "expected None, a name such as 'sgd' or 'adam', or a rule with a .name",
                TypeError,
            )
        momentum = getattr(optimizer, "momentum", 0.0)
        if not isinstance(momentum, Real) or isinstance(momentum, bool):
            fail("optimizer.momentum", momentum, "expected one number per run", TypeError)
        return cls(
            name.lower(),
            float(momentum),
            bool(getattr(optimizer, "nesterov", False)),
            float(getattr(optimizer, "dampening", 0.0) or 0.0),
            optimizer,
        )

    @property
    def adaptive(self) -> bool:
        return self.name in _ADAPTIVE

    @property
    def plain(self) -> bool:
        """Plain gradient descent: every step is ``lr * gradient``."""
        return not self.adaptive and self.momentum == 0

    def limit(self, sharpness: float | None) -> float | None:
        """The largest stable learning rate on a quadratic of that sharpness, if the rule has one."""
        if sharpness is None or sharpness <= 0 or self.adaptive:
            return None
        if self.rule is not None and callable(getattr(self.rule, "stability_limit", None)):
            got = self.rule.stability_limit(sharpness)
            return None if got is None else float(got)
        return self.limit_factor / ((1 - self.dampening) * sharpness)

    @property
    def limit_factor(self) -> float:
        """``lr * L`` at the edge: 2, 2 + 2b for heavy ball, (2 + 2b)/(1 + 2b) for Nesterov."""
        b = self.momentum
        return (2 + 2 * b) / (1 + 2 * b) if self.nesterov else 2 + 2 * b

    def limit_words(self) -> str:
        """The stability limit as a formula, in the rule's own terms."""
        b = fmt(self.momentum, 3)
        if self.momentum == 0:
            return "the stability limit 2/L"
        if self.nesterov:
            return f"the stability limit of Nesterov momentum {b}, (2 + 2*{b})/((1 + 2*{b}) L)"
        return f"the stability limit of momentum {b}, (2 + 2*{b})/L"

    def label(self) -> str:
        """How the advice names the rule."""
        if self.adaptive:
            return self.name.capitalize() if self.name != "adamw" else "AdamW"
        if self.momentum:
            return f"{'Nesterov ' if self.nesterov else ''}momentum {fmt(self.momentum, 3)}"
        return "gradient descent"


_PLAIN = _Optimizer()  # plain gradient descent, the default (frozen: one is enough)


# ---------------------------------------------------------------------------------- input checks


def _as_curve(name: str, values: Any, *, per_step: bool = False) -> np.ndarray:
    arr = values
    if type(values) is not np.ndarray or values.dtype != np.float64:  # else nothing to convert
        if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch tensor, not imported
            values = values.detach().cpu().double().numpy()
        if isinstance(values, (str, bytes, dict)) or values is None:
            fail(name, _short(values), "expected a sequence of real numbers", TypeError)
        if not hasattr(values, "__len__") and hasattr(values, "__iter__"):
            values = list(values)  # a generator or another one-shot iterable
        try:
            arr = np.asarray(values)
        except (TypeError, ValueError):
            fail(name, _short(values), "expected a sequence of real numbers")
        if arr.dtype == object or arr.dtype.kind not in "iuf":  # booleans are not costs
            try:
                arr = np.asarray([_real(x) for x in np.ravel(arr)], dtype=np.float64)
            except (TypeError, ValueError):
                fail(name, _short(values), "expected real numbers only (NaN and inf are allowed)")
        arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 1:
        fail(name, f"array of shape {arr.shape}", "expected a 1-D sequence of costs")
    if per_step:  # the caller checks the length; a diverged run may have no finite norm
        return arr
    if arr.size == 0:
        fail(name, _short(values), "the curve is empty; need at least 2 costs")
    if arr.size < 2:
        fail(name, _short(values), "one point is not a curve; need at least 2 costs")
    if arr.size > RULES.max_points:
        fail(name, f"{arr.size} points", f"at most {RULES.max_points:,} points")
    if not (math.isfinite(arr.item(0)) or np.isfinite(arr).any()):
        fail(name, _short(values), "no finite value; need at least one finite cost")
    return arr


def _real(x: Any) -> float:
    if isinstance(x, (bool, np.bool_, np.complexfloating)) or not isinstance(x, (Real, np.number)):
        raise TypeError(f"not a real number: {x!r}")
    return float(x)


def _per_step(name: str, values: Any, n: int) -> np.ndarray:
    arr = _as_curve(name, values, per_step=True)
    if len(arr) not in (n, n - 1):
        fail(name, f"{len(arr)} values", f"expected one per step: {n} (or {n - 1}) like losses")
    if (arr < 0).any() and (arr[np.isfinite(arr)] < 0).any():  # -inf is allowed
        fail(name, _short(values), "norms and lengths cannot be negative")
    return arr


def _noise(values: Any, n: int) -> np.ndarray:
    """``noise=`` as one non-negative standard error per cost."""
    if isinstance(values, Real) and not isinstance(values, bool):
        arr = np.full(n, float(values))
    else:
        arr = _as_curve("noise", values, per_step=True)
        if len(arr) != n:
            fail("noise", f"{len(arr)} values", f"expected one number, or one per cost ({n})")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        fail("noise", _short(values), "standard errors must be finite and non-negative")
    return arr


def _short(values: Any) -> Any:
    text = repr(values)
    return values if len(text) <= 60 else text[:57] + "..."


def _ratio(a: float, b: float) -> float:
    """a / b that never raises: +-inf for a nonzero a over 0, and 0 for 0 / 0.

    Called only under :func:`diagnose`'s ``np.errstate(all="ignore")``.
    """
    try:
        q = float(a) / float(b)  # the same IEEE division as numpy's
    except ZeroDivisionError:
        q = float(np.float64(a) / np.float64(b))
    return 0.0 if math.isnan(q) else q


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


# The judge takes about twenty medians and means of short arrays per curve: np.median and
# np.mean spend most of their time in generic checks, so these compute the same numbers
# directly, and windows of equal length are sorted together (one numpy call for all).


def _median(a: np.ndarray) -> float:
    """``np.median`` of a non-empty 1-D float array: the same number, NaN when any is NaN."""
    s = a.copy()
    s.sort()
    if math.isnan(s.item(-1)):  # NaN sorts last
        return math.nan
    n = len(s)
    m = n // 2
    # np.median averages the middle one or two with a sum that starts from 0.0, so that a
    # middle -0.0 gives 0.0: the same arithmetic here
    if n % 2:
        return 0.0 + s.item(m)
    return (0.0 + s.item(m - 1) + s.item(m)) / 2


def _row_medians(rows: np.ndarray) -> list[float]:
    """``_median`` of each row of a 2-D float array, from one sort (in place) of them all."""
    rows.sort(axis=1)  # NaN sorts last in its row
    m = rows.shape[1] // 2
    last = rows[:, -1].tolist()
    if rows.shape[1] % 2:
        mid = rows[:, m].tolist()
        return [math.nan if math.isnan(z) else 0.0 + x for z, x in zip(last, mid, strict=True)]
    lo, hi = rows[:, m - 1].tolist(), rows[:, m].tolist()
    return [
        math.nan if math.isnan(z) else (0.0 + x + y) / 2
        for z, x, y in zip(last, lo, hi, strict=True)
    ]


def _mean(a: np.ndarray) -> float:
    """``np.mean`` of a non-empty 1-D float array: the same number."""
    return float(np.add.reduce(a) / len(a))


def _fraction(mask: np.ndarray) -> float:
    """``np.mean`` of a non-empty boolean array: the fraction of True."""
    return np.count_nonzero(mask) / len(mask)


def _std(values: list[float]) -> float:
    """``np.std(values, ddof=1)``: the same steps (mean, deviations, their squares' sum)."""
    a = np.array(values, dtype=np.float64)
    d = a - np.add.reduce(a) / len(a)
    return math.sqrt(np.add.reduce(d * d) / (len(a) - 1))


def _blocks(a: np.ndarray, k: int) -> list[np.ndarray]:
    """``np.array_split(a, k)``: ``k`` consecutive blocks, the first ones one longer."""
    size, extra = divmod(len(a), k)
    blocks, at = [], 0
    for i in range(k):
        n = size + (i < extra)
        blocks.append(a[at : at + n])
        at += n
    return blocks


def _block_medians(a: np.ndarray, k: int) -> list[float]:
    """The medians of ``_blocks(a, k)``, from two sorts (in place: ``a`` is changed)."""
    size, extra = divmod(len(a), k)
    cut = extra * (size + 1)
    return _row_medians(a[:cut].reshape(extra, size + 1)) + _row_medians(
        a[cut:].reshape(k - extra, size)
    )


@functools.lru_cache(maxsize=64)
def _windows(starts: tuple[int, ...], w: int) -> np.ndarray:
    """Indices of the windows of ``w`` points from each start, one row each."""
    index = np.add.outer(np.array(starts), np.arange(w))
    index.setflags(write=False)
    return index


@functools.lru_cache(maxsize=64)
def _line_basis(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """What ``np.polyfit(np.arange(n), y, 1)`` sets up before it solves: it depends on n only."""
    t = np.arange(n)
    lhs = np.vander(t + 0.0, 2)
    scale = np.sqrt((lhs * lhs).sum(axis=0))
    lhs /= scale
    lhs.setflags(write=False)
    return t, lhs, scale, n * np.finfo(np.float64).eps


def _detrend(y: np.ndarray) -> np.ndarray:
    """``y - np.polyval(np.polyfit(t, y, 1), t)`` for ``t = 0, 1, ...``: the same steps."""
    t, lhs, scale, rcond = _line_basis(len(y))
    slope, intercept = np.linalg.lstsq(lhs, y + 0.0, rcond)[0] / scale
    # np.polyval's Horner steps from an integer zero: (0 * t + slope) * t + intercept
    return y - ((0.0 + slope) * t + intercept)


@functools.lru_cache(maxsize=64)
def _spans(n: int, k: int) -> tuple[tuple[int, int], ...]:
    """``(start, end)`` of ``k`` near-equal, non-empty windows of ``n`` points."""
    edges = np.linspace(0, n, k + 1).astype(int).tolist()
    return tuple((a, b) for a, b in itertools.pairwise(edges) if b > a)


# ------------------------------------------------------------------------------ the curve's shape


@dataclass(frozen=True)
class _Shape:
    """What the windows of a finite curve show, read once (see :func:`_read_shape`)."""

    w: int  # points per window
    lev: tuple[float, float, float]  # median levels of the windows ending at 40, 70, 100 %
    sigma: float  # step-to-step noise of the tail (from second differences)
    alternation: float  # fraction of sign flips of successive changes in the tail
    tail_up: float  # fraction of tail steps that went up
    tail_steps: np.ndarray  # the size of each tail step
    se: float  # the error of a window level
    mid_drop: float  # lev[0] - lev[1]
    late_drop: float  # lev[1] - lev[2]
    last_drop: float  # the drop from the second-last window to the last one
    smooth: bool  # the tail falls monotonically without jitter
    end: float  # the level the run ended at
    end_median: float  # the median of the last window (lev[2])
    end_mean: float  # the mean of the last window
    se_end: float  # the error of the end level
    low: float  # the lowest cost
    high: float  # the highest cost

    @functools.cached_property
    def amplitude(self) -> float:
        """The median size of a tail step (only the judgement without a floor reads it)."""
        return _median(self.tail_steps) if len(self.tail_steps) else 0.0


def _read_shape(v: np.ndarray) -> _Shape:
    """Three equal-spaced window levels (ending at 40 %, 70 %, 100 %) and the tail's noise."""
    n = len(v)
    w = max(1, round(RULES.window * n))
    ends = [max(1, round(RULES.level_ends[0] * n)), max(1, round(RULES.level_ends[1] * n)), n]
    # medians: a spike (a catapult, an unlucky batch) must not move a trend. Every end is at
    # least w, so each level (and the window before the last, for the last drop) has w points.
    starts = [e - w for e in ends] + ([n - 2 * w] if n >= 2 * w else [])
    levels = _row_medians(v[_windows(tuple(starts), w)])
    lev = (levels[0], levels[1], levels[2])
    tail = v[min(ends[1], n - 3) :] if n >= 3 else v
    d1 = tail[1:] - tail[:-1]  # np.diff, twice, without its checks
    d2 = d1[1:] - d1[:-1]
    # noise from second differences: blind to smooth trends, sees jitter and 2-cycles
    sigma = float(1.4826 * _median(np.abs(d2 - _median(d2))) / math.sqrt(6)) if len(d2) else 0.0
    size = np.abs(d1)
    big = size > 1e-12 * max(1.0, float(np.abs(tail).max()))
    signs = np.sign(d1[big])
    alternation = _fraction(signs[1:] != signs[:-1]) if len(signs) > 2 else 0.0
    tail_up = _fraction(d1 > 0) if len(d1) else 0.0
    # the error of a window level: white jitter, or slow wandering (correlated noise) seen
    # as the spread of block levels around a straight line through the tail
    se_white = sigma * math.sqrt(2.0 / w)
    se_blocks = 0.0
    if len(tail) >= 12:
        spread = _std(_block_medians(_detrend(tail), 6))
        se_blocks = spread * math.sqrt(-(-len(tail) // 6) / w) * math.sqrt(2.0)  # first block
    se = max(se_white, se_blocks)
    # the level the run ended at: the last value when the tail is smooth and monotone,
    # otherwise the mean of the last window
    smooth = alternation < RULES.smooth_alternation and tail_up < RULES.smooth_up
    end_mean = _mean(v[n - w :])
    return _Shape(
        w=w,
        lev=lev,
        sigma=sigma,
        alternation=alternation,
        tail_up=tail_up,
        tail_steps=size,
        se=se,
        mid_drop=lev[0] - lev[1],
        late_drop=lev[1] - lev[2],
        last_drop=levels[3] - lev[2] if n >= 2 * w else 0.0,
        smooth=smooth,
        end=float(v[-1]) if smooth or n < 5 else end_mean,
        end_median=lev[2],  # the last window ends at n
        end_mean=end_mean,
        se_end=se / math.sqrt(2.0),
        low=float(v.min()),
        high=float(v.max()),
    )


def _grad_ratio(fin: np.ndarray | None) -> float | None:
    """The final gradient norm over the largest, from the finite norms (None without norms)."""
    if fin is None:
        return None
    top = fin.max() if len(fin) else None
    if len(fin) < 2 or top <= 0:
        return 0.0 if len(fin) and top == 0 else None
    return float(_median(fin[-3:]) / top)


# ------------------------------------------------------------------------------------ the judge


class _Judge:
    """One diagnosis: features of the curve, then the decision and its words."""

    def __init__(self, v, floor, lr, g, s, c0, opt, sharpness, noise=None):
        self.v, self.floor, self.lr, self.g, self.s, self.c0 = v, floor, lr, g, s, c0
        self.opt = opt
        self.n = len(v)
        self.ev: dict[str, Any] = {"points": self.n, "start": c0, "floor": floor}
        self.limit = opt.limit(sharpness)
        self.noise = noise
        self.nonfinite = self.n - int(np.count_nonzero(np.isfinite(v)))
        self.finite = self.nonfinite == 0
        # read once, never changed: what the curve and the gradients show
        self.shape = _read_shape(v) if self.finite else None
        # most runs have no non-finite norm: then no window of them needs filtering
        self.g_finite = g is not None and bool(np.isfinite(g).all())
        self.grad_ratio = _grad_ratio(g if g is None or self.g_finite else g[np.isfinite(g)])
        if not opt.plain:
            self.ev["momentum"] = opt.momentum
        if self.limit is not None:
            self.ev["stability_limit"] = self.limit

    # -- features ----------------------------------------------------------------------------

    def _significant(self, drop: float, scale: float) -> bool:
        return drop > RULES.significance * self.shape.se and drop > RULES.rounding * scale

    def _projected_remaining(self, scale: float) -> float:
        """How much more the cost would fall at the current pace (Aitken, on windows)."""
        if not self._significant(self.shape.late_drop, scale):
            return 0.0
        if not self._significant(self.shape.mid_drop, scale):
            return math.inf  # flat, then falling: the descent has only begun
        rho = self.shape.late_drop / self.shape.mid_drop
        return math.inf if rho >= RULES.geometric else self.shape.late_drop * rho / (1 - rho)

    def _efficiency(self, scale: float) -> float | None:
        """Median descent efficiency over the last 30 % of steps (None without the inputs)."""
        if self.g is None or (self.s is None and self.lr is None) or not self.opt.plain:
            return None  # 1 - alpha*L/2 is a property of plain gradient descent steps
        m = min(len(self.g), self.n - 1)
        t0 = int(RULES.level_ends[1] * m)
        g = self.g[t0:m]
        denom = g * self.s[t0:m] if self.s is not None else self.lr * g**2
        q = (self.v[t0:m] - self.v[t0 + 1 : m + 1]) / denom  # x/0: under diagnose's errstate
        # ignore steps whose predicted decrease is at rounding level: a converged run says nothing
        level = np.maximum(np.abs(self.v[t0:m]), scale)
        q = q[np.isfinite(q) & (denom > 1e-6 * level)]
        return _median(q) if len(q) >= 3 else None

    def _gradient_fall(self) -> float | None:
        """How much the cost would still fall in another budget at the final gradient.

        A small step along the gradient lowers the cost by ``lr * |g|**2`` (``lr/(1 - beta)``
        once heavy-ball momentum has built up), with the gradient shrinking at the rate it
        shrank over the last window, so a smooth tail whose final gradient would still
        remove more than the tolerance is descending, however flat its cost looks (a slow
        direction). None when that does not apply: no gradients or no ``lr``, an adaptive
        rule, or a noisy tail whose (batch) gradients never vanish.
        """
        if self.g is None or self.lr is None or self.opt.adaptive or not self.shape.smooth:
            return None
        g, w = self.g, self.shape.w
        if len(g) < 2 * w or w < 2 or not (self.g_finite or np.isfinite(g[-2 * w :]).all()):
            return None
        before, last = self._grad_ends
        steps = self.n * RULES.horizon
        if 0 < last < before:  # geometric decay by rho per step: sum of rho**(2k)
            rho2 = (last / before) ** (2 / w)
            steps = min(steps, (1 - rho2**steps) / (1 - rho2))
        lr = self.lr / (1 - self.opt.momentum) if self.opt.momentum < 1 else self.lr
        return float(lr * last**2 * steps)

    def _grad_trend(self) -> float | None:
        """Gradient norm in the last window over that in the window ending at 40 %."""
        if self.g is None:
            return None
        g = self.g
        n, w = len(g), self.shape.w
        at = round(RULES.level_ends[0] * n)
        a = g[max(0, at - w) : max(1, at)]
        a = a if self.g_finite else a[np.isfinite(a)]
        last = self._grad_ends[1]
        if not len(a) or last is None:
            return None
        before = _median(a)
        return None if before <= 0 else last / before

    @functools.cached_property
    def _grad_ends(self) -> tuple[float | None, float | None]:
        """Medians of the finite gradient norms in the window before the last and in the last
        (None where there are none; the first also where that window is not whole and finite).
        """
        g, w = self.g, self.shape.w
        if len(g) >= 2 * w and (self.g_finite or np.isfinite(g[-2 * w :]).all()):
            before, last = _row_medians(g[-2 * w :].reshape(2, w).copy())  # not the caller's
            return before, last
        b = g[len(g) - w :]
        b = b if self.g_finite else b[np.isfinite(b)]
        return None, (_median(b) if len(b) else None)

    # -- decision ----------------------------------------------------------------------------

    def run(self) -> Diagnosis:
        v = self.v
        self.ev["nonfinite"] = self.nonfinite
        if not self.finite:
            return self._nonfinite(int(np.argmax(~np.isfinite(v))))
        self.ev["final"] = self.shape.end
        self.ev["best"] = self.shape.low
        self.ev["up_steps"] = _fraction(v[1:] > v[:-1])  # finite: as np.diff(v) > 0
        self.ev["tail_alternation"] = self.shape.alternation

        floor = self.floor
        if floor is not None and self.c0 - floor <= 0:
            # starting at (or below) the floor: the floor cannot scale this run
            if self.shape.high - floor <= 1e-12 * max(1.0, abs(floor)):
                return self._good_at_floor()
            floor = None
            self.ev["floor_used"] = False
        else:
            self.ev["floor_used"] = floor is not None
        div = self._divergence(floor)
        if div is not None:
            return div
        self.ev["grad_norm_ratio"] = self.grad_ratio
        if floor is not None:
            return self._with_floor(floor)
        return self._without_floor()

    def _nonfinite(self, first: int) -> Diagnosis:
        self.ev["first_nonfinite_step"] = first
        fin = self.v[np.isfinite(self.v)]
        self.ev["last_finite"] = float(fin[-1])
        self.ev["final"] = None
        words = (
            f"The cost became non-finite (NaN or inf) at point {first} of {self.n}: "
            f"the run blew up, so {self._unstable()}."
        )
        return self._diverging(0.99, words, factor=0.1)

    def _divergence(self, floor: float | None) -> Diagnosis | None:
        v, c0, shape = self.v, self.c0, self.shape
        # the reference for growth: the floor, else 0 for costs that look non-negative
        ref = floor if floor is not None else (0.0 if shape.low >= 0 else None)
        if ref is not None and c0 - ref > 0:
            gap0 = c0 - ref
            growth = _ratio(shape.end_median - ref, gap0)
            growth_mean = _ratio(shape.end_mean - ref, gap0)
        else:
            gap0 = max(c0 - shape.low, abs(c0), 1e-300)
            growth = 1.0 + _ratio(shape.end_median - c0, gap0)
            growth_mean = 1.0 + _ratio(shape.end_mean - c0, gap0)
        self.ev["growth"] = growth
        peak = _ratio(shape.high - ref, gap0) if ref is not None else None
        collapsed = (
            peak is not None
            and (
                (peak >= RULES.collapse_peak and growth >= 1 - RULES.tol)
                or (peak >= RULES.blowup_growth and growth >= RULES.collapse_left)
            )
            # calm over its last third
            and _ratio(float(v[2 * self.n // 3 :].max()) - ref, gap0) < RULES.collapse_peak
        )
        if collapsed:
            # before the ringing test, which a flat tail after one early blow-up would pass:
            # a run back at its start, calm over its last third, has no swings left to shrink
            self.ev["peak_growth"] = peak
            words = (
                f"The cost shot up to {peak:.3g}x its initial gap and came back down to no real "
                f"progress ({self.shape.end_median:.4g} against {c0:.4g}): the steps blew the "
                f"run up and it never recovered (a saturated or dead network); "
                f"{self._unstable()}."
            )
            return self._diverging(0.8, words, factor=0.1)
        if self._settling(growth, ref):
            return None
        # the levels of ten windows, when they end rising: a run whose last three do not rise
        # has neither risen monotonically nor rebounded
        spans = _spans(self.n, min(10, self.n))
        rising_end = len(spans) >= 3 and (  # chained: the third level is read only if needed
            _median(v[slice(*spans[-1])])
            > _median(v[slice(*spans[-2])])
            > _median(v[slice(*spans[-3])])
        )
        wins = np.array([_median(v[slice(*span)]) for span in spans]) if rising_end else None
        monotone = rising_end and bool((wins[1:] > wins[:-1]).all())  # np.diff(wins) > 0
        rising = shape.lev[2] > shape.lev[1] > shape.lev[0] or (
            self.n < RULES.few_points and v[-1] > v[0]
        )
        end = shape.end_median
        if growth >= RULES.blowup_growth:
            words = f"The cost grew {growth:.3g}x (from {c0:.4g} to {end:.4g}): {self._unstable()}."
            # Geometric growth by r per step is what a quadratic does at alpha*L = 1 + sqrt(r):
            # when that asks for more than 10x, alpha/(1 + sqrt(r)) is its 1/L.
            rate = growth ** (1 / max(1, self.n - 1))
            factor = min(0.1, 1 / (1 + math.sqrt(rate))) if self.opt.plain else 0.1
            factor = max(factor, RULES.least_factor)
            return self._diverging(0.97, words, factor=factor)
        steady = growth > 1 and monotone and self._significant(end - c0, gap0)
        if (growth >= RULES.steady_growth and rising) or steady:
            rate = self._growth_rate()
            self.ev["growth_per_step"] = rate
            words = (
                f"The cost grew steadily by {growth:.3g}x over the run (from {c0:.4g} to "
                f"{end:.4g}): {self._unstable()}."
            )
            factor = 0.1
            if self.opt.plain and rate is not None and 1 < rate < 4:
                # a quadratic grows by (alpha*L - 1)**2 per step; alpha/(alpha*L) is its 1/L
                factor = 1 / (1 + math.sqrt(rate))
            conf = 0.9 if growth >= 2 else 0.75
            return self._diverging(conf, words, factor=factor)
        if growth_mean >= RULES.steady_growth and growth >= 0.5:
            # no typical progress and, spikes included, above the start on average
            words = (
                f"The cost made little progress and ended above its start on average "
                f"({growth_mean:.3g}x the initial gap), with large spikes: "
                f"{self._unstable()}."
            )
            return self._diverging(0.75, words, factor=0.1)
        if ref is None or not rising_end:
            return None
        # a rebound: an order of magnitude back up from the best window, still climbing
        h = wins - ref
        best = float(h.min())
        if best >= 0 and h[-1] >= RULES.rebound * max(best, 1e-300) and h[-1] >= RULES.tol * gap0:
            self.ev["rebound"] = float(h[-1] / max(best, 1e-300))
            words = (
                f"The cost fell to {best + ref:.4g}, then climbed steadily back to "
                f"{end:.4g} ({h[-1] / max(best, 1e-300):.3g}x the best gap): an "
                "unstable direction is taking over."
            )
            return self._diverging(0.85, words, factor=0.1)
        return None

    def _settling(self, growth: float, ref: float | None) -> bool:
        """A run that the curve alone would call diverging, but that is settling.

        With momentum or an adaptive rule the cost overshoots and rings on its way down, and
        may sit above its start for a while: while its swings shrink, it is not diverging.
        And inside the rule's quadratic stability limit (known from the sharpness) a run
        that has not grown by orders of magnitude is ringing, not blowing up.
        """
        inside = self.lr is not None and self.limit is not None and self.lr <= self.limit
        if inside and growth < RULES.blowup_growth:
            self.ev["inside_limit"] = True
            return True
        if self.opt.plain or self.n < 9:
            return False
        base = ref if ref is not None else self.shape.low
        peaks = [float(np.max(b)) - base for b in _blocks(self.v, 3)]
        shrinking = peaks[2] < peaks[1] < peaks[0]
        self.ev["swings_shrink"] = shrinking
        return shrinking

    def _sampled(self) -> bool:
        """Whether the tail scatters no more than batch sampling makes it (needs ``noise=``)."""
        if self.noise is None:
            return False
        tail = self.noise[min(round(RULES.level_ends[1] * self.n), self.n - 1) :]
        return self.shape.sigma <= RULES.sampling_excess * _median(tail)

    def _growth_rate(self) -> float | None:
        """Per-step growth factor of the gap over the last half, when it is clean."""
        v = self.v
        half = v[self.n // 2 :]
        ref = self.floor if self.floor is not None else (0.0 if self.shape.low >= 0 else None)
        if ref is None or len(half) < 4:
            return None
        gaps = half - ref
        if np.any(gaps <= 0):
            return None
        slope = np.polyfit(np.arange(len(gaps)), np.log(gaps), 1)[0]
        return float(math.exp(slope))

    def _good_at_floor(self) -> Diagnosis:
        self.ev["final"] = float(self.v[-1])
        self.ev["final_gap"] = 0.0
        words = "The cost sits at the floor throughout: the run is at the minimum."
        return self._advise("good", 0.9, words)

    def _with_floor(self, floor: float) -> Diagnosis:
        gap0 = self.c0 - floor
        r = _ratio(self.shape.end - floor, gap0)
        self.ev["final_gap"] = r
        q = self._efficiency(gap0)
        self.ev["efficiency"] = q
        trend = self._grad_trend()
        self.ev["grad_trend"] = trend
        noise = _ratio(self.shape.sigma, max(self.shape.end - floor, 0.0))
        self.ev["tail_noise"] = noise if r > 0 else None
        # "clearly above the floor": beyond the tolerance by more than the level's own error
        slack = _ratio(2 * self.shape.se_end, gap0)
        remaining = self._projected_remaining(gap0)
        r_limit = _ratio(self.shape.lev[2] - remaining - floor, gap0)
        self.ev["projected_gap"] = max(r_limit, 0.0) if math.isfinite(r_limit) else 0.0
        late = _ratio(self.shape.late_drop, max(self.shape.lev[1] - floor, 0.0))
        self.ev["late_progress"] = late
        stationary = self.grad_ratio is not None and self.grad_ratio < RULES.stationary
        # Still descending: at its pace the run would fall by more than the tolerance (by
        # the extrapolation, or at its last window's rate within another budget), or
        # halve its gap, or it removed a real part of its gap over the last 30 %. A
        # stationary point (a tiny gradient) has stopped, whatever the curve suggests.
        steady = self.shape.last_drop / self.shape.w * self.n * RULES.horizon
        pull = self._gradient_fall()
        self.ev["gradient_fall"] = None if pull is None else _ratio(pull, gap0)
        descending = not stationary and (
            (
                remaining > 0
                and (
                    max(remaining, steady) > RULES.tol * gap0
                    or r_limit <= RULES.projected_half * r
                    or late > RULES.late_progress
                )
            )
            or (pull is not None and pull > RULES.tol * gap0)
        )
        if r <= RULES.tol + slack:
            if descending and late > RULES.late_progress and r_limit < -RULES.tol:
                # at the floor but falling through it at a steady pace: the floor (the best
                # lane of a sweep) is where the fastest run got to, not the minimum
                words = (
                    f"The cost reached the floor {floor:.4g} but is still falling steadily "
                    f"(the last 30% of the run removed {_pct(min(late, 1.0))} of its gap "
                    "to the floor): the floor is not the minimum, and the budget ran out "
                    "before the run converged."
                )
                return self._advise("too_low", 0.75, words, factor=3.0, smaller=False)
            conf = 0.95 if r <= RULES.tol / 4 else 0.8 if r <= RULES.tol else 0.6
            words = (
                f"The cost ended {_pct(max(r, 0.0))} of the initial gap above the floor "
                f"{floor:.4g} and has flattened out: it reached the minimum within the budget."
            )
            return self._advise("good", conf, words)
        # overshoot shows as efficiency near 0 on a smooth, monotone tail (a valley crossed on
        # every step); a tail that goes up and down (edge of stability) is judged by its windows
        overshoot = q is not None and q < RULES.overshoot_efficiency and self.shape.tail_up < 0.05
        cycle = self.shape.alternation >= RULES.cycle and noise > RULES.noise_plateau
        gap_words = f"{_pct(r)} of the initial gap above the floor {floor:.4g}"
        if descending:
            if overshoot or cycle:
                why = (
                    f"its steps overshoot (descent efficiency {q:.2g})"
                    if overshoot
                    else "it alternates up and down on every step"
                )
                words = (
                    f"The cost is still {gap_words} and falls only slowly because {why}: "
                    "the learning rate is too high to settle."
                )
                return self._advise("too_high", 0.75, words, factor=1 / 3, smaller=True)
            words = (
                f"The cost is still falling steadily at the end, {gap_words}: the budget "
                "ran out before the minimum."
            )
            conf = 0.9 if late > RULES.late_progress or r_limit <= 0 else 0.75
            return self._advise("too_low", conf, words, factor=self._speedup(r), smaller=False)
        stalled_grad = trend is not None and trend > RULES.stalled_gradient
        bouncing = noise > RULES.noise_plateau or cycle or (overshoot and stalled_grad)
        if bouncing:
            why = (
                f"bouncing with noise {_pct(noise)} of the gap"
                if noise > RULES.noise_plateau
                else "in a 2-cycle"
                if cycle
                else f"with steps that overshoot (descent efficiency {q:.2g})"
            )
            words = (
                f"The cost stalled {gap_words}, {why}: the learning rate is too high to "
                "settle into the minimum."
            )
            conf = 0.9 if noise > 5 * RULES.noise_plateau or overshoot else 0.75
            return self._advise("too_high", conf, words, factor=1 / 3, smaller=True)
        grad_words = ""
        conf = 0.75
        if stationary:
            grad_words = f" and a gradient norm {self.grad_ratio:.2g} of its largest"
            conf = 0.9
        elif self.grad_ratio is not None:
            conf = 0.6
        words = (
            f"The cost converged {gap_words}, with a flat tail{grad_words}: the run is stuck "
            "at a worse stationary point (a local minimum or a saddle)."
        )
        return self._advise("stuck", conf, words, factor=3.0, smaller=False, stuck=True)

    def _without_floor(self) -> Diagnosis:
        v, c0 = self.v, self.c0
        # the typical end level: spikes (catapults) must not hide the progress made
        drop = c0 - min(self.shape.end, self.shape.end_median)
        scale = max(abs(c0), float(np.max(np.abs(v))), 1e-300)
        q = self._efficiency(max(drop, 1e-12 * scale))
        self.ev["efficiency"] = q
        self.ev["final_gap"] = None
        overshoot = q is not None and q < RULES.overshoot_efficiency and self.shape.tail_up < 0.05
        if drop <= max(3 * self.shape.se, 1e-9 * scale):
            self.ev["total_drop"] = drop
            if overshoot:
                words = (
                    "The cost did not fall although the gradient is not small: the steps "
                    "jump across the valley, so the learning rate is too high."
                )
                return self._advise("too_high", 0.6, words, factor=1 / 3, smaller=True)
            if self.grad_ratio is not None and self.grad_ratio < RULES.stationary:
                words = (
                    "The cost did not move and the gradient is tiny: the run sits at a "
                    "stationary point. Without a floor it cannot be told whether that is "
                    "the minimum or a worse point; pass floor= to check."
                )
                return self._advise("good", 0.4, words)
            words = "The cost barely moved over the whole run: the steps are too small to matter."
            return self._advise("too_low", 0.4, words, factor=10.0, smaller=False)
        remaining = self._projected_remaining(drop)
        # the projected limit, from the last window's level, against the run's own range
        limit = self.shape.lev[2] - remaining
        r = _ratio(self.shape.end - limit, c0 - limit) if math.isfinite(remaining) else 1.0
        r = min(max(r, 0.0), 1.0)
        amp = _ratio(self.shape.amplitude, drop)
        self.ev["total_drop"] = drop
        self.ev["projected_gap"] = r
        self.ev["late_progress"] = _ratio(self.shape.late_drop, drop)
        self.ev["tail_noise"] = _ratio(self.shape.sigma, drop)
        self.ev["tail_amplitude"] = amp
        # a bounce larger than the tolerance means the mean level sits above the minimum;
        # scatter that batch sampling explains is no bounce
        sampled = self._sampled()
        if self.noise is not None:
            self.ev["sampling_noise"] = sampled
        bouncing = (
            not sampled
            and amp > RULES.tol
            and (
                self.shape.alternation > 0.5
                or self.shape.sigma > 0.5 * self.shape.amplitude
                or self.shape.tail_up >= 0.2
            )
        )
        if r <= RULES.tol:
            if bouncing:
                words = (
                    f"The cost flattened out, but it bounces by {_pct(amp)} of the total "
                    "drop from step to step: the learning rate is too high to settle (no "
                    "floor given, so this rests on the shape alone)."
                )
                return self._advise("too_high", 0.6, words, factor=1 / 3, smaller=True)
            stationary = self.grad_ratio is not None and self.grad_ratio < RULES.stationary
            words = (
                f"The cost flattened out: the last 30% of the run removed "
                f"{_pct(_ratio(max(self.shape.late_drop, 0.0), drop))} of the total drop"
                + (", and the gradient is tiny" if stationary else "")
                + ". Without a floor this cannot be told apart from being stuck at a worse "
                "point; pass floor= (e.g. the best final cost of a sweep) to check."
            )
            return self._advise("good", 0.7 if stationary else 0.6, words)
        if overshoot or bouncing:
            why = (
                f"its steps overshoot (descent efficiency {q:.2g})"
                if overshoot
                else f"it bounces by {_pct(amp)} of the total drop from step to step"
            )
            words = (
                f"The cost still falls, slowly, because {why}: the learning rate is too "
                "high to settle."
            )
            return self._advise("too_high", 0.65, words, factor=1 / 3, smaller=True)
        left = "an unknown part" if not math.isfinite(remaining) else f"about {_pct(r)}"
        words = (
            f"The cost was still falling steadily at the end: the last 30% of the run "
            f"removed {_pct(_ratio(self.shape.late_drop, drop))} of the drop so far, and {left} "
            "of the way down is projected to be left."
        )
        conf = 0.8 if r > 0.1 else 0.65
        return self._advise("too_low", conf, words, factor=self._speedup(r), smaller=False)

    @staticmethod
    def _speedup(r: float) -> float:
        """How much larger: geometric convergence needs log(RULES.tol)/log(r) times the rate."""
        if not 0 < r < 1:
            return 10.0
        return float(min(10.0, max(3.0, math.log(RULES.tol) / math.log(r))))

    # -- words -------------------------------------------------------------------------------

    def _unstable(self) -> str:
        """Why a run blows up, in the terms of its update rule."""
        if self.opt.adaptive:
            return f"the learning rate is too large for {self.opt.label()}: its steps blow up"
        where = self.opt.limit_words()
        if self.limit is not None and self.lr is not None:
            return f"the learning rate {fmt(self.lr)} is past {where} = {fmt(self.limit)}"
        return f"the learning rate is past {where}"

    def _diverging(self, conf: float, words: str, factor: float) -> Diagnosis:
        """Advice for a run that blew up: half the stability limit when it is known."""
        if self.limit is not None and self.lr and self.limit < self.lr:
            return self._advise(
                "diverging", conf, words, factor=self.limit / 2 / self.lr, smaller=True
            )
        return self._advise(
            "diverging", conf, words, factor=factor, smaller=True, least=factor <= 0.1
        )

    def _advise(self, regime, conf, why, factor=1.0, smaller=False, least=False, stuck=False):
        lr = self.lr
        if regime == "too_high" and self.opt.momentum:
            why += f" Less momentum (now {fmt(self.opt.momentum, 3)}) also damps the swings."
        times = 1 / factor if smaller else factor
        k = f"{times:.2g}x"
        if regime == "good":
            advice = why + (
                f" Keep the learning rate {fmt(lr, 2)}."
                if lr is not None
                else " Keep the learning rate."
            )
            return self._done(regime, conf, advice, None)
        if lr is None or lr == 0:
            if stuck:
                tail = " Try a few larger learning rates (3x, 10x, 30x) to get over the hill."
            elif smaller:
                tail = f" Try a learning rate {'at least ' if least else 'about '}{k} smaller."
            else:
                tail = f" Try a learning rate about {k} larger."
            return self._done(regime, conf, why + tail, None)
        nxt = float(f"{lr * factor:.2g}")
        if stuck:
            tries = ", ".join(fmt(lr * m, 2) for m in (3, 10, 30))
            tail = (
                f" Try a few larger learning rates to get over the hill: 3x, 10x, 30x: try {tries}."
            )
        elif smaller:
            tail = f" {'At least' if least else 'About'} {k} smaller: try {fmt(nxt, 2)}."
        else:
            tail = f" About {k} larger: try {fmt(nxt, 2)}."
        return self._done(regime, conf, why + tail, nxt)

    def _done(self, regime, conf, advice, nxt) -> Diagnosis:
        if self.n < RULES.few_points and regime != "diverging":
            conf = min(conf, 0.5)  # a handful of points shows no trend worth trusting
        ev = {k: json_safe(v) for k, v in self.ev.items()}
        return Diagnosis(regime, round(float(conf), 3), ev, advice, nxt)
