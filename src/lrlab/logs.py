"""Read the loss curve out of a training log: CSV, JSON lines or TensorBoard event files.

``read_log`` finds the loss in a log the way a person would: the column (or key, or scalar
tag) called ``loss``; else ``train_loss``, ``training_loss`` or ``train/loss``; else any name
with ``loss`` in it, training before validation; else the only numeric column that is not a
step counter. ``column=`` picks one by name. Step numbers come from a ``step``,
``global_step``, ``iteration`` or ``epoch`` column when there is one.

Non-finite values (``nan``, ``inf``) are kept: to a diagnosis they are evidence of
divergence. Empty cells and missing keys are skipped. Nothing in a log is ever evaluated.

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
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lrlab._checks import closest

__all__ = ["MAX_BYTES", "MAX_ROWS", "LossLog", "read_log"]

MAX_BYTES = 200 * 1024 * 1024  # refuse larger logs: a loss curve is never this big
MAX_ROWS = 10_000_000
_STEP_NAMES = ("step", "global_step", "iteration", "iter", "epoch")
_PREFERRED = ("train_loss", "training_loss", "train/loss")
_HELD_OUT = ("val", "valid", "test", "eval", "dev")
_TB_HINT = "pip install 'lrlab[tensorboard]'"


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
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path={path!r} is invalid: expected a file name")
    if column is not None and not isinstance(column, str):
        raise TypeError(f"column={column!r} is invalid: expected a column name (str) or None")
    p = Path(path)
    name = p.name or str(p)
    if not p.exists():
        raise ValueError(f"{name}: no such file or directory")
    if p.is_dir():
        return _read_tensorboard(p, name, column)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ValueError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    if size > MAX_BYTES:
        raise ValueError(
            f"{name}: the file is {size / 2**20:.0f} MB; logs up to "
            f"{MAX_BYTES // 2**20} MB are read"
        )
    if size == 0:
        raise ValueError(f"{name}: the file is empty")
    if "tfevents" in name:
        return _read_tensorboard(p, name, column)
    try:
        with open(p, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ValueError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    if b"brain.Event" in raw[:256]:  # the first record of every TensorBoard event file
        # TensorBoard only reads event files by their conventional name: show it one
        with tempfile.TemporaryDirectory() as tmp:
            alias = Path(tmp) / "events.out.tfevents.0.sniffed"
            try:
                alias.symlink_to(p.resolve())
            except OSError:
                alias.write_bytes(raw)
            return _read_tensorboard(alias, name, column)
    text = _decode(raw, name)
    if not text.strip():
        raise ValueError(f"{name}: the file is empty")
    suffix = p.suffix.lower()
    first = text.lstrip()[:1]
    if suffix in (".jsonl", ".ndjson", ".json") or first in ("{", "["):
        table = _parse_json(text, name)
    else:
        table = _parse_csv(text, name, delimiter="\t" if suffix == ".tsv" else None)
    return _pick(table, name, column)


# ------------------------------------------------------------------------------------ decoding


def _decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw[:8192]:
        raise ValueError(
            f"{name}: binary content; expected a CSV or JSON-lines text log or a "
            "TensorBoard event file"
        )
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
        raise ValueError(f"{name}: the file is empty")
    if table.rows == 0:
        raise ValueError(f"{name}: a header ({', '.join(header)}) but no data rows")
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
            doc = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"{name}: line {line_no} is not valid JSON ({exc.msg})") from None
        if isinstance(doc, list):
            records = [(i + 1, r) for i, r in enumerate(doc)]
        elif isinstance(doc, dict) and any(isinstance(v, list) for v in doc.values()):
            flat = _flatten(doc)
            length = max(len(v) for v in flat.values() if isinstance(v, list))
            records = [
                (i + 1, {k: v[i] for k, v in flat.items() if isinstance(v, list) and i < len(v)})
                for i in range(length)
            ]
        else:
            records = [(1, doc)]
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
        raise ValueError(f"{name}: the file is empty")
    return table


# ---------------------------------------------------------------------------------- the choice


def _choose(names: list[str], numeric: list[str], steps: set[str]) -> str | None:
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

        def rank(n: str) -> tuple[int, int]:
            held_out = any(h in low[n] for h in _HELD_OUT)
            return (0 if "train" in low[n] else 2 if held_out else 1, names.index(n))

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
            hint = closest(column, names)
            did = f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""
            raise ValueError(
                f"{name}: {kind} {column!r} not found{did}; {kind}s: {', '.join(names)}"
            )
        chosen = column
    else:
        chosen = _choose(names, numeric, steps_set)
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
                f"{name}: {kind} {chosen!r} holds a non-numeric value {cell!r} at line {row}"
            )
        values.append(x)
        rows.append(row)
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"{name}: {kind} {chosen!r} has no values")
    if arr.size < 2:
        raise ValueError(f"{name}: {kind} {chosen!r} has only one value; a curve needs at least 2")
    if not np.any(np.isfinite(arr)):
        raise ValueError(f"{name}: {kind} {chosen!r} has no finite value (all NaN or inf)")
    step_arr = np.arange(arr.size, dtype=np.float64)
    if step is not None and step != chosen:
        by_row = {r: _number(c) for r, c in table.cells[step]}
        got = [by_row.get(r) for r in rows]
        if all(s is not None and math.isfinite(s) for s in got):
            step_arr = np.asarray(got, dtype=np.float64)
    others = tuple(n for n in numeric if n != chosen)
    return LossLog(arr, step_arr, name, chosen, others)


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
        raise ValueError(
            f"{name}: no TensorBoard event files (events.out.tfevents.*) in the directory"
        )
    total = sum(f.stat().st_size for _, d in found for f in d.glob("events.out.tfevents.*"))
    if total > MAX_BYTES:
        raise ValueError(
            f"{name}: the event files hold {total / 2**20:.0f} MB; logs up to "
            f"{MAX_BYTES // 2**20} MB are read"
        )
    return found


def _read_tensorboard(p: Path, name: str, column: str | None) -> LossLog:
    ea_mod = _event_accumulator()
    series: dict[str, tuple[list[float], list[float]]] = {}
    for prefix, where in _event_dirs(p, name):
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
        raise ValueError(f"{name}: no scalar tags in the TensorBoard log")
    names = list(series)
    if column is not None:
        if column not in series:
            hint = closest(column, names)
            did = f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""
            raise ValueError(f"{name}: tag {column!r} not found{did}; tags: {', '.join(names)}")
        chosen = column
    else:
        chosen = _choose(names, names, set())
        if chosen is None:
            raise ValueError(
                f"{name}: cannot tell which tag is the loss among "
                f"{', '.join(names)}; pass column=TAG"
            )
    steps, values = series[chosen]
    if len(values) > MAX_ROWS:
        raise ValueError(f"{name}: more than {MAX_ROWS:,} values; shorten the log")
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2:
        raise ValueError(
            f"{name}: tag {chosen!r} has {arr.size} value(s); a curve needs at least 2"
        )
    if not np.any(np.isfinite(arr)):
        raise ValueError(f"{name}: tag {chosen!r} has no finite value (all NaN or inf)")
    return LossLog(
        arr,
        np.asarray(steps, dtype=np.float64),
        name,
        chosen,
        tuple(n for n in names if n != chosen),
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
