"""Reliability against the environments users run in: each test reproduces a failure met
with a real dependency or a tool built the same way, and passes with the fix."""

from __future__ import annotations

import os
import subprocess
import sys
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
    for r in {b.round for b in batches}:
        mine = [b for b in batches if b.round == r]
        asked_min = sum(b.runtime_min for b in mine)
        expected_min = sum(b.expected_s for b in mine) / 60
        # the default study measures a round in about 6-7 minutes (expected: 5-8)
        assert 4 <= expected_min <= 10, expected_min
        assert 2 * expected_min <= asked_min <= 60, (r, asked_min, expected_min)
