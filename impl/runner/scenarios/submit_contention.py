"""[CAS contention] N producers submit no-op tasks at once; one op = one submit.

The timed region is the aggregate wall time from the first producer's start
to the last producer's last submit (the study's definition), so it measures
ingress cost under contention. Unlike the study, execution is drained and
verified afterwards (untimed) and the contention counters (cas_retries,
spins, lock_waits) are recorded per block by the measuring harness.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from impl.designs.base import EventLoop
from impl.designs.registry import ImplSpec
from impl.runner.scenarios._common import (
    BlockResult,
    Marker,
    Ticks,
    VerificationError,
    await_count,
    perf_ns,
)


def step(params: Mapping[str, Any]) -> int:
    return int(params["producers"])


def run_block(
    loop: EventLoop, params: Mapping[str, Any], loops: int, spec: ImplSpec
) -> BlockResult:
    producers = int(params["producers"])
    share = loops // producers
    ticks = Ticks()
    barrier = threading.Barrier(producers, timeout=30.0)
    starts = [0] * producers
    ends = [0] * producers
    errors: list[BaseException] = []

    def produce(index: int) -> None:
        submit = loop.submit
        noop = ticks.task
        todo = range(share)
        try:
            barrier.wait()
            starts[index] = perf_ns()
            for _ in todo:
                submit(noop)
            ends[index] = perf_ns()
        except BaseException as exc:  # noqa: BLE001 - reported by the measuring thread
            errors.append(exc)

    threads = [
        threading.Thread(target=produce, args=(i,), name=f"producer-{i}", daemon=True)
        for i in range(producers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()  # a producer hung inside submit is the watchdog's business
    if errors:
        raise VerificationError(f"a producer failed: {type(errors[0]).__name__}: {errors[0]}")
    timed = max(ends) - min(starts)
    marker = Marker(ticks)
    loop.submit(marker)
    marker.wait("drain marker")
    await_count(ticks, share * producers + 1, "submit_contention drain")
    return BlockResult(ops=share * producers, timed_ns=timed, tasks=share * producers + 1)
