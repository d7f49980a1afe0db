"""The mechanism pass (impl/runner/mechanism, impl/pipeline/mechanism): its parsers on
synthetic tool output, the plan of its jobs, and, with the tools present, a real count
that repeats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from impl.pipeline import mechanism as pipe
from impl.pipeline.cells import expand
from impl.runner import placement
from impl.runner.mechanism import callgrind, run, syscalls
from impl.study import load, matches

ROOT = Path(__file__).resolve().parents[1]
#: CI sets it: a missing valgrind or syscall tracer (perf, strace) fails the tests needing them
REQUIRE_ENV = "ELT_REQUIRE_MECHANISM_TOOLS"


def _tools_or_skip() -> None:
    missing = run.missing_tools()
    if missing:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but: {missing}")
        pytest.skip(f"mechanism tools missing: {missing}")


ANNOTATED = """\
--------------------------------------------------------------------------------
Profile data file 'callgrind.out.1' (creator: callgrind-3.19.0)
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
9,112,948 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                  file:function
--------------------------------------------------------------------------------
9,109,232 (99.96%)  /tmp/b/Python-3.11.7/Objects/call.c:_PyObject_Call [/x/libpython3.11.so]
9,108,804 (99.95%)  ???:0x0000000004936718 [???]
2,079,051 (22.81%)  /tmp/b/Python-3.11.7/Objects/call.c:PyObject_Vectorcall [/x/lib.so]
2,014,893 (22.11%)  ./Include/internal/pycore_call.h:PyObject_Vectorcall
3,058,300,114 (666.2%)  /tmp/b/Python/ceval.c:_PyEval_EvalFrameDefault'2 [/x/lib.so]
  513,500 ( 5.63%)  /project/src/cereggii/atomic_int.c:AtomicInt64_IncrementAndGet_callable [/c.so]
  166,882 ( 1.83%)  ???:(below main) [/usr/bin/python3.11]
"""


def test_callgrind_top_functions_are_named_once_below_the_outer_frames():
    top = callgrind.parse_annotated(ANNOTATED, top=5, total=9_112_948)
    # the outer frames (> half the interval), an address, a recursion copy and "(below main)"
    # are left out; an inlined copy of a function counts as the function
    assert top == [("PyObject_Vectorcall", 2_079_051),
                   ("AtomicInt64_IncrementAndGet_callable", 513_500)]
    assert callgrind.parse_annotated(ANNOTATED, top=1)[0] == ("_PyObject_Call", 9_109_232)


def test_callgrind_dumps_are_numbered_in_order_and_hold_their_totals(tmp_path):
    out = tmp_path / "cg.out"
    for n, total in ((10, 5), (2, 7), (1, 9)):
        (tmp_path / f"cg.out.{n}").write_text(f"events: Ir\nsummary: {total}\ntotals: {total}\n")
    out.write_text("events: Ir\ntotals: 1\n")  # the final dump at exit is no marker's
    files = callgrind.dumps(out)
    assert [f.name for f in files] == ["cg.out.1", "cg.out.2", "cg.out.10"]
    assert [callgrind.total(f) for f in files] == [9, 7, 5]
    (tmp_path / "bad").write_text("not a dump\n")
    with pytest.raises(ValueError, match="not a callgrind dump"):
        callgrind.total(tmp_path / "bad")


TRACE = """\
100  read(3, "x", 10)              = 1
100  getppid()                     = 1
101  futex(0x1, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL <unfinished ...>
100  futex(0x1, FUTEX_WAKE_PRIVATE, 1 <unfinished ...>
101  <... futex resumed>)            = 0
100  <... futex resumed>)            = 1
102  write(3, "\\1\\0\\0\\0\\0\\0\\0\\0", 8) = 8
101  read(3, "\\1\\0\\0\\0\\0\\0\\0\\0", 8) = 8
101  epoll_wait(4,  <unfinished ...>
--- SIGCHLD {si_signo=SIGCHLD} ---
101  <... epoll_wait resumed>[], 1, 10) = 0
102  getppid()                     = 1
100  clock_nanosleep(CLOCK_MONOTONIC, 0, {tv_sec=0, tv_nsec=20000}, NULL) = 0
100  getppid()                     = 1
100  sched_yield()                 = 0
"""


def test_strace_calls_are_split_at_the_measuring_threads_markers_and_counted_once():
    intervals = syscalls.split(TRACE, marker_tid=100)
    # a marker of another thread (102) is not one; what follows the last marker is dropped
    assert len(intervals) == 2
    assert intervals[0] == [(100, "read")]
    assert sorted(intervals[1]) == sorted([(101, "futex_wait"), (100, "futex_wake"),
                                           (102, "write"), (101, "read"), (101, "poll"),
                                           (100, "sleep")])
    per = syscalls.per_op(intervals[1], loop_tid=101, ops=2)
    assert per["loop"] == {"futex_wait": 0.5, "futex_wake": 0.0, "read": 0.5, "write": 0.0,
                           "poll": 0.5, "sleep": 0.0, "yield": 0.0}
    assert per["submitter"]["futex_wake"] == 0.5 and per["submitter"]["write"] == 0.5
    assert per["submitter"]["sleep"] == 0.5


#: ``perf script -F tid,event,trace`` lines (arguments shortened; a real getppid line ends
#: in a space)
PERF_TRACE = "\n".join(f"     {tid} syscalls:sys_enter_{call}" for tid, call in [
    (100, "read: fd: 0x00000003, count: 0x00000001"),
    (100, "getppid: "),
    (101, "futex: uaddr: 0x7f12d4000b70, op: 0x00000189, val: 0x00000000"),
    (100, "futex: uaddr: 0x7f12d4000b70, op: 0x00000081, val: 0x00000001"),
    (101, "futex: uaddr: 0x7f12d4000b70, op: 0x00000080, val: 0x00000002"),
    (100, "futex: uaddr: 0x7f12d4000b70, op: 0x00000084, val: 0x00000001"),
    (102, "write: fd: 0x00000005, count: 0x00000008"),
    (101, "epoll_wait: epfd: 0x00000004, maxevents: 0x00000001, timeout: 0x0000000a"),
    (102, "getppid: "),
    (100, "clock_nanosleep: which_clock: 0x00000001, flags: 0x00000000"),
    (100, "getppid:"),
    (100, "sched_yield: "),
])


def test_perf_entries_are_split_at_the_markers_and_a_futex_counted_by_its_operation():
    intervals = syscalls.split(PERF_TRACE, marker_tid=100, tool=syscalls.PERF)
    assert len(intervals) == 2 and intervals[0] == [(100, "read")]
    # op 0x189: WAIT_BITSET | PRIVATE | CLOCK_REALTIME; 0x81 WAKE | PRIVATE; 0x80 WAIT |
    # PRIVATE; 0x84 CMP_REQUEUE | PRIVATE: neither a wait nor a wake
    assert intervals[1] == [(101, "futex_wait"), (100, "futex_wake"), (101, "futex_wait"),
                            (102, "write"), (101, "poll"), (100, "sleep")]


@pytest.mark.skipif(syscalls.tracer()[0] != syscalls.PERF,
                    reason="perf cannot trace syscalls here (the pass uses strace)")
def test_perf_traces_a_real_process_between_its_markers(tmp_path):
    script = ("import os, threading\n"
              "os.getppid()\n"
              "r, w = os.pipe(); os.write(w, b'x'); os.read(r, 1)\n"
              "os.getppid()\n")
    out = tmp_path / "t.data"
    done = subprocess.run(syscalls.command(out, [sys.executable, "-c", script], syscalls.PERF),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = syscalls.read_trace(out, syscalls.PERF)
    tids = {int(line.split()[0]) for line in text.splitlines()
            if "sys_enter_getppid" in line}
    (tid,) = tids
    intervals = syscalls.split(text, marker_tid=tid, tool=syscalls.PERF)
    assert len(intervals) == 2
    assert intervals[1].count((tid, "write")) == 1 and intervals[1].count((tid, "read")) == 1


def test_a_marginal_count_cancels_what_every_block_runs_once():
    # a block of n ops runs 50,000 instructions once (threads started, joined) and 700 per op
    small, large = 50_000 + 700 * 128, 50_000 + 700 * 256
    assert run.marginal(small, large, (128, 256)) == 700
    # the top functions grow by what each op runs: one listed in a single block is left out
    top = callgrind.marginal_top({"submit": 128 * 300 + 9, "thread_start": 40_000, "eval": 5},
                                 {"submit": 256 * 300 + 9, "thread_start": 40_000, "lone": 7},
                                 128)
    assert top == [("submit", 300.0)]


def test_callgrinds_processes_get_about_equal_shares_of_the_points_native_cpu():
    # round-robin would put both costly points (0 and 2) in one process: 18 against 2
    assert run.balance([9.0, 1.0, 9.0, 1.0], 2) == [[0, 1], [2, 3]]
    assert run.balance([5.0], 2) == [[0]]


def test_the_scenarios_named_as_starting_producers_are_those_whose_blocks_start_threads():
    from impl.runner.mechanism import probe

    scenarios = ROOT / "impl" / "runner" / "scenarios"
    starting = {f.stem for f in scenarios.glob("[a-z]*.py")
                if "threading.Thread(" in f.read_text()}
    assert starting == probe.STARTS_PRODUCERS


def test_the_plan_counts_the_hypotheses_and_go_cells_and_ranks_the_answers_points():
    study = load(ROOT / "config.yaml")
    cells = expand(study)
    jobs = {j.interpreter: j for j in pipe.plan(study, cells)}
    assert set(jobs) == {it.name for it in study.measured_interpreters()}
    for job in jobs.values():
        assert job.cells, job.interpreter
        for c in job.cells:
            assert c.label not in study.control_labels
            assert c.params.get(placement.PARAM, placement.PRIMARY) == placement.PRIMARY
    primary = jobs[study.primary_interpreter.name]
    ids = {pipe._primary_id(c) for c in primary.cells}
    contenders = [lab for lab in study.label_order if lab not in study.control_labels]
    for w in study.workloads:  # every contender at every answer point
        for label in contenders:
            want = [c for c in cells if c.interpreter is None and c.label == label
                    and matches(c.expected(), label, w.scenario, w.params)
                    and c.params.get(placement.PARAM, placement.PRIMARY) == placement.PRIMARY]
            assert want and all(c.cell_id in ids for c in want), (w.name, label)
    # the hypotheses' own points (H1 at 4 producers) are counted, and the Go findings'
    # (G6: burst latency at 512), other descriptive ones are not
    assert "main/submit_contention/producers=4" in ids
    assert {c.label for c in primary.cells if c.scenario == "burst_latency"} == {
        "main", "alternate_three"}
    assert not any(c.scenario == "wakeup" and "burst" in c.cell_id for c in primary.cells)
    # at an answer point every design is ranked; a verdict's or Go finding's is always counted
    ranked = {primary.cells[i].cell_id for _, group in primary.ranked for i in group}
    always = {primary.cells[i].cell_id for i in primary.always}
    assert {"alternate_one/burst_throughput/burst=4096",
            "main/submit_contention/producers=16"} <= ranked
    assert "main/submit_contention/producers=16" in always  # H1's
    assert "alternate_one/burst_throughput/burst=4096" not in always
    assert set(primary.ranked_inputs) == {primary.cells[i].output
                                          for _, g in primary.ranked for i in g}


def test_the_job_counts_the_two_fastest_designs_of_a_ranked_group_and_every_other_cell():
    plan_doc = {"specs": [{"label": lab} for lab in ("main", "a1", "a2", "a3", "base", "a1")],
                "ranked": [{"metric": "ns_per_op", "cells": [[1, "p1"], [2, "p2"], [3, "p3"],
                                                             [4, "p4"], [5, "p5"]]}]}
    # p5 is a1 again (a free axis): a label counts once, so a3 is the runner-up; p4 has no
    # value (not applicable) and is never chosen
    medians = {"p1": 10.0, "p2": 30.0, "p3": 20.0, "p4": None, "p5": 15.0}
    assert pipe.choose(plan_doc, medians) == [0, 1, 3]
    # a tie on the median: the label decides, as the answer's ranking does
    assert pipe.choose(plan_doc, {**medians, "p2": 10.0}) == [0, 1, 2]
    # a cell a verdict needs is counted however slow
    assert pipe.choose({**plan_doc, "always": [2]}, medians) == [0, 1, 2, 3]


def test_a_cell_spec_resolves_to_the_runners_cell_with_its_interpreter():
    spec = {"design": "main", "label": "main", "impl_params": {}, "scenario": "round_trip",
            "params": {"idle_us": 200, "placement": "same_core", "interpreter": "ft"},
            "gil": "off", "profile": {"name": "full", "processes": 3, "blocks": 2,
                                      "warmups": 1, "target_block_ms": 100}}
    cell = pipe.resolved(spec)
    assert cell.cell_id == "main/round_trip/idle_us=200,interpreter=ft,placement=same_core"
    assert cell.gil is False


@pytest.mark.timeout(600)
def test_instruction_counts_repeat_within_three_percent_across_two_runs(tmp_path):
    """Two processes of the pass, one design at one point: the count per op repeats
    (callgrind counts work, not time), and every part of the result is there."""
    _tools_or_skip()
    spec = {"design": "main", "label": "main", "impl_params": {},
            "scenario": "submit_contention", "params": {"producers": 1},
            "profile": {"name": "full", "processes": 1, "blocks": 1, "warmups": 0,
                        "target_block_ms": 100}}
    job = run.Job(cells=(pipe.resolved(spec),), name="test")
    first = run.run(job, tmp_path / "a")["points"][0]
    second = run.run(job, tmp_path / "b")["points"][0]
    a, b = first["instructions"], second["instructions"]
    assert 500 < a < 100_000, first
    assert abs(a - b) / min(a, b) <= 0.03, (a, b)
    assert first["instructions_spread"] <= 0.03, first["instructions_per_op"]
    assert len(first["instructions_per_op"]) == run.PAIRS
    assert first["instructions_per_block"] > 0, first  # a block's own cost, cancelled
    assert first["top_functions"], first
    assert set(first["syscalls_per_op"]) == set(syscalls.ROLES)
    assert set(first["switches_per_op"]) >= {"loop_voluntary", "submitter_voluntary"}


@pytest.mark.timeout(300)
def test_the_job_writes_its_result_and_a_missing_tool_skips_only_its_part(tmp_path):
    spec = {"design": "baseline", "label": "baseline", "impl_params": {},
            "scenario": "burst_throughput", "params": {"burst": 64},
            "profile": {"name": "full", "processes": 1, "blocks": 1, "warmups": 0,
                        "target_block_ms": 100}}
    plan = json.dumps({"interpreter": "cpython3.11", "specs": [spec]})
    out, log = tmp_path / "m.json", tmp_path / "m.log"
    # a PATH with python only: no valgrind, no perf, no strace
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bare), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "impl.pipeline.mechanism", "--plan", plan,
                           "--out", str(out), "--log", str(log)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert set(result["skipped"]) == {"instructions", "syscalls"}
    assert "valgrind" in result["skipped"]["instructions"]
    assert "instructions skipped: valgrind" in done.stderr
    (point,) = result["points"]
    assert point["cell"] == "baseline/burst_throughput/burst=64"
    assert "instructions" not in point and "switches_per_op" in point
