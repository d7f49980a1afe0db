"""Checks before any job: writable output folders, and a stale lock left by a killed Snakemake.

Both run in the Snakefile's main process (``workflow/rules/common.smk``).
Processes are told apart by pid and start time (impl.pipeline.identity). Standard
library only.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from impl.pipeline import identity

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


def remove_stale_lock(workdir: str | Path = ".") -> list[Path]:
    """Remove Snakemake's lock files when no Snakemake runs in ``workdir`` on this host.

    After ``kill -9`` of Snakemake its lock stays and the next run stops on
    it. A lock is stale when the Snakemake that took it (``identity.OWNER_FILE``) is
    gone and no other process on this machine runs Snakemake in this folder (by its
    command line's program, not a word in it; the pipeline's cells die with Snakemake,
    see impl.pipeline.cell_wrapper). A Snakemake on another host sharing the
    folder (NFS) cannot be seen: do not run two hosts in one checkout.
    Returns the removed files (none if the lock is live or absent).
    """
    workdir = Path(workdir).resolve()
    locks = sorted((workdir / LOCK_DIR).glob("*.lock"))
    if not locks or not Path("/proc/self").exists():
        return []
    # live: the Snakemake that took the lock (its pid and start time, OWNER_FILE) still
    # runs, or another Snakemake runs here (one that has not reached its onstart yet);
    # this process and its parents (``time snakemake ...``) are not "another"
    if identity.owner_alive(workdir) or identity.snakemake_processes_in(
            workdir, skip=identity.ancestors(os.getpid())):
        return []
    removed = []
    for lock in locks:
        try:
            lock.unlink()
            removed.append(lock)
        except FileNotFoundError:
            pass
    return removed
