"""Shards of a sweep as Ray tasks: scale a sweep out to a cluster.

Each shard (a slice of the learning rates, see :mod:`lrlab.records`) runs as one Ray task:
the batched engine on a worker, on its CPUs or, with ``gpus_per_shard``, on a GPU. The task
rebuilds the objective from its spec (a model made in Python travels pickled) and returns the
shard's raw lanes; the driver stores each shard the moment it lands, so a lost worker loses
only its own shard.

Ray is an optional dependency (``pip install 'lrlab[ray]'``), imported only here.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Callable

import torch

from . import descent
from .objectives import Objective
from .store import codec

__all__ = ["default_count", "run"]

#: Shards per CPU (or GPU) of the cluster: more than one, so a slow worker or a lost shard
#: delays a smaller part of the sweep, and few enough that the per-task cost stays small.
SHARDS_PER_WORKER = 2


def _ray():
    try:
        import ray
    except ImportError:
        raise ImportError(
            "backend='ray' needs Ray: pip install 'lrlab[ray]' (or choose backend='local')"
        ) from None
    return ray


#: Seconds to wait for a cluster's address to answer before it is refused: Ray itself keeps
#: retrying an address where nothing listens.
REACH_SECONDS = 5.0


def _check_reachable(address: str) -> None:
    """Refuse a ``host:port`` (or ``ray://host:port``) where nothing answers; other forms
    (``auto``, ``local``) are Ray's to resolve."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_SECONDS).close()
    except OSError as e:
        raise ValueError(
            f"address={address!r} is invalid: no Ray cluster answers there "
            f"({e.strerror or e}); start one, or leave the address out for a local Ray"
        ) from None


def connect(address: str | None = None):
    """Join the Ray cluster at ``address`` (None: the one already joined, else a new local
    Ray on this machine) and return the ``ray`` module.

    Raises:
        ValueError: nothing answers at ``address`` within :data:`REACH_SECONDS`.
    """
    ray = _ray()
    if address is not None:
        _check_reachable(address)
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    return ray


def default_count(address: str | None, gpus_per_shard: float) -> int:
    """How many shards a sweep is cut into on the cluster at ``address``."""
    ray = connect(address)
    resources = ray.cluster_resources()
    workers = (
        resources.get("GPU", 0) / gpus_per_shard if gpus_per_shard else resources.get("CPU", 1)
    )
    return max(1, SHARDS_PER_WORKER * math.floor(workers))


def _shard_task(model, plan, lo: int, hi: int, state: bytes | None, gpus: float):
    """Runs on a worker: one shard, its lanes back as bytes (numpy, no pickle). ``model`` is
    the objective of a model made in Python (pickled), else None: the plan rebuilds it."""
    import ray

    f = plan.build() if model is None else model
    if gpus:
        f = f.to("cuda")
    # One torch thread per CPU Ray gave this task: tasks share the machine without fighting.
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))
    sw = plan.run_shard(f, lo, hi, state=state)
    return codec.lanes_to_bytes(sw._lanes, sw.lrs)


def run(
    f: Objective,
    plan,
    todo: dict[int, tuple[tuple[int, int], bytes | None]],
    *,
    on_done: Callable[[int, descent.Sweep], None],
    address: str | None = None,
    gpus_per_shard: float = 0,
) -> None:
    """Run the shards ``todo`` (index -> ((lo, hi), checkpoint or None)) as Ray tasks and call
    ``on_done(index, sweep)`` as each one lands."""
    ray = connect(address)
    task = ray.remote(num_cpus=0 if gpus_per_shard else 1, num_gpus=gpus_per_shard)(_shard_task)
    payload = ray.put(f if plan.spec is None else None)
    pending = {
        task.remote(payload, plan, lo, hi, state, gpus_per_shard): index
        for index, ((lo, hi), state) in todo.items()
    }
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ready[0])
            on_done(index, plan.shard_sweep(ray.get(ready[0])))
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
