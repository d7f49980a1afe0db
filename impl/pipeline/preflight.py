"""Checks before any job: writable output folders, and a stale lock left by a killed Snakemake.

Both run in the Snakefile's main process (``workflow/rules/common.smk``).
Standard library only.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

#: where Snakemake keeps its working-directory lock (``snakemake --unlock`` removes it)
LOCK_DIR = Path(".snakemake") / "locks"


class PreflightError(RuntimeError):
    """One line naming the path and what to do."""


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not os.path.lexists(path) and path != path.parent:  # a dangling symlink is in the way
        path = path.parent
    return path


def _can_write_in(folder: Path) -> bool:
    """A real probe (os.access says yes to root on a read-only mount or an immutable folder)."""
    if not folder.is_dir():
        return False
    try:
        fd, probe = tempfile.mkstemp(prefix=".preflight-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def check_writable(folders: Iterable[str | Path]) -> None:
    """Raise PreflightError naming the first folder that cannot be written (or created)."""
    for folder in folders:
        target = _nearest_existing(Path(folder))
        if not _can_write_in(target):
            raise PreflightError(
                f"{folder}: cannot write there ({target} is not a writable folder); "
                "allowed: a writable results/, logs/ and report/ in the working directory"
            )


def _snakemake_processes_in(workdir: Path, own: Iterable[int]) -> list[int]:
    """Other live Snakemake processes on this host whose working directory is ``workdir``."""
    skip = set(own)
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid in skip:
            continue
        try:
            if b"snakemake" not in (entry / "cmdline").read_bytes():
                continue
            if Path(os.readlink(entry / "cwd")) != workdir:
                continue
        except OSError:
            continue
        found.append(pid)
    return found


def _ancestors(pid: int) -> list[int]:
    """``pid`` and its parents (a ``time snakemake ...`` shell names Snakemake too)."""
    from impl.pipeline.cell_wrapper import parent_of  # standard library and impl.contract

    out = []
    while pid and pid > 1:
        out.append(pid)
        pid = parent_of(pid) or 0
    return out


def remove_stale_lock(workdir: str | Path = ".") -> list[Path]:
    """Remove Snakemake's lock files when no Snakemake runs in ``workdir`` on this host.

    After ``kill -9`` of Snakemake its lock stays and the next run stops on
    it. A lock is stale when no other process on this machine runs
    Snakemake in this folder (the pipeline's cells die with Snakemake, see
    impl.pipeline.cell_wrapper). A Snakemake on another host sharing the
    folder (NFS) cannot be seen: do not run two hosts in one checkout.
    Returns the removed files (none if the lock is live or absent).
    """
    workdir = Path(workdir).resolve()
    locks = sorted((workdir / LOCK_DIR).glob("*.lock"))
    if not locks or not Path("/proc/self").exists():
        return []
    if _snakemake_processes_in(workdir, own=_ancestors(os.getpid())):
        return []
    removed = []
    for lock in locks:
        try:
            lock.unlink()
            removed.append(lock)
        except FileNotFoundError:
            pass
    return removed
