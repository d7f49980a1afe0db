"""Nothing may hang: deadlines, stack dumps and killing what we started.

Three layers, so a hang anywhere ends with exit 124 and stacks on stderr:
the parent waits for each child with the cell's remaining time and, when it
expires, asks the child for its stacks (SIGUSR1 -> faulthandler), kills the
child's process group and dumps its own; a last-resort thread in the CLI
does the same if the parent itself is stuck; and each child arms
``faulthandler.dump_traceback_later`` in case it outlives its parent.
"""

from __future__ import annotations

import faulthandler
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from impl.contract import EXIT_FAILED, EXIT_TIMEOUT

#: how long a child gets to dump its stacks before it is killed
DUMP_GRACE_S = 0.5
#: a child outliving its deadline by this much exits by itself (its parent is gone)
CHILD_SLACK_S = 3.0


class CellTimeoutError(RuntimeError):
    """The cell exceeded its --timeout; stacks were dumped to stderr."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()


#: children currently running (the last-resort watchdog kills these)
_live: set[subprocess.Popen] = set()
_live_lock = threading.Lock()


def exited(pid: int) -> int | None:
    """The exit code of child ``pid`` (negative: the signal) once it has exited, else None,
    without reaping it: until it is reaped its pid, and so its process group's id, cannot
    be given to another process, so the group may still be signalled safely."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
    except ChildProcessError:  # already reaped elsewhere
        return None
    if info is None:
        return None
    if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
        return -info.si_status
    return info.si_status


def wait_exit(proc: Any, timeout: float, reap: bool = True) -> int:
    """``proc.wait(timeout)`` that returns as soon as the child exits.

    Popen.wait with a timeout polls with sleeps of up to 50 ms; between
    measuring processes that is dead time paid hundreds of times per study.
    A pidfd (Linux >= 5.3) wakes at the exit, watched with poll(): select()
    refuses a descriptor numbered 1024 or higher ("filedescriptor out of
    range"), which a caller with many open files gets. Elsewhere this polls.
    ``reap=False`` leaves the exited child unreaped (``exited``): the caller
    signals its group, then reaps it. Raises subprocess.TimeoutExpired like
    Popen.wait.
    """
    if proc.returncode is not None:
        return proc.returncode
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        fd = None
    if fd is None:
        end = time.monotonic() + max(0.0, timeout)
        while (code := exited(proc.pid)) is None:
            if time.monotonic() >= end:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            time.sleep(0.005)
        return code if not reap else proc.wait(timeout=1.0)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        ready = poller.poll(math.ceil(max(0.0, timeout) * 1000))
    finally:
        os.close(fd)
    if not ready:
        raise subprocess.TimeoutExpired(proc.args, timeout)
    if not reap:
        code = exited(proc.pid)
        return code if code is not None else proc.wait(timeout=1.0)
    return proc.wait(timeout=1.0)


def track(proc: subprocess.Popen) -> None:
    with _live_lock:
        _live.add(proc)


def untrack(proc: subprocess.Popen) -> None:
    with _live_lock:
        _live.discard(proc)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group (it was started in its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:  # pragma: no cover - a zombie we cannot reap
        pass


def dump_and_kill(proc: subprocess.Popen) -> None:
    """Ask the child for its stacks, then kill its group."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGUSR1)
            proc.wait(timeout=DUMP_GRACE_S)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    kill_group(proc)


def dump_own_stacks(reason: str) -> None:
    sys.stderr.write(f"runner watchdog: {reason}; stacks of the runner process follow\n")
    sys.stderr.flush()
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)


def arm_last_resort(seconds: float, exit_code: int = EXIT_TIMEOUT) -> threading.Event:
    """A daemon thread that ends the process if it is still running ``seconds`` from now.

    Returns an Event; set it to disarm. Used by the CLI only: a library call
    (``run_cell``) must not ``os._exit`` its caller.
    """
    disarm = threading.Event()

    def guard() -> None:
        if disarm.wait(seconds):
            return
        dump_own_stacks(f"cell still running {seconds:.1f} s after start")
        with _live_lock:
            procs = list(_live)
        for proc in procs:
            dump_and_kill(proc)
        sys.stderr.write(f"runner: timeout after {seconds:.1f} s (last-resort watchdog)\n")
        sys.stderr.flush()
        os._exit(exit_code)

    threading.Thread(target=guard, name="runner-watchdog", daemon=True).start()
    return disarm


#: exported to a process that must die with its parent: the parent's pid
PARENT_PID_ENV = "ELT_PARENT_PID"


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> None:
    """Linux: send ``sig`` to this process when its parent dies, so no orphan measures
    alongside the next cell (children live in their own session, out of reach of a group
    kill). Call it from the main thread of a process whose parent is single-threaded.

    ``parent`` is the pid the parent had when it started us (PARENT_PID_ENV): if
    it is no longer our parent, it died before the kernel could be told, and we exit.
    """
    if parent is None:
        parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(EXIT_FAILED)


def arm_child(seconds: float) -> None:
    """In a measuring child: dump stacks on SIGUSR1, die with the parent, exit if overdue."""
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    faulthandler.dump_traceback_later(max(seconds, 0.1) + CHILD_SLACK_S, exit=True, file=sys.stderr)
    die_with_parent(parent=int(os.environ.get(PARENT_PID_ENV) or os.getppid()))
