"""[batch budget throughput] bursts submitted back to back, each then awaited; ns per task.

No sleeps anywhere (the study's curve was mostly sleep-and-wake cost divided
by the burst size). This is a burst-size curve, not a budget result: the
budget is varied only by ``budget_sweep``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from impl.designs.base import EventLoop
from impl.designs.registry import ImplSpec
from impl.runner.scenarios._common import BlockResult, burst_step, timed_bursts

step = burst_step


def run_block(
    loop: EventLoop, params: Mapping[str, Any], loops: int, spec: ImplSpec
) -> BlockResult:
    times, tasks = timed_bursts(loop, params, loops, "burst_throughput")
    return BlockResult(ops=tasks, timed_ns=sum(times), tasks=tasks)
