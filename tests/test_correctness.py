"""The Go study's correctness tests (T1, T2, T5, T7-T12), for every real design.

Each test is parametrized over ``impl.designs.registry`` (fixture ``design`` in
conftest) and asserts only what the design promises, read from its
capabilities: conservation under a shutdown race is asserted for designs
that promise it; the others must still never run a task twice, never run a
rejected one and never hang. Tests check behaviour, never timing: the
bounds below are there only so a loss fails instead of hanging.
"""

from __future__ import annotations

import logging
import random
import threading

import pytest
from conftest import (
    DEADLINE_S,
    Blocker,
    RaceResult,
    assert_conserved,
    assert_not_worse_than_lossy,
    shutdown_checked,
    shutdown_race,
    wait_parked,
    wait_until,
)

from impl.designs.base import LoopState, LoopStoppedError

# -- T1 shutdown conservation ---------------------------------------------------

T1_REPETITIONS = 20


@pytest.mark.timeout(240)
@pytest.mark.parametrize("lane", ["submit", "submit_internal"])
def test_t1_conservation_under_shutdown_race(design, spec, make_loop, lane, fine_switching):
    """4 producers x 2,500 submits race a shutdown placed at a different point each time."""
    rng = random.Random(1)
    results: list[RaceResult] = []
    for rep in range(T1_REPETITIONS):
        # rep 0: shutdown at once; later reps spread over the whole burst
        stop_after = 0 if rep == 0 else rng.randrange(0, 10_000)
        loop = make_loop()
        result = shutdown_race(loop, stop_after=stop_after, lane=lane)
        results.append(result)
        assert loop.is_stopped
        if spec.capabilities.conserves_on_shutdown:
            assert_conserved(result)
        else:
            assert_not_worse_than_lossy(result)
    # the race must really have been a race at least once, or the test proved nothing
    assert any(0 < r.accepted < 10_000 for r in results), [str(r) for r in results]


@pytest.mark.timeout(120)
def test_t1_backlog_accepted_while_busy_survives_shutdown(design, spec, make_loop):
    """10k tasks queued behind a busy loop, then shutdown, then release: all must run."""
    loop = make_loop()
    blocker = Blocker()
    blocker.hold(loop)
    ran = [0]

    def task() -> None:
        ran[0] += 1

    accepted = 0
    for _ in range(10_000):
        try:
            loop.submit(task)
        except LoopStoppedError:  # pragma: no cover - nothing stops the loop yet
            break
        accepted += 1
    assert accepted == 10_000

    stopper_error: list[BaseException] = []

    def stopper() -> None:
        try:
            loop.shutdown(timeout=DEADLINE_S * 2)
        except BaseException as exc:  # noqa: BLE001 - reported below
            stopper_error.append(exc)

    t = threading.Thread(target=stopper, daemon=True)
    t.start()
    # the stop must be requested before the release; designs that expose it show
    # TERMINATING, for the rest a short bounded wait lets the stopper get there
    wait_until(lambda: loop.state == LoopState.TERMINATING, timeout=0.5)
    blocker.release.set()
    t.join(DEADLINE_S * 3)
    assert not t.is_alive(), f"{design}: shutdown hung with a backlog"
    assert not stopper_error, f"{design}: shutdown raised {stopper_error[0]!r}"
    assert not blocker.timed_out
    if spec.capabilities.conserves_on_shutdown:
        assert ran[0] == accepted, f"{design}: {accepted - ran[0]} accepted tasks lost"
    else:
        assert ran[0] <= accepted


# -- T2 no lost wake-up --------------------------------------------------------


@pytest.mark.timeout(240)
def test_t2_parked_fresh_loops_wake(design, make_loop):
    """A task submitted to a parked loop runs (100 fresh loops)."""
    for i in range(100):
        loop = make_loop()
        assert wait_parked(loop), f"{design}: loop {i} never parked (state {loop.state!r})"
        done = threading.Event()
        loop.submit(done.set)
        assert done.wait(5.0), f"{design}: lost wake-up on fresh loop {i}"
        loop.close()


@pytest.mark.timeout(120)
def test_t2_many_submitters_wait_for_own_task(design, make_loop, fine_switching):
    """10 submitters x 50 tasks, each waiting for its own task: no lost wake-up."""
    loop = make_loop()
    lost: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    go = threading.Barrier(10, timeout=DEADLINE_S)

    def submitter(s: int) -> None:
        rng = random.Random(s)
        try:
            go.wait()
            for i in range(50):
                done = threading.Event()
                loop.submit(done.set)
                if not done.wait(5.0):
                    lost.append((s, i))
                    return
                if rng.random() < 0.3:
                    # give the loop a chance to park, so later submits must wake it
                    threading.Event().wait(rng.random() * 0.002)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=submitter, args=(s,), daemon=True) for s in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert not errors, errors[0]
    assert not lost, f"{design}: lost wake-ups (submitter, task): {lost[:5]}"


# -- T5 a raising task ---------------------------------------------------------


@pytest.mark.timeout(60)
def test_t5_error_goes_to_handler_and_loop_goes_on(design, spec, make_loop):
    """The handler gets the very exception and task, in order, and the loop goes on.

    Checked on every lane, because each lane has its own drain code in the
    designs and each must route a raise through the handler.
    """
    seen: list[tuple[BaseException, object]] = []
    loop = make_loop(error_handler=lambda exc, task: seen.append((exc, task)))
    expected: list[tuple[BaseException, object]] = []
    for label, lane in (("external", loop.submit), ("internal", loop.submit_internal)):
        exc = ValueError(f"boom-{label}")

        def bad(exc=exc):
            raise exc

        expected.append((exc, bad))
        lane(bad)
        done = threading.Event()
        lane(done.set)
        assert done.wait(DEADLINE_S), f"{design}: loop stopped after a raise on the {label} lane"

    if spec.capabilities.has_microtask_lane:
        exc = ValueError("boom-microtask")

        def bad_micro(exc=exc):
            raise exc

        expected.append((exc, bad_micro))
        done = threading.Event()

        def schedule() -> None:  # microtasks are queued from the loop thread
            loop.submit_microtask(bad_micro)
            loop.submit_microtask(done.set)

        loop.submit(schedule)
        assert done.wait(DEADLINE_S), f"{design}: loop stopped after a raising microtask"

    assert [e for e, _ in seen] == [e for e, _ in expected]
    assert [t for _, t in seen] == [t for _, t in expected]
    shutdown_checked(loop)
    assert loop.counters().task_errors == len(expected)


@pytest.mark.timeout(60)
def test_t5_default_handler_logs_and_prints_nothing(design, make_loop, caplog, capsys):
    """A library loop must not print: the default handler logs on the ``impl`` logger."""
    caplog.set_level(logging.ERROR)
    loop = make_loop()

    def bad():
        raise RuntimeError("default-handler-probe")

    loop.submit(bad)
    done = threading.Event()
    loop.submit(done.set)
    assert done.wait(DEADLINE_S)
    shutdown_checked(loop)
    records = [r for r in caplog.records if "default-handler-probe" in r.getMessage()
               or (r.exc_info and "default-handler-probe" in str(r.exc_info[1]))]
    assert records, f"{design}: the default handler did not log the error"
    assert all(r.levelno >= logging.ERROR for r in records)
    out, err = capsys.readouterr()
    assert out == "" and err == "", f"{design}: printed instead of logging: {out!r} {err!r}"


# -- T7 stopping ---------------------------------------------------------------


@pytest.mark.timeout(60)
def test_t7_concurrent_shutdowns(design, make_loop):
    loop = make_loop()
    for _ in range(100):
        loop.submit(lambda: None)
    errors: list[BaseException] = []
    go = threading.Barrier(10, timeout=DEADLINE_S)

    def stop() -> None:
        try:
            go.wait()
            loop.shutdown(timeout=DEADLINE_S)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=stop, daemon=True) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S * 2)
        assert not t.is_alive(), f"{design}: a concurrent shutdown hung"
    assert not errors, f"{design}: concurrent shutdown raised {errors[0]!r}"
    assert loop.is_stopped
    assert loop.state == LoopState.TERMINATED


@pytest.mark.timeout(120)
def test_t7_shutdown_racing_submitters_does_not_hang(design, make_loop, fine_switching):
    """Small, many times: the race window is hit at many different points."""
    for rep in range(30):
        loop = make_loop()
        result = shutdown_race(loop, producers=4, per_producer=200, stop_after=rep * 25)
        assert_not_worse_than_lossy(result)
        assert loop.state == LoopState.TERMINATED
        loop.close()


@pytest.mark.timeout(120)
def test_t7_repeated_start_stop(design, make_loop):
    for i in range(50):
        loop = make_loop()
        done = threading.Event()
        loop.submit(done.set)
        assert done.wait(DEADLINE_S), f"{design}: cycle {i} lost its task"
        shutdown_checked(loop)
        loop.close()
    # a loop that was never started can be stopped and closed too
    never = make_loop(start=False)
    never.shutdown(timeout=DEADLINE_S)
    never.close()
    with pytest.raises(LoopStoppedError):
        never.submit(lambda: None)


@pytest.mark.timeout(60)
def test_t7_shutdown_from_inside_a_task(design, make_loop):
    loop = make_loop()
    ran: list[int] = []
    for i in range(10):
        loop.submit(lambda i=i: ran.append(i))
    loop.submit(lambda: loop.shutdown())
    assert wait_until(lambda: loop.is_stopped), f"{design}: shutdown from a task never stopped it"
    shutdown_checked(loop)
    assert ran == list(range(10)), f"{design}: tasks queued before the stop did not all run"
    assert loop.state == LoopState.TERMINATED


@pytest.mark.timeout(60)
def test_t7_submit_after_shutdown_raises_and_close_is_idempotent(design, make_loop):
    loop = make_loop()
    shutdown_checked(loop)
    with pytest.raises(LoopStoppedError):
        loop.submit(lambda: None)
    with pytest.raises(LoopStoppedError):
        loop.submit_internal(lambda: None)
    loop.shutdown(timeout=DEADLINE_S)  # again: a no-op
    loop.close()
    loop.close()
    loop.shutdown(timeout=DEADLINE_S)  # after close: still a no-op
    with pytest.raises(LoopStoppedError):
        loop.submit(lambda: None)


# -- T8, T9, T10/T11, T12 ------------------------------------------------------


@pytest.mark.timeout(60)
def test_t8_burst_of_10000_all_run(design, make_loop):
    loop = make_loop()
    ran = [0]

    def task() -> None:
        ran[0] += 1

    for _ in range(10_000):
        loop.submit(task)
    assert wait_until(lambda: ran[0] >= 10_000, DEADLINE_S * 3), f"{design}: ran {ran[0]}/10000"
    shutdown_checked(loop)
    assert ran[0] == 10_000


@pytest.mark.timeout(60)
def test_t9_external_tasks_submit_internal_ones(design, make_loop):
    loop = make_loop()
    ext, internal = [0], [0]

    def inner() -> None:
        internal[0] += 1

    def outer() -> None:
        ext[0] += 1
        loop.submit_internal(inner)

    for _ in range(1000):
        loop.submit(outer)
    assert wait_until(lambda: internal[0] >= 1000, DEADLINE_S * 3), (
        f"{design}: external {ext[0]}/1000, internal {internal[0]}/1000"
    )
    shutdown_checked(loop)
    assert (ext[0], internal[0]) == (1000, 1000)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("lane", ["submit", "submit_internal", "submit_microtask"])
@pytest.mark.parametrize("depth", [50, 100])
def test_t10_t11_chains(design, spec, make_loop, lane, depth):
    """A task that submits the next one, ``depth`` deep, on each lane."""
    if lane == "submit_microtask" and not spec.capabilities.has_microtask_lane:
        pytest.skip(f"{design} has no microtask lane")
    loop = make_loop()
    seen: list[int] = []
    done = threading.Event()
    submit = getattr(loop, lane)

    def link(i: int) -> None:
        seen.append(i)
        if i + 1 < depth:
            submit(lambda: link(i + 1))
        else:
            done.set()

    # start the chain from the loop thread, so every lane is fed from its own thread
    loop.submit(lambda: link(0))
    assert done.wait(DEADLINE_S), f"{design}: chain on {lane} stopped at {len(seen)}/{depth}"
    assert seen == list(range(depth))


@pytest.mark.timeout(60)
def test_t12_exact_count_and_clean_shutdown(design, make_loop):
    """Exactly 1000 of 1000 accepted tasks run; shutdown (right after) raises nothing."""
    loop = make_loop()
    ran = [0]

    def task() -> None:
        ran[0] += 1

    for _ in range(1000):
        loop.submit(task)
    loop.shutdown(timeout=DEADLINE_S)  # must not raise
    assert ran[0] == 1000, f"{design}: {ran[0]} of 1000 ran"
    assert loop.counters().tasks_executed == 1000
