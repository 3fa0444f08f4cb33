"""lrlab in PyTorch Lightning: the live monitor during ``fit``, and a range test before it.

:class:`LRLabCallback` is a ``pytorch_lightning.Callback``. During ``fit`` it feeds every
training batch's loss to a :class:`lrlab.Monitor` (the budget is the trainer's
``estimated_stepping_batches``, the learning rate the first parameter group's, read as a
schedule changes it). Each time the run turns to another regime it logs, to every logger of
the trainer, ``lrlab/regime`` (the index of the regime in ``lrlab.REGIMES``),
``lrlab/confidence`` and, when there is one, ``lrlab/next_lr``; loggers that take text
(TensorBoard) get the advice too. When the run turns diverging, too_high, too_low or stuck,
the monitor warns (``warnings`` and the ``lrlab`` logger) with the advice. At the end of
``fit`` the final ``lrlab/regime`` and ``lrlab/advice`` go to each logger's hyperparameters
(``hparams.yaml`` for the ``CSVLogger``).

With ``range_test=True`` (or a dict of :func:`lrlab.range_test` options) the callback runs an
LR range test when training starts, on the trainer's training batches, through the module's
own ``training_step`` (``step_fn=``), with the trainer's precision, gradient clipping,
gradient accumulation, scaler and scheduler. :func:`lrlab.range_test` puts the model, the
optimizer, the scheduler, the scaler and every random generator back exactly; then, with
``apply_lr=True`` and no scheduler owning the learning rate, each parameter group starts
training at its recommended rate. The result is kept in ``range_test_``.

During the range test ``training_step`` runs outside the trainer's loop: its ``self.log``
calls are skipped, and a ``training_step`` that reads ``self.trainer`` needs its own
``step_fn`` in the ``range_test`` dict.

Install with ``pip install 'lrlab[lightning]'``.

Example:
    >>> import torch, pytorch_lightning as pl
    >>> class Regression(pl.LightningModule):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.net = torch.nn.Linear(4, 1)
    ...     def training_step(self, batch, batch_idx):
    ...         x, y = batch
    ...         return torch.nn.functional.mse_loss(self.net(x), y)
    ...     def configure_optimizers(self):
    ...         return torch.optim.SGD(self.parameters(), lr=0.05)
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(256, 4)
    >>> data = torch.utils.data.DataLoader(list(zip(x, x.sum(1, keepdim=True))), batch_size=32)
    >>> callback = LRLabCallback()
    >>> trainer = pl.Trainer(max_epochs=20, callbacks=[callback], logger=False,
    ...                      enable_progress_bar=False, enable_checkpointing=False,
    ...                      enable_model_summary=False)
    >>> trainer.fit(Regression(), data)
    >>> callback.monitor_.regime, callback.monitor_.count
    ('good', 160)
"""

from __future__ import annotations

import itertools
import logging
import math
import warnings
from collections.abc import Mapping
from typing import Any

import torch

try:
    import pytorch_lightning as pl
except ImportError as exc:  # the optional extra is missing
    raise ImportError(
        "lrlab.integrations.lightning needs PyTorch Lightning: pip install 'lrlab[lightning]'"
    ) from exc

from .. import _checks
from ..monitor import Monitor
from ..range_test import RangeTest
from ..range_test import range_test as run_range_test
from ..regimes import REGIMES

__all__ = ["LRLabCallback"]

logger = logging.getLogger("lrlab")

# Lightning's precision settings that autocast, as lrlab.range_test names them; the others
# ("32-true", "bf16-true", "64-true"...) run the model as it is.
_AUTOCAST = {"bf16-mixed": "bf16", "16-mixed": "fp16"}


class LRLabCallback(pl.Callback):
    """Diagnose a Lightning run while it trains; optionally range-test the LR before it.

    Args:
        range_test: ``True`` runs :func:`lrlab.range_test` when training starts; a dict
            runs it with these options (``num_iter``, ``end_lr``, ``step_fn``...).
        apply_lr: after a range test, start training at the recommended learning rate of
            each parameter group (not when a scheduler owns the learning rate).
        floor: the best reachable training loss, when known.
        check_every: the monitor's ``check_every``.
        warn: warn when the run turns bad (on the main process only).
        store: record the monitored run in this store (see :class:`lrlab.Monitor`).
        name: the record's name (default: the module's class name).

    Attributes:
        monitor_: the :class:`lrlab.Monitor` of the last ``fit``.
        range_test_: the :class:`lrlab.RangeTest` of the last range test, or None.

    Example:
        >>> LRLabCallback(range_test={"num_iter": 50}).range_test
        {'num_iter': 50}
    """

    def __init__(
        self,
        *,
        range_test: bool | Mapping[str, Any] = False,
        apply_lr: bool = True,
        floor: float | None = None,
        check_every: int = 100,
        warn: bool = True,
        store: Any = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(range_test, (bool, Mapping)):
            _checks.fail(
                "range_test", range_test, "expected True, False or a dict of options", TypeError
            )
        for flag, value in (("apply_lr", apply_lr), ("warn", warn)):
            if not isinstance(value, bool):
                _checks.fail(flag, value, "expected True or False", TypeError)
        self.range_test = dict(range_test) if isinstance(range_test, Mapping) else range_test
        self.apply_lr = apply_lr
        self.floor = None if floor is None else _checks.finite_float("floor", floor)
        self.check_every = _checks.int_in_range("check_every", check_every, 1, 10**12)
        self.warn = warn
        self.store = store
        self.name = name
        self.monitor_: Monitor | None = None
        self.range_test_: RangeTest | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._lr: float | None = None

    # -- hooks ---------------------------------------------------------------------------------

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._optimizer = trainer.optimizers[0] if trainer.optimizers else None
        if self.range_test is not False and self._optimizer is not None:
            self._run_range_test(trainer, pl_module, self._optimizer)
        self._lr = None if self._optimizer is None else self._optimizer.param_groups[0]["lr"]
        budget = trainer.estimated_stepping_batches
        batches = (
            int(budget) * trainer.accumulate_grad_batches
            if isinstance(budget, (int, float)) and math.isfinite(budget) and budget > 0
            else None
        )
        main = trainer.is_global_zero
        self.monitor_ = Monitor(
            lr=self._lr,
            floor=self.floor,
            steps=batches,
            check_every=self.check_every,
            warn=self.warn and main,
            store=self.store if main else None,
            name=self.name or type(pl_module).__name__,
        )

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        mon = self.monitor_
        if loss is None or mon is None:  # training_step skipped the batch
            return
        if self._optimizer is not None:
            lr = self._optimizer.param_groups[0]["lr"]
            if lr != self._lr:  # a schedule moved it: the advice follows
                self._lr = mon.lr = lr
        turns = len(mon.turns)
        mon.update(loss)
        if len(mon.turns) != turns:
            self._log_turn(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        mon = self.monitor_
        if mon is None:
            return
        d = mon.diagnosis
        if d is not None:
            for lg in trainer.loggers:
                lg.log_hyperparams({"lrlab/regime": d.regime, "lrlab/advice": d.advice})
        mon.close()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if self.monitor_ is not None:
            self.monitor_.close(status="interrupted")

    # -- logging -------------------------------------------------------------------------------

    def _log_turn(self, trainer: pl.Trainer) -> None:
        d = self.monitor_.diagnosis
        metrics = {"lrlab/regime": REGIMES.index(d.regime), "lrlab/confidence": d.confidence}
        if d.next_lr is not None:
            metrics["lrlab/next_lr"] = d.next_lr
        for lg in trainer.loggers:
            lg.log_metrics(metrics, step=trainer.global_step)
            add_text = getattr(getattr(lg, "experiment", None), "add_text", None)
            if callable(add_text):  # TensorBoard's SummaryWriter
                add_text(
                    "lrlab", f"{d.regime} ({d.confidence:.2f}): {d.advice}", trainer.global_step
                )

    # -- the range test ------------------------------------------------------------------------

    def _run_range_test(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        options = dict(self.range_test) if isinstance(self.range_test, Mapping) else {}
        configs = trainer.lr_scheduler_configs
        scheduler = configs[0].scheduler if configs else None
        options.setdefault("precision", _AUTOCAST.get(str(trainer.precision)))
        options.setdefault("scaler", getattr(trainer.precision_plugin, "scaler", None))
        options.setdefault("accumulation_steps", trainer.accumulate_grad_batches)
        if trainer.gradient_clip_val and trainer.gradient_clip_algorithm == "norm":
            options.setdefault("max_grad_norm", float(trainer.gradient_clip_val))
        if "step_fn" not in options:
            batch_idx = itertools.count()
            options["step_fn"] = lambda model, batch: _training_loss(model, batch, next(batch_idx))
        rt = run_range_test(
            pl_module, None, trainer.train_dataloader, optimizer, scheduler=scheduler, **options
        )
        self.range_test_ = rt
        rec = rt.recommended_groups
        if rec is None:
            logger.warning("lrlab: the range test found no learning rate to recommend")
            return
        for lg in trainer.loggers:
            lg.log_metrics({"lrlab/range_test_lr": rt.recommended}, step=trainer.global_step)
        if not self.apply_lr:
            logger.info("lrlab: the range test recommends lr %.3g", rt.recommended)
        elif scheduler is not None:
            logger.warning(
                "lrlab: the range test recommends lr %.3g; not applied, because a scheduler "
                "sets the learning rate (pass it to the scheduler, e.g. as max_lr)",
                rt.recommended,
            )
        else:
            for group, lr in zip(optimizer.param_groups, rec, strict=True):
                group["lr"] = lr
            logger.info("lrlab: training starts at the range test's lr %.3g", rt.recommended)


def _training_loss(module: pl.LightningModule, batch: Any, batch_idx: int) -> torch.Tensor:
    """The loss of ``training_step`` run outside the trainer's loop, for the range test."""
    trainer = module.trainer
    # Detached from the trainer, self.log() is skipped (with a warning, silenced here): the
    # range test's steps are not training's, and must not reach its logs or its metrics.
    module.trainer = None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*self\.log\(\)")
            out = module.training_step(batch, batch_idx)
    except RuntimeError as exc:
        if "not attached to a `Trainer`" not in str(exc):
            raise
        raise TypeError(
            f"{type(module).__name__}.training_step reads self.trainer, which the range test "
            "runs without: pass range_test={'step_fn': f} with f(model, batch) -> loss"
        ) from None
    finally:
        module.trainer = trainer
    loss = out.get("loss") if isinstance(out, Mapping) else out
    if not isinstance(loss, torch.Tensor):
        raise TypeError(
            f"{type(module).__name__}.training_step returned {type(out).__name__}; the range "
            "test needs the loss (a tensor, or a dict with 'loss')"
        )
    return loss
