"""Run one cell under a timeout, in its own process group, and leave a status record.

Snakemake runs local jobs with no time limit of its own, so a hung design
would stall the whole study. The runner has a watchdog (``--timeout``) that
dumps stacks and exits 124; this wrapper is the backstop for when the
watchdog itself cannot fire: after ``timeout + grace`` it sends SIGTERM to
the cell's process group, then SIGKILL. It forwards SIGINT/SIGTERM/SIGHUP to
the group so Ctrl-C stops the measuring processes too, and it writes the
child's output plus one ``STATUS {json}`` line (contracts section 5) into the
cell's round log (``Cell.round_log``), which stays after a failure and which
the onerror hook reads (``impl.pipeline.failures``).

The command it runs is built by ``impl.pipeline.command``; the batch job
(``impl.pipeline.batch``) is the caller. Only the standard library and the
project's light modules (``impl.contract``, ``impl.runner.watchdog``; no
pyarrow, no pandas) are imported.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from impl.contract import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMEOUT,
)
from impl.pipeline import identity

STATUS_PREFIX = "STATUS "
#: how often the wrapper checks on its child and on Snakemake
POLL_S = 0.2
#: how long the group gets to exit after a forwarded signal or SIGTERM before SIGKILL
KILL_GRACE_S = 5.0
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def default_grace(timeout_s: float) -> float:
    """Backstop margin after the runner's own watchdog: 10 s + 10 % of the timeout."""
    return 10.0 + 0.1 * timeout_s


def _tail_reason(log_path: Path, limit: int = 300) -> str:
    """The last meaningful line the child wrote (its error), for the status record."""
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        line = line.strip()
        if line and not line.startswith(STATUS_PREFIX) and not line.startswith("File "):
            return line[:limit]
    return ""


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def classify(rc: int, out_exists: bool, wrapper_timeout: bool, interrupted: str | None,
             log_path: Path, timeout_s: float) -> tuple[str, str]:
    """(status, reason) from how the child ended."""
    if interrupted:
        return "crashed", f"interrupted by {interrupted}"
    if wrapper_timeout:
        return "timeout", (
            f"no exit after {timeout_s:g} s + grace; process group killed by the pipeline wrapper"
        )
    if rc == EXIT_OK and out_exists:
        return "ok", ""
    if rc == EXIT_OK:
        return "crashed", "runner exited 0 but wrote no output file"
    tail = _tail_reason(log_path)
    if rc == EXIT_TIMEOUT:
        return "timeout", f"runner watchdog fired after {timeout_s:g} s" + (
            f": {tail}" if tail else ""
        )
    if rc == EXIT_BAD_INPUT:
        return "bad_input", tail or f"runner refused its input (exit {EXIT_BAD_INPUT})"
    if rc < 0:
        last = f"; last output: {tail}" if tail else ""
        return "crashed", f"killed by {_signal_name(rc)}{last}"
    return "crashed", f"exit {rc}" + (f": {tail}" if tail else "")


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), including children in their own sessions.

    The runner starts its measuring processes in new sessions, so killing the
    runner's group alone would not reach them.
    """
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            ppid = int(text.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _killpg(pgid: int, sig: int) -> None:
    """Signal the cell's process group and every descendant that left it."""
    for pid in _descendants(pgid):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _Forked:
    """A forked child running ``main(argv)``, with the part of Popen's interface used here."""

    def __init__(self, main: Callable[[list[str]], int], argv: list[str], log: Any,
                 env: Mapping[str, str]) -> None:
        self.args = argv
        self.returncode: int | None = None
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 1
            try:
                os.setsid()  # its own process group, as start_new_session=True
                for sig in _FORWARDED:
                    signal.signal(sig, signal.SIG_DFL)
                os.dup2(log.fileno(), 1)
                os.dup2(log.fileno(), 2)
                # whatever sys.stdout/stderr were in the parent (a test's capture, say),
                # the child writes to the cell's log
                sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
                os.environ.clear()
                os.environ.update(env)
                if env.get("PYTHONFAULTHANDLER"):  # read at interpreter start: too late here
                    import faulthandler

                    faulthandler.enable()
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - reported in the cell's log
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.pid = pid

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() >= end:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.002)
        return self.returncode  # type: ignore[return-value]


def _reap(proc: Any) -> None:
    """Reap the cell's child (after its group was signalled), whatever became of it."""
    try:
        proc.wait(timeout=KILL_GRACE_S)
    except (subprocess.TimeoutExpired, ChildProcessError):  # pragma: no cover - unkillable
        pass


def run_wrapped(
    cmd: Sequence[str],
    *,
    cell_id: str,
    log_path: str | Path,
    out_path: str | Path | None,
    timeout_s: float,
    grace_s: float | None = None,
    env: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    fork_main: Callable[[list[str]], int] | None = None,
) -> dict[str, Any]:
    """Run ``cmd`` in a new process group; return (and append to the log) the status record.

    ``fork_main``: run ``fork_main(cmd[3:])`` in a forked child instead of
    executing ``cmd`` (``python -m MODULE ARGS``): the batch job imports the
    runner once and forks it per cell, instead of paying an interpreter
    start and the runner's imports (~0.15 s) for every cell and round. The
    measuring processes the runner starts are still fresh interpreters.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    grace_s = default_grace(timeout_s) if grace_s is None else grace_s
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("PYTHONFAULTHANDLER", "1")  # a crash dumps every thread's stack
    from impl.runner.watchdog import PARENT_PID_ENV, wait_exit  # light, like this module

    child_env[PARENT_PID_ENV] = str(os.getpid())  # the runner dies with this wrapper
    watched = identity.watched()  # Snakemake; if it dies, so does the cell
    started = time.time()
    t0 = time.monotonic()
    state: dict[str, Any] = {"interrupted": None, "kill_at": None}

    with open(log_path, "w", encoding="utf-8") as log:
        log.write(f"# cell {cell_id}: {' '.join(cmd)}\n")
        log.flush()
        if fork_main is not None:
            proc: Any = _Forked(fork_main, list(cmd)[3:], log, child_env)
        else:
            proc = subprocess.Popen(
                list(cmd), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env=child_env,
            )
        pgid = proc.pid

        def forward(signum: int, _frame: object) -> None:
            state["interrupted"] = signal.Signals(signum).name
            _killpg(pgid, signum)
            if state["kill_at"] is None:
                state["kill_at"] = time.monotonic() + KILL_GRACE_S

        previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
        wrapper_timeout = False
        deadline = t0 + timeout_s + grace_s
        try:
            while True:
                now = time.monotonic()
                limit = deadline if state["kill_at"] is None else min(deadline, state["kill_at"])
                try:
                    # not reaped yet: while the leader is an unreaped zombie its pid, the
                    # group's id, cannot be recycled, so the final SIGKILL below cannot
                    # reach a stranger's process
                    rc = wait_exit(proc, max(0.05, min(POLL_S, limit - now)), reap=False)
                    break
                except subprocess.TimeoutExpired:
                    pass
                now = time.monotonic()
                if state["interrupted"] is None and not identity.alive(watched):
                    # Snakemake was killed (even -9): nothing may keep measuring beside the
                    # rerun, so the cell stops as if interrupted
                    state["interrupted"] = "the death of its parent (Snakemake)"
                    _killpg(pgid, signal.SIGTERM)
                    state["kill_at"] = now + KILL_GRACE_S
                if state["kill_at"] is not None and now >= state["kill_at"]:
                    _killpg(pgid, signal.SIGKILL)
                elif now >= deadline and not wrapper_timeout:
                    wrapper_timeout = True
                    log.write(f"\n# wrapper: timeout after {now - t0:.1f} s, SIGTERM to group\n")
                    log.flush()
                    _killpg(pgid, signal.SIGTERM)
                    state["kill_at"] = now + KILL_GRACE_S
        finally:
            _killpg(pgid, signal.SIGKILL)  # leave no stray grandchildren behind
            _reap(proc)  # only now: the group's id stayed ours until here
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    out_exists = out_path is not None and Path(out_path).is_file()
    status, reason = classify(
        rc, out_exists, wrapper_timeout, state["interrupted"], log_path, timeout_s
    )
    if status != "ok" and out_path is not None and out_exists:
        Path(out_path).unlink()  # a failed cell leaves no output, so a rerun plans it
    record = {
        "cell_id": cell_id,
        "status": status,
        "returncode": rc,
        "seconds": round(time.monotonic() - t0, 3),
        "reason": reason,
        "started": started,
        "finished": time.time(),
        "host": socket.gethostname(),
        **(extra or {}),
    }
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("\n" + STATUS_PREFIX + json.dumps(record, sort_keys=True) + "\n")
    return record


def read_status(log_path: str | Path) -> dict[str, Any] | None:
    """The status record of a cell log (the last ``STATUS`` line), or None."""
    try:
        lines = Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith(STATUS_PREFIX):
            try:
                return json.loads(line[len(STATUS_PREFIX):])
            except json.JSONDecodeError:
                return None
    return None


def exit_code(record: Mapping[str, Any]) -> int:
    """The exit code a status record stands for (impl.contract ``EXIT_*``)."""
    if record["status"] == "ok":
        return EXIT_OK
    if record["status"] == "timeout":
        return EXIT_TIMEOUT
    if record["status"] == "bad_input":
        return EXIT_BAD_INPUT
    if str(record.get("reason", "")).startswith("interrupted"):
        return EXIT_INTERRUPTED
    return EXIT_FAILED

