"""Hypotheses from config (contracts section 4): parse, validate, expand, decide.

Verdicts follow methodology.md "Verdicts". Where it leaves room, the
decisions are written down here and in the summary's methodology section:

* quality first: a comparison whose cells failed, are missing, have fewer
  than 6 block samples, are unstable, or were measured on different hosts or
  code versions is NEEDS RETEST whatever its numbers say; a hypothesis with
  any such comparison is NEEDS RETEST too (even if another one is rejected);
* directional expectations (greater/less): REJECTED when the whole interval
  lies on the non-predicted side of the threshold (inside the band, beyond it
  in the opposite direction, or spanning both); ``different``: REJECTED only
  when the interval lies inside [1/(1+t), 1+t];
* the A/A control is one more comparison (expect: different) in the Holm
  family; if it comes out VALIDATED ("different"), every verdict is
  downgraded to NEEDS RETEST with the reason "run too noisy".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from impl.base import COUNTER_NAMES
from impl.report import compare as cmp
from impl.report.load import BLOCK_METRICS, COUNTER_PREFIX, POOLED_METRICS

VALIDATED = "VALIDATED"
REJECTED = "REJECTED"
NEEDS_RETEST = "NEEDS RETEST"
EXPECTS = ("greater", "less", "different")
MIN_SAMPLES = 6
METRICS = tuple(sorted(BLOCK_METRICS | POOLED_METRICS)) + tuple(
    COUNTER_PREFIX + c for c in COUNTER_NAMES
)
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_KEYS = {
    "id", "title", "question", "scenario", "metric", "a", "b", "each", "params",
    "a_params", "b_params", "expect", "threshold", "context", "recommend",
}
_AA_KEYS = {"a", "b", "scenario", "scenarios", "metric", "params", "threshold"}
_RECOMMEND_KEYS = {"validated", "rejected", "needs_retest"}


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


@dataclass
class Comparison:
    spec: ComparisonSpec
    cell_a: str | None = None
    cell_b: str | None = None
    quality: list[str] = field(default_factory=list)
    effect: cmp.Effect | None = None
    p_adj: float | None = None
    verdict: str = NEEDS_RETEST
    reasons: list[str] = field(default_factory=list)
    samples_needed: int | None = None


@dataclass
class HypothesisResult:
    hypothesis: Hypothesis
    comparisons: list[Comparison]
    verdict: str
    reasons: list[str]
    #: short reason kinds for the executive summary, in order of first appearance
    categories: list[str] = field(default_factory=list)


_CATEGORIES = (
    ("run too noisy", "run too noisy (A/A control)"),
    ("crashed", "failed or missing cells"),
    ("timeout", "failed or missing cells"),
    ("bad_input", "failed or missing cells"),
    ("missing", "failed or missing cells"),
    ("no cell of", "failed or missing cells"),
    ("samples (<", "too few samples"),
    ("unstable", "unstable cells"),
    ("different hosts", "different hosts or code versions"),
    ("different code", "different hosts or code versions"),
    ("different source", "different hosts or code versions"),
    ("cells match", "ambiguous hypothesis params"),
    ("no ratio", "zero median"),
    ("inconclusive", "inconclusive (more samples needed)"),
    ("non-predicted side", "a comparison was rejected"),
)


def categorize(reasons: list[str]) -> list[str]:
    out: list[str] = []
    for r in reasons:
        for needle, cat in _CATEGORIES:
            if needle in r and cat not in out:
                out.append(cat)
    return out


# ---------------------------------------------------------------- parsing


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


def _check_metric(where: str, fld: str, metric: Any) -> str:
    if metric not in METRICS:
        raise HypothesisConfigError(
            f"{where}: unknown metric {metric!r} in {fld}; allowed: {_allowed(METRICS)}"
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
        b_params=b_params, expect=expect, threshold=_threshold(where, raw.get("threshold"), 0.10),
        context=context, recommend=rec,
    )


def parse_aa_control(config: dict) -> list[Hypothesis]:
    """The A/A control as hypotheses with expect: different (one per scenario)."""
    raw = config.get("aa_control")
    if raw is None:
        return []
    where = "config aa_control"
    if not isinstance(raw, dict):
        raise HypothesisConfigError(f"{where}: must be a mapping with a, b, scenario, metric")
    unknown = sorted(set(raw) - _AA_KEYS)
    if unknown:
        raise HypothesisConfigError(
            f"{where}: unknown field {unknown[0]!r}; allowed: {_allowed(sorted(_AA_KEYS))}"
        )
    for req in ("a", "b", "metric"):
        if req not in raw:
            raise HypothesisConfigError(f"{where}: missing field {req!r}")
    scenarios = raw.get("scenarios", raw.get("scenario"))
    if isinstance(scenarios, str):
        scenarios = [scenarios]
    if not isinstance(scenarios, list) or not scenarios:
        raise HypothesisConfigError(f"{where}: scenario (or scenarios: [...]) is required")
    metric = _check_metric(where, "metric", raw["metric"])
    params = _dict(where, "params", raw.get("params"))
    thr = _threshold(where, raw.get("threshold"), 0.10)
    out = []
    for sc in scenarios:
        sc = _check_scenario(where, sc, config)
        a = _check_label(where, "a", raw["a"], config, sc)
        b = _check_label(where, "b", raw["b"], config, sc)
        if a == b:
            raise HypothesisConfigError(f"{where}: a and b must be two labels, got {a!r} twice")
        out.append(Hypothesis(
            id=f"A/A {sc}", title=f"A/A control ({a} vs {b})", question="", scenario=sc,
            metric=metric, a=a, b=(b,), each=None, params=params, a_params=params,
            b_params=params, expect="different", threshold=thr, context=(), recommend={},
            is_control=True,
        ))
    return out


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


# ---------------------------------------------------------------- expansion


def matches(cell: dict, label: str, scenario: str, params: dict) -> bool:
    if cell["label"] != label or cell["scenario"] != scenario:
        return False
    cp = cell.get("params") or {}
    return all(k in cp and cp[k] == v for k, v in params.items())


def each_values(h: Hypothesis, config: dict, universe: list[dict]) -> list:
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
        grid = _grid(config, h.scenario)
        if grid is not None and h.each in grid:
            vals = grid[h.each]
            return list(vals) if isinstance(vals, list) else [vals]
    try:
        return sorted(seen)
    except TypeError:
        return seen


def fmt_params(params: dict) -> str:
    return ",".join(f"{k}={params[k]}" for k in sorted(params))


def expand(h: Hypothesis, config: dict, universe: list[dict]) -> list[ComparisonSpec]:
    """One comparison per b label and (with ``each``) per value of that parameter.

    The A/A control compares every cell of its ``a`` label in the scenario with
    the ``b`` cell of identical params.
    """
    if h.is_control:
        out = []
        for c in sorted(universe, key=lambda c: c["cell_id"]):
            if matches(c, h.a, h.scenario, h.a_params):
                p = dict(c.get("params") or {})
                key = f"{h.id}: {h.a} vs {h.b[0]}" + (f" @ {fmt_params(p)}" if p else "")
                out.append(ComparisonSpec(h.id, key, h.a, h.b[0], h.scenario, h.metric, p, p,
                                          None, None, h.expect, h.threshold))
        return out
    values = each_values(h, config, universe) if h.each else [None]
    out = []
    for b in h.b:
        for v in values:
            extra = {h.each: v} if h.each else {}
            ap, bp = {**h.a_params, **extra}, {**h.b_params, **extra}
            side = f"{h.a}" + (f"[{fmt_params(h.a_params)}]" if h.a_params != h.b_params else "")
            bside = f"{b}" + (f"[{fmt_params(h.b_params)}]" if h.a_params != h.b_params else "")
            key = f"{h.id}: {side} vs {bside}" + (f" @ {h.each}={v}" if h.each else "")
            out.append(ComparisonSpec(h.id, key, h.a, b, h.scenario, h.metric, ap, bp,
                                      h.each, v, h.expect, h.threshold))
    return out


# ---------------------------------------------------------------- verdicts


@dataclass
class CellView:
    """What a verdict needs to know about one cell (built by the orchestrator)."""

    cell_id: str
    label: str
    design: str | None
    scenario: str
    params: dict
    status: str  # ok | crashed | timeout | bad_input | missing
    reason: str
    hosts: list[str]
    source_hashes: list[str]
    git: tuple | None  # (commit, dirty) from the metadata, None if unknown
    unstable: dict[str, str]  # metric -> reason


def _resolve_side(label: str, scenario: str, params: dict, universe: list[dict],
                  what: str) -> tuple[str | None, str | None]:
    found = sorted({c["cell_id"] for c in universe if matches(c, label, scenario, params)})
    if not found:
        return None, f"{what}: no planned or measured cell {label}/{scenario} with " \
                     f"{fmt_params(params) or 'default params'} (missing)"
    if len(found) > 1:
        return None, f"{what}: {len(found)} cells match ({', '.join(found)}); " \
                     "fix params in the hypothesis"
    return found[0], None


def quality(a: CellView, b: CellView, metric: str, n_a: int, n_b: int) -> list[str]:
    """Reasons why this comparison cannot be decided, whatever its numbers say."""
    why = []
    for side in (a, b):
        if side.status != "ok":
            why.append(f"cell {side.cell_id} {side.status}" + (f": {side.reason}" if side.reason
                                                               else ""))
    if why:
        return why
    for side, n in ((a, n_a), (b, n_b)):
        if n < MIN_SAMPLES:
            why.append(f"cell {side.cell_id}: {n} samples (< {MIN_SAMPLES} per side)")
        if metric in side.unstable:
            why.append(f"cell {side.cell_id} unstable ({side.unstable[metric]})")
    if len(a.hosts) != 1 or len(b.hosts) != 1 or a.hosts != b.hosts:
        why.append(f"measured on different hosts ({', '.join(a.hosts)} vs {', '.join(b.hosts)})")
    if a.git and b.git and a.git != b.git:
        why.append(f"measured from different code versions (git {a.git[0]} vs {b.git[0]})")
    if (a.design == b.design and a.scenario == b.scenario
            and a.source_hashes != b.source_hashes):
        why.append("same design measured from different source (source_hash differs)")
    return why


def _decide(c: Comparison, alpha: float) -> None:
    e, s = c.effect, c.spec
    t = s.threshold
    up, down = math.log1p(t), -math.log1p(t)
    lo, hi = math.log(e.ci[0]), math.log(e.ci[1])
    est = math.log(e.ratio)
    sig = c.p_adj is not None and c.p_adj < alpha
    if s.expect == "greater":
        beyond, not_predicted, bounds = lo > up, hi <= up, [up]
    elif s.expect == "less":
        beyond, not_predicted, bounds = hi < down, lo >= down, [down]
    else:
        beyond = lo > up or hi < down
        not_predicted = lo >= down and hi <= up
        bounds = [down, up]
    n = min(e.n_a, e.n_b)
    if beyond and sig:
        c.verdict = VALIDATED
    elif not_predicted:
        c.verdict = REJECTED
    else:
        c.verdict = NEEDS_RETEST
        if beyond:
            c.samples_needed = cmp.samples_needed_for_p(n, c.p_adj, alpha)
            c.reasons.append("inconclusive: interval beyond the threshold but adjusted p "
                             "not below alpha")
        else:
            c.samples_needed = cmp.samples_needed(n, (lo, hi), est, bounds)
            c.reasons.append("inconclusive: the interval straddles the threshold" + (
                "" if c.samples_needed else
                " and the estimate sits on it (more samples alone may never decide it)"))


def evaluate(
    hyps: list[Hypothesis],
    controls: list[Hypothesis],
    config: dict,
    universe: list[dict],
    view: Callable[[str], CellView],
    block_samples: Callable[[str, str], np.ndarray],
    alpha: float,
    seed: int = cmp.DEFAULT_SEED,
    n_resamples: int = cmp.N_RESAMPLES,
) -> tuple[list[HypothesisResult], list[HypothesisResult], list[str]]:
    """Run every comparison, Holm-adjust across all of them, and give verdicts.

    Returns (hypothesis results, control results, run-wide warnings).
    """
    groups: list[tuple[Hypothesis, list[Comparison]]] = []
    for h in list(hyps) + list(controls):
        comps = []
        for spec in expand(h, config, universe):
            c = Comparison(spec)
            c.cell_a, why_a = _resolve_side(spec.a_label, spec.scenario, spec.a_params,
                                            universe, "a")
            c.cell_b, why_b = _resolve_side(spec.b_label, spec.scenario, spec.b_params,
                                            universe, "b")
            c.quality += [w for w in (why_a, why_b) if w]
            if c.cell_a and c.cell_b:
                va, vb = view(c.cell_a), view(c.cell_b)
                sa = block_samples(c.cell_a, spec.metric) if va.status == "ok" else np.array([])
                sb = block_samples(c.cell_b, spec.metric) if vb.status == "ok" else np.array([])
                sa, sb = sa[np.isfinite(sa)], sb[np.isfinite(sb)]
                c.quality += quality(va, vb, spec.metric, len(sa), len(sb))
                if len(sa) and len(sb) and np.median(sb) > 0 and np.median(sa) > 0:
                    c.effect = cmp.compare(sa, sb, spec.key, seed, n_resamples)
                elif len(sa) and len(sb):
                    c.quality.append("a median is zero or negative: no ratio")
            comps.append(c)
        if not comps:
            comps_note = Comparison(ComparisonSpec(h.id, f"{h.id}: (no comparison)", h.a,
                                                   h.b[0], h.scenario, h.metric, h.a_params,
                                                   h.b_params, h.each, None, h.expect,
                                                   h.threshold))
            comps_note.quality.append(
                f"no values of {h.each} planned or measured" if h.each else
                f"no cell of {h.a} in scenario {h.scenario} planned or measured")
            comps.append(comps_note)
        groups.append((h, comps))

    tested = [c for _, cs in groups for c in cs if c.effect is not None]
    for c, p in zip(tested, cmp.holm([c.effect.p for c in tested]), strict=True):
        c.p_adj = float(p)

    for _, cs in groups:
        for c in cs:
            if c.quality:
                c.verdict = NEEDS_RETEST
                c.reasons = list(c.quality)
            else:
                _decide(c, alpha)

    warnings: list[str] = []
    control_results = [_combine(h, cs, []) for h, cs in groups if h.is_control]
    noisy = [r for r in control_results if r.verdict == VALIDATED]
    if noisy:
        warnings.append("run too noisy: the A/A control came out different ("
                        + "; ".join(r.hypothesis.id for r in noisy) + ")")
    elif not controls:
        warnings.append("no A/A control configured: noise of the run not checked")
    else:
        for r in control_results:
            if r.verdict == NEEDS_RETEST:
                warnings.append(f"{r.hypothesis.id} not conclusive ("
                                + "; ".join(r.categories) + "): noise of the run not checked")
    results = []
    for h, cs in groups:
        if h.is_control:
            continue
        if noisy:
            for c in cs:
                if c.verdict != NEEDS_RETEST:
                    c.reasons.append(f"{c.verdict} downgraded: run too noisy (A/A control)")
                    c.verdict = NEEDS_RETEST
        results.append(_combine(h, cs, warnings if noisy else []))
    return results, control_results, warnings


def _combine(h: Hypothesis, cs: list[Comparison], run_warnings: list[str]) -> HypothesisResult:
    reasons: list[str] = list(run_warnings)
    bad_quality = [c for c in cs if c.quality]
    if run_warnings:
        verdict = NEEDS_RETEST
    elif bad_quality:
        verdict = NEEDS_RETEST
        reasons += [f"{c.spec.key}: {'; '.join(c.quality)}" for c in bad_quality]
    elif any(c.verdict == REJECTED for c in cs):
        verdict = REJECTED
        reasons += [f"{c.spec.key}: interval on the non-predicted side of the threshold"
                    for c in cs if c.verdict == REJECTED]
    elif cs and all(c.verdict == VALIDATED for c in cs):
        verdict = VALIDATED
    else:
        verdict = NEEDS_RETEST
        reasons += [f"{c.spec.key}: {'; '.join(c.reasons)}" for c in cs
                    if c.verdict == NEEDS_RETEST]
    return HypothesisResult(h, cs, verdict, reasons, categorize(reasons))
