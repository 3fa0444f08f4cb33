"""The store: every experiment on record, in a SQL database.

``lrlab.store.open(url)`` gives a :class:`Store` over any SQLAlchemy URL: a SQLite file by
default (in the per-user data directory, or ``LRLAB_STORE``), PostgreSQL for a team. The
tables are created and upgraded by the Alembic migrations shipped in this package.

Guarantees, and where they are kept:

* **One transaction per record and per checkpoint** (:meth:`Store._transact`): a reader sees
  a record before or after a write, never half of it, also after a crash or ``kill -9``.
* **Many writers on one SQLite file**: WAL mode (readers never wait for the writer), every
  write transaction takes the write lock up front (``BEGIN IMMEDIATE``, so two writers cannot
  deadlock upgrading their locks), SQLite waits ``BUSY_TIMEOUT`` for it, and a write that still
  finds the file busy is retried.
* **A file that is not an lrlab store is never changed**: before anything is written, the file
  is read (read-only) and refused with one clear line unless it is empty, or a SQLite database
  holding lrlab's tables at a revision this lrlab knows. Migrations never run on anything else.
* **A read-only place is refused before any work starts**: opening probes that the file (or
  its folder) can really be written.
* **A dead process's record shows** ``interrupted``: a running record's process beats every
  ``HEARTBEAT_EVERY`` seconds; a record whose beat is older than ``STALE_AFTER``, or whose
  process is gone from this host, is interrupted.

Example:
    >>> import lrlab
    >>> st = open("sqlite://")  # in memory
    >>> rid = st.save(lrlab.descend("parabola", lr=0.5, steps=10))
    >>> [(r.kind, r.objective, r.status, r.steps) for r in st.list()]
    [('run', 'parabola:L=2', 'done', 10)]
    >>> st.get(rid).output["regime"]
    'good'
"""

from __future__ import annotations

import builtins
import os
import platform
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from .._format import json_safe
from .schema import REVISION, VERSION_TABLE, records, shards

__all__ = [
    "HEARTBEAT_EVERY",
    "STALE_AFTER",
    "NoStore",
    "Record",
    "Store",
    "StoreError",
    "check_resumable",
    "default_url",
    "open",
]

#: Seconds between the heartbeats of a running record's process.
HEARTBEAT_EVERY = 5.0
#: A running record whose last heartbeat is this old is shown as interrupted: six missed beats
#: cannot be a busy machine, only a dead process (on its own host a dead pid is seen at once).
STALE_AFTER = 30.0
#: How long a SQLite writer waits for another writer's transaction, in milliseconds.
BUSY_TIMEOUT = 30_000
#: Write transactions that still find the database busy are retried this many times.
RETRIES = 5
KINDS = ("run", "sweep", "range_test", "suggestion", "diagnosis")
_SQLITE_HEADER = b"SQLite format 3\x00"


class StoreError(ValueError):
    """A store that cannot be used as asked (foreign, corrupt, read-only, unknown record)."""


class NoStore(StoreError):
    """A store opened to read that does not exist: nothing has been recorded there."""


def default_url() -> str:
    """The store used when none is named: ``LRLAB_STORE``, else a SQLite file in the
    per-user data directory (platformdirs).

    Example:
        >>> default_url().startswith("sqlite:///") or "LRLAB_STORE" in os.environ
        True
    """
    env = os.environ.get("LRLAB_STORE", "").strip()
    if env:
        return env
    import platformdirs

    return "sqlite:///" + str(Path(platformdirs.user_data_dir("lrlab")) / "records.db")


def _normalise(url: str | os.PathLike | None) -> str:
    if url is None:
        return default_url()
    text = os.fspath(url).strip()
    if not text:
        raise StoreError("store='' is invalid: give a SQLAlchemy URL or a file path")
    if "://" not in text:  # a plain path means a SQLite file
        return "sqlite:///" + str(Path(text).expanduser().resolve())
    return text


@dataclass(frozen=True)
class Record:
    """One experiment on record.

    Attributes:
        id: the record's id (unique; any unique prefix finds it too).
        kind: ``run``, ``sweep``, ``range_test``, ``suggestion`` or ``diagnosis``.
        objective: the objective's name (or the log's path, for a diagnosis).
        status: ``running``, ``interrupted`` or ``done``.
        steps: steps per run asked for; steps_done: how many the record holds.
        lanes: how many learning rates (lanes) it ran.
        created: when it was made (UTC).
        params: what was asked: enough to run it again or to resume it (None in
            :meth:`Store.list`, which leaves them out).
        environment: lrlab, torch and Python versions, the device, the host.
        output: what the command printed as JSON (None while running).

    Example:
        >>> st = open("sqlite://")
        >>> rec = st.get(st.save(__import__("lrlab").diagnose([3.0, 2.0, 1.0, 0.5])))
        >>> rec.kind, rec.status, rec.to_dict()["id"] == rec.id
        ('diagnosis', 'done', True)
    """

    id: str
    kind: str
    objective: str
    status: str
    steps: int | None
    steps_done: int | None
    lanes: int | None
    created: datetime
    params: dict | None = field(repr=False)
    environment: dict = field(repr=False)
    output: dict | None = field(repr=False)
    host: str | None = field(default=None, repr=False)
    pid: int | None = field(default=None, repr=False)

    def summary(self) -> dict:
        """The row ``lrlab history`` shows."""
        return {
            "id": self.id,
            "kind": self.kind,
            "objective": self.objective,
            "status": self.status,
            "steps": self.steps,
            "steps_done": self.steps_done,
            "lanes": self.lanes,
            "created": self.created.isoformat(timespec="seconds"),
        }

    def to_dict(self) -> dict:
        """Everything on record, JSON-ready."""
        return {
            **self.summary(),
            "params": self.params,
            "environment": self.environment,
            "output": self.output,
        }


@dataclass(frozen=True)
class Shard:
    """A slice ``[lane_lo, lane_hi)`` of a sweep's lanes with its result or checkpoint."""

    index: int
    lane_lo: int
    lane_hi: int
    status: str
    steps_done: int
    data: bytes | None = field(repr=False)
    checkpoint: bytes | None = field(repr=False)
    updated: float = 0.0  # when it was last written (seconds since the epoch)


def _lrlab_version() -> str | None:
    # Read when a record is made: lrlab has finished importing by then.
    return getattr(sys.modules.get("lrlab"), "__version__", None)


def environment(device: str = "cpu") -> dict:
    """Where an experiment ran: library versions, device and host.

    Example:
        >>> sorted(environment())
        ['device', 'host', 'lrlab', 'platform', 'python', 'torch']
    """
    import torch

    return {
        "lrlab": _lrlab_version(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "host": socket.gethostname(),
        "platform": platform.platform(),
    }


def check_resumable(rec: Record) -> None:
    """Refuse to resume a record that is not interrupted: done, or running in a live process.

    Example:
        >>> st = open("sqlite://")
        >>> rid = st.begin("sweep", "parabola", params={})
        >>> st.finish(rid, status="interrupted")
        >>> check_resumable(st.get(rid))  # interrupted: nothing to refuse
    """
    if rec.status == "running":
        raise StoreError(
            f"record {rec.id} is still running (process {rec.pid} on {rec.host}); "
            "it can be resumed once that process has stopped"
        )
    if rec.status != "interrupted":
        raise StoreError(f"record {rec.id} is {rec.status}: there is nothing to resume")


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _shown_status(row, now: float) -> str:
    if row.status != "running":
        return row.status
    if now - row.heartbeat > STALE_AFTER:
        return "interrupted"
    if row.host == socket.gethostname() and not _pid_alive(row.pid):
        return "interrupted"
    return "running"


# --- opening ---------------------------------------------------------------------------------


def _sqlite_path(url: sa.URL) -> Path | None:
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def _check_sqlite_file(path: Path, *, writable: bool) -> None:
    """Refuse, without changing a byte, a file that is not an lrlab store or cannot be
    written; create the folder of a new store."""
    shown = str(path)
    if path.is_dir():
        raise StoreError(f"store {shown} is a folder, not a database file")
    exists = path.exists() and path.stat().st_size > 0
    if exists:
        with builtins.open(path, "rb") as fh:
            header = fh.read(len(_SQLITE_HEADER))
        if header != _SQLITE_HEADER:
            raise StoreError(
                f"store {shown} is not an lrlab store (not a SQLite database); left untouched"
            )
        try:
            con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
                version = None
                if VERSION_TABLE in names:
                    version = con.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
                    con.execute("SELECT count(*) FROM lrlab_records").fetchone()
            finally:
                con.close()
        except sqlite3.Error as e:
            raise StoreError(
                f"store {shown} is unreadable or corrupt ({e}); left untouched"
            ) from None
        if names and version is None:
            raise StoreError(
                f"store {shown} is a SQLite database of another application "
                f"(tables: {', '.join(sorted(names)[:4])}); left untouched"
            )
        if version is not None and [v[0] for v in version] != [REVISION]:
            raise StoreError(
                f"store {shown} is at schema revision {', '.join(v[0] for v in version)}, which this lrlab "
                f"({_lrlab_version()}) does not know: a newer lrlab made it; left untouched"
            )
    if not writable:
        return
    # Probe by writing, as root ignores permission bits and read-only mounts say so only then.
    try:
        if exists:
            os.close(os.open(path, os.O_RDWR))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".lrlab-probe-"):
                pass
    except OSError as e:
        raise StoreError(
            f"store {shown} cannot be written ({e.strerror or e}); choose a writable place "
            "with --store or LRLAB_STORE, or --no-store"
        ) from None


def _sqlite_engine(url: sa.URL, path: Path | None) -> sa.Engine:
    if path is None:  # in memory: one connection shared by every thread
        engine = sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = sa.create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT / 1000, "check_same_thread": False}
        )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # transactions begin below, as BEGIN IMMEDIATE
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT}")
        cur.execute("PRAGMA foreign_keys=ON")
        if path is not None:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint of the WAL
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def open(url: str | os.PathLike | None = None, *, writable: bool = True) -> Store:
    """Open (and create or upgrade when needed) the store at ``url``.

    Args:
        url: a SQLAlchemy URL (``sqlite:///runs.db``,
            ``postgresql+psycopg://user:pw@host/db``) or a file path; None means
            :func:`default_url`.
        writable: refuse a store that cannot be written (default); False opens it to read,
            and creates nothing.

    Raises:
        NoStore: opened to read, a SQLite file that does not exist.
        StoreError: the file is not an lrlab store, is corrupt, cannot be written, or the
            database cannot be reached. Nothing in it was changed.

    Example:
        >>> st = open("sqlite://")
        >>> st.list()
        []
    """
    text = _normalise(url)
    try:
        parsed = make_url(text)
    except sa.exc.ArgumentError:
        raise StoreError(f"store={text!r} is invalid: expected a SQLAlchemy URL") from None
    path = None
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_path(parsed)
        if path is not None and not writable and not path.exists():
            raise NoStore(f"store {path} does not exist: nothing has been recorded there")
        if path is not None:
            _check_sqlite_file(path, writable=writable)
        engine = _sqlite_engine(parsed, path)
    else:
        try:
            engine = sa.create_engine(parsed, pool_pre_ping=True)
        except (ImportError, sa.exc.ArgumentError) as e:
            raise StoreError(f"store {parsed!r}: {e}") from None
    store = Store(engine, text)
    try:
        store._migrate(writable=writable)
    except sa.exc.SQLAlchemyError as e:
        engine.dispose()
        raise StoreError(f"store {parsed!r} cannot be used: {_first_line(e)}") from None
    return store


def _first_line(e: BaseException) -> str:
    text = str(getattr(e, "orig", None) or e)
    return " ".join(text.split("\n")[0].split()) or type(e).__name__


# --- the store -------------------------------------------------------------------------------


class Store:
    """Records in one database. Make one with :func:`open`.

    Example:
        >>> import lrlab
        >>> st = open("sqlite://")
        >>> rid = st.save(lrlab.sweep("parabola", lrs=[0.1, 0.5], steps=20))
        >>> st.get(rid).output["best_lr"]
        0.5
        >>> st.delete(rid); st.list()
        []
    """

    def __init__(self, engine: sa.Engine, url: str):
        self._engine = engine
        self.url = url

    def __repr__(self) -> str:
        return f"Store({self._engine.url!r})"

    def close(self) -> None:
        """Close the store's connections."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transactions --

    def _transact(self, work: Callable[[sa.Connection], Any]) -> Any:
        """Run ``work`` in one transaction, retrying when the database is busy."""
        for attempt in range(RETRIES + 1):
            try:
                with self._engine.begin() as conn:
                    return work(conn)
            except sa.exc.OperationalError as e:
                busy = "locked" in str(e.orig) or "busy" in str(e.orig)
                if not busy or attempt == RETRIES:
                    raise
                time.sleep(0.05 * 2**attempt)
        return None  # unreachable

    def _migrate(self, *, writable: bool) -> None:
        def current(conn) -> list[str] | None:
            if not sa.inspect(conn).has_table(VERSION_TABLE):
                return None
            return [r[0] for r in conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}")]

        with self._engine.connect() as conn:
            version = current(conn)
            conn.rollback()
        if version == [REVISION]:
            return
        if version is not None and version and version[0] > REVISION:
            raise StoreError(
                f"store {self.url} is at schema revision {version[0]}: a newer lrlab made it"
            )
        if not writable:
            raise StoreError(f"store {self.url} is not an lrlab store yet (nothing recorded)")
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))

        def upgrade(conn):
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

        self._transact(upgrade)

    # -- reading --

    def _row_record(self, row, now: float) -> Record:
        return Record(
            id=row.id,
            kind=row.kind,
            objective=row.objective,
            status=_shown_status(row, now),
            steps=row.steps,
            steps_done=row.steps_done,
            lanes=row.lanes,
            created=datetime.fromtimestamp(row.created, UTC),
            params=getattr(row, "params", None),
            environment=row.environment,
            output=row.output,
            host=row.host,
            pid=row.pid,
        )

    def list(self, *, kind: str | None = None, limit: int | None = None) -> list[Record]:
        """Records, newest first (``kind`` filters; ``limit`` caps the count); their
        ``params`` are left out (None): :meth:`get` reads them.

        Example:
            >>> open("sqlite://").list(kind="sweep")
            []
        """
        # Without params: a sweep's can hold 100,000 learning rates; get(id) has them.
        listed = [c for c in records.c if c.name != "params"]
        q = sa.select(*listed).order_by(records.c.created.desc(), records.c.id)
        if kind is not None:
            q = q.where(records.c.kind == kind)
        if limit is not None:
            q = q.limit(limit)
        now = time.time()
        with self._engine.connect() as conn:
            return [self._row_record(r, now) for r in conn.execute(q)]

    def resolve(self, record_id: str) -> str:
        """The full id of ``record_id`` (an id or a unique prefix of one).

        Example:
            >>> open("sqlite://").resolve("nope")
            Traceback (most recent call last):
            ...
            lrlab.store.StoreError: no record 'nope' in the store sqlite:// (lrlab history lists them)
        """
        rid = str(record_id).strip()
        with self._engine.connect() as conn:
            found = (
                conn.execute(
                    sa.select(records.c.id).where(records.c.id.startswith(rid, autoescape=True))
                )
                .scalars()
                .all()
                if rid
                else []
            )
        if rid in found:
            return rid
        if len(found) == 1:
            return found[0]
        if not found:
            raise StoreError(
                f"no record {rid!r} in the store {self.url} (lrlab history lists them)"
            )
        raise StoreError(f"record id {rid!r} is ambiguous: {', '.join(sorted(found)[:5])}")

    def get(self, record_id: str) -> Record:
        """The record with this id (or unique prefix).

        Raises:
            StoreError: no such record.
        """
        rid = self.resolve(record_id)
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(records).where(records.c.id == rid)).one()
        return self._row_record(row, time.time())

    def shards(self, record_id: str) -> list[Shard]:
        """The shards of a sweep's record, in lane order (with their data and checkpoints)."""
        rid = self.resolve(record_id)
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(shards).where(shards.c.record_id == rid).order_by(shards.c.shard)
            ).all()
        return [
            Shard(
                r.shard,
                r.lane_lo,
                r.lane_hi,
                r.status,
                r.steps_done,
                r.data,
                r.checkpoint,
                r.updated,
            )
            for r in rows
        ]

    # -- writing --

    def delete(self, record_id: str, *, force: bool = False) -> None:
        """Delete a record with its shards and checkpoints (one transaction).

        Raises:
            StoreError: a live process is still working on it (its later writes would go
                nowhere), unless ``force``.
        """
        rid = self.resolve(record_id)

        def work(conn):
            row = conn.execute(sa.select(records).where(records.c.id == rid)).one()
            if not force and _shown_status(row, time.time()) == "running":
                raise StoreError(
                    f"record {rid} is still running (process {row.pid} on {row.host}): stop it "
                    "first, or delete it anyway with force"
                )
            conn.execute(sa.delete(shards).where(shards.c.record_id == rid))
            conn.execute(sa.delete(records).where(records.c.id == rid))

        self._transact(work)

    def begin(
        self,
        kind: str,
        objective: str,
        *,
        params: dict,
        steps: int | None = None,
        lanes: int | None = None,
        slices: list[tuple[int, int]] = (),
        device: str = "cpu",
        record_id: str | None = None,
    ) -> str:
        """Start a ``running`` record (with its shards ``slices``, pending) and return its id.

        Example:
            >>> st = open("sqlite://")
            >>> rid = st.begin("sweep", "parabola", params={}, steps=5, lanes=4, slices=[(0, 4)])
            >>> st.get(rid).status, [s.status for s in st.shards(rid)]
            ('running', ['pending'])
        """
        if kind not in KINDS:
            raise StoreError(f"kind={kind!r} is invalid: choose one of {', '.join(KINDS)}")
        rid = record_id or new_id()
        now = time.time()

        def work(conn):
            conn.execute(
                sa.insert(records).values(
                    id=rid,
                    kind=kind,
                    objective=objective,
                    status="running",
                    steps=steps,
                    steps_done=0,
                    lanes=lanes,
                    created=now,
                    heartbeat=now,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    params=json_safe(params),
                    environment=environment(device),
                    output=None,
                )
            )
            if slices:
                conn.execute(
                    sa.insert(shards),
                    [
                        {
                            "record_id": rid,
                            "shard": i,
                            "lane_lo": lo,
                            "lane_hi": hi,
                            "status": "pending",
                            "steps_done": 0,
                            "updated": now,
                        }
                        for i, (lo, hi) in enumerate(slices)
                    ],
                )

        self._transact(work)
        return rid

    def claim(self, record_id: str) -> None:
        """Make this process the one working on an interrupted record (when resuming it).

        Of two processes that claim the same record at once, one gets it and the other is
        refused: the update only takes the row as it was read, in the same transaction.

        Raises:
            StoreError: the record is done, or a live process is working on it.

        Example:
            >>> st = open("sqlite://")
            >>> rid = st.begin("sweep", "parabola", params={})
            >>> st.finish(rid, status="interrupted")
            >>> st.claim(rid)
            >>> st.get(rid).status
            'running'
        """

        def work(conn):
            now = time.time()
            row = conn.execute(sa.select(records).where(records.c.id == record_id)).one()
            check_resumable(self._row_record(row, now))
            taken = conn.execute(
                sa.update(records)
                .where(
                    (records.c.id == record_id)
                    & (records.c.status == row.status)
                    & (records.c.heartbeat == row.heartbeat)
                )
                .values(status="running", heartbeat=now, host=socket.gethostname(), pid=os.getpid())
            ).rowcount
            if taken != 1:
                raise StoreError(f"record {record_id} was claimed by another process just now")

        self._transact(work)

    def beat(self, record_id: str) -> None:
        """Say that the process working on a record is alive."""
        self._transact(
            lambda conn: conn.execute(
                sa.update(records).where(records.c.id == record_id).values(heartbeat=time.time())
            )
        )

    @contextmanager
    def heartbeat(self, record_id: str, every: float = HEARTBEAT_EVERY) -> Iterator[None]:
        """Beat for ``record_id`` from a background thread while the block runs."""
        stop = threading.Event()

        def loop():
            while not stop.wait(every):
                # A missed beat is harmless; the next one tries again.
                with suppress(sa.exc.SQLAlchemyError):
                    self.beat(record_id)

        thread = threading.Thread(target=loop, name=f"lrlab-heartbeat-{record_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def checkpoint(self, record_id: str, shard: int, steps_done: int, blob: bytes) -> None:
        """Keep a shard's checkpoint (replacing the previous one) in one transaction."""
        now = time.time()

        def work(conn):
            conn.execute(
                sa.update(shards)
                .where((shards.c.record_id == record_id) & (shards.c.shard == shard))
                .values(checkpoint=blob, steps_done=steps_done, updated=now)
            )
            self._sync_progress(conn, record_id, now)

        self._transact(work)

    def finish_shard(self, record_id: str, shard: int, steps_done: int, data: bytes) -> None:
        """Keep a finished shard's result and drop its checkpoint, in one transaction."""
        now = time.time()

        def work(conn):
            conn.execute(
                sa.update(shards)
                .where((shards.c.record_id == record_id) & (shards.c.shard == shard))
                .values(
                    status="done", data=data, checkpoint=None, steps_done=steps_done, updated=now
                )
            )
            self._sync_progress(conn, record_id, now)

        self._transact(work)

    def _sync_progress(self, conn, record_id: str, now: float) -> None:
        # The record's steps_done is its slowest shard's: the steps every lane has made.
        slowest = conn.execute(
            sa.select(sa.func.min(shards.c.steps_done)).where(shards.c.record_id == record_id)
        ).scalar()
        conn.execute(
            sa.update(records)
            .where(records.c.id == record_id)
            .values(steps_done=slowest or 0, heartbeat=now)
        )

    def finish(
        self,
        record_id: str,
        *,
        status: str = "done",
        output: dict | None = None,
        steps_done: int | None = None,
    ) -> None:
        """End a record: ``done`` (with what the command printed) or ``interrupted``."""
        if status not in ("done", "interrupted"):
            raise StoreError(f"status={status!r} is invalid: choose done or interrupted")
        values: dict[str, Any] = {"status": status, "heartbeat": time.time()}
        if output is not None:
            values["output"] = json_safe(output)
        if steps_done is not None:
            values["steps_done"] = steps_done
        self._transact(
            lambda conn: conn.execute(
                sa.update(records).where(records.c.id == record_id).values(**values)
            )
        )

    def set_output(self, record_id: str, output: dict) -> None:
        """Keep what the command printed (as JSON) with a record."""
        self._transact(
            lambda conn: conn.execute(
                sa.update(records).where(records.c.id == record_id).values(output=json_safe(output))
            )
        )

    def save(
        self,
        result: Any,
        *,
        params: dict | None = None,
        output: dict | None = None,
        record_id: str | None = None,
        objective: str | None = None,
    ) -> str:
        """Record a finished result (a run, sweep, range test, suggestion or diagnosis) in
        one transaction and return its id.

        Args:
            result: a :class:`~lrlab.Run`, :class:`~lrlab.Sweep`, :class:`~lrlab.RangeTest`,
                :class:`~lrlab.Suggestion` or :class:`~lrlab.Diagnosis`.
            params: what was asked, kept beside it (default: what the result itself says).
            output: what to show for it (default: the result's JSON).
            record_id: the id to use (default: a new one).
            objective: what the record is of (default: the result's objective).

        Example:
            >>> import lrlab
            >>> st = open("sqlite://")
            >>> st.get(st.save(lrlab.suggest("parabola", steps=20))).kind
            'suggestion'
        """
        from . import codec

        entry = codec.describe(result)
        rid = record_id or new_id()
        now = time.time()
        row = {
            "id": rid,
            "kind": entry.kind,
            "objective": objective or entry.objective,
            "status": "done",
            "steps": entry.steps,
            "steps_done": entry.steps,
            "lanes": entry.lanes,
            "created": now,
            "heartbeat": now,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "params": json_safe({**entry.params, **(params or {})}),
            "environment": environment(entry.device),
            "output": json_safe(output if output is not None else entry.output),
        }

        def work(conn):
            conn.execute(sa.insert(records).values(**row))
            if entry.data is not None:
                conn.execute(
                    sa.insert(shards).values(
                        record_id=rid,
                        shard=0,
                        lane_lo=0,
                        lane_hi=entry.lanes,
                        status="done",
                        steps_done=entry.steps,
                        data=entry.data,
                        updated=now,
                    )
                )

        self._transact(work)
        return rid


def new_id() -> str:
    """A new record id: 12 hex digits (random).

    Example:
        >>> len(new_id())
        12
    """
    return uuid.uuid4().hex[:12]
