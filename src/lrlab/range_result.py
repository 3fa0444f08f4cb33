"""The result of an LR range test: the recorded curve, what it suggests, JSON and a picture.

:class:`RangeTest` keeps the raw losses (and validation losses) of a run, so a curve can be
read again with other options (:meth:`RangeTest.suggest`) or saved and loaded exactly
(:meth:`RangeTest.to_json`, :meth:`RangeTest.from_json`) without running anything; the reading
itself lives in :mod:`lrlab.range_curve`.

Example:
    >>> import numpy as np
    >>> rt = RangeTest.from_curve(np.geomspace(1e-4, 1, 8), [3, 2.5, 2, 1.5, 1, 1.2, 3, 9])
    >>> RangeTest.from_json(rt.to_json()) == rt
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _checks
from ._format import json_list, json_safe
from .range_curve import RULES, check_smoothing, read_curve
from .restoring import _Short

__all__ = ["MAX_NUM_ITER", "RangeTest"]

#: The longest curve a range test records (and the largest skip or window it reads with).
MAX_NUM_ITER = 100_000


def _array(name: str, values: object) -> np.ndarray:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        _checks.fail(name, _Short(values), "expected a sequence of numbers", TypeError)
    try:
        arr = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        _checks.fail(name, _Short(values), "expected a sequence of numbers (or null)", TypeError)
    if arr.ndim != 1:
        _checks.fail(name, _Short(values), "expected a flat sequence of numbers")
    arr.flags.writeable = False  # a frozen result should not change under its owner's feet
    return arr


def _option(settings: Mapping, key: str, given: object, default: object) -> object:
    """An explicit option, else the one the result was read with, else the default."""
    if given is not None:
        return given
    saved = settings.get(key)
    return default if saved is None else saved


@dataclass(frozen=True, eq=False)
class RangeTest:
    """The recorded curve of a learning-rate range test and what it suggests.

    Attributes:
        lrs: The learning rate of each iteration that ran.
        losses: The raw training loss of each iteration, measured before its optimizer step;
            with gradient accumulation, the mean over the accumulated micro-batches. A last
            non-finite value is kept: it is why the test stopped.
        smoothed: Bias-corrected EMA, with ``beta = 1 - smoothing``, of the curve the
            suggestions are read from: ``val_losses`` when there are some, else ``losses``.
        stopped_early: Whether the test ended because the loss diverged (the smoothed loss
            rose above ``diverge_factor`` times its best) or stopped being finite.
        suggestions: ``"steepest"``, ``"valley"``, ``"min_div_10"`` and ``"min_div_3"``
            (see :mod:`lrlab.range_curve`), each a learning rate or
            ``None`` where the curve cannot say.
        recommended: The suggestion the rule picked, or ``None``.
        method: The name of the recommended suggestion, or ``"none"``.
        settings: How the test ran (``start_lr``, ``end_lr``, ``num_iter``, ``mode``,
            ``smoothing``, ``diverge_factor``, ``accumulation_steps``) and how it was read
            (``skip_start``, ``skip_end``, ``window``, ``rule``).
        notes: Plain-words remarks on the curve (why a suggestion is missing, or that the
            range was too narrow).
        val_losses: With a validation loader, the validation loss after each iteration's
            step (Smith's variant), else ``None``.

    With several parameter groups, ``lrs`` are the rates of the group that started with the
    largest one and every other group kept its ratio to it (``settings["group_ratios"]``);
    :attr:`recommended_groups` and :attr:`group_suggestions` give each group's rate.

    Example:
        >>> import numpy as np
        >>> lrs = np.geomspace(1e-5, 10, 100)
        >>> losses = 2.0 - 1.5 / (1 + np.exp(-(np.log10(lrs) + 2) * 3))
        >>> rt = RangeTest.from_curve(lrs, losses)
        >>> round(float(np.log10(rt.suggestions["steepest"])), 1)
        -2.0
        >>> RangeTest.from_json(rt.to_json()) == rt
        True

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks" (2017); fastai
        ``lr_find``; torch-lr-finder ``LRFinder``.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stopped_early: bool
    suggestions: dict[str, float | None]
    recommended: float | None
    method: str
    settings: dict
    notes: tuple[str, ...] = ()
    val_losses: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("lrs", "losses", "smoothed"):
            object.__setattr__(self, name, _array(name, getattr(self, name)))
        if self.val_losses is not None:
            object.__setattr__(self, "val_losses", _array("val_losses", self.val_losses))
        lengths = [len(self.lrs), len(self.losses), len(self.smoothed)]
        if self.val_losses is not None:
            lengths.append(len(self.val_losses))
        if len(set(lengths)) != 1:
            _checks.fail(
                "losses",
                _Short(self.losses),
                f"lrs, losses, smoothed (and val_losses) must have one length; got {lengths}",
            )
        object.__setattr__(self, "stopped_early", bool(self.stopped_early))
        object.__setattr__(self, "suggestions", dict(self.suggestions))
        object.__setattr__(self, "settings", dict(self.settings))
        object.__setattr__(self, "notes", tuple(self.notes))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RangeTest):
            return NotImplemented
        if (self.val_losses is None) != (other.val_losses is None):
            return False
        return (
            all(
                np.array_equal(getattr(self, k), getattr(other, k), equal_nan=True)
                for k in ("lrs", "losses", "smoothed", "val_losses")
                if getattr(self, k) is not None
            )
            and (self.stopped_early, self.suggestions, self.recommended, self.method)
            == (other.stopped_early, other.suggestions, other.recommended, other.method)
            and self.settings == other.settings
            and self.notes == other.notes
        )

    __hash__ = None  # equal by value but mutable inside (dicts): not hashable

    @property
    def recommended_groups(self) -> list[float] | None:
        """The recommended learning rate of each parameter group, in the optimizer's order.

        Example:
            >>> import numpy as np
            >>> lrs = np.geomspace(1e-5, 10, 100)
            >>> rt = RangeTest.from_curve(lrs, 2 - 1.5 / (1 + np.exp(-(np.log10(lrs) + 2) * 3)),
            ...                           settings={"group_ratios": [1.0, 0.1]})
            >>> [round(lr / rt.recommended, 6) for lr in rt.recommended_groups]
            [1.0, 0.1]
        """
        if self.recommended is None:
            return None
        return [self.recommended * r for r in self.settings.get("group_ratios") or [1.0]]

    @property
    def group_suggestions(self) -> dict[str, list[float] | None]:
        """Each suggestion as one learning rate per parameter group (``None`` where missing).

        Example:
            >>> rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1, 1, 10], [3, 2, 1, 2, 9],
            ...                           settings={"group_ratios": [1.0, 0.5]})
            >>> sorted(rt.group_suggestions)
            ['min_div_10', 'min_div_3', 'steepest', 'valley']
        """
        ratios = self.settings.get("group_ratios") or [1.0]
        return {
            m: None if lr is None else [lr * r for r in ratios]
            for m, lr in self.suggestions.items()
        }

    @classmethod
    def from_curve(
        cls,
        lrs: Iterable[float],
        losses: Iterable[float],
        *,
        smoothing: float = 0.05,
        stopped_early: bool = False,
        skip_start: int | None = None,
        skip_end: int = 5,
        window: int | None = None,
        rule: str = "auto",
        settings: Mapping | None = None,
        val_losses: Iterable[float] | None = None,
    ) -> RangeTest:
        """Read suggestions off a recorded curve (from lrlab or any other finder).

        Args:
            lrs: Increasing positive learning rates, one per iteration.
            losses: The raw loss of each iteration (non-finite values end the usable curve).
            val_losses: The validation loss after each iteration, if measured; the
                suggestions are then read from it rather than from ``losses``.
            smoothing: Weight of the newest loss in the EMA, in ``(0, 1]``; 1 turns smoothing
                off. The EMA feeds ``valley`` and ``min_div_10`` (as in fastai).
            stopped_early: Whether the curve ended because the loss diverged.
            skip_start: Leading iterations that no suggestion may pick; default
                ``num_iter // 10`` as in fastai (the first few points describe the start,
                not the learning rate).
            skip_end: Trailing iterations left out of ``valley`` and ``min_div_10``; 5 as in
                fastai (they are the blow-up that stopped the test).
            window: Odd number of points in the centred windows whose least-squares lines
                define ``steepest`` and the minimum of ``min_div_3``; default about
                ``num_iter / 10``.
            rule: ``"auto"`` recommends ``min_div_3``; a method name recommends that one
                (nothing when it is missing).
            settings: How the curve was recorded; merged into :attr:`settings`.

        Returns:
            A :class:`RangeTest` for the curve.

        Why the ``"auto"`` rule recommends ``min_div_3``: see :mod:`lrlab.range_curve`.

        Example:
            >>> import numpy as np
            >>> flat = RangeTest.from_curve(np.geomspace(1e-6, 1, 50), np.ones(50))
            >>> flat.recommended, flat.method
            (None, 'none')
        """
        settings = dict(settings or {})
        lrs_a = _array("lrs", lrs)
        losses_a = _array("losses", losses)
        if len(lrs_a) != len(losses_a):
            _checks.fail("losses", _Short(losses), f"must have one value per lr ({len(lrs_a)})")
        val_a = None if val_losses is None else _array("val_losses", val_losses)
        if val_a is not None and len(val_a) != len(lrs_a):
            _checks.fail(
                "val_losses", _Short(val_losses), f"must have one value per lr ({len(lrs_a)})"
            )
        if len(lrs_a) < 2 or not (np.all(lrs_a > 0) and np.all(np.diff(lrs_a) > 0)):
            _checks.fail("lrs", _Short(lrs), "expected at least 2 increasing positive values")
        smoothing = check_smoothing(smoothing)
        num_iter = int(settings.get("num_iter") or len(lrs_a))
        if skip_start is None:
            skip_start = num_iter // 10
        skip_start = _checks.int_in_range("skip_start", skip_start, 0, MAX_NUM_ITER)
        skip_end = _checks.int_in_range("skip_end", skip_end, 0, MAX_NUM_ITER)
        if window is None:
            window = 2 * max(2, min(num_iter // 20, 100)) + 1
        window = _checks.int_in_range("window", window, 3, 2 * MAX_NUM_ITER + 1)
        if window % 2 == 0:
            _checks.fail("window", window, "must be odd (a window centred on each point)")
        rule = _checks.one_of("rule", rule, RULES)

        read = read_curve(
            lrs_a,
            losses_a if val_a is None else val_a,
            smoothing=smoothing,
            skip_start=skip_start,
            skip_end=skip_end,
            half=window // 2,
            rule=rule,
            stopped_early=bool(stopped_early),
        )
        settings.setdefault("start_lr", float(lrs_a[0]))
        settings.setdefault("end_lr", float(lrs_a[-1]))
        settings.setdefault("num_iter", num_iter)
        settings.setdefault("mode", None)
        settings.setdefault("diverge_factor", None)
        settings.setdefault("accumulation_steps", None)
        settings.update(
            smoothing=smoothing,
            skip_start=skip_start,
            skip_end=skip_end,
            window=window,
            rule=rule,
        )
        return cls(
            lrs=lrs_a,
            losses=losses_a,
            smoothed=read.smoothed,
            stopped_early=stopped_early,
            suggestions=read.suggestions,
            recommended=read.recommended,
            method=read.method,
            settings=settings,
            notes=read.notes,
            val_losses=val_a,
        )

    def suggest(
        self,
        *,
        smoothing: float | None = None,
        skip_start: int | None = None,
        skip_end: int | None = None,
        window: int | None = None,
        rule: str | None = None,
    ) -> RangeTest:
        """Read the saved curve again with other options, without running anything.

        Options left at ``None`` keep their current values (see :meth:`from_curve`). The
        divergence stop was decided during the run with the smoothing it had then; a new
        ``smoothing`` changes :attr:`smoothed` and the suggestions, not where the run ended.

        Returns:
            A new :class:`RangeTest` with the same ``lrs`` and ``losses``.

        Example:
            >>> import numpy as np
            >>> lrs = np.geomspace(1e-5, 10, 100)
            >>> rt = RangeTest.from_curve(lrs, 1 / (1 + lrs))
            >>> rt.suggest(smoothing=0.2).settings["smoothing"]
            0.2
        """
        s = self.settings
        return RangeTest.from_curve(
            self.lrs,
            self.losses,
            smoothing=_option(s, "smoothing", smoothing, 0.05),
            stopped_early=self.stopped_early,
            skip_start=_option(s, "skip_start", skip_start, None),
            skip_end=_option(s, "skip_end", skip_end, 5),
            window=_option(s, "window", window, None),
            rule=_option(s, "rule", rule, "auto"),
            settings=s,
            val_losses=self.val_losses,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; non-finite losses become ``None`` (read back as NaN).

        Example:
            >>> rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1, 1, 10], [3, 2, 1, 2, 9])
            >>> sorted(rt.to_dict())[:3]
            ['losses', 'lrs', 'method']
        """
        return {
            "lrs": json_list(self.lrs),
            "losses": json_list(self.losses),
            "val_losses": json_list(self.val_losses),
            "smoothed": json_list(self.smoothed),
            "stopped_early": self.stopped_early,
            "suggestions": json_safe(self.suggestions),
            "recommended": json_safe(self.recommended),
            "method": self.method,
            "settings": json_safe(self.settings),
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        """The result as one JSON object (strict JSON: no NaN or infinity).

        Example:
            >>> rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1, 1, 10], [3, 2, 1, 2, 9])
            >>> rt.to_json().startswith('{"lrs"')
            True
        """
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RangeTest:
        """Rebuild a result from :meth:`to_dict` output, exactly as it was saved.

        Example:
            >>> rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1, 1, 10], [3, 2, 1, 2, 9])
            >>> RangeTest.from_dict(rt.to_dict()) == rt
            True
        """
        if not isinstance(data, Mapping):
            _checks.fail(
                "data", _Short(data), "expected a mapping from RangeTest.to_dict", TypeError
            )
        required = (
            "lrs",
            "losses",
            "smoothed",
            "stopped_early",
            "suggestions",
            "recommended",
            "method",
            "settings",
        )
        missing = [k for k in required if k not in data]
        if missing:
            _checks.fail("data", _Short(data), f"missing keys {', '.join(missing)}")
        suggestions = data["suggestions"]
        if not isinstance(suggestions, Mapping) or not isinstance(data["settings"], Mapping):
            _checks.fail(
                "data", _Short(data), "suggestions and settings must be mappings", TypeError
            )
        rec = data["recommended"]
        return cls(
            lrs=data["lrs"],
            losses=data["losses"],
            smoothed=data["smoothed"],
            stopped_early=bool(data["stopped_early"]),
            suggestions={str(k): (None if v is None else float(v)) for k, v in suggestions.items()},
            recommended=None if rec is None else float(rec),
            method=str(data["method"]),
            settings=dict(data["settings"]),
            notes=tuple(str(n) for n in data.get("notes", ())),
            val_losses=data.get("val_losses"),
        )

    @classmethod
    def from_json(cls, text: str) -> RangeTest:
        """Rebuild a result from :meth:`to_json` output.

        Example:
            >>> rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1, 1, 10], [3, 2, 1, 2, 9])
            >>> RangeTest.from_json(rt.to_json()) == rt
            True
        """
        if not isinstance(text, (str, bytes, bytearray)):
            _checks.fail("text", _Short(text), "expected a JSON string", TypeError)
        return cls.from_dict(json.loads(text))

    def plot(self, ax: Any = None) -> Any:
        """Draw the curve: raw loss faint, smoothed bold, log-x, a marker per suggestion.

        The recommended learning rate is ringed; the y-range follows the descent, so the
        final blow-up does not flatten the picture (see :func:`lrlab.plot.range_test_curve`).

        Args:
            ax: A matplotlib ``Axes`` to draw on; a new figure when ``None``.

        Returns:
            The ``Axes``.

        Example:
            >>> rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1, 1, 10], [3, 2, 1, 2, 9])
            >>> rt.plot().get_xscale()
            'log'
        """
        # Imported here: the pictures load matplotlib, which a finder does not need.
        from . import plot as drawing

        # Data only: the drawing package knows nothing of this class.
        fig = drawing.range_test_curve(
            lrs=self.lrs,
            losses=self.losses if self.val_losses is None else self.val_losses,
            smoothed=self.smoothed,
            suggestions=self.suggestions,
            recommended=self.recommended,
            method=self.method,
            stopped_early=self.stopped_early,
            smoothing=self.settings.get("smoothing"),
            ax=ax,
        )
        return ax if ax is not None else fig.axes[0]
