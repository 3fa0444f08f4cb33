"""What each endpoint of the web lab computes: thin calls into the library, placed in a lane.

=====================  =======================================================================
``GET /api/catalogue``  the picker's rows, the regimes (names, colours), the work limits
``POST /api/objective`` an objective's facts, its curve (1-D) or contour (2-D), sharpness,
                        the 1/L and 2/L marks and a learning-rate range for the slider
``POST /api/run``       one run (:func:`lrlab.descend`)
``POST /api/compare``   several learning rates side by side, as one batched sweep
``POST /api/pictures``  the seed's pictures: too low / just right / too high paths and
                        very high / high / low / good cost curves, chosen from a sweep
``POST /api/sweep``     final cost against the learning rate, with the 1/L and 2/L marks
``POST /api/heatmap``   learning rate x momentum: regimes, final costs and the stability
                        boundary (:func:`lrlab.scenes.heatmap_of` of one batched sweep)
``GET /api/history``    the records in the store (see :mod:`lrlab.web.history`)
``GET /api/history/ID`` one record, with its curves
``POST /api/sharpness`` the top Hessian eigenvalue (:func:`lrlab.sharpness`)
``POST /api/suggest``   a learning rate with its evidence (:func:`lrlab.suggest`)
``POST /api/diagnose``  a loss log upload (CSV, JSON lines, TensorBoard) diagnosed
``POST /api/diagnose/losses``  a list of costs diagnosed
=====================  =======================================================================

Light work (the catalogue, runs and comparisons of analytic objectives, their facts and
sharpness, a list of costs) runs in the scheduler's light lane; everything else in the heavy
one (see :mod:`lrlab.web.scheduler`). Runs of one analytic objective, steps and start that
wait together are computed as lanes of one sweep; lanes never interact, so each answer is
exactly what its request alone would give.

Requests never share a model: an analytic objective is a pure function and is cached, but a
dataset problem (a torch model a range test or a run changes in place) is built afresh in
the worker for every request, from its fixed seed, so identical requests give identical
answers.

Example:
    >>> from lrlab import descend
    >>> d = run_dict(descend("parabola", lr=0.1, steps=3))
    >>> "lrs" in d, d["params"].shape
    (False, (4, 1))
"""

from __future__ import annotations

import math
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import orjson
import torch
from fastapi import APIRouter, File, Form, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import Response

from .. import curvature, datasets, descent, expr, logs, optim, regimes, scenes
from .._format import json_list, json_safe
from ..objectives import Objective, catalogue_table
from ..objectives import objective as make_objective
from ..plot.style import REGIME_COLORS, REGIME_LABELS
from ..suggest import DEFAULT_STEPS
from ..suggest import suggest as suggest_lr
from .history import History
from .scheduler import HEAVY, LIGHT, Check, Scheduler
from .schemas import (
    GRID_NUM,
    MAX_RATE,
    CompareOut,
    CompareRequest,
    DiagnoseOut,
    DiagnosisOut,
    ErrorOut,
    HeatmapOut,
    HeatmapRequest,
    HistoryOut,
    HistoryRecordOut,
    Limits,
    LossesRequest,
    ObjectiveOut,
    ObjectiveRequest,
    OptimizerSpec,
    PicturesOut,
    PicturesRequest,
    RunOut,
    RunRequest,
    SharpnessOut,
    SharpnessRequest,
    SuggestRequest,
    SweepOut,
    SweepRequest,
)

__all__ = ["Lab", "LabError", "dumps", "router", "run_dict"]


class LabError(Exception):
    """A request the lab refuses, with its HTTP status and a message for people."""

    def __init__(self, status: int, detail: str, **extra: Any):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


# ---------------------------------------------------------------------------------------------
# JSON bodies, written straight from the library's records.


def dumps(obj: Any) -> bytes:
    """JSON of ``obj``, numpy arrays included, with null for every non-finite float.

    orjson writes the same values as ``json.dumps`` (shortest round-trip floats), and writes
    numpy arrays straight from their memory: about three times as fast as pydantic-core's
    serialiser with lists, and thirty times ``json.dumps``, which matters for bodies of
    thousands of numbers.

    Example:
        >>> dumps({"a": np.array([1.0, np.inf]), "b": None, 3: np.float32(0.5)})
        b'{"a":[1.0,null],"b":null,"3":0.5}'
    """
    return orjson.dumps(obj, default=_array_list, option=_JSON_OPTIONS)


_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _array_list(x):
    # orjson writes C-contiguous arrays of numbers itself and hands anything else here.
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"Object of type {type(x).__name__} is not JSON serializable")


def run_dict(run: descent.Run) -> dict:
    """``run.to_dict()``, less the per-step learning rates (the web lab has no schedules)."""
    d = run.to_dict(arrays=True)  # written by dumps, straight from numpy
    del d["lrs"]
    return d


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


def _size(n: int) -> str:
    return f"{n / 2**20:g} MB" if n >= 2**20 else f"{n:,} bytes"


# ---------------------------------------------------------------------------------------------
# The lab's state: the scheduler, the limits and caches of immutable things only.


class Lab:
    """The scheduler, the limits, the records (:class:`~lrlab.web.history.History`) and
    small caches (analytic objectives, finished answers)."""

    def __init__(self, limits: Limits, workers: int, history: History | None = None):
        self.limits = limits
        self.history = history or History(None)
        self.scheduler = Scheduler(
            seconds=limits.seconds,
            queue=limits.queue,
            batch_lanes=limits.batch_lanes,
            heavy_workers=workers,
        )
        self.lock = threading.Lock()
        self.memo: OrderedDict[tuple, Any] = OrderedDict()

    def remember(self, key: tuple, make: Callable[[], Any], size: int = 256) -> Any:
        """``make()``, kept for ``key`` (least recently used first out). Only for values that
        nothing changes afterwards: analytic objectives, numbers, finished response bodies."""
        with self.lock:
            if key in self.memo:
                self.memo.move_to_end(key)
                return self.memo[key]
        value = make()
        with self.lock:
            self.memo[key] = value
            while len(self.memo) > size:
                self.memo.popitem(last=False)
        return value

    def recall(self, key: tuple) -> Any:
        with self.lock:
            return self.memo.get(key)

    # -- objectives -----------------------------------------------------------------------------

    @staticmethod
    def is_dataset(spec: str) -> bool:
        return spec.strip().partition(":")[0] in datasets.names()

    def analytic(self, spec: str) -> Objective:
        """The analytic objective named or typed by ``spec`` (a pure function: cached).

        Parsing is bounded by the expression parser's own limits, so it runs where it is asked.
        """
        spec = spec.strip()
        if not spec:
            raise LabError(400, "objective is empty: pick a name or type an expression")
        return self.remember(("objective", spec), lambda: make_objective(spec), 512)

    def build(self, spec: str) -> Objective:
        """The objective for one heavy computation: analytic ones from the cache, dataset
        problems built afresh (their models are changed in place by the work)."""
        return make_objective(spec.strip()) if self.is_dataset(spec) else self.analytic(spec)

    def check_work(self, f: Objective, lanes: int, steps: int) -> None:
        lim = self.limits.for_objective(f)
        what = "a dataset problem" if f.kind == "dataset" else "one request"
        if steps > lim["steps"]:
            raise LabError(400, f"steps={steps} is too many for {what}: at most {lim['steps']}")
        if lanes > lim["lanes"]:
            raise LabError(
                400, f"{lanes} learning rates are too many for {what}: at most {lim['lanes']}"
            )
        work = lanes * steps * f.dim
        if work > lim["work"]:
            raise LabError(
                400,
                f"{lanes} learning rates x {steps} steps x {f.dim} parameters = {work:,} is "
                f"too much work for {what}: at most {lim['work']:,}; ask for fewer steps "
                "or learning rates",
            )

    def grid_size(
        self, f: Objective, asked: int | None, steps: int, per_lr: int = 1, most: int = GRID_NUM
    ) -> int:
        """Learning rates in a grid: ``asked``, checked against the limits (each with
        ``per_lr`` runs), or when None ``most``, cut to what the limits allow.

        Example:
            >>> lab = Lab(Limits(), 1, None)
            >>> f = lab.build("digits-mlp")
            >>> lab.grid_size(f, None, 200), lab.grid_size(f, None, 200, per_lr=2)
            (12, 6)
        """
        if asked is None:
            lim = self.limits.for_objective(f)
            fits = min(lim["lanes"], lim["work"] // max(1, steps * f.dim)) // per_lr
            asked = max(2, min(most, fits))  # below 2, check_work says what to change
        self.check_work(f, asked * per_lr, steps)
        return asked

    def marks(self, f: Objective, start: Sequence[float] | None, check: Check) -> dict:
        """Sharpness L (known at the minimum, else measured at the start) and 1/L, 2/L."""
        if f.sharpness_at_minimum is not None:
            where, value = "minimum", f.sharpness_at_minimum
        else:
            where = "start"
            key = ("sharpness", f.name, tuple(start) if start else None)
            value = self.remember(key, lambda: curvature.sharpness(f, at=start, progress=check))
        value = json_safe(value)
        if value is None or value <= 0:
            return {"sharpness": value, "where": where, "one_over_L": None, "two_over_L": None}
        return {
            "sharpness": value,
            "where": where,
            "one_over_L": 1 / value,
            "two_over_L": 2 / value,
        }


# ---------------------------------------------------------------------------------------------
# Runs of analytic objectives, batched across requests.


@dataclass(frozen=True)
class _Lanes:
    """One request's learning rates, and how its runs are judged and shaped."""

    lrs: tuple[float, ...]
    judged: str  # "run": like descend (the known minimum); "sweep": like sweep(lrs)
    shape: Callable[[Objective, list[descent.Run]], dict]


def _rule(spec: OptimizerSpec | None) -> optim.Rule | None:
    """The update rule a request names (None: plain gradient descent); bad values are a 400."""
    if spec is None:
        return None
    options = {"name": spec.name}
    if spec.momentum:
        options["momentum"] = spec.momentum
    return optim.get(options)


def _sweep_all(f: Objective, steps: int, start, keep: bool, rule=None) -> Callable:
    def compute(asks: Sequence[_Lanes], check: Check) -> dict[float, descent.Run]:
        lrs = sorted({lr for a in asks for lr in a.lrs})
        sw = descent.sweep(f, lrs, steps, start, optimizer=rule, keep_params=keep, progress=check)
        return dict(zip(lrs, sw.runs, strict=True))

    return compute


def _answer(f: Objective) -> Callable:
    def answer(by_lr: dict[float, descent.Run], ask: _Lanes) -> bytes:
        runs = [by_lr[lr] for lr in ask.lrs]
        floor = f.minimum if ask.judged == "run" else _sweep_floor(f, runs)
        return dumps(ask.shape(f, [replace(r, floor=floor) for r in runs]))

    return answer


def _sweep_floor(f: Objective, runs: list[descent.Run]) -> float | None:
    """The floor :func:`lrlab.sweep` gives a sweep of these runs alone (their lanes are shared
    with other requests' here), by the library's one rule for it."""
    return descent.sweep_floor(np.array([r.final_loss for r in runs], dtype=float), f.minimum)


async def _lanes(lab: Lab, f: Objective, steps: int, start, ask: _Lanes, rule=None) -> Response:
    lab.check_work(f, len(ask.lrs), steps)
    # Lanes share a sweep only with lanes of the same rule: the key names everything but lrs.
    rule_key = dumps(rule.to_dict()) if rule is not None else None
    key = ("lanes", f.name, steps, tuple(start) if start else None, rule_key)
    keep = f.dim <= 16
    body = await lab.scheduler.batched(
        key, len(ask.lrs), ask, _sweep_all(f, steps, start, keep, rule), _answer(f)
    )
    return _json(body)


def _compare_body(f: Objective, steps: int, runs: list[descent.Run], floor, best_lr) -> dict:
    return {
        "objective": f.name,
        "steps": steps,
        "floor": floor,
        "best_lr": best_lr,
        "runs": [run_dict(r) for r in runs],
    }


# ---------------------------------------------------------------------------------------------
# What the other endpoints compute (in the workers).


def _lr_range(marks: dict) -> tuple[list[float], float]:
    L = marks["sharpness"]
    if marks["two_over_L"] is None:
        return [1e-5, 10.0], 0.01
    return [1e-4 / L, 10 / L], 1 / L


def _surface(f: Objective, resolution: int) -> dict | None:
    if f.box is None or f.dim > 2:
        return None
    if f.dim == 1:
        xs = np.linspace(*f.box[0], 4 * resolution + 1)
        z = f.losses(torch.as_tensor(xs[:, None], dtype=f.dtype)).detach().cpu().numpy()
        return {"x": json_list(xs), "y": None, "z": json_list(z)}
    xs = np.linspace(*f.box[0], resolution)
    ys = np.linspace(*f.box[1], resolution)
    X, Y = np.meshgrid(xs, ys)
    W = torch.as_tensor(np.stack([X.ravel(), Y.ravel()], axis=1), dtype=f.dtype)
    z = f.losses(W).detach().cpu().numpy().reshape(len(ys), len(xs))
    return {"x": json_list(xs), "y": json_list(ys), "z": json_list(z)}


def _objective_body(lab: Lab, spec: str, start, resolution: int, check: Check) -> bytes:
    f = lab.build(spec)
    if start is not None:
        f.point(start)  # a clear error now rather than in the first run
    marks = lab.marks(f, start, check)
    lr_range, default_lr = _lr_range(marks)
    d = f.describe()
    d.update(
        marks=marks,
        lr_range=lr_range,
        default_lr=default_lr,
        default_steps=DEFAULT_STEPS[f.kind],
        limits=lab.limits.for_objective(f),
        surface=lab.remember(("surface", f.name, resolution), lambda: _surface(f, resolution), 32),
    )
    return dumps(json_safe(d))


def _around(marks: dict, low: float, high: float) -> tuple[float, float]:
    """``low / L`` to ``high / L`` around the sharpness L in ``marks``, slid into 1e-12 to
    ``MAX_RATE`` (the rates a request may name) where L is extreme; 1e-5 to 10 when L is
    unknown."""
    L = marks["sharpness"] if marks["two_over_L"] is not None else None
    if not L:
        return 1e-5, 10.0
    lo, hi = low / L, high / L
    if not (lo >= 1e-12 and hi <= MAX_RATE):  # in logs: high / L may overflow
        width = math.log10(high / low)
        top = min(max(math.log10(high) - math.log10(L), width - 12), math.log10(MAX_RATE))
        lo, hi = 10 ** (top - width), 10**top
    return lo, hi


def _grid(req: SweepRequest | HeatmapRequest, num: int, marks: Callable[[], dict]) -> np.ndarray:
    """The request's grid of ``num`` learning rates. A bound left out is taken from 1e-2/L to
    20/L around the objective's sharpness L (past 2/L, and past momentum's (2 + 2*beta)/L);
    ``marks`` is asked only then."""
    lo, hi = req.lr_min, req.lr_max
    if lo is None or hi is None:
        auto_lo, auto_hi = _around(marks(), 1e-2, 20.0)
        lo = lo if lo is not None else auto_lo
        hi = hi if hi is not None else auto_hi
    if not lo < hi:
        raise LabError(400, f"lr_min={lo:g} must be smaller than lr_max={hi:g}")
    return descent.lr_grid(lo, hi, num)


def _sweep_body(lab: Lab, req: SweepRequest, check: Check) -> bytes:
    f = lab.build(req.objective)
    num = lab.grid_size(f, req.num, req.steps)
    marks = lab.marks(f, req.start, check)
    lrs = _grid(req, num, lambda: marks)
    sw = descent.sweep(f, lrs, req.steps, req.start, keep_params=False, progress=check)
    body = dumps({**sw.to_dict(), "marks": marks})
    lab.history.record(sw, {"web": "sweep", "start": req.start})
    return body


def _heatmap_body(lab: Lab, req: HeatmapRequest, check: Check) -> bytes:
    f = lab.build(req.objective)
    values = req.optimizer.momentum
    num = lab.grid_size(f, req.num, req.steps, per_lr=len(values))
    rule = optim.get({"name": req.optimizer.name, "momentum": list(values)})
    lrs = _grid(req, num, lambda: lab.marks(f, req.start, check))
    sw = descent.sweep(
        f, lrs, req.steps, req.start, optimizer=rule, keep_params=False, progress=check
    )
    h = scenes.heatmap_of(sw, f)
    d = sw.to_dict()
    rid = lab.history.new_id()
    body = dumps(
        {
            "objective": f.name,
            "steps": req.steps,
            "optimizer": d["optimizer"],
            "name": h.name,
            "values": list(h.values),
            "lrs": h.lrs,
            "costs": json_safe(h.costs.tolist()),
            "regimes": h.regimes.tolist(),
            "sharpness": json_safe(h.sharpness),
            "boundary": json_safe(h.boundary.tolist()) if h.boundary is not None else None,
            "best": d["best"],
            "record": rid,
        }
    )
    if rid is not None:
        lab.history.record(sw, {"web": "heatmap", "start": req.start}, rid)
    return body


#: The seed's cost-curve pictures and the regime each stands for.
CURVES = (("very high", "diverging"), ("high", "too_high"), ("low", "too_low"), ("good", "good"))


def _pictures_body(lab: Lab, req: PicturesRequest, check: Check) -> bytes:
    f = lab.build(req.objective)
    num = lab.grid_size(f, None, req.steps, most=48)
    marks = lab.marks(f, req.start, check)
    lrs = descent.lr_grid(*_around(marks, 1e-3, 20.0), num)
    sw = descent.sweep(f, lrs, req.steps, req.start, keep_params=f.dim <= 16, progress=check)
    picks = _pick(sw)
    too_high = picks["high"] if picks["high"].regime == "too_high" else picks["very high"]
    paths = [("too low", picks["low"]), ("just right", picks["good"]), ("too high", too_high)]
    body = {
        "objective": f.name,
        "steps": req.steps,
        "marks": marks,
        "sweep": sw.to_dict(),
        "paths": [{"label": label, "run": run_dict(r)} for label, r in paths],
        "curves": [{"label": label, "run": run_dict(picks[label])} for label, _ in CURVES],
    }
    return dumps(body)


def _pick(sw: descent.Sweep) -> dict[str, descent.Run]:
    """One run of the sweep per seed picture: the regime's clearest example, else the nearest."""
    runs, best = sw.runs, sw.best
    log = {id(r): math.log10(r.lr) for r in runs}
    by = {regime: [r for r in runs if r.regime == regime] for _, regime in CURVES}

    def nearest(pool, target):
        return min(pool, key=lambda r: abs(log[id(r)] - math.log10(target)))

    low = [r for r in by["too_low"] if r.lr < best.lr]
    high = sorted(by["too_high"], key=lambda r: r.lr)
    above = [r for r in runs if r.lr > best.lr and r.regime != "diverging"]
    return {
        "good": best,
        "low": nearest(low, best.lr / 30) if low else runs[0],
        "high": high[len(high) // 2] if high else (above[-1] if above else runs[-1]),
        "very high": by["diverging"][0] if by["diverging"] else runs[-1],
    }


def _alone(lab: Lab, spec: str, lrs, steps: int, start, judged: str, rule, check: Check):
    """Runs of a dataset problem, on a model of their own: ``(objective, runs, floor, best)``."""
    f = lab.build(spec)
    lab.check_work(f, len(lrs), steps)
    sw = descent.sweep(
        f, lrs, steps, start, optimizer=rule, keep_params=f.dim <= 16, progress=check
    )
    if judged == "run":  # judged as descend() judges one run: against the known minimum
        return f, [replace(sw.runs[0], floor=f.minimum)], f.minimum, None
    return f, sw.runs, sw.floor, sw.best_lr


def _sharpness_body(lab: Lab, spec: str, at, check: Check) -> bytes:
    f = lab.build(spec)
    value = curvature.sharpness(f, at=at, progress=check)
    point = at if at is not None else (f.start.cpu().numpy() if f.dim <= 16 else None)
    return dumps({"objective": f.name, "sharpness": value, "at": point})


def _suggest_body(lab: Lab, spec: str, steps, start, check: Check) -> bytes:
    f = lab.build(spec)
    if steps is not None:
        lab.check_work(f, 1, steps)
    return dumps(json_safe(suggest_lr(f, steps=steps, start=start, progress=check).to_dict()))


#: Most points of a diagnosed curve sent back for the plot.
PLOT_POINTS = 5000


def _thin(values: np.ndarray, steps: np.ndarray) -> tuple[list, list]:
    if len(values) > PLOT_POINTS:
        idx = np.unique(np.linspace(0, len(values) - 1, PLOT_POINTS).round().astype(int))
        values, steps = values[idx], steps[idx]
    return json_list(values), json_list(steps)


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _log_body(raw: bytes, filename: str, column: str | None, floor, check: Check) -> bytes:
    name = _SAFE_NAME.sub("_", Path(filename or "log.csv").name)[-120:].lstrip(".") or "log.csv"
    if (
        Path(name).suffix.lower() not in (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".txt")
        and "tfevents" not in name
    ):
        name += ".csv"
    with tempfile.TemporaryDirectory(prefix="lrlab-web-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(raw)
        log = logs.read_log(path, column=column)
    check()
    d = regimes.diagnose(log.values, floor=floor)
    values, steps = _thin(log.values, log.steps)
    return dumps(
        {
            **d.to_dict(),
            "values": values,
            "steps": steps,
            "column": log.column,
            "available": list(log.available),
            "source": filename or name,
            "points": len(log.values),
        }
    )


# ---------------------------------------------------------------------------------------------
# The routes.

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Bad input, or more work than the limits allow."},
    413: {"model": ErrorOut, "description": "The request body is over the size limit."},
    415: {"model": ErrorOut, "description": "The body is not sent as JSON."},
    422: {"model": ErrorOut, "description": "The body does not match the schema."},
    503: {
        "model": ErrorOut,
        "description": "Busy (too many computations waiting) or over the time limit.",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before asking again (when busy).",
                "schema": {"type": "integer"},
            }
        },
    },
}


LogFile = Annotated[
    UploadFile,
    File(
        description="A CSV, JSON-lines or TensorBoard log, at most "
        f"{_size(Limits().upload_bytes)} (the lab's limit; larger files get a 413)."
    ),
]

RecordId = Annotated[
    str,
    PathParam(
        min_length=1,
        max_length=40,
        pattern=r"^[0-9A-Za-z_-]+$",
        description="A record's id, or a unique prefix of one.",
    ),
]
Column = Annotated[str, Form(max_length=200, description="The column to read.")]
Floor = Annotated[float, Form(allow_inf_nan=False, description="The best reachable cost.")]


def router(lab: Lab) -> APIRouter:
    """The API's routes over ``lab``."""
    limits, scheduler = lab.limits, lab.scheduler
    api = APIRouter(prefix="/api", responses=_ERRORS)

    @api.get("/catalogue", tags=["objectives"])
    async def catalogue() -> dict:
        """Catalogue functions and dataset problems for the picker, the regimes, the limits."""
        rows = lab.recall(("catalogue",))
        if rows is None:
            rows = await scheduler.call(
                LIGHT, lambda _check: lab.remember(("catalogue",), catalogue_table)
            )
        return {
            "objectives": rows,
            "functions": expr.FUNCTIONS,
            "regimes": [
                {"name": r, "label": REGIME_LABELS[r], "color": REGIME_COLORS[r]}
                for r in regimes.REGIMES
            ],
            "limits": {
                "analytic": limits.for_objective_kind("analytic"),
                "dataset": limits.for_objective_kind("dataset"),
                "upload_bytes": limits.upload_bytes,
                "curve_points": limits.curve_points,
                "seconds": limits.seconds,
            },
        }

    @api.post("/objective", response_model=ObjectiveOut, tags=["objectives"])
    async def objective_info(req: ObjectiveRequest):
        """An objective's facts, its curve or contour, sharpness and a learning-rate range."""
        lane = HEAVY if lab.is_dataset(req.objective) else LIGHT
        if lane == LIGHT:
            lab.analytic(req.objective)  # a bad expression is answered before any queue
        return _json(
            await scheduler.call(
                lane, _objective_body, lab, req.objective, req.start, req.resolution
            )
        )

    @api.post("/run", response_model=RunOut, tags=["runs"])
    async def run(req: RunRequest):
        """Gradient descent with one learning rate, diagnosed against the known minimum."""
        rule = _rule(req.optimizer)
        if lab.is_dataset(req.objective):
            f, runs, _, _ = await scheduler.call(
                HEAVY, _alone, lab, req.objective, [req.lr], req.steps, req.start, "run", rule
            )
            return _json(dumps(run_dict(runs[0])))
        f = lab.analytic(req.objective)
        ask = _Lanes((req.lr,), "run", lambda f, runs: run_dict(runs[0]))
        return await _lanes(lab, f, req.steps, req.start, ask, rule)

    @api.post("/compare", response_model=CompareOut, tags=["runs"])
    async def compare(req: CompareRequest):
        """Several learning rates from the same start, computed as one batched sweep."""
        rule = _rule(req.optimizer)
        if lab.is_dataset(req.objective):
            f, runs, floor, best_lr = await scheduler.call(
                HEAVY, _alone, lab, req.objective, req.lrs, req.steps, req.start, "sweep", rule
            )
            return _json(dumps(_compare_body(f, req.steps, runs, floor, best_lr)))
        f = lab.analytic(req.objective)
        cap = limits.for_objective(f)["compare_lanes"]
        if len(req.lrs) > cap:
            raise LabError(
                400,
                f"{len(req.lrs)} learning rates are too many to compare: at "
                f"most {cap} (use /api/sweep for more)",
            )

        def shape(f, runs):
            # The best lane as lrlab.sweep picks it: the lowest final cost; diverged never win.
            finals = np.array([r.final_loss for r in runs], dtype=float)
            best = runs[int(np.argmin(np.where(np.isfinite(finals), finals, np.inf)))]
            return _compare_body(f, req.steps, runs, runs[0].floor, best.lr)

        ask = _Lanes(tuple(req.lrs), "sweep", shape)
        return await _lanes(lab, f, req.steps, req.start, ask, rule)

    @api.post("/pictures", response_model=PicturesOut, tags=["runs"])
    async def pictures(req: PicturesRequest):
        """The seed's pictures, each run picked from one sweep by its diagnosed regime."""
        if not lab.is_dataset(req.objective):
            lab.analytic(req.objective)
        return _json(await scheduler.call(HEAVY, _pictures_body, lab, req))

    @api.post("/sweep", response_model=SweepOut, tags=["runs"])
    async def sweep(req: SweepRequest):
        """Final cost for a log-spaced grid of learning rates, with the 1/L and 2/L marks."""
        if not lab.is_dataset(req.objective):
            lab.grid_size(lab.analytic(req.objective), req.num, req.steps)
        return _json(await scheduler.call(HEAVY, _sweep_body, lab, req))

    @api.post("/heatmap", response_model=HeatmapOut, tags=["runs"])
    async def heatmap(req: HeatmapRequest):
        """Every learning rate with every momentum value, in one batched sweep: each run's
        regime and final cost, and the heavy-ball stability boundary (2 + 2*beta)/L."""
        if not lab.is_dataset(req.objective):
            f = lab.analytic(req.objective)
            lab.grid_size(f, req.num, req.steps, per_lr=len(req.optimizer.momentum))
        return _json(await scheduler.call(HEAVY, _heatmap_body, lab, req))

    @api.post("/sharpness", response_model=SharpnessOut, tags=["curvature"])
    async def sharpness(req: SharpnessRequest):
        """The top Hessian eigenvalue at a point (the start by default)."""
        lane = HEAVY if lab.is_dataset(req.objective) else LIGHT
        if lane == LIGHT:
            lab.analytic(req.objective)
        return _json(await scheduler.call(lane, _sharpness_body, lab, req.objective, req.at))

    @api.post("/suggest", tags=["curvature"])
    async def suggest(req: SuggestRequest) -> dict:
        """A suggested learning rate, the methods behind it and how far they agree."""
        if not lab.is_dataset(req.objective):
            f = lab.analytic(req.objective)
            if req.steps is not None:
                lab.check_work(f, 1, req.steps)
        key = ("suggest", req.objective.strip(), req.steps, tuple(req.start or ()))
        body = lab.recall(key)
        if body is None:
            body = await scheduler.call(
                HEAVY, _suggest_body, lab, req.objective, req.steps, req.start
            )
            lab.remember(key, lambda: body, 64)
        return _json(body)

    @api.post(
        "/diagnose",
        response_model=DiagnoseOut,
        tags=["diagnose"],
        responses={413: {"model": ErrorOut, "description": "The file is over the limit."}},
    )
    async def diagnose_log(
        file: LogFile,
        # Optional but not nullable: a form has no null, only a field left out.
        column: Column = None,
        floor: Floor = None,
    ):
        """Read the loss curve out of an uploaded training log and diagnose it."""
        raw = await file.read(limits.upload_bytes + 1)
        if len(raw) > limits.upload_bytes:
            raise LabError(
                413,
                f"the file is larger than {_size(limits.upload_bytes)}, the largest log accepted",
                limit_bytes=limits.upload_bytes,
            )
        if not raw:
            raise LabError(400, f"{file.filename or 'the file'}: the file is empty")
        return _json(
            await scheduler.call(HEAVY, _log_body, raw, file.filename or "", column or None, floor)
        )

    @api.post("/diagnose/losses", response_model=DiagnosisOut, tags=["diagnose"])
    async def diagnose_losses(req: LossesRequest):
        """Diagnose a cost curve given as numbers (null for a non-finite value)."""
        if len(req.losses) > limits.curve_points:
            raise LabError(
                400, f"{len(req.losses)} costs are too many: at most {limits.curve_points:,}"
            )
        values = np.array([math.nan if v is None else v for v in req.losses], dtype=float)

        def work(_check):
            return dumps(regimes.diagnose(values, floor=req.floor, lr=req.lr).to_dict())

        return _json(await scheduler.call(LIGHT, work))

    @api.get("/history", response_model=HistoryOut, tags=["history"])
    async def history_list():
        """The records in the lab's store, newest first (at most 500), and why it cannot be
        used if it cannot."""
        return _json(await scheduler.call(LIGHT, lambda _check: dumps(lab.history.listing())))

    @api.get(
        "/history/{record_id}",
        response_model=HistoryRecordOut,
        tags=["history"],
        responses={404: {"model": ErrorOut, "description": "No such record (or no store)."}},
    )
    async def history_one(record_id: RecordId):
        """One record: what was asked, what it gave, and its curves (a sweep's when at most
        200,000 costs)."""

        def work(_check):
            try:
                return dumps(lab.history.one(record_id))
            except LookupError as e:
                raise LabError(404, str(e)) from None

        return _json(await scheduler.call(HEAVY, work))

    return api
