"""AlternateTwo: the study's "maximum performance" design.

What makes it AlternateTwo (go-study.md section 1), and what it gives up:

- Main's Vyukov MPSC ingress, but the consumer never spins: a half-linked
  node (a producer between its exchange and its link) reads as "empty" and
  the drain moves on. The task is not lost: the producer reads the state
  *after* linking, so if the loop went to sleep meanwhile the producer sees
  Sleeping and wakes it; and the fixed poll timeout (10 ms by default) would
  find it on a later tick anyway (in the original that timeout is also what
  hides any lost wake-up).
- Atomics only on the producer side: no ``inflight`` counter, so a submit is
  one state read, a pooled node, the exchange, the link and a second state
  read (the push of ``impl.designs._mpsc``, inlined).
- Effective drain budget ``min(budget, pop_buffer)`` (256 by default).
- A bounded microtask ring of ``microtask_ring`` slots: a push into a full
  ring raises ``LoopFullError``. The bound is exact for pushes from the loop
  thread (tasks); pushes from other threads are allowed but the length check
  and the append are two steps, so concurrent foreign pushes can overshoot
  the bound by at most the number of racing threads.
- Fixed poll timeout, no timers. Tick phases: internal → ≤budget external →
  microtasks → poll (when idle) → microtasks.
- Shutdown is one drain pass, and submits are rejected from Terminating on.
  A producer that read Running just before the stop and pushes after the
  drain pass loses its task: the registry says conserves_on_shutdown=False.

The internal and microtask lanes are lock-free ``collections.deque``s
(``append``/``popleft`` are atomic under the GIL), which is the cheapest
multi-producer lane CPython offers; they use the same wake protocol as the
external lane.
"""

from __future__ import annotations

from impl.designs._mpsc import NEXT, TASK
from impl.designs._mpsc_loop import MpscLoopBase
from impl.designs.base import (
    AWAKE,
    RUNNING,
    SLEEPING,
    TERMINATED,
    TERMINATING,
    ErrorHandler,
    LoopFullError,
    LoopStoppedError,
    Task,
)


class AlternateTwoLoop(MpscLoopBase):
    design = "alternate_two"

    def __init__(
        self,
        *,
        error_handler: ErrorHandler | None = None,
        budget: int = 1024,
        pop_buffer: int = 256,
        microtask_ring: int = 4096,
        poll_timeout_ms: float = 10.0,
    ) -> None:
        super().__init__(error_handler=error_handler, budget=budget, pop_buffer=pop_buffer)
        self.microtask_ring = microtask_ring
        self.poll_timeout_s = poll_timeout_ms / 1000.0

    # -- producers ---------------------------------------------------------------
    def submit(self, task: Task) -> None:
        state = self._state
        if state.get() >= TERMINATING:
            raise LoopStoppedError("alternate_two: loop is stopping")
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

    def submit_internal(self, task: Task) -> None:
        if self._state.get() >= TERMINATING:
            raise LoopStoppedError("alternate_two: loop is stopping")
        self._internal.append(task)
        if self._state.get() == SLEEPING and not self._pending.get():
            self._wake()

    def submit_microtask(self, task: Task) -> None:
        """Bounded: raises LoopFullError when the ring holds ``microtask_ring`` tasks.

        Meant for tasks on the loop thread; other threads may call it too (it
        wakes a parked loop), with the approximate bound described above.
        """
        if self._state.get() >= TERMINATING:
            raise LoopStoppedError("alternate_two: loop is stopping")
        micro = self._micro
        if len(micro) >= self.microtask_ring:
            raise LoopFullError(f"alternate_two: microtask ring full ({self.microtask_ring})")
        micro.append(task)
        if self._state.get() == SLEEPING and not self._pending.get():
            self._wake()

    # -- the loop ------------------------------------------------------------------
    def _run(self) -> None:
        self._mark_started()
        state = self._state
        try:
            if state.compare_and_set(AWAKE, RUNNING):
                self._tick_until_stop()
            if state.get() != TERMINATED:
                self._drain_once()  # the one shutdown pass
        finally:
            state.set(TERMINATED)
            self._mark_stopped()

    def _tick_until_stop(self) -> None:
        queue = self._queue
        internal, micro = self._internal, self._micro
        state = self._state
        state_cas, state_get = state.compare_and_set, state.get
        pending = self._pending
        waker = self._waker
        budget = self.budget
        batch = range(budget)
        poll_timeout = self.poll_timeout_s
        on_error = self._report_error
        recycle = queue.pool.append
        head = queue.head
        while True:
            if internal:
                self._run_lane(internal, len(internal))
            for n in batch:  # noqa: B007 - on ``break``, ``n`` is the number run
                nxt = head[NEXT]
                if nxt is None:
                    break  # empty or half-linked: no spin, a later tick finds it
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
            if micro:
                self._run_lane(micro, len(micro))
            if head[NEXT] is None and not internal and not micro:
                if not state_cas(RUNNING, SLEEPING):
                    return
                if head[NEXT] is not None or internal or micro:
                    if not state_cas(SLEEPING, RUNNING):
                        return
                    continue
                if waker.wait(poll_timeout):
                    self._wakeups_received += 1
                    pending.set(0)
                if not state_cas(SLEEPING, RUNNING):
                    return
            elif state_get() != RUNNING:
                return
            if micro:
                self._run_lane(micro, len(micro))

    def _drain_once(self) -> None:
        """The single shutdown pass: every lane, unbounded, no spin (as in the original)."""
        if self._internal:
            self._run_lane(self._internal, len(self._internal))
        queue = self._queue
        on_error = self._report_error
        recycle = queue.pool.append
        head = queue.head
        n = 0
        while True:
            nxt = head[NEXT]
            if nxt is None:
                break
            head[NEXT] = None
            recycle(head)
            head = nxt
            task = nxt[TASK]
            nxt[TASK] = None
            n += 1
            try:
                task()
            except BaseException as exc:  # noqa: BLE001 - a task must never kill the loop
                on_error(exc, task)
        queue.head = head
        if n:
            self._count_batch(n)
        if self._micro:
            self._run_lane(self._micro, len(self._micro))
