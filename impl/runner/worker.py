"""The measuring child: one fresh process calibrates and measures its blocks.

``python -m impl.runner --worker ...`` runs ``worker_main`` (methodology.md,
"Sampling"); the parent that starts these processes one after the other is
``impl.runner.manager`` (the split of pyperf's ``_worker`` and ``_manager``).

``measure_process`` calibrates ``loops`` on the *timed* region of a warm
loop (after one warm-up block) until a block reaches the target, at least
``MIN_SWITCH_INTERVALS`` GIL switch intervals (every scenario has two Python
threads: the caller and the loop), with a timed region of at least
``TIMED_FLOOR_NS``, and confirms the size with the median of the process's
own blocks at that size (no extra blocks when the size holds). Warm-up blocks
are ``warmup_ms`` of that work (``BlockRunner.warmup_loops``). Every process
runs the fixed warm-up blocks and the measured blocks, each on a *fresh loop*
(constructed, started, warmed with one round trip, closed after), so counters
are per-block deltas. Around
every block the machine's foreign load is read (``impl.runner.machine``); a
measured block above ``max_foreign_cpu`` is discarded and re-measured, at
most ``blocks`` times per process. The process holds the machine lock
(``impl.runner.machine_lock``) from before calibration until it exits. The
garbage collector stays enabled (the state is recorded) and runs once before
every fresh block, outside timing; what the process holds from its start-up
is frozen out of the collector first (``gc.freeze``), so that collection
scans only what the blocks made. The samples go back to the parent as one
JSON file.

The child's imports stay light: no argparse, pyarrow or pandas.
"""

from __future__ import annotations

import gc
import json
import math
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from impl.contract import (
    EXIT_FAILED,
    EXIT_OK,
    TIMED_FLOOR_NS,
    block_target_ns,
    warmup_share,
    write_atomic,
)
from impl.designs import registry
from impl.designs.base import EventLoop
from impl.runner import interpreter, machine, machine_lock, placement, scenarios, watchdog
from impl.runner.request import ResolvedCell
from impl.runner.scenarios._common import (
    LOST_TASK_S,
    BlockResult,
    VerificationError,
    new_signal,
    perf_ns,
    wait_lock,
    wait_parked,
)

# the child's environment, set by the parent (impl.runner.manager); the scenario's name
# (SCENARIO_ENV) is defined by the designs that read it, in impl/designs/testing.py
#: the pipeline round a child measures in (stored per block as env.round: the verdicts pair
#: processes measured in the same round)
ROUND_ENV = "ELT_ROUND"
#: a process's result key when its design cannot run under this interpreter (the reason):
#: the cell is "not applicable", not failed (uvloop has no free-threaded build)
NOT_APPLICABLE = "not_applicable"


class InterpreterError(RuntimeError):
    """The process runs with the GIL in another state than the cell declares (one line)."""


#: calibration never goes beyond this many loops
MAX_LOOPS = 1 << 26
#: fresh blocks whose median must reach the target before the size is final
CONFIRM_BLOCKS = 3
#: how often calibration may grow the size again after a failed confirmation
CONFIRM_TRIES = 3
#: the longest a process waits for the machine to be quiet before measuring (or re-measuring)
QUIET_WAIT_S = 2.0
#: the largest factor one calibration step grows the block size by
MAX_GROWTH = 4.0
#: a size whose block took more than this many times the target is bisected towards it
OVERSHOOT = 1.5
BISECT_STEPS = 4
#: how long a loop may take to stop after a block
SHUTDOWN_S = 10.0


def _warm_round_trip(loop: EventLoop) -> None:
    lock = new_signal()
    loop.submit(lock.release)
    wait_lock(lock, "warm-up round trip")


def close_loop(loop: EventLoop) -> None:
    try:
        loop.shutdown(timeout=SHUTDOWN_S)
    except TimeoutError:
        raise VerificationError(
            f"{loop.design}: loop did not stop within {SHUTDOWN_S:g} s"
        ) from None
    loop.close()


def settled_counters(loop: EventLoop, expect_executed: int | None) -> Any:
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
        #: per-op latency scenarios need enough ops per block for a block median
        self.min_ops = max(self.step, int(getattr(self.module, "MIN_OPS", 1)))
        self._errors: list[str] = []
        # declared placement (latency scenarios): the measuring (submitter) thread pins itself
        # here, before any loop thread exists; each loop thread pins itself in new_loop
        self.plan = placement.plan(cell.params.get(placement.PARAM, placement.FREE))
        placement.pin_current_thread(self.plan.submitter, "submitter")
        self.submitter_tid = threading.get_native_id()
        self.loop_tid = 0
        try:
            self.round = float(os.environ[ROUND_ENV])
        except (KeyError, ValueError):
            self.round = None

    def _on_error(self, exc: BaseException, task: object) -> None:
        self._errors.append(f"{type(exc).__name__}: {exc}")

    def new_loop(self) -> EventLoop:
        loop = self.factory(error_handler=self._on_error, **self.cell.impl_params)
        loop.start()
        try:
            # the loop thread pins itself (when the placement says so) and says who it is
            probe = placement.LoopThreadProbe(self.plan.loop)
            loop.submit(probe)
            try:
                probe.wait(LOST_TASK_S)
            except RuntimeError as exc:
                raise VerificationError(f"placement {self.plan.placement}: {exc}") from None
            self.loop_tid = probe.native_id
            _warm_round_trip(loop)
        except BaseException:
            close_loop(loop)
            raise
        return loop

    def _threads(self) -> tuple[placement.ThreadSample, placement.ThreadSample,
                                tuple[int, int]]:
        """(submitter thread, loop thread, the process's context switches)."""
        return (placement.sample(self.submitter_tid), placement.sample(self.loop_tid),
                placement.process_switches())

    def _thread_env(self, ops: int, own_s: float, before, after) -> dict[str, float]:
        """Where the block's time went, per op and per thread role, and where threads ran.

        ``env.own_cpu_ns``: the process's CPU time (all threads) per op;
        ``env.loop_cpu_ns``: the loop thread's; ``env.submitter_cpu_ns``: the
        rest (the caller or producers). ``env.submitter_cpu`` / ``env.loop_cpu``:
        the CPU each role's thread last ran on; ``env.migrations``: how often
        the two moved between CPUs during the block;
        ``env.{loop,submitter}_{voluntary,involuntary}_switches``: each role's
        context switches per op (it blocked / it was preempted; the submitter
        role is every thread but the loop's, ended producers included). A
        pinned thread found outside its CPUs fails the cell (the placement did
        not hold).
        """
        (sub0, loop0, proc0), (sub1, loop1, proc1) = before, after
        out: dict[str, float] = {}
        if ops > 0:
            own_ns = own_s * 1e9
            out["env.own_cpu_ns"] = own_ns / ops
            if loop0.run_ns is not None and loop1.run_ns is not None:
                loop_ns = float(loop1.run_ns - loop0.run_ns)
                out["env.loop_cpu_ns"] = loop_ns / ops
                out["env.submitter_cpu_ns"] = max(0.0, own_ns - loop_ns) / ops
            for kind, i in (("voluntary", 0), ("involuntary", 1)):
                a, b = getattr(loop0, kind), getattr(loop1, kind)
                if a is None or b is None:
                    continue
                loop_n = b - a
                out[f"env.loop_{kind}_switches"] = loop_n / ops
                out[f"env.submitter_{kind}_switches"] = max(
                    0, proc1[i] - proc0[i] - loop_n) / ops
        for role, smp, cpus in (("submitter", sub1, self.plan.submitter),
                                ("loop", loop1, self.plan.loop)):
            if smp.cpu is None:
                continue
            out[f"env.{role}_cpu"] = float(smp.cpu)
            if cpus is not None and smp.cpu not in cpus:
                raise VerificationError(
                    f"placement {self.plan.placement}: the {role} thread ran on CPU {smp.cpu}, "
                    f"declared {sorted(cpus)}")
        moved = [b.migrations - a.migrations for a, b in ((sub0, sub1), (loop0, loop1))
                 if a.migrations is not None and b.migrations is not None]
        if moved:
            out["env.migrations"] = float(sum(moved))
        if self.round is not None:
            out["env.round"] = self.round
        return out

    def block(self, loop: EventLoop, loops: int) -> dict[str, Any]:
        """One block on a started loop; the loop is left running and quiescent."""
        before = settled_counters(loop, None)
        th0 = self._threads()
        m0 = machine.snapshot()
        t0 = perf_ns()
        res: BlockResult = self.module.run_block(loop, self.cell.params, loops, self.spec)
        wall = perf_ns() - t0
        m1 = machine.snapshot()
        th1 = self._threads()
        after = settled_counters(loop, before.tasks_executed + res.tasks)
        if self._errors:
            raise VerificationError(f"{len(self._errors)} task(s) raised, first: {self._errors[0]}")
        delta = after.minus(before).as_dict()
        notes = dict(res.notes)
        if delta["tasks_executed"] not in (0, res.tasks):
            # task-side counts are authoritative (they passed); the loop's own count is racy
            notes["loop_count_mismatch"] = delta["tasks_executed"] - res.tasks
        env = machine.conditions(m0, m1, self.plan.cpus)
        env["env.timed_ns"] = float(res.timed_ns)
        # every block says which GIL it ran under; a C extension may have switched it on
        wrong = interpreter.mismatch(self.cell.gil, "after a block")
        if wrong:
            raise InterpreterError(wrong)
        env["env.gil_enabled"] = float(interpreter.gil_enabled())
        env.update(self._thread_env(res.ops, m1.own - m0.own, th0, th1))
        return {
            "loops": res.ops,
            "timed_ns": res.timed_ns,
            # what calibration sizes: the timed region plus a declared idle gap, never set-up
            "clock_ns": res.timed_ns + res.idle_ns,
            "wall_ns": wall,
            "ns_per_op": res.timed_ns / res.ops if res.ops else float("nan"),
            "samples": res.samples,
            "block_values": res.block_values,
            "counters": delta,
            "notes": notes,
            "env": env,
        }

    def fresh_block(self, loops: int) -> dict[str, Any]:
        """One block on a fresh loop, after a full garbage collection (both untimed)."""
        gc.collect()
        loop = self.new_loop()
        try:
            return self.block(loop, loops)
        finally:
            close_loop(loop)

    def target_ns(self) -> float:
        """max(profile target, 20 GIL switch intervals), in ns."""
        return block_target_ns(self.cell.target_block_ms, sys.getswitchinterval())

    def _reach(self, clock_ns: float, timed_ns: float) -> float:
        """How far a block of this clock and timed region reaches: min(clock / target, timed /
        TIMED_FLOOR_NS); a size is long enough at 1 or more."""
        return min(clock_ns / self.target_ns(), timed_ns / TIMED_FLOOR_NS)

    def _grow(self, loops: int, reach: float) -> int:
        """The next size: scaled towards the target (x1.25 to x4), in whole steps.

        At most x4: cost per op is not constant in the block size (below one GIL
        switch interval a thread runs its share without a forced switch), so a
        long extrapolation overshoots.
        """
        factor = MAX_GROWTH if reach <= 0 else min(MAX_GROWTH, max(1.25, 1.2 / reach))
        steps = -(-int(loops * factor) // self.step)
        return min(MAX_LOOPS, max(loops + self.step, steps * self.step))

    def calibrate(
        self, confirm: Callable[[int], list[tuple[float, float]]] | None = None
    ) -> dict[str, Any]:
        """Size ``loops`` so the timed region reaches the target, warm, then confirm it.

        One loop is warmed with a block of one step (discarded), then the size
        grows until one block reaches (``_reach``): its clock the target and its
        timed region ``TIMED_FLOOR_NS``. The size is final when the medians of
        the blocks ``confirm(loops)`` measures at that size ((clock, timed) each)
        reach it too (else it grows again, at most ``CONFIRM_TRIES`` times).
        ``confirm`` defaults to ``CONFIRM_BLOCKS`` fresh blocks;
        ``measure_process`` passes the process's own blocks, so a confirmed size
        costs no extra blocks. ``missed`` is True when the size was never reached
        (a quality failure of the cell). Records ``steps`` as [loops, clock,
        timed] and ``confirm`` as [loops, median clock, blocks, median timed].
        """
        target = self.target_ns()
        loops = self.min_ops
        steps: list[list[float]] = []
        confirms: list[list[float]] = []
        loop = self.new_loop()

        def step(size: int) -> float:
            block = self.block(loop, size)
            steps.append([size, block["clock_ns"], block["timed_ns"]])
            return self._reach(block["clock_ns"], block["timed_ns"])

        try:
            self.block(loop, self.step)  # warm-up: first calls, caches, the thread's start
            below = 0
            while True:
                reach = step(loops)
                if reach >= 1 or loops >= MAX_LOOPS:
                    break
                below, loops = loops, self._grow(loops, reach)
            # cost per op can jump with the size (GIL contention sets in): bisect an overshoot
            for _ in range(BISECT_STEPS):
                if reach <= OVERSHOOT or not below:
                    break
                mid = int((below * loops) ** 0.5) // self.step * self.step
                if not below < mid < loops:
                    break
                mid_reach = step(mid)
                if mid_reach >= 1:
                    loops, reach = mid, mid_reach
                else:
                    below = mid
        finally:
            close_loop(loop)
        confirm = confirm or self._fresh_readings
        for attempt in range(CONFIRM_TRIES):
            blocks = confirm(loops)
            clock = statistics.median(c for c, _ in blocks) if blocks else 0.0
            timed = statistics.median(t for _, t in blocks) if blocks else 0.0
            confirms.append([loops, clock, len(blocks), timed])
            reach = self._reach(clock, timed)
            if reach >= 1 or loops >= MAX_LOOPS or attempt == CONFIRM_TRIES - 1:
                break  # a missed size stays the one measured: the later processes reuse it
            loops = self._grow(loops, reach)
        return {"loops": loops, "target_ns": target, "timed_floor_ns": TIMED_FLOOR_NS,
                "steps": steps, "confirm": confirms, "missed": reach < 1}

    def _fresh_readings(self, loops: int) -> list[tuple[float, float]]:
        blocks = [self.fresh_block(loops) for _ in range(CONFIRM_BLOCKS)]
        return [(b["clock_ns"], b["timed_ns"]) for b in blocks]

    def warmup_loops(self, loops: int) -> int:
        """A warm-up block's size: ``loops`` scaled by warmup_ms / ``target_ns()`` (the target
        the block size was calibrated to), in whole steps, at least one step and at most
        ``loops``.

        Its job is to bring a fresh process to its warm state (bytecode specialised, caches
        and allocator warm) before the measured blocks, not to be measured: a few ms of the
        cell's work do that (benchmarks/warmup_length.py), so it need not be a whole block,
        nor hold a latency block's minimum ops (its values are never used; at round_trip's
        idle_us=5000 those 50 ops are 250 ms of idle gaps).
        """
        share = warmup_share(self.cell.warmup_ms, self.target_ns())
        if share >= 1:
            return loops
        steps = math.ceil(loops * share / self.step)
        return min(loops, max(self.step, steps * self.step))

    def blocks(
        self, loops: int, settled: list[float]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        """The process's warm-up blocks (``warmup_loops(loops)``) and measured blocks (at
        ``loops``): (kept, discarded, clean).

        A measured block above ``max_foreign_cpu`` is discarded (and recorded, with its
        clock) and re-measured, at most ``blocks`` times; ``settled`` collects the quiet
        waits after each.
        """
        cell = self.cell
        blocks, discarded = [], []
        for b in range(cell.warmups):
            block = self.fresh_block(self.warmup_loops(loops))
            block.update(block=b, warmup=True)
            blocks.append(block)
        index = cell.warmups
        clean = 0
        while clean < cell.blocks and len(discarded) <= cell.blocks:
            block = self.fresh_block(loops)
            block.update(block=index, warmup=False)
            index += 1
            foreign = block["env"].get("env.foreign_cpu", 0.0)
            if foreign > cell.max_foreign_cpu:
                discarded.append({"block": block["block"], "foreign_cpu": foreign,
                                  "clock_ns": block["clock_ns"], "timed_ns": block["timed_ns"]})
                settled.append(machine.wait_quiet(cell.max_foreign_cpu / 2, QUIET_WAIT_S,
                                                  cpus=self.plan.cpus))
                continue
            blocks.append(block)
            clean += 1
        return blocks, discarded, clean


def measure_process(
    cell: ResolvedCell, index: int, loops: int = 0, since: machine.Snapshot | None = None
) -> dict[str, Any]:
    """Everything one fresh process measures: calibration (unless ``loops`` is given), blocks.

    As in pyperf, the first process calibrates and the later ones reuse its
    ``loops``, so every sample of a cell covers the same number of operations.
    Measured blocks above ``cell.max_foreign_cpu`` are discarded and
    re-measured, at most ``cell.blocks`` times; ``disturbed`` says the process
    still lacks undisturbed blocks. ``since``: a snapshot from the process's
    start, so its start-up counts towards the first quiet window.
    """
    started = time.time()
    runner = BlockRunner(cell)
    # after the design's and the scenario's imports: one may have switched the GIL back on
    wrong = interpreter.mismatch(cell.gil)
    if wrong:
        raise InterpreterError(wrong)
    # everything alive now (modules, the design's and the scenario's code) lives as long as
    # the process: out of the collector's generations, the collection before each block
    # scans only what the blocks made (milliseconds less per block, the same garbage freed)
    gc.collect()
    gc.freeze()
    # let a burst of foreign work (e.g. the scheduler's bookkeeping after the previous job)
    # pass before measuring anything; bounded, and recorded
    settled = [machine.wait_quiet(cell.max_foreign_cpu / 2, QUIET_WAIT_S, since=since,
                                  cpus=runner.plan.cpus)]
    discarded: list[dict[str, Any]] = []
    measured: dict[str, Any] = {}

    def own_blocks(size: int) -> list[tuple[float, float]]:
        """Measure this process's blocks at ``size``; their (clock, timed) confirm a
        calibration."""
        kept, dropped, clean = runner.blocks(size, settled)
        discarded.extend(dropped)
        measured.update(blocks=kept, clean=clean)
        # the blocks at ``size`` (a warm-up block is shorter, unless warmup_ms makes it whole)
        whole = runner.warmup_loops(size) == size
        return [(b["clock_ns"], b["timed_ns"]) for b in kept if whole or not b["warmup"]] + [
            (d["clock_ns"], d["timed_ns"]) for d in dropped]

    calibration = None
    if loops <= 0:
        # process 0: its own blocks at the calibrated size confirm it (a failed confirmation
        # drops them, grows the size and measures them again)
        calibration = runner.calibrate(confirm=own_blocks)
        loops = calibration["loops"]
    else:
        own_blocks(loops)
    blocks, clean = measured["blocks"], measured["clean"]
    return {
        "process": index,
        "pid": os.getpid(),
        "loops": loops,
        "calibration": calibration,
        "discarded": discarded,
        "disturbed": clean < cell.blocks,
        "quiet_wait_s": [round(s, 3) for s in settled],
        "measure_start": started,
        "measure_end": time.time(),
        "gc_enabled": gc.isenabled(),
        "gc_frozen": gc.get_freeze_count(),
        "switch_interval_s": sys.getswitchinterval(),
        "interpreter": interpreter.describe(),
        "blocks": blocks,
    }


def worker_main(argv: list[str]) -> int:
    """``python -m impl.runner --worker REQUEST OUT INDEX SECONDS LOOPS``: one measuring process.

    LOOPS 0 means: calibrate here.
    """
    started = machine.since_spawn(os.environ.get(machine.SPAWN_ENV)) or machine.snapshot()
    request_path, out_path, index, seconds, loops = argv
    watchdog.arm_child(float(seconds))
    cell = ResolvedCell.from_json(Path(request_path).read_text())
    out = Path(out_path)
    why = registry.get(cell.design).unavailable()
    if why is not None:  # e.g. uvloop under a free-threaded python: nothing to measure, no error
        write_atomic(out, json.dumps({NOT_APPLICABLE: why}))
        return EXIT_OK
    try:
        # held until this process exits: no other measurement on the machine meanwhile
        _lock, waited = machine_lock.acquire(max(0.0, float(seconds) - 1.0))
        result = measure_process(cell, int(index), int(loops), since=started)
        result["lock_wait_s"] = round(waited, 3)
        code = EXIT_OK
    except machine_lock.MachineBusyError as exc:
        result, code = {"error": f"machine lock: {exc}"}, EXIT_FAILED
    except VerificationError as exc:
        result, code = {"error": f"verification failed: {exc}"}, EXIT_FAILED
    except InterpreterError as exc:
        result, code = {"error": f"interpreter: {exc}"}, EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - any crash fails the cell with its reason
        import traceback

        traceback.print_exc(file=sys.stderr)
        result, code = {"error": f"crashed: {type(exc).__name__}: {exc}"}, EXIT_FAILED
    write_atomic(out, json.dumps(result))
    return code
