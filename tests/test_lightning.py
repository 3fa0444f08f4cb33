"""LRLabCallback in a real Lightning Trainer on the CPU: against 2/L, and against a twin run."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import torch
import yaml

pl = pytest.importorskip("pytorch_lightning")
from pytorch_lightning.loggers import CSVLogger  # noqa: E402

from lrlab import REGIMES  # noqa: E402
from lrlab.integrations.lightning import LRLabCallback  # noqa: E402
from lrlab.monitor import RegimeWarning  # noqa: E402

N, D = 64, 4
RANGE = {"num_iter": 50, "start_lr": 1e-3, "end_lr": 3.0}


class Regression(pl.LightningModule):
    """Linear least squares; two parameter groups (weight, bias) at a 10:1 ratio of lrs."""

    def __init__(self, lr: float, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Linear(D, 1)
        self.lr = lr

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=False)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(
            [
                {"params": [self.net.weight], "lr": self.lr},
                {"params": [self.net.bias], "lr": self.lr / 10},
            ]
        )


def data(seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, D, generator=g) * torch.tensor([1.0, 2.0, 0.5, 1.5])
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(N, 1, generator=g)
    return x, y


def sharpness_of_weights(x):
    """The largest Hessian eigenvalue of mean((x w - y)^2) in w: 2/N * lambda_max(x^T x)."""
    a = x.double().numpy()
    return 2 / N * np.linalg.eigvalsh(a.T @ a).max()


def trainer(tmp_path, callbacks, steps=None, epochs=1):
    return pl.Trainer(
        max_epochs=epochs,
        max_steps=steps or -1,
        callbacks=callbacks,
        logger=CSVLogger(str(tmp_path)),
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        accelerator="cpu",
        num_sanity_val_steps=0,
    )


def full_batches(steps):
    """The whole data set as one batch, ``steps`` times: plain gradient descent."""
    x, y = data()
    return torch.utils.data.DataLoader([(x, y)] * steps, batch_size=None)


def rows(logger):
    with open(f"{logger.log_dir}/metrics.csv") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("factor, regime", [(1.3, "diverging"), (0.5, "good")])
def test_regime_follows_the_stability_limit_2_over_L(tmp_path, factor, regime):
    # the bias gets a tenth of the rate, so the weights' sharpness decides: GD diverges iff
    # lr > 2 / L there
    lr = factor * 2 / sharpness_of_weights(data()[0])
    cb = LRLabCallback(check_every=20)
    t = trainer(tmp_path, [cb])
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        t.fit(Regression(lr), full_batches(300))
    ours = [w for w in got if issubclass(w.category, RegimeWarning)]
    assert cb.monitor_.count == 300 and cb.monitor_.regime == regime
    if regime == "diverging":
        assert len(ours) == 1 and "turned diverging" in str(ours[0].message)
    else:
        assert ours == []
    logged = [r["lrlab/regime"] for r in rows(t.logger) if r.get("lrlab/regime")]
    assert logged and float(logged[-1]) == REGIMES.index(regime)
    with open(f"{t.logger.log_dir}/hparams.yaml") as fh:
        hparams = yaml.safe_load(fh)
    assert hparams["lrlab/regime"] == regime and hparams["lrlab/advice"] == (
        cb.monitor_.diagnosis.advice
    )


def minibatches():
    x, y = data()
    return torch.utils.data.DataLoader(list(zip(x, y)), batch_size=8, shuffle=True)


def final_weights(tmp_path, callbacks):
    torch.manual_seed(123)  # the loader's shuffling draws from the global generator
    model = Regression(0.05)
    t = trainer(tmp_path, callbacks, epochs=3)
    t.fit(model, minibatches())
    return model, t


def test_a_range_test_before_training_changes_nothing_when_not_applied(tmp_path):
    plain, _ = final_weights(tmp_path / "plain", [])
    cb = LRLabCallback(range_test=RANGE, apply_lr=False)
    tested, t = final_weights(tmp_path / "tested", [cb])
    rt = cb.range_test_
    assert rt is not None and rt.recommended is not None and 5 <= len(rt.lrs) <= 50
    # the ratios of the groups were kept during the test: read from the optimizer's groups
    assert rt.settings["group_ratios"] == pytest.approx([1.0, 0.1])
    for a, b in zip(plain.parameters(), tested.parameters(), strict=True):
        assert torch.equal(a, b)  # the same training, bit for bit, as without the test
    logged = rows(t.logger)
    # training_step's self.log calls during the test reached no log: 8 batches x 3 epochs
    assert sum(1 for r in logged if r.get("train_loss")) == 24
    assert [float(r["lrlab/range_test_lr"]) for r in logged if r.get("lrlab/range_test_lr")] == [
        pytest.approx(rt.recommended)
    ]


def test_the_recommended_rates_are_applied_per_group(tmp_path):
    seen = []

    class FirstLr(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if not seen:
                seen.extend(g["lr"] for g in trainer.optimizers[0].param_groups)

    cb = LRLabCallback(range_test=RANGE)
    final_weights(tmp_path, [cb, FirstLr()])
    rec = cb.range_test_.recommended_groups
    assert rec is not None and seen == pytest.approx(rec)
    assert seen[1] / seen[0] == pytest.approx(0.1)


def test_bad_options():
    with pytest.raises(TypeError, match="range_test=.* is invalid"):
        LRLabCallback(range_test="yes")
    with pytest.raises(ValueError, match="check_every"):
        LRLabCallback(check_every=0)
