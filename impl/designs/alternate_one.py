"""AlternateOne: the Go study's "maximum safety" design (with its later conservation fix).

Everything that could go wrong is checked, and everything is serialised by
one lock for all three lanes (external, internal, microtask; each a chunked
FIFO from impl.designs._chunked):

- every push and every pop re-checks the invariants of all three lanes
  before and after (indexes in range, length counters agree);
- the consumer pops one task per lock acquisition (acquire, pop one,
  release): the cost this design exists to measure;
- every task gets an ID from a counter and travels as a 3-field record
  (id, fn, lane); a failing task's full traceback is formatted and logged
  (DEBUG) before the error handler sees it;
- state changes go through a transition table; an impossible one raises
  InvalidTransitionError instead of silently corrupting the loop;
- shutdown phases are logged at DEBUG.

Sleep: Running -> Sleeping under the lock, re-check the lanes, then block in
the eventfd selector while holding the poller lock (the original holds its
poller's mutex while blocking; nothing else needs it here, so it only costs
its acquire/release). Wake: a producer pushes and, still under the lock, if
the loop is Sleeping and the wake-pending flag flips 0 -> 1, writes the fd.

Conservation (the fixed version): submit checks the state under the lock
and refuses once Terminating; the final drain pops under the lock and marks
Terminated inside the same critical section that finds every lane empty.
"""

from __future__ import annotations

import logging
import threading
import traceback

from impl.designs._chunked import ChunkedQueue
from impl.designs._wake import FdWaker
from impl.designs.base import (
    ErrorHandler,
    EventLoop,
    InvalidTransitionError,
    LoopState,
    LoopStoppedError,
    Task,
)

log = logging.getLogger("impl.designs.alternate_one")

AWAKE = LoopState.AWAKE
RUNNING = LoopState.RUNNING
SLEEPING = LoopState.SLEEPING
TERMINATING = LoopState.TERMINATING
TERMINATED = LoopState.TERMINATED

#: the only legal state changes; anything else is a bug and raises
TRANSITIONS: dict[LoopState, frozenset[LoopState]] = {
    AWAKE: frozenset({RUNNING, TERMINATING, TERMINATED}),
    RUNNING: frozenset({SLEEPING, TERMINATING}),
    SLEEPING: frozenset({RUNNING, TERMINATING}),
    TERMINATING: frozenset({TERMINATED}),
    TERMINATED: frozenset(),
}
# the same table as a matrix indexed by state value: Enum hashing is a Python-level
# call, list indexing by an IntEnum is not
_ALLOWED = [[new in TRANSITIONS[old] for new in LoopState] for old in LoopState]

EXTERNAL = "external"
INTERNAL = "internal"
MICROTASK = "microtask"

#: microtasks run per microtask phase, as in the Go loop
MICROTASK_BUDGET = 1024
#: the longest blocking poll; the loop re-checks and polls again (no wake-up relies on it)
POLL_TIMEOUT_S = 10.0


class AlternateOneLoop(EventLoop):
    design = "alternate_one"

    def __init__(
        self,
        *,
        error_handler: ErrorHandler | None = None,
        budget: int = 1024,
        chunk_size: int = 128,
    ) -> None:
        super().__init__(error_handler=error_handler)
        self._budget = budget  # 0 = unbounded: drain the external lane until empty
        self._lock = threading.Lock()  # the one lock: all lanes, the state, the flag, the ids
        self._poller_lock = threading.Lock()  # held while blocked in the selector
        self._external = ChunkedQueue(chunk_size)
        self._internal = ChunkedQueue(chunk_size)
        self._micro = ChunkedQueue(chunk_size)
        self._lanes = (self._external, self._internal, self._micro)
        self._state = AWAKE
        self._wake_pending = False
        self._next_id = 0
        self._waker = FdWaker()

    # -- invariants and state (caller holds the lock) -----------------------------
    def _check_invariants(self) -> None:
        external, internal, micro = self._lanes
        external.check()
        internal.check()
        micro.check()

    def _transition(self, new: LoopState) -> None:
        old = self._state
        if not _ALLOWED[old][new]:
            raise InvalidTransitionError(
                f"alternate_one: illegal transition {old.name} -> {new.name}"
            )
        self._state = new

    def _acquire(self) -> None:
        lock = self._lock
        if lock.locked():  # sampled contention (a locked() test is cheaper than acquire(False))
            lock.acquire()
            self._lock_waits += 1
        else:
            lock.acquire()

    # -- producers -----------------------------------------------------------
    def _push(self, task: Task, lane: ChunkedQueue, lane_name: str) -> None:
        self._acquire()
        try:
            state = self._state
            if state is TERMINATING or state is TERMINATED:
                raise LoopStoppedError("alternate_one: loop is shutting down")
            self._check_invariants()
            task_id = self._next_id
            self._next_id = task_id + 1
            lane.push((task_id, task, lane_name))
            self._check_invariants()
            if state is SLEEPING and not self._wake_pending:
                self._wake_pending = True
                self._wakeups_requested += 1
                self._waker.wake()  # under the lock: close() cannot close the fd meanwhile
        finally:
            self._lock.release()

    def submit(self, task: Task) -> None:
        self._push(task, self._external, EXTERNAL)

    def submit_internal(self, task: Task) -> None:
        self._push(task, self._internal, INTERNAL)

    def submit_microtask(self, task: Task) -> None:
        self._push(task, self._micro, MICROTASK)

    def _request_stop(self) -> None:
        self._acquire()
        try:
            state = self._state
            if state is TERMINATING or state is TERMINATED:
                return
            if state is AWAKE and self._thread is None and not self._started.is_set():
                log.debug("alternate_one: shutdown before start: terminated")
                self._transition(TERMINATED)
                self._stopped.set()
                return
            log.debug("alternate_one: shutdown phase 1: %s -> TERMINATING", state.name)
            self._transition(TERMINATING)
            self._waker.wake()  # unconditionally: the loop may be blocked or about to block
        finally:
            self._lock.release()

    # -- the loop --------------------------------------------------------------
    def _run(self) -> None:
        self._acquire()
        try:
            entry = self._state
            if entry is AWAKE:
                self._transition(RUNNING)
        finally:
            self._lock.release()
        if entry is not AWAKE and entry is not TERMINATING:
            raise RuntimeError("alternate_one: loop already running or stopped")
        self._mark_started()
        try:
            if entry is AWAKE:
                self._loop()
            self._final_drain()
        finally:
            if self._state is not TERMINATED:  # only after a crash: force it, the loop is gone
                log.error("alternate_one: loop ended in state %s", self._state.name)
                self._state = TERMINATED
            self._mark_stopped()

    def _pop(self, lane: ChunkedQueue) -> tuple[int, Task, str] | None:
        """One locked pop: acquire, check, pop one, check, release."""
        self._acquire()
        try:
            self._check_invariants()
            record = lane.pop()
            self._check_invariants()
        finally:
            self._lock.release()
        return record

    def _loop(self) -> None:
        external, internal, micro = self._lanes
        budget = self._budget
        pop = self._pop
        execute = self._execute
        while self._state is not TERMINATING:
            # internal: the tasks present now (ones they submit wait for the next tick)
            for _ in range(len(internal)):
                record = pop(internal)
                if record is None:
                    break
                execute(record)
            if self._state is TERMINATING:
                break
            # external: up to `budget`, one locked pop each
            n = 0
            while (budget == 0 or n < budget) and len(external):
                record = pop(external)
                if record is None:
                    break
                execute(record)
                n += 1
            if n:
                self._batches += 1
                if n > self._max_batch:
                    self._max_batch = n
            if self._state is TERMINATING:
                break
            self._run_microtasks()
            if self._state is TERMINATING:
                break
            self._poll()
            self._run_microtasks()

    def _run_microtasks(self) -> None:
        micro = self._micro
        for _ in range(min(len(micro), MICROTASK_BUDGET)):
            record = self._pop(micro)
            if record is None:
                break
            self._execute(record)

    def _poll(self) -> None:
        """Non-blocking poll while work remains; otherwise Sleeping, re-check, block."""
        external, internal, micro = self._lanes
        self._acquire()
        try:
            if self._state is not RUNNING:
                return
            if len(external) or len(internal) or len(micro):
                blocking = False
            else:
                self._transition(SLEEPING)
                # re-check after publishing Sleeping: a producer that pushed earlier saw
                # Running and did not wake us, so its task must be visible now
                blocking = not (len(external) or len(internal) or len(micro))
                if not blocking:
                    self._transition(RUNNING)
                    return
        finally:
            self._lock.release()
        with self._poller_lock:
            woke = self._waker.wait(POLL_TIMEOUT_S if blocking else 0)
        self._acquire()
        try:
            if woke:
                self._wake_pending = False  # cleared after the fd was drained
                if blocking:
                    self._wakeups_received += 1
            if self._state is SLEEPING:
                self._transition(RUNNING)
        finally:
            self._lock.release()

    def _execute(self, record: tuple[int, Task, str]) -> None:
        task_id, fn, lane = record
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - a task must never kill the loop
            # the trace is formatted whether or not DEBUG is on: recording it is the
            # design's cost (Go captures the stack on every panic)
            trace = "".join(traceback.format_exception(exc))
            log.debug("alternate_one: task %d (%s lane) failed:\n%s", task_id, lane, trace)
            self._report_error(exc, fn)
        self._executed += 1

    def _final_drain(self) -> None:
        log.debug("alternate_one: shutdown phase 2: draining")
        drained = 0
        lanes = (self._internal, self._external, self._micro)
        while True:
            self._acquire()
            try:
                self._check_invariants()
                record = None
                for lane in lanes:
                    record = lane.pop()
                    if record is not None:
                        break
                self._check_invariants()
                if record is None:
                    # close the queue in the same critical section that found it empty
                    self._transition(TERMINATED)
            finally:
                self._lock.release()
            if record is None:
                break
            self._execute(record)
            drained += 1
        if drained:  # the shutdown drain counts as one batch
            self._batches += 1
            self._max_batch = max(self._max_batch, drained)
        log.debug("alternate_one: shutdown phase 3: terminated after draining %d tasks", drained)

    # -- observation and cleanup ---------------------------------------------------
    def _release_resources(self) -> None:
        with self._lock:  # producers write the fd only under this lock
            self._waker.close()
