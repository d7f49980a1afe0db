"""[end-to-end latency] one thread submits a task that signals, then waits for it.

Every round trip is kept (metric latency_ns, one row per op): percentiles are
computed later from the pooled, sorted samples, never from an unsorted list.
The signal is a ``threading.Lock`` released by the task while the waiter is
blocked in ``acquire``: an ``Event`` would add its Condition's microseconds.
``idle_us`` declares the idle gap: 0 submits again at once (a hand-off to a
loop that may still be awake); above 0, every submit waits until the loop has
parked and then ``idle_us`` more, untimed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from impl.designs.base import EventLoop
from impl.designs.registry import ImplSpec
from impl.runner.scenarios._common import MIN_ROUND_TRIPS, BlockResult, timed_round_trips

MIN_OPS = MIN_ROUND_TRIPS


def step(params: Mapping[str, Any]) -> int:
    return 1


def run_block(
    loop: EventLoop, params: Mapping[str, Any], loops: int, spec: ImplSpec
) -> BlockResult:
    idle_us = int(params["idle_us"])
    return timed_round_trips(loop, loops, "round_trip", idle_us=idle_us or None)
