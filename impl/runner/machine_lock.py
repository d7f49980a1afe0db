"""One measurement at a time on the machine, whatever the scheduler was told.

Every measuring process holds an exclusive ``flock`` on one file outside any
checkout (``$ELT_MACHINE_LOCK``, default ``<tmpdir>/eventloop-tournament.measure.lock``)
from before its calibration until it exits, so two cells never time at once:
not with ``--resources`` that drop the profile's ``bench_slot`` limit, not with
two Snakemake runs in two checkouts. The kernel drops the lock when the
process dies, so a killed measurement never leaves it held.

Standard library only: the measuring children import it.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path

LOCK_ENV = "ELT_MACHINE_LOCK"
#: how often a waiting process retries (a measuring process holds it for about a second)
POLL_S = 0.005


def lock_path() -> Path:
    return Path(os.environ.get(LOCK_ENV) or Path(tempfile.gettempdir()) /
                "eventloop-tournament.measure.lock")


class MachineBusyError(TimeoutError):
    """Another measurement held the machine lock for the whole allowed wait."""


def acquire(timeout_s: float) -> tuple[int, float]:
    """Take the machine lock, waiting at most ``timeout_s``; (fd to keep open, seconds waited).

    The fd must stay open for as long as the process measures; closing it, or
    the process exiting, releases the lock.
    """
    path = lock_path()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        os.fchmod(fd, 0o666)  # another user's run must be able to take it too
    except PermissionError:
        pass
    t0 = time.monotonic()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd, time.monotonic() - t0
        except BlockingIOError:
            if time.monotonic() - t0 >= timeout_s:
                os.close(fd)
                raise MachineBusyError(
                    f"another measurement held {path} for {timeout_s:.1f} s"
                ) from None
            time.sleep(POLL_S)
