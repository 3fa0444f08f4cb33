"""The fused analytic step: when the engine takes it, that it falls back to the eager step,
and (with a real compile, opt-in) that it gives the eager step's numbers."""

import os
import time

import numpy as np
import pytest
import torch

import lrlab
from lrlab import fused


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    """Each test compiles (or fakes) its own steps: no compiled step from another test."""
    monkeypatch.setattr(fused, "_compiled", {})
    monkeypatch.setattr(fused, "_ready", set())


@pytest.fixture
def no_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no g++, c++, clang++
    monkeypatch.delenv("CXX", raising=False)


def test_compiler_found_on_path_or_cxx(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CXX", raising=False)
    assert not fused.compiler_available()
    fake = tmp_path / "my-cxx"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", "my-cxx")
    assert fused.compiler_available()


@pytest.mark.parametrize(
    "mode, name, lanes, steps, expected",
    [
        ("auto", "rosenbrock", 1_000_000, 1000, True),
        ("auto", "rosenbrock", 100_000, 1000, False),  # a first compile would cost more
        ("auto", "rosenbrock", 64, 200, False),  # too small to pay for a compile
        ("auto", "x**2 + 3*y", 500_000, 2000, True),  # expressions too
        ("auto", "cancer-logistic", 100_000, 1000, False),  # not analytic
        ("off", "rosenbrock", 100_000, 1000, False),
        ("on", "rosenbrock", 4, 3, True),
        ("on", "cancer-logistic", 4, 3, False),
        ("nonsense", "rosenbrock", 64, 200, False),  # unknown: auto
    ],
)
def test_wanted(monkeypatch, mode, name, lanes, steps, expected):
    if not fused.compiler_available():
        pytest.skip("no C++ compiler: nothing is ever fused")
    monkeypatch.setenv(fused.ENV, mode)
    assert fused.wanted(lrlab.objective(name), lanes, steps) is expected


def test_no_compiler_never_fuses(monkeypatch, no_compiler):
    monkeypatch.setenv(fused.ENV, "on")
    assert not fused.wanted(lrlab.objective("rosenbrock"), 100_000, 1000)


def sweep(mode, monkeypatch, **kw):
    monkeypatch.setenv(fused.ENV, mode)
    return lrlab.sweep("rosenbrock", lrs=lrlab.lr_grid(1e-5, 3e-3, 12), steps=60, **kw)


def test_failed_compile_falls_back_to_eager_bitwise(monkeypatch):
    if not fused.compiler_available():
        pytest.skip("no C++ compiler: nothing is ever fused")
    eager = sweep("off", monkeypatch)
    calls = []

    def broken(values):
        calls.append(values)
        raise RuntimeError("simulated compiler failure\nwith details")

    monkeypatch.setattr(fused, "_make_step", broken)
    monkeypatch.setattr(fused, "MIN_ACTIVE_LANES", 1)
    with pytest.warns(
        RuntimeWarning, match=r"simulated compiler failure\); continuing with the eager"
    ):
        fell_back = sweep("on", monkeypatch)
    assert len(calls) == 1  # one try per sweep, then eager for every step
    for name in ("final_losses", "best_losses", "diverged_at"):
        np.testing.assert_array_equal(getattr(fell_back, name), getattr(eager, name))
    for a, b in zip(fell_back.runs, eager.runs):
        np.testing.assert_array_equal(a.losses, b.losses)


def test_failure_while_running_falls_back(monkeypatch):
    """A compiled step that raises on a later call (e.g. a new shape) hands over too."""
    eager = sweep("off", monkeypatch)
    seen = []

    def flaky(values):
        inner = eager_step(values)

        def step(W):
            seen.append(W.shape[0])
            if len(seen) > 3:
                raise RuntimeError("fails on the fourth step")
            return inner(W)

        return step

    if not fused.compiler_available():
        pytest.skip("no C++ compiler: nothing is ever fused")
    monkeypatch.setattr(fused, "_make_step", flaky)
    monkeypatch.setattr(fused, "MIN_ACTIVE_LANES", 1)
    with pytest.warns(RuntimeWarning, match="fails on the fourth step"):
        mixed = sweep("on", monkeypatch)
    assert len(seen) == 4
    np.testing.assert_allclose(mixed.final_losses, eager.final_losses, rtol=1e-12)


def test_few_lanes_take_the_eager_step():
    step = fused.fused_step(lrlab.objective("rosenbrock"))
    W = torch.ones(fused.MIN_ACTIVE_LANES - 1, 2, dtype=torch.float64)
    assert step(W) is None
    assert step.failed is None


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("LRLAB_TEST_COMPILE"),
    reason="compiles with inductor (30-120 s on a loaded machine); set LRLAB_TEST_COMPILE=1",
)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_compiled_step_matches_eager(monkeypatch, optimizer):
    monkeypatch.setattr(fused, "MIN_ACTIVE_LANES", 1)
    lrs = lrlab.lr_grid(1e-5, 1e-2, 40)  # plain SGD's top lanes diverge and retire
    monkeypatch.setenv(fused.ENV, "off")
    eager = lrlab.sweep("rosenbrock", lrs=lrs, steps=300, optimizer=optimizer)
    monkeypatch.setenv(fused.ENV, "on")
    with_fused = lrlab.sweep("rosenbrock", lrs=lrs, steps=300, optimizer=optimizer)
    assert fused.last_compile_seconds() is not None
    np.testing.assert_array_equal(with_fused.diverged_at, eager.diverged_at)
    ok = np.isfinite(eager.final_losses)
    assert ok.sum() >= 10 and (optimizer != "sgd" or (~ok).sum() >= 1)
    np.testing.assert_allclose(with_fused.final_losses, eager.final_losses, rtol=1e-9, atol=1e-14)
    for a, b in zip(with_fused.runs, eager.runs):
        np.testing.assert_allclose(a.losses, b.losses, rtol=1e-9, atol=1e-14)


def eager_step(values):
    def step(W):
        with torch.enable_grad():
            V = W.detach().requires_grad_(True)
            L = values(V)
            (G,) = torch.autograd.grad(L.sum(), V)
        return L.detach(), G, torch.linalg.vector_norm(G, dim=1)

    return step


@pytest.mark.parametrize("slow_threads, expected", [(True, 1), (False, 2)])
def test_thread_count_follows_calibration_and_is_restored(monkeypatch, slow_threads, expected):
    """A step that runs slower on two threads (as on a shared machine) runs on one; the
    sweep restores torch's count at its end."""
    if not fused.compiler_available():
        pytest.skip("no C++ compiler: nothing is ever fused")
    before = torch.get_num_threads()
    seen = []

    def make(values):
        inner = eager_step(values)

        def step(W):
            n = torch.get_num_threads()
            seen.append(n)
            if (n > 1) == slow_threads:
                time.sleep(0.01)
            return inner(W)

        return step

    monkeypatch.setattr(fused, "_make_step", make)
    monkeypatch.setattr(fused, "MIN_ACTIVE_LANES", 1)
    torch.set_num_threads(2)
    try:
        eager = sweep("off", monkeypatch)
        calibrated = sweep("on", monkeypatch)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert set(seen[: 1 + 2 * fused.CALIBRATION_ROUNDS]) == {1, 2}  # compile, then both
    assert set(seen[1 + 2 * fused.CALIBRATION_ROUNDS :]) == {expected}
    np.testing.assert_allclose(calibrated.final_losses, eager.final_losses, rtol=1e-12)
