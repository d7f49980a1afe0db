"""One batch job: one round of every cell at one parameter point, one cell after another.

The pipeline's unit of work (rule ``measure``; the plan comes from
``impl.pipeline.cells.plan_batches``). Each cell runs under the timeout
wrapper (``cell_wrapper.run_wrapped``: its own process group, backstop,
log with a ``STATUS`` line) and writes its round record to
``Cell.round_output(r)``; when every cell of the batch has a current record,
the batch writes its manifest (the job's declared output) naming them.

A hung or crashed cell does not stop the others: the batch measures the rest,
then exits non-zero without a manifest, so Snakemake reruns the batch. The
rerun *reuses* every record that is still current and measures only what is
missing, failed or stale (the whole kind of "rerun only what failed", at the
cell level). A record is current when its cell spec (design, params,
profile, code hash: ``command.config_hash``) is unchanged and, in rounds > 0, it used
the block size of the cell's current round-0 record. When Snakemake runs a
batch whose records are all current (``--forcerun``, a deleted manifest, a
changed rule), it remeasures every cell: that is what forcing means.

Usage (the rule's shell command)::

    python -m impl.pipeline.batch --plan PLAN.json-text --round R --timeout S
        [--seed N] --out MANIFEST.json --log BATCH.log
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from impl.contract import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, write_atomic
from impl.pipeline import cell_wrapper as cw
from impl.pipeline import identity
from impl.pipeline.command import config_hash, runner_command
from impl.pipeline.progress import PROGRESS_ENV
from impl.pipeline.progress import line as progress_line


def plan_entry(cell: Any, spec: Mapping[str, Any], r: int) -> dict[str, Any]:
    """What the batch needs about one cell: its spec, record, log and round-0 record."""
    return {
        "spec": dict(spec),
        "record": cell.round_output(r),
        "log": cell.round_log(r),
        "loops_from": cell.round_output(0) if r else None,
    }


def read_record(path: str | Path | None) -> dict[str, Any] | None:
    """A cell's round record, or None if it is absent or not a readable record."""
    if not path:
        return None
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "results" in record else None


def busy_wait_s(record: Mapping[str, Any] | None) -> float:
    """Seconds a cell round's runner waited for a quiet machine (impl.runner.manager)."""
    return sum(float(r.get("busy_wait_s") or 0.0) for r in (record or {}).get("results", []))


def _loops(record: Mapping[str, Any]) -> int | None:
    try:
        return int(record["results"][0]["loops"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def current(entry: Mapping[str, Any]) -> bool:
    """True when the entry's record exists, is readable and still measures what the spec says."""
    record = read_record(entry["record"])
    if record is None or record.get("cell", {}).get("config_hash") != config_hash(
        entry["spec"]
    ):
        return False
    if entry.get("loops_from"):
        base = read_record(entry["loops_from"])
        return base is not None and _loops(base) == _loops(record)
    return True


def run_batch(
    plan: Sequence[Mapping[str, Any]],
    *,
    round_index: int,
    timeout_s: float,
    out: str | Path,
    log: str | Path,
    seed: int | None = None,
    runner_main: Callable[[list[str]], int] | None = None,
) -> int:
    """Measure the plan's cells (in order) that need it; write the manifest if all are current.

    ``runner_main``: the runner's command line entry (default ``impl.runner.cli.main``),
    forked per cell with the arguments of ``command.runner_command``.
    Returns the exit code (impl.contract ``EXIT_*``): 0 (manifest written), 1 (a
    cell failed), 130 (interrupted; later cells not started), 2 (a cell refused
    its input) or 124 (a cell timed out).
    """
    started = time.time()
    if runner_main is None:
        # imported once here, forked per cell (cell_wrapper.run_wrapped): no interpreter
        # start and runner imports per cell and round
        from impl.runner import cell as _cell  # noqa: F401 - what the runner imports lazily
        from impl.runner import manager as _manager  # noqa: F401
        from impl.runner.cli import main as runner_main

    keep = {i for i, entry in enumerate(plan) if current(entry)}
    if len(keep) == len(plan):
        keep = set()  # forced: Snakemake reran a batch with nothing missing or stale
    cells: list[dict[str, Any]] = []
    codes: list[int] = []
    watched = identity.watched()
    log_path = Path(log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as blog:
        for i, entry in enumerate(plan):
            spec = entry["spec"]
            row = {"cell_id": spec["cell_id"], "record": entry["record"], "log": entry["log"]}
            if i in keep:
                cells.append({**row, "status": "reused"})
                blog.write(f"{spec['cell_id']}: reused (record current)\n")
                continue
            if not identity.alive(watched):
                blog.write(f"{spec['cell_id']}: not started (Snakemake is gone)\n")
                codes.append(EXIT_INTERRUPTED)
                break
            # the runner writes only into an existing folder (a missing one is a typo there)
            Path(entry["record"]).parent.mkdir(parents=True, exist_ok=True)
            cmd = runner_command(spec, entry["record"], timeout_s, seed, round_index,
                                 entry.get("loops_from"))
            status = cw.run_wrapped(cmd, cell_id=spec["cell_id"], log_path=entry["log"],
                                    out_path=entry["record"], timeout_s=timeout_s,
                                    extra={"round": round_index}, fork_main=runner_main)
            cells.append({**row, "status": status["status"], "seconds": status["seconds"]})
            blog.write(f"{spec['cell_id']}: {status['status']} in {status['seconds']:.1f} s"
                       + (f": {status['reason']} (log: {entry['log']})" if status["reason"]
                          else "") + "\n")
            blog.flush()
            codes.append(cw.exit_code(status))
            waited = busy_wait_s(read_record(entry["record"]))
            if waited:  # said on the terminal, not only in the cell's log
                print(f"eventloop-tournament: {spec['cell_id']} (round {round_index}): the "
                      f"machine was busy; waited {waited:.0f} s for it to be quiet before "
                      f"measuring again (log: {entry['log']})", file=sys.stderr, flush=True)
            if codes[-1] == EXIT_INTERRUPTED:  # Ctrl-C / SIGTERM / Snakemake died: stop here
                break
    failed = [c for c in codes if c]
    if failed or len(cells) < len(plan):
        return EXIT_INTERRUPTED if EXIT_INTERRUPTED in codes else (
            failed[0] if failed else EXIT_FAILED)
    manifest = {
        "round": round_index,
        "started": started,
        "finished": time.time(),
        "cells": cells,
    }
    write_atomic(out, json.dumps(manifest, indent=1, sort_keys=True))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m impl.pipeline.batch",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--plan", required=True,
                        help="JSON list of {spec, record, log, loops_from} (impl.pipeline.cells)")
    parser.add_argument("--round", type=int, required=True)
    parser.add_argument("--timeout", type=float, required=True,
                        help="per cell: the scenario's timeout_s")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", required=True, help="the batch manifest (written last)")
    parser.add_argument("--log", required=True, help="one line per cell")
    parser.add_argument("--progress", default=os.environ.get(PROGRESS_ENV),
                        help="the run's progress file: print cell rounds done and time left "
                        f"(default: ${PROGRESS_ENV}, which the workflow sets)")
    args = parser.parse_args(argv)
    code = run_batch(json.loads(args.plan), round_index=args.round, timeout_s=args.timeout,
                     out=args.out, log=args.log, seed=args.seed)
    if args.progress:
        text = progress_line(args.progress)
        if text:
            print(text, file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
