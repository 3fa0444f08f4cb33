"""The web lab's records: what it makes is kept in the store, and the History view reads it.

A :class:`History` opens the store once, when the application is made. A store that cannot
be written (read-only) is opened to read: the History view lists it and says that nothing new
is recorded. A store that cannot be opened at all (corrupt, foreign, unreachable) is left as
it is: the lab serves everything else and the History view says why.

Recording never delays or breaks an answer: a result is handed to one background thread once
its answer is written, and a store error there is kept as the History view's ``problem``.

Example:
    >>> import lrlab
    >>> h = History("sqlite://")
    >>> h.record(lrlab.sweep("parabola", lrs=[0.1, 0.5], steps=5)); h.flush()
    >>> [r["kind"] for r in h.listing()["records"]]
    ['sweep']
    >>> History(None).listing()["problem"]
    'records are off: the lab was started without a store (lrlab serve --no-store)'
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._format import json_list

__all__ = ["CURVE_POINTS", "LIST_LIMIT", "PENDING", "History"]

#: Most results waiting to be recorded: a store slower than the lab must not hold every
#: sweep's lanes in memory; beyond this, results are not recorded and the view says so.
PENDING = 16
#: Most records one listing shows (newest first).
LIST_LIMIT = 500
#: Most costs (runs x recorded steps) of a sweep's curves sent with one record; a larger
#: sweep comes with its landscape only (``lrlab export ID`` has every curve).
CURVE_POINTS = 200_000


class History:
    """The store the lab records into and reads from (None: records are off)."""

    def __init__(self, url: str | None):
        self.store, self.url, self.recording, self.problem = None, url, False, None
        self._lock = threading.Lock()
        self._pending = 0
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="lrlab-record")
        if url is None:
            self.problem = (
                "records are off: the lab was started without a store (lrlab serve --no-store)"
            )
            return
        from .. import store as _store  # sqlalchemy: loaded only when records are kept

        self._store_module = _store
        try:
            self.store = _store.open(url)
            self.recording = True
        except _store.StoreError as e:
            self.problem = str(e)
            try:  # perhaps it can still be read
                self.store = _store.open(url, writable=False)
                self.problem = f"{e}; the records are shown, but nothing new is recorded"
            except _store.StoreError:
                self.store = None

    # -- writing ----------------------------------------------------------------------------

    def new_id(self) -> str | None:
        """An id for a result about to be recorded (None when nothing is recorded)."""
        return self._store_module.new_id() if self.recording else None

    def record(self, result: Any, params: dict | None = None, record_id: str | None = None):
        """Keep ``result`` in the store, in the background; a failure becomes ``problem``."""
        if not self.recording:
            return
        with self._lock:
            if self._pending >= PENDING:
                self.problem = (
                    f"the store is too slow: {PENDING} results were waiting, one was not recorded"
                )
                return
            self._pending += 1

        def save():
            try:
                self.store.save(result, params=params, record_id=record_id)
            except Exception as e:  # a store error must never reach the answer
                with self._lock:
                    self.problem = f"the last result could not be recorded: {e}"
            finally:
                with self._lock:
                    self._pending -= 1

        self._writer.submit(save)

    def flush(self) -> None:
        """Wait until every result handed over so far is recorded."""
        self._writer.submit(lambda: None).result()

    # -- reading ----------------------------------------------------------------------------

    def listing(self) -> dict:
        """The History view's list: the store, whether it records, any problem, the rows."""
        rows = []
        if self.store is not None:
            try:
                rows = [r.summary() for r in self.store.list(limit=LIST_LIMIT)]
            except Exception as e:  # a store broken since it was opened
                self.problem = f"the store cannot be read: {e}"
        return {
            "store": self.store.url if self.store is not None else self.url,
            "recording": self.recording,
            "problem": self.problem,
            "records": rows,
        }

    def one(self, record_id: str) -> dict:
        """One record with its curves (a run's are in its output; a sweep's from its lanes,
        when there are at most :data:`CURVE_POINTS` costs).

        Raises:
            LookupError: no store, or no such record.
        """
        from .. import records
        from .. import store as _store

        if self.store is None:
            raise LookupError(self.problem or "no store")
        try:
            rec = self.store.get(record_id)
        except _store.StoreError as e:
            raise LookupError(str(e)) from None
        d = rec.to_dict()
        if rec.kind == "sweep" and rec.status == "done":
            points = (rec.lanes or 0) * ((rec.steps or 0) + 1)
            if points > CURVE_POINTS:
                d["note"] = (
                    f"{rec.lanes} runs x {rec.steps} steps are too many curves to send: "
                    f"`lrlab export {rec.id}` has them"
                )
            else:
                sw = records.load(rec.id, store=self.store)
                d["curves"] = [{"lr": r.lr, "losses": json_list(r.losses)} for r in sw.runs]
        return d
