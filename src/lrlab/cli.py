"""The ``lrlab`` command line: a thin shell over the library.

Every command parses its arguments, calls the same library functions a Python user would,
and prints either a short human summary or, with ``--json``, exactly one JSON object on
stdout. Bad input exits with status 2 and one line on stderr, never a traceback.

Imports inside commands are deliberate: a fresh command should cost little more than
importing torch (``benchmarks/startup.py``), so what only some commands need (matplotlib for
``--plot`` and ``demo``, FastAPI and uvicorn for ``serve``, the SQL store, TensorBoard's
reader) is imported by those commands alone. The core modules are loaded with the package
anyway; commands import them the same way so that each one lists what it uses.
"""

from __future__ import annotations

import json
import math
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ._format import fmt
from .cli_records import (
    JsonOpt,
    NoStoreOpt,
    StoreOpt,
    err,
    open_store,
    out,
    record,
    records_app,
)

app = typer.Typer(
    name="lrlab",
    help="The learning-rate laboratory: see, diagnose and choose the learning rate.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class BadInput(Exception):
    """Input the user can fix: reported in one line, exit status 2."""


def _emit_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")


def _one_line(e: object) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _start(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise BadInput(
            f"--start {text!r}: expected comma-separated numbers, e.g. --start -1.5,2"
        ) from None
    if not all(math.isfinite(v) for v in values):
        raise BadInput(f"--start {text!r}: every coordinate must be finite")
    return values


def _objective(spec: str):
    from .objectives import from_factory, is_factory_path, objective

    return from_factory(spec) if is_factory_path(spec) else objective(spec)


@contextmanager
def _progress(label: str, enabled: bool):
    """A progress bar on a terminal's stderr; nothing when piped or in CI logs."""
    if not enabled or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _save_plot(fig, path: Path) -> None:
    from .plot import save

    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise BadInput(f"--plot {path}: the file name must end in .png, .svg or .pdf")
    save(fig, path)
    err.print(f"wrote {path}")


def _print_diagnosis(d) -> None:
    out.print(f"regime      {d.regime}  (confidence {d.confidence:.2f})")
    out.print(f"advice      {d.advice}")
    for key, value in d.evidence.items():
        if value is None:
            continue
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        out.print(f"  {key:<22}{shown}")


_LOG_HELP = (
    "A loss log: CSV, JSON lines, TensorBoard events, Lightning's metrics.csv, an MLflow "
    "metric file, or a run's directory (Lightning version, MLflow run, TensorBoard logdir)."
)
StepsOpt = Annotated[int, typer.Option("--steps", help="Gradient steps per run.")]
# A loss log's options, the same for diagnose and watch.
ColumnOpt = Annotated[
    str | None, typer.Option("--column", help="Column, key, tag or metric to read.")
]
LogLrOpt = Annotated[
    float | None, typer.Option("--lr", help="The run's learning rate, for concrete advice.")
]
FloorOpt = Annotated[
    float | None, typer.Option("--floor", help="The best reachable loss, if known.")
]
StartOpt = Annotated[
    str | None, typer.Option("--start", help="Starting point, comma-separated: -1.5,2")
]
PlotOpt = Annotated[
    Path | None, typer.Option("--plot", help="Also draw the picture to FILE (.png/.svg).")
]
OptimizerOpt = Annotated[
    str, typer.Option("--optimizer", help="The update rule: sgd, adam, adamw, rmsprop, adagrad.")
]
MomentumOpt = Annotated[
    str | None, typer.Option("--momentum", help="Momentum (sgd, rmsprop), e.g. 0.9.")
]
NesterovOpt = Annotated[bool, typer.Option("--nesterov", help="Nesterov momentum (sgd).")]
BetasOpt = Annotated[
    str | None, typer.Option("--betas", help="Adam's betas B1,B2, e.g. 0.9,0.999.")
]
EpsOpt = Annotated[float | None, typer.Option("--eps", help="The rule's eps.")]
WeightDecayOpt = Annotated[
    float | None, typer.Option("--weight-decay", help="Weight decay (AdamW: decoupled).")
]


def _numbers(flag: str, text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise BadInput(f"{flag} {text!r}: expected numbers separated by commas") from None
    if not all(math.isfinite(v) for v in values):
        raise BadInput(f"{flag} {text!r}: every value must be finite")
    return values


def _rule(name, momentum, nesterov, betas, eps, weight_decay, *, sweep_momentum=False):
    """The update rule the optimizer flags describe; only the flags given are passed, so
    the rest keep torch.optim's defaults and a flag the rule does not take is refused."""
    from .optim import get

    options: dict = {"name": name.strip().lower()}
    if momentum is not None:
        values = _numbers("--momentum", momentum)
        if len(values) > 1 and not sweep_momentum:
            raise BadInput(f"--momentum {momentum!r}: one value here (sweep takes a list)")
        options["momentum"] = values if len(values) > 1 else values[0]
    if nesterov:
        options["nesterov"] = True
    if betas is not None:
        pair = _numbers("--betas", betas)
        if len(pair) != 2:
            raise BadInput(f"--betas {betas!r}: expected two numbers B1,B2, e.g. 0.9,0.999")
        options["betas"] = tuple(pair)
    if eps is not None:
        options["eps"] = eps
    if weight_decay is not None:
        options["weight_decay"] = weight_decay
    return get(options)


ObjArg = Annotated[
    str,
    typer.Argument(
        help="A catalogue name (rosenbrock), a dataset problem (digits-mlp), an expression "
        "('x**4 - 4*x**2 + x'), or package.module:function returning (model, loss_fn, data)."
    ),
]


@app.command()
def demo(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the pictures and report.")
    ] = Path("lrlab-demo"),
) -> None:
    """Draw the learning-rate pictures and a report explaining them, on built-in examples."""
    from .demo import demo as run_demo

    with _progress("demo", True) as progress:
        index = run_demo(out_dir, progress=progress)
    out.print(f"wrote the report {index}")
    out.print(f"open it with: python -m webbrowser {index.resolve().as_uri()}")


@app.command()
def run(
    objective: ObjArg,
    lr: Annotated[float, typer.Option("--lr", help="The learning rate.")],
    steps: StepsOpt = 200,
    start: StartOpt = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            help="constant, step:every=50,factor=0.5, exponential:gamma=0.99, cosine, "
            "warmup:steps=20, one-cycle",
        ),
    ] = None,
    json_out: JsonOpt = False,
    plot: PlotOpt = None,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
    optimizer: OptimizerOpt = "sgd",
    momentum: MomentumOpt = None,
    nesterov: NesterovOpt = False,
    betas: BetasOpt = None,
    eps: EpsOpt = None,
    weight_decay: WeightDecayOpt = None,
) -> None:
    """Run gradient descent (or another torch.optim rule) with one learning rate and
    diagnose the run."""
    from .descent import descend
    from .schedules import from_text

    rule = _rule(optimizer, momentum, nesterov, betas, eps, weight_decay)
    st = open_store(store, no_store)
    f = _objective(objective)
    sched = from_text(schedule, steps) if schedule is not None else None
    r = descend(f, lr=lr, steps=steps, start=_start(start), schedule=sched, optimizer=rule)
    if plot is not None:
        from . import plot as pictures

        _save_plot(pictures.run_figure(r, f), plot)
    shown = record(st, r, r.to_dict(), _invocation())
    if json_out:
        _emit_json(shown)
        return
    d = r.diagnosis
    out.print(f"objective   {f.name}")
    out.print(f"lr          {r.lr:g}   steps {r.steps}")
    out.print(
        f"cost        {fmt(float(r.losses[0]), 6)} -> {fmt(r.final_loss, 6)}"
        + (f"   (diverged at step {r.diverged_at})" if r.diverged_at is not None else "")
    )
    if r.floor is not None:
        out.print(f"minimum     {fmt(r.floor, 6)}")
    _print_diagnosis(d)
    _print_recorded(shown)


# The record a Ctrl-C would leave interrupted: main() names it in its message. A command sets it
# once its record exists; main() clears it around each command.
_RESUMABLE: ContextVar[str | None] = ContextVar("lrlab_cli_resumable", default=None)


@app.command()
def sweep(
    objective: ObjArg,
    lr_min: Annotated[float, typer.Option("--lr-min", help="Smallest learning rate.")] = 1e-4,
    lr_max: Annotated[float, typer.Option("--lr-max", help="Largest learning rate.")] = 1.0,
    num: Annotated[int, typer.Option("--num", help="How many learning rates, log-spaced.")] = 32,
    steps: StepsOpt = 200,
    start: StartOpt = None,
    json_out: JsonOpt = False,
    plot: PlotOpt = None,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
    checkpoint_every: Annotated[
        float, typer.Option("--checkpoint-every", help="Seconds between checkpoints.", min=0)
    ] = 30.0,
    backend: Annotated[
        str, typer.Option("--backend", help="local (this process) or ray (shards on Ray).")
    ] = "local",
    address: Annotated[
        str | None, typer.Option("--address", help="A Ray cluster's address (default: local).")
    ] = None,
    gpus_per_shard: Annotated[
        float, typer.Option("--gpus-per-shard", help="GPUs each Ray shard asks for.", min=0)
    ] = 0,
    optimizer: OptimizerOpt = "sgd",
    momentum: Annotated[
        str | None,
        typer.Option("--momentum", help="Momentum; a comma list (0,0.5,0.9) sweeps it too."),
    ] = None,
    nesterov: NesterovOpt = False,
    betas: BetasOpt = None,
    eps: EpsOpt = None,
    weight_decay: WeightDecayOpt = None,
    record_mode: Annotated[
        str,
        typer.Option(
            "--record",
            help="What to keep per run: full, summary (a few dozen points), or K (every K-th "
            "step).",
        ),
    ] = "full",
) -> None:
    """Run many learning rates at once (one batched computation) and label each run."""
    from .descent import lr_grid
    from .descent import sweep as do_sweep
    from .records import command

    rule = _rule(optimizer, momentum, nesterov, betas, eps, weight_decay, sweep_momentum=True)
    kept = _record_mode(record_mode)
    st = open_store(store, no_store)
    rid = _new_record_id(st)
    recording = {
        "optimizer": rule,
        "record": kept,
        "store": st,
        "checkpoint_every": checkpoint_every,
        "backend": backend,
        "address": address,
        "gpus_per_shard": gpus_per_shard,
    }
    f = _objective(objective)
    if not lr_min < lr_max:  # said with the options' names (lr_grid would say lo and hi)
        raise BadInput(f"--lr-min {lr_min:g} must be smaller than --lr-max {lr_max:g}")
    grid = lr_grid(lr_min, lr_max, num)
    _RESUMABLE.set(rid)
    with (
        _progress("sweep", True) as progress,
        command(rid, _invocation(), lambda s: _sweep_json(s, rid)),
    ):
        sw = do_sweep(f, lrs=grid, steps=steps, start=_start(start), progress=progress, **recording)
    if plot is not None:
        from . import plot as pictures
        from .scenes import heatmap_of, landscape_of

        # A second swept hyperparameter (--momentum 0,0.9) makes a grid: its picture is a heatmap.
        if sw.optimizer.swept is not None:
            _save_plot(pictures.heatmap(heatmap_of(sw, f)), plot)
        else:
            _save_plot(pictures.landscape(landscape_of(sw, f)), plot)
    _show_sweep(sw, json_out, rid)


def _record_mode(text: str) -> str | int:
    if text in ("full", "summary"):
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise BadInput(f"--record {text!r}: expected full, summary or a whole number K >= 1")


def _new_record_id(st) -> str | None:
    from .store import new_id

    return None if st is None else new_id()


def _sweep_json(sw, rid: str | None) -> dict:
    d = sw.to_dict()
    return d if rid is None else {**d, "id": rid}


def _invocation() -> dict:
    """How the running command was called (kept with its record)."""
    from typer._click.globals import get_current_context

    ctx = get_current_context()
    plain = (bool, int, float, type(None))
    options = {
        k: v if isinstance(v, plain) else str(v)
        for k, v in ctx.params.items()
        if k != "store"  # a URL may carry a password
    }
    return {"command": ctx.info_name, "options": options}


def _print_recorded(shown: dict) -> None:
    if "id" in shown:
        out.print(f"recorded as {shown['id']}: lrlab show {shown['id']}")


def _show_sweep(sw, json_out: bool, rid: str | None) -> None:
    """What ``lrlab sweep`` prints (and ``lrlab resume`` prints again)."""
    if json_out:
        _emit_json(_sweep_json(sw, rid))
        return
    swept = sw.optimizer.swept  # a second swept hyperparameter gets a column of its own
    runs = "runs" if swept else "learning rates"
    table = Table(title=f"{sw.objective}: {len(sw.lrs)} {runs} x {sw.steps} steps")
    for col in ("lr", *([swept] if swept else []), "final cost", "regime", "confidence"):
        table.add_column(col, justify="right" if col != "regime" else "left")
    best = sw.best_index
    for i, (r, value) in enumerate(zip(sw.runs, sw.values or [None] * len(sw.lrs))):
        table.add_row(
            f"{r.lr:.4g}{' *' if i == best else ''}",
            *([f"{value}"] if swept else []),
            fmt(r.final_loss, 6),
            r.regime,
            f"{r.diagnosis.confidence:.2f}",
        )
    out.print(table)
    at = f", {swept} {sw.values[best]}" if swept else ""
    out.print(f"best lr {sw.best_lr:.4g}{at} (final cost {fmt(sw.best.final_loss, 6)})  * marks it")
    _print_recorded({} if rid is None else {"id": rid})


@app.command()
def resume(
    record_id: Annotated[str, typer.Argument(help="The sweep's record id (lrlab history).")],
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Finish an interrupted sweep from its last checkpoint; print what the sweep would have."""
    from .records import resume as do_resume

    st = open_store(store)
    rid = st.resolve(record_id)
    _RESUMABLE.set(rid)
    with _progress("resume", True) as progress:
        sw = do_resume(rid, store=st, progress=progress, output=lambda s: _sweep_json(s, rid))
    _show_sweep(sw, json_out, rid)


@app.command()
def suggest(
    objective: ObjArg,
    steps: Annotated[
        int | None, typer.Option("--steps", help="The training budget to be best for.")
    ] = None,
    json_out: JsonOpt = False,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
    optimizer: OptimizerOpt = "sgd",
    momentum: MomentumOpt = None,
    nesterov: NesterovOpt = False,
    betas: BetasOpt = None,
    eps: EpsOpt = None,
    weight_decay: WeightDecayOpt = None,
) -> None:
    """Recommend a learning rate for an optimizer, with the evidence of every method."""
    from .suggest import suggest as do_suggest

    rule = _rule(optimizer, momentum, nesterov, betas, eps, weight_decay)
    st = open_store(store, no_store)
    f = _objective(objective)
    with _progress("suggest", True) as progress:
        s = do_suggest(f, steps=steps, progress=progress, optimizer=rule)
    shown = record(st, s, s.to_dict(), _invocation())
    if json_out:
        _emit_json(shown)
        return
    out.print(f"suggested lr  {s.lr:.4g}")
    out.print(f"ceiling       {s.lr_max:.4g}")
    for name, m in s.methods.items():
        out.print(f"  {name:<12}{fmt(m.get('lr'), 6)}")
    out.print(("methods agree. " if s.agree else "methods disagree. ") + s.explanation)
    _print_recorded(shown)


@app.command()
def diagnose(
    file: Annotated[Path, typer.Argument(help=_LOG_HELP)],
    column: ColumnOpt = None,
    lr: LogLrOpt = None,
    floor: FloorOpt = None,
    json_out: JsonOpt = False,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
) -> None:
    """Tell which regime a training run was in from its loss log, and what to change."""
    from .logs import read_log
    from .regimes import diagnose as do_diagnose

    st = open_store(store, no_store)
    log = read_log(file, column=column)
    d = do_diagnose(log.values, floor=floor, lr=lr)
    shown = record(
        st,
        d,
        {**d.to_dict(), "source": log.source, "column": log.column, "points": len(log.values)},
        _invocation(),
        objective=str(file),
    )
    if json_out:
        _emit_json(shown)
        return
    out.print(f"log         {log.source}  (column {log.column}, {len(log.values)} points)")
    _print_diagnosis(d)
    _print_recorded(shown)


@app.command()
def watch(
    file: Annotated[Path, typer.Argument(help=_LOG_HELP + " It may not exist yet.")],
    column: ColumnOpt = None,
    lr: LogLrOpt = None,
    floor: FloorOpt = None,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between two looks at the log.")
    ] = 0.5,
) -> None:
    """Follow a growing loss log (as tail -f does) and print its regime each time it changes.

    A log that does not exist yet, or holds too little, is waited for (the reason goes to
    stderr). Ctrl-C stops watching (exit status 0).
    """
    from .monitor import watch as follow_regimes

    try:
        for event in follow_regimes(file, column, lr=lr, floor=floor, interval=interval):
            (out if event.kind == "regime" else err).print(
                event.message if event.kind == "regime" else f"lrlab: {event.message}"
            )
            sys.stdout.flush()
    except KeyboardInterrupt:
        return


@app.command()
def objectives(json_out: JsonOpt = False) -> None:
    """List the catalogue functions and dataset problems."""
    from .objectives import catalogue_table

    rows = catalogue_table()
    if json_out:
        _emit_json({"objectives": rows})
        return
    table = Table(title="objectives (or type any expression, e.g. 'x**4 - 4*x**2 + x')")
    for col in ("name", "kind", "dim", "minimum", "sharpness", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            r["kind"],
            str(r["dim"]),
            fmt(r["minimum"], 6),
            fmt(r["sharpness"], 6),
            r["description"],
        )
    out.print(table)


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)
    ] = 8000,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
) -> None:
    """Open the web lab: a local page to watch gradient descent with any learning rate.

    Sweeps made in the lab are recorded in the store, and its History view lists the store's
    records; a store that cannot be used leaves the lab working, and History says why."""
    from .store import default_url
    from .web.app import serve as run_server

    def ready(url: str) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            err.print(f"serving on {host}: anyone who can reach this address can use the lab")
        out.print(f"lrlab web lab on {url}  (Ctrl+C to stop)")

    run_server(
        host=host, port=port, store=None if no_store else (store or default_url()), ready=ready
    )


# history, show, export, rm: the records in the store.
app.add_typer(records_app)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lrlab`` console script; returns the exit status.

    Example:
        >>> main(["run", "parabola", "--lr", "0.5", "--steps", "5", "--json", "--no-store"])
        ... # doctest: +ELLIPSIS
        {"objective": ...
        0
    """
    import os

    args = list(sys.argv[1:] if argv is None else argv)
    resumable = _RESUMABLE.set(None)
    try:
        # No arguments: the help, on stdout, as for --help. Outside standalone mode typer
        # returns the status of a typer.Exit, and turns Ctrl-C into status 130, rather than
        # raising them.
        status = app(args=args or ["--help"], standalone_mode=False, prog_name="lrlab")
    except typer.Abort:
        err.print("lrlab: aborted")
        return 130
    except KeyboardInterrupt:
        status = 130
    except (BadInput, ValueError, TypeError, OSError, ImportError) as e:
        if os.environ.get("LRLAB_DEBUG"):
            raise
        err.print(f"lrlab: error: {_one_line(e)}")
        return 2
    except Exception as e:
        if hasattr(e, "format_message"):  # a usage error found while parsing the arguments
            err.print(f"lrlab: error: {_one_line(e.format_message())}")
            return 2
        if os.environ.get("LRLAB_DEBUG"):
            raise
        err.print(
            f"lrlab: internal error: {type(e).__name__}: {_one_line(e)} "
            "(set LRLAB_DEBUG=1 to see the traceback)"
        )
        return 1
    finally:
        rid = _RESUMABLE.get()
        _RESUMABLE.reset(resumable)
    if status == 130:
        err.print("lrlab: interrupted" + (f"; resume it with: lrlab resume {rid}" if rid else ""))
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
