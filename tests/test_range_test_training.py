"""The range test on the training setups people have, each against an independent oracle.

Oracles: the real torch-lr-finder run on the same model copy and the same batches (the
setups of its own test suite: XOR with extra values per sample, discriminative learning rates,
a validation loader, a part-of-speech tagger fed lists of words), and plain torch.optim loops
written out here with the same exponential ramp and the same batches (dicts, step_fn,
autocast, a gradient scaler, clipping, parameter groups).
"""

from __future__ import annotations

import copy

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from torch_lr_finder import LRFinder
from training_state import assert_same, snapshot

from lrlab import range_test
from lrlab.range_curve import ramp

matplotlib.use("Agg")

# --------------------------------------------------------------------------- the setups of
# torch-lr-finder's test suite (tests/dataset.py, model.py, task.py there), written anew


class XOR(Dataset):
    """8 random bits -> their parity; with ``extras``, each sample carries extra values."""

    def __init__(self, n, extras=0, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randint(0, 2, (n, 8), generator=g).float()
        self.y = (self.x.sum(1, keepdim=True) % 2).float()
        self.extras = torch.randint(0, 2, (n, extras), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return [self.x[i], self.y[i], *self.extras[i]]


def linear_mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 4), nn.Linear(4, 1))


class Tagger(nn.Module):
    """A part-of-speech tagger whose input is a list of words, not a tensor."""

    def __init__(self, vocab, tags, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.index = {w: i for i, w in enumerate(sorted(vocab))}
        self.embed = nn.Embedding(len(self.index), 6)
        self.lstm = nn.LSTM(6, 6)
        self.out = nn.Linear(6, tags)

    def forward(self, words):
        idx = torch.tensor([self.index[w] for w in words], device=self.embed.weight.device)
        h, _ = self.lstm(self.embed(idx).unsqueeze(1))
        return nn.functional.log_softmax(self.out(h.squeeze(1)), dim=1)


SENTENCES = [
    ("the dog ate the apple", [0, 1, 2, 0, 1]),
    ("everybody read that book", [1, 2, 0, 1]),
    ("the quick brown fox jumps over the lazy dog", [0, 3, 3, 1, 2, 4, 0, 3, 1]),
    ("he always wore his sunglasses at night", [1, 5, 2, 3, 1, 4, 1]),
]


class Sentences(Dataset):
    def __len__(self):
        return len(SENTENCES)

    def __getitem__(self, i):
        text, tags = SENTENCES[i]
        return text.split(), torch.tensor(tags)


def one_sentence(batch):
    """Batches of one sentence: (list of words, tag tensor)."""
    [(words, tags)] = batch
    return words, tags


def finder_curve(model, opt, criterion, loader, *, val_loader=None, **kw):
    """torch-lr-finder's raw curve (smoothing off, divergence stop off) on a copy."""
    model, opt = copy.deepcopy((model, opt))
    finder = LRFinder(model, opt, criterion)
    finder.range_test(loader, val_loader=val_loader, smooth_f=0.0, diverge_th=1e30, **kw)
    return np.array(finder.history["lr"]), np.array(finder.history["loss"])


KW = {"start_lr": 1e-4, "end_lr": 1.0, "num_iter": 30}
NO_STOP = {"diverge_factor": 1e30}


# --------------------------------------------------------------------------- torch-lr-finder


@pytest.mark.parametrize("extras", [0, 2], ids=["xor", "xor-with-extras"])
def test_training_losses_equal_torch_lr_finder(extras):
    loader = DataLoader(XOR(8 * 40, extras=extras), batch_size=8)
    model = linear_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=1e-5)
    lrs, losses = finder_curve(model, opt, nn.MSELoss(), loader, **KW)
    before = snapshot(model, opt)
    rt = range_test(model, nn.MSELoss(), loader, opt, **KW, **NO_STOP)
    assert_same(before, snapshot(model, opt))
    np.testing.assert_allclose(rt.lrs, lrs, rtol=1e-12)
    np.testing.assert_allclose(rt.losses, losses, rtol=1e-6)


def test_validation_losses_equal_torch_lr_finder():
    data = XOR(8 * 50)
    train = DataLoader(Subset(data, range(8 * 45)), batch_size=8)
    val = DataLoader(Subset(data, range(8 * 45, 8 * 50)), batch_size=8)
    model = linear_mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    lrs, val_losses = finder_curve(model, opt, nn.MSELoss(), train, val_loader=val, **KW)
    rt = range_test(model, nn.MSELoss(), train, opt, val_loader=val, **KW, **NO_STOP)
    np.testing.assert_allclose(rt.lrs, lrs, rtol=1e-12)
    np.testing.assert_allclose(rt.val_losses, val_losses, rtol=1e-6)
    # The suggestions are read from the validation curve.
    again = type(rt).from_curve(rt.lrs, rt.val_losses, settings=rt.settings)
    assert rt.suggestions == again.suggestions and rt.settings["val_batches"] is None


def test_lists_of_words_pass_through_as_torch_lr_finder_does():
    loader = DataLoader(Sentences(), batch_size=1, collate_fn=one_sentence)
    vocab = {w for s, _ in SENTENCES for w in s.split()}
    model = Tagger(vocab, tags=6)
    opt = torch.optim.SGD(model.parameters(), lr=1e-5)
    kw = {**KW, "num_iter": 12}
    _, losses = finder_curve(model, opt, nn.NLLLoss(), loader, **kw)
    rt = range_test(
        model, nn.NLLLoss(), loader, opt, val_loader=loader, val_batches=2, **kw, **NO_STOP
    )
    np.testing.assert_allclose(rt.losses, losses, rtol=1e-5)
    assert len(rt.val_losses) == 12 and np.isfinite(rt.val_losses).all()


# --------------------------------------------------------------------------- plain loops


def hand_loop(model, opt, batches, lrs, ratios, loss_of, *, clip=None, autocast=None):
    """The range test written out: group g at lr * ratio_g, one batch and one step per lr."""
    model, opt = copy.deepcopy((model, opt))
    model.train()
    out = []
    for i, lr in enumerate(lrs):
        for g, r in zip(opt.param_groups, ratios, strict=True):
            g["lr"] = lr * r
        opt.zero_grad()
        with torch.autocast("cpu", dtype=autocast, enabled=autocast is not None):
            loss = loss_of(model, batches[i % len(batches)])
        out.append(loss.item())
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
    return np.array(out)


def xor_batches(n=5, extras=0):
    loader = DataLoader(XOR(8 * n, extras=extras), batch_size=8)
    return list(loader)


def mse(model, batch):
    return nn.functional.mse_loss(model(batch[0]), batch[1])


def test_discriminative_groups_keep_their_ratios_and_come_back():
    """torch-lr-finder's DiscriminativeLearningRateTask: two groups, 1e-3 and 1e-5."""
    model = linear_mlp()
    opt = torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 1e-3},
            {"params": model[1].parameters(), "lr": 1e-5},
        ],
        lr=1e-5,
        momentum=0.5,
    )
    seen = []
    original_step = opt.step

    def recording_step(*args, **kwargs):  # the rates the optimizer really used, step by step
        seen.append([g["lr"] for g in opt.param_groups])
        return original_step(*args, **kwargs)

    opt.step = recording_step
    batches = xor_batches()
    before = snapshot(model, opt)
    rt = range_test(model, nn.MSELoss(), batches, opt, **KW, **NO_STOP)
    del opt.step
    assert_same(before, snapshot(model, opt))
    expected = ramp(KW["start_lr"], KW["end_lr"], KW["num_iter"], "exp")
    np.testing.assert_allclose(np.array(seen), np.outer(expected, [1.0, 1e-2]), rtol=1e-12)
    np.testing.assert_allclose(
        rt.losses, hand_loop(model, opt, batches, expected, [1.0, 1e-2], mse), rtol=1e-6
    )
    if rt.recommended is not None:
        assert rt.recommended_groups == [rt.recommended, rt.recommended * 1e-2]
    groups = rt.group_suggestions
    assert all(v is None or v[1] == pytest.approx(v[0] * 1e-2) for v in groups.values())


class Output:
    """What a Hugging Face style model returns: an object with ``.loss`` and ``.logits``."""

    def __init__(self, loss, logits):
        self.loss, self.logits = loss, logits


class DictModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = linear_mlp()

    def forward(self, inputs, labels, attention=None):
        logits = self.net(inputs)
        return Output(nn.functional.mse_loss(logits, labels), logits)


def test_dict_batches_call_the_model_with_keywords_and_read_its_loss():
    batches = [{"inputs": x, "labels": y, "attention": None} for x, y, *_ in xor_batches()]
    model = DictModel()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rt = range_test(model, None, batches, opt, **KW, **NO_STOP)
    expected = hand_loop(model, opt, batches, rt.lrs, [1.0], lambda m, b: m(**b).loss)
    np.testing.assert_allclose(rt.losses, expected, rtol=1e-6)


def test_step_fn_reads_any_batch():
    class Batch:  # a batch object of the user's own
        def __init__(self, x, y):
            self.x, self.y = x, y

    batches = [Batch(x, y) for x, y, *_ in xor_batches()]
    model = linear_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step_fn(m, b):
        return {"loss": nn.functional.mse_loss(m(b.x), b.y), "log": 1}  # Lightning style

    rt = range_test(model, None, batches, opt, step_fn=step_fn, **KW, **NO_STOP)
    expected = hand_loop(model, opt, batches, rt.lrs, [1.0], lambda m, b: step_fn(m, b)["loss"])
    np.testing.assert_allclose(rt.losses, expected, rtol=1e-6)
    with pytest.raises(TypeError, match=r"type Batch.*step_fn="):
        range_test(model, nn.MSELoss(), batches, opt, **KW)


def test_bf16_autocast_on_the_cpu_and_clipping_match_a_plain_loop():
    batches = xor_batches()
    model = linear_mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rt = range_test(
        model, nn.MSELoss(), batches, opt, precision="bf16", max_grad_norm=0.05, **KW, **NO_STOP
    )
    expected = hand_loop(
        model, opt, batches, rt.lrs, [1.0], mse, clip=0.05, autocast=torch.bfloat16
    )
    np.testing.assert_allclose(rt.losses, expected, rtol=1e-6)
    full = hand_loop(model, opt, batches, rt.lrs, [1.0], mse, clip=0.05)
    assert not np.allclose(rt.losses, full, rtol=1e-6)  # autocast really was on
    assert rt.settings["precision"] == "bf16" and rt.settings["max_grad_norm"] == 0.05


def test_fp16_overflowed_steps_do_not_count_and_the_scaler_comes_back():
    batches = xor_batches()
    model = linear_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    # A scale far too large: the first steps overflow in fp16 and the scaler skips them.
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1)
    before = snapshot(model, opt, scaler, scheduler)
    rt = range_test(
        model, nn.MSELoss(), batches, opt, precision="fp16", scaler=scaler,
        scheduler=scheduler, **KW, **NO_STOP,
    )  # fmt: skip
    assert_same(before, snapshot(model, opt, scaler, scheduler))
    assert rt.settings["skipped_steps"] > 0 and len(rt.lrs) == KW["num_iter"]

    # The oracle: a plain fp16 loop with its own scaler that retries a skipped learning rate.
    twin, twin_opt = copy.deepcopy((model, opt))
    twin_scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40)
    twin.train()
    losses, skipped, k = [], 0, 0
    for lr in ramp(KW["start_lr"], KW["end_lr"], KW["num_iter"], "exp"):
        while True:
            twin_opt.param_groups[0]["lr"] = lr
            twin_opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.float16):
                loss = mse(twin, batches[k % len(batches)])
            k += 1
            twin_scaler.scale(loss).backward()
            scale = twin_scaler.get_scale()
            twin_scaler.step(twin_opt)
            twin_scaler.update()
            if twin_scaler.get_scale() >= scale:
                losses.append(loss.item())
                break
            skipped += 1
    assert skipped == rt.settings["skipped_steps"]
    np.testing.assert_allclose(rt.losses, losses, rtol=1e-6)


def test_a_scheduler_attached_is_not_stepped_and_comes_back():
    model = linear_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=100)
    for _ in range(10):
        opt.step()
        scheduler.step()
    batches = xor_batches()  # iterating a DataLoader draws a seed from torch's generator
    before = snapshot(model, opt, scheduler=scheduler)
    rt = range_test(model, nn.MSELoss(), batches, opt, scheduler=scheduler, **KW)
    assert_same(before, snapshot(model, opt, scheduler=scheduler))
    assert (
        rt.lrs.tolist() == ramp(KW["start_lr"], KW["end_lr"], KW["num_iter"], "exp")[: len(rt.lrs)]
    )


def test_the_validation_curve_decides_the_stop_and_the_reading():
    """Training loss keeps falling while the validation loss blows up: Smith's variant stops
    on the validation curve."""
    torch.manual_seed(0)
    X, y = torch.randn(16, 8), torch.randn(16, 1)  # a tiny training set: memorised
    Xv, yv = torch.randn(256, 8), torch.randn(256, 1)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 1))
    opt = torch.optim.Adam(model.parameters())
    kw = {"start_lr": 1e-4, "end_lr": 1.0, "num_iter": 60}
    plain = range_test(model, nn.MSELoss(), (X, y), opt, **kw)
    val = range_test(model, nn.MSELoss(), (X, y), opt, val_loader=(Xv, yv), val_batches=1, **kw)
    np.testing.assert_array_equal(val.losses[: len(plain.losses)], plain.losses[: len(val.losses)])
    with torch.no_grad():  # the first validation loss is after the first step
        assert val.val_losses[0] != nn.functional.mse_loss(model(Xv), yv).item()
    # The smoothed curve (which the stop and the suggestions read) is the validation one.
    m, smoothed = 0.0, []
    for i, v in enumerate(val.val_losses, 1):
        m = 0.95 * m + 0.05 * v
        smoothed.append(m / (1 - 0.95**i))
    np.testing.assert_allclose(val.smoothed, smoothed, rtol=1e-12)
    if val.stopped_early:
        assert val.smoothed[-1] > 5 * val.smoothed.min()
