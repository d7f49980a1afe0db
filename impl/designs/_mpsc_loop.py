"""What Main and AlternateTwo share around their Vyukov ingress.

Both designs keep the same state machine (an atomic int, transitions by
compare-and-set), the same wake protocol (a pending flag that lets one
producer per sleep write the eventfd), the same deque lanes for internal
tasks and microtasks, and the same counters. They differ in the submit hot
path, the tick loop and shutdown, which stay in their own modules so each
reads as its design; this base holds only what is identical.
"""

from __future__ import annotations

import dataclasses
from collections import deque

from cereggii import AtomicInt64

from impl.designs._mpsc import MpscQueue, effective_budget
from impl.designs._wake import FdWaker
from impl.designs.base import (
    AWAKE,
    SLEEPING,
    TERMINATED,
    TERMINATING,
    CounterSnapshot,
    ErrorHandler,
    EventLoop,
    LoopState,
    Task,
)


class MpscLoopBase(EventLoop):
    def __init__(
        self, *, error_handler: ErrorHandler | None, budget: int, pop_buffer: int
    ) -> None:
        super().__init__(error_handler=error_handler)
        self.budget = effective_budget(budget, pop_buffer)
        self._queue = MpscQueue()
        self._tail = self._queue.tail  # producers touch only the tail and the node pool
        self._pool = self._queue.pool
        self._internal: deque[Task] = deque()
        self._micro: deque[Task] = deque()
        self._state = AtomicInt64(AWAKE)
        self._pending = AtomicInt64(0)  # wake-pending flag: 1 = an fd write is owed or done
        self._waker = FdWaker()
        # producer-side counters: atomics (producers are lock-free), off the hot path;
        # the loop-thread counters are the base class's plain ints
        self._wakeups_requested = AtomicInt64(0)
        self._cas_retries = AtomicInt64(0)

    # -- producers -------------------------------------------------------------
    def _wake(self) -> None:
        """A producer saw the loop asleep with no wake pending: one fd write per sleep.

        The caller reads the flag before calling, so a burst into a parked
        loop pays one extra atomic read per submit, not an increment and a
        failing CAS: a loop woken through the fd still needs the GIL, and a
        producer that keeps submitting holds it for up to the switch
        interval, so "state is Sleeping" stays true for thousands of submits.
        ``wakeups_requested`` therefore counts producers that saw Sleeping
        with the flag clear (and tried to claim it).
        """
        self._wakeups_requested.increment_and_get()
        if self._pending.compare_and_set(0, 1) and self._state.get() != TERMINATED:
            # FdWaker ignores a wake after close(), so a producer preempted
            # since it read Sleeping cannot write to a reused fd number
            self._waker.wake()

    def _request_stop(self) -> None:
        state = self._state
        while True:
            cur = state.get()
            if cur >= TERMINATING:
                break
            if state.compare_and_set(cur, TERMINATING):
                break
            self._cas_retries.increment_and_get()
        if cur == SLEEPING and self._pending.compare_and_set(0, 1):
            # only a parked loop needs the fd; a running one sees Terminating at its next check
            self._waker.wake()
        if self._thread is None and not self._started.is_set():
            # never started: nothing will drain, so go straight to Terminated
            state.set(TERMINATED)
            self._stopped.set()

    # -- the loop thread ---------------------------------------------------------
    def _run_lane(self, lane: deque[Task], count: int) -> int:
        """Run ``count`` tasks from a deque lane (the caller checked they are there)."""
        popleft = lane.popleft
        on_error = self._report_error
        for _ in range(count):
            task = popleft()
            try:
                task()
            except BaseException as exc:  # noqa: BLE001 - a task must never kill the loop
                on_error(exc, task)
        self._count_batch(count)
        return count

    # -- observation ---------------------------------------------------------------
    @property
    def state(self) -> LoopState:
        return LoopState(self._state.get())

    def counters(self) -> CounterSnapshot:
        """The base counters, with the producers' atomics and the queue's spins."""
        return dataclasses.replace(
            super().counters(),
            wakeups_requested=self._wakeups_requested.get(),
            cas_retries=self._cas_retries.get(),
            spins=self._queue.spins,
        )
