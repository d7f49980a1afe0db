"""[wakeup syscall] what a submit costs depending on the loop's state.

- running: the loop is held provably busy inside a task (blocked on a release
  signal) while N submits are timed; then released, drained, verified.
- sleeping: an idle round trip; before every submit the loop is parked
  (waited for, untimed, until it reports SLEEPING) and left asleep for
  ``idle_us`` (the declared idle gap), so every op pays a wake.
  The wake syscalls per op (what the study wanted and never measured) come
  from the counters recorded per block.
- burst: groups of 100 submits, each group awaited (its last task signals),
  no sleeps; ns per op.

Nothing here can hang the cell: the held task gives up on its own after a
bound, and it is released in a ``finally``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from impl.designs.base import EventLoop, LoopState
from impl.designs.registry import ImplSpec
from impl.runner.scenarios._common import (
    MIN_ROUND_TRIPS,
    BlockResult,
    Hold,
    Marker,
    Ticks,
    await_count,
    perf_ns,
    run_bursts,
    timed_round_trips,
)

GROUP = 100
MIN_OPS = MIN_ROUND_TRIPS


def step(params: Mapping[str, Any]) -> int:
    return GROUP if params["mode"] == "burst" else 1


def run_block(
    loop: EventLoop, params: Mapping[str, Any], loops: int, spec: ImplSpec
) -> BlockResult:
    mode = params["mode"]
    if mode == "running":
        return _running(loop, loops)
    if mode == "sleeping":
        return timed_round_trips(loop, loops, "wakeup sleeping", idle_us=int(params["idle_us"]))
    return _burst(loop, loops)


def _running(loop: EventLoop, loops: int) -> BlockResult:
    ticks = Ticks()
    hold = Hold()
    hold.hold(loop)
    submit = loop.submit
    noop = ticks.task
    try:
        # inside the held task the loop cannot be parked; a design saying so is misreporting
        not_running = int(loop.state == LoopState.SLEEPING)
        t0 = perf_ns()
        for _ in range(loops):
            submit(noop)
        t1 = perf_ns()
    finally:
        hold.release()
    marker = Marker(ticks)
    loop.submit(marker)
    marker.wait("wakeup running drain marker")
    await_count(ticks, loops + 1, "wakeup running drain")
    return BlockResult(
        ops=loops, timed_ns=t1 - t0, tasks=loops + 2, notes={"sleeping_while_held": not_running}
    )


def _burst(loop: EventLoop, loops: int) -> BlockResult:
    ticks = Ticks()
    groups = loops // GROUP
    times = run_bursts(loop, ticks, GROUP, groups)
    await_count(ticks, groups * GROUP, "wakeup burst")
    return BlockResult(ops=groups * GROUP, timed_ns=sum(times), tasks=groups * GROUP)
