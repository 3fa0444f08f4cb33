"""Where the web lab's computations run: off the event loop, in two lanes, under deadlines.

Invariants (each has a test in ``tests/test_web_scheduler.py``):

1. **Two lanes.** Light work (the catalogue, runs of analytic objectives) and heavy work
   (dataset problems, sweeps, suggestions, uploads) have their own threads, so light work
   never waits behind heavy work.
2. **Bounded.** At most ``queue`` computations per lane are admitted (waiting or running).
   One more is refused at once with :class:`Busy` (an HTTP 503 with ``Retry-After``), never
   queued; every admission is released exactly once, when its computation ends.
3. **One answer each.** Every admitted computation, and every ask in a batch, gets exactly one
   answer: its result, its own error, or :class:`TimeUp`.
4. **Deadlines.** Each computation gets a ``check`` to call inside its loops (a sweep's
   progress callback, Lanczos, suggest); past the deadline it raises :class:`TimeUp`, which
   stops the work. Work still waiting at its deadline never starts. A waiter gives up
   ``GRACE`` seconds after the deadline, whatever the work does.
5. **Batching.** Asks with the same key join that key's batch while it waits for a thread
   (up to ``batch_lanes`` lanes); a batch closes when a thread takes it. ``compute`` runs once
   per batch; ``answer`` shapes each ask's own result from it, and goes out at once.

Nothing else is shared between requests: the scheduler holds no objective or model, only
futures and counts, all changed under one lock.

Example:
    >>> import asyncio
    >>> s = Scheduler(seconds=5.0, queue=4, batch_lanes=64)
    >>> asyncio.run(s.call(LIGHT, lambda x, check: x + 1, 41))
    42
    >>> s.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GRACE", "HEAVY", "LIGHT", "RETRY_AFTER", "Busy", "Scheduler", "TimeUp", "deadline"]

LIGHT, HEAVY = "light", "heavy"
#: Seconds a waiter allows past the deadline for work between two checks (one sweep step,
#: one Lanczos iteration) before it answers anyway.
GRACE = 2.0
#: Seconds a refused client is asked to wait: about what a typical computation takes here.
RETRY_AFTER = 2

Check = Callable[..., None]


class Busy(Exception):
    """The lane's queue is full: come back after ``retry_after`` seconds."""

    def __init__(self, lane: str, retry_after: int = RETRY_AFTER):
        super().__init__(
            f"the lab is busy: too many {lane} computations are waiting; try again in a moment"
        )
        self.lane, self.retry_after = lane, retry_after


class TimeUp(Exception):
    """A computation passed its deadline and was stopped (or never started)."""


def deadline(at: float) -> Check:
    """A ``check(*progress)`` that raises :class:`TimeUp` once ``time.monotonic() > at``.

    Its signature fits the progress callbacks of :func:`lrlab.sweep`, :func:`lrlab.suggest`
    and :func:`lrlab.sharpness`, so it is handed to them as it is.

    Example:
        >>> deadline(time.monotonic() + 60)(3, 10) is None
        True
        >>> deadline(time.monotonic() - 1)()
        Traceback (most recent call last):
        ...
        lrlab.web.scheduler.TimeUp
    """

    def check(*_progress: Any) -> None:
        if time.monotonic() > at:
            raise TimeUp

    return check


@dataclass(eq=False)
class _Ask:
    item: Any
    deadline: float
    answer: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


@dataclass(eq=False)
class _Batch:
    key: Hashable
    compute: Callable[[Sequence[Any], Check], Any]
    answer: Callable[[Any, Any], Any]
    asks: list[_Ask] = field(default_factory=list)
    lanes: int = 0


class Scheduler:
    """Runs computations in a light and a heavy lane of threads, bounded and under deadlines.

    Args:
        seconds: the deadline of each computation, from its admission.
        queue: most computations admitted per lane (waiting or running).
        batch_lanes: most lanes one batch may gather.
        heavy_workers: threads for heavy work (light work has one: its batches are one sweep
            each, and two sweeps side by side only take turns at the interpreter lock).
    """

    def __init__(self, *, seconds: float, queue: int, batch_lanes: int, heavy_workers: int = 1):
        self.seconds, self.queue, self.batch_lanes = seconds, queue, batch_lanes
        self.pools = {
            LIGHT: concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lrlab-light"),
            HEAVY: concurrent.futures.ThreadPoolExecutor(
                heavy_workers, thread_name_prefix="lrlab-heavy"
            ),
        }
        self.lock = threading.Lock()
        self.admitted = {LIGHT: 0, HEAVY: 0}  # per lane: computations waiting or running
        self.open: dict[Hashable, _Batch] = {}  # per key: the batch asks may still join

    def close(self) -> None:
        """Stop taking work; running computations finish (or meet their deadlines)."""
        for pool in self.pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    # -- admission ------------------------------------------------------------------------------

    def _admit(self, lane: str) -> None:
        """Count one more computation in ``lane``, or refuse it (call with the lock held)."""
        if self.admitted[lane] >= self.queue:
            raise Busy(lane)
        self.admitted[lane] += 1

    def _release(self, lane: str) -> None:
        with self.lock:
            self.admitted[lane] -= 1

    async def _wait(self, future: concurrent.futures.Future, at: float) -> Any:
        waiter = asyncio.wrap_future(future)
        # A waiter that gave up leaves the future to finish alone: take its error when it comes,
        # so that it is not reported as never retrieved.
        waiter.add_done_callback(lambda w: w.cancelled() or w.exception())
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), at - time.monotonic() + GRACE)
        except TimeoutError:
            raise TimeUp from None

    # -- single computations --------------------------------------------------------------------

    async def call(self, lane: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args, check)`` in ``lane``'s threads: its result, or the error it raised.

        Raises:
            Busy: the lane is full (nothing was started).
            TimeUp: the deadline passed before or while it ran.
        """
        at = time.monotonic() + self.seconds
        with self.lock:
            self._admit(lane)
        try:
            future = self.pools[lane].submit(self._guarded, lane, at, fn, args)
        except BaseException:
            self._release(lane)  # the pool is closed: the work will never run
            raise
        return await self._wait(future, at)

    def _guarded(self, lane: str, at: float, fn: Callable[..., Any], args: tuple) -> Any:
        try:
            check = deadline(at)
            check()
            return fn(*args, check)
        finally:
            self._release(lane)

    # -- batched lanes ----------------------------------------------------------------------------

    async def batched(
        self,
        key: Hashable,
        lanes: int,
        item: Any,
        compute: Callable[[Sequence[Any], Check], Any],
        answer: Callable[[Any, Any], Any],
    ) -> Any:
        """``answer(compute(items, check), item)``, where ``items`` are the asks batched with ``item``.

        ``item`` joins the waiting batch of ``key`` when it has room for ``lanes`` more lanes,
        else starts a new batch (one admission in the light lane). The ``compute`` and
        ``answer`` of the batch's first ask serve every ask: a key must name what they do.
        """
        at = time.monotonic() + self.seconds
        ask = _Ask(item, at)
        with self.lock:
            batch = self.open.get(key)
            if batch is None or batch.lanes + lanes > self.batch_lanes:
                self._admit(LIGHT)
                batch = _Batch(key, compute, answer)
                self.open[key] = batch  # a full batch is left to run with what it has
                try:
                    self.pools[LIGHT].submit(self._run_batch, batch)
                except BaseException:
                    del self.open[key]
                    self.admitted[LIGHT] -= 1
                    raise
            batch.asks.append(ask)
            batch.lanes += lanes
        return await self._wait(ask.answer, at)

    def _run_batch(self, batch: _Batch) -> None:
        outcomes: list[tuple[_Ask, bool, Any]] = []  # (ask, answered, answer or error)
        try:
            with self.lock:  # from here on no ask joins this batch
                if self.open.get(batch.key) is batch:
                    del self.open[batch.key]
                asks = list(batch.asks)
            now = time.monotonic()
            live = [a for a in asks if a.deadline >= now]
            outcomes += [(a, False, TimeUp()) for a in asks if a.deadline < now]
            if not live:
                return
            try:
                shared = batch.compute(
                    [a.item for a in live], deadline(max(a.deadline for a in live))
                )
            except Exception as err:
                outcomes += [(a, False, err) for a in live]
                return
            for a in live:
                try:
                    outcomes.append((a, True, batch.answer(shared, a.item)))
                except Exception as err:
                    outcomes.append((a, False, err))
        finally:
            # The lane is free before anyone hears back: a waiter that wakes finds its
            # admission returned.
            self._release(LIGHT)
            for a, answered, value in outcomes:
                if answered:
                    a.answer.set_result(value)
                else:
                    a.answer.set_exception(value)
            for a in batch.asks:  # only after a bug above: never leave a waiter without answer
                if not a.answer.done():
                    a.answer.set_exception(RuntimeError("the batch stopped unexpectedly"))
