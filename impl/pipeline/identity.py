"""Which process is which: a pid with its start time, never a name found in a command line.

Two questions need the answer: "is the Snakemake that runs this cell still alive?"
(the cell wrapper stops measuring when it is not) and "does a Snakemake still run in
this checkout?" (a stale lock after ``kill -9`` is removed when none does). Deciding
them by the substring ``snakemake`` in a command line went wrong twice: with bash
before 5.1 (RHEL 8, Ubuntu 20.04) a shell stays between Snakemake and the job, and its
command line names the interpreter of a conda env called ``snakemake`` (so the shell,
which outlives a ``kill -9`` of Snakemake, was watched instead); and a
``tail -f .snakemake/log/...`` in the checkout passed for a live Snakemake.

So: every process that parses the Snakefile exports its own identity (``pid:start``,
the start time in clock ticks since boot from ``/proc/PID/stat``) in ``WATCH_ENV``,
which its jobs inherit; the main process also writes it, with the host, into
``OWNER_FILE`` once it holds Snakemake's lock. A pid is the same process only while
its start time is the same (pids are recycled). Standard library only.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path

#: ``pid:start`` of the Snakemake process that parsed the Snakefile (inherited by its jobs)
WATCH_ENV = "ELT_SNAKEMAKE"
#: ``host pid start`` of the Snakemake that holds this checkout's lock (written at onstart)
OWNER_FILE = Path(".snakemake") / "eventloop-tournament.owner"

Identity = tuple[int, int]


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...]; None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None when there is no such process."""
    fields = _stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def parent_of(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def of(pid: int) -> Identity:
    """The identity of a running process (start -1 when /proc cannot tell)."""
    start = start_time(pid)
    return pid, -1 if start is None else start


def encode(ident: Identity) -> str:
    return f"{ident[0]}:{ident[1]}"


def decode(value: str | None) -> Identity | None:
    """``pid:start`` -> (pid, start); None for anything else."""
    try:
        pid, start = (int(x) for x in (value or "").split(":"))
    except ValueError:
        return None
    return (pid, start) if pid > 0 else None


def alive(ident: Identity) -> bool:
    """The process still runs and is the same one (not a zombie, not a recycled pid)."""
    pid, start = ident
    fields = _stat(pid)
    if fields is None:
        return not Path("/proc/self/stat").exists()  # no /proc: cannot tell, assume alive
    if fields[0] in ("Z", "X"):  # killed, not yet reaped
        return False
    return start < 0 or int(fields[19]) == start


def export_self() -> None:
    """Put this process's identity in ``WATCH_ENV`` for the jobs it starts (the Snakefile
    calls it while it is parsed, in the main process and in a cluster job's Snakemake)."""
    os.environ[WATCH_ENV] = encode(of(os.getpid()))


def watched() -> Identity:
    """The process a cell stops with: the Snakemake named in ``WATCH_ENV`` (a job's
    Snakemake), even when it is already gone (then the cell stops at once: falling back to
    the parent would watch a leftover shell, or init, that never dies); without the
    variable (the runner started by hand), this process's parent."""
    ident = decode(os.environ.get(WATCH_ENV))
    return ident if ident is not None else of(os.getppid())


def write_owner(workdir: str | Path = ".") -> Path:
    """Record this process as the Snakemake holding ``workdir``'s lock (``OWNER_FILE``)."""
    from impl.contract import write_atomic

    pid, start = of(os.getpid())
    return write_atomic(Path(workdir) / OWNER_FILE, f"{socket.gethostname()} {pid} {start}\n")


def owner_alive(workdir: str | Path = ".") -> bool:
    """The Snakemake recorded in ``OWNER_FILE`` runs on this host (same pid, same start)."""
    try:
        host, pid, start = (Path(workdir) / OWNER_FILE).read_text().split()
        ident = (int(pid), int(start))
    except (OSError, ValueError):
        return False
    return host == socket.gethostname() and alive(ident)


def is_snakemake(argv: list[str]) -> bool:
    """The command line runs Snakemake itself: ``snakemake ...``, ``python -m snakemake``
    or ``python /path/bin/snakemake``; not a program whose arguments or interpreter path
    merely contain the word (``tail -f .snakemake/log/x``, ``/envs/snakemake/bin/python
    -m impl.pipeline.batch``)."""
    if not argv:
        return False
    prog = os.path.basename(argv[0])
    if prog == "snakemake":
        return True
    if not prog.startswith("python"):
        return False
    args = iter(argv[1:])
    for arg in args:
        if arg == "-m":
            return next(args, "") == "snakemake"
        if arg == "-c":
            return False
        if arg in ("-X", "-W", "-Q"):  # options that take a value
            next(args, None)
        elif not arg.startswith("-"):
            return os.path.basename(arg) == "snakemake"
    return False


def snakemake_processes_in(workdir: Path, skip: Iterable[int] = ()) -> list[int]:
    """Live Snakemake processes on this host whose working directory is ``workdir``."""
    skip = set(skip)
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid in skip:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if not is_snakemake([a for a in argv if a]):
                continue
            if Path(os.readlink(entry / "cwd")) != workdir:
                continue
        except OSError:
            continue
        found.append(pid)
    return found


def ancestors(pid: int) -> list[int]:
    """``pid`` and its parents up to init."""
    out = []
    while pid and pid > 1:
        out.append(pid)
        pid = parent_of(pid) or 0
    return out
