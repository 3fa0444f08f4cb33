"""The record-keeping half of the command line: ``history``, ``show``, ``export``, ``rm``, and
the ``--store``/``--no-store`` options with which ``run``, ``sweep``, ``suggest`` and
``diagnose`` record what they make (``lrlab.cli`` adds these commands to ``lrlab``).

What a command records is exactly what it printed with ``--json`` (plus the record's ``id``),
with how it was called; a sweep also keeps every lane's curves (:mod:`lrlab.records`).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ._format import fmt, json_safe

__all__ = ["NoStoreOpt", "StoreOpt", "open_store", "record", "records_app"]

records_app = typer.Typer(add_completion=False, rich_markup_mode=None)

# The command line's two consoles (lrlab.cli prints through them too). Text is printed as it
# is: no markup, no highlighting, and no emoji codes (an objective "mod:boom" is not "mod💥").
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="LRLAB_STORE",
        help="Where records are kept: a SQLAlchemy URL (sqlite:///runs.db, "
        "postgresql+psycopg://...) or a file; default: a per-user SQLite file.",
    ),
]
NoStoreOpt = Annotated[bool, typer.Option("--no-store", help="Do not record this command.")]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")
]
IdArg = Annotated[str, typer.Argument(help="A record's id (or a unique prefix): lrlab history.")]


def open_store(store: str | None, no_store: bool = False, *, reading: bool = False):
    """The store a command records into, or None with ``--no-store``; with ``reading``, the
    store a command only reads, opened without creating anything (a mistyped path is
    refused, not made into an empty store). A store that cannot be used is refused here,
    before any work starts."""
    if no_store:
        return None
    from . import store as _store

    return _store.open(store, writable=not reading)


def record(st, result: Any, output: dict, params: dict, *, objective: str | None = None) -> dict:
    """Keep ``result`` in ``st`` (unless None) and return ``output`` with the record's ``id``.

    Example:
        >>> import lrlab
        >>> st = lrlab.store.open("sqlite://")
        >>> shown = record(st, lrlab.diagnose([3.0, 2.0, 1.0]), {"regime": "x"}, {"file": "f"})
        >>> st.get(shown["id"]).output == shown
        True
    """
    if st is None:
        return output
    from .store import new_id

    rid = new_id()
    shown = {**output, "id": rid}
    st.save(result, params={"command": params}, output=shown, record_id=rid, objective=objective)
    return shown


def _emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(json_safe(obj), allow_nan=False) + "\n")


@records_app.command()
def history(
    store: StoreOpt = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind", help="Only this kind: run, sweep, range_test, suggestion, diagnosis."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="At most this many, newest first.", min=1)
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """List the records in the store, newest first."""
    from . import _checks
    from .store import KINDS

    if kind is not None:
        _checks.one_of("--kind", kind, KINDS)
    from .store import NoStore

    try:
        rows = [r.summary() for r in open_store(store, reading=True).list(kind=kind, limit=limit)]
    except NoStore:
        rows = []
    if json_out:
        _emit_json(rows)
        return
    if not rows:
        out.print("no records yet: run, sweep, suggest and diagnose record what they make")
        return

    # Plain aligned columns: an id or a date cut short to fit a table would be useless.
    def cell(v) -> str:
        return "-" if v is None else str(v)

    cols = ("id", "kind", "status", "steps", "steps_done", "lanes", "created", "objective")
    shown = [
        [cell(r[c]) if c != "created" else r[c].replace("T", " ")[:19] for c in cols] for r in rows
    ]
    widths = [max(len(c), *(len(row[i]) for row in shown)) for i, c in enumerate(cols)]
    for row in [list(cols), *shown]:
        out.print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def _show_output(rec) -> None:
    o = rec.output or {}
    out.print(f"record      {rec.id}  ({rec.kind}, {rec.status})")
    out.print(f"objective   {rec.objective}")
    out.print(f"created     {rec.created.isoformat(timespec='seconds')}")
    out.print(f"steps       {rec.steps_done} of {rec.steps}" if rec.steps else "steps       -")
    env = rec.environment
    out.print(
        f"made with   lrlab {env.get('lrlab')}, torch {env.get('torch')} on {env.get('device')}"
    )
    if rec.kind == "sweep" and "runs" in o:
        # With a second swept hyperparameter, ``best`` names it beside the learning rate.
        best = o.get("best") or {"lr": o.get("best_lr")}
        swept = [k for k in best if k != "lr"]
        table = Table()
        for col in ("lr", *swept, "final cost", "regime"):
            table.add_column(col, justify="left" if col == "regime" else "right")
        marked = False
        for r in o["runs"]:
            is_best = not marked and all(r.get(k) == v for k, v in best.items())
            marked = marked or is_best
            table.add_row(
                f"{r['lr']:.4g}{' *' if is_best else ''}",
                *(str(r.get(k)) for k in swept),
                fmt(r["final_loss"], 6, missing="diverged"),
                str(r["regime"]),
            )
        out.print(table)
    elif rec.kind == "sweep" and "best_lr" in o:
        out.print(f"best lr     {fmt(o['best_lr'], 4)}   ({o.get('lanes')} lanes)")
    elif rec.kind == "run":
        out.print(f"lr          {o.get('lr')}")
        out.print(
            f"cost        {fmt(o['losses'][0] if o.get('losses') else None, 6)} -> {fmt(o.get('final_loss'), 6)}"
        )
        out.print(f"regime      {o.get('regime')}")
    elif rec.kind == "suggestion":
        out.print(f"suggested lr  {fmt(o.get('lr'), 4)}   ceiling {fmt(o.get('lr_max'), 4)}")
    elif rec.kind == "diagnosis":
        out.print(f"regime      {o.get('regime')}  (confidence {fmt(o.get('confidence'), 2)})")
        out.print(f"advice      {o.get('advice')}")
    elif rec.kind == "range_test":
        out.print(f"recommended {fmt(o.get('recommended'), 4)}  ({o.get('method')})")
    if rec.status != "done":
        out.print(f"resume it with: lrlab resume {rec.id}")


@records_app.command()
def show(
    record_id: IdArg,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Also draw the record's picture to FILE (.png/.svg)."),
    ] = None,
) -> None:
    """Show one record: what was asked, where it ran, and what it found."""
    st = open_store(store, reading=True)
    rec = st.get(record_id)
    if plot is not None:
        _plot(st, rec, plot)
    if json_out:
        _emit_json(rec.to_dict())
        return
    _show_output(rec)


def _plot(st, rec, path: Path) -> None:
    from . import plot as pictures
    from .records import load

    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError(f"--plot {path}: the file name must end in .png, .svg or .pdf")
    if rec.kind == "sweep":
        fig = pictures.landscape(load(rec.id, store=st))
    elif rec.kind == "run":
        fig = pictures.run_figure(load(rec.id, store=st))
    else:
        raise ValueError(f"record {rec.id} is a {rec.kind}: runs and sweeps have pictures")
    pictures.save(fig, path)
    err.print(f"wrote {path}")


def _csv_rows(st, rec) -> tuple[list[str], list[list]]:
    """A record as a table: a sweep's lanes (one row per lane and step), a run's steps, or
    the output's fields."""
    from .records import load

    if rec.kind == "sweep":
        sw = load(rec.id, store=st)  # refuses an unfinished sweep, naming `lrlab resume`
        swept = sw.optimizer.swept
        values = sw.values or [None] * len(sw.lrs)
        rows = []
        for lane, (r, value) in enumerate(zip(sw.runs, values)):
            steps = r.recorded_steps if r.recorded_steps is not None else range(len(r.losses))
            first = [lane, r.lr, *([json_safe(value)] if swept else [])]
            for t, loss, gn in zip(steps, r.losses, r.grad_norms):
                rows.append([*first, int(t), json_safe(loss), json_safe(gn)])
        return ["lane", "lr", *([swept] if swept else []), "step", "loss", "grad_norm"], rows
    if rec.kind == "run" and rec.output:
        o = rec.output
        sizes = list(o.get("step_sizes") or []) + [None]
        return ["step", "loss", "grad_norm", "step_size"], [
            [t, loss, gn, size]
            for t, (loss, gn, size) in enumerate(zip(o["losses"], o["grad_norms"], sizes))
        ]
    flat = []

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            flat.append([prefix, json.dumps(value) if isinstance(value, list) else value])

    walk("", rec.output or {})
    return ["key", "value"], flat


@records_app.command()
def export(
    record_id: IdArg,
    format_: Annotated[
        str, typer.Option("--format", help="csv (the curves) or json (everything).")
    ] = "json",
    store: StoreOpt = None,
) -> None:
    """Write a record to stdout: every curve as CSV, or the whole record as JSON."""
    from . import _checks

    _checks.one_of("--format", format_, ("csv", "json"))
    st = open_store(store, reading=True)
    rec = st.get(record_id)
    if format_ == "json":
        data = rec.to_dict()
        if rec.kind == "sweep" and rec.status == "done":
            from .records import load

            data["sweep"] = load(rec.id, store=st).to_dict(with_curves=True)
        _emit_json(data)
        return
    header, rows = _csv_rows(st, rec)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    sys.stdout.write(buf.getvalue())


@records_app.command()
def rm(
    record_id: IdArg,
    store: StoreOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Delete it even while a process is running it.")
    ] = False,
) -> None:
    """Delete a record with its curves and checkpoints (not one still running: see --force)."""
    st = open_store(store)
    rid = st.resolve(record_id)
    st.delete(rid, force=force)
    out.print(f"deleted {rid}")
