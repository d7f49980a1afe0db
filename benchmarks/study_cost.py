"""What a finished pipeline run cost: wall time, timed time, duty cycle, per-job overhead.

Reads the run's own records, nothing else: the batch manifests
(``results/PROFILE/batches/**.json``: when each job started and finished,
which cell records it holds), the cells' round records they name (every
block's timed region and declared idle gap, calibration, discarded blocks,
replaced processes) and the cells' status lines in ``logs/PROFILE/rounds``
(how long each cell's round took). Usage, after
``snakemake --cores 10 [--config profile=quick]``:

    python benchmarks/study_cost.py [--profile full]

Duty cycle = timed block time / wall time of the measuring phase (first batch
job's start to the last one's end). "timed" counts warm-up blocks (timed and
thrown away by design), calibration blocks and discarded blocks; "measured"
only the blocks kept as samples; "with idle gaps" adds the declared idle gap
before each submit of round_trip and wakeup (the loop parks on purpose: it is
part of what those blocks measure, and what their calibration sizes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impl.pipeline.cell_wrapper import read_status  # noqa: E402
from impl.pipeline.cells import Layout  # noqa: E402


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _share(seconds: float, wall: float) -> str:
    return f"{seconds:8.1f} s {seconds / wall:6.1%}" if wall > 0 else f"{seconds:8.1f} s"


def _mechanism(root: Path, where: Layout) -> list[float]:
    """[jobs, seconds] of the mechanism pass's jobs (their recorded ``seconds``)."""
    files = list((root / where.mechanism).glob("*.json"))
    return [len(files), round(sum(json.loads(f.read_text()).get("seconds", 0.0)
                                  for f in files), 1)]


def costs(root: Path, profile: str) -> dict | None:
    """The figures of one profile's finished run under ``root``; None if there is none.

    ``phases``: where the measuring phase's wall time went, in seconds, each
    part once: the blocks' timed regions (measured, warm-up, calibration,
    discarded), their declared idle gaps, their untimed set-up (e.g.
    budget_sweep's backlog being queued), the processes' start-up (spawn to
    the first reading: interpreter, imports) and the waits for the machine
    lock, the quiet-machine windows, the rest inside the processes (fresh
    loops, gc, parking, readings, calibration blocks' set-up), the processes'
    end, the runner's waits for a quiet machine, the runner's parent per cell
    round, the batch jobs outside their cells and Snakemake between jobs (a
    failed job's time lands there: it writes no manifest). A cell a rerun
    reused is counted in the job that measured it. Records written before the
    runner stored spawn and reap times put start-up and end under "parent";
    the remainders ("inside processes", "parent") are not clamped, so a record
    that does not add up shows as a negative part.
    """
    where = Layout(profile)
    manifests = [m for m in map(_load, sorted((root / where.batches).rglob("r*.json"))) if m]
    if not manifests:
        return None
    start = min(m["started"] for m in manifests)
    end = max(m["finished"] for m in manifests)
    wall = end - start
    t = dict.fromkeys(("measured", "warmup", "calibration", "discarded", "idle", "setup",
                       "startup", "lock", "quiet", "inprocess", "ending", "busy", "parent"),
                      0.0)
    discarded = replaced = processes = cell_rounds = 0
    cell_seconds = 0.0
    for manifest in manifests:
        for entry in manifest["cells"]:
            if entry.get("status") == "reused":
                continue  # measured (and counted) by an earlier job
            record = _load(root / entry["record"])
            status = read_status(root / entry["log"]) or {}
            if record is None:
                continue
            cell_rounds += 1
            seconds = status.get("seconds") or 0.0
            cell_seconds += seconds
            in_procs = 0.0
            for proc in record["results"]:
                processes += 1
                discarded += len(proc["discarded"])
                replaced += bool(proc["disturbed"])
                blocks_wall = 0.0
                for block in proc["blocks"]:
                    t["idle"] += (block["clock_ns"] - block["timed_ns"]) / 1e9
                    t["setup"] += max(0, block.get("wall_ns", block["clock_ns"])
                                      - block["clock_ns"]) / 1e9
                    blocks_wall += max(block.get("wall_ns", 0), block["clock_ns"]) / 1e9
                    t["warmup" if block["warmup"] else "measured"] += block["timed_ns"] / 1e9
                cal = proc.get("calibration") or {}
                cal_clock = 0.0
                for step in cal.get("steps", []):  # [loops, clock(, timed)]
                    timed = step[2] if len(step) > 2 else step[1]
                    t["calibration"] += timed / 1e9
                    t["idle"] += (step[1] - timed) / 1e9
                    cal_clock += step[1] / 1e9
                # a failed confirmation's blocks (the last one's are the process's own):
                # [loops, median clock, blocks(, median timed)]
                for c in cal.get("confirm", [])[:-1]:
                    n = c[2] if len(c) > 2 else 3
                    timed = c[3] if len(c) > 3 else c[1]
                    t["calibration"] += n * timed / 1e9
                    t["idle"] += n * (c[1] - timed) / 1e9
                    cal_clock += n * c[1] / 1e9
                disc_clock = 0.0
                last = proc["blocks"][-1] if proc["blocks"] else {"timed_ns": 0, "clock_ns": 0}
                for d in proc["discarded"]:  # as long as a kept block when not recorded
                    timed = d.get("timed_ns", last["timed_ns"])
                    clock = d.get("clock_ns", last["clock_ns"])
                    t["discarded"] += timed / 1e9
                    t["idle"] += (clock - timed) / 1e9
                    disc_clock += clock / 1e9
                quiet = sum(proc.get("quiet_wait_s") or [])
                t["quiet"] += quiet
                span = proc["measure_end"] - proc["measure_start"]
                t["inprocess"] += span - blocks_wall - cal_clock - disc_clock - quiet
                busy = float(proc.get("busy_wait_s") or 0.0)
                t["busy"] += busy
                if "spawned" in proc and "reaped" in proc:
                    lock = float(proc.get("lock_wait_s") or 0.0)
                    t["lock"] += lock
                    t["startup"] += proc["measure_start"] - proc["spawned"] - lock
                    t["ending"] += proc["reaped"] - proc["measure_end"]
                    in_procs += proc["reaped"] - proc["spawned"] + busy
                else:
                    in_procs += span + busy
            t["parent"] += seconds - in_procs
    jobs = len(manifests)
    in_jobs = sum(m["finished"] - m["started"] for m in manifests)
    timed = t["measured"] + t["warmup"] + t["calibration"] + t["discarded"]
    phases = {
        "measured blocks (timed)": t["measured"],
        "warm-up blocks (timed)": t["warmup"],
        "calibration blocks (timed)": t["calibration"],
        "discarded blocks (timed)": t["discarded"],
        "declared idle gaps inside blocks": t["idle"],
        "untimed set-up inside blocks (e.g. a backlog queued)": t["setup"],
        "process start-up (spawn to first reading: interpreter, imports)": t["startup"],
        "processes waiting for the machine lock": t["lock"],
        "quiet-machine windows inside processes": t["quiet"],
        "inside processes, between blocks (fresh loops, gc, readings, calibration set-up)":
            t["inprocess"],
        "process end (last reading to reaped)": t["ending"],
        "runner waiting out a busy machine": t["busy"],
        "runner parent, per cell round (its start, request, record)": t["parent"],
        "batch jobs outside their cells": in_jobs - cell_seconds,
        "Snakemake between jobs": wall - in_jobs,
    }
    return {
        "profile": profile,
        "batch jobs": jobs,
        "cell rounds": cell_rounds,
        "processes": processes,
        "wall time of the measuring phase (s)": round(wall, 1),
        "phases": phases,
        "timed block time (s): measured / warm-up / calibration / discarded": [
            round(t["measured"], 1), round(t["warmup"], 1), round(t["calibration"], 1),
            round(t["discarded"], 1)],
        "declared idle gaps inside blocks (s)": round(t["idle"], 1),
        "duty cycle (all timed blocks / wall)": round(timed / wall, 3),
        "duty cycle (timed blocks + declared idle gaps / wall)": round(
            (timed + t["idle"]) / wall, 3),
        "duty cycle (measured blocks only / wall)": round(t["measured"] / wall, 3),
        "measured blocks / (wall - idle gaps - set-up inside blocks)": round(
            t["measured"] / (wall - t["idle"] - t["setup"]), 3),
        "per process (s): start-up, quiet windows, between blocks, end, mean": round(
            (t["startup"] + t["quiet"] + t["inprocess"] + t["ending"]) / max(processes, 1), 3),
        "per cell round (s): its wall minus timed blocks and idle gaps (set-up in), mean": round(
            (cell_seconds - timed - t["idle"]) / max(cell_rounds, 1), 3),
        "per batch job (s): inside the job, outside its cells, mean": round(
            (in_jobs - cell_seconds) / jobs, 3),
        "per batch job (s): between jobs (Snakemake), mean": round((wall - in_jobs) / jobs, 3),
        # after the cells, outside the measuring phase: its jobs' own time
        "mechanism pass (s): jobs, their time in all": _mechanism(root, where),
        "blocks discarded for foreign load": discarded,
        "processes set aside as disturbed": replaced,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", help="the profile whose run to read")
    parser.add_argument("--root", default=str(ROOT), help="the checkout that ran it")
    args = parser.parse_args(argv)
    report = costs(Path(args.root), args.profile)
    if report is None:
        print(f"no finished run of profile {args.profile!r} under {args.root} (need "
              f"{Layout(args.profile).batches}); run the pipeline first", file=sys.stderr)
        return 2
    wall = report["wall time of the measuring phase (s)"]
    for key, value in report.items():
        if key == "phases":
            print("where the measuring phase's wall time went:")
            width = max(map(len, value))
            for name, seconds in value.items():
                print(f"  {name:<{width}} {_share(seconds, wall)}")
            print(f"  {'sum':<{width}} "
                  f"{_share(sum(value.values()), wall)}")
            continue
        print(f"{key}: {json.dumps(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
