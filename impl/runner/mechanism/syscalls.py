"""Syscalls per op by kind and thread role: the probe traced, the trace split at markers.

Two tracers, the first the machine has:

* ``perf record`` on the kernel's ``syscalls:sys_enter_*`` tracepoints (perf-record(1),
  perf-script(1)): each call is written to a ring buffer in the kernel, nothing stops
  the process, so the counts are those of a run at nearly native speed. It needs
  perf, the tracepoints (tracefs) and the right to read them (root, or
  ``kernel.perf_event_paranoid`` <= 1).
* ``strace -f --seccomp-bpf`` (strace(1)) otherwise: it stops the process at every
  traced call, so a contended design runs several times slower and blocks more often
  (here its futex count was 8x perf's for one plan: docs/runner.md): counts of a slowed
  run, never times.

The trace is split at the probe's markers (the ``getppid`` calls of the measuring
thread) and each call is counted once, at its entry, under its kind (``KINDS``; a
futex by its operation) and its thread's role: the loop thread's own, or the
others' (the caller, producers; their waits include the scenario's own untimed
ones, e.g. a round trip's idle gap).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

from impl.runner.mechanism.probe import MARKER_FUNCTION

PERF = "perf"
STRACE = "strace"
#: where the kernel's tracepoints are listed (tracefs; the older debugfs mount second)
TRACEFS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
#: syscall -> kind: what a design does with it (futex: a lock or condition; read/write: an
#: eventfd or pipe, the fd wake-up; poll: a loop's blocking wait on its fds; sleep; yield)
KINDS: dict[str, str] = {
    "read": "read", "readv": "read", "write": "write", "writev": "write",
    "epoll_wait": "poll", "epoll_pwait": "poll", "epoll_pwait2": "poll", "poll": "poll",
    "ppoll": "poll", "select": "poll", "pselect6": "poll",
    "nanosleep": "sleep", "clock_nanosleep": "sleep", "sched_yield": "yield",
}
#: the kinds reported, futex split by operation (a wait blocks, a wake releases a waiter)
KIND_NAMES: tuple[str, ...] = ("futex_wait", "futex_wake", "read", "write", "poll", "sleep",
                               "yield")
#: the roles a thread has in a block
ROLES: tuple[str, ...] = ("loop", "submitter")

#: the syscalls traced: the kinds', the futex and the probe's marker
TRACED: tuple[str, ...] = tuple(sorted({*KINDS, "futex", MARKER_FUNCTION}))
#: futex operations (linux/futex.h, without the PRIVATE and CLOCK_REALTIME flags) that wait
#: (WAIT, WAIT_BITSET, WAIT_REQUEUE_PI) and that wake (WAKE, WAKE_OP, WAKE_BITSET)
FUTEX_WAITS = frozenset({0, 9, 11})
FUTEX_WAKES = frozenset({1, 5, 10})
#: the operation's command bits (FUTEX_CMD_MASK: all but FUTEX_PRIVATE_FLAG 128 and
#: FUTEX_CLOCK_REALTIME 256)
FUTEX_CMD = 0x7F

_STRACE_LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)")
_PERF_LINE = re.compile(r"^\s*(\d+)\s+syscalls:sys_enter_(\w+):\s*(.*)$")
_PERF_OP = re.compile(r"\bop: (0x[0-9a-fA-F]+)")


class TraceError(RuntimeError):
    """The tracer lost events or its trace cannot be read (one line)."""


def _tracepoints() -> Path | None:
    for root in TRACEFS:
        if (root / "events" / "syscalls" / "sys_enter_futex").is_dir():
            return root / "events" / "syscalls"
    return None


@cache
def tracer() -> tuple[str | None, str]:
    """(the tracer this machine can use: PERF, STRACE or None, why not perf).

    perf when it is on PATH, the syscall tracepoints are listed and a one-call trial
    records (the right to trace: root, or ``kernel.perf_event_paranoid`` <= 1)."""
    why = f"{PERF} not found on PATH"
    if shutil.which(PERF) is not None:
        if _tracepoints() is None:
            why = f"no syscall tracepoints under {' or '.join(map(str, TRACEFS))}"
        else:
            with tempfile.TemporaryDirectory() as tmp:
                trial = subprocess.run(
                    [PERF, "record", "-q", "-e", "syscalls:sys_enter_getppid", "-o",
                     str(Path(tmp) / "trial.data"), "--", sys.executable, "-c", ""],
                    capture_output=True, text=True, timeout=60)
            if trial.returncode == 0:
                return PERF, ""
            last = (trial.stderr.strip().splitlines() or ["no output"])[-1]
            why = f"{PERF} record cannot trace here: {last}"
    return (STRACE if shutil.which(STRACE) is not None else None), why


def command(out_file: Path, argv: list[str], tool: str = STRACE) -> list[str]:
    """``argv`` under ``tool``, tracing only ``TRACED`` (those with a tracepoint, for perf),
    the trace written to ``out_file``."""
    if tool == PERF:
        points = _tracepoints()
        names = [n for n in TRACED if points is None or (points / f"sys_enter_{n}").is_dir()]
        # a 4 MiB buffer per CPU: a contended block's futex calls without losing events
        return [PERF, "record", "-q", "-m", "1024", "-e",
                ",".join(f"syscalls:sys_enter_{n}" for n in names), "-o", str(out_file),
                "--", *argv]
    return [STRACE, "-f", "-qq", "--seccomp-bpf", "-e", f"trace={','.join(TRACED)}", "-o",
            str(out_file), *argv]


def read_trace(out_file: Path, tool: str = STRACE) -> str:
    """The trace as text: strace's file, or ``perf script``'s lines (thread id, event,
    arguments) in time order. Raises TraceError when perf lost events or cannot read it."""
    if tool != PERF:
        return out_file.read_text(errors="replace")
    done = subprocess.run([PERF, "script", "-i", str(out_file), "-F", "tid,event,trace",
                           "--show-lost-events"], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TraceError(f"perf script: exit {done.returncode}, {last}")
    lost = [line for line in done.stdout.splitlines() if "LOST" in line]
    if lost:
        raise TraceError(f"perf lost events: {lost[0].strip()}")
    return done.stdout


def kind_of(name: str, args: str) -> str | None:
    """The kind of one strace call (None: not one this pass counts)."""
    if name == "futex":
        op = args.split(",", 2)[1] if args.count(",") >= 1 else ""
        return "futex_wake" if "WAKE" in op else "futex_wait" if "WAIT" in op else None
    return KINDS.get(name)


def perf_kind_of(name: str, args: str) -> str | None:
    """The kind of one perf ``sys_enter`` event (None: not one this pass counts); a futex's
    operation is its ``op:`` field, a number (``FUTEX_WAITS``, ``FUTEX_WAKES``)."""
    if name == "futex":
        m = _PERF_OP.search(args)
        op = int(m.group(1), 16) & FUTEX_CMD if m else -1
        return "futex_wait" if op in FUTEX_WAITS else "futex_wake" if op in FUTEX_WAKES else None
    return KINDS.get(name)


def _calls(trace: str, tool: str) -> Iterator[tuple[int, str, str | None]]:
    """(thread id, syscall name, kind) of each call's entry, in trace order."""
    line_re, kind = (_PERF_LINE, perf_kind_of) if tool == PERF else (_STRACE_LINE, kind_of)
    for line in trace.splitlines():
        m = line_re.match(line)
        if m is None:
            continue  # strace: a "resumed" half, a signal, an exit; perf: a header
        yield int(m.group(1)), m.group(2), kind(m.group(2), m.group(3))


def split(trace: str, marker_tid: int, tool: str = STRACE) -> list[list[tuple[int, str]]]:
    """The trace's calls as (thread id, kind), one list per interval: interval *k* ends at
    the *k*-th marker of thread ``marker_tid``; what follows the last marker is dropped."""
    return _intervals(_calls(trace, tool), marker_tid)


def _intervals(calls: Iterable[tuple[int, str, str | None]], marker_tid: int
               ) -> list[list[tuple[int, str]]]:
    intervals: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for tid, name, kind in calls:
        if name == MARKER_FUNCTION and tid == marker_tid:
            intervals.append(current)
            current = []
        elif kind is not None:
            current.append((tid, kind))
    return intervals


def counts(calls: list[tuple[int, str]], loop_tid: int) -> dict[str, dict[str, int]]:
    """{role: {kind: calls}} in one counted interval (every kind, zeros included)."""
    n = Counter(("loop" if tid == loop_tid else "submitter", kind) for tid, kind in calls)
    return {role: {k: n[(role, k)] for k in KIND_NAMES} for role in ROLES}


def per_op(calls: list[tuple[int, str]], loop_tid: int, ops: int) -> dict[str, dict[str, float]]:
    """{role: {kind: calls per op}} for one counted interval (``counts`` over ``ops``)."""
    return {role: {k: v / ops for k, v in kinds.items()}
            for role, kinds in counts(calls, loop_tid).items()}
