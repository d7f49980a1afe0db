"""[batch budget latency] the same bursts, reported as distributions.

Two things the study conflated: the closed-loop time per task (ns_per_op of
the block) and the distribution of burst completion times (burst_ns, one
row per burst: first submit until the burst's last task ran).
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
    times, tasks = timed_bursts(loop, params, loops, "burst_latency")
    return BlockResult(ops=tasks, timed_ns=sum(times), tasks=tasks, samples={"burst_ns": times})
