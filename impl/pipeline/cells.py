"""Expand the config into cells (label, scenario, parameter point) and their rounds.

Everything Snakemake needs per cell (id, file names, the runner's arguments,
the timeout, the scheduling priority of each round) is computed here once, so
the Snakefile only looks values up and the expansion can be unit-tested
without Snakemake.

A cell's processes (the replicates) are measured in ``rounds`` of
``processes / rounds`` fresh processes each. One job (a ``Batch``) measures one
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

import hashlib
import importlib.util
import itertools
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from impl.contract import (
    LOGS_DIR,
    PLOTS_DIR,
    REPORT_DIR,
    RESULTS_DIR,
    cell_id,
    details_name,
    param_str,
)
from impl.pipeline.progress import PROGRESS_NAME
from impl.runner import placement, scenarios
from impl.runner.request import PROFILE_SETTINGS

#: the profile whose summary is report/SUMMARY.md; any other profile's goes to report/NAME/
MAIN_PROFILE = "full"
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

    @property
    def progress(self) -> str:
        """When this run started and how many cell rounds it has (impl/pipeline/progress.py)."""
        return f"{self.results}/{PROGRESS_NAME}"

    @property
    def plots(self) -> str:
        """The summary's plots (a folder inside the report folder)."""
        return f"{self.report}/{PLOTS_DIR}"


#: scenario requirement: only designs whose capabilities declare budget parameters
REQUIRES_BUDGET = "budget_params"


@dataclass(frozen=True)
class Cell:
    label: str
    design: str
    impl_params: dict[str, Any]
    scenario: str
    params: dict[str, Any]
    timeout_s: float
    profile: dict[str, Any] = field(default_factory=dict)
    rounds: int = 1
    layout: Layout = Layout(MAIN_PROFILE)

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

    def round_output(self, r: int) -> str:
        """The record of round ``r`` (written by its batch job; see ``Batch``)."""
        return f"{self.layout.rounds}/{self.label}/{self.scenario}/{self.paramstr}/r{r}.json"

    def round_log(self, r: int) -> str:
        return f"{self.layout.logs}/rounds/{self.label}/{self.scenario}/{self.paramstr}/r{r}.log"

    @property
    def round_outputs(self) -> list[str]:
        return [self.round_output(r) for r in range(self.rounds)]

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
        }


def _grid_points(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    keys = sorted(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(
        *(grid[k] for k in keys)
    )]


def profile_settings(config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    name = config.get("profile", MAIN_PROFILE)
    return name, dict(config["profiles"][name])


def layout(config: Mapping[str, Any]) -> Layout:
    return Layout(profile_settings(config)[0])


def rounds_of(prof: Mapping[str, Any]) -> int:
    """How many rounds a profile splits each cell's processes into (default: 1)."""
    return int(prof.get("rounds", 1))


def scenario_grid(config: Mapping[str, Any], scenario: str) -> dict[str, list[Any]]:
    """The grid of ``scenario`` under the active profile (thinned in ``quick``)."""
    _, prof = profile_settings(config)
    entry = config["scenarios"][scenario]
    if prof.get("thinned") and "quick_grid" in entry:
        return dict(entry["quick_grid"])
    return dict(entry.get("grid", {}))


def labels_for(
    config: Mapping[str, Any], scenario: str, budget_designs: Iterable[str]
) -> list[str]:
    """Labels measured in ``scenario``, in config order.

    A control label (``control_of``) is measured only in the scenarios its
    entry lists; a scenario's ``labels`` list restricts the others; a
    ``requires: budget_params`` scenario keeps only designs that have them.
    """
    entry = config["scenarios"][scenario]
    budget_designs = set(budget_designs)
    chosen = []
    for label, impl in config["implementations"].items():
        if impl.get("control_of") or "scenarios" in impl:
            # controls (and labels that list scenarios) run only where they say
            if scenario not in impl.get("scenarios", []):
                continue
        elif "labels" in entry and label not in entry["labels"]:
            continue
        if entry.get("requires") == REQUIRES_BUDGET and impl["design"] not in budget_designs:
            continue
        chosen.append(label)
    return chosen


def secondary_placements(config: Mapping[str, Any]) -> list[str]:
    """The placements measured beside the primary one at the answer's points (config
    ``placement.secondary``), less those this machine cannot give (``placement_skipped``)."""
    levels = list((config.get("placement") or {}).get("secondary") or [])
    return [lv for lv in levels if placement.unavailable(lv) is None]


def placement_skipped(config: Mapping[str, Any]) -> str | None:
    """One line when a declared secondary placement cannot be measured here, else None."""
    for level in (config.get("placement") or {}).get("secondary") or []:
        why = placement.unavailable(level)
        if why:
            return f"{level} cells skipped: {why}; the summary reports the other placements"
    return None


def _secondary_points(config: Mapping[str, Any], scenario: str,
                      points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The grid points of ``scenario`` that an answer entry names, at each secondary placement."""
    if placement.PARAM not in scenarios.get(scenario).params:
        return []
    wanted = [dict(w.get("params") or {}) for w in config.get("answer") or []
              if w.get("scenario") == scenario]
    out: list[dict[str, Any]] = []
    for level in secondary_placements(config):
        for p in points:
            if p.get(placement.PARAM) != placement.PRIMARY:
                continue
            if any(all(p.get(k) == v for k, v in w.items()) for w in wanted):
                q = {**p, placement.PARAM: level}
                if q not in points and q not in out:
                    out.append(q)
    return out


def verdict_cell_ids(config: Mapping[str, Any], cells: Iterable[Cell]) -> set[str]:
    """The cells a hypothesis comparison or the A/A control decides on (the report's own
    expansion, impl.report.hypotheses): they get the profile's ``verdict_processes``."""
    from impl.report.hypotheses import expand as expand_hypothesis
    from impl.report.hypotheses import matches, parse_aa_control, parse_hypotheses

    universe = [c.expected() for c in cells]
    out: set[str] = set()
    for h in [*parse_hypotheses(dict(config)), *parse_aa_control(dict(config))]:
        for spec in expand_hypothesis(h, dict(config), universe):
            for label, params in ((spec.a_label, spec.a_params), (spec.b_label, spec.b_params)):
                out |= {u["cell_id"] for u in universe
                        if matches(u, label, spec.scenario, params)}
    return out


def expand(config: Mapping[str, Any], budget_designs: Iterable[str] = ()) -> list[Cell]:
    """Every cell of the study, implementations round-robin (see ``plan_batches`` for the order).

    Each round of a cell runs ``processes / rounds`` processes (the profile's
    ``processes`` is the total per cell); the cells a verdict is decided on
    (``verdict_cell_ids``) run ``verdict_processes / rounds`` (default: the
    same). The latency scenarios' cells are at the primary placement unless
    their grid names others; the answer's points of those scenarios are also
    measured at each secondary placement (``placement.secondary``), for every
    label but the A/A controls.
    """
    budget_designs = list(budget_designs)
    prof_name, prof = profile_settings(config)
    rounds = rounds_of(prof)
    where = Layout(prof_name)
    # the profile's run settings are passed to the runner and tracked: changing them reruns cells
    profile = {"name": prof_name, **{k: prof[k] for k in PROFILE_SETTINGS if k in prof}}
    profile["processes"] = int(prof["processes"]) // rounds  # per round
    controls = {k for k, v in config["implementations"].items() if v.get("control_of")}
    per_label: dict[str, list[Cell]] = {}
    for scenario, entry in config["scenarios"].items():
        points = _grid_points(scenario_grid(config, scenario))
        # ids cover resolved params (defaults included), as the runner writes them
        points = [scenarios.get(scenario).resolve_params(p) for p in points]
        extra = _secondary_points(config, scenario, points)
        for label in labels_for(config, scenario, budget_designs):
            impl = config["implementations"][label]
            for point in points + ([] if label in controls else extra):
                per_label.setdefault(label, []).append(
                    Cell(
                        label=label,
                        design=impl["design"],
                        impl_params=dict(impl.get("params", {})),
                        scenario=scenario,
                        params=point,
                        timeout_s=float(entry["timeout_s"]),
                        profile=profile,
                        rounds=rounds,
                        layout=where,
                    )
                )
    ordered: list[Cell] = []
    for row in itertools.zip_longest(*per_label.values()):
        ordered.extend(c for c in row if c is not None)
    verdict = int(prof.get("verdict_processes", prof["processes"]))
    if verdict != int(prof["processes"]):
        ids = verdict_cell_ids(config, ordered)
        more = {**profile, "processes": verdict // rounds}
        ordered = [replace(c, profile=more) if c.cell_id in ids else c for c in ordered]
    return ordered


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
        return f"{self.layout.batches}/{self.scenario}/{self.wildcard}/r{self.round}.json"

    @property
    def log(self) -> str:
        return f"{self.layout.logs}/batches/{self.scenario}/{self.wildcard}/r{self.round}.log"

    @property
    def timeout_s(self) -> float:
        """Per cell (one scenario, so one value): the runner's watchdog limit."""
        return max(c.timeout_s for c in self.cells)

    @property
    def runtime_min(self) -> int:
        """Minutes a cluster job may take: each cell's timeout plus the wrapper's backstop."""
        from impl.pipeline.cell_wrapper import default_grace

        per_cell = self.timeout_s + default_grace(self.timeout_s)
        return int(len(self.cells) * per_cell) // 60 + 2


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
    rounds = max(c.rounds for group in points.values() for c in group)
    keys = list(points)
    rng = random.Random(seed)
    out: list[Batch] = []
    for r in range(rounds):
        order = list(keys)
        rng.shuffle(order)
        for k, key in enumerate(order):
            inside = list(points[key])
            rng.shuffle(inside)
            out.append(Batch(key[0], key[1], r, tuple(inside),
                             priority=(rounds - r) * len(keys) - k))
    return out


def batch_index(batches: Iterable[Batch]) -> dict[tuple[str, str, str], Batch]:
    """Index by the wildcards of the batch rule (scenario, params wildcard, round)."""
    return {(b.scenario, b.wildcard, str(b.round)): b for b in batches}


# --- source hashing (invalidation) -------------------------------------------------------

def module_file(module: str) -> Path | None:
    """The source file of a dotted module name, found without importing the module itself."""
    parts = module.split(".")
    spec = importlib.util.find_spec(parts[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations)))
    rel = Path(*parts[1:]) if len(parts) > 1 else Path()
    for candidate in (base / rel.with_suffix(".py") if parts[1:] else None,
                      base / rel / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def hash_files(paths: Iterable[Path | None], names: Iterable[str]) -> str:
    """sha256 over (name, content) pairs; a missing file hashes as absent, not as an error."""
    digest = hashlib.sha256()
    for name, path in zip(names, paths, strict=True):
        digest.update(name.encode() + b"\0")
        if path is not None and path.is_file():
            digest.update(path.read_bytes())
        else:
            digest.update(b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()


def code_hash(design_modules: Iterable[str], scenario: str) -> str:
    """Content hash of what a cell's numbers depend on: the design's modules + the scenario's.

    Content (not mtime) so a checkout or ``touch`` reruns nothing; per design
    and per scenario so editing one reruns only its cells. The runner's core
    is deliberately left out (docs/pipeline.md, "What reruns a cell"): rerun on purpose with
    ``--forcerun cell`` after changing how the runner measures.
    """
    modules = sorted(set(design_modules)) + [f"impl.runner.scenarios.{scenario}"]
    return hash_files((module_file(m) for m in modules), modules)[:16]


def summary_digest(config: Mapping[str, Any]) -> str:
    """Hash of what the summary reads besides the data: the config's decision parts + impl.report.

    A tracked param of the summary rule, so editing a hypothesis, alpha or
    the renderer re-renders the summary (cheap) without remeasuring anything.
    """
    keys = ("hypotheses", "aa_control", "alpha", "implementations", "answer")
    parts = {k: config.get(k) for k in keys}
    # timeouts are not part of what the summary says (changing one reruns nothing)
    parts["scenarios"] = {
        name: {k: v for k, v in entry.items() if k != "timeout_s"}
        for name, entry in config.get("scenarios", {}).items()
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    report = module_file("impl.report")
    if report is not None:
        for path in sorted(report.parent.rglob("*")):
            if path.is_file() and path.suffix in {".py", ".md", ".j2", ".jinja", ".txt"}:
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
