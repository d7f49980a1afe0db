"""The real Snakefile on tiny configs in a temporary folder (slow: runs the runner).

One implementation hangs in one cell and another crashes in another; the
rest must finish, the partial summary must name both, a plain rerun must
plan exactly those two cells (plus aggregation and summary) and a third run
nothing. Also: a bad config stops before any job; timing cells never
overlap even with --cores 8; edits invalidate only the affected cells; the
cluster-generic profile runs the same workflow through a local submit script.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_runner_helpers import marked_processes

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


#: the round-trip cell id suffix of the tiny config (its placement is the primary level)
RT0 = "round_trip/idle_us=0,placement=same_core"

def _config(trigger: Path) -> dict:
    faulty = {"trigger_file": str(trigger)}
    return {
        "profile": "quick",
        # the mechanism pass has its own tests (tests/test_mechanism.py): not the plumbing's
        "mechanism": False,
        # max_foreign_cpu 1: these tests check the plumbing, not how quiet the machine is
        "profiles": {"quick": {"processes": 1, "blocks": 2, "warmups": 0,
                               "target_block_ms": 2, "max_foreign_cpu": 1.0, "thinned": True}},
        "implementations": {
            "ok": {"design": "baseline"},
            "ok_aa": {"design": "baseline", "control_of": "ok", "scenarios": ["round_trip"]},
            "hang": {"design": "test_faulty",
                     "params": {**faulty, "mode": "hang", "scenarios": "round_trip"}},
            "crash": {"design": "test_faulty",
                      "params": {**faulty, "mode": "crash", "scenarios": "burst_throughput"}},
        },
        "scenarios": {
            "round_trip": {"timeout_s": 8},
            "burst_throughput": {"grid": {"burst": [64]}, "timeout_s": 60},
        },
        "hypotheses": [
            {"id": "HR", "title": "round trip", "scenario": "round_trip", "metric": "latency_ns",
             "a": "ok", "b": "hang", "expect": "less"},
            {"id": "HC", "title": "burst", "scenario": "burst_throughput",
             "metric": "ns_per_op", "a": "ok", "b": "crash", "expect": "less"},
        ],
        "aa_control": {"a": "ok", "b": "ok_aa", "scenario": "round_trip", "metric": "ns_per_op"},
        "alpha": 0.05,
    }


@pytest.fixture
def work(tmp_path):
    """A copy of the workflow (Snakefile, workflow/, profiles, impl/) with a tiny config.

    The private impl/ lets a test edit a design's or a scenario's source
    without touching the shared tree: Snakemake puts the Snakefile's folder
    first on sys.path and the runner runs from it, so both import the copy.
    """
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copy(ROOT / "Snakefile", tmp_path / "Snakefile")
    shutil.copytree(ROOT / "workflow", tmp_path / "workflow", ignore=ignore)
    shutil.copytree(ROOT / "impl", tmp_path / "impl", ignore=ignore)
    (tmp_path / "profiles").symlink_to("workflow/profiles")
    trigger = tmp_path / "trigger"
    trigger.write_text("misbehave while this exists\n")
    cfg = _config(trigger)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return tmp_path


#: Snakemake waits one re-evaluation window at exit (its timer thread): pin it at 1 s here
#: whatever the default profile says
FAST_EXIT = ("--max-jobs-per-timespan", "100/1s")


def smk(work: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "ELT_ENABLE_TEST_DESIGNS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(work / "Snakefile"),
         "--directory", str(work), *FAST_EXIT, *args],
        cwd=work, env=env, capture_output=True, text=True, timeout=timeout,
    )


def planned(result: subprocess.CompletedProcess) -> tuple[dict[str, int], set[str]]:
    """(job counts per rule, batch outputs) from a dry run's output."""
    text = result.stdout + result.stderr
    counts: dict[str, int] = {}
    if "Job stats:" in text:
        table = text.split("Job stats:", 1)[1]
        for line in table.splitlines()[3:]:
            m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if not m:
                break
            counts[m.group(1)] = int(m.group(2))
    batches = set(re.findall(r"output: (results/quick/batches/\S+\.json)", text))
    return counts, batches


def statuses(work: Path) -> dict[str, dict]:
    out = {}
    for log in (work / "logs" / "quick" / "rounds").rglob("*.log"):
        for line in log.read_text().splitlines():
            if line.startswith("STATUS "):
                rec = json.loads(line[7:])
                out[rec["cell_id"]] = rec
    return out


@pytest.mark.timeout(360)
def test_failures_partial_summary_and_rerun_only_failed(work):
    first = smk(work, "--cores", "8")
    assert first.returncode != 0, first.stderr[-3000:]
    st = statuses(work)
    assert st[f"hang/{RT0}"]["status"] == "timeout", st
    assert st["crash/burst_throughput/burst=64"]["status"] == "crashed", st
    ok = {cid for cid, r in st.items() if r["status"] == "ok"}
    assert ok == {
        f"ok/{RT0}",
        f"ok_aa/{RT0}",
        "ok/burst_throughput/burst=64",
        "hang/burst_throughput/burst=64",
        f"crash/{RT0}",
    }
    # measurement hygiene: with --cores 8, no two cells ever measured at the same time
    spans = sorted((r["started"], r["finished"]) for r in st.values())
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, "two timing cells overlapped"
    # the partial summary names both failures; the full summary does not exist
    partial = (work / "report" / "quick" / "SUMMARY.partial.md").read_text()
    assert f"hang/{RT0}" in partial and "crash/burst_throughput/burst=64" in partial
    for hid in ("HR", "HC"):  # each hypothesis that depends on a failed cell
        assert re.search(rf"\b{hid}\b.*NEEDS RETEST", partial), hid
    assert not (work / "report" / "quick" / "SUMMARY.md").exists()
    assert not (work / "results" / "quick" / "all.parquet").exists()

    # "fix" the designs; a plain rerun plans the two batches that hold the failed cells ...
    (work / "trigger").unlink()
    dry = smk(work, "-n")
    counts, batches = planned(dry)
    expected = {"measure": 2, "aggregate": 1, "summary": 1, "all": 1, "total": 5}
    assert counts == expected, dry.stdout
    assert batches == {f"results/quick/batches/{RT0.replace(',', '+')}/r0.json",
                       "results/quick/batches/burst_throughput/burst=64/r0.json"}
    second = smk(work, "--cores", "10")
    assert second.returncode == 0, second.stderr[-3000:]
    assert (work / "report" / "quick" / "SUMMARY.md").exists()
    assert not (work / "report" / "quick" / "SUMMARY.partial.md").exists()
    # ... and measures exactly the two failed cells again; the others' records are reused
    assert remeasured(st, statuses(work)) == {
        f"hang/{RT0}", "crash/burst_throughput/burst=64"}

    third = smk(work, "-n")
    assert third.returncode == 0 and "Nothing to be done" in third.stdout + third.stderr
    # after each batch one progress line: cell rounds measured of the total
    assert re.search(r"eventloop-tournament: \d+ of \d+ cell rounds measured", second.stderr)
    # the run ended with its digest (at most 10 lines), not file lists
    digest = second.stderr[second.stderr.index("eventloop-tournament: done."):].splitlines()
    assert digest[0].startswith("eventloop-tournament: done. Summary: report/quick/SUMMARY.md")
    assert any("HR" in line for line in digest[:10])
    # Snakemake's own report: one self-contained page with the summary and its plots
    plots = sorted(p.name for p in (work / "report" / "quick" / "plots").glob("*.png"))
    assert plots
    page = smk(work, "--report", "report/report.html")
    assert page.returncode == 0, page.stderr[-3000:]
    html = (work / "report" / "report.html").read_text()
    assert "SUMMARY.md" in html and plots[0] in html and "eventloop-tournament" in html

    # a timeout change reruns nothing
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    cfg["scenarios"]["round_trip"]["timeout_s"] = 99
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert "Nothing to be done" in smk(work, "-n").stdout
    # a hypothesis change re-renders the summary only
    cfg["hypotheses"][0]["threshold"] = 0.2
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    counts, _ = planned(smk(work, "-n"))
    assert counts == {"summary": 1, "all": 1, "total": 2}, counts

    # editing one design's source remeasures only its cells; one scenario's module, only
    # that scenario's cells (the batches holding them rerun, the other cells are reused)
    with open(work / "impl/designs/testing.py", "a") as fh:
        fh.write("\n# edited by the test\n")
    with open(work / "impl/runner/scenarios/burst_throughput.py", "a") as fh:
        fh.write("\n# edited by the test\n")
    before = statuses(work)
    assert smk(work, "--cores", "10").returncode == 0
    assert remeasured(before, statuses(work)) == {
        f"hang/{RT0}", f"crash/{RT0}",
        "ok/burst_throughput/burst=64", "hang/burst_throughput/burst=64",
        "crash/burst_throughput/burst=64"}


def remeasured(before: dict[str, dict], after: dict[str, dict]) -> set[str]:
    """Cells whose status record is new (measured again) between two runs."""
    return {cid for cid, rec in after.items()
            if cid not in before or rec["started"] != before[cid]["started"]}


@pytest.mark.timeout(600)
def test_rerun_redoes_what_failed_or_went_missing_after_a_complete_study(work):
    """Snakemake alone never rebuilds a missing intermediate once the summary exists."""
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    del cfg["implementations"]["hang"]
    cfg["hypotheses"][0]["b"] = "ok_aa"
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    trigger = work / "trigger"
    trigger.unlink()  # every design healthy: a complete study
    assert smk(work, "--cores", "2").returncode == 0
    summary = work / "report" / "quick" / "SUMMARY.md"
    record = work / f"results/quick/rounds/ok/{RT0}/r0.json"

    def rerun() -> tuple[set[str], subprocess.CompletedProcess]:
        before, mtime = statuses(work), summary.stat().st_mtime_ns
        res = smk(work, "--cores", "2")
        assert res.returncode == 0, res.stderr[-3000:]
        assert summary.stat().st_mtime_ns > mtime, "the summary was not rebuilt"
        return remeasured(before, statuses(work)), res

    # a cell that fails in a later run (forced, while its design misbehaves)
    trigger.write_text("misbehave\n")
    batch = "results/quick/batches/burst_throughput/burst=64/r0.json"
    assert smk(work, "--cores", "2", "--forcerun", batch).returncode != 0
    trigger.unlink()
    assert rerun()[0] == {"crash/burst_throughput/burst=64"}
    # a cell's record deleted by hand, then one damaged: the plain rerun measures it again
    record.unlink()
    assert rerun()[0] == {f"ok/{RT0}"}
    record.write_text("{not json")
    measured, res = rerun()
    assert measured == {f"ok/{RT0}"}
    assert f"ok/{RT0}/r0.json is not a readable round record" in res.stderr
    # a cell file deleted by hand, then all.parquet damaged: rebuilt, nothing remeasured
    (work / f"results/quick/cells/ok/{RT0}.parquet").unlink()
    assert rerun()[0] == set()
    (work / "results/quick/all.parquet").write_bytes(b"PAR1 damaged")
    assert rerun()[0] == set()
    done = smk(work, "-n")
    assert "Nothing to be done" in done.stdout + done.stderr
    # a summary without its data (a committed report in a fresh checkout): the study runs
    shutil.rmtree(work / "results")
    summary.touch()
    counts, _ = planned(smk(work, "-n"))
    assert counts.get("measure") == 2 and counts.get("summary") == 1, counts


BAD = {
    "unknown design": (lambda c: c["implementations"]["ok"].update(design="baseln"),
                       "implementations.ok.design"),
    "unknown param": (lambda c: c["implementations"]["hang"]["params"].update(mdoe="hang"),
                      "mdoe"),
    "bad value": (lambda c: c["scenarios"]["burst_throughput"]["grid"].update(burst=[3]),
                  "burst"),
    "typo'd key": (lambda c: c["scenarios"]["round_trip"].update(timeout=5), "'timeout'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_fails_before_any_job(work, case):
    mutate, needle = BAD[case]
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    mutate(cfg)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = smk(work, "--cores", "2", timeout=60)
    assert res.returncode != 0
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("ERROR")]
    assert len(errors) == 1 and needle in errors[0], res.stderr
    assert re.search(r"allowed|one of|in \[", errors[0]), "the line must say what is allowed"
    assert not (work / "logs").exists() and not (work / "results").exists()


FILE_MISTAKES = {
    "duplicate key": (lambda t: t + "\nalpha: 0.1\n", "duplicate key 'alpha'"),
    "syntax error": (lambda t: t + "\nextra: {round_trip: [\n", "YAML syntax error"),
    "not finite": (lambda t: t.replace("alpha: 0.05", "alpha: .nan"), "a finite number"),
    "empty": (lambda t: "", "is empty"),
}


@pytest.mark.parametrize("case", sorted(FILE_MISTAKES))
def test_config_file_mistakes_stop_before_any_job(work, case):
    edit, needle = FILE_MISTAKES[case]
    path = work / "config.yaml"
    assert "alpha: 0.05" in path.read_text()
    path.write_text(edit(path.read_text()))
    res = smk(work, "--cores", "2")
    assert res.returncode != 0
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("ERROR")]
    assert len(errors) == 1 and needle in errors[0], res.stderr
    assert not (work / "logs").exists() and not (work / "results").exists()


def test_unwritable_results_stop_before_any_job(work):
    (work / "results").write_text("a file where the folder should be\n")
    res = smk(work, "--cores", "2")
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("ERROR")]
    assert res.returncode != 0 and len(errors) == 1 and "results" in errors[0], res.stderr
    assert not (work / "logs").exists()


@pytest.mark.timeout(300)
def test_cluster_generic_profile_runs_each_round_in_one_submission(work):
    """A round's batches run together, on one host (the cells compared in a round share
    the node's conditions)."""
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    for label in ("hang", "crash"):
        del cfg["implementations"][label]
    cfg["hypotheses"] = [h for h in cfg["hypotheses"] if h["id"] == "HR"]
    cfg["hypotheses"][0]["b"] = "ok_aa"
    cfg["profiles"]["quick"].update(processes=2, rounds=2)
    cfg["scenarios"]["round_trip"]["grid"] = {"idle_us": [0, 200]}  # two batches per round
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = smk(work, "--profile", "workflow/profiles/cluster-generic", timeout=280)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (work / "report" / "quick" / "SUMMARY.md").exists()
    st = statuses(work)
    assert {r["status"] for r in st.values()} == {"ok"} and len(st) == 5
    # 6 batches (3 points x 2 rounds) in 2 submissions: one group job per round
    submissions = (work / "logs" / "cluster-submissions.log").read_text().splitlines()
    assert len(submissions) == 2, submissions
    import pyarrow.parquet as pq

    from impl import contract

    metas = contract.cells_metadata(
        pq.read_schema(work / "results" / "quick" / "all.parquet").metadata)
    hosts: dict[int, set[str]] = {}
    for meta in metas.values():
        for proc in meta["processes_measured"]:
            hosts.setdefault(proc["round"], set()).add(proc["host"])
    # every process records its host; the cells of one round share it
    assert set(hosts) == {0, 1} and all(len(h) == 1 and "" not in h for h in hosts.values())


def _two_label_config(work: Path, *, processes: int = 1, rounds: int = 1) -> dict:
    """Only the well-behaved labels, round_trip only: the plumbing tests below."""
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    for label in ("hang", "crash"):
        del cfg["implementations"][label]
    del cfg["scenarios"]["burst_throughput"]
    cfg["hypotheses"] = [{**cfg["hypotheses"][0], "b": "ok_aa"}]
    cfg["profiles"]["quick"].update(processes=processes, rounds=rounds)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg


def _measured_spans(work: Path, profile: str = "quick") -> list[tuple[float, float, str, int]]:
    """(start, end, cell id, round) of every measuring process, from all.parquet's metadata."""
    import pyarrow.parquet as pq

    from impl import contract

    metas = contract.cells_metadata(
        pq.read_schema(work / "results" / profile / "all.parquet").metadata)
    return sorted((p["start"], p["end"], cid, p["round"])
                  for cid, m in metas.items() for p in m["processes_measured"])


def _assert_no_overlap(spans) -> None:
    for (_, end, *_), (start, *_) in zip(spans, spans[1:], strict=False):
        assert start >= end, f"two measuring processes overlapped: {spans}"


@pytest.mark.timeout(300)
def test_rounds_interleave_compared_cells(work):
    """Every cell's round 0 runs before any cell's round 1: replicates spread over the run."""
    _two_label_config(work, processes=4, rounds=2)
    res = smk(work, "--cores", "4")
    assert res.returncode == 0, res.stderr[-3000:]
    spans = _measured_spans(work)
    cells = {cid for _, _, cid, _ in spans}
    assert cells == {f"ok/{RT0}", f"ok_aa/{RT0}"}
    last_round0 = max(start for start, _, _, r in spans if r == 0)
    first_round1 = min(start for start, _, _, r in spans if r == 1)
    assert last_round0 < first_round1, spans
    per_cell = {cid: sorted(r for _, _, c, r in spans if c == cid) for cid in cells}
    assert all(v == [0, 0, 1, 1] for v in per_cell.values()), per_cell
    _assert_no_overlap(spans)


@pytest.mark.timeout(300)
def test_resources_on_the_command_line_cannot_make_cells_overlap(work):
    """--resources replaces the profile's bench_slot limit; the machine lock still holds."""
    _two_label_config(work, processes=2, rounds=1)
    res = smk(work, "--cores", "4", "--resources", "mem_mb=1000")
    assert res.returncode == 0, res.stderr[-3000:]
    _assert_no_overlap(_measured_spans(work))


@pytest.mark.timeout(400)
def test_two_runs_in_two_copies_take_turns(work, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(work / name, other / name)
    for name in ("workflow", "impl"):
        shutil.copytree(work / name, other / name, ignore=shutil.ignore_patterns("__pycache__"))
    (other / "profiles").symlink_to("workflow/profiles")
    for w in (work, other):
        _two_label_config(w, processes=2, rounds=2)
    env = {**os.environ, "ELT_ENABLE_TEST_DESIGNS": "1"}
    procs = [subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(w / "Snakefile"),
         "--directory", str(w), *FAST_EXIT, "--cores", "2"],
        cwd=w, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for w in (work, other)]
    for p in procs:
        _, err = p.communicate(timeout=360)
        assert p.returncode == 0, err[-3000:]
    _assert_no_overlap(sorted(_measured_spans(work) + _measured_spans(other)))


@pytest.mark.timeout(320)
def test_nothing_keeps_measuring_after_snakemake_is_killed(work):
    import signal
    import time
    import uuid

    cfg = yaml.safe_load((work / "config.yaml").read_text())
    cfg["scenarios"]["round_trip"]["timeout_s"] = 60  # the hang would last a minute
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    mark = f"ELT_TEST_MARK_{uuid.uuid4().hex}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(work / "Snakefile"),
         "--directory", str(work), "--cores", "2", "--keep-going"],
        cwd=work, env={**os.environ, "ELT_ENABLE_TEST_DESIGNS": "1", mark: "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        # wait for a measuring child: a runner's worker process
        while time.monotonic() < deadline:
            workers = [p for p in marked_processes(mark)
                       if b"--worker" in Path(f"/proc/{p}/cmdline").read_bytes()]
            if workers:
                break
            time.sleep(0.05)
        assert workers, "no measuring process started"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marked_processes(mark) == [], "a cell kept running after Snakemake was killed"
    # the killed run's lock is stale: a plain rerun removes it, says so, and finishes the study
    assert list((work / ".snakemake" / "locks").glob("*.lock")), "expected a leftover lock"
    (work / "trigger").unlink()
    res = smk(work, "--cores", "2", timeout=200)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "removed the lock of a Snakemake that no longer runs here" in res.stderr


@pytest.mark.timeout(300)
def test_profiles_keep_their_own_results(work):
    """Switching profiles back and forth remeasures nothing."""
    cfg = _two_label_config(work)
    cfg["profiles"]["other"] = dict(cfg["profiles"]["quick"])
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert smk(work, "--cores", "2").returncode == 0
    assert smk(work, "--cores", "2", "--config", "profile=other").returncode == 0
    assert (work / "report" / "quick" / "SUMMARY.md").exists()
    assert (work / "report" / "other" / "SUMMARY.md").exists()
    back = smk(work, "-n")
    assert "Nothing to be done" in back.stdout + back.stderr


@pytest.mark.timeout(300)
def test_a_cluster_job_killed_by_the_scheduler_fails_the_run(work):
    """qdel, a walltime or a memory limit kills a job without letting it write its exit
    markers: without a status command Snakemake waited for it for ever. With
    status.sh the job is reported failed and the run ends."""
    import signal
    import time

    cfg = yaml.safe_load((work / "config.yaml").read_text())
    del cfg["implementations"]["crash"]
    cfg["hypotheses"] = [h for h in cfg["hypotheses"] if h["id"] == "HR"]
    cfg["scenarios"] = {"round_trip": {"timeout_s": 20}}  # "hang" keeps the job busy
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {**os.environ, "ELT_ENABLE_TEST_DESIGNS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(work / "Snakefile"),
         "--directory", str(work), *FAST_EXIT, "--profile", "workflow/profiles/cluster-generic"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        pids = []
        while not pids and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            pids = sorted((work / "logs" / "cluster-jobs").glob("*.pid"))
        assert pids, "no job was submitted"
        time.sleep(2)  # the job is measuring (the "hang" cell runs until its 20 s timeout)
        pid = int(pids[0].read_text().split()[0])
        os.killpg(pid, signal.SIGKILL)  # what the scheduler does to a job it ends
        out, _ = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
        _kill_processes_in(work)  # a killed job's cells (own sessions) hold the machine lock
    assert proc.returncode != 0, out[-3000:]
    assert "Error in group round0" in out or "failed" in out.lower(), out[-3000:]


def _kill_processes_in(folder: Path) -> None:
    """SIGKILL every process whose working directory is ``folder`` (a killed cluster job's
    orphans: the runner and its measuring children run in sessions of their own)."""
    import signal

    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(entry / "cwd")) == folder and int(entry.name) != os.getpid():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue

