"""The answer's workloads and the rank points of config.yaml (``answer``, ``rank_at``).

A workload is a declared point (scenario, parameters, metric) with the counters
that may explain a difference there; the summary's first screen ranks the
designs at each, and DETAILS.md ranks every scenario at one declared point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from impl import contract
from impl.study.errors import HypothesisConfigError
from impl.study.hypotheses import allowed, check_fields

if TYPE_CHECKING:
    from impl.study.model import Study

_ANSWER_KEYS = {"workload", "scenario", "params", "metric", "why"}


@dataclass(frozen=True)
class Workload:
    name: str
    scenario: str
    params: dict
    metric: str
    why: tuple[str, ...]


def _workload(where: str, entry, study: Study, keys: set[str], required: tuple[str, ...],
              name: str) -> Workload:
    """One validated entry of ``answer`` or ``rank_at`` (HypothesisConfigError: one line)."""
    scenarios = study.scenarios
    if not isinstance(entry, dict):
        raise HypothesisConfigError(f"{where}: must be a mapping with {', '.join(required)}")
    check_fields(where, entry, keys, required)
    where = f"{where} ({entry[name]})"
    if entry["scenario"] not in scenarios:
        raise HypothesisConfigError(f"{where}: unknown scenario {entry['scenario']!r}; "
                                    f"allowed: {allowed(scenarios)}")
    times = [m for m, spec in contract.METRICS.items() if spec.family]
    if entry["metric"] not in times:
        raise HypothesisConfigError(f"{where}: metric {entry['metric']!r} is not a time; "
                                    f"allowed: {allowed(times)}")
    params = entry.get("params") or {}
    grid = study.grid(entry["scenario"])
    for key, value in params.items():
        if key not in grid:
            raise HypothesisConfigError(f"{where}: {key!r} is not a grid parameter of "
                                        f"{entry['scenario']!r}; allowed: {allowed(grid)}")
        if isinstance(grid[key], list) and value not in grid[key]:
            raise HypothesisConfigError(f"{where}: {key}={value!r} is not in the grid of "
                                        f"{entry['scenario']!r}; allowed: "
                                        f"{allowed([str(v) for v in grid[key]])}")
    why = tuple(entry.get("why") or ())
    for counter in why:
        if counter not in contract.METRICS or not contract.is_mechanism(counter):
            counters = [m for m in contract.METRICS if contract.is_mechanism(m)]
            raise HypothesisConfigError(f"{where}: {counter!r} in why is not a counter or a "
                                        f"thread role's CPU time; allowed: {allowed(counters)}")
    return Workload(str(entry[name]), entry["scenario"], dict(params), entry["metric"], why)


def parse_workloads(study: Study) -> list[Workload]:
    """The ``answer`` section; HypothesisConfigError (one line) naming the entry and field."""
    raw = study.raw.get("answer") or []
    if not isinstance(raw, list):
        raise HypothesisConfigError("config answer: must be a list of workloads")
    return [_workload(f"config answer[{i}]", entry, study, _ANSWER_KEYS,
                      ("workload", "scenario", "metric"), "workload")
            for i, entry in enumerate(raw)]


_RANK_KEYS = {"scenario", "params", "metric"}


def parse_rank_points(study: Study) -> list[Workload]:
    """Where each scenario is ranked (DETAILS.md): the answer's cells, then config ``rank_at``.

    A scenario is ranked at one declared point (never "the best cell of each
    implementation", which compares different parameters); the answer's
    workloads are points already, ``rank_at`` adds the scenarios they leave out.
    Duplicates (same scenario, params and metric) are kept once.
    """
    raw = study.raw.get("rank_at") or []
    if not isinstance(raw, list):
        raise HypothesisConfigError("config rank_at: must be a list of points")
    points = study.workloads + [
        _workload(f"config rank_at[{i}]", entry, study, _RANK_KEYS, ("scenario", "metric"),
                  "scenario") for i, entry in enumerate(raw)]
    seen, out = set(), []
    for w in points:
        key = (w.scenario, json.dumps(w.params, sort_keys=True), w.metric)
        if key not in seen:
            seen.add(key)
            out.append(w)
    return out
