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
from impl.runner.scenarios._common import BlockResult, timed_round_trips


def step(params: Mapping[str, Any]) -> int:
    return 1


def run_block(
    loop: EventLoop, params: Mapping[str, Any], loops: int, spec: ImplSpec
) -> BlockResult:
    latencies, _ = timed_round_trips(loop, loops, "round_trip")
    return BlockResult(
        ops=loops, timed_ns=sum(latencies), tasks=loops, samples={"latency_ns": latencies}
    )
