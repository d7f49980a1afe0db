"""Shared fixtures and helpers for the correctness suite.

The suite is written against ``impl.designs.base.EventLoop`` and ``impl.designs.registry``
only, so a newly registered design is tested without touching the tests.

Every wait here has an explicit timeout: a lost task or a hung loop must turn
into a failed assertion, never into a hung CI job.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pytest

from impl.designs import registry
from impl.designs.base import EventLoop, LoopState, LoopStoppedError, Task

#: generous bound for "this must happen": only a real loss or hang exceeds it on a noisy box
DEADLINE_S = 10.0


def real_designs() -> list[str]:
    """Registered designs without the test-only ones, whatever the environment says.

    Computed from the registry (not hard-coded) so a newly registered design
    joins the parametrization by itself.
    """
    return [n for n in registry.names() if not registry.get(n).test_only]


def design_params(names: Iterable[str] | None = None) -> list[object]:
    """``names`` (default: ``real_designs()``) as pytest params; a design this interpreter
    cannot run (``ImplSpec.unavailable``, e.g. uvloop without a free-threaded wheel) is
    skipped with the registry's one-line reason instead of failing on its import.
    """
    params: list[object] = []
    for name in real_designs() if names is None else names:
        reason = registry.get(name).unavailable()
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


def wait_until(
    pred: Callable[[], bool], timeout: float = DEADLINE_S, interval: float = 0.001
) -> bool:
    """Poll ``pred`` until true or ``timeout``; True if it became true."""
    end = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)


def wait_parked(loop: EventLoop, timeout: float = DEADLINE_S) -> bool:
    """Wait until the loop reports SLEEPING, i.e. a submit now has to wake it."""
    return wait_until(lambda: loop.state == LoopState.SLEEPING, timeout)


def shutdown_checked(loop: EventLoop, timeout: float = DEADLINE_S) -> None:
    """Shut down with a bound; a hang becomes a failure naming the design."""
    try:
        loop.shutdown(timeout=timeout)
    except TimeoutError:
        pytest.fail(f"{loop.design}: shutdown did not finish within {timeout} s")


@dataclass
class Blocker:
    """A task that holds the loop busy until released: the way to build a backlog.

    While the loop thread sits inside this task nothing is drained, so every
    submit made meanwhile is queued, and the loop is provably RUNNING (not
    SLEEPING), which some assertions depend on.
    """

    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    timed_out: bool = False

    def __call__(self) -> None:
        self.started.set()
        if not self.release.wait(DEADLINE_S * 3):
            self.timed_out = True

    def hold(self, loop: EventLoop, lane: Callable[[Task], None] | None = None) -> None:
        (lane or loop.submit)(self)
        assert self.started.wait(DEADLINE_S), f"{loop.design}: blocker task never started"


@dataclass
class RaceResult:
    design: str
    accepted: int
    rejected: int
    executed: int
    duplicates: int = 0
    strays: int = 0  # tasks that ran although their submit raised LoopStoppedError

    def __str__(self) -> str:
        return (
            f"{self.design}: accepted={self.accepted} rejected={self.rejected} "
            f"executed={self.executed} duplicates={self.duplicates} strays={self.strays}"
        )


def assert_conserved(result: RaceResult) -> None:
    """Every accepted task ran exactly once and no rejected task ran (study's T1)."""
    assert result.duplicates == 0, f"a task ran twice: {result}"
    assert result.strays == 0, f"a rejected task ran: {result}"
    assert result.executed == result.accepted, f"accepted tasks were lost: {result}"


def assert_not_worse_than_lossy(result: RaceResult) -> None:
    """What a design without the conservation promise must still satisfy."""
    assert result.duplicates == 0, f"a task ran twice: {result}"
    assert result.strays == 0, f"a rejected task ran: {result}"
    assert result.executed <= result.accepted, f"more ran than was accepted: {result}"


def shutdown_race(
    loop: EventLoop,
    *,
    producers: int = 4,
    per_producer: int = 2500,
    stop_after: int = 0,
    lane: str = "submit",
) -> RaceResult:
    """Producers submit while another thread shuts the (started) loop down.

    ``stop_after`` is how many submits must have been accepted before the
    shutdown starts, so repetitions can place the race at different points.
    Each task records its own id, so losses, duplicates and tasks that ran
    although their submit was rejected can all be told apart.
    """
    ran: list[int] = []
    accepted_ids: list[list[int]] = [[] for _ in range(producers)]
    rejected_ids: list[list[int]] = [[] for _ in range(producers)]
    go = threading.Barrier(producers + 1, timeout=DEADLINE_S)
    errors: list[BaseException] = []

    def producer(p: int) -> None:
        submit = getattr(loop, lane)
        mine, refused = accepted_ids[p], rejected_ids[p]
        append = ran.append
        try:
            go.wait()
            for i in range(per_producer):
                tid = p * per_producer + i
                try:
                    submit(lambda tid=tid: append(tid))
                except LoopStoppedError:
                    refused.append(tid)
                    break
                mine.append(tid)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=producer, args=(p,), daemon=True) for p in range(producers)]
    for t in threads:
        t.start()
    go.wait()
    wait_until(lambda: sum(map(len, accepted_ids)) >= stop_after, DEADLINE_S, 0.0002)
    shutdown_checked(loop)
    for t in threads:
        t.join(DEADLINE_S)
        assert not t.is_alive(), f"{loop.design}: a producer hung after shutdown"
    assert not errors, f"{loop.design}: a producer raised {errors[0]!r}"
    accepted = {tid for ids in accepted_ids for tid in ids}
    rejected = {tid for ids in rejected_ids for tid in ids}
    ran_set = set(ran)
    return RaceResult(
        design=loop.design,
        accepted=len(accepted),
        rejected=len(rejected),
        executed=len(ran_set & accepted),
        duplicates=len(ran) - len(ran_set),
        strays=len(ran_set & rejected),
    )


# -- fixtures ------------------------------------------------------------------


#: GIL switch interval for race tests: at the default 5 ms a producer submits its
#: whole burst in one time slice, so a "race" only ever lands between bursts;
#: at 20 us the threads interleave inside the burst and loss windows are hit
RACE_SWITCH_INTERVAL_S = 2e-5


@pytest.fixture
def fine_switching() -> Iterator[None]:
    """Make threads interleave finely for the duration of one test."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(RACE_SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@pytest.fixture(params=design_params())
def design(request: pytest.FixtureRequest) -> str:
    """One real design per test instance."""
    return request.param


@pytest.fixture
def spec(design: str) -> registry.ImplSpec:
    return registry.get(design)


@pytest.fixture
def make_loop(design: str) -> Iterator[Callable[..., EventLoop]]:
    """Factory for loops of the current design; every loop made is closed at teardown.

    Teardown closes with a bound and reports a hang instead of waiting forever
    (the loop threads are daemons, so a stuck one cannot keep pytest alive).
    """
    made: list[EventLoop] = []

    def make(*, start: bool = True, error_handler=None, **params) -> EventLoop:
        loop = registry.create(design, error_handler=error_handler, **params)
        made.append(loop)
        if start:
            loop.start()
        return loop

    yield make
    hung = []
    for loop in made:
        try:
            loop.close()
        except TimeoutError:
            hung.append(loop)
    if hung:
        pytest.fail(f"{design}: {len(hung)} loop(s) did not stop at teardown")
