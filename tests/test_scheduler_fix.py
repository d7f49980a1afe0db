"""impl/pipeline/scheduler_fix.py: Snakemake's scheduler keeps at most one wake-up timer."""

from __future__ import annotations

import threading
import time

from snakemake.scheduling import job_scheduler

from impl.pipeline import scheduler_fix


class _Scheduler:
    """What the patched method uses of a JobScheduler: the semaphore its timer releases."""

    def __init__(self) -> None:
        self._open_jobs = threading.Semaphore(0)


def test_many_passes_leave_one_daemon_timer_that_wakes_the_scheduler_once():
    assert scheduler_fix.install()
    assert job_scheduler.JobScheduler._schedule_reevalutation is scheduler_fix._schedule_once
    s = _Scheduler()
    before = threading.active_count()
    for _ in range(50):  # fifty passes (each finished job adds one): one timer
        job_scheduler.JobScheduler._schedule_reevalutation(s, 0.2)
    assert threading.active_count() - before == 1
    timer = getattr(s, scheduler_fix._TIMER)
    assert timer.daemon
    assert s._open_jobs.acquire(timeout=5)  # it fires: the rate limit's re-evaluation
    assert not s._open_jobs.acquire(timeout=0.5)  # once
    timer.join(5)
    # after it fired, the next pass gets a timer again
    job_scheduler.JobScheduler._schedule_reevalutation(s, 0.01)
    assert s._open_jobs.acquire(timeout=5)


def test_the_unpatched_scheduler_would_keep_one_timer_per_pass():
    """The behaviour the fix removes (documents why it exists; fails if Snakemake fixes it,
    which is then the time to drop the patch)."""
    import importlib

    fresh = importlib.reload(job_scheduler)
    try:
        s = _Scheduler()
        before = threading.active_count()
        for _ in range(20):
            fresh.JobScheduler._schedule_reevalutation(s, 0.3)
        assert threading.active_count() - before == 20
        time.sleep(0.6)
    finally:
        scheduler_fix.install()
