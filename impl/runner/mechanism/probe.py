"""The mechanism pass's child: the points of one interpreter, each block between two markers.

``python -m impl.runner.mechanism.probe PLAN OUT`` runs, for each point of the
plan (a ``ResolvedCell``: design, scenario, parameters, placement), on one
loop: a warm-up block (discarded: the first calls, bytecode
specialisation), then ``pairs`` pairs of counted blocks, one of ``ops``
operations and one of ``SIZES[1]`` times as many, the scenario's own
``run_block`` (the same code the timed blocks run). The parent takes each
pair's difference over the difference in ops: the *marginal* cost of an op,
from which what every block pays once (starting producer threads, joining
them, the drain's last wait) cancels. Each counted block is bracketed by two
marker calls (``marker``: the syscall ``getppid``, which nothing else here
makes): a tool attached to the process counts what lies between them,
callgrind by dumping its counters when the marker is entered
(``--dump-before``), strace by the marker's line in its trace. What the child
reads itself, outside the markers: each thread role's context switches
(``impl.runner.placement``) and the block's wall time.

The output (JSON): ``markers`` (one label per marker call, in order: the
parent maps the tools' intervals to blocks by it) and per point its ops,
tasks, wall time and context switches per counted block (in pair order, the
small block first), or why its design cannot run under this interpreter
(``not_applicable``: uvloop without the GIL).

Light imports, like the measuring child: it runs under every interpreter.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from impl.contract import write_atomic
from impl.designs import registry
from impl.designs.base import EventLoop
from impl.runner import interpreter, placement
from impl.runner.request import ResolvedCell
from impl.runner.worker import BlockRunner, InterpreterError, close_loop, settled_counters

#: the libc function (and syscall) a marker calls: callgrind's ``--dump-before`` and strace's
#: marker line name it
MARKER_FUNCTION = "getppid"
#: calibration doubles the size at most this many times (from the scenario's minimum)
MAX_DOUBLINGS = 16
#: the label of the marker before a point's first counted block: the interval it closes holds
#: the start-up or the previous point and this point's warm-up (not counted)
START = "start"
#: a pair's two block sizes, in multiples of the point's ``ops``: their difference is what
#: the marginal cost is taken over (the small block first, so a pair ends on its large block)
SIZES: tuple[int, int] = (1, 2)
#: calibration's smallest size (a count needs no percentile: the scenario's own minimum, 50
#: round trips, is not kept; these are enough to average a round trip)
MIN_OPS = 16
#: ... and at least this many ops per producer thread a block starts: 16 threads started and
#: joined cost about 2 million instructions, which vary by tens of per cent with the
#: interleaving; at 16 ops the marginal counts of 16 producers spread by 20-12,000 %
OPS_PER_PRODUCER = 256
#: the scenarios whose every block starts its own producer threads, one per step (their
#: run_block; named here, not marked in the scenario, whose source is part of its cells'
#: code hash: a mark there would remeasure every such cell)
STARTS_PRODUCERS = frozenset({"submit_contention", "continuous"})
#: calibration stops at a block that took this many times ``target_ms`` of wall time (a cap
#: on the counted blocks' cost: round trips, whose ops wait)
MAX_TARGETS = 8


def marker() -> None:
    """A point in the process's history a tool can see (module docstring)."""
    os.getppid()


def _switches(runner: BlockRunner) -> tuple[int, int, int, int]:
    """(loop voluntary, loop involuntary, process voluntary, process involuntary)."""
    loop = placement.sample(runner.loop_tid)
    vol, invol = placement.process_switches()
    return (loop.voluntary or 0, loop.involuntary or 0, vol, invol)


def _per_role(before: tuple, after: tuple) -> dict[str, int]:
    """Each role's context switches over a block (the submitter role: every thread but the
    loop; a thread that ended within the block is counted in the process's total)."""
    d = [b - a for a, b in zip(before, after, strict=True)]
    return {"loop_voluntary": d[0], "loop_involuntary": d[1],
            "submitter_voluntary": max(0, d[2] - d[0]),
            "submitter_involuntary": max(0, d[3] - d[1])}


def _whole_steps(runner: BlockRunner, ops: int, floor: int = MIN_OPS) -> int:
    """``ops`` rounded up to the scenario's whole steps, at least ``floor`` (the scenario's
    own minimum is for percentiles: a count per op does not need it)."""
    return max(runner.step, -(-max(ops, floor) // runner.step) * runner.step)


def _calibrate(runner: BlockRunner, loop: EventLoop, target_ns: float) -> tuple[int, int]:
    """(the size, doubling from one step: the first whose block took at least ``target_ns``
    of the process's CPU time (every thread: what callgrind's count follows, where wall time
    also holds the waits) with ``MIN_OPS`` and ``OPS_PER_PRODUCER``, or the first that took
    ``MAX_TARGETS`` times ``target_ns`` of wall time; tasks run meanwhile); its blocks warm
    the loop too."""
    floor = max(MIN_OPS, OPS_PER_PRODUCER * runner.step
                if runner.cell.scenario in STARTS_PRODUCERS else 0)
    size, tasks = runner.step, 0
    for _ in range(MAX_DOUBLINGS):
        c0, t0 = time.process_time_ns(), time.perf_counter_ns()
        res = runner.module.run_block(loop, runner.cell.params, size, runner.spec)
        cpu, wall = time.process_time_ns() - c0, time.perf_counter_ns() - t0
        tasks += res.tasks
        if (cpu >= target_ns and size >= floor) or wall >= MAX_TARGETS * target_ns:
            break
        size = _whole_steps(runner, 2 * size)
    return size, tasks


def block_label(cell_id: str, pair: int, k: int) -> str:
    """The label of the marker that closes pair ``pair``'s block ``k`` (0: the small one)."""
    return f"block {cell_id} {pair} {k}"


def run_point(cell: ResolvedCell, ops: int, warmup_ops: int, pairs: int,
              markers: list[str], target_ms: float = 0.0) -> dict[str, Any]:
    """One point: a warm-up block of ``warmup_ops``, then ``pairs`` pairs of counted blocks
    (``SIZES`` times ``ops``, in the scenario's whole steps), each between two markers;
    appends the markers' labels. ``ops`` 0: the size is calibrated natively to ``target_ms``
    a block instead (``_calibrate``, which also warms the loop), and recorded as
    ``calibrated``."""
    runner = BlockRunner(cell)
    out: dict[str, Any] = {"cell": cell.cell_id, "scenario": cell.scenario,
                           "params": cell.params, "ops": [], "tasks": [], "wall_ns": [],
                           "cpu_ns": [], "switches": []}
    loop = runner.new_loop()
    out["loop_tid"] = runner.loop_tid  # a trace's thread ids tell the roles apart
    try:
        executed = settled_counters(loop, None).tasks_executed
        if ops <= 0:
            ops, warm_tasks = _calibrate(runner, loop, target_ms * 1e6)
            out["calibrated"] = ops
        else:
            ops = _whole_steps(runner, ops)
            warmup_ops = max(runner.step, -(-warmup_ops // runner.step) * runner.step)
            warm_tasks = runner.module.run_block(loop, cell.params, warmup_ops,
                                                 runner.spec).tasks
        executed += warm_tasks
        for pair in range(pairs):
            for k, times in enumerate(SIZES):
                gc.collect()
                # the loop parked, every task of the previous block counted: nothing of it
                # spills into the next interval
                settled_counters(loop, executed)
                s0 = _switches(runner)
                markers.append(f"{START} {cell.cell_id}" if not out["ops"]
                               else f"gap {cell.cell_id} {pair} {k}")
                marker()
                c0, t0 = time.process_time_ns(), time.perf_counter_ns()
                res = runner.module.run_block(loop, cell.params, ops * times, runner.spec)
                wall = time.perf_counter_ns() - t0
                cpu = time.process_time_ns() - c0
                marker()
                markers.append(block_label(cell.cell_id, pair, k))
                s1 = _switches(runner)
                executed += res.tasks
                out["ops"].append(res.ops)
                out["tasks"].append(res.tasks)
                out["wall_ns"].append(wall)
                out["cpu_ns"].append(cpu)
                out["switches"].append(_per_role(s0, s1))
    finally:
        close_loop(loop)
    return out


def main(argv: list[str]) -> int:
    """``PLAN OUT``: PLAN is JSON ``{"cells": [ResolvedCell JSON...], "ops": [per cell, 0:
    calibrate], "warmup_ops": [per cell], "pairs": N, "target_ms": T, "switch_interval_s": S
    (optional: the GIL's switch interval, ``sys.setswitchinterval``)}``; OUT gets the result
    (module docstring)."""
    plan_path, out_path = argv
    plan = json.loads(Path(plan_path).read_text())
    if plan.get("switch_interval_s"):  # under a tool that slows time (run.SLOWDOWN)
        sys.setswitchinterval(float(plan["switch_interval_s"]))
    cells = [ResolvedCell.from_json(c) for c in plan["cells"]]
    markers: list[str] = []
    # the thread that calls the markers (the measuring thread: main)
    result: dict[str, Any] = {"markers": markers, "points": [],
                              "marker_tid": threading.get_native_id()}
    try:
        for cell, ops, warm in zip(cells, plan["ops"], plan["warmup_ops"], strict=True):
            why = registry.get(cell.design).unavailable()
            if why is not None:  # e.g. uvloop under a free-threaded python: nothing to count
                result["points"].append({"cell": cell.cell_id, "not_applicable": why})
                continue
            wrong = interpreter.mismatch(cell.gil)
            if wrong:
                raise InterpreterError(wrong)
            if not markers:
                gc.collect()
                gc.freeze()  # as in the timed blocks: collections scan only what blocks make
            result["points"].append(run_point(cell, int(ops), int(warm), int(plan["pairs"]),
                                              markers, float(plan.get("target_ms", 0.0))))
        result["interpreter"] = interpreter.describe()
        code = 0
    except Exception as exc:  # noqa: BLE001 - the parent reports the reason in one line
        result["error"] = f"{type(exc).__name__}: {exc}"
        code = 1
    write_atomic(Path(out_path), json.dumps(result))
    return code


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # never wait for loop or producer threads at interpreter exit
