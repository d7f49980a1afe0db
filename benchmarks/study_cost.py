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


def costs(root: Path, profile: str) -> dict | None:
    """The figures of one profile's finished run under ``root``; None if there is none."""
    where = Layout(profile)
    manifests = [m for m in map(_load, sorted((root / where.batches).rglob("r*.json"))) if m]
    if not manifests:
        return None
    start = min(m["started"] for m in manifests)
    end = max(m["finished"] for m in manifests)
    wall = end - start
    measured = warmup = calibration = idle = discarded_s = 0.0
    discarded = replaced = processes = cell_rounds = 0
    cell_seconds = 0.0
    for manifest in manifests:
        for entry in manifest["cells"]:
            record = _load(root / entry["record"])
            status = read_status(root / entry["log"]) or {}
            if record is None:
                continue
            cell_rounds += 1
            cell_seconds += status.get("seconds") or 0.0
            for proc in record["results"]:
                processes += 1
                discarded += len(proc["discarded"])
                replaced += bool(proc["disturbed"])
                for block in proc["blocks"]:
                    timed = block["timed_ns"] / 1e9
                    idle += (block["clock_ns"] - block["timed_ns"]) / 1e9
                    if block["warmup"]:
                        warmup += timed
                    else:
                        measured += timed
                cal = proc.get("calibration") or {}
                calibration += sum(c for _, c in cal.get("steps", [])) / 1e9
                # a failed confirmation's blocks (the last one's are the process's own)
                calibration += sum(c[1] * (c[2] if len(c) > 2 else 3)
                                   for c in cal.get("confirm", [])[:-1]) / 1e9
                # a discarded block is as long as a kept one (same loops)
                if proc["blocks"] and proc["discarded"]:
                    discarded_s += len(proc["discarded"]) * proc["blocks"][-1]["timed_ns"] / 1e9
    timed = measured + warmup + calibration + discarded_s
    jobs = len(manifests)
    in_jobs = sum(m["finished"] - m["started"] for m in manifests)
    return {
        "profile": profile,
        "batch jobs": jobs,
        "cell rounds": cell_rounds,
        "processes": processes,
        "wall time of the measuring phase (s)": round(wall, 1),
        "timed block time (s): measured / warm-up / calibration / discarded": [
            round(measured, 1), round(warmup, 1), round(calibration, 1), round(discarded_s, 1)],
        "declared idle gaps inside blocks (s)": round(idle, 1),
        "duty cycle (all timed blocks / wall)": round(timed / wall, 3),
        "duty cycle (timed blocks + declared idle gaps / wall)": round((timed + idle) / wall, 3),
        "duty cycle (measured blocks only / wall)": round(measured / wall, 3),
        "per cell round (s): wrapper + runner + processes - timed, mean": round(
            (cell_seconds - timed - idle) / max(cell_rounds, 1), 3),
        "per batch job (s): inside the job, outside its cells, mean": round(
            (in_jobs - cell_seconds) / jobs, 3),
        "per batch job (s): between jobs (Snakemake), mean": round((wall - in_jobs) / jobs, 3),
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
    for key, value in report.items():
        print(f"{key}: {json.dumps(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
