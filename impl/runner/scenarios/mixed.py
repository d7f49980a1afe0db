"""[mixed] bursts separated by a real pause, so every burst has to wake the loop.

The pause (``pause_us``, default 1 ms: the pause the study's summary claimed
but never made) is a ``time.sleep`` outside the timed region, followed by a
bounded wait until the loop reports SLEEPING. Each burst is timed from its
first submit until its last task ran, so the wake-up is included; the
pauses never are. The pauses are a declared idle gap (``idle_ns``, as in
round_trip): calibration sizes a block on bursts plus pauses, so a block is
about 100 ms of the workload, not 100 ms of bursts plus seconds of pauses
(at burst=100 a burst takes 50-800 us beside a 1.1 ms pause).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from impl.designs.base import EventLoop
from impl.designs.registry import ImplSpec
from impl.runner.scenarios._common import (
    BlockResult,
    Ticks,
    await_count,
    perf_ns,
    run_bursts,
    wait_parked,
)


def step(params: Mapping[str, Any]) -> int:
    return int(params["burst"])


def run_block(
    loop: EventLoop, params: Mapping[str, Any], loops: int, spec: ImplSpec
) -> BlockResult:
    burst = int(params["burst"])
    pause_s = int(params["pause_us"]) / 1e6
    count = loops // burst
    ticks = Ticks()
    unparked = 0
    idle = 0

    def pause() -> None:
        nonlocal unparked, idle
        p0 = perf_ns()
        if pause_s:
            time.sleep(pause_s)
        if not wait_parked(loop):
            unparked += 1
        idle += perf_ns() - p0

    times = run_bursts(loop, ticks, burst, count, between=pause)
    await_count(ticks, count * burst, "mixed")
    return BlockResult(
        ops=count * burst,
        timed_ns=sum(times),
        tasks=count * burst,
        samples={"burst_ns": times},
        notes={"not_parked": unparked},
        idle_ns=idle,
    )
