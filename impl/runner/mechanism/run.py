"""The mechanism pass's parent: one interpreter's points, under each tool in turn.

``run(job, workdir)`` runs the probe (``impl.runner.mechanism.probe``) three
times, one after the other, under the job's interpreter and GIL state:

1. natively: it sizes each point's counted blocks (``target_ms`` of the process's
   CPU time, whole scenario steps: ``probe._calibrate``) and reads the context
   switches per op per role;
2. under perf's syscall tracepoints (strace where perf cannot trace): syscalls per op
   by kind and role (``syscalls``), at those sizes;
3. under callgrind: instructions per op (``callgrind``), at those sizes, and the
   functions whose inclusive instructions grow most from the first pair's small
   block to its large one.

Every count is *marginal*: each pair of counted blocks (N ops and 2N) gives
(count(2N) - count(N)) / N, so what a block pays once (threads started and
joined, the drain's last wait) cancels; the pairs' spread says how far it
repeats. A marginal syscall or switch count below 0 (timing noise) is 0.

A tool missing on the machine is one line in ``skipped`` and its part left
out; a probe that fails (a lost task, a crash, a timeout) raises
``MechanismError`` with one line, so the job fails and a plain rerun redoes
it. A design the interpreter cannot run (uvloop under a free-threaded python)
is ``not_applicable``, like its cells.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.runner import interpreter
from impl.runner.mechanism import callgrind, probe, syscalls
from impl.runner.request import ResolvedCell

#: pairs of counted blocks per point (probe.SIZES) under callgrind: two, so each run shows
#: how far its marginal counts repeat
PAIRS = 2
#: ... under the syscall tracer (syscalls.tracer) and natively: one (with strace, which stops
#: the process at every traced call, its costliest part: 2 minutes an interpreter at two)
STRACE_PAIRS = 1
#: a counted block's native CPU time, ms (every thread; probe._calibrate): callgrind runs it
#: 50-100x slower, so short; about 5 million instructions of CPython, against which what a
#: block runs once varies by a few per cent at most
TARGET_MS = 2.0
#: how many times slower the probe runs under callgrind than natively (61x, main's submits
#: from one producer, read from the probe's own wall times here): the GIL's switch interval
#: is scaled by it there, so threads hand the GIL over as often per op as in the timed
#: blocks (at the default 5 ms, 50-60x as often: main's marginal count at one producer then
#: varied by 6-10 % between pairs, with the scaled interval by 1.2-2.6 %)
SLOWDOWN = 50.0
#: callgrind processes a job runs at once (its counts do not depend on timing, and the pass
#: runs after every timed block): three on the two cores, because a probe under callgrind
#: spends much of its time waiting (threads handed over, idle gaps, a loop parking): the
#: free-threaded job's callgrind part took 79 s with two and 52-65 s with three (four: 80 s)
CALLGRIND_PROCESSES = 3
#: the warm-up block before the counted ones under a tool, as a share of a pair's large
#: block: a warm-up the size of the small block left the first large block 2.4-4.7 % above
#: the later ones (main, one producer, with the GIL's switch interval scaled too: the
#: queue's first growth to that many tasks), so the warm-up is as large as the largest
#: counted block
WARMUP_SHARE = 1.0


class MechanismError(RuntimeError):
    """A probe failed; the message is one line naming the tool, the design and the reason."""


@dataclass(frozen=True)
class Job:
    """The points (cells, one interpreter: the same python and GIL) and the pass's sizes."""

    cells: tuple[ResolvedCell, ...]
    pairs: int = PAIRS
    target_ms: float = TARGET_MS
    timeout_s: float = 900.0
    #: what the job is called in messages (e.g. its interpreter)
    name: str = "mechanism"


def missing_tools() -> dict[str, str]:
    """{part: why it is skipped} for each part whose tool is not on PATH."""
    out = {}
    gone = [t for t in (callgrind.VALGRIND, callgrind.ANNOTATE) if shutil.which(t) is None]
    if gone:
        out["instructions"] = f"{', '.join(gone)} not found on PATH"
    tool, why = syscalls.tracer()
    if tool is None:
        out["syscalls"] = f"{why}; {syscalls.STRACE} not found on PATH either"
    return out


def _probe(job: Job, cells: tuple[ResolvedCell, ...], workdir: Path, name: str, ops: list[int],
           wrap: Callable[[list[str]], list[str]] | None = None,
           slowdown: float = 1.0, pairs: int | None = None) -> dict[str, Any]:
    """Run the probe once on ``cells`` (under ``wrap``'s tool, if any, which runs it
    ``slowdown`` times slower); its JSON result."""
    plan = workdir / f"{name}.plan.json"
    out = workdir / f"{name}.out.json"
    out.unlink(missing_ok=True)
    plan.write_text(json.dumps({
        "cells": [c.to_json() for c in cells], "ops": ops,
        "warmup_ops": [max(1, int(o * max(probe.SIZES) * WARMUP_SHARE)) for o in ops],
        "pairs": job.pairs if pairs is None else pairs, "target_ms": job.target_ms,
        "switch_interval_s": sys.getswitchinterval() * slowdown if slowdown != 1 else None}))
    argv = [cells[0].python or sys.executable, "-m", "impl.runner.mechanism.probe",
            str(plan), str(out)]
    argv = wrap(argv) if wrap else argv
    log = workdir / f"{name}.log"
    started = time.monotonic()
    with open(log, "wb") as err:
        proc = subprocess.Popen(argv, stdout=err, stderr=subprocess.STDOUT,
                                env=interpreter.child_env(dict(os.environ), cells[0].gil),
                                start_new_session=True)
        try:
            proc.wait(timeout=job.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise MechanismError(f"{job.name} {name}: no result within {job.timeout_s:g} s "
                                 f"(log: {log})") from None
    try:
        result = json.loads(out.read_text())
    except (OSError, ValueError):
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise MechanismError(f"{job.name} {name}: exit {proc.returncode}, {tail[0]}") from None
    if "error" in result:
        raise MechanismError(f"{job.name} {name}: {result['error']}")
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


def _intervals(markers: list[str]) -> dict[str, int]:
    """marker label -> the index of the interval it closes."""
    return {label: k for k, label in enumerate(markers)}


def _labels(point: dict) -> list[str]:
    """The marker labels of a point's counted blocks, in the order they ran (pair by pair,
    the small block first: ``probe.run_point``)."""
    return [probe.block_label(point["cell"], p, k)
            for p in range(len(point["ops"]) // len(probe.SIZES)) for k in range(2)]


def _marginals(counts: list[float], point: dict) -> list[float]:
    """Per pair, the marginal count per op of ``counts`` (one per counted block, in the
    order they ran)."""
    ops = point["ops"]
    return [marginal(counts[i], counts[i + 1], (ops[i], ops[i + 1]))
            for i in range(0, len(ops), 2)]


def marginal(small: float, large: float, ops: tuple[int, int]) -> float:
    """A pair's marginal count per op: (large - small) / (its ops' difference)."""
    return (large - small) / (ops[1] - ops[0])


def _mean(values: list[float]) -> float:
    return statistics.fmean(values)


def _spread(values: list[float]) -> float:
    """(max - min) / mean: how far the blocks' counts repeat (0: identical)."""
    m = _mean(values)
    return (max(values) - min(values)) / m if m else 0.0


def _instructions(job: Job, cells: tuple[ResolvedCell, ...], workdir: Path,
                  ops: list[int], name: str = "callgrind"
                  ) -> tuple[list[dict[str, Any]], float]:
    out_file = workdir / f"{name}.out"
    for old in callgrind.dumps(out_file):
        old.unlink()
    res = _probe(job, cells, workdir, name, ops, lambda a: callgrind.command(out_file, a),
                 SLOWDOWN)
    files = callgrind.dumps(out_file)
    if len(files) < len(res["markers"]):
        raise MechanismError(f"{job.name} {name}: {len(files)} dumps for "
                             f"{len(res['markers'])} markers (was the marker function seen?)")
    at = _intervals(res["markers"])
    out = []
    for point in res["points"]:
        labels = _labels(point)
        totals = [callgrind.total(files[at[label]]) for label in labels]
        per_op = _marginals(totals, point)
        fixed = [totals[2 * p] - m * point["ops"][2 * p] for p, m in enumerate(per_op)]
        top = callgrind.marginal_top(callgrind.functions(files[at[labels[0]]]),
                                     callgrind.functions(files[at[labels[1]]]),
                                     point["ops"][1] - point["ops"][0])
        out.append({"instructions_per_op": per_op, "instructions": _mean(per_op),
                    "instructions_spread": _spread(per_op),
                    "instructions_per_block": _mean(fixed),
                    "top_functions": [[fn, ir] for fn, ir in top]})
    return out, res["seconds"]


def _syscalls(job: Job, cells: tuple[ResolvedCell, ...], workdir: Path,
              ops: list[int], tool: str) -> tuple[list[dict[str, Any]], float]:
    trace = workdir / f"{tool}.trace"
    res = _probe(job, cells, workdir, tool, ops, lambda a: syscalls.command(trace, a, tool),
                 pairs=STRACE_PAIRS)
    try:
        text = syscalls.read_trace(trace, tool)
    except syscalls.TraceError as exc:
        raise MechanismError(f"{job.name} {tool}: {exc}") from None
    intervals = syscalls.split(text, res["marker_tid"], tool)
    at = _intervals(res["markers"])
    out = []
    for point in res["points"]:
        blocks = [syscalls.counts(intervals[at[label]], point["loop_tid"])
                  for label in _labels(point)]
        out.append({"syscalls_per_op": {
            role: {k: max(0.0, _mean(_marginals([b[role][k] for b in blocks], point)))
                   for k in syscalls.KIND_NAMES}
            for role in syscalls.ROLES}})
    return out, res["seconds"]


def _switches(point: dict) -> dict[str, float]:
    """The native run's marginal context switches per op per role (probe.run_point)."""
    blocks = point["switches"]
    return {k: max(0.0, _mean(_marginals([b[k] for b in blocks], point))) for k in blocks[0]}


def balance(costs: list[float], parts: int) -> list[list[int]]:
    """The indices of ``costs`` in ``parts`` groups of about equal sum, each in index order:
    the costliest first, each to the group with the least so far (longest processing time
    first, Graham 1969). Callgrind's time follows a point's instructions, which follow its
    native CPU time: one costly point per process, not two in one."""
    groups: list[list[int]] = [[] for _ in range(parts)]
    sums = [0.0] * parts
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        g = sums.index(min(sums))
        groups[g].append(i)
        sums[g] += costs[i]
    return [sorted(g) for g in groups if g]


def run(job: Job, workdir: Path) -> dict[str, Any]:
    """Every point's mechanism (module docstring); JSON-ready: ``points`` in the job's
    order, each ``{"cell", "scenario", "params", "ops", "switches_per_op",
    "syscalls_per_op", "instructions", ...}`` or ``{"cell", "not_applicable"}``."""
    workdir.mkdir(parents=True, exist_ok=True)
    native = _probe(job, job.cells, workdir, "native", [0] * len(job.cells),
                    pairs=STRACE_PAIRS)
    points: list[dict[str, Any]] = []
    counted: list[ResolvedCell] = []
    ops: list[int] = []
    for cell, p in zip(job.cells, native["points"], strict=True):
        if "not_applicable" in p:
            points.append({"cell": p["cell"], "not_applicable": p["not_applicable"]})
            continue
        counted.append(cell)
        ops.append(int(p["calibrated"]))
        points.append({"cell": p["cell"], "scenario": p["scenario"], "params": p["params"],
                       "ops": ops[-1], "switches_per_op": _switches(p)})
    live = [p for p in points if "not_applicable" not in p]
    skipped = missing_tools()
    seconds = {"native": native["seconds"]}
    tracer = None if "syscalls" in skipped else syscalls.tracer()[0]
    if counted and tracer is not None:
        extras, seconds[tracer] = _syscalls(job, tuple(counted), workdir, ops, tracer)
        for p, extra in zip(live, extras, strict=True):
            p.update(extra)
    if counted and "instructions" not in skipped:
        # callgrind's counts do not depend on timing: its processes share the machine
        parts = balance([sum(p["cpu_ns"]) for p in native["points"] if "cpu_ns" in p],
                        min(CALLGRIND_PROCESSES, len(counted)))
        with ThreadPoolExecutor(len(parts)) as pool:
            runs = [pool.submit(_instructions, job, tuple(counted[i] for i in idx), workdir,
                                [ops[i] for i in idx], f"callgrind{k}")
                    for k, idx in enumerate(parts)]
            done = [r.result() for r in runs]
        seconds["callgrind"] = max(t for _, t in done)
        for idx, (extras, _) in zip(parts, done, strict=True):
            for i, extra in zip(idx, extras, strict=True):
                live[i].update(extra)
    return {"interpreter": native.get("interpreter"), "skipped": skipped,
            "syscall_tracer": tracer,
            "pairs": job.pairs, "sizes": list(probe.SIZES), "target_ms": job.target_ms,
            "points": points,
            "tool_seconds": seconds}
