"""Tests for the LR range test, each against an independent oracle.

Oracles: a plain training loop on a deep copy, hand-computed EMAs, closed-form ramps,
fastai's published ``valley`` code (reimplemented below, O(n**2) as published), and full
snapshots of every tensor and random state taken with public torch/numpy/random calls.
"""

from __future__ import annotations

import copy
import json
import math
import random

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn
from training_state import assert_same, snapshot

from lrlab.range_test import RangeTest, range_test

matplotlib.use("Agg")


# --------------------------------------------------------------------------- helpers


def unchanged(model, optimizer, before):
    assert_same(before, snapshot(model, optimizer))


def mlp(seed=0, dropout=0.2, norm=True):
    torch.manual_seed(seed)
    layers = [nn.Linear(8, 16)]
    if norm:
        layers.append(nn.BatchNorm1d(16))
    layers += [nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3)]
    return nn.Sequential(*layers)


def data(n=192, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 8, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()
    return X, y


def batches(X, y, size):
    return [(X[i : i + size], y[i : i + size]) for i in range(0, len(X), size)]


def fastai_valley(lrs, losses):
    """fastai's ``valley`` exactly as published (fastai/callback/schedule.py), as an oracle."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx])


def hand_ema(xs, a):
    beta, m, out = 1 - a, 0.0, []
    for i, x in enumerate(xs, 1):
        m = beta * m + (1 - beta) * x
        out.append(m / (1 - beta**i))
    return np.array(out)


def sigmoid_curve(seed, noise=0.03, centre=-3.0, n=200):
    """Loss falling like a sigmoid in log10(lr) (steepest at ``centre``), then blowing up."""
    lrs = np.geomspace(1e-7, 10, n)
    u = np.log10(lrs)
    clean = 0.5 + 2.0 / (1 + np.exp(3.0 * (u - centre))) + 4.0 * np.clip(u + 0.5, 0, None) ** 2
    rng = np.random.default_rng(seed)
    return lrs, clean + noise * rng.standard_normal(n)


# --------------------------------------------------------------------------- restoration


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
        lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.8, 0.95)),
        lambda p: torch.optim.AdamW(p, lr=1e-3, amsgrad=True),
    ],
    ids=["sgd-momentum", "adam", "adamw-amsgrad"],
)
@pytest.mark.parametrize("warm", [True, False], ids=["with-state", "fresh"])
def test_restores_everything_bitwise(make_opt, warm):
    model = mlp()
    X, y = data()
    params = list(model.parameters())
    # Two groups with different rates: each must get its own rate back.
    opt = make_opt([{"params": params[:2]}, {"params": params[2:], "lr": 0.123}])
    if warm:  # momentum buffers, exp_avg, exp_avg_sq and step must all come back
        for xb, yb in batches(X, y, 64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    model[1].eval()  # a mixed train/eval state must survive, module by module
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(9)
    before = snapshot(model, opt)

    rt = range_test(model, nn.CrossEntropyLoss(), batches(X, y, 32), opt, num_iter=20)

    assert len(rt.lrs) >= 6
    unchanged(model, opt, before)
    # The random streams continue exactly where they were.
    assert torch.equal(torch.rand(3), (torch.manual_seed(123), torch.rand(3))[1])


def test_restores_after_exception_midway():
    model = mlp()
    X, y = data()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt.zero_grad()
    nn.functional.cross_entropy(model(X), y).backward()
    opt.step()  # state to restore; the grads stay set too
    before = snapshot(model, opt)
    calls = []

    def loss_fn(out, target):
        calls.append(1)
        if len(calls) == 8:  # the 8th call is iteration 7
            raise RuntimeError("boom at iteration 7")
        return nn.functional.cross_entropy(out, target)

    with pytest.raises(RuntimeError, match="boom"):
        range_test(model, loss_fn, batches(X, y, 32), opt, num_iter=30)
    unchanged(model, opt, before)


def test_restores_reassigned_buffer_and_loss_module():
    class Rebind(nn.Module):  # replaces its buffer object instead of updating it in place
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 3)
            self.register_buffer("seen", torch.zeros(()))

        def forward(self, x):
            self.seen = self.seen + 1
            return self.lin(x)

    model = Rebind()
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 3.0]))
    loss_fn.train(False)
    buf = model.seen
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = snapshot(model, opt)
    range_test(model, loss_fn, data(), opt, num_iter=10)
    assert model.seen is buf
    assert not loss_fn.training
    unchanged(model, opt, before)


def test_training_mode_restored_and_used_during_the_run():
    model = mlp()
    model.eval()
    modes = []
    X, y = data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def loss_fn(out, target):
        modes.append(model.training)
        return nn.functional.cross_entropy(out, target)

    range_test(model, loss_fn, (X, y), opt, num_iter=8)
    assert all(modes)  # the test trains, like the training it stands for
    assert not any(m.training for m in model.modules())


# --------------------------------------------------------------------------- the curve


@pytest.mark.parametrize("mode", ["exp", "linear"])
def test_lrs_follow_the_ramp_and_are_what_the_optimizer_used(mode):
    used = []

    class Recording(torch.optim.SGD):
        def step(self, closure=None):
            used.append([g["lr"] for g in self.param_groups])
            return super().step(closure)

    model = mlp(norm=False, dropout=0.0)
    params = list(model.parameters())
    opt = Recording([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}], lr=0.01)
    start, end, n = 1e-6, 1e-3, 25
    rt = range_test(
        model, nn.CrossEntropyLoss(), data(), opt, start_lr=start, end_lr=end, num_iter=n, mode=mode
    )
    assert len(rt.lrs) == n and not rt.stopped_early
    if mode == "exp":
        expected = [start * (end / start) ** (i / (n - 1)) for i in range(n)]
        independent = np.geomspace(start, end, n)
    else:
        expected = [start + (end - start) * (i / (n - 1)) for i in range(n)]
        independent = np.linspace(start, end, n)
    expected[0], expected[-1] = start, end
    assert rt.lrs.tolist() == expected
    np.testing.assert_allclose(rt.lrs, independent, rtol=1e-12)
    assert rt.lrs[0] == start and rt.lrs[-1] == end
    # The group that started highest follows the ramp; the other keeps its ratio 0.01 / 0.5.
    assert used == [[lr * (0.01 / 0.5), lr] for lr in expected]
    assert rt.settings["group_ratios"] == [0.01 / 0.5, 1.0]
    assert rt.settings["mode"] == mode and rt.settings["num_iter"] == n


def test_raw_losses_equal_a_plain_training_loop():
    model = mlp(dropout=0.3)  # dropout: the loop must draw random numbers the same way
    X, y = data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = batches(X, y, 48)  # 4 batches, cycled over 30 iterations
    twin_model, twin_opt = copy.deepcopy((model, opt))  # shares the copied parameters

    torch.manual_seed(5)
    rt = range_test(
        model, nn.CrossEntropyLoss(), loader, opt, start_lr=1e-4, end_lr=1.0, num_iter=30
    )

    torch.manual_seed(5)
    twin_model.train()
    expected = []
    for i, lr in enumerate(rt.lrs):
        for g in twin_opt.param_groups:
            g["lr"] = lr
        xb, yb = loader[i % len(loader)]
        twin_opt.zero_grad()
        loss = nn.functional.cross_entropy(twin_model(xb), yb)
        expected.append(loss.item())
        loss.backward()
        twin_opt.step()
    np.testing.assert_allclose(rt.losses, expected, rtol=1e-6, atol=0)


def test_ema_bias_correction_matches_hand_computation():
    # a = 0.5: m1 = 2, s1 = 2/0.5 = 4; m2 = 0.5*2 + 0.5*2 = 2, s2 = 2/0.75; m3 = 0.5*2 + 0.5*9 = 5.5,
    # s3 = 5.5/0.875.
    rt = RangeTest.from_curve([1e-3, 1e-2, 1e-1], [4.0, 2.0, 9.0], smoothing=0.5)
    np.testing.assert_allclose(rt.smoothed, [4.0, 2.0 / 0.75, 5.5 / 0.875], rtol=1e-15)

    xs = np.random.default_rng(3).uniform(0.5, 3.0, 60)
    for a in (0.05, 0.2, 1.0):
        rt = RangeTest.from_curve(np.geomspace(1e-5, 1, 60), xs, smoothing=a)
        np.testing.assert_allclose(rt.smoothed, hand_ema(xs, a), rtol=1e-12)
        assert rt.smoothed[0] == pytest.approx(xs[0], rel=1e-15)  # no pull towards zero


def test_stops_where_the_smoothed_loss_exceeds_the_factor():
    X, y = data()
    model = mlp(norm=False, dropout=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rt = range_test(
        model,
        nn.CrossEntropyLoss(),
        batches(X, y, 32),
        opt,
        end_lr=1e4,
        num_iter=100,
        diverge_factor=3.0,
    )
    assert rt.stopped_early and len(rt.lrs) < 100
    s = rt.smoothed
    hit = [i for i in range(5, len(s)) if not math.isfinite(s[i]) or s[i] > 3 * s[: i + 1].min()]
    assert hit == [len(s) - 1]  # the first crossing after the warm-up ends the test
    np.testing.assert_allclose(s, hand_ema(rt.losses, 0.05), rtol=1e-12)


def test_non_finite_loss_midway_stops_and_is_kept():
    X, y = data()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = snapshot(model, opt)
    calls = []

    def loss_fn(out, target):
        calls.append(1)
        loss = nn.functional.cross_entropy(out, target)
        return loss * float("nan") if len(calls) == 11 else loss

    rt = range_test(model, loss_fn, (X, y), opt, num_iter=50)
    assert rt.stopped_early and len(rt.lrs) == 11 and math.isnan(rt.losses[-1])
    assert np.isfinite(rt.losses[:-1]).all()
    unchanged(model, opt, before)
    text = rt.to_json()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))


def test_negative_losses_do_not_stop_the_test_at_once():
    # With "smoothed > factor * best" a negative best would stop any test after the warm-up.
    X, y = data()
    model = mlp(norm=False, dropout=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rt = range_test(
        model,
        lambda o, t: nn.functional.cross_entropy(o, t) - 10.0,
        (X, y),
        opt,
        start_lr=1e-5,
        end_lr=1e-2,
        num_iter=30,
    )
    assert not rt.stopped_early and len(rt.lrs) == 30


# --------------------------------------------------------------------------- suggestions


@pytest.mark.parametrize("seed", range(6))
def test_steepest_finds_the_known_steepest_point(seed):
    lrs, losses = sigmoid_curve(seed)
    rt = RangeTest.from_curve(lrs, losses, stopped_early=True)
    assert abs(math.log10(rt.suggestions["steepest"]) - (-3.0)) < 0.3
    assert rt.recommended == rt.suggestions[rt.method]
    assert rt.recommended < 10**-0.5  # never on the way up (the clean curve rises from there)


def torch_lr_finder_steepest(lrs, losses):
    """The real torch-lr-finder reading a given curve: its ``range_test`` runs on a model whose
    criterion replays the curve, with its own ramp, smoothing and divergence stop, and its
    ``plot(suggest_lr=True)`` returns the steepest point."""
    import matplotlib.pyplot as plt
    from torch_lr_finder import LRFinder

    replay = iter(losses)
    model = nn.Linear(1, 1)
    finder = LRFinder(
        model,
        torch.optim.SGD(model.parameters(), lr=lrs[0]),
        lambda out, _: out.sum() * 0 + float(next(replay)),
    )
    ones = torch.utils.data.TensorDataset(torch.ones(len(lrs), 1), torch.ones(len(lrs), 1))
    finder.range_test(
        torch.utils.data.DataLoader(ones, batch_size=1), end_lr=lrs[-1], num_iter=len(lrs)
    )
    np.testing.assert_allclose(finder.history["lr"], lrs[: len(finder.history["lr"])], rtol=1e-9)
    _, ax = plt.subplots()
    try:
        return finder.plot(ax=ax, suggest_lr=True)[1]
    finally:
        plt.close("all")


def test_steepest_is_more_accurate_than_torch_lr_finder():
    ours, theirs = [], []
    for seed in range(10):
        lrs, losses = sigmoid_curve(seed, noise=0.08)
        ours.append(abs(math.log10(RangeTest.from_curve(lrs, losses).suggestions["steepest"]) + 3))
        theirs.append(abs(math.log10(torch_lr_finder_steepest(lrs, losses)) + 3))
    assert np.mean(ours) < 0.3
    assert np.mean(ours) < np.mean(theirs) / 2


@pytest.mark.parametrize("seed", range(4))
def test_valley_and_minimum_match_fastai_on_the_same_curve(seed):
    lrs, losses = sigmoid_curve(seed, n=100)
    rt = RangeTest.from_curve(lrs, losses, smoothing=0.02)  # fastai's beta = 0.98
    s = hand_ema(losses, 0.02)
    lo, hi = 100 // 10, 100 - 5  # fastai: lrs[num_it//10:-5]
    assert rt.suggestions["valley"] == fastai_valley(lrs[lo:hi], s[lo:hi])
    assert rt.suggestions["min_div_10"] == lrs[lo:hi][np.argmin(s[lo:hi])] / 10


def test_valley_matches_fastai_on_an_irregular_curve():
    rng = np.random.default_rng(11)
    losses = np.cumsum(rng.normal(-0.02, 0.1, 150)) + 5
    lrs = np.geomspace(1e-6, 1, 150)
    for skip_start, skip_end in [(0, 0), (15, 5), (3, 20)]:
        rt = RangeTest.from_curve(
            lrs, losses, smoothing=1.0, skip_start=skip_start, skip_end=skip_end
        )
        if rt.suggestions["valley"] is not None:
            hi = 150 - skip_end
            assert rt.suggestions["valley"] == fastai_valley(
                lrs[skip_start:hi], losses[skip_start:hi]
            )


def test_no_suggestion_from_a_flat_noisy_curve():
    rng = np.random.default_rng(0)
    lrs = np.geomspace(1e-7, 10, 100)
    for _ in range(50):
        rt = RangeTest.from_curve(lrs, 2 + 0.3 * rng.exponential(1.0, 100))
        assert rt.suggestions == dict.fromkeys(("steepest", "valley", "min_div_10", "min_div_3"))
        assert rt.recommended is None and rt.method == "none"
        assert any("never fell" in note for note in rt.notes)


def test_a_curve_still_falling_at_the_end_says_so():
    lrs = np.geomspace(1e-6, 1e-2, 100)
    rt = RangeTest.from_curve(lrs, 3 - 0.2 * np.log10(lrs / 1e-6))
    assert rt.recommended is not None
    assert any("still falling" in note for note in rt.notes)


def test_rule_picks_the_named_suggestion():
    lrs, losses = sigmoid_curve(0)
    rt = RangeTest.from_curve(lrs, losses)
    for name in ("valley", "steepest", "min_div_10", "min_div_3"):
        picked = rt.suggest(rule=name)
        assert picked.method == name and picked.recommended == rt.suggestions[name]
    assert rt.settings["rule"] == "auto"
    assert rt.method == "min_div_3" and rt.recommended == rt.suggestions["min_div_3"]


@pytest.mark.parametrize("seed", range(4))
def test_min_div_3_is_a_third_of_the_true_minimum_not_the_lagging_one(seed):
    """A loss with its minimum at lr = 1e-2 (closed form), noisy like mini-batches: a third of
    it, where the EMA's minimum comes about 1/smoothing iterations (a decade here) late."""
    lrs = np.geomspace(1e-6, 10, 160)
    u = np.log10(lrs)
    clean = 1.0 + 0.5 * (u + 2.0) ** 2 - 0.4 * np.tanh(u + 2.0)  # minimum near u = -1.8
    u_min = u[np.argmin(clean)]
    noisy = clean + 0.05 * np.random.default_rng(seed).standard_normal(len(lrs))
    rt = RangeTest.from_curve(lrs, noisy, stopped_early=True)
    assert abs(math.log10(rt.suggestions["min_div_3"] * 3) - u_min) < 0.25
    ema_min = lrs[np.argmin(hand_ema(noisy, 0.05))]
    assert math.log10(ema_min) - u_min > 0.5  # the lag the fit avoids


@pytest.mark.parametrize("seed", range(4))
def test_min_div_3_reads_the_typical_loss_through_mini_batch_spikes(seed):
    """Past its minimum a mini-batch curve spikes: single batches jump far above the typical
    loss and come back (catapults). The typical loss has its minimum at the closed-form one;
    the window means that a least-squares level uses are pulled up by every spike in them,
    so their minimum falls before the first spike, about half a window early."""
    lrs = np.geomspace(1e-6, 10, 160)
    u = np.log10(lrs)
    clean = 1.0 + 0.5 * (u + 2.0) ** 2 - 0.4 * np.tanh(u + 2.0)
    i_min = int(np.argmin(clean))
    rng = np.random.default_rng(seed)
    noisy = clean + 0.05 * rng.standard_normal(len(lrs))
    # from the minimum on, one batch in four spikes by 0.5 to 2 (fewer than half a window)
    spikes = np.arange(i_min + int(rng.integers(0, 4)), len(lrs), 4)
    noisy[spikes] += rng.uniform(0.5, 2.0, len(spikes))
    rt = RangeTest.from_curve(lrs, noisy, stopped_early=True)
    assert abs(math.log10(rt.suggestions["min_div_3"] * 3) - u[i_min]) < 0.25
    w = rt.settings["window"]
    means = np.convolve(noisy, np.ones(w) / w, mode="valid")  # the centred window means
    assert u[i_min] - u[w // 2 + int(np.argmin(means))] > 0.25  # what spikes do to a mean


def test_window_median_matches_numpy_in_blocks_of_any_size(monkeypatch):
    from lrlab import range_curve

    y = np.random.default_rng(0).standard_normal(101)
    want = [float(np.median(y[i - 3 : i + 4])) for i in range(3, 98)]
    for block in (1, 10, 1 << 20):  # one row at a time, a few rows, all rows at once
        monkeypatch.setattr(range_curve, "_MEDIAN_BLOCK", block)
        assert range_curve._window_median(y, 3).tolist() == want


# --------------------------------------------------------------------------- a real problem


def test_recommended_lr_trains_well_on_digits():
    from sklearn.datasets import load_digits

    Xn, yn = load_digits(return_X_y=True)
    Xn = (Xn - Xn.mean(0)) / (Xn.std(0) + 1e-8)
    X, y = torch.tensor(Xn, dtype=torch.float32), torch.tensor(yn)
    torch.manual_seed(0)
    model = nn.Linear(64, 10)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(X, y), batch_size=64, shuffle=True
    )
    rt = range_test(
        model, nn.CrossEntropyLoss(), loader, torch.optim.SGD(model.parameters(), lr=0.1)
    )
    assert rt.recommended is not None

    def train(lr):
        m = copy.deepcopy(model)
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        g = torch.Generator().manual_seed(1)
        for _ in range(100):
            idx = torch.randint(0, len(X), (64,), generator=g)
            opt.zero_grad()
            nn.functional.cross_entropy(m(X[idx]), y[idx]).backward()
            opt.step()
        with torch.no_grad():
            return nn.functional.cross_entropy(m(X), y).item()

    with torch.no_grad():
        initial = nn.functional.cross_entropy(model(X), y).item()
    good, slow = train(rt.recommended), train(1e-4)
    assert math.isfinite(good) and good < initial
    assert good < 0.25 * slow


# --------------------------------------------------------------------------- loaders


def test_accumulation_equals_a_twice_larger_batch():
    X, y = data(256)
    model = mlp(norm=False, dropout=0.0)  # deterministic
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    kw = {"start_lr": 1e-4, "end_lr": 1.0, "num_iter": 40}
    small = range_test(
        model, nn.CrossEntropyLoss(), batches(X, y, 32), opt, accumulation_steps=2, **kw
    )
    large = range_test(model, nn.CrossEntropyLoss(), batches(X, y, 64), opt, **kw)
    assert len(small.lrs) == len(large.lrs) == 40
    np.testing.assert_allclose(small.losses, large.losses, rtol=1e-4)
    assert small.settings["accumulation_steps"] == 2


def test_full_batch_pair_generators_and_dataloaders_give_the_same_curve():
    X, y = data(96)
    model = mlp(norm=False, dropout=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    kw = {"start_lr": 1e-4, "end_lr": 1e-1, "num_iter": 12}
    listed = range_test(model, nn.CrossEntropyLoss(), batches(X, y, 32), opt, **kw)
    gen = range_test(model, nn.CrossEntropyLoss(), iter(batches(X, y, 32)), opt, **kw)
    dl = range_test(
        model,
        nn.CrossEntropyLoss(),
        torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32),
        opt,
        device="cpu",
        **kw,
    )
    np.testing.assert_array_equal(listed.losses, gen.losses)
    np.testing.assert_allclose(listed.losses, dl.losses, rtol=1e-6)
    full = range_test(model, nn.CrossEntropyLoss(), (X, y), opt, **kw)
    with torch.no_grad():
        assert full.losses[0] == pytest.approx(nn.functional.cross_entropy(model(X), y).item())


# --------------------------------------------------------------------------- re-reading, JSON


def test_suggest_rereads_without_running():
    X, y = data()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = []

    def loss_fn(out, target):
        calls.append(1)
        return nn.functional.cross_entropy(out, target)

    rt = range_test(model, loss_fn, batches(X, y, 32), opt, num_iter=60)
    ran = len(calls)
    again = rt.suggest(smoothing=0.1, window=7)
    assert len(calls) == ran
    np.testing.assert_array_equal(again.losses, rt.losses)
    np.testing.assert_array_equal(again.lrs, rt.lrs)
    np.testing.assert_allclose(again.smoothed, hand_ema(rt.losses, 0.1), rtol=1e-12)
    assert again.settings["smoothing"] == 0.1 and again.settings["window"] == 7
    assert again.settings["start_lr"] == rt.settings["start_lr"]
    assert rt.settings["smoothing"] == 0.05  # the original result is untouched
    assert rt.suggest() == rt  # same options, same reading
    with pytest.raises(ValueError):
        rt.lrs[0] = 1.0  # frozen arrays


def test_json_round_trip_is_exact():
    X, y = data()
    model = mlp()
    rt = range_test(
        model,
        nn.CrossEntropyLoss(),
        batches(X, y, 32),
        torch.optim.Adam(model.parameters()),
        num_iter=50,
    )
    back = RangeTest.from_json(rt.to_json())
    assert back == rt
    assert back.suggestions == rt.suggestions and back.settings == rt.settings
    np.testing.assert_array_equal(back.smoothed, rt.smoothed)
    assert RangeTest.from_dict(json.loads(json.dumps(rt.to_dict()))) == rt


def test_json_writes_non_finite_values_as_null():
    rt = RangeTest.from_curve(
        np.geomspace(1e-4, 1, 8), [3, 2, 1, 1, 1, 2, 5, math.inf], stopped_early=True
    )
    data_ = json.loads(rt.to_json())
    assert data_["losses"][-1] is None
    back = RangeTest.from_json(rt.to_json())
    assert math.isnan(back.losses[-1])
    np.testing.assert_array_equal(back.losses[:-1], rt.losses[:-1])


@pytest.mark.parametrize("bad", [None, [], {"lrs": [1.0]}, "{}"])
def test_from_dict_rejects_garbage(bad):
    with pytest.raises((TypeError, ValueError)):
        if isinstance(bad, str):
            RangeTest.from_json(bad)
        else:
            RangeTest.from_dict(bad)


# --------------------------------------------------------------------------- bad input


class NoGrad(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 3)
        self.lin.requires_grad_(False)

    def forward(self, x):
        return self.lin(x)


def _bad_cases():
    X, y = data(64)
    nan_X = X.clone()
    nan_X[0, 0] = float("nan")
    ce = nn.CrossEntropyLoss()
    empty_ds = torch.utils.data.TensorDataset(X[:0], y[:0])
    return {
        # name: (keyword overrides, exception, message fragment)
        "no-trainable": ({"model": NoGrad()}, ValueError, "no trainable parameters"),
        "foreign-optimizer": ({"foreign": True}, ValueError, "none of the model"),
        "non-scalar-loss": (
            {"loss_fn": nn.CrossEntropyLoss(reduction="none")},
            ValueError,
            "scalar",
        ),
        "loss-not-a-tensor": ({"loss_fn": lambda o, t: 1.0}, TypeError, "scalar tensor"),
        "loss-without-grad": ({"loss_fn": lambda o, t: ce(o, t).detach()}, ValueError, "trainable"),
        "empty-list": ({"loader": []}, ValueError, "empty"),
        "empty-dataloader": (
            {"loader": torch.utils.data.DataLoader(empty_ds, batch_size=4)},
            ValueError,
            "empty",
        ),
        "empty-generator": ({"loader": (b for b in [])}, ValueError, "empty"),
        "not-a-loader": ({"loader": 3}, TypeError, "loader"),
        "batch-a-bare-tensor": ({"loader": [X, X, X]}, TypeError, "type Tensor.*step_fn"),
        "start-above-end": ({"start_lr": 1.0, "end_lr": 0.1}, ValueError, "end_lr"),
        "start-equals-end": ({"start_lr": 0.1, "end_lr": 0.1}, ValueError, "end_lr"),
        "zero-lr": ({"start_lr": 0.0}, ValueError, "start_lr"),
        "negative-lr": ({"start_lr": -1e-3}, ValueError, "start_lr"),
        "nan-lr": ({"end_lr": float("nan")}, ValueError, "end_lr"),
        "too-few-iterations": ({"num_iter": 4}, ValueError, "num_iter"),
        "absurd-iterations": ({"num_iter": 10**9}, ValueError, "num_iter"),
        "fractional-iterations": ({"num_iter": 50.5}, TypeError, "num_iter"),
        "unknown-mode": ({"mode": "cosine"}, ValueError, "mode"),
        "zero-smoothing": ({"smoothing": 0.0}, ValueError, "smoothing"),
        "smoothing-above-one": ({"smoothing": 1.5}, ValueError, "smoothing"),
        "diverge-factor-one": ({"diverge_factor": 1.0}, ValueError, "diverge_factor"),
        "zero-accumulation": ({"accumulation_steps": 0}, ValueError, "accumulation_steps"),
        "nan-first-loss": ({"loader": (nan_X, y)}, ValueError, "not finite at the first step"),
        "lrs-too-close": ({"start_lr": 1.0, "end_lr": 1.0 + 1e-15}, ValueError, "distinct"),
        "unknown-device": ({"device": "no-such-device"}, ValueError, "device"),
        "not-a-module": ({"model": lambda x: x}, TypeError, "model"),
        "not-an-optimizer": ({"optimizer": object()}, TypeError, "optimizer"),
        "pairs-without-loss-fn": ({"loss_fn": None}, TypeError, "loss_fn.*step_fn"),
        "step-fn-not-callable": ({"step_fn": 3}, TypeError, "step_fn"),
        "val-loader-not-a-loader": ({"val_loader": 3}, TypeError, "val_loader"),
        "val-batches-alone": ({"val_batches": 2}, ValueError, "val_batches"),
        "zero-val-batches": ({"val_loader": data(64), "val_batches": 0}, ValueError, "val_batches"),
        "unknown-precision": ({"precision": "fp8"}, ValueError, "precision"),
        "negative-clip": ({"max_grad_norm": -1.0}, ValueError, "max_grad_norm"),
        "scaler-without-state": ({"scaler": object()}, TypeError, "scaler"),
    }


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_bad_input_is_refused_and_leaves_everything_unchanged(case):
    overrides, exc, fragment = _bad_cases()[case]
    overrides = dict(overrides)
    given_model = overrides.pop("model", None)
    model = given_model if isinstance(given_model, nn.Module) else mlp()
    params = mlp(seed=1).parameters() if overrides.pop("foreign", False) else model.parameters()
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    if any(p.requires_grad for p in model.parameters()):
        X, y = data(64)
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()  # non-trivial state that must stay as it is
    args = {
        "model": given_model or model,
        "loss_fn": nn.CrossEntropyLoss(),
        "loader": data(64),
        "optimizer": overrides.pop("optimizer", opt),
    }
    args.update({k: overrides.pop(k) for k in list(overrides) if k in args})
    before = snapshot(model, opt)
    with pytest.raises(exc, match=fragment) as info:
        range_test(
            args["model"],
            args["loss_fn"],
            args["loader"],
            args["optimizer"],
            num_iter=overrides.pop("num_iter", 20),
            **overrides,
        )
    assert "is invalid" in str(info.value)  # the shared message shape
    unchanged(model, opt, before)


def test_first_step_error_names_the_lr():
    X, y = data(64)
    X[3, 2] = float("inf")
    model = mlp()
    with pytest.raises(ValueError, match=r"lr=1e-05"):
        range_test(
            model,
            nn.CrossEntropyLoss(),
            (X, y),
            torch.optim.SGD(model.parameters(), lr=0.1),
            start_lr=1e-5,
        )


# --------------------------------------------------------------------------- plot


def test_plot_draws_curve_suggestions_and_labels():
    import matplotlib.pyplot as plt

    lrs, losses = sigmoid_curve(0)
    rt = RangeTest.from_curve(lrs, losses, stopped_early=True)
    ax = rt.plot()
    try:
        assert ax.get_xscale() == "log"
        assert "LR range test" in ax.get_title() and f"{rt.recommended:.3g}" in ax.get_title()
        assert ax.get_xlabel() and ax.get_ylabel()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        for name in ("valley", "steepest", "min_div_10", "recommended"):
            assert any(label.startswith(name) for label in labels), name
        _fig, own = plt.subplots()
        assert rt.plot(ax=own) is own
        RangeTest.from_curve(lrs, np.ones_like(lrs)).plot()  # nothing to mark: still draws
    finally:
        plt.close("all")
