"""What a finished pipeline run cost: wall time, timed time, duty cycle, per-job overhead.

Reads the run's own records, nothing else: the round jobs' STATUS lines in
``logs/PROFILE/rounds/**.log`` (when each job started and finished) and
``results/PROFILE/all.parquet`` (every block's timed region, ``env.timed_ns``,
and each cell's metadata: calibration blocks, discarded blocks, replaced
processes). Usage, after ``snakemake --cores 10 [--config profile=quick]``:

    python benchmarks/study_cost.py [--profile full]

Duty cycle = timed block time / wall time of the measuring phase (first round
job's start to the last one's end). "timed" counts warm-up blocks (they are
timed and thrown away by design) and calibration blocks; "measured" only the
blocks kept as samples.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impl import contract  # noqa: E402
from impl.pipeline.cell_wrapper import read_status  # noqa: E402
from impl.pipeline.cells import Layout  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", help="the profile whose run to read")
    args = parser.parse_args(argv)
    where = Layout(args.profile)
    logs = sorted((ROOT / where.logs / "rounds").rglob("*.log"))
    records = [r for r in map(read_status, logs) if r]
    all_parquet = ROOT / where.all_parquet
    if not records or not all_parquet.exists():
        print(f"no finished run of profile {args.profile!r} here (need {where.logs}/rounds "
              f"and {where.all_parquet}); run the pipeline first", file=sys.stderr)
        return 2
    ok = [r for r in records if r["status"] == "ok"]
    start = min(r["started"] for r in records)
    end = max(r["finished"] for r in records)
    wall = end - start
    in_jobs = sum(r["seconds"] for r in records)

    table = pq.read_table(all_parquet, columns=["metric", "warmup", "value"])
    timed_rows = table.filter(pc.equal(table["metric"], "env.timed_ns"))
    warm = timed_rows["warmup"].to_pylist()
    vals = timed_rows["value"].to_pylist()
    measured_s = sum(v for v, w in zip(vals, warm, strict=True) if not w) / 1e9
    warmup_s = sum(v for v, w in zip(vals, warm, strict=True) if w) / 1e9
    metas = contract.cells_metadata(pq.read_schema(all_parquet).metadata)
    calib_s = discarded = replaced = 0
    for meta in metas.values():
        cal = meta.get("calibration") or {}
        calib_s += sum(c for _, c in cal.get("steps", [])) / 1e9
        calib_s += sum(m * 3 for _, m in cal.get("confirm", [])) / 1e9  # 3 blocks each, ~median
        q = meta.get("quality") or {}
        discarded += len(q.get("discarded_blocks", []))
        replaced += len(q.get("disturbed_processes", []))
    timed_s = measured_s + warmup_s + calib_s
    processes = sum(len(m.get("processes_measured", [])) for m in metas.values())
    report = {
        "profile": args.profile,
        "round jobs": len(records),
        "round jobs ok": len(ok),
        "cells": len(metas),
        "processes": processes,
        "wall time of the measuring phase (s)": round(wall, 1),
        "timed block time (s): measured / warm-up / calibration": [
            round(measured_s, 1), round(warmup_s, 1), round(calib_s, 1)],
        "duty cycle (all timed blocks / wall)": round(timed_s / wall, 3),
        "duty cycle (measured blocks only / wall)": round(measured_s / wall, 3),
        "per-job overhead inside the job (s): job time - its timed blocks, mean": round(
            (in_jobs - timed_s) / len(records), 3),
        "per-job overhead between jobs (s): scheduler gaps, mean": round(
            (wall - in_jobs) / len(records), 3),
        "blocks discarded for foreign load": discarded,
        "processes set aside as disturbed": replaced,
    }
    for key, value in report.items():
        print(f"{key}: {json.dumps(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
