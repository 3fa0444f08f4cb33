"""Recorded sweeps: kept in a store as they run, checkpointed, resumed, sharded on Ray.

A recorded sweep is a record (:mod:`lrlab.store`) whose lanes are cut into shards, each a
sweep over consecutive learning rates (:func:`lrlab.descent.run_sweep`; all else equal):

1. the record is written first, ``running``, with everything needed to run it again (the
   objective's spec, learning rates, start, the schedule's factors, the optimizer, what to
   keep) and its shards ``pending``; then a heartbeat keeps it ``running``;
2. a shard running in this process is checkpointed (the engine's state, in one transaction)
   every ``checkpoint_every`` seconds and on Ctrl-C; a shard that finishes lands in the store
   at once (its raw lanes), wherever it ran;
3. at the end the shards are merged (:func:`lrlab.descent.merge`) into the one sweep an
   in-process run gives, and the record is ``done``.

:func:`resume` takes an interrupted record up again: finished shards are read back, pending
ones continue from their checkpoint (bitwise the same result on the CPU) or start over.

Example:
    >>> import lrlab
    >>> st = lrlab.store.open("sqlite://")
    >>> sw = recorded_sweep("rosenbrock", [1e-4, 1e-3], 50, None, None, store=st)
    >>> rec = st.list()[0]
    >>> rec.kind, rec.status, rec.steps_done
    ('sweep', 'done', 50)
    >>> bool((load(rec.id, store=st).final_losses == sw.final_losses).all())
    True
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

import numpy as np
import torch

from . import _checks, descent, optim, schedules
from . import shards as ray_shards
from . import store as _store
from .objectives import Objective, from_factory, is_factory_path
from .objectives import objective as make_objective
from .store import codec

__all__ = ["command", "load", "recorded_sweep", "resume"]

#: The objective kinds whose spec (their name) rebuilds them in another process.
REBUILDABLE = ("expression", "catalogue", "dataset")


# --- what a record keeps to run the sweep again ----------------------------------------------


@dataclass(frozen=True)
class Factors:
    """A schedule replayed from its recorded factors (bit for bit the original's).

    Example:
        >>> Factors((1.0, 0.5))(1)
        0.5
    """

    values: tuple[float, ...]

    def __call__(self, t: int) -> float:
        return self.values[t]


def objective_spec(f: Objective) -> str | None:
    """The text that rebuilds ``f`` in another process, or None (a model made in Python).

    Example:
        >>> objective_spec(make_objective("bowl:kappa=10")), objective_spec(make_objective("x**2"))
        ('bowl:kappa=10', 'x**2')
    """
    if f.kind in REBUILDABLE or is_factory_path(f.name):
        return f.name
    return None


def rebuild(spec: str) -> Objective:
    """The objective a recorded spec names (catalogue, expression, dataset, or
    ``package.module:function``).

    Example:
        >>> rebuild("rosenbrock").dim
        2
    """
    return from_factory(spec) if is_factory_path(spec) else make_objective(spec)


@dataclass(frozen=True)
class Plan:
    """Everything a shard needs, in plain data (it travels to Ray workers)."""

    spec: str | None
    lrs: tuple[float, ...]  # the base learning rates, before a swept hyperparameter
    steps: int
    start: tuple[float, ...] | None
    factors: tuple[float, ...] | None
    optimizer: dict
    record: str | int
    keep_params: bool | None
    known_minimum: float | None
    name: str

    @property
    def values(self) -> int:
        """Lanes per learning rate (the swept hyperparameter's values, else 1)."""
        return len(optim.get(self.optimizer).values) or 1

    def build(self) -> Objective:
        """The objective, rebuilt from its spec (on a worker)."""
        if self.spec is None:
            _checks.fail("objective", self.name, "a model made in Python has no spec to rebuild")
        return rebuild(self.spec)

    def to_params(self) -> dict:
        return {
            "objective": self.spec,
            "name": self.name,
            "lrs": list(self.lrs),
            "steps": self.steps,
            "start": None if self.start is None else list(self.start),
            "schedule_factors": None if self.factors is None else list(self.factors),
            "optimizer": self.optimizer,
            "record": self.record,
            "keep_params": self.keep_params,
            "known_minimum": self.known_minimum,
        }

    @classmethod
    def from_params(cls, p: dict) -> Plan:
        def tup(v):
            return None if v is None else tuple(float(x) for x in v)

        return cls(
            spec=p["objective"],
            lrs=tup(p["lrs"]),
            steps=int(p["steps"]),
            start=tup(p["start"]),
            factors=tup(p["schedule_factors"]),
            optimizer=p["optimizer"],
            record=p["record"],
            keep_params=p["keep_params"],
            known_minimum=p["known_minimum"],
            name=p["name"],
        )

    def run_shard(
        self,
        f: Objective,
        lo: int,
        hi: int,
        *,
        state: bytes | None = None,
        on_checkpoint: Callable | None = None,
        checkpoint_every: float = 30.0,
        progress: Callable | None = None,
    ) -> descent.Sweep:
        """Run (or continue, from a checkpoint's bytes) the shard of learning rates
        ``lrs[lo:hi]``."""
        engine_state = None
        if state is not None:
            engine_state = descent.EngineState.from_bytes(state, device=f.device)
        return descent.run_sweep(
            f,
            np.array(self.lrs[lo:hi]),
            self.steps,
            None if self.start is None else list(self.start),
            None if self.factors is None else Factors(self.factors),
            optimizer=self.optimizer,
            record=self.record,
            keep_params=self.keep_params,
            progress=progress,
            state=engine_state,
            on_checkpoint=on_checkpoint,
            checkpoint_every=checkpoint_every,
        )

    def shard_sweep(self, blob: bytes) -> descent.Sweep:
        """A finished shard's sweep, read back from its stored lanes."""
        lanes, lane_lrs = codec.lanes_from_bytes(blob)
        return descent.Sweep(
            objective=self.name,
            steps=self.steps,
            lrs=lane_lrs,
            floor=descent.sweep_floor(lanes.final, self.known_minimum),
            _lanes=lanes,
            optimizer=optim.get(self.optimizer),
            record=self.record,
            _known_minimum=self.known_minimum,
        )


def _plan(f, lrs, steps, start, schedule, optimizer, record, keep_params) -> tuple[Objective, Plan]:
    # Every argument is checked here, before a record is written or any work starts.
    f, base, _, steps, w0, _, rule, record = descent.check_sweep(
        f, lrs, steps, start, optimizer=optimizer, record=record, keep_params=keep_params
    )
    factors = schedules.factors(schedule, steps)
    if start is not None:
        start = tuple(float(v) for v in w0.detach().cpu().double().reshape(-1))
    plan = Plan(
        spec=objective_spec(f),
        lrs=tuple(float(v) for v in base),
        steps=steps,
        start=start,
        factors=factors,
        optimizer=rule.to_dict(),
        record=record,
        keep_params=keep_params,
        known_minimum=f.minimum,
        name=f.name,
    )
    return f, plan


def _slices(n: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` consecutive, nearly equal slices of ``range(n)``.

    Example:
        >>> _slices(10, 3)
        [(0, 3), (3, 7), (7, 10)]
    """
    shards = max(1, min(n, shards))
    bounds = [round(i * n / shards) for i in range(shards + 1)]
    return list(itertools.pairwise(bounds))


@dataclass(frozen=True)
class _Command:
    record_id: str
    params: dict
    output: Callable[[descent.Sweep], dict] | None


_COMMAND: ContextVar[_Command | None] = ContextVar("lrlab_records_command", default=None)


@contextmanager
def command(
    record_id: str, params: dict, output: Callable[[descent.Sweep], dict] | None = None
) -> Iterator[None]:
    """Within the block, the sweep recorded by ``lrlab.sweep(..., store=...)`` gets the id
    ``record_id``, keeps ``params`` (how the command was called) and, when it finishes,
    ``output(sweep)`` (what the command prints). The command line sweeps through the same
    ``lrlab.sweep`` call as Python users, and says this around it.

    Example:
        >>> import lrlab
        >>> st = lrlab.store.open("sqlite://")
        >>> with command("cli1", {"argv": ["sweep"]}, lambda sw: {"best": sw.best_lr}):
        ...     sw = lrlab.sweep("parabola", lrs=[0.1, 0.5], steps=10, store=st)
        >>> st.get("cli1").output, st.get("cli1").params["argv"]
        ({'best': 0.5}, ['sweep'])
    """
    token = _COMMAND.set(_Command(record_id, params, output))
    try:
        yield
    finally:
        _COMMAND.reset(token)


def _open(store) -> _store.Store:
    return store if isinstance(store, _store.Store) else _store.open(store)


# --- running ----------------------------------------------------------------------------------


def _finish_shard(st, rid, plan: Plan, index: int, sw: descent.Sweep) -> None:
    if st is not None:
        st.finish_shard(rid, index, plan.steps, codec.lanes_to_bytes(sw._lanes, sw.lrs))


def _run(
    st: _store.Store | None,
    rid: str | None,
    f: Objective,
    plan: Plan,
    slices: list[tuple[int, int]],
    todo: dict[int, bytes | None],
    done: dict[int, descent.Sweep],
    *,
    backend: str,
    address: str | None,
    gpus_per_shard: float,
    checkpoint_every: float,
    progress,
) -> descent.Sweep:
    """Run the shards in ``todo`` (index -> checkpoint or None) and merge them with ``done``."""
    if backend == "ray":

        def landed(index: int, sw: descent.Sweep) -> None:
            _finish_shard(st, rid, plan, index, sw)
            done[index] = sw
            if progress is not None:
                progress(len(done), len(slices))

        ray_shards.run(
            f,
            plan,
            {i: (slices[i], state) for i, state in todo.items()},
            on_done=landed,
            address=address,
            gpus_per_shard=gpus_per_shard,
        )
    else:
        for index, state in sorted(todo.items()):
            lo, hi = slices[index]
            keep = None
            if st is not None:

                def keep(s, index=index):
                    st.checkpoint(rid, index, s.step, s.to_bytes())

            sw = plan.run_shard(
                f,
                lo,
                hi,
                state=state,
                on_checkpoint=keep,
                checkpoint_every=checkpoint_every,
                progress=progress,
            )
            _finish_shard(st, rid, plan, index, sw)
            done[index] = sw
    return descent.merge([done[i] for i in range(len(slices))])


def _summary(sw: descent.Sweep) -> dict:
    # What a library-made record shows without diagnosing every lane (100,000 of them cost
    # more than the sweep); a command keeps what it printed instead.
    return {
        "objective": sw.objective,
        "steps": sw.steps,
        "lanes": len(sw.lrs),
        "optimizer": sw.optimizer.to_dict(),
        "record": sw.record,
        "floor": sw.floor,
        "best_lr": sw.best_lr,
    }


def _guarded(st, rid, work: Callable[[], descent.Sweep], output) -> descent.Sweep:
    """Run ``work`` under a heartbeat; a record whose work stops early is ``interrupted``."""
    if st is None:
        return work()
    try:
        with st.heartbeat(rid):
            sw = work()
    except BaseException:
        st.finish(rid, status="interrupted")
        raise
    st.finish(rid, output=output(sw) if output else _summary(sw), steps_done=sw.steps)
    return replace(sw, record_id=rid)


def recorded_sweep(
    f,
    lrs: Sequence[float] | np.ndarray | torch.Tensor,
    steps: int = 200,
    start=None,
    schedule=None,
    *,
    optimizer=None,
    record: str | int = "full",
    keep_params: bool | None = None,
    store=None,
    checkpoint_every: float = 30.0,
    backend: str = "local",
    address: str | None = None,
    gpus_per_shard: float = 0,
    shards: int | None = None,
    progress=None,
    record_id: str | None = None,
    params: dict | None = None,
    output: Callable[[descent.Sweep], dict] | None = None,
) -> descent.Sweep:
    """A sweep kept in a store as it runs, checkpointed, and optionally sharded on Ray.

    Arguments as :func:`lrlab.sweep`, plus:

    Args:
        store: a :class:`~lrlab.store.Store`, a URL or a path; None records nothing (Ray only).
        checkpoint_every: seconds between checkpoints of an in-process shard (and on Ctrl-C).
        backend: ``"local"`` (one shard, this process) or ``"ray"``.
        address: a Ray cluster's address (``"auto"``, ``"ray://host:10001"``); None starts or
            joins a local Ray.
        gpus_per_shard: GPUs each Ray shard asks for (its objective moves to the GPU).
        shards: how many shards (Ray: default two per CPU or GPU the cluster has; local: 1).
        record_id: the id of the new record (default: a new one).
        params: more to keep with the record (a command keeps how it was called).
        output: what to keep as the record's output (default: a summary without regimes).

    Returns:
        The merged :class:`~lrlab.Sweep`, equal to the in-process sweep of the same arguments.

    Example:
        >>> import lrlab
        >>> st = lrlab.store.open("sqlite://")
        >>> sw = recorded_sweep("parabola", [0.1, 0.5], 20, store=st, record_id="demo1")
        >>> sw.record_id, st.get(sw.record_id).output["best_lr"], sw.best_lr
        ('demo1', 0.5, 0.5)
    """
    context = _COMMAND.get()
    if context is not None:
        record_id = record_id or context.record_id
        params = {**context.params, **(params or {})}
        output = output or context.output
    backend = _checks.one_of("backend", backend, ("local", "ray"))
    checkpoint_every = _checks.positive_float("checkpoint_every", checkpoint_every, allow_zero=True)
    gpus_per_shard = _checks.positive_float("gpus_per_shard", gpus_per_shard, allow_zero=True)
    if store is None and backend == "local":
        _checks.fail("store", store, "a recorded sweep needs a store (a URL, path or Store)")
    st = None if store is None else _open(store)  # refused here, before any work, if unusable
    f, plan = _plan(f, lrs, steps, start, schedule, optimizer, record, keep_params)
    if backend == "ray":
        count = shards or ray_shards.default_count(address, gpus_per_shard)
    else:
        count = 1 if shards is None else _checks.int_in_range("shards", shards, 1, len(plan.lrs))
    slices = _slices(len(plan.lrs), count)
    rid = None
    if st is not None:
        per = plan.values
        rid = st.begin(
            "sweep",
            f.name,
            params={
                **plan.to_params(),
                "slices": slices,
                "backend": backend,
                "address": address,
                "gpus_per_shard": gpus_per_shard,
                "checkpoint_every": checkpoint_every,
                **(params or {}),
            },
            steps=plan.steps,
            lanes=len(plan.lrs) * per,
            slices=[(lo * per, hi * per) for lo, hi in slices],
            device=str(f.device),
            record_id=record_id,
        )

    def work():
        return _run(
            st,
            rid,
            f,
            plan,
            slices,
            dict.fromkeys(range(len(slices))),
            {},
            backend=backend,
            address=address,
            gpus_per_shard=gpus_per_shard,
            checkpoint_every=checkpoint_every,
            progress=progress,
        )

    return _guarded(st, rid, work, output)


def load(record_id: str, *, store=None):
    """A finished record's result: a :class:`~lrlab.Sweep` (from its stored lanes, every
    curve bit for bit), a :class:`~lrlab.Run`, or the output dict of other kinds.

    Raises:
        StoreError: no such record, or a sweep that has not finished (resume it).
    """
    st = _open(store)
    rec = st.get(record_id)
    if rec.kind == "run" and rec.output is not None:
        return codec.run_from_output(rec.output)
    if rec.kind != "sweep":
        return rec.output
    shards_ = st.shards(rec.id)
    if not shards_ or any(s.status != "done" for s in shards_):
        raise _store.StoreError(
            f"record {rec.id} is {rec.status} with {sum(s.status == 'done' for s in shards_)} "
            f"of {len(shards_)} shards finished: `lrlab resume {rec.id}` finishes it"
        )
    if "lrs" not in rec.params:  # saved with Store.save: one shard, all it needs
        sw = _saved_sweep(rec, shards_[0].data)
    else:
        plan = Plan.from_params(rec.params)
        sw = descent.merge([plan.shard_sweep(s.data) for s in shards_])
    return replace(sw, record_id=rec.id)


def _saved_sweep(rec, blob: bytes) -> descent.Sweep:
    lanes, lane_lrs = codec.lanes_from_bytes(blob)
    out = rec.output or {}
    return descent.Sweep(
        objective=rec.objective,
        steps=rec.steps,
        lrs=lane_lrs,
        floor=rec.params.get("floor"),
        _lanes=lanes,
        optimizer=optim.get(out.get("optimizer")),
        record=out.get("record", "full"),
        _known_minimum=rec.params.get("known_minimum"),
    )


def resume(
    record_id: str,
    *,
    store=None,
    objective=None,
    progress=None,
    output: Callable[[descent.Sweep], dict] | None = None,
) -> descent.Sweep:
    """Finish an interrupted sweep: finished shards are read back, the others continue from
    their last checkpoint (bitwise the same result on the CPU as an uninterrupted run).

    Args:
        record_id: the record's id (or a unique prefix).
        store: the store it is in (default: ``LRLAB_STORE`` or the per-user store).
        objective: the objective, for a sweep of a model made in Python (other objectives
            are rebuilt from their recorded spec).
        progress: called as ``progress(done, total)``.
        output: what to keep as the record's output when it finishes.

    Returns:
        The finished :class:`~lrlab.Sweep` (a record already done is read back).

    Raises:
        StoreError: no such record, not a sweep, or still running in a live process.

    Example:
        >>> import lrlab
        >>> st = lrlab.store.open("sqlite://")
        >>> sw = recorded_sweep("parabola", [0.1, 0.5], 20, store=st, record_id="r1")
        >>> resume("r1", store=st).best_lr
        0.5
    """
    st = _open(store)
    rec = st.get(record_id)
    if rec.kind != "sweep":
        raise _store.StoreError(f"record {rec.id} is a {rec.kind}: only sweeps resume")
    if rec.status == "done":
        return load(rec.id, store=st)
    _store.check_resumable(rec)  # before the objective is rebuilt; claim checks it again
    plan = Plan.from_params(rec.params)
    if objective is not None:
        f = make_objective(objective)
    elif plan.spec is not None:
        f = rebuild(plan.spec)
    else:
        raise _store.StoreError(
            f"record {rec.id} is a sweep of a model made in Python: give it again, "
            f"lrlab.resume({rec.id!r}, objective=f)"
        )
    if f.name != plan.name:
        _checks.fail("objective", f.name, f"record {rec.id} is a sweep of {plan.name!r}")
    slices = [tuple(s) for s in rec.params["slices"]]
    stored = st.shards(rec.id)
    done = {s.index: plan.shard_sweep(s.data) for s in stored if s.status == "done"}
    todo = {s.index: s.checkpoint for s in stored if s.status != "done"}
    st.claim(rec.id)

    def work():
        return _run(
            st,
            rec.id,
            f,
            plan,
            slices,
            todo,
            done,
            backend=rec.params.get("backend", "local"),
            address=rec.params.get("address"),
            gpus_per_shard=rec.params.get("gpus_per_shard", 0),
            checkpoint_every=rec.params.get("checkpoint_every", 30.0),
            progress=progress,
        )

    return _guarded(st, rec.id, work, output)
