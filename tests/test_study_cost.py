"""benchmarks/study_cost.py: each second of a run's measuring phase lands in one phase.

A synthetic run (one batch job, one cell round of two processes, written in the
records' own formats) with every quantity chosen, so each phase has a known value.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from impl.pipeline.cell_wrapper import STATUS_PREFIX
from impl.pipeline.cells import Layout

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import study_cost  # noqa: E402

MS = 1_000_000  # ns


def _block(timed_ms, clock_ms, wall_ms, warmup=False):
    return {"timed_ns": timed_ms * MS, "clock_ns": clock_ms * MS, "wall_ns": wall_ms * MS,
            "warmup": warmup}


def _run(tmp_path: Path) -> Path:
    where = Layout("full")
    t0 = 1000.0
    p0 = {  # calibrates: two steps (one with an idle gap) and one failed confirmation of 2
        "spawned": t0 + 1.0, "lock_wait_s": 0.05, "measure_start": t0 + 1.2,
        "quiet_wait_s": [0.02], "busy_wait_s": 0.0,
        "calibration": {"steps": [[10, 40 * MS, 30 * MS], [40, 120 * MS, 100 * MS]],
                        "confirm": [[40, 90 * MS, 2, 80 * MS], [50, 110 * MS, 2, 100 * MS]]},
        "blocks": [_block(10, 12, 15, warmup=True), _block(100, 110, 120), _block(100, 110, 120)],
        "discarded": [{"block": 3, "foreign_cpu": 0.5, "clock_ns": 110 * MS,
                       "timed_ns": 100 * MS}],
        "disturbed": False,
    }
    # process 0 measures: 0.16 calibration steps + 2 x 0.09 failed confirmation + 0.255
    # blocks + 0.11 discarded + 0.02 quiet + 0.055 between blocks
    p0["measure_end"] = p0["measure_start"] + 0.16 + 0.18 + 0.255 + 0.11 + 0.02 + 0.055
    p0["reaped"] = p0["measure_end"] + 0.005
    p1 = {"spawned": p0["reaped"] + 0.5, "lock_wait_s": 0.0, "busy_wait_s": 0.5,
          "quiet_wait_s": [0.01], "calibration": None, "discarded": [], "disturbed": False,
          "blocks": [_block(10, 10, 12, warmup=True), _block(100, 100, 102),
                     _block(100, 100, 102)]}
    p1["measure_start"] = p1["spawned"] + 0.08
    p1["measure_end"] = p1["measure_start"] + 0.216 + 0.01 + 0.004
    p1["reaped"] = p1["measure_end"] + 0.006
    record = {"cell": {"scenario": "s"}, "results": [p0, p1]}
    cell_seconds = p1["reaped"] - p0["spawned"] + 0.3  # the runner's parent: 0.3 s
    rec_path = f"{where.rounds}/x/s/p/r0.json"
    log_path = f"{where.logs}/rounds/x/s/p/r0.log"
    for rel, text in ((rec_path, json.dumps(record)),
                      (log_path, STATUS_PREFIX + json.dumps({"seconds": cell_seconds}) + "\n")):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    manifest = {"started": t0 + 0.9, "finished": t0 + 0.9 + cell_seconds + 0.2,
                "cells": [{"record": rec_path, "log": log_path, "status": "ok"},
                          {"record": rec_path, "log": log_path, "status": "reused"}]}
    first = {"started": t0, "finished": t0 + 0.5, "cells": []}  # another job: Snakemake's gap
    batches = tmp_path / where.batches / "s" / "p"
    batches.mkdir(parents=True)
    (batches / "r0.json").write_text(json.dumps(manifest))
    (batches / "r1.json").write_text(json.dumps(first))
    return tmp_path


def test_every_second_lands_in_one_phase(tmp_path):
    report = study_cost.costs(_run(tmp_path), "full")
    ph = report["phases"]
    approx = lambda x: pytest.approx(x, abs=1e-6)  # noqa: E731
    assert report["cell rounds"] == 1 and report["processes"] == 2  # the reused entry: once
    assert ph["measured blocks (timed)"] == approx(0.4)
    assert ph["warm-up blocks (timed)"] == approx(0.02)
    # steps' timed regions (0.03 + 0.1) and the failed confirmation's 2 x 0.08
    assert ph["calibration blocks (timed)"] == approx(0.29)
    assert ph["discarded blocks (timed)"] == approx(0.1)
    # kept blocks 0.022, steps 0.03, failed confirmation 2 x 0.01, discarded 0.01
    assert ph["declared idle gaps inside blocks"] == approx(0.082)
    # process 0: 0.003 + 2 x 0.01; process 1: 0.002 + 2 x 0.002
    assert ph["untimed set-up inside blocks (e.g. a backlog queued)"] == approx(0.029)
    assert ph["process start-up (spawn to first reading: interpreter, imports)"] == approx(
        0.15 + 0.08)
    assert ph["processes waiting for the machine lock"] == approx(0.05)
    assert ph["quiet-machine windows inside processes"] == approx(0.03)
    key = "inside processes, between blocks (fresh loops, gc, readings, calibration set-up)"
    assert ph[key] == approx(0.055 + 0.004)
    assert ph["process end (last reading to reaped)"] == approx(0.011)
    assert ph["runner waiting out a busy machine"] == approx(0.5)
    assert ph["runner parent, per cell round (its start, request, record)"] == approx(0.3)
    assert ph["batch jobs outside their cells"] == approx(0.2 + 0.5)  # both jobs' own time
    assert ph["Snakemake between jobs"] == approx(0.4)
    # the parts add up to the wall time (printed to 0.1 s)
    assert sum(ph.values()) == pytest.approx(report["wall time of the measuring phase (s)"],
                                             abs=0.05)


def test_no_run_is_one_line_and_exit_2(tmp_path, capsys):
    assert study_cost.main(["--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no finished run of profile 'full'" in err[0]
