"""The mechanism pass in the pipeline: which points each design is counted at, one job each.

``plan(study, cells)`` picks, per interpreter (one job, ``MechanismJob``: one
process per tool, whose start-up under callgrind costs seconds), the cells whose
mechanism the report explains, at the primary placement (the pass counts work,
which a placement does not change), for every label but the A/A controls:

* every cell a hypothesis decides on (a conclusion names the cost behind one of
  its comparisons) and the two cells of each Go finding (the Go table's why);
* at each answer workload's point, the cells the answer's row compares: the
  fastest and the runner-up by the workload metric's median over processes
  (``RANKED``), read from the cells' Parquet files when the job runs, so the
  job comes after the timed cells. The other designs there are not counted: one
  of them (alternate_one's bursts, 1.4-3.4 G instructions each) cost more under
  callgrind than the rest of a job.

The job's spec (the candidate cells' specs, with their code hash, and the rank
groups) is the rule's tracked param: a changed design or scenario counts its jobs
again, like its cells. The Parquet files are ``ancient`` inputs: a rerun that
re-aggregates does not count again.

``python -m impl.pipeline.mechanism --plan JSON --out FILE --log FILE`` runs
one job (``impl.runner.mechanism.run``) and writes its JSON atomically; a
missing tool is one line in the log and the job's ``skipped``, never a failure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.contract import INTERPRETER_PARAM, write_atomic
from impl.pipeline.cells import Cell, verdict_cell_ids
from impl.runner import placement
from impl.runner.request import CellRequest, ResolvedCell, resolve
from impl.study import Study, matches

#: how many of the fastest designs at an answer workload's point are counted: the row's
#: fastest and its runner-up (impl.report.answer), the pair its why compares
RANKED = 2


@dataclass(frozen=True)
class MechanismJob:
    """One interpreter's candidate points: a cell per (label, point), in label order.

    ``ranked``: per answer workload, (its metric, the indices into ``cells`` of the
    designs at its point); of a group only its ``RANKED`` fastest are counted, unless a
    hypothesis or a Go finding needs one (``always``: indices counted whatever the
    ranking), and a cell in no group is always counted."""

    interpreter: str
    cells: tuple[Cell, ...]
    ranked: tuple[tuple[str, tuple[int, ...]], ...] = ()
    always: tuple[int, ...] = ()

    @property
    def wildcard(self) -> str:
        return self.interpreter

    @property
    def ranked_inputs(self) -> list[str]:
        """The Parquet files the ranking reads (the rule's inputs)."""
        return [self.cells[i].output for _, group in self.ranked for i in group]

    def plan_json(self, code_hash) -> dict[str, Any]:
        """The job's plan: its cells' specs (``code_hash(cell)``), each ranked group as
        {"metric", "cells": [[index, Parquet file], ...]}."""
        return {"interpreter": self.interpreter,
                "specs": [c.spec(code_hash(c)) for c in self.cells],
                "ranked": [{"metric": m, "cells": [[i, self.cells[i].output] for i in g]}
                           for m, g in self.ranked],
                "always": list(self.always)}


def _primary_id(c: Cell) -> str:
    """The cell's id as the primary interpreter's cell at its point."""
    params = {k: v for k, v in c.params.items() if k != INTERPRETER_PARAM}
    return Cell(label=c.label, design=c.design, impl_params=c.impl_params,
                scenario=c.scenario, params=params, timeout_s=c.timeout_s).cell_id


def _go_cells(study: Study, primary: list[Cell]) -> set[str]:
    """The primary's cells of the Go findings' pairs (impl/report/go_seed.yaml)."""
    from impl.report.reproduction import load as go_findings

    out: set[str] = set()
    for f in go_findings()["findings"]:
        where = f["cell"]
        for side in ("faster", "slower"):
            out |= {c.cell_id for c in primary if matches(c.expected(), f[side]["label"],
                                                          where["scenario"],
                                                          where.get("params") or {})}
    return out


def plan(study: Study, cells: Iterable[Cell]) -> list[MechanismJob]:
    """The jobs (module docstring), one per interpreter, in the study's order."""
    cells = list(cells)
    primary = [c for c in cells if c.interpreter is None]
    always = verdict_cell_ids(study, primary) | _go_cells(study, primary)
    # primary cell id -> the answer workloads (by index) whose point it is at
    at_workload: dict[str, list[int]] = {}
    for k, w in enumerate(study.workloads):
        for c in primary:
            if matches(c.expected(), c.label, w.scenario, w.params):
                at_workload.setdefault(c.cell_id, []).append(k)
    controls = study.control_labels
    order = {label: i for i, label in enumerate(study.label_order)}
    jobs: dict[str, list[Cell]] = {}
    for c in cells:
        where = c.params.get(placement.PARAM)
        if c.label in controls or (where is not None and where != placement.PRIMARY):
            continue
        if _primary_id(c) in always or _primary_id(c) in at_workload:
            jobs.setdefault(c.interpreter or study.primary_interpreter.name, []).append(c)
    out = []
    for name, found in jobs.items():
        found.sort(key=lambda c: (order.get(c.label, 0), c.cell_id))
        # every design at the point is ranked (the answer ranks them all); those counted
        # anyway stay counted
        groups: dict[int, list[int]] = {}
        for i, c in enumerate(found):
            for k in at_workload.get(_primary_id(c), []):
                groups.setdefault(k, []).append(i)
        ranked = tuple((study.workloads[k].metric, tuple(g)) for k, g in sorted(groups.items()))
        needed = tuple(i for i, c in enumerate(found) if _primary_id(c) in always)
        out.append(MechanismJob(name, tuple(found), ranked, needed))
    return out


def choose(plan_doc: dict[str, Any], medians: dict[str, float | None]) -> list[int]:
    """The indices into the plan's specs to count: every cell in no ranked group or in
    ``always``, and in each group the ``RANKED`` designs of smallest median (``medians``:
    Parquet file -> the metric's median over processes, None when it has none: a cell
    not applicable or not measured is never counted for the ranking), in spec order."""
    specs = plan_doc["specs"]
    ranked = {i for g in plan_doc.get("ranked", []) for i, _ in g["cells"]}
    keep = (set(range(len(specs))) - ranked) | set(plan_doc.get("always", []))
    for g in plan_doc.get("ranked", []):
        # the answer's order (impl.report.answer.ranked): median, then label; a label once
        known = sorted((medians[path], specs[i]["label"], i) for i, path in g["cells"]
                       if medians.get(path) is not None)
        labels: set[str] = set()
        for _, label, i in known:
            if label not in labels and len(labels) < RANKED:
                labels.add(label)
                keep.add(i)
    return sorted(keep)


def medians_of(plan_doc: dict[str, Any]) -> dict[str, float | None]:
    """Parquet file -> its cell's median over processes of its group's metric (the value
    the answer ranks by: impl.report.load.process_samples), None if it has none."""
    import numpy as np

    from impl.report import load as ld

    out: dict[str, float | None] = {}
    for g in plan_doc.get("ranked", []):
        for _, path in g["cells"]:
            out[path] = None
            if not Path(path).is_file():
                continue
            m = ld.load(None, [Path(path)])
            if m.rows.empty:
                continue
            cid = str(m.rows["cell_id"].iloc[0])
            rows = ld.cell_rows(m, cid, g["metric"])
            values = ld.process_samples(rows, g["metric"]).values if len(rows) else []
            values = np.asarray(values, dtype=float)
            values = values[np.isfinite(values)]
            if len(values):
                out[path] = float(np.median(values))
    return out


def resolved(spec: dict[str, Any]) -> ResolvedCell:
    """A cell spec (``Cell.spec``) as the runner's validated cell (BadParameterError)."""
    from impl.runner.cli import GIL_CHOICES
    from impl.runner.request import RUN_SETTINGS

    params = dict(spec["params"])
    name = params.pop(INTERPRETER_PARAM, None)
    prof = dict(spec.get("profile") or {})
    settings = {k: v for k, v in prof.items() if k in RUN_SETTINGS}
    return resolve(CellRequest(
        impl=spec["design"], scenario=spec["scenario"], impl_params=spec["impl_params"],
        params=params, label=spec["label"], profile=str(prof.get("name", "mechanism")),
        profile_defined_elsewhere=True, interpreter=name, python=spec.get("python"),
        gil=GIL_CHOICES[spec.get("gil", "any")], timeout_s=60.0, **settings))


def main(argv: list[str]) -> int:
    """One job: ``--plan`` (JSON: {"interpreter", "specs": [...]}), ``--out``, ``--log``."""
    from impl.runner.mechanism.run import Job, MechanismError, missing_tools, run

    p = argparse.ArgumentParser(prog="python -m impl.pipeline.mechanism")
    p.add_argument("--plan", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--log", required=True)
    args = p.parse_args(argv)
    job_plan = json.loads(args.plan)
    chosen = choose(job_plan, medians_of(job_plan))
    cells = tuple(resolved(job_plan["specs"][i]) for i in chosen)
    out = Path(args.out)
    what = str(job_plan["interpreter"])
    t0 = time.monotonic()
    with open(args.log, "w") as log:
        for part, why in missing_tools().items():
            line = f"eventloop-tournament: mechanism {what}: {part} skipped: {why}"
            print(line, file=log)
            print(line, file=sys.stderr)
        work = out.parent / f".{out.stem}.work"  # the tools' dumps and trace, removed after
        try:
            result = run(Job(cells=cells, name=what), work)
        except MechanismError as exc:
            print(f"mechanism {what}: {exc}", file=log)
            print(f"eventloop-tournament: mechanism {what} failed: {exc}", file=sys.stderr)
            return 1
        result.update(name=what, seconds=round(time.monotonic() - t0, 2))
        write_atomic(out, json.dumps(result, sort_keys=True))
        shutil.rmtree(work, ignore_errors=True)
        line = (f"eventloop-tournament: mechanism {what}: {len(cells)} point(s) counted in "
                f"{result['seconds']:.1f} s")
        print(line, file=log)
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
