"""Schedules are pure functions of the step with the documented closed forms."""

import itertools
import math
import re

import pytest

from lrlab import schedules


def test_closed_forms():
    assert [schedules.constant()(t) for t in (0, 5, 10**6)] == [1.0, 1.0, 1.0]
    s = schedules.step_decay(3, 0.5)
    assert [s(t) for t in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    assert schedules.exponential(0.9)(10) == pytest.approx(0.9**10)
    c = schedules.cosine(50, final=0.2)
    for t in (0, 10, 25, 49, 50, 80):
        expected = 0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * min(t, 50) / 50))
        assert c(t) == pytest.approx(expected)
    w = schedules.warmup(5, then=schedules.exponential(0.5))
    assert [w(t) for t in range(7)] == [0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 0.5]


def test_one_cycle_shape():
    s = schedules.one_cycle(100, peak_at=0.25, div=10, final_div=100)
    values = [s(t) for t in range(101)]
    assert values[0] == pytest.approx(0.1)
    assert max(values) == pytest.approx(1.0) and values.index(max(values)) == 25
    assert values[-1] == pytest.approx(1 / 1000)
    assert all(a <= b for a, b in itertools.pairwise(values[:26]))
    assert all(a >= b for a, b in itertools.pairwise(values[25:]))


@pytest.mark.parametrize(
    "text, t, expected",
    [
        ("constant", 7, 1.0),
        ("step:every=2,factor=0.5", 4, 0.25),
        ("exponential:gamma=0.5", 2, 0.25),
        ("cosine", 100, 0.0),
        ("warmup:steps=4", 1, 0.5),
        ("one-cycle", 0, 0.04),
    ],
)
def test_from_text(text, t, expected):
    assert schedules.from_text(text, steps=100)(t) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text", ["cosin", "step:every=x", "step:every", "cosine:bogus=1", "warmup:x=2"]
)
def test_from_text_errors(text):
    with pytest.raises(ValueError):
        schedules.from_text(text, steps=100)


@pytest.mark.parametrize(
    "make",
    [
        lambda: schedules.step_decay(0),
        lambda: schedules.exponential(-1),
        lambda: schedules.cosine(0),
        lambda: schedules.one_cycle(100, peak_at=1.5),
        lambda: schedules.warmup(0),
    ],
)
def test_bad_arguments(make):
    with pytest.raises(ValueError):
        make()


def test_a_run_takes_a_schedule_as_text_and_refuses_bad_ones_before_it_starts():
    import torch

    import lrlab

    run = lrlab.descend("x**2", lr=0.1, steps=20, start=[1.0], schedule="cosine")
    want = lrlab.descend("x**2", lr=0.1, steps=20, start=[1.0], schedule=schedules.cosine(20))
    assert run.lrs.tolist() == want.lrs.tolist() and run.losses.tolist() == want.losses.tolist()
    for bad, error, says in [
        (5, TypeError, "expected a function of the step"),
        (lambda t: math.nan, ValueError, "schedule(0)=nan is invalid"),
        (lambda t: 1.0 - t, ValueError, "schedule(2)=-1.0 is invalid"),
        (lambda t: torch.ones(2), ValueError, "schedule(0)=[1.0, 1.0] is invalid"),
    ]:
        with pytest.raises(error, match=re.escape(says)):
            lrlab.sweep("x**2", lrs=[0.1, 0.2], steps=3, start=[1.0], schedule=bad)
