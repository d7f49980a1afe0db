"""The parent side: fresh measuring processes, one after the other.

``run_processes`` starts ``cell.processes`` measuring children
(``python -m impl.runner --worker ...``, ``impl.runner.worker``) one after
the other, never concurrently, each in its own process group and under the
cell's deadline (``impl.runner.watchdog``), and reads the samples each hands
back through a JSON file (methodology.md, "Sampling"; the split of pyperf's
``_manager`` and ``_worker``). A process that could not measure its blocks
undisturbed is replaced by a fresh one, at most ``processes`` times; before
the replacement starts, the parent waits (bounded: ``BUSY_WAIT_S``, and never
into the cell's deadline) until the machine is quiet again, with a progress
line on stderr saying why, so a short burst of someone else's work (a
compile, a package install) costs a wait instead of the cell.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from impl.contract import EXIT_OK
from impl.designs.testing import SCENARIO_ENV
from impl.runner import interpreter, machine, placement, watchdog
from impl.runner.request import ResolvedCell
from impl.runner.worker import NOT_APPLICABLE, ROUND_ENV


class CellFailedError(RuntimeError):
    """A measuring process failed verification or crashed; the message is one line."""


class NotApplicableError(RuntimeError):
    """The cell's design cannot run under its interpreter (the reason, one line): nothing is
    measured and nothing failed (uvloop under a free-threaded python)."""


#: the most one round of a cell (a standalone cell: the whole cell) waits, in all, for a quiet
#: machine after disturbed processes: a compile or a package install on a laptop or a CI
#: runner passes within a minute or two; a machine busy for longer is better measured again
#: later (the cell then goes on as before, and fails "machine busy" if nothing was undisturbed)
BUSY_WAIT_S = 120.0
#: quiet enough to measure again: others' CPU share at most this fraction of max_foreign_cpu
#: (the worker's own pre-block wait uses the same half: one window at the limit is no sign
#: that the burst is over) ...
BUSY_QUIET_FRACTION = 0.5
#: ... over one window this long: longer than the worker's 0.1 s windows, so a lull between
#: two compiler invocations does not pass for the end of the burst; short, so a quiet machine
#: costs about a second
BUSY_WINDOW_S = 1.0
#: a waiting cell repeats its progress line this often (the first line comes at once): a
#: terminal or a cell log that stays silent for two minutes looks hung
BUSY_REPORT_EVERY_S = 10.0
#: a wait leaves the cell's deadline room for each process it still has to measure (as long
#: as its slowest process so far took) plus this margin: waiting must not become a timeout
BUSY_DEADLINE_MARGIN_S = 5.0


def _say(text: str) -> None:
    sys.stderr.write(f"runner: {text}\n")
    sys.stderr.flush()


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


def wait_for_quiet(
    threshold: float,
    limit_s: float,
    why: str,
    *,
    window_s: float = BUSY_WINDOW_S,
    report_every_s: float = BUSY_REPORT_EVERY_S,
    cpus: frozenset[int] | None = None,
) -> tuple[float, bool]:
    """Wait until one window of ``window_s`` has others' CPU share <= ``threshold``.

    Bounded by ``limit_s``; writes a progress line to stderr at once (``why``,
    e.g. "machine busy: others used 64 % of the CPU during process 3 (limit
    30 %)", then what it waits for), every ``report_every_s`` while it waits,
    and one when it stops. Others' share is the machine's busy time minus this
    process's own CPU time (``machine.conditions``; ``cpus``: a pinned cell's
    CPUs). Returns (seconds waited, whether the machine became quiet); without
    /proc/stat, or with no time to wait, it returns at once.
    """
    before = machine.snapshot()
    if before.busy is None:
        return 0.0, True
    if limit_s <= 0:
        _say(f"{why}; measuring again at once (no time left to wait for a quiet machine)")
        return 0.0, False
    _say(f"{why}; waiting for a quiet machine (others at most {_pct(threshold)} for "
         f"{window_s:g} s) before measuring again (0 s of at most {limit_s:.0f} s)")
    next_report = report_every_s

    def still_busy(share: float, waited: float) -> None:
        nonlocal next_report
        if waited >= next_report:
            next_report += report_every_s
            _say(f"machine busy: others used {_pct(share)} of the CPU in the last "
                 f"{window_s:g} s; still waiting for a quiet machine before measuring again "
                 f"({waited:.0f} s of at most {limit_s:.0f} s)")

    # the windows themselves are the worker's (machine.wait_quiet_windows): one mechanism
    waited, quiet, share = machine.wait_quiet_windows(threshold, limit_s, window_s, before,
                                                      cpus, on_busy=still_busy)
    if quiet:
        _say(f"machine quiet after {waited:.0f} s (others used {_pct(share or 0.0)} of the "
             f"CPU in the last {window_s:g} s); measuring again")
    else:
        _say(f"machine still busy after {waited:.0f} s, the longest this cell may wait; "
             f"measuring again anyway")
    return waited, quiet


def _wait_after_disturbed(
    cell: ResolvedCell,
    deadline: watchdog.Deadline,
    results: list[dict[str, Any]],
    waited_s: float,
    slowest_s: float,
) -> float:
    """The wait before replacing the disturbed ``results[-1]``: seconds waited."""
    last = results[-1]
    shares = [d["foreign_cpu"] for d in last.get("discarded", [])]
    used = f"{_pct(max(shares))}" if shares else f"more than {_pct(cell.max_foreign_cpu)}"
    why = (f"machine busy: others used {used} of the CPU during process {last['process']} "
           f"(limit {_pct(cell.max_foreign_cpu)})")
    still = cell.processes - sum(not r["disturbed"] for r in results)
    limit = min(BUSY_WAIT_S - waited_s,
                deadline.remaining() - still * slowest_s - BUSY_DEADLINE_MARGIN_S)
    cpus = placement.plan(cell.params.get(placement.PARAM, placement.FREE)).cpus
    return wait_for_quiet(cell.max_foreign_cpu * BUSY_QUIET_FRACTION, limit, why, cpus=cpus)[0]


def _child_env(cell: ResolvedCell, index: int) -> dict[str, str]:
    # the declared GIL state and ``impl`` on the path (another interpreter lacks the install)
    env = interpreter.child_env(dict(os.environ), cell.gil)
    env[SCENARIO_ENV] = cell.scenario
    env[watchdog.PARENT_PID_ENV] = str(os.getpid())
    env["PYTHONHASHSEED"] = str((cell.seed + index) % (2**32 - 1))
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return env


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def run_processes(
    cell: ResolvedCell,
    workdir: Path,
    deadline: watchdog.Deadline,
    first_index: int = 0,
    loops: int = 0,
    round_index: int | None = None,
) -> list[dict[str, Any]]:
    """Run ``cell.processes`` fresh processes one after the other; return their results.

    Processes are numbered from ``first_index`` (their PYTHONHASHSEED is seed +
    number); the first calibrates unless ``loops`` is given, the others reuse
    its size. ``round_index``: the pipeline round, handed to the children (``ROUND_ENV``).
    Before replacing a disturbed process it waits for a quiet machine (``wait_for_quiet``,
    at most ``BUSY_WAIT_S`` in all); each result records that wait as ``busy_wait_s``.

    Raises CellFailedError (verification failure or crash, one-line reason)
    or watchdog.CellTimeoutError (stacks already dumped, children killed).
    """
    request_path = workdir / "request.json"
    request_path.write_text(cell.to_json())
    results: list[dict[str, Any]] = []
    index = first_index - 1
    busy_waited = slowest = 0.0  # the waits for a quiet machine so far; the longest process
    # a disturbed process is replaced by a fresh one, at most `processes` times
    while sum(not r["disturbed"] for r in results) < cell.processes:
        index += 1
        if index >= first_index + 2 * cell.processes:
            break
        busy_wait = 0.0
        if results and results[-1]["disturbed"]:
            # a burst of foreign work (a compile, an install) would disturb the replacement
            # too: let it pass first (bounded), rather than fail the cell "machine busy"
            busy_wait = _wait_after_disturbed(cell, deadline, results, busy_waited, slowest)
            busy_waited += busy_wait
        loops = results[0]["loops"] if results else loops
        out_path = workdir / f"process-{index}.json"
        remaining = deadline.remaining()
        if remaining <= 0:
            watchdog.dump_own_stacks(f"timeout of {deadline.seconds:g} s expired")
            raise watchdog.CellTimeoutError(f"timeout after {deadline.seconds:g} s")
        cmd = [
            cell.python or sys.executable,
            "-m",
            "impl.runner",
            "--worker",
            str(request_path),
            str(out_path),
            str(index),
            f"{remaining:.3f}",
            str(loops),
        ]
        env = _child_env(cell, index)
        if round_index is not None:
            env[ROUND_ENV] = str(round_index)
        env[machine.SPAWN_ENV] = machine.spawn_env()  # the child's start-up counts as quiet time
        spawned, spawned_at = time.monotonic(), time.time()
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr.fileno() if _has_fileno(sys.stderr) else subprocess.DEVNULL,
            start_new_session=True,
        )
        watchdog.track(proc)
        try:
            try:
                code = watchdog.wait_exit(proc, max(remaining, 0.01))
            except subprocess.TimeoutExpired:
                watchdog.dump_and_kill(proc)
                watchdog.dump_own_stacks(f"timeout of {deadline.seconds:g} s expired")
                raise watchdog.CellTimeoutError(
                    f"timeout after {deadline.seconds:g} s in process {index}"
                ) from None
        finally:
            if proc.poll() is None:
                watchdog.kill_group(proc)
            watchdog.untrack(proc)
        slowest = max(slowest, time.monotonic() - spawned)
        reaped_at = time.time()
        reported = _read_result(out_path)
        if code == EXIT_OK and NOT_APPLICABLE in reported:
            raise NotApplicableError(reported[NOT_APPLICABLE])
        if code != EXIT_OK or "error" in reported:
            reason = reported.get("error") or _describe_exit(code)
            raise CellFailedError(f"process {index}: {reason}")
        reported["busy_wait_s"] = round(busy_wait, 3)  # the parent's wait before this process
        # spawn and reap (epoch s): the process's start-up and end, for benchmarks/study_cost.py
        reported["spawned"], reported["reaped"] = spawned_at, reaped_at
        results.append(reported)
    return results


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _read_result(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
