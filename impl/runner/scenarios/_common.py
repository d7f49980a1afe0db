"""Building blocks shared by the scenarios: counted tasks, signals, holds, verification.

Everything here is allocation-free on the hot path (one task object is
reused for every no-op submit) and every wait is bounded, so a lost task
becomes a verification failure instead of a hang.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from impl.designs.base import EventLoop, LoopState

#: a task whose signal is not seen within this long is considered lost
LOST_TASK_S = 5.0
#: a drain that makes no progress for this long has lost tasks
STALL_S = 1.0
#: the longest we wait for a loop to report SLEEPING before a submit
PARK_WAIT_S = 0.1

perf_ns = time.perf_counter_ns


class VerificationError(RuntimeError):
    """The cell's results cannot be trusted: a task was lost, ran twice, or a wait timed out."""


@dataclass
class BlockResult:
    """What one timed block produced; ``measure`` turns it into rows."""

    ops: int  # operations timed (the block's ``loops``)
    timed_ns: int  # sum of the timed regions
    tasks: int  # every task submitted to the loop in the block (helpers included)
    samples: dict[str, list[int]] = field(default_factory=dict)  # per-op/per-burst values
    notes: dict[str, int] = field(default_factory=dict)  # e.g. ops whose loop was not parked
    #: block-level metrics besides ns_per_op: one value for the whole block
    block_values: dict[str, float] = field(default_factory=dict)
    #: declared idle time inside the block (the loop parked on purpose, untimed): calibration
    #: sizes blocks on timed_ns + idle_ns, so a long gap does not make blocks endless
    idle_ns: int = 0


class Ticks:
    """A no-op task that counts its calls (``itertools.count.__next__``: ~20 ns, no allocation)."""

    def __init__(self) -> None:
        self._count = itertools.count()
        self.task: Callable[[], object] = self._count.__next__

    def read(self) -> int:
        # repr is "count(N)"; reading must not advance the counter
        return int(repr(self._count)[6:-1])


class Marker:
    """The last task of a group: counts, records when it ran, releases the waiter."""

    __slots__ = ("_lock", "_tick", "t")

    def __init__(self, ticks: Ticks) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._tick = ticks.task
        self.t = 0

    def __call__(self) -> None:
        self.t = perf_ns()
        self._tick()
        self._lock.release()

    def wait(self, what: str) -> None:
        wait_lock(self._lock, what)


def new_signal() -> threading.Lock:
    """A lock held by the waiter; the task's ``release`` is the cheapest cross-thread signal."""
    lock = threading.Lock()
    lock.acquire()
    return lock


def wait_lock(lock: threading.Lock, what: str) -> None:
    if not lock.acquire(timeout=LOST_TASK_S):
        raise VerificationError(f"{what}: the task never ran within {LOST_TASK_S:g} s (lost)")


class Hold:
    """A task that keeps the loop provably busy (inside a task) until released."""

    def __init__(self) -> None:
        self._entered = new_signal()
        self._release = new_signal()
        self.t_resumed = 0
        self.timed_out = False

    def __call__(self) -> None:
        self._entered.release()
        ok = self._release.acquire(timeout=LOST_TASK_S * 6)
        self.t_resumed = perf_ns()
        if not ok:
            self.timed_out = True

    def hold(self, loop: EventLoop) -> None:
        loop.submit(self)
        wait_lock(self._entered, "hold task")

    def release(self) -> None:
        self._release.release()
        if self.timed_out:
            raise VerificationError("hold task: released too late (timed out)")


def wait_parked(loop: EventLoop, timeout: float = PARK_WAIT_S) -> bool:
    """Poll (untimed) until the loop reports SLEEPING; False if it did not within ``timeout``."""
    if loop.state == LoopState.SLEEPING:
        return True
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        time.sleep(20e-6)  # releases the GIL so the loop can reach its wait
        if loop.state == LoopState.SLEEPING:
            return True
    return False


def await_count(ticks: Ticks, expected: int, what: str) -> None:
    """Wait (untimed) until exactly ``expected`` counted tasks ran; fail on a stall or an excess."""
    last = ticks.read()
    changed = time.monotonic()
    while last < expected:
        time.sleep(0.001)
        now = ticks.read()
        if now != last:
            last, changed = now, time.monotonic()
        elif time.monotonic() - changed > STALL_S:
            raise VerificationError(
                f"{what}: {expected - now} of {expected} accepted tasks never ran "
                f"(no progress for {STALL_S:g} s)"
            )
    if last > expected:
        raise VerificationError(
            f"{what}: {last} tasks ran but {expected} were accepted (duplicates)"
        )


def run_bursts(
    loop: EventLoop,
    ticks: Ticks,
    burst: int,
    count: int,
    *,
    between: Callable[[], None] | None = None,
) -> list[int]:
    """Submit ``count`` bursts back to back, each awaited; return each burst's time.

    A burst's time runs from just before its first submit until its last task
    ran (stamped on the loop thread). ``between`` runs untimed before every
    burst (the mixed scenario's pause).
    """
    submit = loop.submit
    noop = ticks.task
    rest = range(burst - 1)
    times = []
    for _ in range(count):
        if between is not None:
            between()
        marker = Marker(ticks)
        t0 = perf_ns()
        for _ in rest:
            submit(noop)
        submit(marker)
        marker.wait("burst marker")
        times.append(marker.t - t0)
    return times


def burst_step(params: Mapping[str, Any]) -> int:
    """Calibration step of the burst scenarios: whole bursts only."""
    return int(params["burst"])


def timed_bursts(
    loop: EventLoop, params: Mapping[str, Any], loops: int, scenario: str
) -> tuple[list[int], int]:
    """Back-to-back awaited bursts of ``params["burst"]`` tasks, verified after timing.

    Returns each burst's time and the number of tasks run; burst_throughput
    and burst_latency differ only in what they report from it.
    """
    burst = int(params["burst"])
    count = loops // burst
    ticks = Ticks()
    times = run_bursts(loop, ticks, burst, count)
    await_count(ticks, count * burst, scenario)
    return times, count * burst


#: round trips per block at least: enough values for a block median and its tails
MIN_ROUND_TRIPS = 50


def idle_gap(loop: EventLoop, idle_us: int) -> Callable[[], bool]:
    """Untimed, before a submit: wait until the loop parks, then let it sleep ``idle_us``.

    On a VM, waking an idle CPU costs more the longer it idled
    (methodology.md, "Declare the idle gap"), so the gap is a declared
    parameter, the same for every design. Returns False when the loop did not
    report SLEEPING within the park wait (counted as ``not_parked``).
    """
    gap_s = idle_us / 1e6

    def before() -> bool:
        parked = wait_parked(loop)
        if gap_s:
            time.sleep(gap_s)
        return parked

    return before


def timed_round_trips(
    loop: EventLoop, loops: int, scenario: str, *, idle_us: int | None = None
) -> BlockResult:
    """``loops`` round trips: submit a lock-releasing task, block until it ran.

    With ``idle_us`` set, every submit waits (untimed) for the loop to park and
    then sleep ``idle_us`` (see ``idle_gap``); the time spent in those gaps is
    reported as ``idle_ns`` (calibration counts it: the gap is part of the
    experiment) and ops whose loop did not park as the note ``not_parked``.
    """
    before = None if idle_us is None else idle_gap(loop, idle_us)
    lock = new_signal()
    task = lock.release
    acquire = lock.acquire
    submit = loop.submit
    latencies = [0] * loops
    missed = 0
    idle = 0
    for i in range(loops):
        if before is not None:
            g0 = perf_ns()
            if not before():
                missed += 1
            idle += perf_ns() - g0
        t0 = perf_ns()
        submit(task)
        ok = acquire(True, LOST_TASK_S)
        t1 = perf_ns()
        if not ok:
            raise VerificationError(f"{scenario}: op {i} never ran within {LOST_TASK_S:g} s (lost)")
        latencies[i] = t1 - t0
    return BlockResult(
        ops=loops,
        timed_ns=sum(latencies),
        tasks=loops,
        samples={"latency_ns": latencies},
        notes={"not_parked": missed} if before is not None else {},
        idle_ns=idle,
    )
