"""[batch budget latency] the same bursts, reported as distributions.

Two things the study conflated: the closed-loop time per task (ns_per_op of
the block) and the distribution of burst completion times (burst_ns, one
row per burst: first submit until the burst's last task ran).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from impl.base import EventLoop
from impl.registry import ImplSpec
from impl.runner.scenarios._common import BlockResult, Ticks, await_count, run_bursts


def step(params: Mapping[str, Any]) -> int:
    return int(params["burst"])


def run_block(
    loop: EventLoop, params: Mapping[str, Any], loops: int, spec: ImplSpec
) -> BlockResult:
    burst = int(params["burst"])
    count = loops // burst
    ticks = Ticks()
    times = run_bursts(loop, ticks, burst, count)
    await_count(ticks, count * burst, "burst_latency")
    return BlockResult(
        ops=count * burst, timed_ns=sum(times), tasks=count * burst, samples={"burst_ns": times}
    )
