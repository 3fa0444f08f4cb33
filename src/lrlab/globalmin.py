"""The global minimum of a cost of one or two variables, by brute force over its box.

An expression someone typed (``x**4 - 3*x**2 + x``) comes with no known minimum, so a run
that settles in a local minimum would look converged. With one or two variables the whole
plotting box can simply be searched: the cost on a dense grid (2,049 points in 1-D, 301 x 301
in 2-D, one batched evaluation), every grid point lower than all its neighbours as a
candidate basin, then a pattern search from each candidate that halves its stencil until it
is 1e-12 of the box wide. That takes milliseconds and finds every basin wider than two grid
cells.

A cost that is still falling at the edge of the box (``x**3``) has no minimum there: when the
lowest point found lies on the boundary, below every interior minimum, the search reports
no minimum at all rather than a floor that a run could pass.

Example:
    >>> import torch
    >>> found = global_minima(lambda w: (w[:, 0] ** 2 - 1) ** 2 + 0.1 * w[:, 0], [(-3.0, 3.0)])
    >>> [(m.kind, round(m.point[0], 6)) for m in found]
    [('global', -1.012273), ('local', 0.987257)]
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from . import _checks
from .analytic import Minimum

__all__ = ["GRID", "Minima", "global_minima"]

#: Grid points per coordinate: 1-D and 2-D (a basin narrower than two cells can be missed).
GRID = {1: 2049, 2: 301}
_CANDIDATES = 16  # basins refined (the lowest grid minima, at least two cells apart)
_STENCIL = 5  # points per coordinate of the pattern search's stencil
_RESOLUTION = 1e-12  # the pattern search stops when its stencil is this fraction of the box
_SAME = 1e-6  # two minima closer than this fraction of the box are one
_CHUNK = 1 << 16  # points per evaluation: bounds the memory of a 2-D grid


def global_minima(
    values: Callable[[torch.Tensor], torch.Tensor],
    box: Sequence[tuple[float, float]],
    *,
    grid: int | None = None,
) -> tuple[Minimum, ...]:
    """The minima of ``values`` inside ``box``, global first; empty when the cost falls past it.

    Args:
        values: the cost of each row of a ``(N, dim)`` float64 tensor, as a ``(N,)`` tensor
            (an expression objective, or any batched function); NaN and inf count as "not here".
        box: ``(low, high)`` per coordinate, one or two coordinates.
        grid: grid points per coordinate (default ``GRID[dim]``).

    Returns:
        ``Minimum`` records (point, value, kind ``"global"`` or ``"local"``), lowest first; the
        global ones are those within 1e-9 (relative) of the lowest. Empty when the lowest
        cost in the box lies on its boundary (the cost keeps falling outside it) or when
        nothing in the box is finite.

    Example:
        >>> [round(m.value, 9) for m in global_minima(lambda w: (w ** 2).sum(1), [(-1, 2)] * 2)]
        [0.0]
    """
    box = _check_box(box)
    dim = len(box)
    n = GRID[dim] if grid is None else _checks.int_in_range("grid", grid, 5, 100_000)
    lo = np.array([b[0] for b in box])
    hi = np.array([b[1] for b in box])
    axes = [np.linspace(a, b, n) for a, b in box]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, dim)
    width = hi - lo
    try:
        v = _evaluate(values, pts).reshape((n,) * dim)
        if not np.isfinite(v).any():
            return ()
        found = _refine(values, _grid_minima(v, axes), lo, hi, width / (n - 1))
    except _Unbounded:
        return ()
    if not len(found):
        return ()
    # the lowest of everything seen: on the boundary and below every interior minimum means
    # that the cost falls past the box, and no floor can be promised
    edge = np.any(
        (found[:, :dim] <= lo + _SAME * width) | (found[:, :dim] >= hi - _SAME * width), 1
    )
    inner = found[~edge]
    lowest = min(float(found[:, dim].min()), float(np.nanmin(np.where(np.isfinite(v), v, np.nan))))
    if not len(inner) or lowest < inner[:, dim].min() - _tiny(inner[:, dim].min()):
        return ()
    inner = inner[np.argsort(inner[:, dim], kind="stable")]
    kept: list[np.ndarray] = []
    for row in inner:
        if all(np.any(np.abs(row[:dim] - k[:dim]) > _SAME * width) for k in kept):
            kept.append(row)
    best = kept[0][dim]
    return tuple(
        Minimum(
            point=tuple(float(x) for x in row[:dim]),
            value=float(row[dim]),
            kind="global" if row[dim] <= best + _tiny(best) else "local",
        )
        for row in kept
    )


class Minima(Sequence):
    """The minima of a 1-D or 2-D cost, searched on first use and then kept (thread-safe).

    An objective holds one so that building it stays cheap: the search runs when someone
    first asks for ``objective.minima`` or ``objective.minimum``.

    Example:
        >>> m = Minima(lambda w: (w[:, 0] - 0.5) ** 2, [(-3.0, 3.0)])
        >>> len(m), m[0].kind, round(m[0].point[0], 9)
        (1, 'global', 0.5)
    """

    def __init__(self, values: Callable[[torch.Tensor], torch.Tensor], box: Sequence) -> None:
        self._values = values
        self._box = _check_box(box)
        self._found: tuple[Minimum, ...] | None = None
        self._lock = threading.Lock()

    def _get(self) -> tuple[Minimum, ...]:
        if self._found is None:
            with self._lock:
                if self._found is None:
                    self._found = global_minima(self._values, self._box)
        return self._found

    def __len__(self) -> int:
        return len(self._get())

    def __getitem__(self, i):
        return self._get()[i]

    def __iter__(self) -> Iterator[Minimum]:
        return iter(self._get())

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, (tuple, Minima)) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._found) if self._found is not None else "Minima(<not searched yet>)"


def _check_box(box: Any) -> tuple[tuple[float, float], ...]:
    try:
        pairs = tuple((float(a), float(b)) for a, b in box)
    except (TypeError, ValueError):
        _checks.fail("box", box, "expected (low, high) pairs, one per coordinate", TypeError)
    if len(pairs) not in (1, 2):
        _checks.fail("box", box, "the search covers costs of one or two variables")
    for a, b in pairs:
        if not (math.isfinite(a) and math.isfinite(b) and a < b):
            _checks.fail("box", box, "each range needs finite low < high")
    return pairs


def _tiny(value: float) -> float:
    return 1e-9 * max(1.0, abs(value))


def _evaluate(values: Callable, pts: np.ndarray) -> np.ndarray:
    out = np.empty(len(pts))
    with torch.no_grad():
        for a in range(0, len(pts), _CHUNK):
            w = torch.from_numpy(np.ascontiguousarray(pts[a : a + _CHUNK]))
            out[a : a + _CHUNK] = (
                torch.as_tensor(values(w), dtype=torch.float64).reshape(-1).numpy()
            )
    if np.any(out == -np.inf):
        raise _Unbounded
    out[~np.isfinite(out)] = np.inf
    return out


class _Unbounded(Exception):
    """The cost reached -inf: it has no minimum."""


def _grid_minima(v: np.ndarray, axes: list[np.ndarray]) -> np.ndarray:
    """Grid points no higher than any neighbour, lowest first, at least two cells apart."""
    dim = v.ndim
    padded = np.pad(v, 1, constant_values=np.inf)
    low = np.isfinite(v)
    for shift in np.ndindex((3,) * dim):
        if all(s == 1 for s in shift):
            continue
        low &= v <= padded[tuple(slice(s, s + n) for s, n in zip(shift, v.shape, strict=True))]
    idx = np.argwhere(low)
    # lowest first; among equal values (a flat valley) the ones nearest the middle of the box
    middle = np.abs(idx - (np.array(v.shape) - 1) / 2).max(1)
    idx = idx[np.lexsort((middle, v[tuple(idx.T)]))]
    chosen: list[np.ndarray] = []
    for i in idx:
        if all(np.abs(i - c).max() > 2 for c in chosen):
            chosen.append(i)
            if len(chosen) == _CANDIDATES:
                break
    return np.array([[axes[d][i[d]] for d in range(dim)] for i in chosen])


def _refine(values, starts, lo, hi, step) -> np.ndarray:
    """Pattern search from every start at once: (point..., value) rows."""
    dim = starts.shape[1]
    offsets = np.stack(
        np.meshgrid(*[np.linspace(-1, 1, _STENCIL)] * dim, indexing="ij"), -1
    ).reshape(-1, dim)
    centre = len(offsets) // 2
    x = starts.copy()
    h = np.tile(step, (len(x), 1))
    fx = _evaluate(values, x)
    stop = _RESOLUTION * (hi - lo)
    for _ in range(200):
        active = np.any(h > stop, 1)
        if not active.any():
            break
        cand = np.clip(x[active, None, :] + offsets[None] * h[active, None, :], lo, hi)
        fc = _evaluate(values, cand.reshape(-1, dim)).reshape(len(cand), -1)
        fc[:, centre] = fx[active]
        best = np.argmin(fc, 1)
        moved = fc[np.arange(len(cand)), best] < fx[active]  # only a strictly lower point moves
        best[~moved] = centre
        rows = np.flatnonzero(active)
        x[rows] = cand[np.arange(len(cand)), best]
        fx[rows] = fc[np.arange(len(cand)), best]
        # keep the stencil while it finds lower points, halve it once the centre is lowest
        h[rows[~moved]] *= 0.5
    # a minimum has finite costs all around it: a search that ran into the edge of the
    # domain (log(x) near 0) found a pole or a cliff, not a minimum
    around = np.clip(x[:, None, :] + offsets[None] * (2 * h[:, None, :]), lo, hi)
    ok = np.isfinite(_evaluate(values, around.reshape(-1, dim)).reshape(len(x), -1)).all(1)
    return np.c_[x, fx][ok & np.isfinite(fx)]
