"""The hypotheses and the A/A control of config.yaml: parse, validate, expand (contracts
section 4).

One validator for both users: the pipeline runs it at start-up (through
``Study.check``, so a bad hypothesis fails before any measuring) and the
summary uses the parsed ``Hypothesis`` objects and their expansion into
comparisons. Nothing here imports numpy or pandas.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from impl import contract
from impl.contract import INTERPRETER_PARAM, param_str
from impl.runner.scenarios import at_primary
from impl.study.errors import HypothesisConfigError

if TYPE_CHECKING:
    from impl.study.model import Study

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


def for_interpreter(h: Hypothesis, name: str | None) -> Hypothesis:
    """``h`` asked of one interpreter's cells (impl.study.interpreters): None or the primary
    interpreter's name keeps it as declared (its cells carry no ``interpreter`` parameter);
    another name pins both sides to that interpreter's cells."""
    if name is None:
        return h
    pin = {INTERPRETER_PARAM: name}
    return replace(h, params={**h.params, **pin}, a_params={**h.a_params, **pin},
                   b_params={**h.b_params, **pin})


def _where(i: int, raw: Any) -> str:
    hid = raw.get("id") if isinstance(raw, dict) else None
    return f"config hypotheses[{i}]" + (f" ({hid})" if hid else "")


def allowed(values: Iterable[Any]) -> str:
    """The allowed values of a one-line error: ``a, b, c`` (``(none)`` if there are none)."""
    return ", ".join(str(v) for v in values) or "(none)"


def check_fields(where: str, raw: Mapping[str, Any], keys: Iterable[str],
                 required: Iterable[str]) -> None:
    """One line (HypothesisConfigError) for the first unknown or missing field of an entry."""
    keys = set(keys)
    unknown = sorted(set(raw) - keys)
    if unknown:
        raise HypothesisConfigError(
            f"{where}: unknown field {unknown[0]!r}; allowed: {allowed(sorted(keys))}")
    for req in required:
        if req not in raw:
            raise HypothesisConfigError(f"{where}: missing field {req!r}")


def suggest(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, else ''."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_label(where: str, fld: str, label: Any, study: Study, scenario: str) -> str:
    if not isinstance(label, str) or not label:
        raise HypothesisConfigError(f"{where}: {fld} must be a label (string), got {label!r}")
    if not study.has("implementations"):
        return label  # a partial config (a test's): nothing to check against
    if label not in study.labels:
        raise HypothesisConfigError(
            f"{where}: unknown label {label!r} in {fld}; allowed: {allowed(study.labels)}"
        )
    spec = study.labels[label]
    if spec.scenarios is not None and scenario not in spec.scenarios:
        raise HypothesisConfigError(
            f"{where}: label {label!r} in {fld} is measured only in scenarios "
            f"{allowed(spec.scenarios)}, not in {scenario!r}"
        )
    run = study.labels_for(scenario)
    if scenario in study.scenarios and label not in run:
        raise HypothesisConfigError(
            f"{where}: label {label!r} in {fld} is not run in scenario {scenario!r}; "
            f"run there: {allowed(run)}"
        )
    return label


#: what a hypothesis's context may show beside its metric: the metrics, and the thread
#: roles' CPU time per op (mechanism values, never compared)
CONTEXT_METRICS = METRICS + contract.CPU_ROLE_METRICS


def _check_metric(where: str, fld: str, metric: Any) -> str:
    known = CONTEXT_METRICS if fld == "context" else METRICS
    if metric not in known:
        raise HypothesisConfigError(
            f"{where}: unknown metric {metric!r} in {fld}; allowed: {allowed(known)}"
        )
    return metric


def check_scenario(where: str, scenario: Any, study: Study) -> str:
    if not isinstance(scenario, str) or not scenario:
        raise HypothesisConfigError(f"{where}: scenario must be a name, got {scenario!r}")
    if study.has("scenarios") and scenario not in study.scenarios:
        raise HypothesisConfigError(
            f"{where}: unknown scenario {scenario!r}; allowed: {allowed(study.scenarios)}"
        )
    return scenario


def as_dict(where: str, fld: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HypothesisConfigError(f"{where}: {fld} must be a mapping, got {value!r}")
    return dict(value)


def threshold(where: str, value: Any, default: float | None = None) -> float:
    """A comparison's practical threshold (0.10 = 10 %), checked; ``default`` when unset."""
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        0 <= value < 10 and math.isfinite(value)
    ):
        raise HypothesisConfigError(
            f"{where}: threshold must be a number in [0, 10) (0.10 = 10%), got {value!r}"
        )
    return float(value)


def parse_hypothesis(i: int, raw: Any, study: Study) -> Hypothesis:
    where = _where(i, raw)
    if not isinstance(raw, dict):
        raise HypothesisConfigError(f"{where}: must be a mapping, got {type(raw).__name__}")
    check_fields(where, raw, _KEYS, ("id", "title", "scenario", "metric", "a", "b", "expect"))
    hid = raw["id"]
    if not isinstance(hid, str) or not _ID.match(hid):
        raise HypothesisConfigError(f"{where}: id must match {_ID.pattern}, got {hid!r}")
    scenario = check_scenario(where, raw["scenario"], study)
    metric = _check_metric(where, "metric", raw["metric"])
    a = _check_label(where, "a", raw["a"], study, scenario)
    bs_raw = raw["b"] if isinstance(raw["b"], list) else [raw["b"]]
    if not bs_raw:
        raise HypothesisConfigError(f"{where}: b must name at least one label")
    bs = tuple(_check_label(where, "b", b, study, scenario) for b in bs_raw)
    expect = raw["expect"]
    if expect not in EXPECTS:
        raise HypothesisConfigError(
            f"{where}: unknown expect {expect!r}; allowed: {allowed(EXPECTS)}"
        )
    params = as_dict(where, "params", raw.get("params"))
    a_params = {**params, **as_dict(where, "a_params", raw.get("a_params"))}
    b_params = {**params, **as_dict(where, "b_params", raw.get("b_params"))}
    if a in bs and a_params == b_params:
        raise HypothesisConfigError(
            f"{where}: a and b are the same label {a!r} with the same params; "
            "compare different labels or set a_params/b_params"
        )
    each = raw.get("each")
    if each is not None:
        grid = study.grid(scenario)
        if not isinstance(each, str):
            raise HypothesisConfigError(f"{where}: each must be a parameter name, got {each!r}")
        if study.has("scenarios") and each not in grid:
            raise HypothesisConfigError(
                f"{where}: each {each!r} is not a grid parameter of scenario {scenario!r}; "
                f"allowed: {allowed(sorted(grid))}"
            )
        if each in a_params or each in b_params:
            raise HypothesisConfigError(
                f"{where}: each {each!r} is also fixed in params/a_params/b_params"
            )
    context = raw.get("context") or []
    if not isinstance(context, list):
        raise HypothesisConfigError(f"{where}: context must be a list of metrics")
    context = tuple(_check_metric(where, "context", c) for c in context)
    rec = as_dict(where, "recommend", raw.get("recommend"))
    bad = sorted(set(rec) - _RECOMMEND_KEYS)
    if bad or not all(isinstance(v, str) for v in rec.values()):
        raise HypothesisConfigError(
            f"{where}: recommend takes text for {allowed(sorted(_RECOMMEND_KEYS))}"
        )
    title = raw["title"]
    if not isinstance(title, str) or not title:
        raise HypothesisConfigError(f"{where}: title must be text")
    return Hypothesis(
        id=hid, title=title, question=str(raw.get("question") or ""), scenario=scenario,
        metric=metric, a=a, b=bs, each=each, params=params, a_params=a_params,
        b_params=b_params, expect=expect,
        threshold=threshold(where, raw.get("threshold"), DEFAULT_THRESHOLD),
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
                    f"allowed keys: {allowed(sorted(_AA_PAIR_KEYS))}")
            out.append((pair["scenario"], pair["metric"],
                        {**as_dict(where, "params", raw.get("params")),
                         **as_dict(here, "params", pair.get("params"))}))
        return out
    if "metric" not in raw:
        raise HypothesisConfigError(f"{where}: missing field 'pairs' (or 'metric')")
    scenarios = raw.get("scenarios", raw.get("scenario"))
    if isinstance(scenarios, str):
        scenarios = [scenarios]
    if not isinstance(scenarios, list) or not scenarios:
        raise HypothesisConfigError(f"{where}: pairs (or scenario/scenarios + metric) is required")
    params = as_dict(where, "params", raw.get("params"))
    return [(sc, raw["metric"], params) for sc in scenarios]


def parse_aa_control(study: Study) -> list[Hypothesis]:
    """The A/A control as hypotheses with expect: different (one per pair)."""
    raw = study.raw.get("aa_control")
    if raw is None:
        return []
    where = "config aa_control"
    if not isinstance(raw, dict):
        raise HypothesisConfigError(f"{where}: must be a mapping with a, b and pairs")
    check_fields(where, raw, _AA_KEYS, ("a", "b"))
    thr = threshold(where, raw.get("threshold"), DEFAULT_THRESHOLD)
    out = []
    families: dict[str, str] = {}
    pairs = aa_pairs(raw, where)
    for i, (sc, metric, params) in enumerate(pairs):
        here = f"{where}.pairs[{i}]" if "pairs" in raw else where
        sc = check_scenario(here, sc, study)
        if metric not in METRICS or contract.METRICS[metric].family is None:
            raise HypothesisConfigError(
                f"{here}: metric {metric!r} is not a time with a noise family; allowed: "
                f"{allowed(m for m in METRICS if contract.METRICS[m].family)}")
        family = contract.METRICS[metric].family
        if family in families:
            raise HypothesisConfigError(
                f"{here}: a second {family} pair ({families[family]} is the first); "
                "one A/A pair per metric family: latency, throughput")
        families[family] = f"pairs[{i}]" if "pairs" in raw else f"scenario {sc!r}"
        a = _check_label(here, "a", raw["a"], study, sc)
        b = _check_label(here, "b", raw["b"], study, sc)
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


def parse_alpha(alpha: Any) -> float:
    """Config ``alpha``, the family-wise error rate of the verdicts, checked."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise HypothesisConfigError(f"config alpha: must be a number in (0, 1), got {alpha!r}")
    return float(alpha)


def parse_hypotheses(study: Study) -> list[Hypothesis]:
    """The hypotheses section, validated (HypothesisConfigError: one line)."""
    raw = study.raw.get("hypotheses") or []
    if not isinstance(raw, list):
        raise HypothesisConfigError("config hypotheses: must be a list")
    hyps = [parse_hypothesis(i, h, study) for i, h in enumerate(raw)]
    seen: set[str] = set()
    for h in hyps:
        if h.id in seen:
            raise HypothesisConfigError(f"config hypotheses: duplicate id {h.id!r}")
        seen.add(h.id)
    return hyps


@dataclass
class ComparisonSpec:
    hypothesis: str
    key: str
    a_label: str
    b_label: str
    scenario: str
    metric: str
    a_params: dict
    b_params: dict
    each: str | None
    each_value: Any
    expect: str
    threshold: float


# ---------------------------------------------------------------- expansion


def matches(cell: Mapping[str, Any], label: str, scenario: str, params: Mapping[str, Any]
            ) -> bool:
    """The cell is ``label`` in ``scenario`` at ``params``; a parameter with a primary level
    (placement: same_core, impl.runner.scenarios.primary_params) that ``params`` does not
    name means that level: a secondary cell (cross_core) is matched only by name; so is a
    cell of an interpreter other than the primary one (``interpreter``)."""
    if cell["label"] != label or cell["scenario"] != scenario:
        return False
    cp = cell.get("params") or {}
    if INTERPRETER_PARAM in cp and INTERPRETER_PARAM not in params:
        return False  # another interpreter's cell (impl.study.interpreters): only by name
    return at_primary(scenario, cp, named=params) and all(
        k in cp and cp[k] == v for k, v in params.items())


def each_values(h: Hypothesis, study: Study, universe: list[dict]) -> list:
    """The values of ``each`` that this run planned or measured.

    The cells of the run (planned, measured or failed) come first: a thinned
    grid (the quick profile) must not turn the grid's other values into
    "missing" cells. The config grid is only the fallback when the run knows
    no cells at all for the hypothesis.
    """
    seen = []
    for c in universe:
        if matches(c, h.a, h.scenario, h.a_params) and h.each in (c.get("params") or {}):
            v = c["params"][h.each]
            if v not in seen:
                seen.append(v)
    if not seen:
        grid = study.grid(h.scenario)
        if h.each in grid:
            vals = grid[h.each]
            return list(vals) if isinstance(vals, list) else [vals]
    try:
        return sorted(seen)
    except TypeError:
        return seen


def expand(h: Hypothesis, study: Study, universe: list[dict]) -> list[ComparisonSpec]:
    """One comparison per b label and (with ``each``) per value of that parameter.

    The A/A control compares every cell of its ``a`` label in the scenario with
    the ``b`` cell of identical params.
    """
    if h.is_control:
        out = []
        for c in sorted(universe, key=lambda c: c["cell_id"]):
            if matches(c, h.a, h.scenario, h.a_params):
                p = dict(c.get("params") or {})
                key = f"{h.id}: {h.a} vs {h.b[0]}" + (f" @ {param_str(p)}" if p else "")
                out.append(ComparisonSpec(h.id, key, h.a, h.b[0], h.scenario, h.metric, p, p,
                                          None, None, h.expect, h.threshold))
        return out
    values = each_values(h, study, universe) if h.each else [None]
    out = []
    for b in h.b:
        for v in values:
            extra = {h.each: v} if h.each else {}
            ap, bp = {**h.a_params, **extra}, {**h.b_params, **extra}
            side = f"{h.a}" + (f"[{param_str(h.a_params)}]" if h.a_params != h.b_params else "")
            bside = f"{b}" + (f"[{param_str(h.b_params)}]" if h.a_params != h.b_params else "")
            key = f"{h.id}: {side} vs {bside}" + (f" @ {h.each}={v}" if h.each else "")
            out.append(ComparisonSpec(h.id, key, h.a, b, h.scenario, h.metric, ap, bp,
                                      h.each, v, h.expect, h.threshold))
    return out
