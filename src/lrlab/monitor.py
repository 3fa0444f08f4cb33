"""Follow a training run while it trains: its regime at any time, a warning when it turns bad.

A :class:`Monitor` takes the loss of each step from any training loop, keeps a compact
history of it and diagnoses that history with :func:`lrlab.diagnose`, the judge that reads a
finished log, shown the curve as the means of 50 consecutive blocks (:func:`view`): a
mini-batch loss scatters from batch to batch by more than it changes late in a run, and a
judge of single steps reads that scatter as bouncing. Block means still scatter by the
error of a mean of a few batches, which can exceed the 2 % the judge allows a run that has
settled, so the judge is also told that error (:func:`view_noise`, from the batch-to-batch
spread inside each block) and reads scatter within ``RULES.sampling_excess`` times it as
sampling, not bouncing: noisy but descending is ``too_low``, noisy but flat ``good``. The
first loss, not the first block's mean, is the start: a blow-up in the first block must not
pass for the height the run fell from (measured on labelled streams of plain ``torch.optim``
loops, ``benchmarks/monitor.py --accuracy``: right on 64 % of the tuned streams and 81 % of
held-out ones, against 33 % and 38 % from the block means alone). ``lrlab watch`` judges a
log the same way, so a monitor inside a run and ``lrlab watch`` on its log agree.
When the run *turns* diverging, stalls bouncing above the minimum (``too_high``), crawls
(``too_low``) or settles at a worse point (``stuck``, known only with a floor), it says so
once, with the advice, through :mod:`warnings` (:class:`RegimeWarning`) and :mod:`logging`
(the ``"lrlab"`` logger). A turn is a new regime diagnosed at two checks in a row (a run on
the border of two regimes does not flap between them), or a non-finite loss at once; the
monitor warns again only after the run has turned to another regime.

The cost of ``update`` is what makes a monitor usable inside a loop of millions of steps:

* the history is bounded: the first ``max_points`` steps are all kept; when the history is
  full, every third point is kept and from then on every third step's loss is recorded, and
  so on (thirds rather than halves: an odd stride keeps a 2-cycle visible as a 2-cycle);
* a step between two kept points costs a counter increment;
* a loss on an accelerator is kept as a detached 0-d tensor and read, with the others, in one
  transfer at the next check, so the monitor adds no device synchronisation per step; a CPU
  tensor is read at once (``.item()`` is cheaper there than keeping a reference);
* the diagnosis (under a millisecond) runs after every ``check_every`` new kept losses: every
  ``check_every`` steps at first, less often as the history thins, so that a run of millions
  of steps spends about as much on diagnoses as one of thousands; and at once when a loss
  turns non-finite, and when ``regime`` or ``diagnosis`` is read after new losses came in.

``too_low`` is a verdict about a budget: a healthy run early in training is "still falling
steadily" too. So the monitor warns of a crawl only when it knows the budget (``steps=``)
and the pace so far, extrapolated geometrically, will not reach the minimum within it; or,
without a budget, when the loss has not moved beyond its own noise.

:func:`watch` does the same for a log file that another process is writing (``lrlab watch``):
it follows the file as ``tail -f`` does and reports each change of regime.

With ``store=`` (a :func:`lrlab.store.open` store or its URL) the run is on record as a
``diagnosis`` of kind ``running`` from the start, with a heartbeat, its state written at most
every ``STORE_EVERY`` seconds at a check, and ``done`` when the monitor is closed (``close()``,
or the end of a ``with`` block); a process that dies first leaves it ``interrupted``.

Example:
    >>> import math
    >>> mon = Monitor(lr=0.1, steps=1000, warn=False)
    >>> for t in range(300):
    ...     mon.update(0.05 + math.exp(-t / 20))
    >>> mon.regime
    'good'
    >>> mon.count, len(mon.losses)
    (300, 300)
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import torch

from . import _checks
from ._format import json_list, json_safe
from .logs import LogFollower, LossLog
from .regimes import TOL, Diagnosis, diagnose

__all__ = [
    "STORE_EVERY",
    "WARNED",
    "Monitor",
    "RegimeWarning",
    "WatchEvent",
    "view",
    "view_noise",
    "watch",
]

logger = logging.getLogger("lrlab")

#: The regimes a monitor warns about when a run turns into them.
WARNED = ("diverging", "too_high", "too_low", "stuck")

_MAX_POINTS = 3000  # the diagnosis costs about the same (under a millisecond) from 100 to 6000
_DECIMATE = 3  # keep every third point when full: odd, so that a 2-cycle stays a 2-cycle
_MIN_POINTS = 20  # fewer points show no trend worth a warning (a non-finite loss needs none)
# The judge sees the run as the means of this many blocks. A mini-batch loss carries sampling
# noise that a per-step judge reads as bouncing (measured: Adam on digits-mlp from lr 1e-5 to
# 0.1 all read too_high step by step); block means shrink it by sqrt(block) and keep every
# trend the judge looks at (its windows are a tenth of the run, five blocks).
_VIEW_BLOCKS = 50
#: Seconds between two writes of a monitored run's state into its store (at checks only):
#: a record a few seconds old is fresh enough to look at, and training never waits on a disk.
STORE_EVERY = 5.0


class RegimeWarning(UserWarning):
    """Warned once when a monitored run turns diverging, too_high, too_low or stuck.

    Example:
        >>> import warnings
        >>> warnings.simplefilter("ignore", RegimeWarning)  # silence lrlab's regime warnings
    """


class Monitor:
    """The regime of a training run, live: ``update(loss)`` each step, read ``regime`` any time.

    Args:
        lr: the learning rate of the run, for concrete advice (settable while it trains).
        floor: the best reachable loss when known (sharpens the diagnosis; enables ``stuck``).
        steps: the training budget in steps, when known; needed to warn of a crawl.
        check_every: diagnose (and warn) after this many new kept losses (this many steps
            until the history first thins; see the module).
        max_points: the most losses kept; beyond, the history is thinned (see the module).
        warn: warn through ``warnings`` and ``logging`` when the run turns bad.
        store: record the run in this store (a ``lrlab.store.Store`` or a URL).
        name: what the record calls the run.

    Attributes:
        count: the updates so far.

    Example:
        >>> mon = Monitor(lr=1.0, warn=False)
        >>> for t in range(50):
        ...     mon.update(1.5 ** t)          # a run blowing up
        >>> mon.regime, mon.diagnosis.next_lr
        ('diverging', 0.1)
    """

    __slots__ = (
        "_beat",
        "_candidate",
        "_diagnosis",
        "_due",
        "_floor",
        "_fresh",
        "_lr",
        "_next_check",
        "_pending",
        "_pending_steps",
        "_record",
        "_regime_seen",
        "_steps",
        "_store",
        "_stored_at",
        "_stride",
        "_values",
        "budget",
        "check_every",
        "count",
        "max_points",
        "name",
        "turns",
        "warn",
    )

    def __init__(
        self,
        *,
        lr: float | None = None,
        floor: float | None = None,
        steps: int | None = None,
        check_every: int = 100,
        max_points: int = _MAX_POINTS,
        warn: bool = True,
        store: Any = None,
        name: str = "training run",
    ) -> None:
        self._lr = None if lr is None else _checks.positive_float("lr", lr, allow_zero=True)
        self._floor = None if floor is None else _checks.finite_float("floor", floor)
        self.budget = None if steps is None else _checks.int_in_range("steps", steps, 1, 10**15)
        self.check_every = _checks.int_in_range("check_every", check_every, 1, 10**12)
        self.max_points = _checks.int_in_range("max_points", max_points, 3 * _DECIMATE, 10**7)
        if not isinstance(warn, bool):
            _checks.fail("warn", warn, "expected True or False", TypeError)
        self.warn = warn
        self.count = 0
        #: (step, regime) each time the diagnosed regime changed, oldest first.
        self.turns: list[tuple[int, str]] = []
        self._stride = 1
        self._values = np.empty(0)
        self._steps = np.empty(0, dtype=np.int64)
        self._pending: list[Any] = []
        self._pending_steps: list[int] = []
        self._diagnosis: Diagnosis | None = None
        self._fresh = True  # the cached diagnosis covers every loss seen
        self._regime_seen: str | None = None
        self._candidate: str | None = None
        self._next_check = self.check_every
        self._due = min(self._next_check, self.max_points)
        if not isinstance(name, str):
            _checks.fail("name", name, "expected a string", TypeError)
        self.name = name
        self._store = self._record = self._beat = None
        self._stored_at = time.monotonic()
        if store is not None:
            self._open_record(store)

    # -- the hot path ----------------------------------------------------------------------------

    def update(self, loss: Any) -> None:
        """Record the loss of one training step.

        Args:
            loss: a Python or numpy real number, or a one-element torch tensor (gradients and
                graph are not kept).

        Raises:
            TypeError: ``loss`` is not a real number or a one-element tensor.

        Example:
            >>> import torch
            >>> mon = Monitor(warn=False)
            >>> mon.update(torch.tensor(2.0, requires_grad=True) * 1.5)
            >>> mon.update(2.5)
            >>> mon.losses.tolist()
            [3.0, 2.5]
        """
        n = self.count
        self.count = n + 1
        if n % self._stride == 0:
            if type(loss) is not float:
                loss = _scalar(loss)
            self._pending.append(loss)
            self._pending_steps.append(n)
            self._fresh = False
            if type(loss) is float and not math.isfinite(loss) and self._regime_seen != "diverging":
                self._due = n + 1  # a non-finite loss is news now, not at the next check
        if n + 1 >= self._due:
            self._check()

    def _check(self) -> None:
        self._flush()
        if self.count >= self._next_check or self._nonfinite_pending():
            self._next_check = self.count + self.check_every * self._stride
            self._refresh(stacklevel=4)
            if self._store is not None and time.monotonic() - self._stored_at >= STORE_EVERY:
                self._write_record()
        self._due = min(self._next_check, self.count + self.max_points * self._stride)

    def _nonfinite_pending(self) -> bool:
        return self._values.size > 0 and not math.isfinite(self._values[-1])

    def _flush(self) -> None:
        """Move the pending losses into the history, thinning it when it is full."""
        if not self._pending:
            return
        values = np.concatenate([self._values, _floats(self._pending)])
        steps = np.concatenate([self._steps, np.asarray(self._pending_steps, dtype=np.int64)])
        self._pending.clear()
        self._pending_steps.clear()
        while len(values) > self.max_points:
            self._stride *= _DECIMATE
            keep = steps % self._stride == 0
            values, steps = values[keep], steps[keep]
        self._values, self._steps = values, steps

    # -- reading ---------------------------------------------------------------------------------

    @property
    def lr(self) -> float | None:
        """The learning rate the advice is about; set it when a schedule changes it."""
        return self._lr

    @lr.setter
    def lr(self, value: float | None) -> None:
        value = None if value is None else _checks.positive_float("lr", value, allow_zero=True)
        if value != self._lr:
            self._lr = value
            self._fresh = False

    @property
    def floor(self) -> float | None:
        """The best reachable loss, when known."""
        return self._floor

    @floor.setter
    def floor(self, value: float | None) -> None:
        value = None if value is None else _checks.finite_float("floor", value)
        if value != self._floor:
            self._floor = value
            self._fresh = False

    @property
    def losses(self) -> np.ndarray:
        """The kept losses (a copy), oldest first; ``steps`` says which step each is from."""
        self._flush()
        return self._values.copy()

    @property
    def steps(self) -> np.ndarray:
        """The step (0-based update count) of each kept loss.

        Example:
            >>> mon = Monitor(max_points=9, warn=False)
            >>> for t in range(30):
            ...     mon.update(1.0 / (t + 1))
            >>> mon.steps.tolist()
            [0, 9, 18, 27]
        """
        self._flush()
        return self._steps.copy()

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The diagnosis of the run so far (None before two losses).

        Computed when read if new losses came in since the last one, else the cached one.
        """
        return self._current(stacklevel=4)

    @property
    def regime(self) -> str | None:
        """The regime of the run so far, one of ``lrlab.REGIMES`` (None before two losses)."""
        d = self._current(stacklevel=4)
        return None if d is None else d.regime

    def _current(self, stacklevel: int) -> Diagnosis | None:
        if not self._fresh:
            self._flush()
            self._refresh(stacklevel=stacklevel + 1)
        return self._diagnosis

    def to_dict(self) -> dict[str, Any]:
        """The monitor's state as JSON-ready types: what a record of the run keeps.

        Example:
            >>> mon = Monitor(warn=False)
            >>> for x in (3.0, 2.0, float("nan")):
            ...     mon.update(x)
            >>> d = mon.to_dict()
            >>> d["count"], d["regime"], d["losses"]
            (3, 'diverging', [3.0, 2.0, None])
        """
        d = self.diagnosis
        return {
            "count": self.count,
            "lr": self._lr,
            "floor": self._floor,
            "budget": self.budget,
            "regime": None if d is None else d.regime,
            "diagnosis": None if d is None else d.to_dict(),
            "turns": [[step, regime] for step, regime in self.turns],
            "stride": self._stride,
            "steps": json_safe(self._steps),
            "losses": json_list(self._values),
        }

    # -- the record ----------------------------------------------------------------------------

    def _open_record(self, store: Any) -> None:
        from . import store as stores  # SQLAlchemy: only when a store is asked for

        if isinstance(store, (str, os.PathLike)):
            store = stores.open(store)
        if not isinstance(store, stores.Store):
            _checks.fail(
                "store", store, "expected a store (lrlab.store.open) or its URL", TypeError
            )
        params = {
            "source": "monitor",
            "lr": self._lr,
            "floor": self._floor,
            "check_every": self.check_every,
        }
        self._record = store.begin("diagnosis", self.name, params=params, steps=self.budget)
        self._store = store
        self._beat = ExitStack()
        self._beat.enter_context(store.heartbeat(self._record))

    @property
    def record_id(self) -> str | None:
        """The id of the run's record when it has a store, else None."""
        return self._record

    def _output(self) -> dict[str, Any]:
        d = self.diagnosis
        return {**(d.to_dict() if d is not None else {"regime": None}), "monitor": self.to_dict()}

    def _write_record(self) -> None:
        self._stored_at = time.monotonic()
        self._store.set_output(self._record, self._output())

    def close(self, *, status: str = "done") -> None:
        """End the run's record with the final diagnosis; nothing without a store.

        Args:
            status: ``done``, or ``interrupted`` for a run that stopped early (the end of a
                ``with`` block by an exception says so itself).

        Example:
            >>> import lrlab.store
            >>> st = lrlab.store.open("sqlite://")
            >>> with Monitor(store=st, name="demo", warn=False) as mon:
            ...     for t in range(100):
            ...         mon.update(0.9**t)
            >>> rec = st.get(mon.record_id)
            >>> rec.kind, rec.status, rec.steps_done, rec.output["regime"]
            ('diagnosis', 'done', 100, 'good')
        """
        if self._beat is None:
            return
        beat, self._beat = self._beat, None
        beat.close()  # the heartbeat stops first: after finish() the record is final
        self._store.finish(
            self._record, status=status, output=self._output(), steps_done=self.count
        )

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.close(status="done" if kind is None else "interrupted")

    def __repr__(self) -> str:
        return f"Monitor(count={self.count}, regime={self.regime!r})"

    # -- diagnosis and warnings --------------------------------------------------------------

    def _refresh(self, stacklevel: int) -> None:
        self._fresh = True
        values = self._values
        if len(values) < 2:
            return
        finite = np.isfinite(values)
        if not finite.any():
            self._diagnosis = _never_finite(len(values))
        else:
            self._diagnosis = _judge(values, self._floor, self._lr)
        regime = self._diagnosis.regime
        if regime == self._regime_seen:
            self._candidate = None
            return
        if len(values) < _MIN_POINTS and finite.all():
            return  # too early to call a turn: wait for a trend
        # a turn is a new regime diagnosed twice in a row, so that a run on the border of two
        # regimes does not flap between them; a non-finite loss needs no second look
        if regime != self._candidate and finite[-1]:
            self._candidate = regime
            return
        self._candidate = None
        self._regime_seen = regime
        self.turns.append((self.count, regime))
        if self.warn and self._worth_warning(self._diagnosis):
            message = (
                f"lrlab: the run turned {regime} at step {self.count}: {self._diagnosis.advice}"
            )
            logger.warning(message)
            warnings.warn(message, RegimeWarning, stacklevel=stacklevel)

    def _worth_warning(self, d: Diagnosis) -> bool:
        if d.regime not in WARNED:
            return False
        if d.regime != "too_low":
            return True
        left = d.evidence.get("final_gap" if self._floor is not None else "projected_gap")
        if left is None:
            return True  # the loss has not moved beyond its noise: a crawl at any budget
        if self.budget is None:
            return False  # still falling steadily, and no budget to say it is too slow
        if left <= 0:
            return False
        if left >= 1:
            return True
        # at the pace so far (geometric, as the diagnosis projects), the gap left at the end
        # of the budget; a crawl when it is still above the diagnosis's own tolerance
        return left ** (self.budget / max(self.count, 1)) > TOL


def view(losses: Any) -> np.ndarray:
    """A loss curve as the live judge sees it: the means of ``_VIEW_BLOCKS`` consecutive
    blocks (the first ones one point longer), or the curve itself when it is that short.

    A block holding a non-finite loss has a non-finite mean: divergence stays visible.

    Example:
        >>> view(np.arange(200.0))[:3].tolist()
        [1.5, 5.5, 9.5]
        >>> len(view(np.arange(200.0))), len(view(np.arange(30.0)))
        (50, 30)
    """
    v = np.asarray(losses, dtype=np.float64)
    if len(v) < 2 * _VIEW_BLOCKS:
        return v
    lengths = _block_lengths(len(v))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    with np.errstate(invalid="ignore", over="ignore"):
        return np.add.reduceat(v, starts) / lengths


def _block_lengths(n: int) -> np.ndarray:
    """The lengths of :func:`view`'s blocks of ``n`` losses: the first ``n % _VIEW_BLOCKS``
    hold one point more than the others."""
    size, extra = divmod(n, _VIEW_BLOCKS)
    lengths = np.full(_VIEW_BLOCKS, size)
    lengths[:extra] += 1
    return lengths


def view_noise(losses: Any) -> np.ndarray | None:
    """The standard error that batch sampling alone gives each mean of :func:`view`.

    Within a block, successive losses differ by the batch-to-batch scatter (twice its
    variance) plus a trend that is small over one block, so the block's spread is
    ``std(diff) / sqrt(2)`` and the error of its mean that over ``sqrt(size)``. The plain
    standard deviation, not a robust one: the mean of skewed batch losses moves with their
    spikes too. ``None`` for a curve too short to be shown as block means.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> se = view_noise(1.0 + 0.3 * rng.standard_normal(5000))  # blocks of 100
        >>> len(se), round(float(np.median(se)), 3)  # 0.3 / sqrt(100)
        (50, 0.03)
    """
    v = np.asarray(losses, dtype=np.float64)
    if len(v) < 2 * _VIEW_BLOCKS:
        return None
    lengths = _block_lengths(len(v))
    ends = np.cumsum(lengths)
    return np.array(
        [
            np.std(np.diff(v[e - k : e])) / math.sqrt(2 * k)
            for e, k in zip(ends, lengths, strict=True)
        ]
    )


def _judge(values: np.ndarray, floor: float | None, lr: float | None) -> Diagnosis:
    """The diagnosis of a live curve: that of its :func:`view`, with the sampling error of
    its block means (:func:`view_noise`) and the first loss as the start (a first block
    that holds a blow-up must not pass for the start). A curve with a non-finite loss needs
    no smoothing to be read, and its evidence then names the step itself."""
    if not np.isfinite(values).all():
        return diagnose(values, floor, lr=lr)
    return diagnose(
        view(values), floor, lr=lr, start_loss=float(values[0]), noise=view_noise(values)
    )


def _scalar(loss: Any) -> Any:
    """A loss as a float, or as a detached tensor to read at the next check (accelerators)."""
    if isinstance(loss, torch.Tensor):
        if loss.is_cpu:  # read at once; .item() refuses a tensor of several values
            try:
                return loss.item()
            except RuntimeError:
                pass
        elif loss.numel() == 1:
            return loss.detach().reshape(())
        _checks.fail(
            "loss", f"tensor of shape {tuple(loss.shape)}", "expected one value", TypeError
        )
    one_number = isinstance(loss, np.ndarray) and loss.size == 1 and loss.dtype.kind in "iuf"
    if not one_number and (
        isinstance(loss, (bool, np.bool_)) or not isinstance(loss, (Real, np.number))
    ):
        _checks.fail("loss", loss, "expected a real number or a one-element tensor", TypeError)
    return float(loss)


def _floats(values: list[Any]) -> np.ndarray:
    """Pending losses as float64; tensors read in one transfer per device."""
    tensors = [v for v in values if type(v) is not float]
    if not tensors:
        return np.asarray(values, dtype=np.float64)
    try:
        read = iter(torch.stack(tensors).double().cpu().tolist())
    except RuntimeError:  # tensors on several devices
        read = iter([t.item() for t in tensors])
    return np.asarray([v if type(v) is float else next(read) for v in values], dtype=np.float64)


def _never_finite(n: int) -> Diagnosis:
    """:func:`diagnose` needs a finite value; a run that never had one diverged from the start."""
    return Diagnosis(
        "diverging",
        1.0,
        {"points": n, "nonfinite": n},
        "The loss was never finite: check the data and the model for NaN or inf first, then "
        "try a learning rate at least 10x smaller.",
        None,
    )


# ------------------------------------------------------------------------------- a log file


@dataclass(frozen=True)
class WatchEvent:
    """What :func:`watch` reports.

    Attributes:
        kind: ``regime`` (the regime changed, or was first seen), ``waiting`` (nothing to
            read yet; ``message`` says why) or ``restart`` (the log was truncated or
            replaced: the run starts over).
        message: one line for people.
        log: the curve so far (``regime`` events).
        diagnosis: its diagnosis (``regime`` events).

    Example:
        >>> WatchEvent("waiting", "train.csv does not exist yet").kind
        'waiting'
    """

    kind: str
    message: str
    log: LossLog | None = None
    diagnosis: Diagnosis | None = None


def watch(
    path: str | os.PathLike[str],
    column: str | None = None,
    *,
    lr: float | None = None,
    floor: float | None = None,
    interval: float = 0.5,
    timeout: float | None = None,
) -> Iterator[WatchEvent]:
    """Follow a growing loss log and report each time its regime changes.

    Each time the log grows by complete lines or records, the whole curve so far is
    diagnosed as a :class:`Monitor` diagnoses its history (in block means, :func:`view`); a
    ``regime`` event comes when the regime differs from the last one reported. A log that does
    not exist yet, or holds too little, is waited for (one ``waiting`` event per reason).

    Args:
        path: a CSV, JSON-lines, TensorBoard, Lightning or MLflow log (see :mod:`lrlab.logs`).
        column: the column, key, tag or metric to read.
        lr: the run's learning rate, for concrete advice.
        floor: the best reachable loss, if known.
        interval: seconds between two looks at the log.
        timeout: stop after this many seconds without new data (None: until interrupted).

    Raises:
        ValueError: the log cannot be read and more data will not change that (binary,
            malformed, too large).

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> _ = path.write_text("loss\\n" + "\\n".join(str(2.0**t) for t in range(40)) + "\\n")
        >>> [e.diagnosis.regime for e in watch(path, interval=0.01, timeout=0.05)]
        ['diverging']
    """
    lr = None if lr is None else _checks.positive_float("lr", lr, allow_zero=True)
    floor = None if floor is None else _checks.finite_float("floor", floor)
    interval = _checks.positive_float("interval", interval)
    if timeout is not None:
        timeout = _checks.positive_float("timeout", timeout, allow_zero=True)
    follower = LogFollower(path, column)
    regime = waiting = None
    restarts = 0
    quiet_since = time.monotonic()
    while True:
        log = follower.poll()
        if follower.restarts != restarts:
            restarts, regime = follower.restarts, None
            yield WatchEvent(
                "restart", f"{follower.path.name} started over (truncated or replaced)"
            )
        if log is None:
            if follower.waiting is not None and follower.waiting != waiting:
                yield WatchEvent("waiting", follower.waiting)
            waiting = follower.waiting
            if timeout is not None and time.monotonic() - quiet_since >= timeout:
                return
            time.sleep(interval)
            continue
        quiet_since, waiting = time.monotonic(), None
        d = _judge(log.values, floor, lr)
        if d.regime != regime:
            regime = d.regime
            step = log.steps[-1]
            shown = f"{step:.0f}" if float(step).is_integer() else f"{step:g}"
            message = (
                f"step {shown} ({len(log.values)} points): {d.regime} "
                f"(confidence {d.confidence:.2f}). {d.advice}"
            )
            yield WatchEvent("regime", message, log, d)
