"""The hypotheses section of config.yaml: parse and validate (contracts section 4).

One validator for both users: the pipeline runs it at start-up (so a bad
hypothesis fails before any measuring) and the summary uses the parsed
``Hypothesis`` objects. Nothing here imports numpy or pandas.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from impl import contract

EXPECTS = ("greater", "less", "different")
#: a comparison's practical threshold unless the config says otherwise (asv: 10 %)
DEFAULT_THRESHOLD = 0.10
#: the metrics a hypothesis may compare: the measured times, then the counters
METRICS = tuple(
    sorted(m for m in contract.METRICS if not contract.is_counter(m) and not contract.is_env(m))
) + tuple(m for m in contract.METRICS if contract.is_counter(m))
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_KEYS = {
    "id", "title", "question", "scenario", "metric", "a", "b", "each", "params",
    "a_params", "b_params", "expect", "threshold", "context", "recommend",
}
_AA_KEYS = {"a", "b", "scenario", "scenarios", "metric", "params", "threshold", "pairs"}
_AA_PAIR_KEYS = {"scenario", "metric", "params"}
_RECOMMEND_KEYS = {"validated", "rejected", "mixed", "needs_retest"}


class HypothesisConfigError(ValueError):
    """A one-line message naming the hypothesis, the field and the allowed values."""


@dataclass(frozen=True)
class Hypothesis:
    id: str
    title: str
    question: str
    scenario: str
    metric: str
    a: str
    b: tuple[str, ...]
    each: str | None
    params: dict
    a_params: dict
    b_params: dict
    expect: str
    threshold: float
    context: tuple[str, ...]
    recommend: dict
    is_control: bool = False


def _where(i: int, raw: Any) -> str:
    hid = raw.get("id") if isinstance(raw, dict) else None
    return f"config hypotheses[{i}]" + (f" ({hid})" if hid else "")


def _allowed(values) -> str:
    return ", ".join(str(v) for v in values) or "(none)"


def _grid(config: dict, scenario: str) -> dict | None:
    sc = (config.get("scenarios") or {}).get(scenario)
    if isinstance(sc, dict) and isinstance(sc.get("grid"), dict):
        return sc["grid"]
    return None


def _scenario_labels(config: dict, scenario: str) -> list[str] | None:
    sc = (config.get("scenarios") or {}).get(scenario)
    if isinstance(sc, dict):
        for key in ("labels", "implementations"):
            if isinstance(sc.get(key), list):
                return [str(x) for x in sc[key]]
    return None


def _check_label(where: str, fld: str, label: Any, config: dict, scenario: str) -> str:
    impls = config.get("implementations")
    if not isinstance(label, str) or not label:
        raise HypothesisConfigError(f"{where}: {fld} must be a label (string), got {label!r}")
    if isinstance(impls, dict) and label not in impls:
        raise HypothesisConfigError(
            f"{where}: unknown label {label!r} in {fld}; allowed: {_allowed(impls)}"
        )
    spec = impls.get(label) if isinstance(impls, dict) else None
    if isinstance(spec, dict) and isinstance(spec.get("scenarios"), list) and (
        scenario not in spec["scenarios"]
    ):
        raise HypothesisConfigError(
            f"{where}: label {label!r} in {fld} is measured only in scenarios "
            f"{_allowed(spec['scenarios'])}, not in {scenario!r}"
        )
    run = _scenario_labels(config, scenario)
    if run is not None and label not in run:
        raise HypothesisConfigError(
            f"{where}: label {label!r} in {fld} is not run in scenario {scenario!r}; "
            f"run there: {_allowed(run)}"
        )
    return label


#: what a hypothesis's context may show beside its metric: the metrics, and the thread
#: roles' CPU time per op (mechanism values, never compared)
CONTEXT_METRICS = METRICS + contract.CPU_ROLE_METRICS


def _check_metric(where: str, fld: str, metric: Any) -> str:
    allowed = CONTEXT_METRICS if fld == "context" else METRICS
    if metric not in allowed:
        raise HypothesisConfigError(
            f"{where}: unknown metric {metric!r} in {fld}; allowed: {_allowed(allowed)}"
        )
    return metric


def _check_scenario(where: str, scenario: Any, config: dict) -> str:
    scs = config.get("scenarios")
    if not isinstance(scenario, str) or not scenario:
        raise HypothesisConfigError(f"{where}: scenario must be a name, got {scenario!r}")
    if isinstance(scs, dict) and scenario not in scs:
        raise HypothesisConfigError(
            f"{where}: unknown scenario {scenario!r}; allowed: {_allowed(scs)}"
        )
    return scenario


def _dict(where: str, fld: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HypothesisConfigError(f"{where}: {fld} must be a mapping, got {value!r}")
    return dict(value)


def _threshold(where: str, value: Any, default: float | None = None) -> float:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        0 <= value < 10 and math.isfinite(value)
    ):
        raise HypothesisConfigError(
            f"{where}: threshold must be a number in [0, 10) (0.10 = 10%), got {value!r}"
        )
    return float(value)


def parse_hypothesis(i: int, raw: Any, config: dict) -> Hypothesis:
    where = _where(i, raw)
    if not isinstance(raw, dict):
        raise HypothesisConfigError(f"{where}: must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise HypothesisConfigError(
            f"{where}: unknown field {unknown[0]!r}; allowed: {_allowed(sorted(_KEYS))}"
        )
    for req in ("id", "title", "scenario", "metric", "a", "b", "expect"):
        if req not in raw:
            raise HypothesisConfigError(f"{where}: missing field {req!r}")
    hid = raw["id"]
    if not isinstance(hid, str) or not _ID.match(hid):
        raise HypothesisConfigError(f"{where}: id must match {_ID.pattern}, got {hid!r}")
    scenario = _check_scenario(where, raw["scenario"], config)
    metric = _check_metric(where, "metric", raw["metric"])
    a = _check_label(where, "a", raw["a"], config, scenario)
    bs_raw = raw["b"] if isinstance(raw["b"], list) else [raw["b"]]
    if not bs_raw:
        raise HypothesisConfigError(f"{where}: b must name at least one label")
    bs = tuple(_check_label(where, "b", b, config, scenario) for b in bs_raw)
    expect = raw["expect"]
    if expect not in EXPECTS:
        raise HypothesisConfigError(
            f"{where}: unknown expect {expect!r}; allowed: {_allowed(EXPECTS)}"
        )
    params = _dict(where, "params", raw.get("params"))
    a_params = {**params, **_dict(where, "a_params", raw.get("a_params"))}
    b_params = {**params, **_dict(where, "b_params", raw.get("b_params"))}
    if a in bs and a_params == b_params:
        raise HypothesisConfigError(
            f"{where}: a and b are the same label {a!r} with the same params; "
            "compare different labels or set a_params/b_params"
        )
    each = raw.get("each")
    if each is not None:
        grid = _grid(config, scenario)
        if not isinstance(each, str):
            raise HypothesisConfigError(f"{where}: each must be a parameter name, got {each!r}")
        if grid is not None and each not in grid:
            raise HypothesisConfigError(
                f"{where}: each {each!r} is not a grid parameter of scenario {scenario!r}; "
                f"allowed: {_allowed(sorted(grid))}"
            )
        if each in a_params or each in b_params:
            raise HypothesisConfigError(
                f"{where}: each {each!r} is also fixed in params/a_params/b_params"
            )
    context = raw.get("context") or []
    if not isinstance(context, list):
        raise HypothesisConfigError(f"{where}: context must be a list of metrics")
    context = tuple(_check_metric(where, "context", c) for c in context)
    rec = _dict(where, "recommend", raw.get("recommend"))
    bad = sorted(set(rec) - _RECOMMEND_KEYS)
    if bad or not all(isinstance(v, str) for v in rec.values()):
        raise HypothesisConfigError(
            f"{where}: recommend takes text for {_allowed(sorted(_RECOMMEND_KEYS))}"
        )
    title = raw["title"]
    if not isinstance(title, str) or not title:
        raise HypothesisConfigError(f"{where}: title must be text")
    return Hypothesis(
        id=hid, title=title, question=str(raw.get("question") or ""), scenario=scenario,
        metric=metric, a=a, b=bs, each=each, params=params, a_params=a_params,
        b_params=b_params, expect=expect,
        threshold=_threshold(where, raw.get("threshold"), DEFAULT_THRESHOLD),
        context=context, recommend=rec,
    )


def aa_pairs(raw: dict, where: str = "config aa_control") -> list[tuple[str, str, dict]]:
    """(scenario, metric, params) of each A/A pair: ``pairs: [...]`` or one metric's scenarios.

    One pair per metric family the hypotheses use (methodology.md, "Verdicts"):
    e.g. ``pairs: [{scenario: round_trip, metric: latency_ns}, {scenario:
    burst_throughput, metric: ns_per_op}]``. The shorthand ``scenario`` (or
    ``scenarios``) + ``metric`` makes one pair per scenario with that metric.
    """
    if "pairs" in raw:
        if any(k in raw for k in ("scenario", "scenarios", "metric")):
            raise HypothesisConfigError(f"{where}: give pairs or scenario(s) + metric, not both")
        pairs = raw["pairs"]
        if not isinstance(pairs, list) or not pairs:
            raise HypothesisConfigError(f"{where}: pairs must be a non-empty list of "
                                        "{scenario, metric[, params]}")
        out = []
        for i, pair in enumerate(pairs):
            here = f"{where}.pairs[{i}]"
            if not isinstance(pair, dict) or not {"scenario", "metric"} <= set(pair) or (
                    set(pair) - _AA_PAIR_KEYS):
                raise HypothesisConfigError(
                    f"{here}: must be a mapping with scenario, metric and optional params; "
                    f"allowed keys: {_allowed(sorted(_AA_PAIR_KEYS))}")
            out.append((pair["scenario"], pair["metric"],
                        {**_dict(where, "params", raw.get("params")),
                         **_dict(here, "params", pair.get("params"))}))
        return out
    if "metric" not in raw:
        raise HypothesisConfigError(f"{where}: missing field 'pairs' (or 'metric')")
    scenarios = raw.get("scenarios", raw.get("scenario"))
    if isinstance(scenarios, str):
        scenarios = [scenarios]
    if not isinstance(scenarios, list) or not scenarios:
        raise HypothesisConfigError(f"{where}: pairs (or scenario/scenarios + metric) is required")
    params = _dict(where, "params", raw.get("params"))
    return [(sc, raw["metric"], params) for sc in scenarios]


def parse_aa_control(config: dict) -> list[Hypothesis]:
    """The A/A control as hypotheses with expect: different (one per pair)."""
    raw = config.get("aa_control")
    if raw is None:
        return []
    where = "config aa_control"
    if not isinstance(raw, dict):
        raise HypothesisConfigError(f"{where}: must be a mapping with a, b and pairs")
    unknown = sorted(set(raw) - _AA_KEYS)
    if unknown:
        raise HypothesisConfigError(
            f"{where}: unknown field {unknown[0]!r}; allowed: {_allowed(sorted(_AA_KEYS))}"
        )
    for req in ("a", "b"):
        if req not in raw:
            raise HypothesisConfigError(f"{where}: missing field {req!r}")
    thr = _threshold(where, raw.get("threshold"), DEFAULT_THRESHOLD)
    out = []
    families: dict[str, str] = {}
    pairs = aa_pairs(raw, where)
    for i, (sc, metric, params) in enumerate(pairs):
        here = f"{where}.pairs[{i}]" if "pairs" in raw else where
        sc = _check_scenario(here, sc, config)
        if metric not in METRICS or contract.METRICS[metric].family is None:
            raise HypothesisConfigError(
                f"{here}: metric {metric!r} is not a time with a noise family; allowed: "
                f"{_allowed(m for m in METRICS if contract.METRICS[m].family)}")
        family = contract.METRICS[metric].family
        if family in families:
            raise HypothesisConfigError(
                f"{here}: a second {family} pair ({families[family]} is the first); "
                "one A/A pair per metric family: latency, throughput")
        families[family] = f"pairs[{i}]" if "pairs" in raw else f"scenario {sc!r}"
        a = _check_label(here, "a", raw["a"], config, sc)
        b = _check_label(here, "b", raw["b"], config, sc)
        if a == b:
            raise HypothesisConfigError(f"{where}: a and b must be two labels, got {a!r} twice")
        out.append(Hypothesis(
            id=f"A/A {sc} {metric}", title=f"A/A control ({a} vs {b}, {metric})", question="",
            scenario=sc, metric=metric, a=a, b=(b,), each=None, params=params, a_params=params,
            b_params=params, expect="different", threshold=thr, context=(), recommend={},
            is_control=True,
        ))
    ids = [h.id for h in out]
    if len(set(ids)) != len(ids):
        raise HypothesisConfigError(f"{where}: a scenario and metric pair is listed twice")
    return out


def control_labels(config: dict) -> set[str]:
    """The A/A control labels (``control_of``): noise checks, never contenders."""
    return {label for label, v in (config.get("implementations") or {}).items()
            if isinstance(v, dict) and v.get("control_of")}


def parse_alpha(config: dict) -> float:
    alpha = config.get("alpha", 0.05)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise HypothesisConfigError(f"config alpha: must be a number in (0, 1), got {alpha!r}")
    return float(alpha)


def parse_hypotheses(config: dict) -> list[Hypothesis]:
    """Validate the hypotheses section; the pipeline may call this at startup."""
    raw = config.get("hypotheses") or []
    if not isinstance(raw, list):
        raise HypothesisConfigError("config hypotheses: must be a list")
    hyps = [parse_hypothesis(i, h, config) for i, h in enumerate(raw)]
    seen: set[str] = set()
    for h in hyps:
        if h.id in seen:
            raise HypothesisConfigError(f"config hypotheses: duplicate id {h.id!r}")
        seen.add(h.id)
    parse_aa_control(config)
    parse_alpha(config)
    return hyps


# ---------------------------------------------------------------- the answer section


_ANSWER_KEYS = {"workload", "scenario", "params", "metric", "why"}


@dataclass(frozen=True)
class Workload:
    name: str
    scenario: str
    params: dict
    metric: str
    why: tuple[str, ...]


def _workload(where: str, entry, config: dict, keys: set[str], required: tuple[str, ...],
              name: str) -> Workload:
    """One validated entry of ``answer`` or ``rank_at`` (HypothesisConfigError: one line)."""
    scenarios = config.get("scenarios") or {}
    if not isinstance(entry, dict):
        raise HypothesisConfigError(f"{where}: must be a mapping with {', '.join(required)}")
    unknown = sorted(set(entry) - keys)
    if unknown:
        raise HypothesisConfigError(f"{where}: unknown field {unknown[0]!r}; allowed: "
                                    f"{_allowed(sorted(keys))}")
    for req in required:
        if req not in entry:
            raise HypothesisConfigError(f"{where}: missing field {req!r}")
    where = f"{where} ({entry[name]})"
    if entry["scenario"] not in scenarios:
        raise HypothesisConfigError(f"{where}: unknown scenario {entry['scenario']!r}; "
                                    f"allowed: {_allowed(scenarios)}")
    times = [m for m, spec in contract.METRICS.items() if spec.family]
    if entry["metric"] not in times:
        raise HypothesisConfigError(f"{where}: metric {entry['metric']!r} is not a time; "
                                    f"allowed: {_allowed(times)}")
    params = entry.get("params") or {}
    grid = _grid(config, entry["scenario"]) or {}
    for key, value in params.items():
        if key not in grid:
            raise HypothesisConfigError(f"{where}: {key!r} is not a grid parameter of "
                                        f"{entry['scenario']!r}; allowed: {_allowed(grid)}")
        if isinstance(grid[key], list) and value not in grid[key]:
            raise HypothesisConfigError(f"{where}: {key}={value!r} is not in the grid of "
                                        f"{entry['scenario']!r}; allowed: "
                                        f"{_allowed([str(v) for v in grid[key]])}")
    why = tuple(entry.get("why") or ())
    for counter in why:
        if counter not in contract.METRICS or not contract.is_mechanism(counter):
            counters = [m for m in contract.METRICS if contract.is_mechanism(m)]
            raise HypothesisConfigError(f"{where}: {counter!r} in why is not a counter or a "
                                        f"thread role's CPU time; allowed: {_allowed(counters)}")
    return Workload(str(entry[name]), entry["scenario"], dict(params), entry["metric"], why)


def parse_workloads(config: dict) -> list[Workload]:
    """The ``answer`` section; HypothesisConfigError (one line) naming the entry and field."""
    raw = config.get("answer") or []
    if not isinstance(raw, list):
        raise HypothesisConfigError("config answer: must be a list of workloads")
    return [_workload(f"config answer[{i}]", entry, config, _ANSWER_KEYS,
                      ("workload", "scenario", "metric"), "workload")
            for i, entry in enumerate(raw)]


_RANK_KEYS = {"scenario", "params", "metric"}


def parse_rank_points(config: dict) -> list[Workload]:
    """Where each scenario is ranked (DETAILS.md): the answer's cells, then config ``rank_at``.

    A scenario is ranked at one declared point (issue 12: never "the best cell of
    each implementation", which compares different parameters); the answer's
    workloads are points already, ``rank_at`` adds the scenarios they leave out.
    Duplicates (same scenario, params and metric) are kept once.
    """
    raw = config.get("rank_at") or []
    if not isinstance(raw, list):
        raise HypothesisConfigError("config rank_at: must be a list of points")
    points = parse_workloads(config) + [
        _workload(f"config rank_at[{i}]", entry, config, _RANK_KEYS, ("scenario", "metric"),
                  "scenario") for i, entry in enumerate(raw)]
    seen, out = set(), []
    for w in points:
        key = (w.scenario, json.dumps(w.params, sort_keys=True), w.metric)
        if key not in seen:
            seen.add(key)
            out.append(w)
    return out
