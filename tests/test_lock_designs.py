"""Design-specific tests for the lock-based designs and the peers.

The generic suite (conservation, wake-ups, errors, shutdown races) runs on
every registered design; these tests pin down what makes AlternateOne,
AlternateThree and the asyncio/uvloop peers what they are: the chunked
queue's bookkeeping, the budgets, the lane order, the transition table, the
logging, and the shutdown protocols. Every wait has a timeout.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

import pytest
from conftest import design_params
from hypothesis import given, settings
from hypothesis import strategies as st

from impl.designs import registry
from impl.designs._chunked import ChunkedQueue, ChunkInvariantError
from impl.designs.base import InvalidTransitionError, LoopState, LoopStoppedError

WAIT = 10.0
LOCK_DESIGNS = ("alternate_one", "alternate_three")
PEERS = ("asyncio", "uvloop")


# -- the chunked queue ----------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    chunk_size=st.integers(1, 9),
    ops=st.lists(st.one_of(st.just(("push",)), st.just(("pop",)),
                           st.tuples(st.just("many"), st.integers(-1, 30))), max_size=200),
)
def test_chunked_queue_matches_a_deque(chunk_size, ops):
    q = ChunkedQueue(chunk_size)
    ref: deque[int] = deque()
    counter = 0
    for op in ops:
        if op[0] == "push":
            q.push(counter)
            ref.append(counter)
            counter += 1
        elif op[0] == "pop":
            assert q.pop() == (ref.popleft() if ref else None)
        else:
            limit = op[1]
            n = len(ref) if limit <= 0 else min(limit, len(ref))
            assert q.pop_many(limit) == [ref.popleft() for _ in range(n)]
        q.check()
        assert len(q) == len(ref)


def test_chunked_queue_reuses_chunks_and_clears_slots():
    q = ChunkedQueue(4)
    for i in range(1, 13):
        q.push(i)
    assert q.pop_many(0) == list(range(1, 13))
    assert len(q._pool) == 2  # the two retired chunks wait for reuse
    assert all(slot is None for slot in q._head)  # popped tasks are not kept alive
    for i in range(9):
        q.push(i)
    assert len(q._pool) == 0
    q.check()


def test_chunked_queue_check_detects_corruption():
    q = ChunkedQueue(8)
    q.push(1)
    q._length = 5
    with pytest.raises(ChunkInvariantError):
        q.check()


# -- AlternateOne -----------------------------------------------------------------------
def test_alternate_one_rejects_an_illegal_transition():
    loop = registry.create("alternate_one")
    try:
        with pytest.raises(InvalidTransitionError):
            loop._transition(LoopState.SLEEPING)  # Awake -> Sleeping is not in the table
        loop.shutdown(timeout=WAIT)
        assert loop.state is LoopState.TERMINATED
        with pytest.raises(InvalidTransitionError):
            loop._transition(LoopState.RUNNING)
    finally:
        loop.close()


def test_alternate_one_records_and_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="impl.designs.alternate_one")
    seen = []
    loop = registry.create("alternate_one", error_handler=lambda exc, task: seen.append(exc))
    loop.submit(lambda: 1 / 0)
    record = loop._external._head[0]
    assert isinstance(record, tuple) and len(record) == 3 and record[0] == 0
    assert record[2] == "external"
    loop.start()
    loop.shutdown(timeout=WAIT)
    loop.close()
    assert len(seen) == 1 and isinstance(seen[0], ZeroDivisionError)
    text = caplog.text
    assert "Traceback" in text and "ZeroDivisionError" in text and "task 0" in text
    assert "shutdown phase 1" in text and "phase 3" in text


def test_alternate_one_detects_a_corrupt_lane():
    loop = registry.create("alternate_one")
    try:
        loop._micro._length = 3  # corrupt a lane the submit does not even touch
        with pytest.raises(ChunkInvariantError):
            loop.submit(lambda: None)
        loop._micro._length = 0
    finally:
        loop.close()


# -- both lock designs ---------------------------------------------------------------
@pytest.mark.parametrize("design", LOCK_DESIGNS)
@pytest.mark.parametrize("budget", [1, 7, 0])
def test_budget_caps_the_external_batch(design, budget):
    loop = registry.create(design, budget=budget, chunk_size=5)
    done = threading.Event()
    for _ in range(50):
        loop.submit(lambda: None)
    loop.submit(done.set)
    with loop:
        assert done.wait(WAIT)
        c = loop.counters()
    assert c.tasks_executed == 51
    assert c.max_batch == (51 if budget == 0 else budget)


@pytest.mark.parametrize("design", LOCK_DESIGNS)
def test_tick_order_internal_external_microtask(design):
    loop = registry.create(design)
    order = []
    done = threading.Event()
    loop.submit_microtask(lambda: order.append("micro"))
    loop.submit(lambda: order.append("external"))
    loop.submit_internal(lambda: order.append("internal"))
    loop.submit(done.set)
    with loop:
        assert done.wait(WAIT)
        loop.shutdown(timeout=WAIT)  # the microtask may still be running after done.set
    assert order == ["internal", "external", "micro"]


@pytest.mark.parametrize("design", design_params([*LOCK_DESIGNS, *PEERS]))
def test_tasks_accepted_while_blocked_all_run_and_late_submits_fail(design):
    """Go T1 (later form): 10k tasks queued behind a blocked task, then shutdown, then release."""
    loop = registry.create(design).start()
    gate = threading.Event()
    entered = threading.Event()
    count = [0]

    def block():
        entered.set()
        gate.wait(WAIT)

    def bump():
        count[0] += 1

    loop.submit(block)
    assert entered.wait(WAIT)
    for _ in range(10_000):
        loop.submit(bump)
    stopper = threading.Thread(target=loop.shutdown, kwargs={"timeout": WAIT})
    stopper.start()
    for _ in range(1000):  # shutdown must be requested before we test the rejection
        if loop.state is not LoopState.RUNNING and loop.state is not LoopState.SLEEPING:
            break
        threading.Event().wait(0.001)
    with pytest.raises(LoopStoppedError):
        loop.submit(bump)
    gate.set()
    stopper.join(WAIT)
    assert not stopper.is_alive()
    loop.close()
    assert count[0] == 10_000
    assert loop.state is LoopState.TERMINATED


# -- peers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("design", design_params(PEERS))
def test_peer_closes_its_loop(design):
    loop = registry.create(design)
    done = threading.Event()
    with loop:
        loop.submit(done.set)
        assert done.wait(WAIT)
    assert loop._loop.is_closed()
    if design == "uvloop":
        assert type(loop._loop).__module__.startswith("uvloop")


@pytest.mark.parametrize("design", design_params(PEERS))
def test_peer_never_started_closes_cleanly(design):
    loop = registry.create(design)
    loop.close()
    assert loop.state is LoopState.TERMINATED
    with pytest.raises(LoopStoppedError):
        loop.submit(lambda: None)
