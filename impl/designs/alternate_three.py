"""AlternateThree: the Go study's original Main ("balanced").

Ingress is a chunked FIFO (impl.designs._chunked) with no lock of its own: the
loop's ingress lock guards it, and ``submit`` reads the state under that same
lock. That is what makes shutdown conserve tasks: the loop drains under the
lock and marks itself Terminated before releasing it, so a submit either
pushed before the final drain (and runs) or sees Terminating/Terminated (and
raises). The consumer takes up to ``budget`` tasks in one lock acquisition
and runs them outside the lock, so producers contend with it once per batch,
not once per task. The internal lane is a double buffer swapped under its own
lock; microtasks are a deque guarded by that same internal lock.

Wake-up: the loop goes Running -> Sleeping under both lane locks (ingress and
internal), re-checks the lanes, then blocks in the eventfd selector with no
lock held. Both locks, because each producer reads the state and pushes under
its own lane's lock: only a critical section that excludes both orders every
producer against the loop's publish-and-recheck (see ``_sleep``). A producer
that pushes and sees Sleeping flips the wake-pending flag 0 -> 1 and writes
the eventfd; the flag is cleared only after the loop has drained the fd, so
at most one write is outstanding however many producers arrive.

``lock_waits`` counts acquisitions that found the ingress lock held (a
``locked()`` test before ``acquire()``): a sampled measure of contention,
racy by a hair, because ``acquire(False)`` costs 45 ns more per submit here.

States are stored as plain ints (the LoopState values) because IntEnum
comparisons cost more than the rest of a submit's bookkeeping.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from impl.designs._chunked import ChunkedQueue
from impl.designs._wake import FdWaker
from impl.designs.base import (
    AWAKE,
    RUNNING,
    SLEEPING,
    TERMINATED,
    TERMINATING,
    ErrorHandler,
    EventLoop,
    LoopStoppedError,
    Task,
)

log = logging.getLogger("impl.designs.alternate_three")

#: microtasks run per microtask phase, as in the Go loop
MICROTASK_BUDGET = 1024
#: the longest blocking poll; the loop re-checks and polls again (no wake-up relies on it)
POLL_TIMEOUT_S = 10.0


class AlternateThreeLoop(EventLoop):
    design = "alternate_three"

    def __init__(
        self,
        *,
        error_handler: ErrorHandler | None = None,
        budget: int = 1024,
        chunk_size: int = 128,
    ) -> None:
        super().__init__(error_handler=error_handler)
        self._budget = budget  # 0 = unbounded (pop_many takes everything)
        self._lock = threading.Lock()  # the ingress lock: guards _queue and state transitions
        self._queue = ChunkedQueue(chunk_size)
        self._internal_lock = threading.Lock()  # guards the internal buffer and microtasks
        self._internal: list[Task] = []
        self._internal_spare: list[Task] = []
        self._micro: deque[Task] = deque()
        self._state = AWAKE
        # wake-pending flag as a Lock: acquire(False) is an atomic 0 -> 1 test-and-set,
        # so producers on the ingress and the internal lane need no shared lock for it
        self._wake_flag = threading.Lock()
        self._waker = FdWaker()

    # -- producers -----------------------------------------------------------
    def submit(self, task: Task) -> None:
        lock = self._lock
        if lock.locked():  # sampled contention: cheaper than acquire(False) (see class doc)
            lock.acquire()
            self._lock_waits += 1
        else:
            lock.acquire()
        state = self._state
        if state > SLEEPING:
            lock.release()
            raise LoopStoppedError("alternate_three: loop is shutting down")
        self._queue.push(task)
        if state == SLEEPING and self._wake_flag.acquire(False):
            self._wake()  # under the lock: close() cannot close the fd under our feet
        lock.release()

    def submit_internal(self, task: Task) -> None:
        self._push_side_lane(True, task)

    def submit_microtask(self, task: Task) -> None:
        self._push_side_lane(False, task)

    def _push_side_lane(self, internal: bool, task: Task) -> None:
        """Internal and microtask lanes share one lock (the double buffer's).

        The lane is looked up under the lock: the loop swaps the internal
        list for its spare under the same lock, so a list read before
        acquiring it could be the one being drained.
        """
        ilock = self._internal_lock
        ilock.acquire()
        state = self._state
        if state > SLEEPING:
            ilock.release()
            raise LoopStoppedError("alternate_three: loop is shutting down")
        (self._internal if internal else self._micro).append(task)
        if state == SLEEPING and self._wake_flag.acquire(False):
            self._wake()
        ilock.release()

    def _wake(self) -> None:
        # producers of both lanes get here, under different locks; the wake flag makes
        # them take turns (one holder, released by the loop only after it drained the
        # fd), so this += is not raced, except by a shutdown's wake releasing the flag
        # early: then it may undercount by one (a sampled counter, asserted as bounds)
        self._wakeups_requested += 1
        self._waker.wake()

    def _request_stop(self) -> None:
        lock, ilock = self._lock, self._internal_lock
        lock.acquire()
        ilock.acquire()
        try:
            if self._state >= TERMINATING:
                return
            if self._thread is None and not self._started.is_set():
                self._state = TERMINATED
                self._stopped.set()
                return
            log.debug("alternate_three: shutdown requested")
            self._state = TERMINATING
            self._waker.wake()  # unconditionally: the loop may be blocked or about to block
        finally:
            ilock.release()
            lock.release()

    # -- the loop --------------------------------------------------------------
    def _run(self) -> None:
        with self._lock:
            entry = self._state
            if entry == AWAKE:
                self._state = RUNNING
        if entry != AWAKE and entry != TERMINATING:  # a shutdown may precede the first tick
            raise RuntimeError("alternate_three: loop already running or stopped")
        self._mark_started()
        try:
            if entry == AWAKE:
                self._loop()
            self._final_drain()
        finally:
            self._state = TERMINATED
            self._mark_stopped()

    def _loop(self) -> None:
        lock = self._lock
        ilock = self._internal_lock
        queue = self._queue
        micro = self._micro
        waker = self._waker
        budget = self._budget
        run_batch = self._run_batch
        while self._state != TERMINATING:
            # internal lane: swap the double buffer, run everything that was in it
            if self._internal:
                ilock.acquire()
                batch = self._internal
                self._internal = self._internal_spare
                ilock.release()
                run_batch(batch)
                batch.clear()
                self._internal_spare = batch
            if self._state == TERMINATING:
                break
            # external lane: up to `budget` tasks in one lock acquisition, run outside it
            if len(queue):
                if lock.locked():
                    lock.acquire()
                    self._lock_waits += 1
                else:
                    lock.acquire()
                batch = queue.pop_many(budget)
                lock.release()
                n = len(batch)
                if n:
                    self._batches += 1
                    if n > self._max_batch:
                        self._max_batch = n
                    run_batch(batch)
            if self._state == TERMINATING:
                break
            if micro:
                self._run_microtasks()
            # poll: non-blocking while work remains, otherwise the sleep protocol
            if len(queue) or self._internal or micro:
                if waker.wait(0):
                    self._clear_wake_flag()
            else:
                self._sleep()
            if micro:
                self._run_microtasks()

    def _sleep(self) -> None:
        # Publishing Sleeping and re-checking the lanes is one critical section under
        # *both* lane locks. Each producer reads the state and appends inside one critical
        # section of its lane's lock (the ingress lock for submit, the internal lock for
        # the side lanes), so mutual exclusion orders the two: either the producer's
        # section came first and the re-check sees its task, or ours came first and it
        # reads Sleeping and wakes us. This is what Go gets from a sequentially consistent
        # state atomic ("push, then load" against "CAS, then load lengths"); a plain
        # attribute has no such ordering. With the ingress lock alone a side-lane task
        # appended as the loop parked waited for POLL_TIMEOUT_S (without the GIL: 1 to 16
        # of 2,000-4,000 rounds of tests/test_free_threaded_wakeups.py). The cost is one
        # uncontended acquire/release per sleep on the loop thread; submits pay nothing.
        # Lock order as everywhere: ingress, then internal.
        lock, ilock = self._lock, self._internal_lock
        lock.acquire()
        ilock.acquire()
        if self._state != RUNNING:  # Terminating: leave it for the loop condition
            ilock.release()
            lock.release()
            return
        self._state = SLEEPING
        if len(self._queue) or self._internal or self._micro:
            self._state = RUNNING
            ilock.release()
            lock.release()
            return
        ilock.release()
        lock.release()
        woke = self._waker.wait(POLL_TIMEOUT_S)
        # back to Running under the ingress lock only: a side-lane producer that still
        # reads Sleeping makes one spare (flag-coalesced) wake; one that reads Running has
        # appended where the next tick or the next sleep's re-check finds it
        lock.acquire()
        if woke:
            self._wakeups_received += 1
            self._clear_wake_flag()
        if self._state == SLEEPING:
            self._state = RUNNING
        lock.release()

    def _clear_wake_flag(self) -> None:
        """After a clean drain of the fd: the next producer that finds us asleep must write."""
        flag = self._wake_flag
        if flag.locked():
            flag.release()  # only the loop thread releases; producers only try-acquire

    def _run_microtasks(self) -> None:
        micro = self._micro
        n = min(len(micro), MICROTASK_BUDGET)
        popleft = micro.popleft
        self._run_batch([popleft() for _ in range(n)])

    def _run_batch(self, batch: list[Task]) -> None:
        for task in batch:
            try:
                task()
            except BaseException as exc:  # noqa: BLE001 - a task must never kill the loop
                self._report_error(exc, task)
        self._executed += len(batch)

    def _final_drain(self) -> None:
        """Run everything accepted; mark Terminated in the same critical section that finds
        all lanes empty, so no submit can slip in between."""
        lock, ilock = self._lock, self._internal_lock
        while True:
            lock.acquire()
            ilock.acquire()
            internal = self._internal
            self._internal = []
            external = self._queue.pop_many(0)
            micro = list(self._micro)
            self._micro.clear()
            if not internal and not external and not micro:
                self._state = TERMINATED
                ilock.release()
                lock.release()
                log.debug("alternate_three: drained, terminated")
                return
            ilock.release()
            lock.release()
            self._run_batch(internal)
            if external:
                self._batches += 1
                self._max_batch = max(self._max_batch, len(external))
            self._run_batch(external)
            self._run_batch(micro)

    # -- observation and cleanup ---------------------------------------------------
    def _release_resources(self) -> None:
        # under both lane locks: a producer writes the fd only while holding one of them
        with self._lock, self._internal_lock:
            self._waker.close()
