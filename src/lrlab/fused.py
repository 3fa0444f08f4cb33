"""A fused step for analytic objectives: cost, gradient and gradient norm of every lane in
one compiled kernel.

The eager step of an analytic objective runs its formula and then autograd's backward as a
few dozen separate tensor operations, each a pass over all ``K`` lanes with a fresh
temporary. ``torch.compile`` (inductor) turns the same formula, differentiated by
``torch.func``, into one loop that reads each lane's coordinates once and writes its cost,
gradient and gradient norm: 4-6x the eager throughput on 100,000 lanes of rosenbrock.

Compiling costs seconds to minutes (a C++ compiler runs), so the engine uses the fused step
only where it pays (:func:`wanted`: at least :data:`MIN_LANE_STEPS` lane-steps, on the CPU,
with a C++ compiler present). The compiled code is kept in this process per objective, and
inductor keeps it on disk (its cache directory, ``TORCHINDUCTOR_CACHE_DIR``), so a later
process compiles much faster. Any failure to compile or run falls back to the eager step,
with one warning; results agree with the eager step to float rounding (the kernel may fuse a
multiply-add), not bit for bit.

Inside a sweep the step also picks its thread count: torch's, or one when one runs it
faster (on a machine whose cores are shared, a parallel region waits at its barrier for
threads the scheduler took away); torch's count is restored when the sweep ends.

``LRLAB_FUSED`` in the environment overrides the choice: ``off`` never fuses, ``on`` fuses
every analytic sweep, ``auto`` (the default) follows :func:`wanted`.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import warnings
from collections.abc import Callable

import torch

from . import native

__all__ = ["CALIBRATION_ROUNDS", "MIN_ACTIVE_LANES", "MIN_LANE_STEPS", "FusedStep"]
__all__ += ["compiler_available", "wanted"]
__all__ += ["fused_step", "last_compile_seconds", "scope"]

#: Fuse from this many lane-steps on: the eager step does about 1e7 lane-steps/s, so this is
#: a sweep of a minute or more. A first compile costs 20-80 s on a 2-core machine (a few
#: seconds once inductor's disk cache has it), and a shorter sweep would wait longer for the
#: compiler than it saves; ``LRLAB_FUSED=on`` fuses any sweep.
MIN_LANE_STEPS = 1_000_000_000
#: Below this many active lanes a step is cheap either way, and a new lane count of 0 or 1
#: would make the compiler specialise again (another compile): the eager step takes over.
MIN_ACTIVE_LANES = 1024
#: Timed calls of the step per thread count when choosing the thread count (best of).
CALIBRATION_ROUNDS = 3
#: The environment variable that overrides the choice: "off", "on" or "auto".
ENV = "LRLAB_FUSED"

_KINDS = ("expression", "catalogue")
_lock = threading.Lock()
_compiled: dict[tuple, Callable] = {}
_ready: set[tuple] = set()  # keys whose first call (the compile) has run
_last_compile = [None]


def compiler_available() -> bool:
    """Whether a C++ compiler is on the PATH (:func:`lrlab.native.compiler`), which inductor
    needs on the CPU.

    Example:
        >>> isinstance(compiler_available(), bool)
        True
    """
    return native.compiler() is not None


def _mode() -> str:
    mode = os.environ.get(ENV, "auto").strip().lower()
    return mode if mode in ("on", "off") else "auto"


def wanted(f, lanes: int, steps: int) -> bool:
    """Whether a sweep of ``lanes`` learning rates x ``steps`` steps of objective ``f``
    should take the fused step.

    Example:
        >>> from lrlab import objective
        >>> wanted(objective("rosenbrock"), 1_000_000, 1000) == compiler_available()
        True
        >>> wanted(objective("rosenbrock"), 64, 200), wanted(objective("cancer-logistic"), 10**6, 1000)
        (False, False)
    """
    mode = _mode()
    if mode == "off" or f.kind not in _KINDS or f._values is None or not compiler_available():
        return False
    if mode == "on":
        return True
    return f.device.type == "cpu" and lanes * steps >= MIN_LANE_STEPS


def _make_step(values: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
    def total(W):
        v = values(W)
        # Lanes are independent: the gradient of the sum is every lane's own gradient.
        return v.sum(), v

    grad_and_value = torch.func.grad_and_value(total, has_aux=True)

    def step(W: torch.Tensor):
        G, (_, L) = grad_and_value(W)
        return L, G, torch.linalg.vector_norm(G, dim=1)

    # dynamic: lanes retire, and each new lane count must not compile again.
    return torch.compile(step, dynamic=True, fullgraph=True)


class FusedStep:
    """``step(W (K, dim)) -> (costs (K,), grads (K, dim), grad norms (K,))``, compiled; or
    None when this step should be taken eagerly (too few lanes, or compiling failed).

    Example:
        >>> from lrlab import objective
        >>> step = fused_step(objective("x**2"))
        >>> step(torch.ones(3, 1, dtype=torch.float64)) is None  # 3 lanes: eager
        True
    """

    def __init__(self, key: tuple, values: Callable[[torch.Tensor], torch.Tensor]):
        self._key = key
        self._values = values
        self.failed: str | None = None
        #: The thread count chosen by the calibration (None before it ran).
        self.threads: int | None = None
        self._saved_threads: int | None = None

    def __enter__(self) -> FusedStep:
        """Calls inside ``with step:`` may change torch's thread count (see
        :meth:`_calibrate`); leaving the block restores it."""
        self._saved_threads = torch.get_num_threads()
        return self

    def __exit__(self, *exc) -> None:
        if self._saved_threads is not None and torch.get_num_threads() != self._saved_threads:
            torch.set_num_threads(self._saved_threads)
        self._saved_threads = None

    def _calibrate(self, fn: Callable, W: torch.Tensor) -> None:
        """Keep torch's threads, or one, whichever runs the step faster here and now.

        A step over 100,000 lanes is a few milliseconds of work, so every parallel region
        ends at a barrier that waits for the slowest thread: on a machine whose cores other
        processes share, a thread taken off its core stalls the step for a scheduler tick,
        and one thread measured 10-25x faster than two. On an idle machine the threads win.
        The step's numbers are the same on any thread count (it is elementwise per lane).
        Only inside ``with step:``, which restores the count afterwards.
        """
        many = torch.get_num_threads()
        self.threads = many
        if self._saved_threads is None or many == 1:
            return
        best = {many: math.inf, 1: math.inf}
        for _ in range(CALIBRATION_ROUNDS):  # interleaved: both see the same machine
            for n in best:
                torch.set_num_threads(n)
                t0 = time.perf_counter()
                fn(W)
                best[n] = min(best[n], time.perf_counter() - t0)
        self.threads = min(best, key=best.get)
        torch.set_num_threads(self.threads)

    def __call__(self, W: torch.Tensor):
        if self.failed is not None or W.shape[0] < MIN_ACTIVE_LANES:
            return None
        try:
            with _lock:
                fn = _compiled.get(self._key)
                if fn is None:
                    fn = _compiled[self._key] = _make_step(self._values)
            if self._key not in _ready:
                t0 = time.perf_counter()
                fn(W)  # the first call compiles
                _last_compile[0] = time.perf_counter() - t0
                _ready.add(self._key)
            if self.threads is None:
                self._calibrate(fn, W)
            return fn(W)
        except Exception as e:  # any failure of the compiler or the compiled code: eager
            self.failed = f"{type(e).__name__}: {e}"
            with _lock:
                _compiled.pop(self._key, None)
            warnings.warn(
                f"lrlab: the fused step failed ({self.failed.splitlines()[0][:200]}); "
                "continuing with the eager step",
                RuntimeWarning,
                stacklevel=2,
            )
            return None


def fused_step(f) -> FusedStep | None:
    """The fused step of an analytic objective ``f``, or None for other objectives.

    Compiled code is shared by every objective of the same name, dtype and device.

    Example:
        >>> from lrlab import objective
        >>> fused_step(objective("rosenbrock")) is not None, fused_step(objective("cancer-logistic"))
        (True, None)
    """
    if f.kind not in _KINDS or f._values is None:
        return None
    values = f._values
    key = (f.kind, f.name, f.dtype, str(f.device))
    return FusedStep(key, lambda W: values(W, None))


def scope(step: FusedStep | None):
    """The block a sweep runs its steps in: ``step`` itself (which restores torch's thread
    count on leaving), or a block that does nothing when there is no fused step.

    Example:
        >>> with scope(None):
        ...     pass
    """
    return contextlib.nullcontext() if step is None else step


def last_compile_seconds() -> float | None:
    """Seconds the most recent compile took (its first call), None before any.

    Example:
        >>> last_compile_seconds() is None or last_compile_seconds() > 0
        True
    """
    return _last_compile[0]
