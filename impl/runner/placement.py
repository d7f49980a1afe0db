"""Thread placement, declared: which CPUs a latency cell's threads run on.

On a 2-CPU VM a hand-off between two threads has two modes: both threads on
one CPU (the waker yields the CPU to the woken thread, about 20-35 us per
round trip here) or on different CPUs (an inter-processor wake-up of an idle
CPU, about 80-120 us). A free process lands in one of them for its whole
life, so the median of a cell of free processes is the median of a mixture
and swings with the share of each mode. Placement is therefore a scenario
parameter of the latency scenarios (round_trip, wakeup, burst_latency):

* ``same_core``: every thread of the cell (the caller/submitter and the
  loop thread) pinned to one CPU, the lowest the process may use;
* ``cross_core``: the submitter on one CPU, the loop thread on another (the
  two lowest): needs a mask of at least 2 CPUs;
* ``free``: the scheduler decides (what the study measured before; a
  descriptive level).

Pinning is done with ``os.sched_setaffinity(0, ...)`` from each thread
itself (on Linux the call applies to the calling thread only) and read back
with ``os.sched_getaffinity(0)``; the runner fails the cell when the read-back
differs. Per block the measuring child records, for the submitter (main)
thread and the loop thread, the CPU each last ran on, its migrations and its
CPU time, from ``/proc/self/task/TID/{stat,sched,schedstat}``.

Standard library only: the measuring children import it.
"""

from __future__ import annotations

import os
import resource
import threading
from dataclasses import dataclass
from pathlib import Path

from impl.params import BadParameterError

SAME_CORE = "same_core"
CROSS_CORE = "cross_core"
FREE = "free"
#: the levels of the ``placement`` scenario parameter; the first is the primary level
PLACEMENTS: tuple[str, ...] = (SAME_CORE, CROSS_CORE, FREE)
#: the level the hypotheses, the A/A control and the answer measure unless they name another
PRIMARY = SAME_CORE
#: the scenario parameter's name
PARAM = "placement"


class PlacementError(BadParameterError):
    """This machine (or this process's affinity mask) cannot give the declared placement."""


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on, sorted (all of them without sched_getaffinity)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def unavailable(placement: str, cpus: list[int] | None = None) -> str | None:
    """Why ``placement`` cannot be measured here (one sentence), or None when it can."""
    cpus = allowed_cpus() if cpus is None else cpus
    if placement == CROSS_CORE and len(cpus) < 2:
        return (f"placement=cross_core needs 2 CPUs and this process may use "
                f"{len(cpus)} (CPU {', '.join(map(str, cpus))})")
    return None


@dataclass(frozen=True)
class Plan:
    """Where each thread role runs: None = not pinned (free)."""

    placement: str
    submitter: frozenset[int] | None
    loop: frozenset[int] | None

    @property
    def pinned(self) -> bool:
        return self.submitter is not None

    @property
    def cpus(self) -> frozenset[int] | None:
        """Every CPU the cell's threads may use (where its foreign load is gated), or None."""
        if not self.pinned:
            return None
        return self.submitter | (self.loop or frozenset())


def plan(placement: str, cpus: list[int] | None = None) -> Plan:
    """The CPUs of each thread role; raises PlacementError (one line) when impossible."""
    cpus = allowed_cpus() if cpus is None else sorted(cpus)
    if placement not in PLACEMENTS:
        raise PlacementError(f"placement: bad value {placement!r}; allowed: "
                             f"{', '.join(PLACEMENTS)}")
    why = unavailable(placement, cpus)
    if why:
        raise PlacementError(f"{why}; allowed here: {SAME_CORE}, {FREE}")
    if placement == SAME_CORE:
        one = frozenset(cpus[:1])
        return Plan(placement, one, one)
    if placement == CROSS_CORE:
        return Plan(placement, frozenset(cpus[:1]), frozenset(cpus[1:2]))
    return Plan(placement, None, None)


def pin_current_thread(cpus: frozenset[int] | None, role: str) -> None:
    """Pin the calling thread to ``cpus`` and read it back; RuntimeError when it did not hold."""
    if cpus is None:
        return
    os.sched_setaffinity(0, cpus)
    got = os.sched_getaffinity(0)
    if got != set(cpus):
        raise RuntimeError(f"{role} thread: asked for CPUs {sorted(cpus)}, "
                           f"the kernel reports {sorted(got)}")


@dataclass(frozen=True)
class ThreadSample:
    """One thread's scheduler counters at one instant (None where /proc lacks them)."""

    cpu: int | None  # the CPU it last ran on (/proc/.../stat field 39)
    run_ns: int | None  # time on a CPU since it started (/proc/.../schedstat, field 1)
    migrations: int | None  # se.nr_migrations (/proc/.../sched)
    #: context switches since it started (/proc/.../sched): it blocked (voluntary) or was
    #: preempted (involuntary)
    voluntary: int | None = None
    involuntary: int | None = None


#: the /proc/.../sched lines ``sample`` reads, by ThreadSample field
_SCHED_FIELDS = {"se.nr_migrations": "migrations", "nr_voluntary_switches": "voluntary",
                 "nr_involuntary_switches": "involuntary"}


def _task_dir(tid: int) -> Path:
    return Path(f"/proc/self/task/{tid}")


def sample(tid: int) -> ThreadSample:
    """Read thread ``tid``'s (a native id of this process) CPU, CPU time and migrations."""
    base = _task_dir(tid)
    cpu = run_ns = None
    try:
        stat = (base / "stat").read_text()
        # the command name (field 2) may hold spaces: count fields after its closing ')'
        cpu = int(stat.rsplit(")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        pass
    try:
        run_ns = int((base / "schedstat").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        pass
    sched: dict[str, int] = {}
    try:
        for line in (base / "sched").read_text().splitlines():
            key, _, value = line.partition(":")
            name = _SCHED_FIELDS.get(key.strip())
            if name is not None:
                sched[name] = int(value)
    except (OSError, ValueError):
        pass
    return ThreadSample(cpu, run_ns, **{k: sched.get(k) for k in _SCHED_FIELDS.values()})


def process_switches() -> tuple[int, int]:
    """This process's (voluntary, involuntary) context switches so far, every thread's,
    ended ones included (``getrusage(RUSAGE_SELF)``: ru_nvcsw, ru_nivcsw)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw, usage.ru_nivcsw


class LoopThreadProbe:
    """A task for the loop thread: pins it (when planned) and reports who it is.

    Submitted once per fresh loop, before its warm-up round trip; ``wait``
    returns once it ran (bounded). ``native_id``: the loop thread's kernel
    thread id; ``affinity``: what the kernel reports after pinning;
    ``error``: a pinning failure, raised in the measuring thread by ``wait``.
    """

    def __init__(self, cpus: frozenset[int] | None) -> None:
        self._cpus = cpus
        self._done = threading.Lock()
        self._done.acquire()
        self.native_id = 0
        self.affinity: list[int] = []
        self.error = ""

    def __call__(self) -> None:
        try:
            pin_current_thread(self._cpus, "loop")
            self.native_id = threading.get_native_id()
            self.affinity = sorted(os.sched_getaffinity(0))
        except Exception as exc:  # noqa: BLE001 - reported to the measuring thread
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._done.release()

    def wait(self, timeout: float) -> None:
        if not self._done.acquire(timeout=timeout):
            raise RuntimeError(f"loop thread probe did not run within {timeout:g} s")
        if self.error:
            raise RuntimeError(self.error)
