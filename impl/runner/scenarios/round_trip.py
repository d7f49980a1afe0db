"""[end-to-end latency] one thread submits a task that signals, then waits for it.

Every round trip is kept (metric latency_ns, one row per op): percentiles are
computed later from the pooled, sorted samples, never from an unsorted list.
The signal is a ``threading.Lock`` released by the task while the waiter is
blocked in ``acquire``: an ``Event`` would add its Condition's microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from impl.base import EventLoop
from impl.registry import ImplSpec
from impl.runner.scenarios._common import (
    LOST_TASK_S,
    BlockResult,
    VerificationError,
    new_signal,
    perf_ns,
)


def step(params: Mapping[str, Any]) -> int:
    return 1


def run_block(
    loop: EventLoop, params: Mapping[str, Any], loops: int, spec: ImplSpec
) -> BlockResult:
    lock = new_signal()
    task = lock.release
    acquire = lock.acquire
    submit = loop.submit
    latencies = [0] * loops
    for i in range(loops):
        t0 = perf_ns()
        submit(task)
        ok = acquire(True, LOST_TASK_S)
        t1 = perf_ns()
        if not ok:
            raise VerificationError(f"round_trip: op {i} never ran within {LOST_TASK_S:g} s (lost)")
        latencies[i] = t1 - t0
    return BlockResult(
        ops=loops, timed_ns=sum(latencies), tasks=loops, samples={"latency_ns": latencies}
    )
