"""Bad input, lost tasks, crashes and hangs end the cell with the contracted exit code.

2: bad input, one line naming the culprit and the allowed values, nothing
run or written; 1: verification failure or crash, no file; 124: watchdog,
stacks on stderr, no child left behind.
"""

from __future__ import annotations

import os
import uuid

import pytest
from test_runner_helpers import budget_designs, run_cli
from test_runner_helpers import marked_processes as _marked_processes

from impl.designs import registry

FAULTY_ENV = {registry.TEST_DESIGNS_ENV: "1"}


BAD = [
    (["--impl", "nope", "--scenario", "round_trip"], ["'nope'", "baseline", "main"]),
    (["--impl", "baseline", "--scenario", "nope"], ["'nope'", "round_trip", "budget_sweep"]),
    (
        ["--impl", "baseline", "--scenario", "submit_contention", "--param", "producers=33"],
        ["producers", "[1, 32]"],
    ),
    (
        ["--impl", "baseline", "--scenario", "submit_contention", "--param", "threads=2"],
        ["'threads'", "producers"],
    ),
    (["--impl", "baseline", "--scenario", "wakeup", "--param", "mode=idle"], ["idle", "sleeping"]),
    (["--impl", "baseline", "--scenario", "round_trip", "--impl-param", "budget=5"], ["'budget'"]),
    (["--impl", "baseline", "--scenario", "round_trip", "--param", "oops"], ["NAME=VALUE"]),
    (["--impl", "baseline", "--scenario", "round_trip", "--profile", "fast"], ["quick", "full"]),
    # a typo in a profile name is bad input even when every setting is explicit
    (["--impl", "baseline", "--scenario", "round_trip", "--profile", "ful", "--processes", "1",
      "--blocks", "1", "--warmups", "0", "--target-block-ms", "1"], ["'ful'", "quick, full"]),
    (["--impl", "baseline", "--scenario", "round_trip", "--profile-name", "mine"],
     ["'mine'", "--processes", "--target-block-ms"]),
    (["--impl", "baseline", "--scenario", "round_trip", "--seed", "-3"],
     ["--seed", "'-3'", "[0, 4294967294]"]),
    (["--impl", "baseline", "--scenario", "round_trip", "--processes", "0"], ["processes"]),
    (["--impl", "baseline", "--scenario", "round_trip", "--timeout", "-1"], ["--timeout"]),
    (["--impl", "baseline", "--scenario", "budget_sweep"], ["budget_sweep", "baseline"]),
    (["--impl", "test_faulty", "--scenario", "round_trip"], ["'test_faulty'", "baseline"]),
]


@pytest.mark.parametrize(("args", "needles"), BAD, ids=[" ".join(a[1:4]) for a, _ in BAD])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, args, needles):
    out = tmp_path / "cell.parquet"
    done = run_cli([*args, "--out", str(out)], timeout=30)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_budget_sweep_range_lists_values(tmp_path):
    design = budget_designs()[0]
    done = run_cli(
        [
            "--impl",
            design,
            "--scenario",
            "budget_sweep",
            "--param",
            "budget=100",
            "--out",
            str(tmp_path / "c.parquet"),
        ],
        timeout=30,
    )
    assert done.returncode == 2
    assert "64, 128, 256, 512, 1024, 2048, 4096, 0" in done.stderr


def test_unwritable_out_is_bad_input(tmp_path):
    for out in (tmp_path, "/proc/cell.parquet"):
        done = run_cli(["--impl", "baseline", "--scenario", "round_trip", "--out", str(out)])
        assert done.returncode == 2, done.stderr
        assert "--out" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_out_in_a_missing_folder_is_bad_input_and_creates_nothing(tmp_path):
    out = tmp_path / "typo" / "cell.parquet"
    done = run_cli(["--impl", "baseline", "--scenario", "round_trip", "--out", str(out)],
                   timeout=30)
    assert done.returncode == 2, done.stderr
    line, = done.stderr.strip().splitlines()
    assert "--out" in line and "does not exist" in line and str(tmp_path / "typo") in line
    assert list(tmp_path.iterdir()) == []


def test_missing_out_is_bad_input():
    done = run_cli(["--impl", "baseline", "--scenario", "round_trip"], timeout=30)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


def test_help_lists_implementations_scenarios_and_params():
    done = run_cli(["--help"], timeout=30)
    assert done.returncode == 0
    for needle in (
        "baseline",
        "main",
        "asyncio",
        "submit_contention",
        "budget_sweep",
        "mixed",
        "producers: int in [1, 32] (default 1)",
        "pause_us",
        "mode: one of running, sleeping, burst",
        "budget: one of 64, 128, 256, 512, 1024, 2048, 4096, 0",
    ):
        assert needle in done.stdout, needle


def _faulty(tmp_path, mode: str, scenario: str, *extra: str):
    out = tmp_path / "cell.parquet"
    mark = f"ELT_TEST_MARK_{uuid.uuid4().hex}"
    done = run_cli(
        [
            "--impl",
            "test_faulty",
            "--impl-param",
            f"mode={mode}",
            "--scenario",
            scenario,
            *extra,
            "--out",
            str(out),
        ],
        env={**FAULTY_ENV, mark: "1"},
    )
    return done, out, mark


def test_lost_task_fails_the_cell(tmp_path):
    done, out, _ = _faulty(tmp_path, "drop", "submit_contention")
    assert done.returncode == 1, done.stderr
    assert "never ran" in done.stderr.strip().splitlines()[-1]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_crash_fails_the_cell(tmp_path):
    done, out, _ = _faulty(tmp_path, "crash", "round_trip")
    assert done.returncode == 1, done.stderr
    assert "killed by signal SIGABRT" in done.stderr.strip().splitlines()[-1]
    assert not out.exists()


def test_hang_is_killed_with_124_and_stacks(tmp_path):
    done, out, mark = _faulty(tmp_path, "hang", "round_trip", "--timeout", "3")
    assert done.returncode == 124, done.stderr
    # the child's stacks (the producer stuck in submit) and the runner's own
    assert "most recent call first" in done.stderr
    assert "designs/testing.py" in done.stderr and "in submit" in done.stderr
    assert "runner watchdog" in done.stderr
    assert "timeout" in done.stderr.strip().splitlines()[-1]
    assert not out.exists()
    assert _marked_processes(mark) == [], "a measuring child survived the watchdog"


@pytest.mark.parametrize(("scenario", "code"), [("submit_contention", 1), ("round_trip", 0)])
def test_children_see_the_scenario(tmp_path, scenario, code):
    """A fault armed for submit_contention only (via ELT_SCENARIO) fires there and nowhere else."""
    out = tmp_path / "cell.parquet"
    done = run_cli(
        ["--impl", "test_faulty", "--impl-param", "mode=drop", "--impl-param",
         "scenarios=submit_contention", "--scenario", scenario, "--processes", "1",
         "--blocks", "1", "--out", str(out)],
        env=FAULTY_ENV,
    )  # fmt: skip
    assert done.returncode == code, done.stderr
    assert out.exists() == (code == 0)


def test_sigterm_kills_children_and_writes_nothing(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "cell.parquet"
    mark = f"ELT_TEST_MARK_{uuid.uuid4().hex}"
    env = {**os.environ, **FAULTY_ENV, mark: "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "impl.runner",
            "--impl",
            "test_faulty",
            "--impl-param",
            "mode=hang",
            "--scenario",
            "round_trip",
            "--timeout",
            "60",
            "--out",
            str(out),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while len(_marked_processes(mark)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # wait until the runner has started its child
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert not out.exists()
    deadline = time.monotonic() + 10
    while _marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked_processes(mark) == []


def test_children_die_with_a_killed_runner(tmp_path):
    """SIGKILL on the runner (no chance to clean up) still leaves no measuring child behind."""
    import signal
    import subprocess
    import sys
    import time

    mark = f"ELT_TEST_MARK_{uuid.uuid4().hex}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "impl.runner", "--impl", "test_faulty", "--impl-param",
         "mode=hang", "--scenario", "round_trip", "--timeout", "60",
         "--out", str(tmp_path / "cell.parquet")],
        env={**os.environ, **FAULTY_ENV, mark: "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(_marked_processes(mark)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_marked_processes(mark)) >= 2, "the runner never started its child"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked_processes(mark) == []
    assert not (tmp_path / "cell.parquet").exists()


def test_repeated_param_and_wrong_out_suffix_are_bad_input(tmp_path):
    """Each refused with exit 2 and one line naming the flag, before anything runs."""
    base = ["--impl", "baseline", "--scenario", "round_trip"]
    cases = [
        (["--param", "idle_us=1", "--param", "idle_us=2", "--out", str(tmp_path / "c.parquet")],
         "given twice"),
        (["--impl-param", "x=1", "--impl-param", "x=2", "--out", str(tmp_path / "c.parquet")],
         "given twice"),
        (["--out", str(tmp_path / "c.csv")], ".parquet"),
        (["--round", "0", "--out", str(tmp_path / "r0.parquet")], ".json"),
    ]
    for extra, needle in cases:
        done = run_cli([*base, *extra], timeout=30)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], done.stderr
    assert not list(tmp_path.iterdir())


def test_non_finite_cli_numbers_are_bad_input(tmp_path):
    """NaN and infinities pass every range comparison; each flag refuses them in one line."""
    out = str(tmp_path / "c.parquet")
    cases = [
        ["--impl", "alternate_two", "--scenario", "round_trip",
         "--impl-param", "poll_timeout_ms=nan"],
        ["--impl", "baseline", "--scenario", "round_trip", "--param", "idle_us=inf"],
        ["--impl", "baseline", "--scenario", "round_trip", "--timeout", "inf"],
        ["--impl", "baseline", "--scenario", "round_trip", "--max-foreign-cpu", "nan"],
        ["--impl", "baseline", "--scenario", "round_trip", "--target-block-ms=-inf"],
    ]
    for args in cases:
        done = run_cli([*args, "--out", out], timeout=30)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not list(tmp_path.iterdir())
