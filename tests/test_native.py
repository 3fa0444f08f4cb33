"""The native head: built here, checked, the same numbers as torch's operations, and torch's
operations wherever it cannot be had."""

import shutil

import numpy as np
import pytest
import torch
from test_descent import sgd_oracle
from test_stacked import per_lane
from torch import nn

import lrlab
from lrlab import native, stacked
from lrlab.stacked import stacked_lanes


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A native module that has not yet built or loaded anything, caching into tmp_path."""
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setattr(native, "_cache_dir", lambda: tmp_path / "native")
    return tmp_path / "native"


def both(model, loss_fn, l2, W, batch, monkeypatch):
    """(costs, grads) from the native head and from torch's operations."""
    out = {}
    for mode in ("on", "off"):
        monkeypatch.setenv(native.ENV, mode)
        out[mode] = stacked_lanes(model, loss_fn, l2)(W, batch)
    return out["on"], out["off"]


def test_it_builds_wherever_a_compiler_is():
    # A compiler here and no kernel would silently cost every user the speed: fail instead.
    if native.compiler() is None:
        pytest.skip("no C++ compiler on this machine")
    assert native.unavailable() is None


@pytest.mark.parametrize("act", [nn.Tanh, nn.Sigmoid, nn.ReLU, nn.Identity])
@pytest.mark.parametrize("classes", [1, 3, 17, 40])  # one class, two and three groups
@pytest.mark.parametrize("bias", [True, False])
def test_matches_torch_and_per_lane_autograd(act, classes, bias, monkeypatch):
    torch.manual_seed(classes)
    model = nn.Sequential(nn.Linear(5, 9), act(), nn.Linear(9, classes, bias=bias))
    dim = sum(p.numel() for p in model.parameters())
    W = torch.randn(6, dim)
    x, y = torch.randn(37, 5), torch.randint(0, classes, (37,))  # 2 vectors and 5 more
    fast, slow = both(model, nn.CrossEntropyLoss(), 0.01, W, (x, y), monkeypatch)
    ref = per_lane(model, nn.CrossEntropyLoss(), W, x, y, 0.01)
    for got in (fast, slow):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_many_classes_and_units(monkeypatch):
    # 60 classes: four groups of them (16, 16, 16 and 12), and an odd number of units.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 71), nn.Tanh(), nn.Linear(71, 60))
    dim = sum(p.numel() for p in model.parameters())
    W = torch.randn(3, dim) * 0.3
    x, y = torch.randn(41, 5), torch.randint(0, 60, (41,))
    fast, slow = both(model, nn.CrossEntropyLoss(), 0.0, W, (x, y), monkeypatch)
    ref = per_lane(model, nn.CrossEntropyLoss(), W, x, y, 0.0)
    for got in (fast, slow):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("columns", [1, 16, 20, 37])
def test_blocks_of_samples_add_up(columns, monkeypatch):
    # Deeper stacks: torch's operations carry the way back from the head's output.
    torch.manual_seed(columns)
    model = nn.Sequential(
        nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 8, bias=False), nn.Tanh(), nn.Linear(8, 4)
    )
    monkeypatch.setattr(stacked, "NATIVE_BLOCK_BYTES", columns * 3 * 8 * 4)
    dim = sum(p.numel() for p in model.parameters())
    W = torch.randn(3, dim)
    x, y = torch.randn(37, 5), torch.randint(0, 4, (37,))
    monkeypatch.setenv(native.ENV, "on")
    got = stacked_lanes(model, nn.CrossEntropyLoss(), 0.0)(W, (x, y))
    ref = per_lane(model, nn.CrossEntropyLoss(), W, x, y, 0.0)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_a_lane_whose_outputs_overflow_is_nan_and_the_others_are_untouched(monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    dim = sum(p.numel() for p in model.parameters())
    W = torch.randn(4, dim)
    W[1, -21:] = 1e38  # the last layer's weights: outputs of +-inf
    W[2] = float("nan")
    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    monkeypatch.setenv(native.ENV, "on")
    costs, grads = stacked_lanes(model, nn.CrossEntropyLoss(), 0.0)(W, (x, y))
    assert costs[1:3].isnan().all() and grads[1:3].isnan().any(dim=1).all()
    ref = per_lane(model, nn.CrossEntropyLoss(), W[[0, 3]], x, y, 0.0)
    torch.testing.assert_close((costs[[0, 3]], grads[[0, 3]]), ref, rtol=1e-5, atol=1e-6)


def test_the_same_bits_on_any_number_of_threads(monkeypatch):
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 10))
    dim = sum(p.numel() for p in model.parameters())
    W = torch.randn(7, dim, generator=torch.Generator().manual_seed(0))
    batch = torch.randn(50, 5), torch.randint(0, 10, (50,))
    monkeypatch.setenv(native.ENV, "on")
    fn = stacked_lanes(model, nn.CrossEntropyLoss(), 0.0)
    threads = torch.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            results.append(fn(W, batch))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        torch.testing.assert_close(other, results[0], rtol=0, atol=0)


def test_targets_outside_the_classes_are_refused_as_torch_refuses_them(monkeypatch):
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))
    x = torch.randn(5, 3)
    for mode in ("on", "off"):
        monkeypatch.setenv(native.ENV, mode)
        for bad in (3, -1):
            # -1 used to pick another sample's log-probability, without a word.
            data = (x, torch.tensor([0, 1, bad, 2, 0]))
            with pytest.raises(ValueError, match="out of bounds"):
                lrlab.objective(model, nn.CrossEntropyLoss(), data)


def test_the_kernel_refuses_tensors_it_cannot_read():
    if native.unavailable():
        pytest.skip(native.unavailable())
    K, H, C, n = 2, 3, 4, 5
    good = {
        "a": torch.rand(K, H, n),
        "w": torch.randn(K, C, H),
        "b": torch.randn(K, C),
        "target": torch.tensor([0, 1, 2, 3, 0]),
        "gw": torch.empty(K, C, H),
        "gb": torch.empty(K, C),
        "loss": torch.zeros(K),
    }
    opts = {"count": n, "flush": 0.0, "activation": "Tanh", "first": True}
    native.cross_entropy_head(**good, **opts)
    bad = [
        ("a", torch.rand(K, H, n + 1)),
        ("w", torch.randn(K, C + 1, H)),
        ("gw", torch.randn(K, H, C).transpose(1, 2)),  # the right shape, not contiguous
        ("loss", torch.zeros(K, dtype=torch.float64)),
        ("gb", None),
        ("target", torch.tensor([0, 1, 2, 4, 0])),
        ("target", torch.tensor([0, 1, 2, 3])),
        ("target", torch.tensor([0.0, 1, 2, 3, 0])),
    ]
    for name, value in bad:
        with pytest.raises(ValueError, match="native head"):
            native.cross_entropy_head(**{**good, name: value}, **opts)


def test_it_is_built_once_into_the_cache_and_loaded_after(fresh, monkeypatch):
    if native.compiler() is None:
        pytest.skip("no C++ compiler on this machine")
    assert native.unavailable() is None
    (built,) = fresh.iterdir()  # no partial file left beside it
    assert built.suffix == ".so"
    stamp = built.stat().st_mtime_ns
    monkeypatch.setattr(native, "_state", {})
    assert native.unavailable() is None
    assert built.stat().st_mtime_ns == stamp and list(fresh.iterdir()) == [built]


def test_without_a_compiler_torch_takes_over(fresh, monkeypatch):
    monkeypatch.setattr(native, "compiler", lambda: None)
    assert "no C++ compiler" in native.unavailable()
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))
    W = torch.randn(2, 3 * 4 + 4 + 4 * 3 + 3)
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 2, 0])
    got = stacked_lanes(model, nn.CrossEntropyLoss(), 0.0)(W, (x, y))
    torch.testing.assert_close(got, per_lane(model, nn.CrossEntropyLoss(), W, x, y, 0.0))
    monkeypatch.setenv(native.ENV, "on")
    with pytest.raises(native.NativeUnavailable, match="no C\\+\\+ compiler"):
        stacked_lanes(model, nn.CrossEntropyLoss(), 0.0)(W, (x, y))
    monkeypatch.setenv(native.ENV, "off")
    assert native.unavailable() == f"{native.ENV}=off"


def test_a_compiler_that_fails_is_reported_and_torch_takes_over(fresh, monkeypatch, tmp_path):
    broken = tmp_path / "broken-c++"
    broken.write_text("#!/bin/sh\necho 'c++: fatal error: out of cheese' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CXX", str(broken))
    assert "broken-c++ failed: c++: fatal error: out of cheese" in native.unavailable()
    assert not fresh.exists() or not list(fresh.iterdir())  # nothing half-built left
    sw = lrlab.sweep("digits-mlp", lrs=[0.1, 0.3], steps=2)
    assert all(run.losses.size == 3 for run in sw.runs)


def test_a_library_that_disagrees_with_torch_is_not_used(fresh, monkeypatch):
    if native.compiler() is None:
        pytest.skip("no C++ compiler on this machine")
    real = native._call

    def off_by_a_little(lib, a, *args):
        real(lib, a, *args)
        a.mul_(1.01)

    monkeypatch.setattr(native, "_call", off_by_a_little)
    assert "disagrees with torch" in native.unavailable()


@pytest.mark.parametrize("mode", ["on", "off"])
def test_a_digits_sweep_follows_plain_sgd_either_way(mode, monkeypatch):
    # The oracle: torch.optim.SGD on the same model, one learning rate at a time; the
    # largest rate diverges.
    monkeypatch.setenv(native.ENV, mode)
    model, loss_fn, (X, y), problem = lrlab.datasets.build("digits-mlp")
    lrs, steps = [0.01, 0.3, 3.0], 25
    sw = lrlab.sweep("digits-mlp", lrs=lrs, steps=steps)
    for lr, run in zip(lrs, sw.runs):
        ref, _ = sgd_oracle(model, loss_fn, [(X, y)] * steps, lr, steps, (X, y), problem.l2)
        np.testing.assert_allclose(run.losses, ref, rtol=2e-5, atol=1e-6)


def test_no_compiler_on_path_is_detected(monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert native.compiler() is None
