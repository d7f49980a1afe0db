"""Calibration, warm-ups, blocks, and fresh processes (methodology.md, "Sampling").

Child side (``measure_process``): calibrate ``loops`` by doubling (in the
scenario's step) until one block takes at least the target time, run the
fixed warm-up blocks, then the measured blocks. Every warm-up and measured
block gets a *fresh loop*: constructed, started, warmed with one round trip,
and closed after the block, so blocks are independent samples and counters
are per-block deltas (calibration reuses one loop: it only sizes blocks).
The garbage collector stays enabled (the state is recorded) and is run once
before every fresh block, outside timing.

Parent side (``run_processes``): the fresh processes are started one after
the other, never concurrently, each in its own process group, and hand
their samples back through a JSON file.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from impl import registry
from impl.base import EventLoop
from impl.contract import write_atomic
from impl.runner import scenarios, watchdog
from impl.runner.request import ResolvedCell
from impl.runner.scenarios._common import (
    BlockResult,
    VerificationError,
    new_signal,
    perf_ns,
    wait_lock,
    wait_parked,
)

#: the scenario the runner measures, exported to children (impl/testing_designs.py reads it)
SCENARIO_ENV = "ELT_SCENARIO"
#: blocks shorter than this are flagged as too short to trust
SHORT_BLOCK_NS = 1_000_000
#: calibration never goes beyond this many loops
MAX_LOOPS = 1 << 26
#: how long a loop may take to stop after a block
SHUTDOWN_S = 10.0


class CellFailedError(RuntimeError):
    """A measuring process failed verification or crashed; the message is one line."""


# -- child side -----------------------------------------------------------------


def _warm_round_trip(loop: EventLoop) -> None:
    lock = new_signal()
    loop.submit(lock.release)
    wait_lock(lock, "warm-up round trip")


def _close(loop: EventLoop) -> None:
    try:
        loop.shutdown(timeout=SHUTDOWN_S)
    except TimeoutError:
        raise VerificationError(
            f"{loop.design}: loop did not stop within {SHUTDOWN_S:g} s"
        ) from None
    loop.close()


def _settled_counters(loop: EventLoop, expect_executed: int | None) -> Any:
    """Counters at a quiescent point: the loop parked (bounded), its executed count settled."""
    wait_parked(loop)
    snap = loop.counters()
    if expect_executed is None:
        return snap
    end = time.monotonic() + 0.2
    while snap.tasks_executed < expect_executed and time.monotonic() < end:
        time.sleep(0.0005)
        snap = loop.counters()
    return snap


class BlockRunner:
    """Runs blocks of one cell's scenario on loops of its design."""

    def __init__(self, cell: ResolvedCell) -> None:
        self.cell = cell
        self.spec = registry.get(cell.design)
        self.module = scenarios.get(cell.scenario).load()
        self.factory = self.spec.load()
        self.step = int(self.module.step(cell.params))
        self._errors: list[str] = []

    def _on_error(self, exc: BaseException, task: object) -> None:
        self._errors.append(f"{type(exc).__name__}: {exc}")

    def new_loop(self) -> EventLoop:
        loop = self.factory(error_handler=self._on_error, **self.cell.impl_params)
        loop.start()
        try:
            _warm_round_trip(loop)
        except BaseException:
            _close(loop)
            raise
        return loop

    def block(self, loop: EventLoop, loops: int) -> dict[str, Any]:
        """One block on a started loop; the loop is left running and quiescent."""
        before = _settled_counters(loop, None)
        t0 = perf_ns()
        res: BlockResult = self.module.run_block(loop, self.cell.params, loops, self.spec)
        wall = perf_ns() - t0
        after = _settled_counters(loop, before.tasks_executed + res.tasks)
        if self._errors:
            raise VerificationError(f"{len(self._errors)} task(s) raised, first: {self._errors[0]}")
        delta = after.minus(before).as_dict()
        notes = dict(res.notes)
        if delta["tasks_executed"] not in (0, res.tasks):
            # task-side counts are authoritative (they passed); the loop's own count is racy
            notes["loop_count_mismatch"] = delta["tasks_executed"] - res.tasks
        return {
            "loops": res.ops,
            "timed_ns": res.timed_ns,
            "wall_ns": wall,
            "ns_per_op": res.timed_ns / res.ops if res.ops else float("nan"),
            "samples": res.samples,
            "counters": delta,
            "notes": notes,
        }

    def fresh_block(self, loops: int) -> dict[str, Any]:
        """One block on a fresh loop, after a full garbage collection (both untimed)."""
        gc.collect()
        loop = self.new_loop()
        try:
            return self.block(loop, loops)
        finally:
            _close(loop)

    def calibrate(self) -> tuple[int, list[list[int]]]:
        """Double ``loops`` (from one step) until a block takes >= the target; one loop for all."""
        target_ns = self.cell.target_block_ms * 1e6
        loops = self.step
        steps = []
        loop = self.new_loop()
        try:
            while True:
                wall = self.block(loop, loops)["wall_ns"]
                steps.append([loops, wall])
                if wall >= target_ns or loops * 2 > MAX_LOOPS:
                    return loops, steps
                loops *= 2
        finally:
            _close(loop)


def measure_process(cell: ResolvedCell, index: int, loops: int = 0) -> dict[str, Any]:
    """Everything one fresh process measures: calibration (unless ``loops`` is given), blocks.

    As in pyperf, the first process calibrates and the later ones reuse its
    ``loops``, so every sample of a cell covers the same number of operations.
    """
    runner = BlockRunner(cell)
    steps: list[list[int]] = []
    if loops <= 0:
        loops, steps = runner.calibrate()
    blocks = []
    for b in range(cell.warmups + cell.blocks):
        block = runner.fresh_block(loops)
        block["block"] = b
        block["warmup"] = b < cell.warmups
        blocks.append(block)
    return {
        "process": index,
        "pid": os.getpid(),
        "loops": loops,
        "calibration_steps": steps,
        "short_blocks": sum(1 for b in blocks if b["timed_ns"] < SHORT_BLOCK_NS),
        "gc_enabled": gc.isenabled(),
        "switch_interval_s": sys.getswitchinterval(),
        "blocks": blocks,
    }


def worker_main(argv: list[str]) -> int:
    """``python -m impl.runner --worker REQUEST OUT INDEX SECONDS LOOPS``: one measuring process.

    LOOPS 0 means: calibrate here.
    """
    request_path, out_path, index, seconds, loops = argv
    watchdog.arm_child(float(seconds))
    cell = ResolvedCell.from_json(Path(request_path).read_text())
    out = Path(out_path)
    try:
        result = measure_process(cell, int(index), int(loops))
        code = 0
    except VerificationError as exc:
        result, code = {"error": f"verification failed: {exc}"}, 1
    except Exception as exc:  # noqa: BLE001 - any crash fails the cell with its reason
        import traceback

        traceback.print_exc(file=sys.stderr)
        result, code = {"error": f"crashed: {type(exc).__name__}: {exc}"}, 1
    write_atomic(out, json.dumps(result))
    return code


# -- parent side ----------------------------------------------------------------


def _child_env(cell: ResolvedCell, index: int) -> dict[str, str]:
    env = dict(os.environ)
    env[SCENARIO_ENV] = cell.scenario
    env["PYTHONHASHSEED"] = str((cell.seed + index) % (2**32 - 1))
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return env


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def run_processes(
    cell: ResolvedCell, workdir: Path, deadline: watchdog.Deadline
) -> list[dict[str, Any]]:
    """Run the cell's fresh processes one after the other; return their results.

    Raises CellFailedError (verification failure or crash, one-line reason)
    or watchdog.CellTimeoutError (stacks already dumped, children killed).
    """
    request_path = workdir / "request.json"
    request_path.write_text(cell.to_json())
    results: list[dict[str, Any]] = []
    for index in range(cell.processes):
        loops = results[0]["loops"] if results else 0
        out_path = workdir / f"process-{index}.json"
        remaining = deadline.remaining()
        if remaining <= 0:
            watchdog.dump_own_stacks(f"timeout of {deadline.seconds:g} s expired")
            raise watchdog.CellTimeoutError(f"timeout after {deadline.seconds:g} s")
        cmd = [
            sys.executable,
            "-m",
            "impl.runner",
            "--worker",
            str(request_path),
            str(out_path),
            str(index),
            f"{remaining:.3f}",
            str(loops),
        ]
        proc = subprocess.Popen(
            cmd,
            env=_child_env(cell, index),
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr.fileno() if _has_fileno(sys.stderr) else subprocess.DEVNULL,
            start_new_session=True,
        )
        watchdog.track(proc)
        try:
            try:
                code = proc.wait(timeout=max(remaining, 0.01))
            except subprocess.TimeoutExpired:
                watchdog.dump_and_kill(proc)
                watchdog.dump_own_stacks(f"timeout of {deadline.seconds:g} s expired")
                raise watchdog.CellTimeoutError(
                    f"timeout after {deadline.seconds:g} s in process {index}"
                ) from None
        finally:
            if proc.poll() is None:
                watchdog.kill_group(proc)
            watchdog.untrack(proc)
        reported = _read_result(out_path)
        if code != 0 or "error" in reported:
            reason = reported.get("error") or _describe_exit(code)
            raise CellFailedError(f"process {index}: {reason}")
        results.append(reported)
    return results


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _read_result(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
