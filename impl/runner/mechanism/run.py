"""The mechanism pass's parent: one interpreter's points, under each tool in turn.

``run(job, workdir)`` runs the probe (``impl.runner.mechanism.probe``) three
times, one after the other, under the job's interpreter and GIL state:

1. natively: it sizes each point's counted block (``target_ms`` of wall time,
   whole scenario steps) and reads the context switches per op per role;
2. under strace: syscalls per op by kind and role (``syscalls``), at those sizes;
3. under callgrind: instructions per op (``callgrind``), at those sizes, and the
   functions with the most inclusive instructions of the first counted block.

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
from impl.runner.mechanism import callgrind, syscalls
from impl.runner.request import ResolvedCell

#: counted blocks per point: two, so each run shows how far its counts repeat
BLOCKS = 2
#: a counted block's native wall time, ms: callgrind runs it 50-100x slower, so short; long
#: enough to hold thousands of submits (never fewer ops than the scenario's minimum)
TARGET_MS = 1.0
#: callgrind processes a job runs at once (its counts do not depend on timing, and the pass
#: runs after every timed block): the machine's two cores
CALLGRIND_PROCESSES = 2
#: the warm-up block before the counted ones under a tool, as a share of a counted block: a
#: quarter left main's first counted block 3.7 % above its second, a whole one 0.8 %
WARMUP_SHARE = 1.0


class MechanismError(RuntimeError):
    """A probe failed; the message is one line naming the tool, the design and the reason."""


@dataclass(frozen=True)
class Job:
    """The points (cells, one interpreter: the same python and GIL) and the pass's sizes."""

    cells: tuple[ResolvedCell, ...]
    blocks: int = BLOCKS
    target_ms: float = TARGET_MS
    timeout_s: float = 900.0
    #: what the job is called in messages (e.g. its interpreter)
    name: str = "mechanism"


def missing_tools() -> dict[str, str]:
    """{part: why it is skipped} for each part whose tool is not on PATH."""
    out = {}
    for part, tools in (("instructions", (callgrind.VALGRIND, callgrind.ANNOTATE)),
                        ("syscalls", (syscalls.STRACE,))):
        gone = [t for t in tools if shutil.which(t) is None]
        if gone:
            out[part] = f"{', '.join(gone)} not found on PATH"
    return out


def _probe(job: Job, cells: tuple[ResolvedCell, ...], workdir: Path, name: str, ops: list[int],
           wrap: Callable[[list[str]], list[str]] | None = None) -> dict[str, Any]:
    """Run the probe once on ``cells`` (under ``wrap``'s tool, if any); its JSON result."""
    plan = workdir / f"{name}.plan.json"
    out = workdir / f"{name}.out.json"
    out.unlink(missing_ok=True)
    plan.write_text(json.dumps({
        "cells": [c.to_json() for c in cells], "ops": ops,
        "warmup_ops": [max(1, int(o * WARMUP_SHARE)) for o in ops],
        "blocks": job.blocks, "target_ms": job.target_ms}))
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


def _blocks(point: dict, job: Job) -> list[str]:
    return [f"block {point['cell']} {b}" for b in range(job.blocks)]


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
    res = _probe(job, cells, workdir, name, ops, lambda a: callgrind.command(out_file, a))
    files = callgrind.dumps(out_file)
    if len(files) < len(res["markers"]):
        raise MechanismError(f"{job.name} {name}: {len(files)} dumps for "
                             f"{len(res['markers'])} markers (was the marker function seen?)")
    at = _intervals(res["markers"])
    out = []
    for point in res["points"]:
        per_op = [callgrind.total(files[at[label]]) / n
                  for label, n in zip(_blocks(point, job), point["ops"], strict=True)]
        first = files[at[_blocks(point, job)[0]]]
        top = [[fn, ir / point["ops"][0]] for fn, ir in callgrind.top_functions(first)]
        out.append({"instructions_per_op": per_op, "instructions": _mean(per_op),
                    "instructions_spread": _spread(per_op), "top_functions": top})
    return out, res["seconds"]


def _syscalls(job: Job, cells: tuple[ResolvedCell, ...], workdir: Path,
              ops: list[int]) -> tuple[list[dict[str, Any]], float]:
    trace = workdir / "strace.txt"
    res = _probe(job, cells, workdir, "strace", ops, lambda a: syscalls.command(trace, a))
    intervals = syscalls.split(trace.read_text(errors="replace"), res["marker_tid"])
    at = _intervals(res["markers"])
    out = []
    for point in res["points"]:
        blocks = [syscalls.per_op(intervals[at[label]], point["loop_tid"], n)
                  for label, n in zip(_blocks(point, job), point["ops"], strict=True)]
        out.append({"syscalls_per_op": {
            role: {k: _mean([b[role][k] for b in blocks]) for k in syscalls.KIND_NAMES}
            for role in syscalls.ROLES}})
    return out, res["seconds"]


def run(job: Job, workdir: Path) -> dict[str, Any]:
    """Every point's mechanism (module docstring); JSON-ready: ``points`` in the job's
    order, each ``{"cell", "scenario", "params", "ops", "switches_per_op",
    "syscalls_per_op", "instructions", ...}`` or ``{"cell", "not_applicable"}``."""
    workdir.mkdir(parents=True, exist_ok=True)
    native = _probe(job, job.cells, workdir, "native", [0] * len(job.cells))
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
                       "ops": ops[-1], "switches_per_op": {
                           k: _mean([s[k] for s in p["switches"]]) for k in p["switches"][0]}})
    live = [p for p in points if "not_applicable" not in p]
    skipped = missing_tools()
    seconds = {"native": native["seconds"]}
    if counted and "syscalls" not in skipped:
        extras, seconds["strace"] = _syscalls(job, tuple(counted), workdir, ops)
        for p, extra in zip(live, extras, strict=True):
            p.update(extra)
    if counted and "instructions" not in skipped:
        # callgrind's counts do not depend on timing: its processes share the machine
        parts = [list(range(k, len(counted), CALLGRIND_PROCESSES))
                 for k in range(min(CALLGRIND_PROCESSES, len(counted)))]
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
            "blocks": job.blocks, "target_ms": job.target_ms, "points": points,
            "tool_seconds": seconds}
