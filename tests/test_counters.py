"""The counters the benchmarks read to explain costs must count what they claim.

The summary divides counter deltas by operations ("wake syscalls per
submit"), so a counter that double-counts or misses would turn into a wrong
explanation. The assertions are built so that thread scheduling cannot make
them flaky: exact counts are asserted only where the loop's state is pinned
(parked and verified SLEEPING, or held busy inside a task), and only bounds
where the loop may legitimately wake and re-park in between.
"""

from __future__ import annotations

import math
import threading

import pytest
from conftest import DEADLINE_S, Blocker, shutdown_checked, wait_parked, wait_until

#: designs with the study's wake-pending flag, which coalesces a burst into one write;
#: the peers' adapters wrap call_soon_threadsafe, whose own wake policy we do not control
COALESCING_WAKE = {"main", "alternate_one", "alternate_two", "alternate_three"}


def _quiet_params(spec) -> dict:
    """Parameters that stop a design from waking on its own while parked.

    AlternateTwo polls with a fixed 10 ms timeout; a timeout that expires
    between two snapshots would move the loop out of SLEEPING and make a
    submit find it awake, so for exact wake counts the timeout is made long.
    """
    return {"poll_timeout_ms": 10_000.0} if "poll_timeout_ms" in spec.params else {}


def _skip_unless_coalescing(design, spec):
    if not spec.capabilities.fd_wake:
        pytest.skip(f"{design} wakes in-process (no fd)")
    if design not in COALESCING_WAKE:
        pytest.skip(f"{design}: wake policy belongs to the wrapped library")


@pytest.mark.timeout(60)
def test_one_submit_into_parked_fd_loop_makes_one_syscall(design, spec, make_loop):
    _skip_unless_coalescing(design, spec)
    loop = make_loop(**_quiet_params(spec))
    for trial in range(20):
        assert wait_parked(loop), f"{design}: never parked"
        before = loop.counters()
        done = threading.Event()
        loop.submit(done.set)
        assert done.wait(DEADLINE_S)
        assert wait_parked(loop)
        delta = loop.counters().minus(before)
        assert delta.wake_syscalls == 1, f"{design}: trial {trial}: {delta}"
        assert delta.wakeups_requested >= 1
        assert delta.tasks_executed == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [10, 1000])
def test_burst_into_parked_fd_loop_makes_one_syscall(design, spec, make_loop, n):
    """A burst that reaches a parked loop costs one write, however large.

    The first task of the burst holds the loop inside it, so the loop cannot
    drain, re-park and be woken again while the rest arrives: the state is
    pinned and the count is exact.
    """
    _skip_unless_coalescing(design, spec)
    loop = make_loop(**_quiet_params(spec))
    assert wait_parked(loop)
    before = loop.counters()
    blocker = Blocker()
    blocker.hold(loop)  # the first submit of the burst: wakes the parked loop
    ran = [0]

    def task() -> None:
        ran[0] += 1

    for _ in range(n - 1):
        loop.submit(task)
    blocker.release.set()
    assert wait_until(lambda: ran[0] == n - 1)
    assert wait_parked(loop)
    delta = loop.counters().minus(before)
    assert delta.wake_syscalls == 1, f"{design}: burst of {n}: {delta}"
    assert delta.tasks_executed == n


@pytest.mark.timeout(60)
def test_burst_while_busy_makes_no_syscall(design, spec, make_loop):
    _skip_unless_coalescing(design, spec)
    loop = make_loop(**_quiet_params(spec))
    blocker = Blocker()
    blocker.hold(loop)
    before = loop.counters()
    for _ in range(1000):
        loop.submit(lambda: None)
    mid = loop.counters().minus(before)
    assert mid.wake_syscalls == 0, f"{design}: woke a busy loop: {mid}"
    blocker.release.set()
    assert wait_until(lambda: loop.counters().minus(before).tasks_executed >= 1001)
    assert wait_parked(loop)
    delta = loop.counters().minus(before)
    assert delta.wake_syscalls == 0, f"{design}: {delta}"


@pytest.mark.timeout(60)
def test_unpinned_burst_bounds(design, spec, make_loop):
    """A free-running burst into a parked loop: the loop may wake and re-park

    mid-burst (the eventfd-woken thread gets the GIL at the producer's next
    syscall), so only bounds hold: at least one wake, never more writes than
    requests, never more requests than submits.
    """
    loop = make_loop(**_quiet_params(spec))
    assert wait_parked(loop)
    before = loop.counters()
    n = 2000
    for _ in range(n):
        loop.submit(lambda: None)
    assert wait_until(lambda: loop.counters().minus(before).tasks_executed >= n)
    assert wait_parked(loop)
    delta = loop.counters().minus(before)
    assert delta.tasks_executed == n
    assert 1 <= delta.wakeups_requested <= n, delta
    if not spec.capabilities.fd_wake:
        assert delta.wake_syscalls == 0, f"{design}: in-process wake made syscalls: {delta}"
    elif design in COALESCING_WAKE:
        assert 1 <= delta.wake_syscalls <= delta.wakeups_requested, delta


@pytest.mark.timeout(60)
def test_in_process_designs_make_no_syscalls(design, spec, make_loop):
    if spec.capabilities.fd_wake:
        pytest.skip(f"{design} wakes through a file descriptor")
    loop = make_loop()
    for _ in range(20):
        assert wait_parked(loop)
        done = threading.Event()
        loop.submit(done.set)
        assert done.wait(DEADLINE_S)
    shutdown_checked(loop)
    c = loop.counters()
    assert c.wake_syscalls == 0
    assert c.wakeups_requested >= 20  # every submit found the loop parked


@pytest.mark.timeout(60)
def test_tasks_executed_and_errors_count_exactly(design, make_loop):
    loop = make_loop(error_handler=lambda exc, task: None)
    ok, bad = 777, 23

    def fail() -> None:
        raise ValueError("counted")

    for i in range(ok + bad):
        if i % 34 == 0 and i // 34 < bad:
            loop.submit(fail)
        else:
            loop.submit(lambda: None)
    loop.submit_internal(lambda: None)
    shutdown_checked(loop)
    c = loop.counters()
    assert c.tasks_executed == ok + bad + 1, c
    assert c.task_errors == bad, c
    assert c.batches >= 1
    assert 1 <= c.max_batch <= c.tasks_executed


def _backlog_counts(loop, n: int):
    """Build an n-task backlog behind a busy loop, release it, return the counter delta.

    The delta starts while the blocker runs, so it includes the blocker's completion.
    """
    blocker = Blocker()
    blocker.hold(loop)
    before = loop.counters()
    for _ in range(n):
        loop.submit(lambda: None)
    blocker.release.set()
    assert wait_until(lambda: loop.counters().minus(before).tasks_executed >= n + 1)
    assert wait_parked(loop)
    return loop.counters().minus(before)


@pytest.mark.timeout(60)
def test_budget_caps_batches_with_default_params(design, spec, make_loop):
    budget = spec.capabilities.drain_budget
    if budget is None:
        pytest.skip(f"{design} has no drain budget")
    n = 5000
    delta = _backlog_counts(make_loop(), n)
    assert delta.max_batch <= budget, f"{design}: batch above budget {budget}: {delta}"
    assert delta.batches >= math.ceil(n / budget), delta
    assert delta.tasks_executed == n + 1  # the backlog and the blocker


@pytest.mark.timeout(60)
def test_budget_params_set_the_budget(design, spec, make_loop):
    """A budget sweep sets every budget param to one value; the batches must follow."""
    if not spec.capabilities.budget_params:
        pytest.skip(f"{design} has no budget parameter")
    budget, n = 64, 2000
    loop = make_loop(**{p: budget for p in spec.capabilities.budget_params})
    delta = _backlog_counts(loop, n)
    assert delta.max_batch <= budget, delta
    assert delta.batches >= math.ceil(n / budget), delta


@pytest.mark.timeout(60)
def test_unbudgeted_baseline_drains_backlog_in_one_batch(design, make_loop):
    if design != "baseline":
        pytest.skip("only Baseline promises the whole-list swap")
    delta = _backlog_counts(make_loop(), 3000)
    assert delta.max_batch == 3000, delta
