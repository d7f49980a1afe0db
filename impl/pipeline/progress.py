"""Progress a person can follow: cell rounds measured of the total, and the time left.

At start the workflow writes ``results/PROFILE/progress.json`` (when it started,
how many cell rounds the study has); after each batch the batch job prints one
line: how many of those rounds have a record, and an estimate of the time left
from this run's own pace (elapsed / rounds measured in this run x rounds still
missing). Counting records, not jobs, keeps it right on reruns, where most
rounds are already measured.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from impl.contract import write_atomic

PROGRESS_NAME = "progress.json"
#: how a batch job finds the progress file: an environment variable the workflow sets
#: (not a param or part of the shell command, which would make Snakemake rerun every
#: batch of an earlier run)
PROGRESS_ENV = "ELT_PROGRESS"


def start(path: str | Path, total: int, now: float | None = None) -> Path:
    """Record the run's start and its number of cell rounds (atomic)."""
    path = Path(path)
    write_atomic(path, json.dumps({"started": time.time() if now is None else now,
                                   "total": int(total)}))
    return path


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def line(progress_file: str | Path, now: float | None = None) -> str | None:
    """One line for the terminal, or None when the progress file is missing or unreadable.

    Records are the ``r*.json`` files under ``rounds/`` beside the progress file.
    """
    path = Path(progress_file)
    try:
        info = json.loads(path.read_text())
        started, total = float(info["started"]), int(info["total"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    now = time.time() if now is None else now
    records = list((path.parent / "rounds").rglob("r*.json"))
    done = min(len(records), total)
    this_run = sum(1 for r in records if r.stat().st_mtime >= started)
    text = f"eventloop-tournament: {done} of {total} cell rounds measured"
    if total:
        text += f" ({done / total:.0%})"
    if this_run and done < total:
        left = (now - started) / this_run * (total - done)
        text += f"; about {_minutes(left)} left"
    return text
