"""Reliability against the environments users run in: each test reproduces a failure met
with a real dependency or a tool built the same way, and passes with the fix."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from impl.runner import machine_lock

ROOT = Path(__file__).resolve().parents[1]


# --- 1. one machine lock whatever the environment -------------------------------------------

def test_the_lock_path_does_not_follow_tmpdir(tmp_path, monkeypatch):
    """Two studies started from shells with different TMPDIR (a scheduler's per-job TMPDIR,
    a tmux from another session) must take the same lock."""
    monkeypatch.delenv(machine_lock.LOCK_ENV, raising=False)
    paths = set()
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        code = "from impl.runner import machine_lock as m; print(m.lock_path())"
        env = {k: v for k, v in os.environ.items() if k != machine_lock.LOCK_ENV}
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, timeout=60, env={**env, "TMPDIR": str(tmp_path / sub)})
        paths.add(out.stdout.strip())
    assert len(paths) == 1 and not next(iter(paths)).startswith(str(tmp_path))
    # the explicit override is kept
    monkeypatch.setenv(machine_lock.LOCK_ENV, str(tmp_path / "mine.lock"))
    assert machine_lock.lock_path() == tmp_path / "mine.lock"


def test_the_default_folder_is_a_property_of_the_machine(tmp_path, monkeypatch):
    """The first world-writable sticky folder: every user picks the same one (a folder only
    root may write, like /run/lock on some systems, is skipped by all)."""
    monkeypatch.delenv(machine_lock.LOCK_ENV, raising=False)
    private, shared = tmp_path / "private", tmp_path / "shared"
    private.mkdir(mode=0o755)
    shared.mkdir()
    shared.chmod(0o1777)
    got = machine_lock.lock_path((str(tmp_path / "missing"), str(private), str(shared)))
    assert got == shared / machine_lock.LOCK_NAME


def test_an_existing_lock_file_is_opened_without_o_creat(tmp_path, monkeypatch):
    """fs.protected_regular refuses O_CREAT on another user's file in a sticky /tmp, even
    when its mode allows reading: an existing lock is opened read-only, never created."""
    path = tmp_path / "m.lock"
    path.write_text("")
    path.chmod(0o444)  # as another user's file looks to us: readable, not writable
    monkeypatch.setenv(machine_lock.LOCK_ENV, str(path))
    flags = []
    real_open = os.open

    def spy(p, f, *a, **k):
        if str(p) == str(path):
            flags.append(f)
        return real_open(p, f, *a, **k)

    monkeypatch.setattr(machine_lock.os, "open", spy)
    fd, _ = machine_lock.acquire(1.0)
    os.close(fd)
    assert flags and not any(f & os.O_CREAT for f in flags)
    assert all(f & os.O_ACCMODE == os.O_RDONLY for f in flags)


def test_a_new_lock_file_is_readable_by_every_user(tmp_path, monkeypatch):
    monkeypatch.setenv(machine_lock.LOCK_ENV, str(tmp_path / "new.lock"))
    old = os.umask(0o077)
    try:
        fd, _ = machine_lock.acquire(1.0)
    finally:
        os.umask(old)
    os.close(fd)
    assert (tmp_path / "new.lock").stat().st_mode & 0o777 == 0o644


@pytest.mark.slow
def test_the_lock_path_is_recorded_in_the_cell_metadata(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from impl.runner import write_cell
    from impl.runner.request import CellRequest
    from impl.runner.schema import read_metadata

    monkeypatch.setenv(machine_lock.LOCK_ENV, str(tmp_path / "rec.lock"))
    out = write_cell(CellRequest(impl="baseline", scenario="round_trip", processes=1,
                                 blocks=1, warmups=0, target_block_ms=5), tmp_path / "c.parquet")
    meta = read_metadata(pq.read_schema(out))
    assert meta["machine_lock"] == str(tmp_path / "rec.lock")


# --- 6. a cluster group job asks for its real length ----------------------------------------

def test_a_cluster_round_asks_for_its_real_length():
    """The SLURM group job of a round asks for the sum of its batches' runtimes: every
    cell's timeout made that 530 minutes for about 6 minutes of work, and a partition
    capped below that refused every round. Now: a few times the expected length."""
    from impl.pipeline import cells as cellmod
    from impl.study import load

    batches = cellmod.plan_batches(cellmod.expand(load()))
    # every point has the profile's rounds; a scenario_rounds scenario (the round trip) has
    # more, whose last ones form small groups of its own batches
    everywhere = min(max(c.rounds for c in b.cells) for b in batches)
    for r in {b.round for b in batches}:
        mine = [b for b in batches if b.round == r]
        asked_min = sum(b.runtime_min for b in mine)
        expected_min = sum(b.expected_s for b in mine) / 60
        # the default study measures a round in about 7-8 minutes, its three interpreters
        # included (expected: 8-11)
        assert (4 if r < everywhere else 0) < expected_min <= 14, (r, expected_min)
        assert 2 * expected_min <= asked_min <= 75, (r, asked_min, expected_min)


# --- 2. process identity by pid and start time, not by a name -------------------------------

def _sleeper() -> subprocess.Popen:
    """A process that lives 60 s unless killed."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            start_new_session=True)


def test_a_cell_stops_when_its_snakemake_dies_whatever_the_command_lines(tmp_path, monkeypatch):
    """The Snakefile exports its pid and start time; the wrapper watches that process. By
    name it watched a shell (bash before 5.1 stays between Snakemake and the job) whose
    command line named a conda env called snakemake, and the cell went on measuring after
    ``kill -9`` of Snakemake."""
    from impl.pipeline import cell_wrapper as cw
    from impl.pipeline import identity

    snakemake = _sleeper()
    try:
        time.sleep(0.2)
        monkeypatch.setenv(identity.WATCH_ENV, identity.encode(identity.of(snakemake.pid)))
        # the cell: a shell whose command line contains "snakemake", measuring for 60 s
        cell = ["bash", "-c", "sleep 60 # /opt/conda/envs/snakemake/bin/python -m snakemake"]
        killer = threading.Timer(1.0, lambda: os.kill(snakemake.pid, signal.SIGKILL))
        killer.start()
        t0 = time.monotonic()
        rec = cw.run_wrapped(cell, cell_id="l/s/default", log_path=tmp_path / "c.log",
                             out_path=None, timeout_s=50)
        took = time.monotonic() - t0
    finally:
        snakemake.kill()
        snakemake.wait()
    assert rec["status"] == "crashed" and "death of its parent" in rec["reason"], rec
    assert took < 40, took  # stopped by the death, not by the cell's own end at 60 s


def test_a_stale_lock_is_not_kept_alive_by_a_tail_of_the_log(tmp_path):
    """``tail -f .snakemake/log/...`` in the checkout is not a Snakemake: the lock of a
    killed Snakemake is removed, and the rerun does not stop with 'Directory cannot be
    locked'. A recorded owner that still runs keeps it."""
    from impl.pipeline import identity
    from impl.pipeline.preflight import LOCK_DIR, remove_stale_lock

    locks = tmp_path / LOCK_DIR
    locks.mkdir(parents=True)
    (tmp_path / ".snakemake" / "log").mkdir()
    log = tmp_path / ".snakemake" / "log" / "run.snakemake.log"
    log.write_text("")
    (locks / "0.input.lock").write_text("x")
    tail = subprocess.Popen(["tail", "-f", str(log.relative_to(tmp_path))], cwd=tmp_path)
    owner = _sleeper()
    try:
        time.sleep(0.2)
        # the owner file names a live process: the lock is live
        pid, start = identity.of(owner.pid)
        (tmp_path / identity.OWNER_FILE).write_text(f"{socket.gethostname()} {pid} {start}\n")
        assert remove_stale_lock(tmp_path) == []
        # the owner is gone (killed -9): only the tail remains, and it does not count
        owner.kill()
        owner.wait()
        assert remove_stale_lock(tmp_path) == [locks / "0.input.lock"]
    finally:
        tail.kill()
        tail.wait()
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_snakemake_is_told_by_its_program_not_a_word():
    from impl.pipeline.identity import is_snakemake

    assert is_snakemake(["/v/bin/python", "/v/bin/snakemake", "--cores", "10"])
    assert is_snakemake(["python3", "-X", "importtime", "-m", "snakemake", "-n"])
    assert is_snakemake(["snakemake", "-n"])
    assert not is_snakemake(["tail", "-f", ".snakemake/log/x.log"])
    assert not is_snakemake(["/envs/snakemake/bin/python", "-m", "impl.pipeline.batch"])
    assert not is_snakemake(["bash", "-c", "/envs/snakemake/bin/python -m snakemake"])


# --- 3. waiting on a child with a descriptor numbered 1024 or higher -------------------------

def test_waiting_for_a_child_with_many_files_open():
    """select() refuses a descriptor >= 1024 ('filedescriptor out of range'): a caller with
    many open files (the runner used as a library) broke the watchdog's and the wrapper's
    wait."""
    import resource

    from impl.runner import watchdog

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1100
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    fds = []
    try:
        while not fds or fds[-1] < 1030:
            fds.append(os.open(os.devnull, os.O_RDONLY))
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        assert watchdog.wait_exit(proc, 60) == 0
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --- 4. no signal to a process group that may have been recycled ----------------------------

def test_the_final_kill_never_targets_a_reaped_group(tmp_path, monkeypatch):
    """After the cell's child was reaped its pid, the group's id, may belong to a stranger
    (seen in a small pid namespace): the wrapper signals the group only while the leader
    is unreaped, and reaps it after."""
    from impl.pipeline import cell_wrapper as cw

    calls = []
    real = os.killpg

    def spy(pgid: int, sig: int) -> None:
        # the leader still exists (running or an unreaped zombie): the id is still ours
        calls.append((pgid, sig, Path(f"/proc/{pgid}").exists()))
        real(pgid, sig)

    monkeypatch.setattr(cw.os, "killpg", spy)
    rec = cw.run_wrapped([sys.executable, "-c", "pass"], cell_id="l/s/default",
                         log_path=tmp_path / "c.log", out_path=None, timeout_s=30)
    assert rec["status"] == "crashed"  # exit 0 but no output file: still a finished child
    assert calls and all(exists for _, _, exists in calls), calls
    assert not Path(f"/proc/{calls[-1][0]}").exists()  # reaped after the last signal


# --- adding a design reruns only its cells ---------------------------------------------------

def test_registering_a_design_changes_no_other_designs_code_hash(tmp_path, monkeypatch):
    """README "Add your own design", step 3 promises that only the new cells are measured:
    the registry file was hashed with every design, so registering one reran the study."""
    from impl import contract
    from impl.designs import registry
    from impl.pipeline import hashes

    def hash_of(design: str) -> str:
        spec = registry.get(design)
        return hashes.code_hash(spec.modules, "round_trip", spec.fingerprint())

    before = {d: hash_of(d) for d in ("main", "baseline")}
    # the registry file grows by one entry: no other design's hash may move
    grown = tmp_path / "registry.py"
    grown.write_text(contract.module_file("impl.designs.registry").read_text()
                     + "\n# ImplSpec(name='mine', ...)\n")
    real = contract.module_file
    monkeypatch.setattr(contract, "module_file",
                        lambda m: grown if m == "impl.designs.registry" else real(m))
    assert {d: hash_of(d) for d in before} == before
    # a design's own entry still counts: a changed default reruns its cells
    import dataclasses

    spec = registry.get("main")
    budget = dataclasses.replace(spec.params["budget"], default=2048)
    other = dataclasses.replace(spec, params={**spec.params, "budget": budget})
    assert hashes.code_hash(spec.modules, "round_trip", other.fingerprint()) != before["main"]


def test_a_snakemake_already_gone_stops_the_cell_at_once(monkeypatch):
    """Killed before the batch started: watching the parent instead (a leftover shell, or
    init) would measure every cell of the batch."""
    from impl.pipeline import identity

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = identity.of(gone.pid)
    gone.wait()
    monkeypatch.setenv(identity.WATCH_ENV, identity.encode(ident))
    assert identity.watched() == ident and not identity.alive(ident)
    monkeypatch.delenv(identity.WATCH_ENV)
    assert identity.watched() == identity.of(os.getppid())
