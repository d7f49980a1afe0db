"""[new] the budget itself varied: drain cost and the fairness it buys.

The study never varied the budget, so its "optimal budget" was a burst-size
curve. Here the design is constructed with every name in
``capabilities.budget_params`` set to the swept value (the registry entry
supplies the override), a backlog is queued while the loop is held busy
inside a task, and then released. Per repetition:

- drain_ns_per_task: from the moment the held task resumes until the last
  backlog task ran, divided by the backlog; one value per block (the median
  of its repetitions), each repetition kept as drain_rep_ns_per_task;
- internal_wait_ns: the first backlog task submits a probe on the internal
  (priority) lane; the probe's run time minus its submit time. With a budget
  the probe waits only until the current batch ends; unbounded, it waits for
  the whole backlog. Only for designs with an internal lane.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from impl.designs.base import EventLoop
from impl.designs.registry import ImplSpec
from impl.runner.scenarios._common import (
    BlockResult,
    Hold,
    Marker,
    Ticks,
    VerificationError,
    await_count,
    new_signal,
    perf_ns,
    wait_lock,
)


def step(params: Mapping[str, Any]) -> int:
    return int(params["backlog"])


class _Probe:
    """Runs on the internal lane; records when it was submitted and when it ran."""

    def __init__(self) -> None:
        self.t_submit = 0
        self.t_run = 0
        self.runs = 0
        self.done = new_signal()

    def __call__(self) -> None:
        self.t_run = perf_ns()
        self.runs += 1
        self.done.release()


class _First:
    """The first backlog task: counts, and submits the probe from the loop thread."""

    def __init__(self, loop: EventLoop, ticks: Ticks, probe: _Probe | None) -> None:
        self._loop = loop
        self._tick = ticks.task
        self._probe = probe

    def __call__(self) -> None:
        self._tick()
        if self._probe is not None:
            self._probe.t_submit = perf_ns()
            self._loop.submit_internal(self._probe)


def run_block(
    loop: EventLoop, params: Mapping[str, Any], loops: int, spec: ImplSpec
) -> BlockResult:
    backlog = int(params["backlog"])
    reps = loops // backlog
    with_probe = spec.capabilities.has_internal_lane
    drains: list[int] = []
    waits: list[int] = []
    submit = loop.submit
    ticks = Ticks()
    noop = ticks.task
    fill = range(backlog - 2)
    for rep in range(reps):
        probe = _Probe() if with_probe else None
        hold = Hold()
        hold.hold(loop)
        marker = Marker(ticks)
        try:
            submit(_First(loop, ticks, probe))
            for _ in fill:
                submit(noop)
            submit(marker)
        finally:
            hold.release()
        marker.wait("budget_sweep backlog marker")
        if probe is not None:
            wait_lock(probe.done, "budget_sweep internal probe")
            if probe.runs != 1:
                raise VerificationError(f"budget_sweep: the probe ran {probe.runs} times")
            waits.append(probe.t_run - probe.t_submit)
        drains.append(marker.t - hold.t_resumed)
        await_count(ticks, (rep + 1) * backlog, "budget_sweep drain")
    per_task = sorted(d / backlog for d in drains)
    samples = {"drain_rep_ns_per_task": per_task}
    if with_probe:
        samples["internal_wait_ns"] = waits
    tasks = reps * (backlog + 1 + (1 if with_probe else 0))
    return BlockResult(
        ops=reps * backlog,
        timed_ns=sum(drains),
        tasks=tasks,
        samples=samples,
        block_values={"drain_ns_per_task": statistics.median(per_task)},
    )
