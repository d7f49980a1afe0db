"""[continuous load] 4 producers submit exactly N tasks in total; timed until all ran.

The timed region runs from the producers' common start until the last task
has executed (stamped on the loop thread by each producer's final task), so
the result is consumer throughput under flooding, said as such: not a
steady state.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from impl.designs.base import EventLoop
from impl.designs.registry import ImplSpec
from impl.runner.scenarios._common import (
    BlockResult,
    Ticks,
    VerificationError,
    await_count,
    new_signal,
    perf_ns,
    wait_lock,
)

PRODUCERS = 4


def step(params: Mapping[str, Any]) -> int:
    return PRODUCERS


class _Finish:
    """Each producer's last task; the last of them to run stamps the end and signals."""

    def __init__(self, ticks: Ticks) -> None:
        self.remaining = PRODUCERS
        self.done = new_signal()
        self.t = 0
        self._tick = ticks.task

    def __call__(self) -> None:  # always on the loop thread: no race on remaining
        self._tick()
        self.remaining -= 1
        if self.remaining == 0:
            self.t = perf_ns()
            self.done.release()


def run_block(
    loop: EventLoop, params: Mapping[str, Any], loops: int, spec: ImplSpec
) -> BlockResult:
    share = loops // PRODUCERS
    ticks = Ticks()
    finish = _Finish(ticks)
    barrier = threading.Barrier(PRODUCERS, timeout=30.0)
    starts = [0] * PRODUCERS
    errors: list[BaseException] = []

    def produce(index: int) -> None:
        submit = loop.submit
        noop = ticks.task
        todo = range(share - 1)
        try:
            barrier.wait()
            starts[index] = perf_ns()
            for _ in todo:
                submit(noop)
            submit(finish)
        except BaseException as exc:  # noqa: BLE001 - reported by the measuring thread
            errors.append(exc)

    threads = [
        threading.Thread(target=produce, args=(i,), name=f"producer-{i}", daemon=True)
        for i in range(PRODUCERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise VerificationError(f"a producer failed: {type(errors[0]).__name__}: {errors[0]}")
    wait_lock(finish.done, "continuous: last producer's final task")
    await_count(ticks, share * PRODUCERS, "continuous")
    return BlockResult(
        ops=share * PRODUCERS, timed_ns=finish.t - min(starts), tasks=share * PRODUCERS
    )
