"""Expand the config into cells (label, scenario, parameter point) and their rounds.

Everything Snakemake needs per cell (id, file names, the runner's arguments,
the timeout, the scheduling priority of each round) is computed here once, so
the Snakefile only looks values up and the expansion can be unit-tested
without Snakemake.

A cell's processes (the replicates) are measured in ``rounds`` of
``processes / rounds`` fresh processes each (a scenario may have more rounds than
the profile: ``scenario_rounds``; a cell with fewer processes than its point's
rounds measures one in every (rounds / processes)-th round, so round r is the same
stretch of the run for every cell at the point: ``split``). One job (a ``Batch``) measures one
round of every cell at one parameter point of one scenario, i.e. of the cells
that are compared with each other, one after the other in a seeded random
order; every batch of round r is scheduled before any of round r+1, in a
seeded random order inside the round (randomized multiple interleaved trials,
Abedi and Brecht, ICPE 2017), so drift and noisy neighbours hit all compared
cells alike. A batch rather than a job per (cell, round): Snakemake and the
wrappers cost about 0.5 s per job, as much as a round's measuring time
(``benchmarks/study_cost.py``). Each profile has its own results, logs and
report (``Layout``), so switching profiles remeasures nothing.
"""

from __future__ import annotations

import itertools
import math
import random
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from impl.contract import (
    LOGS_DIR,
    PLOTS_DIR,
    REPORT_DIR,
    RESULTS_DIR,
    block_target_ns,
    cell_id,
    details_name,
    param_str,
    warmup_share,
)
from impl.pipeline.progress import PROGRESS_NAME
from impl.runner import scenarios
from impl.runner.request import WARMUP_MS
from impl.study import MAIN_PROFILE, Study, grid_points, matches
from impl.study import expand as expand_hypothesis

#: seconds a measuring process costs beyond its blocks (interpreter start, imports, a
#: fresh loop per block, the parent's bookkeeping: about 0.3-0.8 s here,
#: benchmarks/study_cost.py)
PROCESS_OVERHEAD_S = 0.5
#: blocks round 0's first process measures while calibrating (impl.runner.worker)
CALIBRATION_BLOCKS = 3
#: a cluster job's walltime is this many times its expected length: room for a slower
#: node, replaced processes and waits for a quiet machine, not for every cell's timeout
WALLTIME_FACTOR = 4
#: the full summary's file name (the partial one is impl.pipeline.summary.PARTIAL_NAME)
SUMMARY_NAME = "SUMMARY.md"


@dataclass(frozen=True)
class Layout:
    """Where one profile's files go: results, logs and report never mix across profiles."""

    profile: str

    @property
    def results(self) -> str:
        return f"{RESULTS_DIR}/{self.profile}"

    @property
    def cells(self) -> str:
        return f"{self.results}/cells"

    @property
    def rounds(self) -> str:
        return f"{self.results}/rounds"

    @property
    def batches(self) -> str:
        return f"{self.results}/batches"

    @property
    def all_parquet(self) -> str:
        return f"{self.results}/all.parquet"

    @property
    def rerun_stamp(self) -> str:
        """An input of the aggregation whose mtime is bumped when results went missing."""
        return f"{self.results}/rerun.stamp"

    @property
    def logs(self) -> str:
        return f"{LOGS_DIR}/{self.profile}"

    @property
    def report(self) -> str:
        return REPORT_DIR if self.profile == MAIN_PROFILE else f"{REPORT_DIR}/{self.profile}"

    @property
    def summary(self) -> str:
        return f"{self.report}/{SUMMARY_NAME}"

    @property
    def details(self) -> str:
        """The summary's companion with every table (contract.details_name)."""
        return f"{self.report}/{details_name(SUMMARY_NAME)}"

    #: a batch's manifest and log, as patterns over the batch rule's wildcards (one
    #: definition for the rule and for ``Batch``)
    BATCH_FILE = "{scenario}/{params}/r{round}"

    @property
    def batch_output(self) -> str:
        """The batch rule's output pattern (wildcards scenario, params, round)."""
        return f"{self.batches}/{self.BATCH_FILE}.json"

    @property
    def batch_log(self) -> str:
        """The batch rule's log pattern (wildcards scenario, params, round)."""
        return f"{self.logs}/batches/{self.BATCH_FILE}.log"

    #: a mechanism job's output and log, as patterns over its wildcard (the interpreter)
    MECHANISM_FILE = "{interpreter}"

    @property
    def mechanism(self) -> str:
        """The mechanism pass's results (impl/pipeline/mechanism.py), one file per job."""
        return f"{self.results}/mechanism"

    @property
    def mechanism_output(self) -> str:
        return f"{self.mechanism}/{self.MECHANISM_FILE}.json"

    @property
    def mechanism_log(self) -> str:
        return f"{self.logs}/mechanism/{self.MECHANISM_FILE}.log"

    @property
    def progress(self) -> str:
        """When this run started and how many cell rounds it has (impl/pipeline/progress.py)."""
        return f"{self.results}/{PROGRESS_NAME}"

    @property
    def plots(self) -> str:
        """The summary's plots (a folder inside the report folder)."""
        return f"{self.report}/{PLOTS_DIR}"


@dataclass(frozen=True)
class Cell:
    label: str
    design: str
    impl_params: dict[str, Any]
    scenario: str
    params: dict[str, Any]
    timeout_s: float
    profile: dict[str, Any] = field(default_factory=dict)
    #: the rounds of the cell's point (impl.study.Profile.rounds_for) ...
    rounds: int = 1
    #: ... of which the cell measures every ``round_step``-th (``split``)
    round_step: int = 1
    layout: Layout = Layout(MAIN_PROFILE)
    #: the measuring processes' interpreter (impl.study.interpreters): its name off the
    #: primary one (also the ``interpreter`` parameter), its python (None: the pipeline's)
    #: and the runner's --gil
    interpreter: str | None = None
    python: str | None = None
    gil: str = "any"

    @property
    def paramstr(self) -> str:
        """The file name part of the cell id (after the second slash); ``default`` if empty."""
        return param_str(self.params)

    @property
    def cell_id(self) -> str:
        return cell_id(self.label, self.scenario, self.params)

    @property
    def output(self) -> str:
        """The cell's Parquet file (written by the aggregation from its rounds)."""
        return f"{self.layout.cells}/{self.label}/{self.scenario}/{self.paramstr}.parquet"

    @property
    def point(self) -> tuple[str, str]:
        """(scenario, paramstr): the cells sharing a point are compared, and batched together."""
        return self.scenario, self.paramstr

    def expected_s(self, r: int) -> float:
        """Seconds round ``r`` of this cell is expected to take: its processes, each measuring
        its warm-up and measured blocks (and, in round 0, calibration blocks) plus a fixed
        cost per process; generous on purpose (every process counted as calibrating: it bounds
        a batch's runtime, and a block may run past its target: a latency minimum, the timed
        floor, an overshoot). Observed in the default study: median 1.1-4.3 s per cell round."""
        prof = self.profile
        # what a block is calibrated to, and a warm-up block's share of it (the runner's rules)
        target_ns = block_target_ns(prof["target_block_ms"], sys.getswitchinterval())
        block_s = target_ns / 1e9
        warmup = warmup_share(prof.get("warmup_ms", WARMUP_MS), target_ns)
        blocks = prof["warmups"] * warmup + prof["blocks"] + (CALIBRATION_BLOCKS if r == 0 else 0)
        return prof["processes"] * (blocks * block_s + PROCESS_OVERHEAD_S)

    def round_output(self, r: int) -> str:
        """The record of round ``r`` (written by its batch job; see ``Batch``)."""
        return f"{self.layout.rounds}/{self.label}/{self.scenario}/{self.paramstr}/r{r}.json"

    def round_log(self, r: int) -> str:
        return f"{self.layout.logs}/rounds/{self.label}/{self.scenario}/{self.paramstr}/r{r}.log"

    @property
    def round_indices(self) -> range:
        """The rounds this cell measures (its point's rounds, every ``round_step``-th)."""
        return range(0, self.rounds, self.round_step)

    @property
    def total_processes(self) -> int:
        """Measuring processes over all its rounds."""
        return self.profile["processes"] * len(self.round_indices)

    @property
    def round_outputs(self) -> list[str]:
        return [self.round_output(r) for r in self.round_indices]

    def expected(self) -> dict[str, Any]:
        """The ``expected_cells`` entry of contracts section 5."""
        return {
            "cell_id": self.cell_id,
            "label": self.label,
            "scenario": self.scenario,
            "params": dict(self.params),
        }

    def spec(self, code_hash: str = "") -> dict[str, Any]:
        """What the cell measures; a change here must rerun the cell (a tracked param).

        The timeout is deliberately absent: changing it must not rerun anything.
        """
        return {
            "cell_id": self.cell_id,
            "label": self.label,
            "design": self.design,
            "impl_params": dict(sorted(self.impl_params.items())),
            "scenario": self.scenario,
            "params": dict(sorted(self.params.items())),
            "profile": dict(self.profile),
            "code_hash": code_hash,
            # the measuring processes' python and GIL, when declared (any interpreter's)
            **({"python": self.python, "gil": self.gil}
               if self.python or self.gil != "any" else {}),
        }


def verdict_cell_ids(study: Study, cells: Iterable[Cell]) -> set[str]:
    """The cells a hypothesis comparison or the A/A control decides on (the report's own
    expansion, impl.study.expand): they get the profile's ``verdict_processes``."""
    universe = [c.expected() for c in cells]
    out: set[str] = set()
    for h in [*study.hypotheses, *study.controls]:
        for spec in expand_hypothesis(h, study, universe):
            for label, params in ((spec.a_label, spec.a_params), (spec.b_label, spec.b_params)):
                out |= {u["cell_id"] for u in universe
                        if matches(u, label, spec.scenario, params)}
    return out


def expand(study: Study) -> list[Cell]:
    """Every cell of the study, implementations round-robin (see ``plan_batches`` for the order).

    Each round of a cell runs ``processes / rounds`` processes (the profile's
    ``processes`` is the total per cell); the cells a verdict is decided on
    (``verdict_cell_ids``) run ``verdict_processes / rounds`` (default: the
    same). The latency scenarios' cells are at the primary placement unless
    their grid names others; the answer's points of those scenarios are also
    measured at each secondary placement (``placement.secondary``), for every
    label but the A/A controls.
    """
    prof = study.profile
    where = Layout(prof.name)
    # the profile's run settings are passed to the runner and tracked: changing them reruns cells
    profile = {"name": prof.name, **prof.run_settings()}
    per_label: dict[str, list[Cell]] = {}
    for scenario, entry in study.scenarios.items():
        rounds = prof.rounds_for(scenario)
        per_round, step = split(prof.processes, rounds)
        points = grid_points(study.grid(scenario, measured=True))
        # ids cover resolved params (defaults included), as the runner writes them
        points = [scenarios.get(scenario).resolve_params(p) for p in points]
        extra = study.secondary_points(scenario, points)
        for label in study.labels_for(scenario):
            impl = study.labels[label]
            for point in points + ([] if impl.is_control else extra):
                per_label.setdefault(label, []).append(
                    Cell(
                        label=label,
                        design=impl.design,
                        impl_params=dict(impl.params),
                        scenario=scenario,
                        params=point,
                        timeout_s=float(entry.timeout_s),
                        profile={**profile, "processes": per_round},
                        rounds=rounds,
                        round_step=step,
                        layout=where,
                    )
                )
    ordered: list[Cell] = []
    for row in itertools.zip_longest(*per_label.values()):
        ordered.extend(c for c in row if c is not None)
    primary = study.primary_interpreter
    if primary.executable() or primary.gil is not None:  # e.g. python3.14t as the only one
        ordered = [replace(c, python=primary.executable(), gil=primary.gil_flag)
                   for c in ordered]
    ids = verdict_cell_ids(study, ordered)
    if prof.verdict_processes != prof.processes:
        ordered = [with_processes(c, prof.verdict_processes) if c.cell_id in ids else c
                   for c in ordered]
    return ordered + other_interpreters(study, ordered, ids)


def split(total: int, rounds: int) -> tuple[int, int]:
    """(processes per round, round step) of a cell of ``total`` processes at a point of
    ``rounds`` rounds: ``total / rounds`` in every round, or, with fewer processes than
    rounds, one in every ``rounds / total``-th (round r stays the same stretch of the run
    for every cell of the point, which the verdicts pair processes by:
    impl.report.effects.strata). Raises ValueError when neither divides the other
    (impl.pipeline.config_check refuses such a config first)."""
    if total >= rounds and total % rounds == 0:
        return total // rounds, 1
    if total < rounds and rounds % total == 0:
        return 1, rounds // total
    raise ValueError(f"{rounds} rounds do not split {total} processes evenly")


def splits(total: int, rounds: int) -> bool:
    """Whether ``split`` accepts ``total`` processes over ``rounds`` rounds."""
    try:
        split(total, rounds)
    except ValueError:
        return False
    return True


def with_processes(cell: Cell, total: int) -> Cell:
    """``cell`` measuring ``total`` processes over its point's rounds (``split``)."""
    per_round, step = split(total, cell.rounds)
    return replace(cell, profile={**cell.profile, "processes": per_round}, round_step=step)


def _points_of(cells: list[Cell], workloads: Iterable[Any]) -> set[tuple[str, str]]:
    return {c.point for w in workloads for c in cells
            if matches(c.expected(), c.label, w.scenario, w.params)}


def interpreter_points(study: Study, cells: list[Cell], verdict_ids: set[str]
                       ) -> dict[str, set[tuple[str, str]] | None]:
    """Per ``points`` level of impl.study.interpreters, the points (scenario, paramstr) of the
    primary's ``cells`` it measures (None: all): ``answer``, the answer's workloads;
    ``decided``, those and every point a verdict or the A/A control decides on (the rank
    points of DETAILS.md stay the primary interpreter's)."""
    answer = _points_of(cells, study.workloads)
    decided = answer | {c.point for c in cells if c.cell_id in verdict_ids}
    return {"all": None, "decided": decided, "answer": answer}


def other_interpreters(study: Study, primary: list[Cell], verdict_ids: set[str]) -> list[Cell]:
    """The cells of every interpreter but the primary one that the profile measures
    (``interpreters`` in config.yaml, impl.study.Study.measured_interpreters): the primary's
    cells at the points its ``points`` level names (``interpreter_points``), each with
    ``interpreter=NAME`` among its parameters, its python and GIL. A verdict cell stays one
    (a hypothesis asked of that interpreter decides on the same cells:
    impl.study.hypotheses.for_interpreter) and gets the interpreter's ``verdict_processes``
    if the interpreter asks hypotheses (not at ``points: answer``, nor in a thinned
    profile), the others its ``processes``, never more than the profile's."""
    levels = interpreter_points(study, primary, verdict_ids)
    out: list[Cell] = []
    for it in study.measured_interpreters()[1:]:
        keep = levels[it.points]
        for c in primary:
            if (keep is not None and c.point not in keep) or not it.measures(c.scenario):
                continue
            # the interpreter's processes, never more than the profile's (a thinned profile's
            # are fewer)
            # verdict processes only where this interpreter's verdicts are decided
            verdict = c.cell_id in verdict_ids and it.asks_hypotheses
            total = it.verdict_processes if verdict else it.processes
            if total is not None:
                c = with_processes(c, min(total, c.total_processes))
            out.append(replace(c, params={**c.params, **it.params()}, interpreter=it.name,
                               python=it.executable(), gil=it.gil_flag))
    return out


@dataclass(frozen=True)
class Batch:
    """One job: round ``round`` of every cell at one (scenario, parameter point).

    ``cells`` is the measuring order (a seeded shuffle, new in every round);
    ``priority`` orders the jobs (Snakemake runs higher first): every batch of
    round r before any of round r+1, shuffled inside the round.
    """

    scenario: str
    paramstr: str
    round: int
    cells: tuple[Cell, ...]
    priority: int

    @property
    def layout(self) -> Layout:
        return self.cells[0].layout

    @property
    def wildcard(self) -> str:
        """The point as the batch rule's ``params`` wildcard (``batch_wildcard``)."""
        return batch_wildcard(self.paramstr)

    @property
    def output(self) -> str:
        """The batch's manifest: which record each cell's round is in (see impl.pipeline.batch)."""
        return self.layout.batch_output.format(**self._wildcards)

    @property
    def log(self) -> str:
        return self.layout.batch_log.format(**self._wildcards)

    @property
    def _wildcards(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "params": self.wildcard, "round": self.round}

    @property
    def timeout_s(self) -> float:
        """Per cell (one scenario, so one value): the runner's watchdog limit."""
        return max(c.timeout_s for c in self.cells)

    @property
    def expected_s(self) -> float:
        """Seconds this batch is expected to measure: ``Cell.expected_s`` of each cell."""
        return sum(c.expected_s(self.round) for c in self.cells)

    @property
    def runtime_min(self) -> int:
        """Minutes a cluster job may take for this batch: WALLTIME_FACTOR times its expected
        length, in whole minutes (at least 1).

        A SLURM group job asks for the sum of its batches' runtimes, so this must reflect
        the real length, not every cell's worst case (its timeout, which the runner's
        watchdog enforces per cell): a round of the default study asked for 530 minutes
        for about 6 minutes of work, and a partition capped below that refused it. A job
        that outlives its walltime is killed, noticed (the profiles' status command) and
        redone by a plain rerun, which measures only the cells it did not finish.
        """
        return max(1, math.ceil(WALLTIME_FACTOR * self.expected_s / 60))


def batch_wildcard(paramstr: str) -> str:
    """A point's ``k=v,k=v`` as a wildcard value without commas (``k=v+k=v``).

    A cluster job names its target as ``rule:wildcard=value,...`` (Snakemake's
    ``--target-jobs``) and splits that on commas, so a comma inside a value
    breaks every multi-parameter point on a cluster; the cells' own files keep
    the cell id's commas.
    """
    return paramstr.replace(",", "+")


def plan_batches(cells: Iterable[Cell], seed: int = 1) -> list[Batch]:
    """Every (point, round) batch of ``cells`` with its measuring order and priority."""
    points: dict[tuple[str, str], list[Cell]] = {}
    for c in cells:
        points.setdefault(c.point, []).append(c)
    if not points:
        return []
    rounds = {key: max(c.rounds for c in group) for key, group in points.items()}
    top = max(rounds.values())
    # a point of fewer rounds than the most has its round r in the same stretch of the run:
    # global slot r * top // its rounds
    slots: dict[int, list[tuple[tuple[str, str], int]]] = {}
    for key, n in rounds.items():
        for r in range(n):
            slots.setdefault(r * top // n, []).append((key, r))
    rng = random.Random(seed)
    out: list[Batch] = []
    for g in range(top):
        order = slots.get(g, [])
        rng.shuffle(order)
        for k, (key, r) in enumerate(order):
            inside = [c for c in points[key] if r % c.round_step == 0]
            if not inside:  # every cell of the point skips this round
                continue
            rng.shuffle(inside)
            out.append(Batch(key[0], key[1], r, tuple(inside),
                             priority=(top - g) * len(points) - k))
    return out


def batch_index(batches: Iterable[Batch]) -> dict[tuple[str, str, str], Batch]:
    """Index by the wildcards of the batch rule (scenario, params wildcard, round)."""
    return {(b.scenario, b.wildcard, str(b.round)): b for b in batches}
