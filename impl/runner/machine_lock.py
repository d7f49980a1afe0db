"""One measurement at a time on the machine, whatever the scheduler was told.

Every measuring process holds an exclusive ``flock`` on one file outside any
checkout from before its calibration until it exits, so two cells never time
at once: not with ``--resources`` that drop the profile's ``bench_slot`` limit,
not with two Snakemake runs in two checkouts, not with two users. The kernel
drops the lock when the process dies, so a killed measurement never leaves it
held.

Where the file is must not depend on the caller's environment: two studies
started from shells with different ``TMPDIR`` (a scheduler's per-job TMPDIR, a
tmux from another session, ``systemd-run`` with a private /tmp) would otherwise
take two locks and measure at the same time. The default is
``eventloop-tournament.measure.lock`` in the first of ``LOCK_DIRS`` that is a
world-writable sticky folder, a property of the machine that every user and
environment sees alike (/run/lock on Debian and Ubuntu; systemd's PrivateTmp
hides /tmp and /var/tmp, not /run/lock or /dev/shm). ``$ELT_MACHINE_LOCK``
names another file explicitly (every run that should exclude each other must
then name the same one). The path used is recorded in each cell's metadata
(``machine_lock``).

An existing lock file is opened read-only and never with ``O_CREAT``: where
``fs.protected_regular`` is on (systemd's default), ``O_CREAT`` on a file that
another user created in a sticky folder fails even when its mode allows
reading, and ``flock`` needs no write access.

Standard library only: the measuring children import it.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from pathlib import Path

LOCK_ENV = "ELT_MACHINE_LOCK"
LOCK_NAME = "eventloop-tournament.measure.lock"
#: candidate folders of the default lock, in order: machine-wide, not per user or per job
LOCK_DIRS: tuple[str, ...] = ("/run/lock", "/dev/shm", "/var/tmp", "/tmp")
#: how often a waiting process retries (a measuring process holds it for about a second)
POLL_S = 0.005
#: the lock file's mode: readable by every user (flock needs no more)
FILE_MODE = 0o644


def _shared_folder(path: str) -> bool:
    """World-writable and sticky (mode 1777): every user may create the lock there."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISDIR(mode) and mode & 0o1777 == 0o1777


def lock_path(dirs: tuple[str, ...] = LOCK_DIRS) -> Path:
    """The machine lock's file: ``$ELT_MACHINE_LOCK``, else LOCK_NAME in the first shared
    folder of ``dirs`` (module docstring); /tmp when none is."""
    explicit = os.environ.get(LOCK_ENV)
    if explicit:
        return Path(explicit)
    for folder in dirs:
        if _shared_folder(folder):
            return Path(folder) / LOCK_NAME
    return Path("/tmp") / LOCK_NAME


class MachineBusyError(TimeoutError):
    """Another measurement held the machine lock for the whole allowed wait."""


def open_lock(path: Path) -> int:
    """A read-only fd of the lock file, created (mode 0644) only when it does not exist."""
    flags = os.O_RDONLY | os.O_CLOEXEC
    try:
        return os.open(path, flags)  # no O_CREAT on an existing file (module docstring)
    except FileNotFoundError:
        pass
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:  # another process created it between the two calls
        return os.open(path, flags)
    try:
        os.fchmod(fd, FILE_MODE)  # whatever the umask: other users must be able to open it
    except OSError:
        pass
    return fd


def acquire(timeout_s: float) -> tuple[int, float]:
    """Take the machine lock, waiting at most ``timeout_s``; (fd to keep open, seconds waited).

    The fd must stay open for as long as the process measures; closing it, or
    the process exiting, releases the lock. Raises MachineBusyError after the wait.
    """
    path = lock_path()
    fd = open_lock(path)
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
