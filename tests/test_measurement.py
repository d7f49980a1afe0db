"""Measurement that holds on a shared machine: real blocks, foreign load, one lock.

These run the runner's child-side code in this process (BlockRunner,
measure_process) or the runner itself, on small settings; no assertion is
about speed, only about what was measured and recorded.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from impl import contract
from impl.contract import SHORT_BLOCK_NS
from impl.runner import machine, machine_lock
from impl.runner.cell import quality
from impl.runner.request import CellRequest, resolve
from impl.runner.scenarios._common import BlockResult
from impl.runner.worker import BlockRunner, measure_process

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_process_state():
    """measure_process freezes what its process holds (gc.freeze) and a BlockRunner of a
    latency scenario pins the calling thread to its placement's CPU: here that is pytest's
    own thread, whose later children would inherit the pin."""
    cpus = os.sched_getaffinity(0)
    yield
    gc.unfreeze()
    os.sched_setaffinity(0, cpus)


def _cell(**kw):
    base = dict(impl="baseline", scenario="submit_contention", params={"producers": 1},
                processes=1, blocks=1, warmups=0, target_block_ms=30)
    return resolve(CellRequest(**{**base, **kw}))


class _SlowSetUp:
    """A scenario whose untimed part (20 ms a block) dwarfs its timed part (2 us per op)."""

    @staticmethod
    def step(params):
        return 1

    @staticmethod
    def run_block(loop, params, loops, spec):
        time.sleep(0.02)  # set-up and tear-down: never on the clock
        return BlockResult(ops=loops, timed_ns=loops * 2_000, tasks=0)


def test_calibration_reaches_the_target_on_the_timed_region():
    cell = _cell()
    runner = BlockRunner(cell)
    runner.module = _SlowSetUp()
    cal = runner.calibrate()
    target = max(30e6, 20 * sys.getswitchinterval() * 1e9)
    assert cal["target_ns"] == target
    # timed region = loops x 2 us: the size is set by it, not by the 20 ms of set-up
    assert cal["loops"] * 2_000 >= target
    assert cal["confirm"][-1][1] >= target and not cal["missed"]
    # a wall-clock calibration would have stopped at the first step (20 ms >= ...)
    assert cal["steps"][0][1] < target


class _IdleGap(_SlowSetUp):
    """A scenario whose clock is mostly a declared idle gap: 5 ms of gap and 10 us timed per
    op (round_trip at idle_us=5000), so 100 ms of clock hold only 0.2 ms of timed region."""

    @staticmethod
    def run_block(loop, params, loops, spec):
        return BlockResult(ops=loops, timed_ns=loops * 10_000, idle_ns=loops * 5_000_000,
                           tasks=0)


def test_calibration_also_sizes_the_timed_region_past_the_short_block_limit():
    import impl.runner.worker as worker

    runner = BlockRunner(_cell())
    runner.module = _IdleGap()
    cal = runner.calibrate()
    # the clock alone would stop at 100 ms / 5 ms = 20 ops, a 0.2 ms timed region: a measured
    # block under SHORT_BLOCK_NS, which fails the cell; the timed floor makes it 2 ms or more
    assert cal["timed_floor_ns"] == worker.TIMED_FLOOR_NS == 2 * SHORT_BLOCK_NS
    assert cal["loops"] * 10_000 >= worker.TIMED_FLOOR_NS and not cal["missed"]
    assert cal["confirm"][-1][3] >= worker.TIMED_FLOOR_NS
    assert cal["loops"] * 10_000 < 2 * worker.OVERSHOOT * worker.TIMED_FLOOR_NS  # not far past
    assert any(clock >= runner.target_ns() and timed < worker.TIMED_FLOOR_NS
               for _, clock, timed in cal["steps"])  # the clock alone was reached earlier


def test_calibration_that_cannot_reach_the_target_is_recorded():
    class Capped(_SlowSetUp):
        @staticmethod
        def run_block(loop, params, loops, spec):
            return BlockResult(ops=loops, timed_ns=min(loops, 64) * 1_000, tasks=0)

    cell = _cell()
    runner = BlockRunner(cell)
    runner.module = Capped()
    runner_max = 1 << 12
    import impl.runner.worker as worker

    old = worker.MAX_LOOPS
    worker.MAX_LOOPS = runner_max
    try:
        cal = runner.calibrate()
    finally:
        worker.MAX_LOOPS = old
    assert cal["missed"]


def test_a_missed_calibration_keeps_the_size_it_measured():
    """After the last failed confirmation the size is not grown again: the later processes
    and rounds reuse ``loops``, and it must be the size process 0's blocks were measured at."""
    class Short(_SlowSetUp):
        @staticmethod
        def run_block(loop, params, loops, spec):
            return BlockResult(ops=loops, timed_ns=loops * 2_000, tasks=0)

    runner = BlockRunner(_cell())
    runner.module = Short()
    # confirmation blocks always fall short (a machine whose blocks got faster)
    cal = runner.calibrate(confirm=lambda loops: [(1.0, 1.0)])
    assert cal["missed"] and len(cal["confirm"]) == 3
    assert cal["loops"] == cal["confirm"][-1][0]


def _result(timed_ns, *, disturbed=False, missed=False, process=0):
    block = {"warmup": False, "timed_ns": timed_ns}
    cal = {"missed": missed, "confirm": [[64, timed_ns, 1, timed_ns]], "target_ns": 1e8,
           "timed_floor_ns": 2e6, "loops": 64}
    return {"process": process, "blocks": [block], "disturbed": disturbed, "discarded": [],
            "calibration": cal if process == 0 else None}


def test_sub_millisecond_blocks_and_a_missed_calibration_fail_quality():
    cell = dataclasses.replace(_cell(), processes=2)
    ok = quality(cell, [_result(2e8), _result(2e8, process=1)])
    assert ok["failures"] == []
    short = quality(cell, [_result(2e8), _result(SHORT_BLOCK_NS - 1, process=1)])
    assert [f["kind"] for f in short["failures"]] == ["short_blocks"]
    missed = quality(cell, [_result(2e8, missed=True), _result(2e8, process=1)])
    assert [f["kind"] for f in missed["failures"]] == ["calibration_missed"]
    busy = quality(cell, [_result(2e8), _result(2e8, process=1, disturbed=True)])
    assert [f["kind"] for f in busy["failures"]] == ["machine_busy"]
    assert "1 of 2 processes" in busy["failures"][0]["text"]
    assert set(f["kind"] for f in busy["failures"]) <= set(contract.QUALITY_KINDS)


def _spinners(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait(timeout=10)


def test_foreign_load_is_measured():
    if not Path("/proc/stat").exists():
        pytest.skip("needs /proc/stat")
    quiet_before = machine.snapshot()
    time.sleep(0.3)
    quiet = machine.conditions(quiet_before, machine.snapshot())
    procs = _spinners(os.cpu_count() or 2)  # every CPU busy with someone else's work
    try:
        time.sleep(0.2)
        before = machine.snapshot()
        time.sleep(0.5)
        busy = machine.conditions(before, machine.snapshot())
    finally:
        _stop(procs)
    assert busy["env.foreign_cpu"] > 0.6, busy
    assert busy["env.foreign_cpu"] > quiet["env.foreign_cpu"]
    assert busy["env.block_start"] == pytest.approx(before.unix)


def test_a_block_under_foreign_load_is_discarded_and_remeasured():
    if not Path("/proc/stat").exists():
        pytest.skip("needs /proc/stat")
    cell = dataclasses.replace(_cell(), blocks=1, max_foreign_cpu=0.3)
    procs = _spinners(os.cpu_count() or 2)
    try:
        time.sleep(0.2)
        # ~100 ms blocks: /proc/stat counts 10 ms ticks, a short block can read 0 foreign
        result = measure_process(cell, 0, loops=300_000)
    finally:
        _stop(procs)
    assert result["discarded"], "a block beside spinning processes was kept"
    assert all(d["foreign_cpu"] > 0.3 for d in result["discarded"])
    # bounded: at most `blocks` re-measures, then the process says it is disturbed
    assert len(result["discarded"]) <= cell.blocks + 1
    assert result["disturbed"] == (len(result["blocks"]) < cell.blocks)
    measured = [b for b in result["blocks"] if not b["warmup"]]
    assert all(b["env"]["env.foreign_cpu"] <= 0.3 for b in measured)


def test_the_machine_lock_excludes_a_second_holder(tmp_path, monkeypatch):
    monkeypatch.setenv(machine_lock.LOCK_ENV, str(tmp_path / "m.lock"))
    fd, waited = machine_lock.acquire(1.0)
    try:
        code = (
            "import sys; from impl.runner import machine_lock as m\n"
            "try:\n    m.acquire(0.3)\nexcept m.MachineBusyError as e:\n    print('busy', e)\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ}, cwd=ROOT, timeout=60)
        assert done.stdout.startswith("busy"), done.stdout + done.stderr
    finally:
        os.close(fd)
    again, _ = machine_lock.acquire(1.0)  # released by closing: free again
    os.close(again)


@pytest.mark.slow
def test_two_runners_at_once_never_measure_at_the_same_time(tmp_path, monkeypatch):
    """Started together (as two Snakemake runs would), their processes take turns."""
    monkeypatch.setenv(machine_lock.LOCK_ENV, str(tmp_path / "m.lock"))
    outs = [tmp_path / f"c{i}.parquet" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "impl.runner", "--impl", name, "--scenario", "round_trip",
             "--processes", "3", "--blocks", "1", "--warmups", "0", "--target-block-ms", "20",
             "--out", str(out)],
            cwd=ROOT, env={**os.environ}, stderr=subprocess.PIPE, text=True)
        for name, out in zip(("baseline", "main"), outs, strict=True)
    ]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    spans = []
    for out in outs:
        meta = next(iter(contract.cells_metadata(pq.read_schema(out).metadata).values()))
        spans += [(p["start"], p["end"]) for p in meta["processes_measured"]]
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, f"two measuring processes overlapped: {spans}"


def test_wait_quiet_waits_out_foreign_work_and_is_bounded():
    if not Path("/proc/stat").exists():
        pytest.skip("needs /proc/stat")
    procs = _spinners(os.cpu_count() or 2)
    try:
        time.sleep(0.2)
        waited = machine.wait_quiet(0.15, timeout_s=0.5)
    finally:
        _stop(procs)
    assert 0.5 <= waited < 2.0  # busy all along: it gave up at its bound
    # a quiet machine passes after one window (other tests' leftovers may cost a few more)
    assert machine.wait_quiet(0.5, timeout_s=3.0) < 3.0


def test_rounds_and_their_replacements_never_share_a_process_number(monkeypatch):
    """Round R owns numbers [2RP, 2(R+1)P): room for P replacements, no clash with R+1."""
    import impl.runner.cell as cellmod

    seen = {}

    rounds = {}

    def fake(cell, workdir, deadline, first_index, loops, round_index):
        seen[first_index] = loops
        rounds[first_index] = round_index  # handed to the children: env.round
        return [{"process": first_index, "disturbed": False, "blocks": []}]

    monkeypatch.setattr(cellmod, "run_processes", fake)
    cell = dataclasses.replace(_cell(), processes=3)
    for r in range(3):
        cellmod.measure_round(cell, r, loops=64)
    assert sorted(seen) == [0, 6, 12]
    assert rounds == {0: 0, 6: 1, 12: 2}


@pytest.mark.parametrize("warmup_ms, confirming", [(100, 3), (5, 2)])
def test_calibrating_process_confirms_with_its_own_blocks(monkeypatch, warmup_ms, confirming):
    """Process 0's own blocks at the size confirm it: no extra confirmation blocks. A whole
    warm-up block (warmup_ms >= the 100 ms target blocks are sized to) counts; a shorter one
    does not (another size)."""
    import impl.runner.worker as worker

    fresh: list[int] = []
    real_init = worker.BlockRunner.__init__

    def init(self, cell):
        real_init(self, cell)
        self.module = _SlowSetUp()

    real_fresh = worker.BlockRunner.fresh_block

    def counting_fresh(self, loops):
        fresh.append(loops)
        return real_fresh(self, loops)

    monkeypatch.setattr(worker.BlockRunner, "__init__", init)
    monkeypatch.setattr(worker.BlockRunner, "fresh_block", counting_fresh)
    cell = _cell(warmups=1, blocks=2, max_foreign_cpu=1.0, warmup_ms=warmup_ms)
    result = measure_process(cell, 0)
    cal = result["calibration"]
    assert not cal["missed"] and cal["confirm"][-1][0] == result["loops"]
    assert cal["confirm"][-1][2] == confirming  # the median of the blocks at that size
    # every fresh block was one of the process's own (one confirmation attempt per try)
    assert len(fresh) == 3 * len(cal["confirm"])
    warm, *measured = [b["loops"] for b in result["blocks"]]
    assert measured == [result["loops"]] * 2
    # the warm-up block: warmup_ms of the work of a block sized to the target, in whole steps
    target_ms = max(30, 20 * sys.getswitchinterval() * 1e3)
    assert warm == min(result["loops"], math.ceil(result["loops"] * warmup_ms / target_ms))


def test_a_warm_up_block_is_a_share_of_the_block_in_whole_steps():
    """BlockRunner.warmup_loops: loops x warmup_ms / target_block_ms, rounded up to whole
    steps, at least one step, at most loops (a whole block at or above the target)."""
    def runner(scenario, params, warmup_ms):
        return BlockRunner(_cell(scenario=scenario, params=params, warmup_ms=warmup_ms,
                                 target_block_ms=100))

    burst = runner("burst_throughput", {"burst": 512}, 10)
    assert burst.warmup_loops(512 * 100) == 512 * 10
    assert burst.warmup_loops(512 * 95) == 512 * 10  # 9.5 bursts: rounded up to whole bursts
    assert burst.warmup_loops(512) == 512  # never less than one step
    assert runner("burst_throughput", {"burst": 512}, 100).warmup_loops(512 * 7) == 512 * 7
    assert runner("burst_throughput", {"burst": 512}, 250).warmup_loops(512 * 7) == 512 * 7
    trip = runner("round_trip", {"idle_us": 0}, 10)
    assert trip.warmup_loops(10_000) == 1_000
    # a warm-up block's values are never used: no latency minimum (50 round trips at
    # idle_us=5000 would be 250 ms of idle gaps)
    assert trip.warmup_loops(100) == 10 < trip.min_ops
    assert trip.warmup_loops(5) == 1


def test_a_process_freezes_its_start_up_out_of_the_collector():
    result = measure_process(_cell(max_foreign_cpu=1.0), 0, loops=64)
    assert result["gc_enabled"] and result["gc_frozen"] > 1000


def test_mixed_pauses_are_a_declared_idle_gap_on_the_block_clock():
    # the pauses are what calibration sizes with the bursts: a block of ~100 ms of
    # workload, not 100 ms of bursts plus seconds of pauses
    runner = BlockRunner(_cell(scenario="mixed", params={"burst": 100, "pause_us": 2000}))
    loop = runner.new_loop()
    try:
        block = runner.block(loop, 500)  # 5 bursts, each after a 2 ms pause
    finally:
        loop.shutdown(timeout=10)
        loop.close()
    idle = block["clock_ns"] - block["timed_ns"]
    assert idle >= 5 * 2_000_000
    assert block["timed_ns"] > 0 and block["loops"] == 500
