"""Main: the study's "balanced" design with a lock-free ingress.

What makes it Main (go-study.md section 1):

- External lane: the Vyukov MPSC list of ``impl.designs._mpsc``. A submit is one
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

from cereggii import AtomicInt64

from impl.designs._mpsc import EMPTY as _EMPTY
from impl.designs._mpsc import NEXT, TASK, spin_pause
from impl.designs._mpsc_loop import MpscLoopBase
from impl.designs.base import (
    AWAKE,
    RUNNING,
    SLEEPING,
    TERMINATED,
    ErrorHandler,
    LoopStoppedError,
    Task,
)

log = logging.getLogger("impl.designs.main")

#: longest block in the poll; there are no timers, so this only bounds a missed wake's cost
MAX_POLL_S = 10.0
#: microtasks run per microtask phase
MICROTASK_BUDGET = 1024
#: consecutive empty drain passes (with ``inflight == 0``) that end the shutdown
SHUTDOWN_EMPTY_PASSES = 3
#: a producer stuck inside submit longer than this (it died mid-submit) ends the wait, logged
SHUTDOWN_STUCK_S = 10.0


class MainLoop(MpscLoopBase):
    design = "main"

    def __init__(
        self,
        *,
        error_handler: ErrorHandler | None = None,
        budget: int = 1024,
        pop_buffer: int = 256,
    ) -> None:
        super().__init__(error_handler=error_handler, budget=budget, pop_buffer=pop_buffer)
        self._inflight = AtomicInt64(0)

    # -- producers ---------------------------------------------------------------
    def submit(self, task: Task) -> None:
        inflight = self._inflight
        inflight.increment_and_get()
        try:
            state = self._state
            if state.get() == TERMINATED:
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
            if state.get() == SLEEPING and not self._pending.get():
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
            if self._state.get() == TERMINATED:
                raise LoopStoppedError("main: loop is terminated")
            lane.append(task)
            if self._state.get() == SLEEPING and not self._pending.get():
                self._wake()
        finally:
            inflight.decrement_and_get()

    # -- the loop ------------------------------------------------------------------
    def _run(self) -> None:
        self._mark_started()
        state = self._state
        try:
            if state.compare_and_set(AWAKE, RUNNING):
                self._tick_until_stop()
            if state.get() != TERMINATED:  # not a loop stopped before it ever ran
                state.set(TERMINATED)
                self._drain_for_shutdown()
        finally:
            state.set(TERMINATED)
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
        on_error = self._report_error
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
                self._count_batch(n)  # once per batch, not per task
            # phase 3: microtasks
            if micro:
                self._run_lane(micro, min(len(micro), MICROTASK_BUDGET))
            # phase 4: poll, only when idle; check-then-sleep
            if head[NEXT] is None and not internal and not micro:
                if not state_cas(RUNNING, SLEEPING):
                    return  # Terminating
                if tail_get() is not head or internal or micro:
                    if not state_cas(SLEEPING, RUNNING):
                        return
                    continue
                if waker.wait(MAX_POLL_S):
                    self._wakeups_received += 1
                    pending.set(0)
                if not state_cas(SLEEPING, RUNNING):
                    return
            elif state_get() != RUNNING:
                return
            # phase 5: microtasks again
            if micro:
                self._run_lane(micro, min(len(micro), MICROTASK_BUDGET))

    def _drain_once(self) -> int:
        """One shutdown pass over every lane, unbounded; returns how many tasks ran."""
        ran = 0
        if self._internal:
            ran += self._run_lane(self._internal, len(self._internal))
        queue = self._queue
        on_error = self._report_error
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
            self._count_batch(n)
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

    @property
    def inflight(self) -> int:
        return self._inflight.get()
