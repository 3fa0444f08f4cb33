"""Suggest a learning rate for a training budget, with the evidence of three methods.

Three independent readings of the same objective:

* **curvature** -- the sharpness ``L`` (top Hessian eigenvalue, :mod:`lrlab.curvature`) at the
  start and at a few points of a short run with ``alpha = 1/|L|``; the largest is kept. ``1/L``
  is the classic safe step (the descent lemma: ``C(w - g/L) <= C(w) - |g|^2 / (2L)`` on an
  ``L``-smooth cost) and ``2/L`` the stability ceiling: on a quadratic, gradient descent
  diverges exactly for ``alpha > 2/L``. On neural networks ``L`` is not fixed -- full-batch
  training raises it until it hovers at ``2/alpha`` (the edge of stability) -- so the bound
  can be far too cautious there.
* **range test** (model and dataset objectives) -- Smith's LR range test with the same optimizer on a
  private copy of the parameters (:func:`lrlab.range_test`), read by its recommended rule
  (fastai's valley, else the steepest descent). It sees one short run whose learning rate
  keeps growing, not the budget.
* **sweep** -- gradient descent itself, for exactly the budget: a batched sweep
  (:func:`lrlab.sweep`) over a log grid around ``1/L``, widened while the best sits at an
  edge, then refined on ``log alpha`` by bisection around the best.

The recommendation is the sweep's, because only the sweep measures the cost after the
budget; the other two explain it and say how far they agree. It is kept safely below the
edge of stability. A run is *good* when it keeps all but 1% of the best run's progress
``C(w_0) - C_best``; the *edge* is the smallest learning rate above the first good one whose
run is not good (it diverged, bounced on a plateau, or landed in a worse basin). The
recommendation is the best learning rate tried at least ``SAFETY`` times below the edge, so
a best right at the edge -- or a lucky run beyond it, where training is already chaotic --
gives way to a safer one. ``lr_max`` reports the tighter of the edge and ``2/L`` (the latter
only when it lies above the recommendation, i.e. when the sweep does not contradict it).

Example:
    >>> from lrlab.suggest import suggest
    >>> s = suggest("bowl:kappa=10", steps=100)
    >>> 0.1 < s.lr < 2 / 10 <= s.lr_max
    True
    >>> sorted(s.to_dict())
    ['agree', 'explanation', 'lr', 'lr_max', 'methods', 'objective', 'optimizer', 'steps']
    >>> a = suggest("bowl:kappa=10", steps=100, optimizer="adam")
    >>> a.optimizer["name"], a.methods["curvature"]["lr"] is None
    ('adam', True)

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    arXiv:1506.01186 (the range test).
    J. Cohen, S. Kaur, Y. Li, J. Z. Kolter, A. Talwalkar, "Gradient descent on neural networks
    typically occurs at the edge of stability", ICLR 2021, arXiv:2103.00065.
    Y. Nesterov, "Lectures on Convex Optimization" (2018), section 2.1 (``1/L``, ``2/(L+mu)``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from . import _checks
from . import optim as _optim
from ._format import fmt, json_safe
from .curvature import _top
from .descent import descend, sweep
from .objectives import objective
from .range_test import range_test

__all__ = ["AGREE_FACTOR", "SAFETY", "Suggestion", "suggest"]

#: A recommendation stays at least this factor below the edge (the first failing lr).
SAFETY = 1.25
#: Methods agree when their learning rates lie within this factor of one another.
AGREE_FACTOR = 3.0
#: Default budgets: analytic costs are cheap to run long; models are trained in short tests.
DEFAULT_STEPS = {"expression": 200, "catalogue": 200, "dataset": 100, "model": 100}
#: The most steps a suggestion may be made for (every learning rate tried runs this long).
MAX_STEPS = 100_000
# A run "failed" when it lost more than this share of the best run's progress.
_FAIL_SHARE = 0.01
# Learning rates that are never tried: far beyond any useful step on any sane scale.
_LR_FLOOR, _LR_CEIL = 1e-12, 1e12

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Suggestion:
    """A recommended learning rate for a budget, with each method's answer and evidence.

    Attributes:
        lr: the recommended learning rate: the sweep's best for ``steps`` steps, kept at
            least ``SAFETY`` times below the edge (the first learning rate that failed).
        lr_max: the ceiling: above it expect instability (the sweep's edge, or ``2/L`` when
            that is lower and still above ``lr``).
        methods: per method (``"curvature"``, ``"range_test"``, ``"sweep"``) a dict with its
            ``"lr"`` (None when the method could not say) and its evidence.
        agree: whether the methods' learning rates lie within a factor ``AGREE_FACTOR``.
        steps: the training budget the suggestion is best for.
        explanation: what each method said and why this learning rate, in plain words.
        objective: the objective's name.
        optimizer: the update rule the suggestion is for, as ``{name, <hyperparameters>}``.

    Example:
        >>> s = suggest("parabola", steps=50)
        >>> s.methods["curvature"]["sharpness"], s.lr < 2 / 2
        (2.0, True)
    """

    lr: float
    lr_max: float
    methods: dict[str, dict]
    agree: bool
    steps: int
    explanation: str
    objective: str = field(default="")
    optimizer: dict = field(default_factory=lambda: _optim.sgd().to_dict())

    def to_dict(self) -> dict:
        """A JSON-ready record: ``lr, lr_max, methods, agree, steps, explanation, objective,
        optimizer``.

        Non-finite numbers become None; numpy values become plain Python numbers.

        Example:
            >>> import json
            >>> d = suggest("parabola", steps=20).to_dict()
            >>> json.loads(json.dumps(d))["methods"]["sweep"]["lr"] == d["lr"]
            True
        """
        return {
            "objective": self.objective,
            "optimizer": json_safe(self.optimizer),
            "lr": json_safe(self.lr),
            "lr_max": json_safe(self.lr_max),
            "methods": json_safe(self.methods),
            "agree": self.agree,
            "steps": self.steps,
            "explanation": self.explanation,
        }


def _g(x: float | None) -> str:
    return fmt(x, missing="none", nonfinite="inf")


# --------------------------------------------------------------------------- curvature


def _curvature(f, w0: torch.Tensor, steps: int, seed: int, rule, poll=None) -> dict:
    """Sharpness at the start and along a short run at ``1/|L0|``; the largest is the bound,
    through the rule's own stability limit (``2/L`` for plain SGD, ``(2 + 2*beta)/L`` for
    heavy-ball momentum; none for adaptive rules, whose steps are rescaled per coordinate)."""

    def measure(at, v0=None):
        # Only a few per cent of accuracy matters here; the default 1e-6 would cost far more
        # Hessian-vector products, and a warm start from the last top eigenvector saves more.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return _top(
                f, at, 1, tol=1e-3, max_iter=40, batch=None, seed=seed, v0=v0, progress=poll
            )

    top = measure(w0)
    L0 = float(top.values[0])
    track = [(0, L0)]
    short = min(steps, 20)
    if L0 != 0 and math.isfinite(L0):
        run = descend(f, lr=1.0 / abs(L0), steps=short, start=w0, keep_params=True)
        n = len(run.params) - 1
        for t in sorted({n // 2, n} - {0}):
            top = measure(
                torch.as_tensor(run.params[t], dtype=f.dtype, device=f.device), top.vector
            )
            track.append((t, float(top.values[0])))
    L = max(s for _, s in track)
    ok = math.isfinite(L) and L > 0
    limit = rule.stability_limit(L) if ok else None
    limit = limit if limit is not None and math.isfinite(limit) else None
    return {
        # Half the stability limit: 1/L for plain gradient descent, the classic safe step.
        "lr": limit / 2 if limit is not None else None,
        "lr_max": limit,
        "sharpness": L if ok else None,
        "sharpness_start": L0,
        "track": [[t, s] for t, s in track],
        "short_run_lr": 1.0 / abs(L0) if L0 != 0 and math.isfinite(L0) else None,
    }


# --------------------------------------------------------------------------- range test


class _Parameters(nn.Module):
    """The objective's parameters as one ``nn.Parameter``; calling it on a batch gives the cost.

    A range test on this private copy trains exactly what a sweep trains (the same cost, the
    same penalty, the same batches) and cannot touch the user's model: its weights are read
    once, when the objective was built, and never written.
    """

    def __init__(self, f, w0: torch.Tensor):
        super().__init__()
        self.f = f
        self.w = nn.Parameter(w0.detach().clone())

    def forward(self, batch):
        return self.f.cost(self.w, batch)


def _range_test(f, w0: torch.Tensor, curvature: dict, rule, num_iter: int = 100) -> dict:
    L = curvature["sharpness"]
    # An adaptive rule's step does not scale with 1/L: the usual range from 1e-7 to 10.
    start_lr, end_lr = (1e-4 / L, 1e3 / L) if L and not rule.adaptive else (1e-7, 10.0)
    module = _Parameters(f, w0)
    optimizer = rule.to_torch(module.parameters(), lr=start_lr)
    # The targets are unused: the module already returns the cost of its batch.
    loader = [(batch, None) for batch in f.batches(num_iter)]
    try:
        rt = range_test(
            module,
            lambda cost, _: cost,
            loader,
            optimizer,
            start_lr=start_lr,
            end_lr=end_lr,
            num_iter=num_iter,
        )
    except ValueError as err:
        return {"lr": None, "error": str(err)}
    return {
        "lr": rt.recommended,
        "method": rt.method,
        "suggestions": dict(rt.suggestions),
        "blow_up": float(rt.lrs[-1]) if rt.stopped_early else None,
        "start_lr": start_lr,
        "end_lr": end_lr,
        "num_iter": num_iter,
        "notes": list(rt.notes),
    }


# --------------------------------------------------------------------------- sweep


class _Trials:
    """Every learning rate tried for the budget, with its final cost, in one place."""

    def __init__(self, f, w0: torch.Tensor, steps: int, f0: float, rule, poll=None):
        self.f, self.w0, self.steps, self.f0, self.poll = f, w0, steps, f0, poll
        self.rule = rule
        self.final: dict[float, float] = {}

    def run(self, lrs) -> None:
        lrs = [float(a) for a in lrs if _LR_FLOOR <= a <= _LR_CEIL and float(a) not in self.final]
        if not lrs:
            return
        sw = sweep(
            self.f,
            lrs=lrs,
            steps=self.steps,
            start=self.w0,
            optimizer=self.rule,
            record="summary",
            keep_params=False,
            progress=self.poll,
        )
        for lr, value in zip(lrs, sw.final_losses, strict=True):
            self.final[lr] = float(value) if math.isfinite(value) else math.inf

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        lrs = np.array(sorted(self.final))
        return lrs, np.array([self.final[a] for a in lrs])

    def best(self) -> float:
        lrs, finals = self.table()
        return float(lrs[int(np.argmin(finals))])

    def edge(self) -> float | None:
        """The first learning rate above the good ones that failed; None when none did.

        A run is *good* when it kept all but ``_FAIL_SHARE`` of the best run's progress
        ``C(w_0) - C_best``; the edge is the smallest failing learning rate above the smallest
        good one. So learning rates too small to make progress never count, while a lucky
        good run beyond a failure (chaotic, near-divergent training) cannot hide the edge.
        """
        lrs, finals = self.table()
        best = float(np.min(finals))
        good = finals <= best + _FAIL_SHARE * (self.f0 - best)
        first = lrs[int(np.argmax(good))]
        failing = lrs[(lrs > first) & ~good]
        return float(failing[0]) if failing.size else None


def _grid(lo: float, hi: float, per_decade: int) -> np.ndarray:
    n = max(2, round(math.log10(hi / lo) * per_decade) + 1)
    return np.logspace(math.log10(lo), math.log10(hi), n)


def _search(trials: _Trials, centre: float, analytic: bool) -> dict:
    """Coarse log grid around ``centre``, widened at the edges, then bisection on log alpha."""
    # Analytic costs are cheap enough for a dense grid (their landscapes can have narrow
    # windows, e.g. the learning rates that jump a hill); a model pays per learning rate.
    per_decade, rounds = (8, 3) if analytic else (2, 3)
    h = 1.0 / per_decade  # grid spacing, in decades
    trials.run(_grid(centre / 100, centre * 1000, per_decade))
    coarse = len(trials.final)
    for _ in range(4):
        lrs, _ = trials.table()
        best = trials.best()
        if best == lrs[-1] and lrs[-1] < _LR_CEIL:
            # Still improving at the largest rate tried, and nothing above failed: look higher.
            trials.run(_grid(lrs[-1], lrs[-1] * 100, per_decade)[1:])
        elif best == lrs[0] and lrs[0] > _LR_FLOOR:
            # The smallest rate tried is the best: every larger one did worse; look lower.
            trials.run(_grid(lrs[0] / 100, lrs[0], per_decade)[:-1])
        else:
            break
    widened = len(trials.final) - coarse
    for _ in range(rounds):
        h /= 2
        best = trials.best()
        trials.run([best * 10**-h, best * 10**h])
    return {
        "coarse": coarse,
        "widened": widened,
        "refined": len(trials.final) - coarse - widened,
        "resolution": 10**h,
    }


def _choose(trials: _Trials) -> tuple[float, float, float | None]:
    """(recommended, best, edge): the best tried lr at least ``SAFETY`` below the edge."""
    best = trials.best()
    edge = trials.edge()
    if edge is None:
        return best, best, edge
    safe = edge / SAFETY
    if best > safe:
        trials.run([safe])  # the best may lie beyond the edge, or within SAFETY of it
    lrs, finals = trials.table()
    below = lrs <= safe * (1 + 1e-12)
    return float(lrs[below][int(np.argmin(finals[below]))]), best, edge


def _check_progress(trials: _Trials) -> None:
    """Refuse when no learning rate lowered the cost, or one lowered it without bound."""
    lrs, finals = trials.table()
    best, f0 = float(np.min(finals)), trials.f0
    span = f"from {lrs[0]:.3g} to {lrs[-1]:.3g}"
    # A drop within the rounding error of the cost is no drop at all.
    if not math.isfinite(best):
        raise ValueError(
            f"objective: gradient descent diverged for every learning rate {span}; the cost "
            "may be unbounded below or overflow"
        )
    if not f0 - best > 4 * torch.finfo(trials.f.dtype).eps * max(abs(f0), 1e-30):
        raise ValueError(
            f"start: no learning rate {span} lowered the cost from its start value {f0:.6g}; "
            "gradient descent cannot move from there (a stationary point, e.g. a minimum): "
            "choose another start"
        )
    if f0 - best > 1e12 * max(abs(f0), 1.0):
        raise ValueError(
            f"objective: the cost fell without bound along gradient descent ({f0:.3g} -> "
            f"{best:.3g}): it has no minimum to choose a learning rate for"
        )


# --------------------------------------------------------------------------- the whole


def suggest(
    f,
    steps: int | None = None,
    *,
    start=None,
    seed: int = 0,
    optimizer=None,
    progress: Progress | None = None,
) -> Suggestion:
    """Recommend a learning rate for ``steps`` steps of gradient descent (or another
    torch.optim rule) on ``f``.

    The sweep decides: the learning rate whose run ends lowest after ``steps`` steps, found on
    a log grid around ``1/L`` (``L``: the largest sharpness at the start and along a short
    run), widened while the best sits at an edge and refined by bisection on ``log alpha``.
    It is kept at least ``SAFETY`` (1.25) times below the edge: the first learning rate above
    the good ones whose run failed (lost more than 1% of the best progress). The curvature bound
    (``1/L`` safe, ``2/L`` ceiling) and, for models and dataset problems, an LR range test
    with the same optimizer on a private copy of the parameters are reported beside it; ``agree`` says
    whether all three lie within a factor ``AGREE_FACTOR`` (3).

    Args:
        f: an objective or anything :func:`lrlab.objective` takes (a name, an expression, an
            ``Objective`` built from a user's model). A user's model is never modified.
        steps: the training budget the learning rate should be best for, 1 to 100,000;
            default 200 for analytic costs and 100 for models and dataset problems.
        start: the starting point (``dim`` numbers); None uses the objective's.
        seed: seeds the random start vectors of the curvature estimates.
        optimizer: the rule to train with: ``"sgd"`` (default), ``"adam"``, ... or a rule
            from :mod:`lrlab.optim`. The sweep and the range test use it; the curvature bound
            is its stability limit (none for adaptive rules, which then leave the choice to
            the sweep and the range test).
        progress: called as ``progress(done, total)`` after each stage, and with the same
            counts within a stage's loops, so that an exception it raises (a deadline, a
            cancel) stops the work soon.

    Returns:
        A :class:`Suggestion`.

    Raises:
        TypeError: ``steps``, ``seed`` or ``progress`` of the wrong type, or an objective
            :func:`lrlab.objective` does not accept.
        ValueError: out-of-range values; a cost that is not finite at the start; a start
            that no learning rate moves from (a stationary point); a cost that gradient
            descent lowers without bound, or that every learning rate tried diverges on.

    Example:
        >>> s = suggest("rosenbrock", steps=100)
        >>> s.lr < s.lr_max, set(s.methods) == {"curvature", "sweep"}
        (True, True)
    """
    f = objective(f)
    rule = _optim.get(optimizer)
    if rule.swept:
        _checks.fail(
            "optimizer", rule.to_dict(), "a suggestion is for one value of each hyperparameter"
        )
    steps = (
        DEFAULT_STEPS.get(f.kind, 100)
        if steps is None
        else _checks.int_in_range("steps", steps, 1, MAX_STEPS)
    )
    seed = _checks.int_in_range("seed", seed, 0, 2**63 - 1)
    if progress is not None and not callable(progress):
        _checks.fail(
            "progress", progress, "expected a callable progress(done, total) or None", TypeError
        )
    w0 = f.point(start)
    f0 = f.loss(w0)
    _checks.finite_cost("start", w0, f0)
    models = f.kind in ("dataset", "model")
    total, done = (4 if models else 3), 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    def poll(*_inner) -> None:
        if progress is not None:
            progress(done, total)

    curv = _curvature(f, w0, steps, seed, rule, poll)
    tick()
    methods: dict[str, dict] = {"curvature": curv}
    if models:
        methods["range_test"] = _range_test(f, w0, curv, rule)
        tick()
    centre = curv["lr"] or (methods.get("range_test", {}).get("lr")) or 1e-2
    trials = _Trials(f, w0, steps, f0, rule, poll)
    search = _search(trials, centre, analytic=not models)
    tick()
    _check_progress(trials)
    lr, best, edge = _choose(trials)
    tick()

    lrs, finals = trials.table()
    curv_max = curv["lr_max"]
    if edge is not None:
        lr_max = min(edge, curv_max) if curv_max is not None and curv_max > lr else edge
    elif curv_max is not None and curv_max > lr:
        lr_max = curv_max
    else:
        blow = methods.get("range_test", {}).get("blow_up")
        lr_max = blow if blow is not None and blow > lr else float(lrs[-1])
    methods["sweep"] = {
        "lr": lr,
        "best_lr": best,
        "first_failing_lr": edge,
        "final_loss": trials.final[lr],
        "best_final_loss": trials.final[best],
        "start_loss": f0,
        "steps": steps,
        "lrs": lrs.tolist(),
        "final_losses": finals.tolist(),
        **search,
    }
    answers = [m["lr"] for m in methods.values() if m.get("lr")]
    agree = max(answers) / min(answers) <= AGREE_FACTOR
    text = _explain(methods, lr, lr_max, agree, steps, rule)
    return Suggestion(
        lr=lr,
        lr_max=float(lr_max),
        methods=methods,
        agree=bool(agree),
        steps=steps,
        explanation=text,
        objective=f.name,
        optimizer=rule.to_dict(),
    )


def _explain(methods: dict, lr: float, lr_max: float, agree: bool, steps: int, rule) -> str:
    c, s = methods["curvature"], methods["sweep"]
    parts = []
    if rule.adaptive and c["sharpness"] is not None:
        parts.append(
            f"Curvature: the sharpness is L = {_g(c['sharpness'])}, but {rule.name} rescales "
            "each coordinate's step by its gradient history, so 1/L and 2/L do not bound its "
            "learning rate; the sweep decides alone."
        )
    elif c["lr"] is not None:
        moved = c["sharpness"] > c["sharpness_start"] * 1.01
        seen = (
            f"{_g(c['sharpness_start'])} at the start and L = {_g(c['sharpness'])} at most "
            "along a short run"
            if moved
            else f"L = {_g(c['sharpness'])} at the start"
        )
        if rule.plain or (rule.momentum == 0 and not rule.nesterov):
            bound = (
                f"so 1/L = {_g(c['lr'])} is the classic safe step and 2/L = "
                f"{_g(c['lr_max'])} the stability ceiling of a quadratic."
            )
        else:
            kind = "Nesterov" if rule.nesterov else "heavy-ball"
            bound = (
                f"and with {kind} momentum {rule.momentum:g} a quadratic stays stable up to "
                f"{_g(c['lr_max'])} (2/L for plain SGD); half of it, {_g(c['lr'])}, is the "
                "safe step."
            )
        parts.append(f"Curvature: the sharpness is {seen}, {bound}")
    else:
        parts.append(
            f"Curvature: the top Hessian eigenvalue is {_g(c['sharpness_start'])} at the start, "
            "no positive curvature, so it sets no bound on the learning rate."
        )
    rt = methods.get("range_test")
    if rt is not None:
        if rt["lr"] is not None:
            blow = f", and the loss blew up at {_g(rt['blow_up'])}" if rt["blow_up"] else ""
            parts.append(
                f"Range test: {rule.name} with a learning rate growing from {_g(rt['start_lr'])} to "
                f"{_g(rt['end_lr'])} suggests {_g(rt['lr'])} ({rt['method']} rule){blow}."
            )
        else:
            reason = rt.get("error") or "; ".join(rt.get("notes", [])) or "no clear descent"
            parts.append(f"Range test: no suggestion ({reason}).")
    parts.append(
        f"Sweep: {len(s['lrs'])} learning rates, each run for {steps} steps from the same start; "
        f"the lowest final cost, {_g(s['best_final_loss'])} (from {_g(s['start_loss'])}), came "
        f"at {_g(s['best_lr'])}"
        + (
            f"; from {_g(s['first_failing_lr'])} up, runs fail (they diverge, bounce or land "
            "worse, losing more than 1% of the best progress)."
            if s["first_failing_lr"] is not None
            else "; no larger one failed."
        )
    )
    if lr != s["best_lr"]:
        parts.append(
            f"Recommended {_g(lr)}: the best is too close to that edge (or beyond it), so "
            f"this is the best at least {SAFETY}x below the edge (final cost "
            f"{_g(s['final_loss'])})."
        )
    else:
        parts.append(f"Recommended {_g(lr)}: the best for a budget of {steps} steps.")
    parts.append(f"Above {_g(lr_max)} expect instability.")
    if not agree:
        why = []
        if c["lr"] is not None and lr > AGREE_FACTOR * c["lr"]:
            why.append(
                "the curvature bound is cautious here: the sharpness changes along the "
                "run (on networks it settles at 2/lr, the edge of stability)"
            )
        if rt is not None and rt["lr"] is not None and lr > AGREE_FACTOR * rt["lr"]:
            why.append(
                "the range test reads a short run whose learning rate keeps growing, not "
                "this budget"
            )
        if why:
            parts.append(
                "The methods disagree; the sweep measured the budget itself, so it "
                "decides: " + "; ".join(why) + "."
            )
        else:
            parts.append(
                "The methods disagree; the sweep measured the budget itself, so it decides."
            )
    else:
        parts.append("The methods agree within a factor of 3.")
    return " ".join(parts)
