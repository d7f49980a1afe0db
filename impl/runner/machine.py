"""What else the machine did while a block ran (methodology.md, "Record foreign load per block").

Read in the measuring process just before and just after each block:
the machine's busy CPU time (``/proc/stat``, all CPUs, steal included: a
neighbouring VM is foreign load too), this process's own CPU time
(``resource.getrusage``, all its threads), CPU pressure
(``/proc/pressure/cpu``, "some" total, where the kernel has PSI), the load
average and the garbage collector's collection count. The foreign CPU share
is ``(machine busy - own) / machine capacity`` over the interval, clamped to
[0, 1]; ``/proc/stat`` counts in clock ticks (usually 10 ms), so a 100 ms
block on 2 CPUs resolves the share to about 5 %.

Standard library only: the measuring children import it.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_STAT = Path("/proc/stat")
_PRESSURE = Path("/proc/pressure/cpu")


@dataclass(frozen=True)
class Snapshot:
    """Counters at one instant (seconds unless named otherwise)."""

    wall: float
    unix: float
    busy: float | None  # machine busy CPU seconds since boot, None without /proc/stat
    total: float | None  # machine busy + idle CPU seconds since boot
    own: float  # this process's user + system CPU seconds
    pressure_us: int | None  # /proc/pressure/cpu "some total", microseconds
    gc_collections: int
    #: per CPU number: (busy, busy + idle) CPU seconds since boot; empty without /proc/stat
    per_cpu: tuple[tuple[int, float, float], ...] = ()

    def cpu_times(self, cpus: frozenset[int] | None) -> tuple[float | None, float | None]:
        """(busy, total) over ``cpus`` (None: the whole machine)."""
        if cpus is None:
            return self.busy, self.total
        rows = [(b, t) for n, b, t in self.per_cpu if n in cpus]
        if not rows:
            return None, None
        return sum(b for b, _ in rows), sum(t for _, t in rows)


def _busy_total(fields: list[str]) -> tuple[float, float]:
    # cpu user nice system idle iowait irq softirq steal [guest guest_nice: inside user]
    vals = [int(x) for x in fields[:8]]
    user, nice, system, idle, iowait, irq, softirq, steal = vals + [0] * (8 - len(vals))
    busy = user + nice + system + irq + softirq + steal
    return busy / _HZ, (busy + idle + iowait) / _HZ


def _cpu_times() -> tuple[float | None, float | None, tuple[tuple[int, float, float], ...]]:
    try:
        lines = _STAT.read_text().splitlines()
    except OSError:
        return None, None, ()
    busy, total = _busy_total(lines[0].split()[1:])
    per_cpu = []
    for line in lines[1:]:
        if not line.startswith("cpu"):
            break
        name, *fields = line.split()
        per_cpu.append((int(name[3:]), *_busy_total(fields)))
    return busy, total, tuple(per_cpu)


def _pressure_us() -> int | None:
    try:
        for line in _PRESSURE.read_text().splitlines():
            if line.startswith("some"):
                return int(line.rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None
    return None


def snapshot() -> Snapshot:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    busy, total, per_cpu = _cpu_times()
    return Snapshot(
        wall=time.monotonic(),
        unix=time.time(),
        busy=busy,
        total=total,
        own=usage.ru_utime + usage.ru_stime,
        pressure_us=_pressure_us(),
        gc_collections=sum(s["collections"] for s in gc.get_stats()),
        per_cpu=per_cpu,
    )


#: environment variable through which a parent hands its pre-spawn snapshot to a child
SPAWN_ENV = "ELT_SPAWN_SNAPSHOT"


def spawn_env() -> str:
    """This instant's machine counters, for ``since_spawn`` in a child started right after."""
    snap = snapshot()
    return json.dumps([snap.wall, snap.unix, snap.busy, snap.total, snap.pressure_us,
                       snap.per_cpu])


def since_spawn(value: str | None) -> Snapshot | None:
    """The parent's pre-spawn snapshot as seen from the child (own CPU 0 then), or None.

    Lets a fresh process count its own start-up towards its first quiet window:
    the machine's busy time since the spawn minus everything this process used.
    """
    try:
        wall, unix, busy, total, pressure, per_cpu = json.loads(value or "")
    except (ValueError, TypeError):
        return None
    return Snapshot(wall=float(wall), unix=float(unix), busy=busy, total=total, own=0.0,
                    pressure_us=pressure, gc_collections=0,
                    per_cpu=tuple((int(n), b, t) for n, b, t in per_cpu))


def conditions(
    before: Snapshot, after: Snapshot, cpus: frozenset[int] | None = None
) -> dict[str, float]:
    """The block's ``env.*`` values (impl.contract): foreign share, pressure, load, GC, start.

    ``cpus``: the CPUs a pinned cell's threads use; the foreign share is then
    others' busy time on those CPUs over their capacity (the process's own CPU
    time all counts there: every thread of a pinned cell runs on them).
    A value the machine cannot provide (no /proc/stat, no PSI) is left out.
    """
    out: dict[str, float] = {
        "env.block_start": before.unix,
        "env.gc_collections": float(after.gc_collections - before.gc_collections),
    }
    busy0, total0 = before.cpu_times(cpus)
    busy1, total1 = after.cpu_times(cpus)
    if busy0 is not None and busy1 is not None:
        capacity = total1 - total0
        foreign = (busy1 - busy0) - (after.own - before.own)
        out["env.foreign_cpu"] = min(1.0, max(0.0, foreign / capacity)) if capacity > 0 else 0.0
    if before.pressure_us is not None and after.pressure_us is not None:
        out["env.cpu_pressure_ns"] = float(max(0, after.pressure_us - before.pressure_us) * 1000)
    try:
        out["env.loadavg"] = os.getloadavg()[0]
    except OSError:
        pass
    return out


def wait_quiet(
    threshold: float, timeout_s: float, window_s: float = 0.1, since: Snapshot | None = None,
    cpus: frozenset[int] | None = None,
) -> float:
    """Sleep until one window of at least ``window_s`` has a foreign CPU share <= ``threshold``.

    The first window starts at ``since`` (e.g. the process's start: its start-up
    then counts, and a quiet machine costs no sleep), else now. Gives up after
    ``timeout_s``; returns the seconds waited (``cpus``: as in ``conditions``). The
    pipeline's scheduler does its bookkeeping in a burst right after a job ends, i.e.
    just as the next measuring process starts; waiting for it to pass costs a fraction of a
    second and keeps that burst out of the blocks. Without /proc/stat it
    returns at once.
    """
    return wait_quiet_windows(threshold, timeout_s, window_s, since, cpus)[0]


def wait_quiet_windows(
    threshold: float, timeout_s: float, window_s: float = 0.1, since: Snapshot | None = None,
    cpus: frozenset[int] | None = None,
    on_busy: Callable[[float, float], None] | None = None,
) -> tuple[float, bool, float | None]:
    """``wait_quiet`` with what a caller reporting on the wait needs: (seconds waited,
    whether a window was quiet, the last window's foreign share, None without /proc/stat);
    ``on_busy(share, waited)`` after each busy window that does not end the wait."""
    t0 = time.monotonic()
    before = since or snapshot()
    if before.busy is None:
        return 0.0, True, None
    while True:
        rest = window_s - (time.monotonic() - before.wall)
        if rest > 0:
            time.sleep(rest)
        after = snapshot()
        share = conditions(before, after, cpus).get("env.foreign_cpu", 0.0)
        waited = time.monotonic() - t0
        if share <= threshold or waited >= timeout_s:
            return waited, share <= threshold, share
        if on_busy is not None:
            on_busy(share, waited)
        before = after
