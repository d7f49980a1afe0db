"""Baseline: the goja_nodejs event loop, the study's reference.

A plain list under a lock, an in-process one-permit wake (Go: a non-blocking
send on a 1-slot channel; here a ``threading.Lock`` used as a binary
semaphore, so no file descriptor and no syscall of ours), and a loop that
swaps the whole list for a spare and runs every job: no budget, no phases.

The channel's "full" bit is mirrored in a plain bool (``_signalled``) kept
under the jobs lock: testing it is cheaper than calling ``permit.locked()``
on every submit, and it is set exactly when the permit is released and
cleared by the loop, after taking the permit, in the critical section of
the swap, so a job appended before the clear is in that swap and one
appended after it sends a new permit.

Faithful to the original, the "stopping" check in ``submit`` is made before
the job is appended, outside the lock that the loop's final swap takes: a
submit that passed the check can append after the final swap and be lost.
That loss window is part of the design (no conservation promise).
"""

from __future__ import annotations

import threading

from impl.designs.base import (
    ErrorHandler,
    EventLoop,
    LoopState,
    LoopStoppedError,
    Task,
)

# module constants: attribute access on an Enum class costs ~0.4 us in 3.11
_SLEEPING = LoopState.SLEEPING
_RUNNING = LoopState.RUNNING


class BaselineLoop(EventLoop):
    design = "baseline"

    def __init__(self, *, error_handler: ErrorHandler | None = None) -> None:
        super().__init__(error_handler=error_handler)
        self._jobs_lock = threading.Lock()
        self._jobs: list[Task] = []
        self._spare: list[Task] = []
        # the one-slot channel: locked = empty, unlocked = one wake-up pending
        self._permit = threading.Lock()
        self._permit.acquire()
        self._signalled = False  # a permit was sent and the loop has not swapped since
        self._stopping = False
        self._state = LoopState.AWAKE

    # -- producers -----------------------------------------------------------
    def submit(self, task: Task) -> None:
        if self._stopping:  # checked outside the lock: the design's loss window
            raise LoopStoppedError("baseline: loop is stopped")
        lock = self._jobs_lock
        lock.acquire()
        self._jobs.append(task)
        if not self._signalled:
            # non-blocking send on the 1-slot channel; producers are serialised
            # by the jobs lock, so the permit is never released twice
            self._signalled = True
            self._wakeups_requested += 1
            self._permit.release()
        lock.release()

    submit_internal = submit  # goja has one queue

    def _request_stop(self) -> None:
        with self._jobs_lock:
            self._stopping = True
            if not self._signalled:
                self._signalled = True
                self._permit.release()
        if self._thread is None and not self._started.is_set():
            self._state = LoopState.TERMINATED
            self._stopped.set()

    # -- the loop --------------------------------------------------------------
    def _run(self) -> None:
        if self._stopped.is_set():
            raise RuntimeError("baseline: loop already stopped")
        self._mark_started()
        permit = self._permit
        jobs_lock = self._jobs_lock
        report_error = self._report_error
        try:
            while True:
                self._state = _SLEEPING
                permit.acquire()
                self._wakeups_received += 1
                self._state = _RUNNING
                jobs_lock.acquire()
                self._signalled = False
                jobs = self._jobs
                self._jobs = self._spare
                stopping = self._stopping
                jobs_lock.release()
                if jobs:
                    for job in jobs:
                        try:
                            job()
                        except BaseException as exc:  # noqa: BLE001 - never kill the loop
                            report_error(exc, job)
                    self._count_batch(len(jobs))
                    jobs.clear()
                self._spare = jobs
                if stopping:
                    break
        finally:
            self._state = LoopState.TERMINATED
            self._mark_stopped()
