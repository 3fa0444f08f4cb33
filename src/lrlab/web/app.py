"""The web lab's HTTP API and page: thin shells over the same library calls as the CLI.

Endpoints (JSON; the schema is served at ``/openapi.json``):

=====================  =======================================================================
``GET /api/catalogue``  the picker's rows, the work limits and which optional features exist
``POST /api/objective`` an objective's facts, its curve (1-D) or contour (2-D), sharpness,
                        the 1/L and 2/L marks and a learning-rate range for the slider
``POST /api/run``       one run (:func:`lrlab.descend`)
``POST /api/compare``   several learning rates side by side, as one batched sweep
``POST /api/pictures``  the seed's pictures: too low / just right / too high paths and
                        very high / high / low / good cost curves, chosen from a sweep
``POST /api/sweep``     final cost against the learning rate, with the 1/L and 2/L marks
``POST /api/sharpness`` the top Hessian eigenvalue (:func:`lrlab.sharpness`)
``POST /api/suggest``   a learning rate with its evidence (:func:`lrlab.suggest`)
``POST /api/diagnose``  a loss log upload (CSV, JSON lines, TensorBoard) diagnosed
``POST /api/diagnose/losses``  a list of costs diagnosed
=====================  =======================================================================

Safety: text becomes a function only through :func:`lrlab.objective` (the expression parser,
the catalogue, the dataset problems), never through Python. Every request body is validated;
a bad one gets a 4xx with a message (and, for an expression, the position), never a 500.
Work per request is capped (:class:`Limits`) and computed in a small thread pool under a
deadline; a computation that overruns stops itself and the request gets a 503 that says so.
Only loopback host names are accepted unless the server is told to listen elsewhere.

Concurrent requests for runs of the same analytic objective, steps and start are computed
together as lanes of one sweep: those that arrive while a sweep for them is computing gather for
the next one. Lanes never interact, so each response is exactly what its request alone would
have produced.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import importlib
import math
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .. import curvature, datasets, descent, expr, logs, regimes
from ..objectives import Objective, catalogue_table
from ..objectives import objective as make_objective
from ..suggest import suggest as suggest_lr

__all__ = ["Limits", "create_app", "serve"]

STATIC = Path(__file__).parent / "static"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Limits:
    """How much work one request may ask for.

    Attributes:
        steps: most steps per run for analytic objectives (expressions, catalogue).
        lanes: most learning rates in one sweep.
        compare_lanes: most learning rates compared side by side (their full curves come back).
        work: most ``lanes * steps * parameters`` for analytic objectives.
        dataset_steps: most steps per run for dataset problems.
        dataset_lanes: most learning rates per request for dataset problems.
        dataset_work: most ``lanes * steps * parameters`` for dataset problems.
        seconds: the time one computation may take before it is stopped.
        upload_bytes: the largest log file accepted.
        curve_points: most costs in one diagnose request.
        queue: most computations waiting at once; more are refused with 503.
        batch_lanes: most lanes that concurrent requests may share in one sweep.
    """

    steps: int = 5000
    lanes: int = 64
    compare_lanes: int = 8
    work: int = 64 * 5000 * 16
    dataset_steps: int = 1000
    dataset_lanes: int = 16
    dataset_work: int = 12 * 200 * 5000
    seconds: float = 30.0
    upload_bytes: int = 5 * 2**20
    curve_points: int = 200_000
    queue: int = 256
    batch_lanes: int = 512

    def for_objective(self, f: Objective) -> dict:
        """The limits that apply to ``f``, as the page shows them."""
        if f.kind == "dataset":
            return {
                "steps": self.dataset_steps,
                "lanes": self.dataset_lanes,
                "compare_lanes": min(self.compare_lanes, self.dataset_lanes),
                "work": self.dataset_work,
            }
        return {
            "steps": self.steps,
            "lanes": self.lanes,
            "compare_lanes": self.compare_lanes,
            "work": self.work,
        }


# ---------------------------------------------------------------------------------------------
# Errors: one JSON shape, {"detail": message, ...}, for every refusal.


class LabError(Exception):
    """A request the lab refuses, with its HTTP status and a message for people."""

    def __init__(self, status: int, detail: str, **extra: Any):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


class _TimeUp(Exception):
    pass


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:2000] or type(err).__name__


def _describe_validation(errors: list[dict]) -> tuple[str, list[dict]]:
    items = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or "body"
        items.append({"field": field, "message": str(e.get("msg", "invalid"))})
    text = "; ".join(f"{i['field']}: {i['message']}" for i in items[:5])
    return text or "invalid request", items[:20]


# ---------------------------------------------------------------------------------------------
# Request models.

ObjectiveText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=expr.MAX_LENGTH,
        description="A catalogue name ('rosenbrock', 'bowl:kappa=10'), a dataset problem "
        "('digits-mlp') or a cost expression ('x**4 - 4*x**2 + x').",
        examples=["rosenbrock"],
    ),
]
Rate = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False, description="A learning rate.")]
Coordinate = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
Point = Annotated[
    list[Coordinate],
    Field(
        min_length=1,
        max_length=expr.MAX_PARAMS,
        description="A starting point, one number per parameter (analytic objectives only).",
    ),
]
Steps = Annotated[int, Field(ge=1, le=descent.MAX_STEPS, description="Steps per run.")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectiveRequest(_Body):
    objective: ObjectiveText
    start: Point | None = None
    resolution: Annotated[int, Field(ge=16, le=200)] = 90


class RunRequest(_Body):
    objective: ObjectiveText
    lr: Rate
    steps: Steps = 200
    start: Point | None = None


class CompareRequest(_Body):
    objective: ObjectiveText
    lrs: Annotated[list[Rate], Field(min_length=1, max_length=64)]
    steps: Steps = 200
    start: Point | None = None


class PicturesRequest(_Body):
    objective: ObjectiveText
    steps: Steps = 200
    start: Point | None = None


class SweepRequest(_Body):
    objective: ObjectiveText
    lr_min: Rate | None = None
    lr_max: Rate | None = None
    num: Annotated[int, Field(ge=2, le=1024)] = 40
    steps: Steps = 200
    start: Point | None = None


class SharpnessRequest(_Body):
    objective: ObjectiveText
    at: Point | None = None


class SuggestRequest(_Body):
    objective: ObjectiveText
    steps: Steps | None = None
    start: Point | None = None


class LossesRequest(_Body):
    losses: Annotated[
        list[float | None],
        Field(
            min_length=2,
            max_length=10_000_000,
            description="Costs, one per logged step; null for a non-finite value.",
        ),
    ]
    floor: Annotated[float | None, Field(allow_inf_nan=False)] = None
    lr: Annotated[float | None, Field(gt=0, allow_inf_nan=False)] = None


# ---------------------------------------------------------------------------------------------
# Response models: they document the JSON; the bodies are serialised in the workers.


class ErrorOut(BaseModel):
    detail: str
    position: int | None = None
    reason: str | None = None
    errors: list[dict] | None = None


class DiagnosisOut(BaseModel):
    regime: str
    confidence: float
    evidence: dict[str, Any]
    advice: str
    next_lr: float | None = None


class RunOut(BaseModel):
    objective: str
    lr: float
    steps: int
    losses: list[float | None]
    grad_norms: list[float | None]
    step_sizes: list[float | None]
    params: list[list[float | None]] | None = Field(
        None, description="The path w[0..n], kept for objectives of up to 16 parameters."
    )
    final_loss: float | None
    diverged_at: int | None
    floor: float | None
    regime: str
    diagnosis: DiagnosisOut


class CompareOut(BaseModel):
    objective: str
    steps: int
    floor: float | None
    best_lr: float
    runs: list[RunOut]


class PictureOut(BaseModel):
    label: str = Field(description="The seed's name for the picture: 'too low', 'good', ...")
    run: RunOut


class Marks(BaseModel):
    sharpness: float | None = Field(None, description="Top Hessian eigenvalue L.")
    where: str | None = Field(None, description="'minimum' (known) or 'start' (measured).")
    one_over_L: float | None = None
    two_over_L: float | None = None


class PicturesOut(BaseModel):
    objective: str
    steps: int
    marks: Marks
    sweep: dict
    paths: list[PictureOut]
    curves: list[PictureOut]


class SweepOut(BaseModel):
    objective: str
    steps: int
    floor: float | None
    best_lr: float
    runs: list[dict]
    marks: Marks


class ObjectiveOut(BaseModel):
    name: str
    kind: str
    dim: int
    params: list[str] | None
    formula: str | None
    description: str
    start: list[float] | None
    minimum: float | None
    minima: list[dict]
    sharpness_at_minimum: float | None
    box: list[list[float]] | None
    batch_size: int | None
    marks: Marks
    lr_range: list[float]
    default_lr: float
    default_steps: int
    limits: dict
    surface: dict | None = Field(None, description="{x, y, z}: the curve (1-D) or the grid (2-D).")


class DiagnoseOut(DiagnosisOut):
    values: list[float | None]
    steps: list[float]
    column: str | None = None
    available: list[str] = []
    source: str | None = None
    points: int


# ---------------------------------------------------------------------------------------------
# JSON: finite floats only (the page reads null as "diverged" / "unknown").


def _json_array(a) -> list | None:
    if a is None:
        return None
    a = np.asarray(a, dtype=float)
    out = a.astype(object)
    out[~np.isfinite(a)] = None
    return out.tolist()


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _size(n: int) -> str:
    return f"{n / 2**20:g} MB" if n >= 2**20 else f"{n:,} bytes"


def _dumps(obj: dict) -> bytes:
    """JSON of ``obj``, numpy arrays included, with null for every non-finite float.

    pydantic's serialiser writes the same values as ``json.dumps`` (shortest round-trip
    floats) about ten times faster, which matters for bodies of thousands of numbers.
    """
    return to_json(obj, inf_nan_mode="null", fallback=_array_list)


def _array_list(x):
    # An array becomes nested lists only while it is written: holding thousands of small
    # lists at once would set off the garbage collector's full passes over the whole heap.
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"Object of type {type(x).__name__} is not JSON serializable")


def _run_dict(run: descent.Run) -> dict:
    """``run.to_dict()``, less the per-step learning rates (the web lab has no schedules)."""
    d = run.to_dict(with_params=False)
    del d["lrs"]
    d["params"] = run.params  # written by _dumps
    return d


# ---------------------------------------------------------------------------------------------
# The lab: caches, the worker pool and the batching of concurrent runs.


@dataclass
class _Ask:
    lrs: list[float]
    floor: str  # "known": a single run judged like descend(); "sweep": like sweep(lrs)
    shape: Callable[[Objective, list[descent.Run], float | None], dict]
    # the response body, set as soon as this ask is shaped (not when the whole job is done)
    body: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class _Job:
    def __init__(self, key: tuple | None, f: Objective, steps: int, start: list[float] | None):
        self.key, self.f, self.steps, self.start = key, f, steps, start
        self.asks: list[_Ask] = []
        self.lanes = 0
        self.deadline = 0.0
        self.submitted = False


def _base(spec: str) -> str:
    return spec.partition(":")[0]


class _Lab:
    def __init__(self, limits: Limits, workers: int):
        self.limits = limits
        self.pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="lrlab-web")
        self.lock = threading.Lock()
        self.open: dict[tuple, _Job] = {}  # per batch key: the job that asks may still join
        self.busy: dict[tuple, int] = {}  # per batch key: jobs submitted and not yet done
        self.waiting = 0
        self.objectives: OrderedDict[str, Objective] = OrderedDict()
        self.memo: OrderedDict[tuple, Any] = OrderedDict()

    # -- running work in the pool, under a deadline ------------------------------------------

    def _reserve(self) -> None:
        """Count one more computation waiting (call with the lock held)."""
        if self.waiting >= self.limits.queue:
            raise LabError(
                503, "the lab is busy: too many computations are waiting; try again in a moment"
            )
        self.waiting += 1

    def _submit(self, fn: Callable, *args) -> concurrent.futures.Future:
        with self.lock:
            self._reserve()
        future = self.pool.submit(fn, *args)
        future.add_done_callback(self._release)
        return future

    def _release(self, _future) -> None:
        with self.lock:
            self.waiting -= 1

    async def _wait(self, future: concurrent.futures.Future, deadline: float):
        waiter = asyncio.wrap_future(future)
        # Several requests may share one future: a timeout here must not cancel it.
        waiter.add_done_callback(lambda w: w.cancelled() or w.exception())
        try:
            # The computation stops itself at the deadline; the grace covers uninterruptible work.
            return await asyncio.wait_for(asyncio.shield(waiter), deadline - time.monotonic() + 2.0)
        except TimeoutError:
            raise self._too_long() from None

    def _too_long(self) -> LabError:
        return LabError(
            503,
            f"the computation took longer than {self.limits.seconds:g} s, the "
            "limit per request; ask for fewer steps or learning rates",
        )

    def _deadline(self) -> float:
        return time.monotonic() + self.limits.seconds

    def _watch(self, deadline: float) -> Callable[[int, int], None]:
        def progress(_done: int, _total: int) -> None:
            if time.monotonic() > deadline:
                raise _TimeUp

        return progress

    async def call(self, fn: Callable, *args) -> Any:
        """``fn(*args, deadline)`` in the pool; the result, or the error it raised."""
        deadline = self._deadline()
        try:
            return await self._wait(self._submit(fn, *args, deadline), deadline)
        except _TimeUp:
            raise self._too_long() from None

    # -- objectives and small caches ----------------------------------------------------------

    def _remember(self, key: tuple, make: Callable[[], Any], size: int = 256) -> Any:
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

    def build(self, spec: str) -> Objective:
        """The objective named or typed by ``spec`` (cached; objectives are immutable)."""
        with self.lock:
            if spec in self.objectives:
                self.objectives.move_to_end(spec)
                return self.objectives[spec]
        f = make_objective(spec)
        with self.lock:
            self.objectives[spec] = f
            while len(self.objectives) > 64:
                self.objectives.popitem(last=False)
        return f

    async def objective(self, spec: str) -> Objective:
        spec = spec.strip()
        if not spec:
            raise LabError(400, "objective is empty: pick a name or type an expression")
        with self.lock:
            f = self.objectives.get(spec)
        if f is not None:
            return f
        if _base(spec) in datasets.names():
            # Loading a dataset and checking its model takes a while: not on the event loop.
            return await self.call(lambda s, _deadline: self.build(s), spec)
        return self.build(spec)  # parsing is bounded by the parser's own limits

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

    def marks(self, f: Objective, start: list[float] | None, deadline: float) -> dict:
        """Sharpness L (known at the minimum, else measured at the start) and 1/L, 2/L."""
        where, value = None, None
        if f.sharpness_at_minimum is not None:
            where, value = "minimum", f.sharpness_at_minimum
        else:
            key = ("sharpness", f.name, tuple(start) if start else None)
            value = self._remember(key, lambda: curvature.sharpness(f, at=start))
            where = "start"
        value = _num(value)
        if value is None or value <= 0:
            return {"sharpness": value, "where": where, "one_over_L": None, "two_over_L": None}
        return {
            "sharpness": value,
            "where": where,
            "one_over_L": 1 / value,
            "two_over_L": 2 / value,
        }

    # -- runs, batched across concurrent requests ---------------------------------------------

    async def lanes(
        self, f: Objective, lrs: list[float], steps: int, start, ask_floor: str, shape: Callable
    ) -> bytes:
        """Runs of ``f`` at ``lrs``, shaped into a response body by ``shape``.

        Asks for the same analytic objective, steps and start share one sweep. A sweep costs
        about the same for 1 or 100 learning rates (its cost is per step, not per lane), so
        one sweep per batch key computes at a time: asks that arrive meanwhile gather in the
        next job, which starts when it is done, up to ``Limits.batch_lanes`` lanes.
        """
        self.check_work(f, len(lrs), steps)
        ask = _Ask([float(lr) for lr in lrs], ask_floor, shape)
        deadline = self._deadline()
        # Dataset problems run alone: their batched matrix products may round differently.
        key = (f.name, steps, tuple(start) if start else None) if f.kind != "dataset" else None
        go: list[_Job] = []
        with self.lock:
            job = self.open.get(key) if key is not None else None
            if job is None or job.lanes + len(lrs) > self.limits.batch_lanes:
                self._reserve()
                if job is not None:  # full: it starts now, whatever else is computing
                    del self.open[key]
                    if not job.submitted:
                        go.append(self._claim(job))
                job = _Job(key, f, steps, start)
                if key is not None:
                    self.open[key] = job
                if key is None or not self.busy.get(key):
                    go.append(self._claim(job))
            job.asks.append(ask)
            job.lanes += len(lrs)
            job.deadline = max(job.deadline, deadline)
        for j in go:
            self.pool.submit(self._run_job, j)
        try:
            return await self._wait(ask.body, deadline)
        except _TimeUp:
            raise self._too_long() from None

    def _claim(self, job: _Job) -> _Job:
        """Mark ``job`` as submitted (call with the lock held)."""
        job.submitted = True
        if job.key is not None:
            self.busy[job.key] = self.busy.get(job.key, 0) + 1
        return job

    def _run_job(self, job: _Job) -> None:
        try:
            with self.lock:  # from here on no request joins this job
                if job.key is not None and self.open.get(job.key) is job:
                    del self.open[job.key]
                asks = list(job.asks)
            # A body future cancelled while it waited needs no answer; the others can no
            # longer be cancelled, so setting their results cannot fail.
            asks = [a for a in asks if a.body.set_running_or_notify_cancel()]
            if not asks:
                return
            try:
                by_lr = self._sweep(job, asks)
            except Exception as err:
                for a in asks:
                    a.body.set_exception(err)
                return
            # Each body goes out as soon as it is ready. The next sweep of this key waits for
            # the last one: run side by side, two threads would take turns at the interpreter
            # lock every few microseconds and both would be slower.
            for a in asks:
                try:
                    runs = [by_lr[lr] for lr in a.lrs]
                    floor = _floor(job.f, runs) if a.floor == "sweep" else job.f.minimum
                    runs = [replace(r, floor=floor) for r in runs]
                    a.body.set_result(_dumps(a.shape(job.f, runs, floor)))
                except Exception as err:
                    a.body.set_exception(err)
        finally:
            with self.lock:
                self.waiting -= 1
            self._hand_on(job)

    def _hand_on(self, job: _Job) -> None:
        """``job`` is done: start the job gathered behind it, if no other one is running."""
        if job.key is None:
            return
        with self.lock:
            self.busy[job.key] -= 1
            if self.busy[job.key]:
                return
            del self.busy[job.key]
            nxt = self.open.get(job.key)
            if nxt is None or nxt.submitted:
                return
            self._claim(nxt)
        self.pool.submit(self._run_job, nxt)

    def _sweep(self, job: _Job, asks: list[_Ask]) -> dict[float, descent.Run]:
        """One sweep over every learning rate asked for: the run of each."""
        watch = self._watch(job.deadline)
        watch(0, 0)
        lrs = sorted({lr for a in asks for lr in a.lrs})
        sw = descent.sweep(
            job.f, lrs, job.steps, job.start, keep_params=job.f.dim <= 16, progress=watch
        )
        return dict(zip(lrs, sw.runs, strict=True))


def _floor(f: Objective, runs: list[descent.Run]) -> float | None:
    """The floor :func:`lrlab.sweep` gives these runs: best final cost, not below the minimum."""
    finals = np.array([r.final_loss for r in runs], dtype=float)
    finite = finals[np.isfinite(finals)]
    floor = float(finite.min()) if finite.size else None
    known = f.minimum
    if known is not None:
        floor = known if floor is None else max(floor, known)
    return floor


def _best(runs: list[descent.Run]) -> descent.Run:
    finals = np.array([r.final_loss for r in runs], dtype=float)
    finals[~np.isfinite(finals)] = np.inf
    return runs[int(np.argmin(finals))]


# ---------------------------------------------------------------------------------------------
# What each endpoint computes (in the workers).


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
        return {"x": _json_array(xs), "y": None, "z": _json_array(z)}
    xs = np.linspace(*f.box[0], resolution)
    ys = np.linspace(*f.box[1], resolution)
    X, Y = np.meshgrid(xs, ys)
    W = torch.as_tensor(np.stack([X.ravel(), Y.ravel()], axis=1), dtype=f.dtype)
    z = f.losses(W).detach().cpu().numpy().reshape(len(ys), len(xs))
    return {"x": _json_array(xs), "y": _json_array(ys), "z": _json_array(z)}


def _objective_body(lab: _Lab, f: Objective, start, resolution: int, deadline: float) -> bytes:
    if start is not None:
        f.point(start)  # a clear error now rather than in the first run
    marks = lab.marks(f, start, deadline)
    lr_range, default_lr = _lr_range(marks)
    d = f.describe()
    d.update(
        marks=marks,
        lr_range=lr_range,
        default_lr=default_lr,
        default_steps=100 if f.kind == "dataset" else 200,
        limits=lab.limits.for_objective(f),
        surface=lab._remember(("surface", f.name, resolution), lambda: _surface(f, resolution), 32),
    )
    d["start"] = _json_array(d["start"]) if d["start"] is not None else None
    d["minimum"] = _num(d["minimum"])
    return _dumps(d)


def _sweep_body(lab: _Lab, f: Objective, req: SweepRequest, deadline: float) -> bytes:
    marks = lab.marks(f, req.start, deadline)
    lo, hi = req.lr_min, req.lr_max
    if lo is None or hi is None:
        L = marks["sharpness"] if marks["two_over_L"] is not None else None
        lo = lo if lo is not None else (1e-2 / L if L else 1e-5)
        hi = hi if hi is not None else (20 / L if L else 10.0)
    if not lo < hi:
        raise LabError(400, f"lr_min={lo:g} must be smaller than lr_max={hi:g}")
    sw = descent.sweep(
        f,
        descent.lr_grid(lo, hi, req.num),
        req.steps,
        req.start,
        keep_params=False,
        progress=lab._watch(deadline),
    )
    d = sw.to_dict()
    d["marks"] = marks
    return _dumps(d)


#: The seed's cost-curve pictures and the regime each stands for.
CURVES = (("very high", "diverging"), ("high", "too_high"), ("low", "too_low"), ("good", "good"))


def _pictures_body(lab: _Lab, f: Objective, req: PicturesRequest, deadline: float) -> bytes:
    marks = lab.marks(f, req.start, deadline)
    num = 48 if f.kind != "dataset" else 12
    lab.check_work(f, num, req.steps)
    if marks["two_over_L"] is not None:
        lrs = descent.lr_grid(1e-3 / marks["sharpness"], 20 / marks["sharpness"], num)
    else:
        lrs = descent.lr_grid(1e-5, 10.0, num)
    sw = descent.sweep(
        f, lrs, req.steps, req.start, keep_params=f.dim <= 16, progress=lab._watch(deadline)
    )
    picks = _pick(sw)
    too_high = picks["high"] if picks["high"].regime == "too_high" else picks["very high"]
    paths = [("too low", picks["low"]), ("just right", picks["good"]), ("too high", too_high)]
    body = {
        "objective": f.name,
        "steps": req.steps,
        "marks": marks,
        "sweep": sw.to_dict(),
        "paths": [{"label": label, "run": _run_dict(r)} for label, r in paths],
        "curves": [{"label": label, "run": _run_dict(picks[label])} for label, _ in CURVES],
    }
    return _dumps(body)


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


def _diagnosis_body(d, extra: dict) -> bytes:
    body = d.to_dict()
    body.update(extra)
    return _dumps(body)


#: Most points of a diagnosed curve sent back for the plot.
PLOT_POINTS = 5000


def _thin(values: np.ndarray, steps: np.ndarray) -> tuple[list, list]:
    if len(values) > PLOT_POINTS:
        idx = np.unique(np.linspace(0, len(values) - 1, PLOT_POINTS).round().astype(int))
        values, steps = values[idx], steps[idx]
    return _json_array(values), _json_array(steps)


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _log_body(
    raw: bytes, filename: str, column: str | None, floor: float | None, deadline: float
) -> bytes:
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
    d = regimes.diagnose(log.values, floor=floor)
    values, steps = _thin(log.values, log.steps)
    return _diagnosis_body(
        d,
        {
            "values": values,
            "steps": steps,
            "column": log.column,
            "available": list(log.available),
            "source": filename or name,
            "points": len(log.values),
        },
    )


# ---------------------------------------------------------------------------------------------
# The application.


_ERRORS = {400: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}}
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class _Headers:
    """Adds ``Server-Timing`` (time in the app until the response starts) and security headers."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()

        async def timed(message):
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - t0) * 1e3
                headers = [
                    *message.get("headers", []),
                    (b"server-timing", f"app;dur={ms:.2f}".encode()),
                    (b"content-security-policy", _CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed)


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


def create_app(
    *,
    limits: Limits | None = None,
    workers: int = 2,
    allowed_hosts: tuple[str, ...] | None = LOOPBACK,
) -> FastAPI:
    """Build the web lab: the JSON API under ``/api`` and the page at ``/``.

    Args:
        limits: the work one request may ask for (see :class:`Limits`).
        workers: threads that compute; concurrent runs of one objective share a sweep.
        allowed_hosts: host names the server answers to (protection against DNS rebinding);
            None answers to any.

    Returns:
        A FastAPI application; run it with uvicorn, or use :func:`serve`.

    Example:
        >>> from fastapi.testclient import TestClient
        >>> client = TestClient(create_app(), base_url="http://127.0.0.1")
        >>> client.post("/api/run", json={"objective": "x**2", "lr": 0.25, "steps": 2,
        ...                               "start": [1.0]}).json()["losses"]
        [1.0, 0.25, 0.0625]
    """
    limits = limits or Limits()
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 64:
        raise ValueError(f"workers={workers!r} is invalid: expected an integer from 1 to 64")
    lab = _Lab(limits, workers)
    app = FastAPI(
        title="lrlab web lab",
        version=importlib.import_module("lrlab").__version__,
        description="Watch, compare, sweep, suggest and diagnose the learning rate of gradient "
        "descent. Every computation is a call into the lrlab library.",
        docs_url=None,
        redoc_url=None,  # their pages load scripts from a CDN
        max_body_size=limits.upload_bytes + 2**20,
    )
    app.state.lab = lab
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(_Headers)

    # -- errors ------------------------------------------------------------------------------

    @app.exception_handler(LabError)
    async def _lab_error(_request: Request, err: LabError):
        return _error(err.status, err.detail, **err.extra)

    @app.exception_handler(expr.ExpressionError)
    async def _expression_error(_request: Request, err: expr.ExpressionError):
        return _error(400, f"expression: {err}", position=err.position, reason=err.reason)

    @app.exception_handler(ValueError)
    @app.exception_handler(TypeError)
    async def _library_error(_request: Request, err: Exception):
        return _error(400, _one_line(err))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, err: RequestValidationError):
        detail, items = _describe_validation(err.errors())
        return _error(422, detail, errors=items)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, err: StarletteHTTPException):
        return _error(
            err.status_code,
            str(err.detail),
            **({} if err.status_code != 413 else {"limit_bytes": limits.upload_bytes}),
        )

    # -- the page ------------------------------------------------------------------------------

    plotly_dir = Path(importlib.import_module("plotly").__file__).parent
    plotly_js = plotly_dir / "package_data" / "plotly.min.js"

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    async def plotly():
        return FileResponse(
            plotly_js,
            media_type="text/javascript",
            headers={"cache-control": "public, max-age=86400"},
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- the API ---------------------------------------------------------------------------------

    @app.get("/api/catalogue", tags=["objectives"])
    async def catalogue() -> dict:
        """Catalogue functions and dataset problems for the picker, the limits, the features."""
        rows = await lab.call(lambda _deadline: lab._remember(("catalogue",), catalogue_table))
        return {
            "objectives": rows,
            "functions": expr.FUNCTIONS,
            "limits": {
                "analytic": limits.for_objective(lab.build("parabola")),
                "upload_bytes": limits.upload_bytes,
                "seconds": limits.seconds,
            },
            # What this lab serves; the page hides what a server leaves out.
            "features": {"suggest": True, "sharpness": True, "logs": True},
        }

    @app.post("/api/objective", response_model=ObjectiveOut, responses=_ERRORS, tags=["objectives"])
    async def objective_info(req: ObjectiveRequest):
        """An objective's facts, its curve or contour, sharpness and a learning-rate range."""
        f = await lab.objective(req.objective)
        return _json(await lab.call(_objective_body, lab, f, req.start, req.resolution))

    @app.post("/api/run", response_model=RunOut, responses=_ERRORS, tags=["runs"])
    async def run(req: RunRequest):
        """Gradient descent with one learning rate, diagnosed against the known minimum."""
        f = await lab.objective(req.objective)
        return _json(
            await lab.lanes(
                f,
                [req.lr],
                req.steps,
                req.start,
                "known",
                lambda f, runs, floor: _run_dict(runs[0]),
            )
        )

    @app.post("/api/compare", response_model=CompareOut, responses=_ERRORS, tags=["runs"])
    async def compare(req: CompareRequest):
        """Several learning rates from the same start, computed as one batched sweep."""
        f = await lab.objective(req.objective)
        cap = limits.for_objective(f)["compare_lanes"]
        if len(req.lrs) > cap:
            raise LabError(
                400,
                f"{len(req.lrs)} learning rates are too many to compare: at "
                f"most {cap} (use /api/sweep for more)",
            )

        def shape(f, runs, floor):
            return {
                "objective": f.name,
                "steps": req.steps,
                "floor": floor,
                "best_lr": _best(runs).lr,
                "runs": [_run_dict(r) for r in runs],
            }

        return _json(await lab.lanes(f, req.lrs, req.steps, req.start, "sweep", shape))

    @app.post("/api/pictures", response_model=PicturesOut, responses=_ERRORS, tags=["runs"])
    async def pictures(req: PicturesRequest):
        """The seed's pictures, each run picked from one sweep by its diagnosed regime."""
        f = await lab.objective(req.objective)
        return _json(await lab.call(_pictures_body, lab, f, req))

    @app.post("/api/sweep", response_model=SweepOut, responses=_ERRORS, tags=["runs"])
    async def sweep(req: SweepRequest):
        """Final cost for a log-spaced grid of learning rates, with the 1/L and 2/L marks."""
        f = await lab.objective(req.objective)
        lab.check_work(f, req.num, req.steps)
        return _json(await lab.call(_sweep_body, lab, f, req))

    @app.post("/api/sharpness", responses=_ERRORS, tags=["curvature"])
    async def sharpness(req: SharpnessRequest) -> dict:
        """The top Hessian eigenvalue at a point (the start by default)."""
        f = await lab.objective(req.objective)
        value = await lab.call(lambda f, at, _deadline: curvature.sharpness(f, at=at), f, req.at)
        return {
            "objective": f.name,
            "sharpness": _num(value),
            "at": req.at
            if req.at is not None
            else _json_array(f.start.cpu().numpy())
            if f.dim <= 16
            else None,
        }

    @app.post("/api/suggest", responses=_ERRORS, tags=["curvature"])
    async def suggest(req: SuggestRequest):
        """A suggested learning rate, the methods behind it and how far they agree."""
        f = await lab.objective(req.objective)
        if req.steps is not None:
            lab.check_work(f, 1, req.steps)

        def work(f, steps, start, deadline):
            def make():
                g = suggest_lr(f, steps=steps, start=start, progress=lab._watch(deadline))
                return _dumps(g.to_dict())

            return lab._remember(("suggest", f.name, steps, tuple(start or ())), make, 64)

        return _json(await lab.call(work, f, req.steps, req.start))

    @app.post("/api/diagnose", response_model=DiagnoseOut, responses=_ERRORS, tags=["diagnose"])
    async def diagnose_log(
        file: Annotated[UploadFile, File(description="A CSV, JSON-lines or TensorBoard log.")],
        column: Annotated[str | None, Form(max_length=200)] = None,
        floor: Annotated[float | None, Form(allow_inf_nan=False)] = None,
    ):
        """Read the loss curve out of an uploaded training log and diagnose it."""
        raw = await file.read(limits.upload_bytes + 1)
        if len(raw) > limits.upload_bytes:
            raise LabError(
                413,
                f"the file is larger than {_size(limits.upload_bytes)}, the largest log accepted",
            )
        if not raw:
            raise LabError(400, f"{file.filename or 'the file'}: the file is empty")
        column = column or None
        return _json(await lab.call(_log_body, raw, file.filename or "", column, floor))

    @app.post(
        "/api/diagnose/losses", response_model=DiagnosisOut, responses=_ERRORS, tags=["diagnose"]
    )
    async def diagnose_losses(req: LossesRequest):
        """Diagnose a cost curve given as numbers (null for a non-finite value)."""
        if len(req.losses) > limits.curve_points:
            raise LabError(
                400, f"{len(req.losses)} costs are too many: at most {limits.curve_points:,}"
            )
        values = np.array([math.nan if v is None else v for v in req.losses], dtype=float)

        def work(_deadline):
            return _diagnosis_body(regimes.diagnose(values, floor=req.floor, lr=req.lr), {})

        return _json(await lab.call(work))

    @app.get("/api/health", include_in_schema=False)
    async def health() -> dict:
        return {"ok": True}

    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    log_level: str = "info",
    access_log: bool = False,
    limits: Limits | None = None,
) -> None:
    """Run the web lab with uvicorn until interrupted.

    Args:
        host: the address to listen on; the loopback interface by default. Any other
            address lets every machine that can reach it use the lab.
        port: the TCP port, 1 to 65535.
        log_level: uvicorn's log level.
        access_log: log one line per request.
        limits: the work one request may ask for (see :class:`Limits`).
    """
    import uvicorn

    if not isinstance(host, str) or not host:
        raise TypeError(f"host={host!r} is invalid: expected an address such as '127.0.0.1'")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port={port!r} is invalid: expected an integer from 1 to 65535")
    hosts = None if host in ("0.0.0.0", "::", "") else tuple(dict.fromkeys((*LOOPBACK, host)))
    app = create_app(limits=limits, allowed_hosts=hosts)
    # What is loaded by now (torch, numpy, the app) lives as long as the server: frozen, it is
    # left out of the garbage collector's full passes, each of which would otherwise hold up
    # every request for a tenth of a second.
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log)
