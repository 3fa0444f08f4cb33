"""The web lab's scheduler: one test per invariant written in its docstring, then the same
invariants seen through HTTP (batched answers equal the library's, no shared models)."""

import asyncio
import concurrent.futures
import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

import lrlab
from lrlab.web import create_app
from lrlab.web.scheduler import HEAVY, LIGHT, Busy, Scheduler, TimeUp, deadline

LOOPBACK = "http://127.0.0.1"


def scheduler(**kw):
    return Scheduler(**{"seconds": 30.0, "queue": 8, "batch_lanes": 64, **kw})


def run(coro):
    return asyncio.run(coro)


def blocker():
    """A computation that holds its thread until released: ``(fn, started, release)``."""
    started, release = threading.Event(), threading.Event()

    def fn(check):
        started.set()
        assert release.wait(30)
        return "released"

    return fn, started, release


# 1. Two lanes ----------------------------------------------------------------------------------


def test_light_work_is_answered_while_heavy_work_holds_every_heavy_thread():
    s = scheduler()
    fn, started, release = blocker()

    async def scenario():
        heavy = asyncio.ensure_future(s.call(HEAVY, fn))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
        light = await s.call(LIGHT, lambda check: "light")
        assert not heavy.done()  # the light answer came while the heavy work still ran
        release.set()
        return light, await heavy

    assert run(scenario()) == ("light", "released")
    s.close()


# 2. Bounded ------------------------------------------------------------------------------------


def test_a_full_lane_refuses_at_once_and_every_admission_is_released():
    s = scheduler(queue=1)
    fn, started, release = blocker()

    async def scenario():
        heavy = asyncio.ensure_future(s.call(HEAVY, fn))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
        with pytest.raises(Busy) as refused:
            await s.call(HEAVY, lambda check: "never")
        assert refused.value.retry_after >= 1
        assert await s.call(LIGHT, lambda check: "other lane") == "other lane"
        release.set()
        await heavy
        with pytest.raises(ZeroDivisionError):
            await s.call(HEAVY, lambda check: 1 / 0)

    run(scenario())
    assert s.admitted == {LIGHT: 0, HEAVY: 0}
    s.close()


# 3. One answer each ------------------------------------------------------------------------------


def test_each_ask_of_a_batch_gets_its_own_answer_or_its_own_error():
    s = scheduler()
    fn, started, release = blocker()

    def compute(items, check):
        return {x: x * 10 for x in items}

    def answer(shared, item):
        if item == 2:
            raise ValueError("bad ask")
        return shared[item]

    async def scenario():
        hold = asyncio.ensure_future(s.call(LIGHT, fn))  # the light thread is busy: asks gather
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
        asks = [asyncio.ensure_future(s.batched("k", 1, x, compute, answer)) for x in (1, 2, 3)]
        await asyncio.sleep(0.05)
        release.set()
        await hold
        return await asyncio.gather(*asks, return_exceptions=True)

    one, two, three = run(scenario())
    assert (one, three) == (10, 30) and isinstance(two, ValueError)

    def broken(items, check):
        raise RuntimeError("the sweep failed")

    async def all_fail():
        return await asyncio.gather(
            *(s.batched("b", 1, x, broken, answer) for x in (1, 3)), return_exceptions=True
        )

    assert [str(e) for e in run(all_fail())] == ["the sweep failed"] * 2
    assert s.admitted == {LIGHT: 0, HEAVY: 0} and not s.open
    s.close()


# 4. Deadlines ------------------------------------------------------------------------------------


def test_work_that_checks_its_deadline_stops_and_late_work_never_starts():
    s = scheduler(seconds=0.2)
    fn, started, release = blocker()
    ran = []

    def loop(check):
        while True:  # stops only through its check
            check(0, 1)
            time.sleep(0.01)

    async def scenario():
        with pytest.raises(TimeUp):
            await s.call(LIGHT, loop)
        hold = asyncio.ensure_future(s.call(HEAVY, fn))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
        late = asyncio.ensure_future(s.call(HEAVY, lambda check: ran.append(1)))
        await asyncio.sleep(0.4)  # the late work's deadline passes while it waits
        release.set()
        await asyncio.gather(hold, return_exceptions=True)
        with pytest.raises(TimeUp):
            await late

    run(scenario())
    assert not ran and s.admitted == {LIGHT: 0, HEAVY: 0}
    s.close()


@pytest.mark.parametrize(
    "work",
    [
        lambda check: lrlab.sweep("rosenbrock", lrs=[1e-4, 1e-3], steps=1000, progress=check),
        lambda check: lrlab.sharpness("rosenbrock", progress=check),
        lambda check: lrlab.suggest("rosenbrock", progress=check),
    ],
    ids=["sweep", "sharpness", "suggest"],
)
def test_the_library_stops_inside_its_loops_when_the_deadline_has_passed(work):
    with pytest.raises(TimeUp):
        work(deadline(time.monotonic() - 1))


# 5. Batching -------------------------------------------------------------------------------------


def test_asks_that_wait_together_share_one_computation_up_to_the_lane_cap():
    s = scheduler(batch_lanes=5)
    fn, started, release = blocker()
    batches = []

    def compute(items, check):
        batches.append(list(items))
        return None

    async def scenario():
        hold = asyncio.ensure_future(s.call(LIGHT, fn))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
        asks = [
            asyncio.ensure_future(s.batched("k", 2, x, compute, lambda _, item: item))
            for x in range(4)
        ]
        await asyncio.sleep(0.05)
        release.set()
        await hold
        return await asyncio.gather(*asks)

    assert run(scenario()) == [0, 1, 2, 3]
    # 2 + 2 lanes fit in 5; the third ask starts a second batch.
    assert batches == [[0, 1], [2, 3]]
    s.close()


def test_batched_http_answers_are_what_each_request_alone_gets():
    # The light thread is held until nine requests have gathered behind it; they are
    # computed as one sweep, and each answer is still its own request's sweep.
    pairs = [(0.01 * (k + 1), 0.003 * (k + 1)) for k in range(9)]
    with (
        TestClient(create_app(), base_url=LOOPBACK) as c,
        concurrent.futures.ThreadPoolExecutor(len(pairs) + 1) as pool,
    ):
        sched = c.app.state.lab.scheduler
        fn, started, release = blocker()
        hold = pool.submit(asyncio.run, sched.call(LIGHT, fn))
        assert started.wait(30)

        def ask(pair):
            body = {"objective": "booth", "lrs": list(pair), "steps": 60}
            return c.post("/api/compare", json=body).json()

        futures = [pool.submit(ask, pair) for pair in pairs]

        def gathered():
            with sched.lock:
                batch = sched.open.get(("lanes", "booth", 60, None, None))  # no start, plain SGD
                return len(batch.asks) if batch else 0

        give_up = time.monotonic() + 60
        while gathered() < len(pairs) and time.monotonic() < give_up:
            time.sleep(0.01)
        assert gathered() == len(pairs), [f.result() for f in futures if f.done()]
        release.set()
        hold.result()
        answers = [f.result() for f in futures]
    for pair, d in zip(pairs, answers, strict=True):
        ref = lrlab.sweep("booth", lrs=list(pair), steps=60)
        assert [r["lr"] for r in d["runs"]] == list(pair)
        assert d["floor"] == ref.floor and d["best_lr"] == ref.best_lr
        for got, r in zip(d["runs"], ref.runs, strict=True):
            assert got["losses"] == r.to_dict()["losses"] and got["regime"] == r.regime
            assert got["params"] == r.params.tolist()
    assert sched.admitted == {LIGHT: 0, HEAVY: 0} and not sched.open


# No shared models ----------------------------------------------------------------------------


def test_concurrent_requests_on_a_dataset_problem_do_not_share_its_model():
    # Three heavy threads at once: each request trains a model of its own, so identical
    # requests give identical answers, equal to the library's.
    body = {"objective": "diabetes-linear", "steps": 20}
    with (
        TestClient(create_app(workers=3), base_url=LOOPBACK) as c,
        concurrent.futures.ThreadPoolExecutor(3) as pool,
    ):
        answers = list(pool.map(lambda _: c.post("/api/suggest", json=body), range(3)))
        lr = 0.05
        runs = list(
            pool.map(
                lambda _: c.post("/api/run", json={**body, "lr": lr}).json()["losses"], range(3)
            )
        )
    assert [r.status_code for r in answers] == [200] * 3
    lrs = {json.loads(r.content)["lr"] for r in answers}
    assert lrs == {lrlab.suggest("diabetes-linear", steps=20).lr}
    assert runs[0] == runs[1] == runs[2]
    assert runs[0] == lrlab.descend("diabetes-linear", lr=lr, steps=20).to_dict()["losses"]
