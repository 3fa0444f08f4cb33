"""Read the loss curve out of a training log, also while it is being written.

Formats: CSV (Lightning's ``CSVLogger`` ``metrics.csv`` included: sparse columns where
training and validation rows alternate, ``epoch`` and ``step`` columns), JSON lines, a JSON
document (a list of records or of costs, or a dict of columns such as Keras's
``history.history``), TensorBoard event files, and MLflow's file store
(``mlruns/<experiment>/<run>/metrics/<name>``, one ``timestamp value step`` line per point).
A path may name the file, or the run's directory: a Lightning version directory
(``metrics.csv`` inside), an MLflow run (``metrics/`` inside) or a TensorBoard log directory.

``read_log`` finds the loss in a log the way a person would: the column (or key, tag or
metric) called ``loss``; else ``train_loss``, ``training_loss`` or ``train/loss``; else any
name with ``loss`` in it, training before validation, and of those the one with the most
points (Lightning's ``train_loss_step`` before ``train_loss_epoch``); else the only numeric
column that is not a step counter. ``column=`` picks one by name. Step numbers come from a
``step``, ``global_step``, ``iteration`` or ``epoch`` column when there is one.

Non-finite values (``nan``, ``inf``) are kept: to a diagnosis they are evidence of
divergence. Empty cells and missing keys are skipped. Nothing in a log is ever evaluated.
Empty, binary, oversized and truncated files (a TensorBoard record cut short included) are
refused with a ``ValueError`` naming the file and the problem.

:class:`LogFollower` reads a log that is still growing, as ``tail -f`` does: only complete
lines and records, starting over when the file is truncated or replaced, and waiting (with
the reason) while the log does not exist or holds too little to read.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = path.write_text("step,loss,acc\\n0,2.3,0.1\\n10,1.7,0.4\\n20,1.2,0.6\\n")
    >>> log = read_log(path)
    >>> log.column, log.values.tolist(), log.steps.tolist()
    ('loss', [2.3, 1.7, 1.2], [0.0, 10.0, 20.0])
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import struct
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lrlab._checks import closest, positive_float, shown

__all__ = ["MAX_BYTES", "MAX_ROWS", "LogFollower", "LossLog", "follow", "read_log"]

MAX_BYTES = 200 * 1024 * 1024  # refuse larger logs: a loss curve is never this big
MAX_ROWS = 10_000_000
_STEP_NAMES = ("step", "global_step", "iteration", "iter", "epoch")
_PREFERRED = ("train_loss", "training_loss", "train/loss")
_HELD_OUT = ("val", "valid", "test", "eval", "dev")
_TB_HINT = "pip install 'lrlab[tensorboard]'"
_LIGHTNING_CSV = "metrics.csv"  # what Lightning's CSVLogger writes in each version directory
_MLFLOW_METRICS = "metrics"  # an MLflow run directory keeps one file per metric in here
_MLFLOW_META = "meta.yaml"  # ... beside this file, which marks the run directory


class _TooLittle(ValueError):
    """The log holds too little to read yet: an error for a finished log, a wait for a live one."""


@dataclass(frozen=True)
class LossLog:
    """One curve read from a log.

    Attributes:
        values: the costs as float64 (NaN and inf kept).
        steps: the step of each value (from a step column, else 0..n-1).
        source: the file (or directory) name.
        column: the column, key or tag the values came from.
        available: the other numeric columns, keys or tags found.

    Example:
        >>> LossLog(np.array([1.0, 0.5]), np.array([0.0, 1.0]), "a.csv", "loss", ()).column
        'loss'
    """

    values: np.ndarray
    steps: np.ndarray
    source: str
    column: str
    available: tuple[str, ...]


def read_log(path: str | os.PathLike[str], column: str | None = None) -> LossLog:
    """Read a loss curve from a CSV, JSON-lines or TensorBoard log.

    The format is told by the file name (``.csv``, ``.tsv``, ``.jsonl``, ``.json``,
    ``events.out.tfevents.*``) and confirmed by the content; a directory is read as a
    TensorBoard log directory.

    Args:
        path: the log file, or a directory holding TensorBoard event files.
        column: the column, key or scalar tag to read; found automatically when omitted.

    Returns:
        A ``LossLog`` with at least 2 values, at least one of them finite.

    Raises:
        ValueError: the file is missing, unreadable, binary, empty, too large, holds no usable
            numbers, or the column is missing; the message names the file and the problem.
        ImportError: a TensorBoard log was given and the ``tensorboard`` package is missing.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.jsonl"
        >>> _ = path.write_text('{"step": 1, "train": {"loss": 0.9}}\\n'
        ...                     '{"step": 2, "train": {"loss": 0.7}}\\n')
        >>> read_log(path).column
        'train/loss'
    """
    p, name = _checked(path, column)
    if not p.exists():
        raise ValueError(f"{name}: no such file or directory")
    return _read(p, name, column, live=False)


def _checked(path: object, column: object) -> tuple[Path, str]:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path={path!r} is invalid: expected a file name")
    if column is not None and not isinstance(column, str):
        raise TypeError(f"column={column!r} is invalid: expected a column name (str) or None")
    p = Path(path)
    return p, p.name or str(p)


def _read(p: Path, name: str, column: str | None, *, live: bool) -> LossLog:
    """Read ``p`` in whichever format it is; ``live``: a log still being written, of which
    only complete lines and records count."""
    if p.is_dir():
        return _read_dir(p, name, column, live=live)
    metrics_dir = _mlflow_metrics_dir(p)
    if metrics_dir is not None:
        # one metric file of an MLflow run: that metric, unless column= names another one
        default = p.relative_to(metrics_dir).as_posix()
        return _read_mlflow(metrics_dir, name, column or default, live=live)
    size = _size(p, name)
    if "tfevents" in name:
        return _read_tensorboard(p, name, column, live=live)
    raw = _read_bytes(p, name)
    if b"brain.Event" in raw[:256]:  # the first record of every TensorBoard event file
        # TensorBoard only reads event files by their conventional name: show it one
        with tempfile.TemporaryDirectory() as tmp:
            alias = Path(tmp) / "events.out.tfevents.0.sniffed"
            try:
                alias.symlink_to(p.resolve())
            except OSError:
                alias.write_bytes(raw)
            return _read_tensorboard(alias, name, column, live=live)
    _refuse_binary(raw, name)  # before a live cut: binary data may hold no newline at all
    if live:
        raw = raw[: raw.rfind(b"\n") + 1]  # a line being written is not read yet
    if size == 0 or not raw.strip():
        raise _TooLittle(f"{name}: the file is empty")
    text = _decode(raw, name)
    if not text.strip():
        raise _TooLittle(f"{name}: the file is empty")
    suffix = p.suffix.lower()
    first = text.lstrip()[:1]
    if suffix in (".jsonl", ".ndjson", ".json") or first in ("{", "["):
        table = _parse_json(text, name)
    else:
        table = _parse_csv(text, name, delimiter="\t" if suffix == ".tsv" else None)
    return _pick(table, name, column)


def _size(p: Path, name: str) -> int:
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ValueError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    if size > MAX_BYTES:
        raise ValueError(
            f"{name}: the file is {_bytes(size)}; logs up to {_bytes(MAX_BYTES)} are read"
        )
    if size == 0:
        raise _TooLittle(f"{name}: the file is empty")
    return size


def _bytes(n: int) -> str:
    """A size as people read it: ``200 MB``, ``512 bytes``."""
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n:,} bytes"


def _read_bytes(p: Path, name: str) -> bytes:
    try:
        with open(p, "rb") as fh:
            return fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{name}: cannot read the file ({exc.strerror or exc})") from None


def _read_dir(p: Path, name: str, column: str | None, *, live: bool) -> LossLog:
    """A run's directory: Lightning's (``metrics.csv``), MLflow's (``metrics/``) or
    TensorBoard's (event files)."""
    if (p / _LIGHTNING_CSV).is_file():
        return _read(p / _LIGHTNING_CSV, f"{name}/{_LIGHTNING_CSV}", column, live=live)
    if (p / _MLFLOW_METRICS).is_dir() and (p / _MLFLOW_META).is_file():
        return _read_mlflow(p / _MLFLOW_METRICS, name, column, live=live)
    subdirs = sorted((d for d in p.iterdir() if d.is_dir()), key=lambda d: d.name)
    for what, marks in (
        (
            "an MLflow experiment",
            lambda d: (d / _MLFLOW_METRICS).is_dir() and (d / _MLFLOW_META).is_file(),
        ),
        ("Lightning logs", lambda d: (d / _LIGHTNING_CSV).is_file()),
    ):
        runs = [d.name for d in subdirs if marks(d)]
        if runs:
            shown = ", ".join(runs[:5]) + (", ..." if len(runs) > 5 else "")
            raise ValueError(
                f"{name}: {what} with {len(runs)} run(s) ({shown}); "
                f"point at one run's directory, e.g. {name}/{runs[-1]}"
            )
    return _read_tensorboard(p, name, column, live=live)


# ------------------------------------------------------------------------------------ decoding


def _refuse_binary(raw: bytes, name: str) -> None:
    if b"\x00" in raw[:8192]:
        raise ValueError(
            f"{name}: binary content; expected a CSV or JSON-lines text log or a "
            "TensorBoard event file"
        )


def _decode(raw: bytes, name: str) -> str:
    _refuse_binary(raw, name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(
            f"{name}: not UTF-8 text; expected a CSV or JSON-lines log or a TensorBoard event file"
        ) from None


def _number(cell: Any) -> float | None:
    """A cell as a float (``nan``/``inf`` included); None when it is not a number."""
    if isinstance(cell, bool) or cell is None:
        return None
    if isinstance(cell, (int, float)):
        return float(cell)
    if isinstance(cell, str):
        try:
            return float(cell.strip())
        except ValueError:
            return None
    return None


class _Table:
    """Columns of a parsed log: name -> list of (row, raw cell) for the cells present."""

    def __init__(self, kind: str):
        self.kind = kind  # 'column' or 'key': the word used in messages
        self.cells: dict[str, list[tuple[int, Any]]] = {}
        self.rows = 0

    def add(self, row: int, key: str, cell: Any) -> None:
        self.cells.setdefault(key, []).append((row, cell))


def _parse_csv(text: str, name: str, delimiter: str | None) -> _Table:
    sample = text[:65536]
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    table = _Table("column")
    header: list[str] | None = None
    try:
        for line_no, row in enumerate(reader, start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if header is None:
                cells = [c.strip() for c in row]
                if all(_number(c) is not None for c in cells if c):
                    # no header: a bare list of numbers is a loss curve
                    header = (
                        ["loss"] if len(cells) == 1 else [f"c{i + 1}" for i in range(len(cells))]
                    )
                else:
                    header = _unique([c or f"c{i + 1}" for i, c in enumerate(cells)])
                    continue
            table.rows += 1
            if table.rows > MAX_ROWS:
                raise ValueError(f"{name}: more than {MAX_ROWS:,} rows; shorten the log")
            for key, cell in zip(header, row):
                if cell.strip():
                    table.add(line_no, key, cell)
    except csv.Error as exc:
        raise ValueError(f"{name}: not a readable CSV file ({exc})") from None
    if header is None:
        raise _TooLittle(f"{name}: the file is empty")
    if table.rows == 0:
        raise _TooLittle(f"{name}: a header ({', '.join(header)}) but no data rows")
    for key in header:
        table.cells.setdefault(key, [])
    return table


def _unique(names: list[str]) -> list[str]:
    """Header names made unique: a repeated ``loss`` becomes ``loss``, ``loss.1``, ..."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}.{k}")
    return out


def _flatten(obj: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "/"))
        else:
            out[key] = v
    return out


def _document_records(doc: Any) -> list[tuple[int, Any]]:
    """A whole JSON document as numbered records: a list of records, a list of costs (the
    column ``loss``; null for a value that was not finite, as lrlab writes one), a dict of
    columns (``{"loss": [...], "val_loss": [...]}``), or one record."""
    if isinstance(doc, list) and doc and all(_is_cost(v) for v in doc):
        return [(i + 1, {"loss": math.nan if v is None else v}) for i, v in enumerate(doc)]
    if isinstance(doc, list):
        return [(i + 1, r) for i, r in enumerate(doc)]
    if isinstance(doc, dict) and any(isinstance(v, list) for v in doc.values()):
        flat = _flatten(doc)
        length = max(len(v) for v in flat.values() if isinstance(v, list))
        return [
            (i + 1, {k: v[i] for k, v in flat.items() if isinstance(v, list) and i < len(v)})
            for i in range(length)
        ]
    return [(1, doc)]


def _is_cost(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _parse_json(text: str, name: str) -> _Table:
    table = _Table("key")
    records: list[tuple[int, Any]] = []
    lines = text.splitlines()
    try:
        for line_no, line in enumerate(lines, start=1):
            if line.strip():
                records.append((line_no, json.loads(line)))
    except json.JSONDecodeError as exc:
        # maybe one JSON document over many lines: a list of records or a dict of columns
        try:
            records = _document_records(json.loads(text))
        except json.JSONDecodeError:
            raise ValueError(f"{name}: line {line_no} is not valid JSON ({exc.msg})") from None
    else:
        if len(records) == 1:  # one document on one line (json.dump of Keras's history)
            records = _document_records(records[0][1])
    for line_no, rec in records:
        if not isinstance(rec, dict):
            # a content problem of the file, reported like every other one
            raise ValueError(
                f"{name}: line {line_no} is not a JSON object (got "
                f"{type(rec).__name__}); expected one object per line"
            )
        table.rows += 1
        if table.rows > MAX_ROWS:
            raise ValueError(f"{name}: more than {MAX_ROWS:,} rows; shorten the log")
        for key, cell in _flatten(rec).items():
            if cell is not None and cell != "":
                table.add(line_no, key, cell)
    if table.rows == 0:
        raise _TooLittle(f"{name}: the file is empty")
    return table


# ---------------------------------------------------------------------------------- the choice


def _choose(
    names: list[str], numeric: list[str], steps: set[str], counts: dict[str, int]
) -> str | None:
    """The loss-like name by the rules in the module docstring (None when ambiguous)."""
    low = {n: n.lower() for n in names}
    for n in names:
        if low[n] == "loss":
            return n
    for want in _PREFERRED:
        for n in names:
            if low[n] == want:
                return n
    lossy = [n for n in names if "loss" in low[n]]
    if lossy:

        def rank(n: str) -> tuple[int, int, int]:
            held_out = any(h in low[n] for h in _HELD_OUT)
            tier = 0 if "train" in low[n] else 2 if held_out else 1
            # the finest curve of a tier: per-step values before per-epoch means
            return (tier, -counts.get(n, 0), names.index(n))

        return min(lossy, key=rank)
    candidates = [n for n in numeric if n not in steps]
    return candidates[0] if len(candidates) == 1 else None


def _step_name(names: list[str], numeric: list[str]) -> str | None:
    low = {n.lower(): n for n in names if n in numeric}
    for want in _STEP_NAMES:
        if want in low:
            return low[want]
    return None


def _pick(table: _Table, name: str, column: str | None) -> LossLog:
    names = list(table.cells)
    numeric = [
        n
        for n in names
        if table.cells[n] and all(_number(c) is not None for _, c in table.cells[n])
    ]
    step = _step_name(names, numeric)
    steps_set = {step} if step else set()
    kind = table.kind
    if column is not None:
        if column not in table.cells:
            _missing(name, kind, column, names)
        chosen = column
    else:
        counts = {n: len(cells) for n, cells in table.cells.items()}
        chosen = _choose(names, numeric, steps_set, counts)
        if chosen is None:
            cands = [n for n in numeric if n not in steps_set]
            if not cands:
                raise ValueError(
                    f"{name}: no numeric {kind} holds a loss; {kind}s: {', '.join(names)}"
                )
            raise ValueError(
                f"{name}: cannot tell which {kind} is the loss among "
                f"{', '.join(cands)}; pass column=NAME"
            )
    cells = table.cells[chosen]
    values, rows = [], []
    for row, cell in cells:
        x = _number(cell)
        if x is None:
            raise ValueError(
                f"{name}: {kind} {chosen!r} holds a non-numeric value {shown(cell)} at line {row}"
            )
        values.append(x)
        rows.append(row)
    arr = _curve(values, name, kind, chosen)
    step_arr = np.arange(arr.size, dtype=np.float64)
    if step is not None and step != chosen:
        by_row = {r: _number(c) for r, c in table.cells[step]}
        got = [by_row.get(r) for r in rows]
        if all(s is not None and math.isfinite(s) for s in got):
            step_arr = np.asarray(got, dtype=np.float64)
    others = tuple(n for n in numeric if n != chosen)
    return LossLog(arr, step_arr, name, chosen, others)


def _missing(name: str, kind: str, column: str, names: list[str]) -> None:
    # "too little" rather than wrong: in a live log the column may come with later rows
    hint = closest(column, names)
    did = f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""
    raise _TooLittle(f"{name}: {kind} {column!r} not found{did}; {kind}s: {', '.join(names)}")


def _curve(values: list[float], name: str, kind: str, chosen: str) -> np.ndarray:
    if len(values) > MAX_ROWS:
        raise ValueError(f"{name}: more than {MAX_ROWS:,} values; shorten the log")
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise _TooLittle(f"{name}: {kind} {chosen!r} has no values")
    if arr.size < 2:
        raise _TooLittle(f"{name}: {kind} {chosen!r} has only one value; a curve needs at least 2")
    if not np.any(np.isfinite(arr)):
        raise _TooLittle(f"{name}: {kind} {chosen!r} has no finite value (all NaN or inf)")
    return arr


def _pick_series(
    series: dict[str, tuple[list[float], list[float]]], name: str, column: str | None, kind: str
) -> LossLog:
    """The loss among named series of (steps, values): TensorBoard tags, MLflow metrics."""
    names = list(series)
    if column is not None:
        if column not in series:
            _missing(name, kind, column, names)
        chosen = column
    else:
        counts = {n: len(v) for n, (_, v) in series.items()}
        chosen = _choose(names, names, set(), counts)
        if chosen is None:
            raise ValueError(
                f"{name}: cannot tell which {kind} is the loss among "
                f"{', '.join(names)}; pass column=NAME"
            )
    steps, values = series[chosen]
    arr = _curve(values, name, kind, chosen)
    others = tuple(n for n in names if n != chosen)
    return LossLog(arr, np.asarray(steps, dtype=np.float64), name, chosen, others)


# -------------------------------------------------------------------------------- tensorboard


def _event_accumulator():
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError:
        raise ImportError(
            f"reading TensorBoard logs needs the tensorboard package: {_TB_HINT}"
        ) from None
    return event_accumulator


def _event_dirs(p: Path, name: str) -> list[tuple[str, Path]]:
    """(prefix, path) for a file, or every directory (2 levels down) holding event files."""
    if p.is_file():
        return [("", p)]
    found = []
    for depth_glob in ("", "*/", "*/*/"):
        for d in sorted(p.glob(depth_glob + "events.out.tfevents.*")):
            if d.is_file():
                rel = d.parent.relative_to(p).as_posix()
                entry = ("" if rel == "." else rel + "/", d.parent)
                if entry not in found:
                    found.append(entry)
    if not found:
        raise _TooLittle(
            f"{name}: no TensorBoard event files (events.out.tfevents.*) in the directory"
        )
    total = sum(f.stat().st_size for _, d in found for f in d.glob("events.out.tfevents.*"))
    if total > MAX_BYTES:
        raise ValueError(
            f"{name}: the event files hold {_bytes(total)}; logs up to {_bytes(MAX_BYTES)} are read"
        )
    return found


def _read_tensorboard(p: Path, name: str, column: str | None, *, live: bool) -> LossLog:
    ea_mod = _event_accumulator()
    series: dict[str, tuple[list[float], list[float]]] = {}
    for prefix, where in _event_dirs(p, name):
        files = [where] if where.is_file() else sorted(where.glob("events.out.tfevents.*"))
        for f in files:
            _check_records(f, name, live=live)
        acc = ea_mod.EventAccumulator(
            str(where), size_guidance={ea_mod.SCALARS: 0, ea_mod.TENSORS: 0}
        )
        try:
            acc.Reload()
        except (OSError, ValueError, RuntimeError) as exc:  # unreadable or corrupt records
            raise ValueError(f"{name}: not a readable TensorBoard event file ({exc})") from None
        tags = acc.Tags()
        for tag in tags.get("scalars", []):
            events = acc.Scalars(tag)
            series[prefix + tag] = (
                [float(e.step) for e in events],
                [float(e.value) for e in events],
            )
        for tag in tags.get("tensors", []):
            values = _scalar_tensors(acc.Tensors(tag))
            if values is not None and prefix + tag not in series:
                series[prefix + tag] = values
    if not series:
        raise _TooLittle(f"{name}: no scalar tags in the TensorBoard log")
    return _pick_series(series, name, column, "tag")


def _check_records(path: Path, name: str, *, live: bool) -> None:
    """Walk the record framing of an event file (TFRecord: an 8-byte length, its 4-byte
    checksum, the data, the data's 4-byte checksum), without parsing the records.

    TensorBoard's reader stops quietly at a record cut short, so a truncated file would read
    as a shorter run: refused here instead, unless the log is live (its writer may be in the
    middle of a record). A length that runs far past the end is corruption, live or not.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    pos, end = 0, len(raw)
    while pos < end:
        if end - pos < 12:
            length = None
        else:
            (length,) = struct.unpack_from("<Q", raw, pos)
            if pos + 16 + length <= end:
                pos += 16 + length
                continue
        if length is not None and length > MAX_BYTES:
            raise ValueError(
                f"{name}: not a readable TensorBoard event file (a record at byte {pos} "
                f"claims {length:,} bytes: the file is corrupt)"
            )
        if live:
            return
        raise ValueError(
            f"{name}: the TensorBoard event file is truncated (its last record, at byte "
            f"{pos} of {end}, is cut short: a copy made while it was written, or a writer "
            "that was killed)"
        )


def _scalar_tensors(events: list) -> tuple[list[float], list[float]] | None:
    """Scalars written as tensors (TensorFlow 2 summaries); None when they are not scalars."""
    from tensorboard.util import tensor_util

    steps, values = [], []
    for e in events:
        try:
            arr = tensor_util.make_ndarray(e.tensor_proto)
        except (ValueError, TypeError):  # strings and other non-numeric tensors
            return None
        if arr.size != 1 or arr.dtype.kind not in "biuf":
            return None
        steps.append(float(e.step))
        values.append(float(arr.reshape(())))
    return steps, values


# ------------------------------------------------------------------------------------- MLflow


def _mlflow_metrics_dir(p: Path) -> Path | None:
    """The ``metrics`` directory of an MLflow run that holds the file ``p``, if any (metric
    names with ``/`` are kept in subdirectories of it)."""
    for parent in p.parents:
        if parent.name == _MLFLOW_METRICS and (parent.parent / _MLFLOW_META).is_file():
            return parent
    return None


def _read_mlflow(metrics: Path, name: str, column: str | None, *, live: bool) -> LossLog:
    """An MLflow run's metrics: one file per metric, a ``timestamp value step`` line per point
    (MLflow's ``FileStore``)."""
    files = sorted(f for f in metrics.rglob("*") if f.is_file())
    total = sum(f.stat().st_size for f in files)
    if total > MAX_BYTES:
        raise ValueError(
            f"{name}: the metric files hold {_bytes(total)}; logs up to "
            f"{_bytes(MAX_BYTES)} are read"
        )
    series: dict[str, tuple[list[float], list[float]]] = {}
    for f in files:
        key = f.relative_to(metrics).as_posix()
        raw = _read_bytes(f, name)
        _refuse_binary(raw, f"{name} ({key})")
        if live:
            raw = raw[: raw.rfind(b"\n") + 1]
        text = _decode(raw, f"{name} ({key})")
        steps, values = [], []
        for line_no, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            parsed = [_number(x) for x in fields]
            if len(fields) != 3 or None in parsed:
                raise ValueError(
                    f"{name}: line {line_no} of metric {key!r} is {line.strip()[:40]!r}; "
                    "MLflow metric files hold 'timestamp value step' lines"
                )
            values.append(parsed[1])
            steps.append(parsed[2])
        if values or column == key:
            series[key] = (steps, values)
    if not series:
        raise _TooLittle(f"{name}: the MLflow run has no metric values yet")
    return _pick_series(series, name, column, "metric")


# ---------------------------------------------------------------------------------- live logs


class LogFollower:
    """A log that is still being written, read as ``tail -f`` reads it.

    Each :meth:`poll` looks at the file (or run directory) once: when it has grown by
    complete lines or records, it returns the whole curve so far; otherwise None, with the
    reason in ``waiting`` while there is nothing to read yet (the file does not exist, holds
    no complete row, lacks the column...). A line or record still being written is left for
    a later poll. A file that shrinks or is replaced (truncated, rotated) starts over:
    ``restarts`` counts how often. Errors that more data cannot fix (binary content, a
    malformed line, an oversized file) raise ``ValueError`` as :func:`read_log` does.

    Args:
        path: the log file, or a run directory (Lightning, MLflow, TensorBoard).
        column: the column, key, tag or metric to read; found automatically when omitted.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.csv"
        >>> follower = LogFollower(path)
        >>> follower.poll() is None, follower.waiting
        (True, 'train.csv does not exist yet')
        >>> _ = path.write_text("step,loss\\n0,2.0\\n1,1.5\\n2,1.")   # the last line is half-written
        >>> follower.poll().values.tolist()
        [2.0, 1.5]
        >>> with path.open("a") as fh:
        ...     _ = fh.write("2\\n")
        >>> follower.poll().values.tolist()
        [2.0, 1.5, 1.2]
        >>> follower.poll() is None                  # nothing new
        True
    """

    def __init__(self, path: str | os.PathLike[str], column: str | None = None) -> None:
        self.path, self._name = _checked(path, column)
        self.column = column
        self.waiting: str | None = None
        self.restarts = 0
        self._seen: tuple | None = None  # what the files looked like at the last read
        self._identity: tuple | None = None  # which files (inodes) they were
        self._size = 0
        self._last: LossLog | None = None

    def poll(self) -> LossLog | None:
        """The curve so far when the log has new complete data since the last poll, else None.

        Raises:
            ValueError: the log cannot be read, and more data will not change that.
        """
        seen = self._look()
        if seen is None:
            self.waiting = f"{self._name} does not exist yet"
            return None
        if seen == self._seen:
            return None
        identity, size, _ = seen
        if self._identity is not None and (identity != self._identity or size < self._size):
            self.restarts += 1  # truncated, replaced or rotated: the log starts over
            self._last = None
        self._seen, self._identity, self._size = seen, identity, size
        try:
            log = _read(self.path, self._name, self.column, live=True)
        except _TooLittle as e:
            self.waiting = str(e)
            return None
        except FileNotFoundError:  # replaced between the look and the read
            self._seen = None
            return None
        self.waiting = None
        if self._last is not None and len(log.values) <= len(self._last.values):
            if len(log.values) == len(self._last.values):
                return None
            self.restarts += 1  # fewer points than before: the run started over
        self._last = log
        return log

    def _look(self) -> tuple | None:
        """(identity, total size, times) of the files that make the log; None when missing."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ValueError(f"{self._name}: cannot read ({exc.strerror or exc})") from None
        if not self.path.is_dir():
            return (st.st_ino, st.st_dev), st.st_size, st.st_mtime_ns
        files = []
        for f in sorted(self.path.rglob("*")):
            with suppress(FileNotFoundError):  # listed a moment ago, gone now (rotated)
                if f.is_file():
                    fs = f.stat()
                    files.append((str(f), fs.st_ino, fs.st_size, fs.st_mtime_ns))
        identity = tuple((f, ino) for f, ino, _, _ in files)
        return identity, sum(size for _, _, size, _ in files), tuple(files)


def follow(
    path: str | os.PathLike[str],
    column: str | None = None,
    *,
    interval: float = 0.5,
    timeout: float | None = None,
) -> Iterator[LossLog]:
    """Yield the curve of a growing log each time it grows, as ``tail -f`` would print it.

    Args:
        path: the log file or run directory (it may not exist yet).
        column: the column, key, tag or metric to read.
        interval: seconds between two looks at the file.
        timeout: stop after this many seconds without new data (None: never).

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.jsonl"
        >>> _ = path.write_text('{"loss": 3}\\n{"loss": 2}\\n')
        >>> [log.values.tolist() for log in follow(path, interval=0.01, timeout=0.05)]
        [[3.0, 2.0]]
    """
    interval = positive_float("interval", interval)
    if timeout is not None:
        timeout = positive_float("timeout", timeout, allow_zero=True)
    follower = LogFollower(path, column)
    quiet_since = time.monotonic()
    while True:
        log = follower.poll()
        if log is not None:
            quiet_since = time.monotonic()
            yield log
        elif timeout is not None and time.monotonic() - quiet_since >= timeout:
            return
        time.sleep(interval)
