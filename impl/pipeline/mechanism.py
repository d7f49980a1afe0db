"""The mechanism pass in the pipeline: which points each design is counted at, one job each.

``plan(study, cells)`` picks, per interpreter (one job, ``MechanismJob``: one
process per tool, whose start-up under callgrind costs seconds), the cells whose
mechanism the report explains: the answer's cells and every
cell a hypothesis decides on, at the primary placement (the pass counts work,
which a placement does not change), for every label but the A/A controls. The
job's spec (the cells' specs, with their code hash) is the rule's tracked
param: a changed design or scenario counts its jobs again, like its cells.

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


@dataclass(frozen=True)
class MechanismJob:
    """One interpreter's points: a cell per (label, point), in label order."""

    interpreter: str
    cells: tuple[Cell, ...]

    @property
    def wildcard(self) -> str:
        return self.interpreter


def _primary_id(c: Cell) -> str:
    """The cell's id as the primary interpreter's cell at its point."""
    params = {k: v for k, v in c.params.items() if k != INTERPRETER_PARAM}
    return Cell(label=c.label, design=c.design, impl_params=c.impl_params,
                scenario=c.scenario, params=params, timeout_s=c.timeout_s).cell_id


def plan(study: Study, cells: Iterable[Cell]) -> list[MechanismJob]:
    """The jobs (module docstring), one per interpreter, in the study's order."""
    cells = list(cells)
    primary = [c for c in cells if c.interpreter is None]
    wanted = verdict_cell_ids(study, primary) | {
        c.cell_id for c in primary for w in study.workloads
        if matches(c.expected(), c.label, w.scenario, w.params)}
    controls = study.control_labels
    order = {label: i for i, label in enumerate(study.label_order)}
    jobs: dict[str, list[Cell]] = {}
    for c in cells:
        where = c.params.get(placement.PARAM)
        if c.label in controls or (where is not None and where != placement.PRIMARY):
            continue
        if _primary_id(c) in wanted:
            jobs.setdefault(c.interpreter or study.primary_interpreter.name, []).append(c)
    return [MechanismJob(i, tuple(sorted(cs, key=lambda c: (order.get(c.label, 0), c.cell_id))))
            for i, cs in jobs.items()]


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
    cells = tuple(resolved(s) for s in job_plan["specs"])
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
