"""What is specific to Main and AlternateTwo (the generic suite covers the rest).

The half-linked window of the Vyukov queue is normally a two-bytecode race;
here it is opened on purpose by doing a producer's exchange without its link
(``_open_window``), so the consumer's reaction (Main spins, AlternateTwo
reports empty) is tested deterministically, not by luck.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import pytest

from impl.designs import registry
from impl.designs._mpsc import EMPTY, NEXT, POOL_SIZE, TASK, MpscQueue, effective_budget
from impl.designs.base import EventLoop, LoopFullError, LoopState, LoopStoppedError
from tests.conftest import DEADLINE_S, Blocker, wait_parked, wait_until

MPSC_DESIGNS = ("main", "alternate_two")

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def loops():
    """Loops made here are closed at teardown, with a bound."""
    made: list[EventLoop] = []

    def make(name: str, *, start: bool = True, **params: Any) -> EventLoop:
        loop = registry.create(name, **params)
        made.append(loop)
        if start:
            loop.start()
        return loop

    yield make
    for loop in made:
        loop.close()


def _open_window(loop: EventLoop, task: Any) -> list[Any]:
    """A producer's exchange without its link: returns (prev, node) to link later."""
    node = [task, None]
    prev = loop._tail.get_and_set(node)  # type: ignore[attr-defined]
    return [prev, node]


def _close_window(window: list[Any]) -> None:
    prev, node = window
    prev[NEXT] = node


# -- the queue on its own ----------------------------------------------------------


def test_effective_budget_is_min_of_nonzero():
    assert effective_budget(1024, 256) == 256
    assert effective_budget(64, 256) == 64
    assert effective_budget(1024, 0) == 1024
    assert effective_budget(0, 256) == 256
    assert effective_budget(0, 0) == sys.maxsize


def test_queue_fifo_single_thread():
    q = MpscQueue()
    assert q.is_empty() and q.pop() is EMPTY and q.try_pop() is EMPTY
    for i in range(100):
        q.push(i)
    assert [q.pop() for _ in range(100)] == list(range(100))
    assert q.is_empty() and q.pop() is EMPTY


def test_queue_recycles_clean_nodes_and_bounds_the_pool():
    q = MpscQueue()
    for i in range(10):
        q.push(i)
    assert len(q.pool) == 0
    assert [q.pop() for _ in range(10)] == list(range(10))
    assert len(q.pool) == 10  # every node moved past, the stub included
    assert all(node[TASK] is None and node[NEXT] is None for node in q.pool)
    pooled = {id(node) for node in q.pool}
    for i in range(10):
        q.push(i)
    assert len(q.pool) == 0 and id(q.head[NEXT]) in pooled  # reused, not allocated
    assert [q.pop() for _ in range(10)] == list(range(10))
    for i in range(POOL_SIZE + 100):
        q.push(i)
    while q.pop() is not EMPTY:
        pass
    assert len(q.pool) == POOL_SIZE


@pytest.mark.parametrize("name", MPSC_DESIGNS)
def test_loop_recycles_nodes_without_keeping_tasks(loops, name):
    loop = loops(name)
    blocker = Blocker()
    blocker.hold(loop)  # a backlog, so 300 nodes are live at once
    done = threading.Event()
    for _ in range(300):
        loop.submit(lambda: None)
    loop.submit(done.set)
    blocker.release.set()
    assert done.wait(DEADLINE_S)
    assert wait_parked(loop)
    pool = loop._queue.pool  # type: ignore[attr-defined]
    assert len(pool) >= 300
    assert all(node[TASK] is None and node[NEXT] is None for node in pool)


def test_queue_fifo_per_producer_under_many_producers(fine_switching):
    """8 producers race a concurrent consumer: all items once, each producer's in order."""
    q = MpscQueue()
    producers, per = 8, 3000
    go = threading.Barrier(producers + 1, timeout=DEADLINE_S)

    def produce(p: int) -> None:
        go.wait()
        for i in range(per):
            q.push((p, i))

    threads = [threading.Thread(target=produce, args=(p,), daemon=True) for p in range(producers)]
    for t in threads:
        t.start()
    go.wait()
    got: list[tuple[int, int]] = []
    end = time.monotonic() + DEADLINE_S * 3
    while len(got) < producers * per and time.monotonic() < end:
        item = q.pop()
        if item is not EMPTY:
            got.append(item)
    for t in threads:
        t.join(DEADLINE_S)
    assert len(got) == producers * per
    assert len(set(got)) == len(got)
    for p in range(producers):
        assert [i for (pp, i) in got if pp == p] == list(range(per))


def test_half_linked_window_try_pop_reports_empty_pop_spins():
    q = MpscQueue()
    node = ["late", None]
    prev = q.tail.get_and_set(node)
    assert not q.is_empty() and not q.has_linked()
    assert q.try_pop() is EMPTY  # AlternateTwo's reaction
    result: list[Any] = []
    consumer = threading.Thread(target=lambda: result.append(q.pop()), daemon=True)
    consumer.start()
    assert wait_until(lambda: q.spins > 0)  # Main's reaction: it waits, yielding the GIL
    prev[NEXT] = node
    consumer.join(DEADLINE_S)
    assert result == ["late"] and q.is_empty()


# -- Main --------------------------------------------------------------------------


def test_main_spins_through_a_half_linked_node_and_keeps_order(loops):
    loop = loops("main")
    assert wait_parked(loop)
    ran: list[str] = []
    window = _open_window(loop, lambda: ran.append("first"))
    loop.submit(lambda: ran.append("second"))  # wakes the loop, which meets the window
    assert wait_until(lambda: loop.counters().spins > 0)
    assert ran == []
    _close_window(window)
    assert wait_until(lambda: len(ran) == 2)
    assert ran == ["first", "second"]
    assert loop.counters().cas_retries == 0  # the exchange never retries


def test_main_accepts_submits_while_terminating(loops):
    loop = loops("main")
    blocker = Blocker()
    blocker.hold(loop)
    ran: list[str] = []
    stopper = threading.Thread(target=loop.shutdown, kwargs={"timeout": DEADLINE_S}, daemon=True)
    stopper.start()
    assert wait_until(lambda: loop.state == LoopState.TERMINATING)
    loop.submit(lambda: ran.append("external"))
    loop.submit_internal(lambda: ran.append("internal"))
    loop.submit_microtask(lambda: ran.append("micro"))
    blocker.release.set()
    stopper.join(DEADLINE_S)
    assert loop.is_stopped
    assert sorted(ran) == ["external", "internal", "micro"]
    with pytest.raises(LoopStoppedError):
        loop.submit(lambda: None)


def test_main_shutdown_waits_for_a_submit_in_flight(loops):
    """A producer between its increment and its link holds the shutdown drain open."""
    loop = loops("main")
    blocker = Blocker()
    blocker.hold(loop)
    loop._inflight.increment_and_get()  # a producer has entered submit ...
    stopper = threading.Thread(target=loop.shutdown, kwargs={"timeout": DEADLINE_S}, daemon=True)
    stopper.start()
    blocker.release.set()
    assert wait_until(lambda: loop.state == LoopState.TERMINATED)
    time.sleep(0.05)
    assert not loop.is_stopped  # ... so the drain must not end yet
    ran: list[int] = []
    window = _open_window(loop, lambda: ran.append(1))  # ... pushes late ...
    _close_window(window)
    loop._inflight.decrement_and_get()  # ... and leaves
    stopper.join(DEADLINE_S)
    assert loop.is_stopped and ran == [1]
    assert loop.inflight == 0


def test_main_conserves_under_many_producers_with_fine_switching(loops, fine_switching):
    loop = loops("main")
    producers, per = 8, 2000
    ran: list[tuple[int, int]] = []
    go = threading.Barrier(producers + 1, timeout=DEADLINE_S)

    def produce(p: int) -> None:
        go.wait()
        append = ran.append
        for i in range(per):
            loop.submit(lambda p=p, i=i: append((p, i)))

    threads = [threading.Thread(target=produce, args=(p,), daemon=True) for p in range(producers)]
    for t in threads:
        t.start()
    go.wait()
    for t in threads:
        t.join(DEADLINE_S)
    assert wait_until(lambda: len(ran) == producers * per)
    for p in range(producers):
        assert [i for (pp, i) in ran if pp == p] == list(range(per))
    assert loop.inflight == 0


# -- AlternateTwo --------------------------------------------------------------------


def test_alt2_does_not_spin_and_its_poll_timeout_finds_the_node(loops):
    loop = loops("alternate_two", poll_timeout_ms=10.0)
    assert wait_parked(loop)
    ran: list[str] = []
    window = _open_window(loop, lambda: ran.append("first"))
    loop.submit(lambda: ran.append("second"))  # wakes the loop, which sees "empty"
    assert wait_until(lambda: loop.counters().wakeups_received >= 1)
    assert wait_parked(loop)  # it went back to sleep instead of spinning
    assert ran == [] and loop.counters().spins == 0
    _close_window(window)  # a link that nobody follows with a wake: only the timeout helps
    assert wait_until(lambda: len(ran) == 2)
    assert ran == ["first", "second"] and loop.counters().spins == 0


def test_alt2_rejects_submits_while_terminating(loops):
    loop = loops("alternate_two")
    blocker = Blocker()
    blocker.hold(loop)
    stopper = threading.Thread(target=loop.shutdown, kwargs={"timeout": DEADLINE_S}, daemon=True)
    stopper.start()
    assert wait_until(lambda: loop.state == LoopState.TERMINATING)
    for lane in (loop.submit, loop.submit_internal, loop.submit_microtask):
        with pytest.raises(LoopStoppedError):
            lane(lambda: None)
    blocker.release.set()
    stopper.join(DEADLINE_S)
    assert loop.is_stopped


def test_alt2_microtask_ring_full_raises(loops):
    loop = loops("alternate_two", microtask_ring=4)
    outcome: dict[str, Any] = {}
    ran: list[int] = []
    done = threading.Event()

    def fill() -> None:
        for i in range(4):
            loop.submit_microtask(lambda i=i: ran.append(i))
        try:
            loop.submit_microtask(lambda: ran.append(99))
        except LoopFullError as exc:
            outcome["error"] = exc
        loop.submit(done.set)

    loop.submit(fill)
    assert done.wait(DEADLINE_S)
    assert isinstance(outcome.get("error"), LoopFullError)
    assert wait_until(lambda: len(ran) == 4) and ran == [0, 1, 2, 3]
    # drained, so the ring has room again
    again = threading.Event()
    loop.submit(lambda: loop.submit_microtask(again.set))
    assert again.wait(DEADLINE_S)


# -- both ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", MPSC_DESIGNS)
def test_microtask_from_another_thread_wakes_a_parked_loop(loops, name):
    loop = loops(name)
    assert wait_parked(loop)
    done = threading.Event()
    loop.submit_microtask(done.set)
    assert done.wait(DEADLINE_S)
    assert loop.counters().wake_syscalls >= 1


@pytest.mark.parametrize("name", MPSC_DESIGNS)
def test_internal_lane_runs_first_in_the_next_tick(loops, name):
    """A blocker held in the microtask phase; then the next tick runs internal before external."""
    loop = loops(name)
    blocker = Blocker()
    loop.submit(lambda: loop.submit_microtask(blocker))
    assert blocker.started.wait(DEADLINE_S)
    ran: list[str] = []
    loop.submit(lambda: ran.append("e1"))
    loop.submit(lambda: ran.append("e2"))
    loop.submit_internal(lambda: ran.append("i1"))
    blocker.release.set()
    assert wait_until(lambda: len(ran) == 3)
    assert ran == ["i1", "e1", "e2"]


@pytest.mark.parametrize("name", MPSC_DESIGNS)
@pytest.mark.parametrize(
    ("budget", "pop_buffer", "expected"),
    [(1024, 256, 256), (64, 256, 64), (100, 0, 100), (0, 0, 1501)],
)
def test_budget_and_pop_buffer_limit_max_batch(loops, name, budget, pop_buffer, expected):
    loop = loops(name, budget=budget, pop_buffer=pop_buffer)
    blocker = Blocker()
    blocker.hold(loop)
    count = [0]

    def tick() -> None:
        count[0] += 1

    for _ in range(1500):
        loop.submit(tick)
    before = loop.counters()
    blocker.release.set()
    assert wait_until(lambda: count[0] == 1500)
    # the blocker's batch goes on after it returns: unbounded, that is blocker + backlog
    delta = loop.counters().minus(before)
    assert delta.max_batch == expected, delta


@pytest.mark.parametrize("name", MPSC_DESIGNS)
def test_racing_producers_never_write_more_than_the_loop_reads(loops, name):
    """The pending flag: producers racing into a parked loop make at most one write per sleep."""
    loop = loops(name)
    assert wait_parked(loop)
    before = loop.counters()
    go = threading.Barrier(8, timeout=DEADLINE_S)
    count = [0]
    lock = threading.Lock()

    def task() -> None:
        with lock:
            count[0] += 1

    def produce() -> None:
        go.wait()
        for _ in range(50):
            loop.submit(task)

    threads = [threading.Thread(target=produce, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S)
    assert wait_until(lambda: count[0] == 400)
    delta = loop.counters().minus(before)
    # every fd write is matched by a loop that was parked and got woken
    assert delta.wake_syscalls >= 1
    assert delta.wake_syscalls <= delta.wakeups_received + 1, delta
    assert delta.wake_syscalls <= delta.wakeups_requested, delta


@pytest.mark.parametrize("name", MPSC_DESIGNS)
def test_stop_before_start_and_start_after_stop(loops, name):
    loop = loops(name, start=False)
    loop.shutdown(timeout=1)
    assert loop.is_stopped and loop.state == LoopState.TERMINATED
    with pytest.raises(LoopStoppedError):
        loop.submit(lambda: None)
    with pytest.raises(RuntimeError):
        loop.start()
