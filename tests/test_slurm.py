"""workflow/profiles/slurm on a real SLURM: scripts/slurm-local.sh.

A tiny study goes through ``snakemake --profile workflow/profiles/slurm``: its
measuring jobs go through sbatch (squeue lists them under the run's job name), one
SLURM job per round (the measure rule's group), every sample records the host, the
summary is written; a job cancelled with scancel fails its round, and a plain rerun
measures it. Skipped (with the command to start one) where no SLURM answers.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import yaml
from test_pipeline_run import smk, statuses
from test_pipeline_run import work as work  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def _slurm_up() -> bool:
    if not shutil.which("sbatch") or not shutil.which("squeue"):
        return False
    done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                          timeout=30)
    return done.returncode == 0 and any(s in done.stdout for s in ("idle", "mixed"))


requires_slurm = pytest.mark.skipif(
    not _slurm_up(), reason="no SLURM answers here; start one: sudo bash scripts/slurm-local.sh")

#: the executor's options for a one-node test cluster: no account to guess, quick polls
SLURM_ARGS = ("--profile", "workflow/profiles/slurm", "--slurm-no-account",
              "--slurm-init-seconds-before-status-checks", "2", "--slurm-status-command",
              "squeue", "--latency-wait", "5")


def _jobs() -> list[dict[str, str]]:
    """Every job squeue still knows (MinJobAge keeps finished ones): id, name, state,
    comment (the plugin's rule and wildcards)."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%j|%T|%k"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return [dict(zip(("id", "name", "state", "comment"), line.split("|", 3), strict=True))
            for line in out.splitlines() if line.strip()]


def _tiny(work, rounds: int) -> None:  # noqa: F811 - work is the fixture's value
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    for label in ("hang", "crash"):
        del cfg["implementations"][label]
    cfg["hypotheses"] = [h for h in cfg["hypotheses"] if h["id"] == "HR"]
    cfg["hypotheses"][0]["b"] = "ok_aa"
    cfg["profiles"]["quick"].update(processes=rounds, rounds=rounds)
    cfg["scenarios"]["round_trip"]["grid"] = {"idle_us": [0, 200]}  # two batches per round
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


@requires_slurm
@pytest.mark.timeout(600)
def test_slurm_profile_one_job_per_round_host_recorded_summary_written(work):  # noqa: F811
    _tiny(work, rounds=2)
    before = {j["id"] for j in _jobs()}
    res = smk(work, *SLURM_ARGS, timeout=560)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (work / "report" / "quick" / "SUMMARY.md").exists()
    mine = [j for j in _jobs() if j["id"] not in before]
    # every batch of a round (one per parameter point) in one group job per round
    assert len(mine) == 2, mine
    assert all(j["state"] == "COMPLETED" for j in mine), mine
    import pyarrow.parquet as pq

    table = pq.read_table(work / "results" / "quick" / "all.parquet", columns=["host"])
    assert set(table.column("host").to_pylist()) == {socket.gethostname()}


@requires_slurm
@pytest.mark.timeout(900)
def test_a_cancelled_job_is_redone_by_a_plain_rerun(work):  # noqa: F811
    _tiny(work, rounds=2)
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    # a cell that hangs while the trigger file exists: its round's job is still running
    # when we cancel it (the tiny cells alone end in seconds)
    cfg["implementations"]["slow"] = {"design": "test_faulty", "params": {
        "mode": "hang", "trigger_file": str(work / "trigger"), "scenarios": "round_trip"}}
    cfg["scenarios"]["round_trip"]["timeout_s"] = 120
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    before = {j["id"] for j in _jobs()}
    env = {**os.environ, "ELT_ENABLE_TEST_DESIGNS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(work / "Snakefile"),
         "--directory", str(work), "--max-jobs-per-timespan", "100/1s", *SLURM_ARGS],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        running = None
        deadline = time.monotonic() + 300
        while running is None and time.monotonic() < deadline:
            running = next((j for j in _jobs() if j["id"] not in before
                            and j["state"] == "RUNNING"), None)
            time.sleep(1)
        assert running, "no SLURM job started"
        time.sleep(3)  # inside the hanging cell
        subprocess.run(["scancel", running["id"]], check=True, timeout=30)
        out, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out[-2000:]
    states = {j["id"]: j["state"] for j in _jobs()}
    assert states[running["id"]] == "CANCELLED", states
    (work / "trigger").unlink()  # the cause fixed: the plain rerun redoes what was cancelled
    res = smk(work, *SLURM_ARGS, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (work / "report" / "quick" / "SUMMARY.md").exists()
    assert {r["status"] for r in statuses(work).values()} == {"ok"}
