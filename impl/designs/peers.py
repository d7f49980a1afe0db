"""Peers: asyncio and uvloop behind the tournament's interface.

They answer "what would I get from the standard tools?": each runs a fresh
event loop's ``run_forever`` on the EventLoop thread, and ``submit`` is
``call_soon_threadsafe(self._run_task, fn)`` with ``self._run_task`` bound once; the
callable travels as an argument, so the only per-task allocations are the
loop's own Handle and its argument tuple.

Conservation on shutdown is ours, not the libraries': ``call_soon_threadsafe``
on a stopped loop either raises or queues a callback nobody will run. So
submit checks the stopping flag and queues under one lock, and the stop is
itself a callback queued under that lock: every accepted task is ahead of it
in the loop's FIFO ready queue and has run by the time it stops the loop.
The lock costs one uncontended acquire/release per submit (small beside
asyncio's ~1 µs call_soon_threadsafe, ~15% of uvloop's).

Counters. The loops' self-pipe writes happen inside call_soon_threadsafe,
out of our sight, so ``wake_syscalls`` and ``wakeups_received`` stay 0
(unknown, not zero). What we can see from outside: a submit that finds every
accepted task already run finds the loop idle (``wakeups_requested``), and a
run of tasks that ends with nothing left queued is one drain batch
(``batches``/``max_batch``); the same test gives ``state`` its Sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from impl.designs.base import (
    ErrorHandler,
    EventLoop,
    LoopState,
    LoopStoppedError,
    Task,
)

log = logging.getLogger("impl.designs.peers")

# module constants: attribute access on an Enum class costs ~0.4 us in 3.11
_RUNNING = LoopState.RUNNING
_SLEEPING = LoopState.SLEEPING


class AsyncioLoop(EventLoop):
    design = "asyncio"

    def __init__(self, *, error_handler: ErrorHandler | None = None) -> None:
        super().__init__(error_handler=error_handler)
        self._loop = self._new_loop()
        self._lock = threading.Lock()  # orders "accept a task" against "queue the stop"
        self._stopping = False
        self._state = LoopState.AWAKE  # lifecycle; Running is refined by _busy (see state)
        self._busy = False  # a task of ours is executing on the loop thread
        self._accepted = 0  # written under _lock; compared with the base's _executed
        # bound once: creating bound methods on every submit costs ~0.3 us here
        self._run_bound = self._run_task
        self._call_soon_threadsafe = self._loop.call_soon_threadsafe
        self._batch = 0  # tasks run since the queue was last seen empty

    @staticmethod
    def _new_loop() -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    # -- producers -----------------------------------------------------------
    def submit(self, task: Task) -> None:
        lock = self._lock
        lock.acquire()
        if self._stopping:
            lock.release()
            raise LoopStoppedError(f"{self.design}: loop is shutting down")
        accepted = self._accepted
        if accepted == self._executed:  # nothing pending: the loop is idle, this must wake it
            self._wakeups_requested += 1
        self._accepted = accepted + 1  # before queueing: the task may run at once
        try:
            self._call_soon_threadsafe(self._run_bound, task)
        except BaseException:
            self._accepted = accepted
            raise
        finally:
            lock.release()

    submit_internal = submit  # no priority lane in these loops

    def _run_task(self, task: Task) -> None:
        self._busy = True
        try:
            task()
        except BaseException as exc:  # noqa: BLE001 - a task must never kill the loop
            self._report_error(exc, task)
        executed = self._executed + 1
        self._executed = executed
        self._busy = False
        n = self._batch + 1
        if executed == self._accepted:  # queue seen empty: the batch is over
            self._batches += 1
            if n > self._max_batch:
                self._max_batch = n
            n = 0
        self._batch = n

    def _request_stop(self) -> None:
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            if self._thread is None and not self._started.is_set():
                self._state = LoopState.TERMINATED
                self._stopped.set()
                return
            self._state = LoopState.TERMINATING
            # queued behind every accepted task (they were queued under this lock before)
            self._loop.call_soon_threadsafe(self._loop.stop)

    # -- the loop --------------------------------------------------------------
    def _run(self) -> None:
        with self._lock:
            if self._state is LoopState.AWAKE:
                self._state = LoopState.RUNNING
            elif self._state is not LoopState.TERMINATING:
                raise RuntimeError(f"{self.design}: loop already running or stopped")
        self._mark_started()
        loop = self._loop
        try:
            asyncio.set_event_loop(loop)
            loop.run_forever()
        finally:
            asyncio.set_event_loop(None)
            self._state = LoopState.TERMINATED
            self._mark_stopped()

    # -- observation and cleanup ---------------------------------------------------
    @property
    def state(self) -> LoopState:
        """Running while a task of ours runs or waits, Sleeping once all accepted ones ran.

        The libraries do not say whether they are blocked in their selector; a
        running loop with nothing of ours left is idle, so a submit has to wake it.
        """
        state = self._state
        if state is _RUNNING and not self._busy and self._accepted == self._executed:
            return _SLEEPING
        return state

    def _release_resources(self) -> None:
        loop = self._loop
        if loop.is_running():  # shutdown timed out; closing would raise
            log.warning("%s: loop still running at close; its fds are leaked", self.design)
            return
        loop.close()


class UvloopLoop(AsyncioLoop):
    design = "uvloop"

    @staticmethod
    def _new_loop() -> asyncio.AbstractEventLoop:
        import uvloop  # imported here so asyncio alone works where uvloop is missing

        return uvloop.new_event_loop()
