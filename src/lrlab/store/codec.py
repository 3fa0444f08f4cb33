"""Results as records, and back: what each kind of result keeps in the store.

A record keeps what was asked (``params``), what the command printed (``output``, JSON) and,
for a sweep, the raw lanes of each shard as one ``.npz`` blob (every curve, bit for bit; numpy
reads it back without pickle). A run's curves are in its JSON.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import descent
from ..range_test import RangeTest
from ..regimes import Diagnosis
from ..suggest import Suggestion

__all__ = ["Entry", "describe", "lanes_from_bytes", "lanes_to_bytes", "run_from_output"]


@dataclass(frozen=True)
class Entry:
    """What one result puts on record."""

    kind: str
    objective: str
    steps: int | None
    lanes: int | None
    params: dict
    output: dict
    data: bytes | None = None
    device: str = "cpu"


#: Marks an array stored as float32 that is float64 in memory.
_NARROW = "__f32__"


def _narrowed(a: np.ndarray) -> np.ndarray | None:
    """``a`` as float32 when that loses nothing (a summary's curves are float32 values held
    in float64), else None."""
    if a.dtype != np.float64 or a.size < 1024:
        return None
    with np.errstate(over="ignore"):  # a value beyond float32's range: kept as float64
        b = a.astype(np.float32)
    return b if np.array_equal(b, a, equal_nan=True) else None


def lanes_to_bytes(lanes: Any, lrs: np.ndarray) -> bytes:
    """A shard's raw lanes (the engine's arrays) and learning rates as one ``.npz`` blob.

    Example:
        >>> sw = descent.sweep("parabola", lrs=[0.1, 0.5], steps=3)
        >>> lanes, lrs = lanes_from_bytes(lanes_to_bytes(sw._lanes, sw.lrs))
        >>> np.array_equal(lanes.losses, sw._lanes.losses, equal_nan=True), lrs.tolist()
        (True, [0.1, 0.5])
    """
    arrays = {"__lrs": np.asarray(lrs, dtype=float)}
    for f in dataclasses.fields(lanes):
        value = getattr(lanes, f.name)
        if value is None:
            continue
        value = np.ascontiguousarray(value)
        narrow = _narrowed(value)
        if narrow is not None:  # kept at half the bytes, read back bit for bit
            arrays[_NARROW + f.name] = narrow
        else:
            arrays[f.name] = value
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def lanes_from_bytes(blob: bytes) -> tuple[Any, np.ndarray]:
    """The engine's lanes and learning rates from :func:`lanes_to_bytes`' blob."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        arrays = {
            k.removeprefix(_NARROW): z[k].astype(np.float64) if k.startswith(_NARROW) else z[k]
            for k in z.files
        }
    lrs = arrays.pop("__lrs")
    kwargs = {}
    for f in dataclasses.fields(descent._Lanes):
        if f.name in arrays:
            value = arrays[f.name]
            kwargs[f.name] = value.item() if value.ndim == 0 else value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kwargs[f.name] = None
    return descent._Lanes(**kwargs), lrs


def run_from_output(d: dict) -> descent.Run:
    """A :class:`~lrlab.Run` rebuilt from its JSON (``Run.to_dict``); None reads back as NaN.

    Example:
        >>> run = descent.descend("parabola", lr=0.1, steps=5)
        >>> again = run_from_output(run.to_dict())
        >>> np.array_equal(again.losses, run.losses), again.regime == run.regime
        (True, True)
    """

    def arr(key):
        v = d.get(key)
        return None if v is None else np.array(v, dtype=float)

    final = d.get("final_loss")
    return descent.Run(
        objective=d["objective"],
        lr=float(d["lr"]),
        steps=int(d["steps"]),
        losses=arr("losses"),
        grad_norms=arr("grad_norms"),
        step_sizes=arr("step_sizes"),
        lrs=arr("lrs"),
        params=arr("params"),
        final_loss=float("inf") if final is None else float(final),
        diverged_at=d.get("diverged_at"),
        floor=d.get("floor"),
        sharpness=arr("sharpness"),
    )


def describe(result: Any) -> Entry:
    """The record of a finished result.

    Raises:
        TypeError: not a result lrlab records.

    Example:
        >>> describe(descent.descend("parabola", lr=0.5, steps=3)).kind
        'run'
    """
    if isinstance(result, descent.Sweep):
        return Entry(
            kind="sweep",
            objective=result.objective,
            steps=result.steps,
            lanes=len(result.lrs),
            params={"objective": result.objective, "steps": result.steps, "floor": result.floor},
            output=result.to_dict(),
            data=lanes_to_bytes(result._lanes, result.lrs),
        )
    if isinstance(result, descent.Run):
        return Entry(
            kind="run",
            objective=result.objective,
            steps=result.steps,
            lanes=1,
            params={"objective": result.objective, "lr": result.lr, "steps": result.steps},
            output=result.to_dict(),
        )
    if isinstance(result, Suggestion):
        return Entry(
            kind="suggestion",
            objective=result.objective,
            steps=result.steps,
            lanes=None,
            params={"objective": result.objective, "steps": result.steps},
            output=result.to_dict(),
        )
    if isinstance(result, RangeTest):
        n = len(result.losses)
        return Entry(
            kind="range_test",
            objective=str(result.settings.get("model", "model")),
            steps=n,
            lanes=1,
            params={"settings": dict(result.settings)},
            output=result.to_dict(),
        )
    if isinstance(result, Diagnosis):
        return Entry(
            kind="diagnosis",
            objective=str(result.evidence.get("source", "curve")),
            steps=result.evidence.get("points"),
            lanes=1,
            params={},
            output=result.to_dict(),
        )
    raise TypeError(
        f"result={type(result).__name__} is invalid: the store keeps a Run, Sweep, "
        "RangeTest, Suggestion or Diagnosis"
    )
