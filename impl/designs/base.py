"""The one interface every event loop in the tournament implements.

The benchmarks, the correctness suite and the runner only ever talk to this
interface, so a design can be swapped by name without touching them. The
interface mirrors the Go study's (run, submit, submit_internal, shutdown,
close) plus the counters the benchmarks read to explain *why* a design costs
what it costs.
"""

from __future__ import annotations

import abc
import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from impl.designs._wake import FdWaker

Task = Callable[[], object]
ErrorHandler = Callable[[BaseException, Task], None]

log = logging.getLogger("impl")


class LoopState(enum.IntEnum):
    """States of the Go study's Main and AlternateThree; the other designs use a subset."""

    AWAKE = 0  # constructed, loop not started yet
    RUNNING = 1  # the loop thread is executing a tick
    SLEEPING = 2  # the loop thread is (about to be) blocked waiting for work
    TERMINATING = 3  # shutdown requested, draining
    TERMINATED = 4  # the loop has stopped; submit raises


#: plain-int states for hot paths: reading an IntEnum member costs a
#: descriptor call per access, an int from a module global does not
AWAKE, RUNNING, SLEEPING, TERMINATING, TERMINATED = (int(s) for s in LoopState)


class LoopStoppedError(RuntimeError):
    """Raised by submit when the loop no longer accepts tasks."""


class LoopFullError(RuntimeError):
    """Raised by a bounded lane (AlternateTwo's microtask ring) when it is full."""


class InvalidTransitionError(RuntimeError):
    """Raised by AlternateOne when a state transition is not in its table."""


@dataclass(frozen=True)
class CounterSnapshot:
    """A consistent-enough copy of a loop's counters.

    Counters are read while producers run, so a snapshot is not atomic across
    fields; benchmarks take snapshots only at quiescent points (before and
    after a timed block) and report deltas.
    """

    tasks_executed: int = 0  # tasks run to completion or to an exception
    task_errors: int = 0  # tasks that raised (handed to the error handler)
    wakeups_requested: int = 0  # a producer saw the loop asleep and wanted it woken
    wake_syscalls: int = 0  # fd writes actually made (0 for in-process wakes)
    wakeups_received: int = 0  # the loop returned from its blocking wait because of a wake
    cas_retries: int = 0  # failed compare-and-set / exchange attempts that had to retry
    spins: int = 0  # consumer spins on a half-linked node (Vyukov queue)
    lock_waits: int = 0  # lock acquisitions that did not succeed at the first try
    batches: int = 0  # drain batches with at least one task
    max_batch: int = 0  # the largest batch drained in one go

    def minus(self, earlier: CounterSnapshot) -> CounterSnapshot:
        """Delta since ``earlier``; ``max_batch`` is a maximum, so it is kept, not subtracted."""
        values = {}
        for f in fields(self):
            if f.name == "max_batch":
                values[f.name] = self.max_batch
            else:
                values[f.name] = getattr(self, f.name) - getattr(earlier, f.name)
        return CounterSnapshot(**values)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


COUNTER_NAMES: tuple[str, ...] = tuple(f.name for f in fields(CounterSnapshot))


def log_task_error(exc: BaseException, task: Task) -> None:
    """Default error handler: a failing task is logged, never fatal to the loop."""
    log.error("task %r raised %s: %s", task, type(exc).__name__, exc, exc_info=exc)


class EventLoop(abc.ABC):
    """A loop that runs submitted callables on one thread.

    Usable from any thread: ``submit``/``submit_internal`` may be called
    concurrently from many producers, ``shutdown`` from any thread (also
    concurrently, and repeatedly). A task is a zero-argument callable; a task
    that raises is handed to the error handler and the loop goes on.

    Subclasses implement ``_run`` (the loop body, blocking), the two submits
    and ``_request_stop``. Shared here: starting on a thread, waiting for the
    stop, ``close``, the common counters (designs update ``_executed`` and
    friends and call ``_count_batch``/``_report_error``) and releasing an
    ``FdWaker`` kept in ``_waker``.
    """

    #: registry name of the design; set by subclasses
    design: str = "abstract"

    def __init__(self, *, error_handler: ErrorHandler | None = None) -> None:
        self._error_handler: ErrorHandler = error_handler or log_task_error
        self._thread: threading.Thread | None = None
        self._started = threading.Event()  # set once the loop thread has entered run()
        self._stopped = threading.Event()  # set once run() has returned
        # start/run/shutdown/close decide under this lock: whether the body was entered,
        # whether a stop came first (issue: a shutdown between start()'s check and the
        # thread's start left start() waiting forever)
        self._lifecycle = threading.Lock()
        self._entered = False
        self._stop_requested = False
        self._closed = False
        # Counters every design keeps the same way. Each is written by one
        # thread only (the loop thread, or producers under the design's lock),
        # so plain ints suffice; designs with lock-free producers keep theirs
        # in atomics and extend counters().
        self._executed = 0
        self._errors = 0
        self._wakeups_requested = 0
        self._wakeups_received = 0
        self._lock_waits = 0
        self._batches = 0
        self._max_batch = 0
        #: the FdWaker of designs that sleep in a selector (see impl.designs._wake)
        self._waker: FdWaker | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> EventLoop:
        """Run the loop on a daemon thread of its own; return once it is running (or stopped).

        Raises RuntimeError if the loop was started (or run) before, and
        LoopStoppedError if it was shut down before it started. A shutdown
        racing this call is always defined: start returns, the loop stopped.
        """
        with self._lifecycle:
            self._claim()
            thread = threading.Thread(target=self._body, name=f"{self.design}-loop", daemon=True)
            self._thread = thread
            try:
                thread.start()
            except BaseException:
                self._thread = None
                self._mark_stopped()
                raise
        self._started.wait()
        return self

    def run(self) -> None:
        """Run the loop on the calling thread; blocks until it is shut down.

        The same checks as ``start``: one loop body per loop, whoever calls.
        """
        with self._lifecycle:
            self._claim()
            self._thread = threading.current_thread()
        self._body()

    @abc.abstractmethod
    def _run(self) -> None:
        """The design's loop body (called once, on the loop thread, by ``run``/``start``).

        Implementations call ``self._mark_started()`` on entry and
        ``self._mark_stopped()`` on exit (in a ``finally``); the base class
        sets both events again when the body returns or raises, so no caller
        ever waits on a loop that died early.
        """

    def _claim(self) -> None:
        """Under ``_lifecycle``: the one check that lets a single body run, never after a stop."""
        if self._entered:
            raise RuntimeError(f"{self.design}: loop was already started")
        if self._stop_requested:
            raise LoopStoppedError(f"{self.design}: loop was shut down before it started")
        self._entered = True

    def _body(self) -> None:
        try:
            self._run()
        finally:
            self._mark_stopped()

    def shutdown(self, timeout: float | None = None) -> None:
        """Graceful stop: blocks until the loop has stopped (or ``timeout`` expires).

        Safe to call from several threads at once, more than once, and
        racing ``start``/``run``: the lifecycle lock decides whether the loop
        had started; if not, it is terminated here and can no longer start.
        Called from a task on the loop thread itself it only requests the
        stop (waiting there would deadlock). Raises TimeoutError if the loop
        did not stop in time.
        """
        with self._lifecycle:
            self._stop_requested = True
            if not self._entered:
                # atomic with start()'s check: the design sees "never started" consistently
                self._request_stop()
                self._mark_stopped()
                return
        self._request_stop()
        thread = self._thread
        if threading.current_thread() is thread:
            return
        if not self._stopped.wait(timeout):
            raise TimeoutError(f"{self.design}: loop did not stop within {timeout} s")
        if thread is not None:
            thread.join(timeout)

    def close(self) -> None:
        """Shut down if needed and release resources (file descriptors). Idempotent."""
        self.shutdown(timeout=10.0)
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
        self._release_resources()

    def __enter__(self) -> EventLoop:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def is_stopped(self) -> bool:
        return self._stopped.is_set()

    # -- to implement --------------------------------------------------------
    @abc.abstractmethod
    def submit(self, task: Task) -> None:
        """Queue ``task`` on the external lane. Raises LoopStoppedError once stopped."""

    @abc.abstractmethod
    def submit_internal(self, task: Task) -> None:
        """Queue ``task`` on the priority (internal) lane."""

    def submit_microtask(self, task: Task) -> None:
        """Queue ``task`` on the microtask lane (designs with one; see capabilities)."""
        raise NotImplementedError(f"{self.design} has no microtask lane")

    @property
    def state(self) -> LoopState:
        """The current state (a racy read, for tests and diagnostics).

        Designs keep ``self._state`` as a LoopState or its int value; those
        that keep it elsewhere (an atomic) override this.
        """
        return LoopState(self._state)

    def counters(self) -> CounterSnapshot:
        """Snapshot of the counters (see CounterSnapshot)."""
        waker = self._waker
        return CounterSnapshot(
            tasks_executed=self._executed,
            task_errors=self._errors,
            wakeups_requested=self._wakeups_requested,
            wake_syscalls=waker.syscalls if waker is not None else 0,
            wakeups_received=self._wakeups_received,
            lock_waits=self._lock_waits,
            batches=self._batches,
            max_batch=self._max_batch,
        )

    @abc.abstractmethod
    def _request_stop(self) -> None:
        """Begin the design's shutdown protocol; must not block on the loop."""

    def _release_resources(self) -> None:
        """Close file descriptors and the like; called once by close()."""
        if self._waker is not None:
            self._waker.close()

    # -- helpers for subclasses ---------------------------------------------
    def _mark_started(self) -> None:
        self._started.set()

    def _mark_stopped(self) -> None:
        self._stopped.set()
        self._started.set()  # never leave start() waiting on a loop that died early

    def _report_error(self, exc: BaseException, task: Task) -> None:
        """A task raised: count it and hand it to the handler; a broken handler is logged."""
        self._errors += 1
        try:
            self._error_handler(exc, task)
        except BaseException:  # noqa: BLE001 - a broken handler must not kill the loop
            log.exception("%s: error handler raised", self.design)

    def _count_batch(self, n: int) -> None:
        """Called once per drained batch (never per task) by the loop thread."""
        self._executed += n
        self._batches += 1
        if n > self._max_batch:
            self._max_batch = n
