"""Syscalls per op by kind and thread role: the probe under ``strace -f``, split at markers.

strace stops the process only at the syscalls it traces (``--seccomp-bpf``), so
the others run at full speed; each traced call still costs a stop, which slows
a syscall-heavy design more than a quiet one, so counts that depend on timing
(how often a loop found nothing and slept) are those of a slowed run: counts,
never times. The trace is split at the probe's markers (the ``getppid`` lines
of the measuring thread) and each call is counted once (an ``<unfinished ...>``
line, not its ``resumed`` half) under its kind (``KINDS``) and its thread's
role: the loop thread's own, or the others' (the caller, producers; their
waits include the scenario's own untimed ones, e.g. a round trip's idle gap).
Source: strace(1) (``-f``, ``-o``, ``-e trace=``, ``--seccomp-bpf``).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from impl.runner.mechanism.probe import MARKER_FUNCTION

STRACE = "strace"
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

_LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)")


def command(out_file: Path, argv: list[str]) -> list[str]:
    """``argv`` under strace, tracing only the kinds' syscalls, the futex and the marker."""
    traced = ",".join(sorted({*KINDS, "futex", MARKER_FUNCTION}))
    return [STRACE, "-f", "-qq", "--seccomp-bpf", "-e", f"trace={traced}", "-o", str(out_file),
            *argv]


def kind_of(name: str, args: str) -> str | None:
    """The kind of one call (None: not one this pass counts)."""
    if name == "futex":
        op = args.split(",", 2)[1] if args.count(",") >= 1 else ""
        return "futex_wake" if "WAKE" in op else "futex_wait" if "WAIT" in op else None
    return KINDS.get(name)


def split(trace: str, marker_tid: int) -> list[list[tuple[int, str]]]:
    """The trace's calls as (thread id, kind), one list per interval: interval *k* ends at
    the *k*-th marker of thread ``marker_tid``; what follows the last marker is dropped."""
    intervals: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for line in trace.splitlines():
        m = _LINE.match(line)
        if m is None:
            continue  # a "resumed" half, a signal, an exit: not a new call
        tid, name, args = int(m.group(1)), m.group(2), m.group(3)
        if name == MARKER_FUNCTION and tid == marker_tid:
            intervals.append(current)
            current = []
            continue
        kind = kind_of(name, args)
        if kind is not None:
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
