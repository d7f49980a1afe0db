"""Declared thread placement: pinned cells run where they say.

The measuring cells run through the runner (fresh processes), never in this
process: pinning pytest's own thread would pin the rest of the suite.
Assertions are about where threads ran and what was recorded, never speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from impl.runner import machine, placement

ROOT = Path(__file__).resolve().parents[1]
CPUS = placement.allowed_cpus()
two_cpus = pytest.mark.skipif(len(CPUS) < 2, reason="needs an affinity mask of 2 CPUs")


def _run(tmp_path: Path, level: str, *, cpus: set[int] | None = None,
         scenario: str = "round_trip") -> subprocess.CompletedProcess:
    out = tmp_path / f"{level}.parquet"
    cmd = [sys.executable, "-m", "impl.runner", "--impl", "baseline", "--scenario", scenario,
           "--param", f"placement={level}", "--processes", "2", "--blocks", "1",
           "--warmups", "0", "--target-block-ms", "20", "--profile", "quick",
           "--out", str(out)]
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)


def _env(tmp_path: Path, level: str) -> pd.DataFrame:
    df = pd.read_parquet(tmp_path / f"{level}.parquet")
    return df[df["metric"].str.startswith("env.") & ~df["warmup"]]


@two_cpus
@pytest.mark.parametrize("level", ["same_core", "cross_core"])
def test_a_pinned_cell_runs_its_threads_where_declared(tmp_path, level):
    done = _run(tmp_path, level)
    assert done.returncode == 0, done.stderr[-2000:]
    env = _env(tmp_path, level)
    sub = env[env["metric"] == "env.submitter_cpu"]["value"]
    loop = env[env["metric"] == "env.loop_cpu"]["value"]
    assert len(sub) == len(loop) == 2  # one per measured block, both processes
    want_loop = CPUS[0] if level == "same_core" else CPUS[1]
    assert set(sub) == {CPUS[0]} and set(loop) == {want_loop}
    # where the time went, per op and per thread role; the round the blocks belong to
    for metric in ("env.own_cpu_ns", "env.loop_cpu_ns", "env.submitter_cpu_ns"):
        values = env[env["metric"] == metric]["value"]
        assert len(values) == 2 and (values >= 0).all(), metric
    assert (env[env["metric"] == "env.loop_cpu_ns"]["value"] > 0).all()
    assert set(env[env["metric"] == "env.migrations"]["value"]) == {0.0}  # pinned: no moves


def test_a_one_cpu_mask_skips_cross_core_with_one_line(tmp_path):
    done = _run(tmp_path, "cross_core", cpus={CPUS[0]})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "placement=cross_core needs 2 CPUs" in lines[0]
    assert "same_core" in lines[0] and "free" in lines[0]  # what is allowed there
    assert not (tmp_path / "cross_core.parquet").exists()


def test_plan_names_each_roles_cpus():
    assert placement.plan("same_core", [3, 1]) == placement.Plan(
        "same_core", frozenset({1}), frozenset({1}))
    assert placement.plan("cross_core", [0, 1, 2]) == placement.Plan(
        "cross_core", frozenset({0}), frozenset({1}))
    free = placement.plan("free", [0])
    assert not free.pinned and free.cpus is None
    with pytest.raises(placement.PlacementError, match="allowed: same_core, cross_core, free"):
        placement.plan("sideways", [0, 1])
    with pytest.raises(placement.PlacementError, match="needs 2 CPUs"):
        placement.plan("cross_core", [0])


def test_thread_sample_reads_this_threads_scheduler_counters():
    if not Path(f"/proc/self/task/{threading.get_native_id()}/stat").exists():
        pytest.skip("needs /proc/self/task")
    before = placement.sample(threading.get_native_id())
    end = time.monotonic() + 0.05
    while time.monotonic() < end:
        pass
    after = placement.sample(threading.get_native_id())
    assert after.cpu in CPUS
    if before.run_ns is not None:
        assert after.run_ns - before.run_ns >= 20_000_000  # it was on a CPU, spinning


def _spin_on(cpu: int) -> subprocess.Popen:
    code = (f"import os,time\nos.sched_setaffinity(0,{{{cpu}}})\nt=time.time()+5\n"
            "while time.time()<t: pass\n")
    return subprocess.Popen([sys.executable, "-c", code])


@two_cpus
def test_foreign_load_is_gated_per_pinned_cpu():
    """Others' work on CPU a counts against a cell pinned to a, not against one pinned to b."""
    a, b = CPUS[0], CPUS[1]
    spinner = _spin_on(a)
    try:
        time.sleep(0.3)
        before = machine.snapshot()
        time.sleep(0.5)
        after = machine.snapshot()
    finally:
        spinner.kill()
        spinner.wait(timeout=10)
    on_a = machine.conditions(before, after, frozenset({a}))["env.foreign_cpu"]
    on_b = machine.conditions(before, after, frozenset({b}))["env.foreign_cpu"]
    whole = machine.conditions(before, after)["env.foreign_cpu"]
    assert on_a > 0.7, (on_a, on_b, whole)
    assert on_a > whole > on_b
