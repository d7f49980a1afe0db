"""The parent side: fresh measuring processes, one after the other.

``run_processes`` starts ``cell.processes`` measuring children
(``python -m impl.runner --worker ...``, ``impl.runner.worker``) one after
the other, never concurrently, each in its own process group and under the
cell's deadline (``impl.runner.watchdog``), and reads the samples each hands
back through a JSON file (methodology.md, "Sampling"; the split of pyperf's
``_manager`` and ``_worker``). A process that could not measure its blocks
undisturbed is replaced by a fresh one, at most ``processes`` times.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from impl.contract import EXIT_OK
from impl.designs.testing import SCENARIO_ENV
from impl.runner import machine, watchdog
from impl.runner.request import ResolvedCell
from impl.runner.worker import ROUND_ENV


class CellFailedError(RuntimeError):
    """A measuring process failed verification or crashed; the message is one line."""


def _child_env(cell: ResolvedCell, index: int) -> dict[str, str]:
    env = dict(os.environ)
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

    Raises CellFailedError (verification failure or crash, one-line reason)
    or watchdog.CellTimeoutError (stacks already dumped, children killed).
    """
    request_path = workdir / "request.json"
    request_path.write_text(cell.to_json())
    results: list[dict[str, Any]] = []
    index = first_index - 1
    # a disturbed process is replaced by a fresh one, at most `processes` times
    while sum(not r["disturbed"] for r in results) < cell.processes:
        index += 1
        if index >= first_index + 2 * cell.processes:
            break
        loops = results[0]["loops"] if results else loops
        out_path = workdir / f"process-{index}.json"
        remaining = deadline.remaining()
        if remaining <= 0:
            watchdog.dump_own_stacks(f"timeout of {deadline.seconds:g} s expired")
            raise watchdog.CellTimeoutError(f"timeout after {deadline.seconds:g} s")
        cmd = [
            sys.executable,
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
        reported = _read_result(out_path)
        if code != EXIT_OK or "error" in reported:
            reason = reported.get("error") or _describe_exit(code)
            raise CellFailedError(f"process {index}: {reason}")
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
