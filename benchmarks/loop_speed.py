"""Quick speed check of every design: per-task cost and idle round trip.

Not a test and not the study (the pipeline's runner measures that, with
fresh processes, blocks and warm-ups). This is the developer's five-minute
look: is a design in the expected order of magnitude, next to the floors
that CPython itself sets (a SimpleQueue worker thread, and a single-thread
deque that needs no hand-off at all)?

(a) ns/task: one producer thread submits N no-op tasks (one shared function,
    so no allocation per task), then a marker task; the clock stops when the
    marker has run. Median of several repetitions on one warm loop.
(b) idle round trip: with the loop parked (state SLEEPING, checked), submit a
    task that releases a ``threading.Lock`` the measuring thread is blocked
    on. Samples from several fresh loops are pooled and sorted; percentiles
    are nearest rank (``ceil(n*p/100)-1``), as in the study's fixed version.

    python benchmarks/loop_speed.py --quick
    python benchmarks/loop_speed.py --impl main baseline --tasks 200000
"""

from __future__ import annotations

import argparse
import collections
import gc
import math
import os
import platform
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from impl.designs import registry  # noqa: E402
from impl.designs.base import EventLoop, LoopState  # noqa: E402

WAIT_S = 60.0  # bound on every wait: a lost task prints as such, it never hangs the script


def noop() -> None:
    pass


def percentile(sorted_samples: list[int], p: float) -> int:
    return sorted_samples[max(0, math.ceil(len(sorted_samples) * p / 100) - 1)]


# -- the things measured: a design, or a floor that looks like one ------------


class Subject:
    """What the two measurements need: submit, wait-until-idle, stop."""

    name: str

    def submit(self, task: Callable[[], object]) -> None:
        raise NotImplementedError

    def wait_idle(self) -> bool:
        """Block until the consumer is parked; False if it cannot be confirmed."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class DesignSubject(Subject):
    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: EventLoop = registry.create(name)
        self.loop.start()

    def submit(self, task: Callable[[], object]) -> None:
        self.loop.submit(task)

    def wait_idle(self) -> bool:
        end = time.monotonic() + 5.0
        while self.loop.state != LoopState.SLEEPING:
            if time.monotonic() > end:
                return False
            time.sleep(0.0005)
        return True

    def stop(self) -> None:
        self.loop.close()


class SimpleQueueSubject(Subject):
    """Floor: a worker thread blocked in SimpleQueue.get (C-level lock hand-off)."""

    name = "floor: SimpleQueue worker"

    def __init__(self) -> None:
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self) -> None:
        get = self.q.get
        while True:
            task = get()
            if task is None:
                return
            task()

    def submit(self, task: Callable[[], object]) -> None:
        self.q.put(task)

    def wait_idle(self) -> bool:
        # no state to read: an empty queue plus a pause lets the worker block in get()
        end = time.monotonic() + 5.0
        while not self.q.empty() and time.monotonic() < end:
            time.sleep(0.0005)
        time.sleep(0.001)
        return self.q.empty()

    def stop(self) -> None:
        self.q.put(None)
        self.thread.join(WAIT_S)


# -- measurements --------------------------------------------------------------


def warm(subject: Subject) -> bool:
    done = threading.Event()
    subject.submit(done.set)
    return done.wait(WAIT_S)


def per_task_ns(subject: Subject, n: int, reps: int) -> float | None:
    """Median ns per task, end to end, one producer; None if a marker never ran."""
    results = []
    submit = subject.submit
    for _ in range(reps):
        subject.wait_idle()
        done = threading.Event()
        t0 = time.perf_counter_ns()
        for _ in range(n):
            submit(noop)
        submit(done.set)
        if not done.wait(WAIT_S):
            return None
        results.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(results)


def deque_floor_ns(n: int, reps: int) -> float:
    """Floor without any hand-off: append, popleft and call on one thread."""
    results = []
    for _ in range(reps):
        dq: collections.deque = collections.deque()
        append, popleft = dq.append, dq.popleft
        t0 = time.perf_counter_ns()
        for _ in range(n):
            append(noop)
            popleft()()
        results.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(results)


def round_trip_ns(subject: Subject, samples: int) -> tuple[list[int], int]:
    """Idle round-trip samples (ns) and how many could not confirm the loop was parked."""
    out: list[int] = []
    unconfirmed = 0
    submit = subject.submit
    for _ in range(samples):
        if not subject.wait_idle():
            unconfirmed += 1
        lock = threading.Lock()
        lock.acquire()
        t0 = time.perf_counter_ns()
        submit(lock.release)
        if not lock.acquire(timeout=WAIT_S):
            raise RuntimeError(f"{subject.name}: round-trip task never ran")
        out.append(time.perf_counter_ns() - t0)
    return out, unconfirmed


# -- driver --------------------------------------------------------------------


def measure(make: Callable[[], Subject], args: argparse.Namespace) -> dict:
    row: dict = {}
    subject = make()
    try:
        if not warm(subject):
            return {"error": "warm-up task never ran"}
        row["ns_per_task"] = per_task_ns(subject, args.tasks, args.reps)
    finally:
        subject.stop()
    samples: list[int] = []
    unconfirmed = 0
    for _ in range(args.rt_loops):  # fresh loops, pooled: one loop's luck is not the answer
        subject = make()
        try:
            warm(subject)
            got, missed = round_trip_ns(subject, args.rt_samples // args.rt_loops)
            samples += got
            unconfirmed += missed
        finally:
            subject.stop()
    samples.sort()
    row.update(
        rt_n=len(samples),
        p50=percentile(samples, 50) / 1000,
        p90=percentile(samples, 90) / 1000,
        p99=percentile(samples, 99) / 1000,
        unparked=unconfirmed,
    )
    return row


def available(name: str) -> str | None:
    """None if the design can be loaded, else why not (a design still being written)."""
    spec = registry.get(name)
    try:
        spec.load()
    except ModuleNotFoundError as exc:
        if exc.name in spec.modules:
            return f"module {exc.name} not written yet"
        raise
    return None


def fmt(x: float | None, digits: int = 1) -> str:
    return "LOST" if x is None else f"{x:,.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", nargs="+", metavar="NAME", help="designs (default: all)")
    parser.add_argument("--quick", action="store_true", help="small counts, for a fast look")
    parser.add_argument("--tasks", type=int, help="tasks per repetition for ns/task")
    parser.add_argument("--reps", type=int, help="repetitions for ns/task (median)")
    parser.add_argument("--rt-samples", type=int, help="round-trip samples (pooled)")
    parser.add_argument("--rt-loops", type=int, help="fresh loops the samples are spread over")
    parser.add_argument("--no-floors", action="store_true", help="skip the reference floors")
    args = parser.parse_args(argv)
    defaults = (20_000, 3, 300, 3) if args.quick else (200_000, 7, 3000, 5)
    args.tasks = args.tasks or defaults[0]
    args.reps = args.reps or defaults[1]
    args.rt_samples = args.rt_samples or defaults[2]
    args.rt_loops = args.rt_loops or defaults[3]

    names = args.impl or [n for n in registry.names() if not registry.get(n).test_only]
    for name in names:
        registry.get(name)  # unknown name: one line naming the allowed ones, exit 2 below

    print(
        f"# python {platform.python_version()} | switch interval "
        f"{sys.getswitchinterval() * 1e3:g} ms | gc {'on' if gc.isenabled() else 'off'} | "
        f"cpus {os.cpu_count()} | loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"# ns/task: {args.tasks:,} no-op tasks + marker, median of {args.reps}; "
        f"round trip: {args.rt_samples:,} samples over {args.rt_loops} fresh loops, "
        "nearest-rank percentiles"
    )
    header = f"| {'design':<26} | {'ns/task':>9} | {'RT P50 µs':>9} | {'P90 µs':>8} | "
    header += f"{'P99 µs':>8} | {'not parked':>10} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")

    def show(label: str, row: dict) -> None:
        if "error" in row:
            print(f"| {label:<26} | {row['error']} |")
            return
        rt = [fmt(row.get(k), 1) if k in row else "-" for k in ("p50", "p90", "p99")]
        unparked = str(row["unparked"]) if "unparked" in row else "-"
        print(
            f"| {label:<26} | {fmt(row['ns_per_task'], 0):>9} | {rt[0]:>9} | {rt[1]:>8} | "
            f"{rt[2]:>8} | {unparked:>10} |",
            flush=True,
        )

    for name in names:
        why = available(name)
        if why:
            print(f"| {name:<26} | not available: {why} |", flush=True)
            continue
        show(name, measure(lambda name=name: DesignSubject(name), args))
    if not args.no_floors:
        show("floor: SimpleQueue worker", measure(SimpleQueueSubject, args))
        show("floor: deque, one thread", {"ns_per_task": deque_floor_ns(args.tasks, args.reps)})
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except registry.UnknownImplementationError as exc:
        print(f"loop_speed: {exc}", file=sys.stderr)
        sys.exit(2)
