"""Main: the study's "balanced" design with a lock-free ingress.

What makes it Main (go-study.md section 1):

- External lane: the Vyukov MPSC list of ``impl._mpsc``. A submit is one
  atomic exchange of the tail plus one link store; the consumer spins (and
  counts ``spins``) when it meets a half-linked node, yielding the GIL so the
  producer inside the window can finish its link.
- An ``inflight`` counter (``cereggii.AtomicInt64``) is incremented on entry
  to every submit and decremented on exit. It costs two atomic operations
  per submit, and it is what lets shutdown promise conservation.
- Drain budget per tick: ``min(budget, pop_buffer)`` external tasks, the
  nonzero ones (0 = unbounded). Tick phases: all internal tasks present at
  the start of the phase, then the external budget, then up to 1024
  microtasks, then poll (only when idle: no I/O is registered, so a
  zero-timeout poll would only read our own wake fd), then microtasks again.
- Sleep is check-then-sleep: CAS Running→Sleeping, *then* re-check the
  lanes, then block on the eventfd for at most 10 s. A producer that pushed
  and then sees Sleeping flips the wake-pending flag 0→1 and, if it won,
  writes the fd once; the loop drains the fd and clears the flag. Because
  the state read follows the push and the re-check follows the CAS, either
  the loop sees the task or the producer sees Sleeping: no lost wake-up.
- Shutdown: Terminating is stored and the loop woken; submits are accepted
  until the loop stores Terminated; then the loop drains every lane until
  ``inflight == 0`` and three consecutive passes found nothing. A submit
  that incremented ``inflight`` before reading a state other than
  Terminated keeps the counter above zero until its node is linked, so every
  submit that returned normally has its task run.

Internal and microtask lanes are ``collections.deque``s without a lock:
``append``/``popleft`` are atomic under the GIL, which makes them the
cheapest correct multi-producer lanes in CPython 3.11 (a second MPSC list
would cost a node allocation and an exchange for no gain, as these lanes are
not what the study measures). They take part in the same ``inflight`` and
wake protocol as the external lane, so ``submit_microtask`` may be called
from any thread, not only from tasks on the loop thread.

Speed: ``submit`` inlines the queue's push (a pooled node, the exchange,
the link) and reads the shared objects through instance attributes, which
3.11 specialises; caching bound methods measured slower than calling methods
on cached objects. The external drain is inlined in the tick loop. No
counter is touched per submit except ``inflight``; ``wakeups_requested``
is counted only by a producer that saw Sleeping with the pending flag clear.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from cereggii import AtomicInt64

from impl._mpsc import EMPTY as _EMPTY
from impl._mpsc import NEXT, TASK, MpscQueue, effective_budget, spin_pause
from impl._wake import FdWaker
from impl.base import (
    CounterSnapshot,
    ErrorHandler,
    EventLoop,
    LoopState,
    LoopStoppedError,
    Task,
)

log = logging.getLogger("impl.main")

_AWAKE = int(LoopState.AWAKE)
_RUNNING = int(LoopState.RUNNING)
_SLEEPING = int(LoopState.SLEEPING)
_TERMINATING = int(LoopState.TERMINATING)
_TERMINATED = int(LoopState.TERMINATED)

#: longest block in the poll; there are no timers, so this only bounds a missed wake's cost
MAX_POLL_S = 10.0
#: microtasks run per microtask phase
MICROTASK_BUDGET = 1024
#: consecutive empty drain passes (with ``inflight == 0``) that end the shutdown
SHUTDOWN_EMPTY_PASSES = 3
#: a producer stuck inside submit longer than this (it died mid-submit) ends the wait, logged
SHUTDOWN_STUCK_S = 10.0


class MainLoop(EventLoop):
    design = "main"

    def __init__(
        self,
        *,
        error_handler: ErrorHandler | None = None,
        budget: int = 1024,
        pop_buffer: int = 256,
    ) -> None:
        super().__init__(error_handler=error_handler)
        self.budget = effective_budget(budget, pop_buffer)
        self._queue = MpscQueue()
        self._tail = self._queue.tail  # producers touch only the tail and the node pool
        self._pool = self._queue.pool
        self._internal: deque[Task] = deque()
        self._micro: deque[Task] = deque()
        self._state = AtomicInt64(_AWAKE)
        self._inflight = AtomicInt64(0)
        self._pending = AtomicInt64(0)  # wake-pending flag: 1 = an fd write is owed or done
        self._waker = FdWaker()
        # producer-side counters: atomics, touched only off the hot path
        self._wakeups_requested = AtomicInt64(0)
        self._cas_retries = AtomicInt64(0)
        # loop-thread counters: plain ints, one writer
        self._executed = 0
        self._errors = 0
        self._wakeups_received = 0
        self._batches = 0
        self._max_batch = 0

    # -- producers ---------------------------------------------------------------
    def submit(self, task: Task) -> None:
        inflight = self._inflight
        inflight.increment_and_get()
        try:
            state = self._state
            if state.get() == _TERMINATED:
                raise LoopStoppedError("main: loop is terminated")
            pool = self._pool  # MpscQueue.push, inlined
            if pool:
                try:
                    node = pool.pop()
                except IndexError:
                    node = [task, None]
                else:
                    node[TASK] = task
            else:
                node = [task, None]
            self._tail.get_and_set(node)[NEXT] = node
            if state.get() == _SLEEPING and not self._pending.get():
                self._wake()
        finally:
            inflight.decrement_and_get()

    def submit_internal(self, task: Task) -> None:
        self._push_lane(self._internal, task)

    def submit_microtask(self, task: Task) -> None:
        """From tasks on the loop thread or from any other thread (it wakes a parked loop)."""
        self._push_lane(self._micro, task)

    def _push_lane(self, lane: deque[Task], task: Task) -> None:
        inflight = self._inflight
        inflight.increment_and_get()
        try:
            if self._state.get() == _TERMINATED:
                raise LoopStoppedError("main: loop is terminated")
            lane.append(task)
            if self._state.get() == _SLEEPING and not self._pending.get():
                self._wake()
        finally:
            inflight.decrement_and_get()

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
        if self._pending.compare_and_set(0, 1) and self._state.get() != _TERMINATED:
            # a producer preempted since it read Sleeping may resume after close():
            # the re-check narrows (cannot close) the window for writing to a reused fd
            self._waker.wake()

    def _request_stop(self) -> None:
        state = self._state
        while True:
            cur = state.get()
            if cur >= _TERMINATING:
                break
            if state.compare_and_set(cur, _TERMINATING):
                break
            self._cas_retries.increment_and_get()
        if cur == _SLEEPING and self._pending.compare_and_set(0, 1):
            # only a parked loop needs the fd; a running one sees Terminating at its next check
            self._waker.wake()
        if self._thread is None and not self._started.is_set():
            # never started: nothing will drain, so go straight to Terminated
            state.set(_TERMINATED)
            self._stopped.set()

    # -- the loop ------------------------------------------------------------------
    def run(self) -> None:
        self._mark_started()
        state = self._state
        try:
            if state.compare_and_set(_AWAKE, _RUNNING):
                self._tick_until_stop()
            if state.get() != _TERMINATED:  # not a loop stopped before it ever ran
                state.set(_TERMINATED)
                self._drain_for_shutdown()
        finally:
            state.set(_TERMINATED)
            self._mark_stopped()

    def _tick_until_stop(self) -> None:
        """Ticks until the state leaves Running/Sleeping (i.e. Terminating was stored)."""
        queue = self._queue
        tail_get = queue.tail.get
        internal, micro = self._internal, self._micro
        state = self._state
        state_cas, state_get = state.compare_and_set, state.get
        pending = self._pending
        waker = self._waker
        budget = self.budget
        batch = range(budget)
        on_error = self._on_error
        recycle = queue.pool.append
        head = queue.head
        while True:
            # phase 1: every internal task present now (later ones wait one tick)
            if internal:
                self._run_lane(internal, len(internal))
            # phase 2: up to ``budget`` external tasks, popped inline; on ``break``
            # ``n`` is the number run (a ``for`` over a range is cheaper than counting)
            for n in batch:  # noqa: B007 - read after the loop
                nxt = head[NEXT]
                if nxt is None:
                    if tail_get() is head:
                        break
                    # half-linked: the producer is between its exchange and its link
                    spins = 0
                    while nxt is None:
                        spins += 1
                        queue.spins += 1
                        spin_pause(spins)
                        nxt = head[NEXT]
                head[NEXT] = None
                recycle(head)
                head = nxt
                task = nxt[TASK]
                nxt[TASK] = None
                try:
                    task()
                except BaseException as exc:  # noqa: BLE001 - a task must never kill the loop
                    on_error(exc, task)
            else:
                n = budget
            if n:
                queue.head = head
                self._executed += n
                self._batches += 1
                if n > self._max_batch:
                    self._max_batch = n
            # phase 3: microtasks
            if micro:
                self._run_lane(micro, min(len(micro), MICROTASK_BUDGET))
            # phase 4: poll, only when idle; check-then-sleep
            if head[NEXT] is None and not internal and not micro:
                if not state_cas(_RUNNING, _SLEEPING):
                    return  # Terminating
                if tail_get() is not head or internal or micro:
                    if not state_cas(_SLEEPING, _RUNNING):
                        return
                    continue
                if waker.wait(MAX_POLL_S):
                    self._wakeups_received += 1
                    pending.set(0)
                if not state_cas(_SLEEPING, _RUNNING):
                    return
            elif state_get() != _RUNNING:
                return
            # phase 5: microtasks again
            if micro:
                self._run_lane(micro, min(len(micro), MICROTASK_BUDGET))

    def _run_lane(self, lane: deque[Task], count: int) -> int:
        """Run ``count`` tasks from a deque lane (the caller checked they are there)."""
        popleft = lane.popleft
        on_error = self._on_error
        for _ in range(count):
            task = popleft()
            try:
                task()
            except BaseException as exc:  # noqa: BLE001 - a task must never kill the loop
                on_error(exc, task)
        self._executed += count
        self._batches += 1
        if count > self._max_batch:
            self._max_batch = count
        return count

    def _drain_once(self) -> int:
        """One shutdown pass over every lane, unbounded; returns how many tasks ran."""
        ran = 0
        if self._internal:
            ran += self._run_lane(self._internal, len(self._internal))
        queue = self._queue
        on_error = self._on_error
        n = 0
        while True:
            task = queue.pop()  # spins through half-linked nodes
            if task is _EMPTY:
                break
            n += 1
            try:
                task()
            except BaseException as exc:  # noqa: BLE001 - a task must never kill the loop
                on_error(exc, task)
        if n:
            self._executed += n
            self._batches += 1
            if n > self._max_batch:
                self._max_batch = n
        ran += n
        if self._micro:
            ran += self._run_lane(self._micro, len(self._micro))
        return ran

    def _drain_for_shutdown(self) -> None:
        """Drain until no submit is in flight and three passes in a row found nothing."""
        inflight_get = self._inflight.get
        empty_passes = 0
        stuck_since: float | None = None
        while empty_passes < SHUTDOWN_EMPTY_PASSES:
            if self._drain_once():
                empty_passes = 0
                stuck_since = None
            elif inflight_get() == 0:
                empty_passes += 1
            else:
                # a producer is between its increment and its link: let it run
                empty_passes = 0
                now = time.monotonic()
                if stuck_since is None:
                    stuck_since = now
                elif now - stuck_since > SHUTDOWN_STUCK_S:
                    log.error(
                        "main: %d submit(s) stuck in flight for %.0f s; stopping without them",
                        inflight_get(),
                        SHUTDOWN_STUCK_S,
                    )
                    return
                time.sleep(0)  # releases the GIL

    def _on_error(self, exc: BaseException, task: Any) -> None:
        self._errors += 1
        try:
            self._error_handler(exc, task)
        except BaseException:  # noqa: BLE001 - nor must a broken handler
            log.exception("main: error handler raised")

    # -- observation ---------------------------------------------------------------
    @property
    def state(self) -> LoopState:
        return LoopState(self._state.get())

    @property
    def inflight(self) -> int:
        return self._inflight.get()

    def counters(self) -> CounterSnapshot:
        return CounterSnapshot(
            tasks_executed=self._executed,
            task_errors=self._errors,
            wakeups_requested=self._wakeups_requested.get(),
            wake_syscalls=self._waker.syscalls,
            wakeups_received=self._wakeups_received,
            cas_retries=self._cas_retries.get(),
            spins=self._queue.spins,
            batches=self._batches,
            max_batch=self._max_batch,
        )

    def _release_resources(self) -> None:
        self._waker.close()
