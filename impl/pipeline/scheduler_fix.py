"""Keep Snakemake's scheduler from waking itself more and more often during a run.

With a job rate limit (``--max-jobs-per-timespan``, default ``100/1s``), Snakemake's
``JobScheduler`` starts a ``threading.Timer`` at the end of every scheduling pass that
wakes the scheduler one timespan later (``_schedule_reevalutation``, Snakemake 9). A pass
woken by a finished job starts one more timer, and each timer's pass starts the next:
the timers never merge, so after N finished jobs about N passes run per timespan. In the
default study (167 jobs, 1 s) Snakemake's own CPU grew from 1 % to about a fifth of a core
over the run (read from /proc/PID/stat every 30 s), all of it foreign load to the timed
blocks, which the runner then discards and waits out (4-5 minutes of a 34-minute study).
The timers are also non-daemon threads, so the last one holds the process up to one
timespan after the last job.

``install()`` replaces that method with one that keeps at most one pending timer, as a
daemon thread: the scheduler still re-evaluates one timespan after a pass (what the rate
limit needs), once. It changes nothing if the method is not there (another version).
"""

from __future__ import annotations

import threading
from typing import Any

#: the attribute under which a scheduler keeps its one pending timer
_TIMER = "_elt_reevaluation_timer"


def _schedule_once(self: Any, delay: float) -> None:
    pending = getattr(self, _TIMER, None)
    if pending is not None and pending.is_alive():
        return  # a re-evaluation is already due: one is enough
    timer = threading.Timer(delay, self._open_jobs.release)
    timer.daemon = True  # never holds the process after the last job
    setattr(self, _TIMER, timer)
    timer.start()


def install() -> bool:
    """Patch Snakemake's JobScheduler (module docstring); True if it was patched."""
    try:
        from snakemake.scheduling import job_scheduler
    except ImportError:
        return False
    cls = getattr(job_scheduler, "JobScheduler", None)
    if cls is None or not hasattr(cls, "_schedule_reevalutation"):
        return False
    cls._schedule_reevalutation = _schedule_once
    return True
