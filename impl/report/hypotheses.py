"""Hypotheses from config (contracts section 4): parse, validate, expand, decide.

Verdicts follow methodology.md "Comparing" and "Verdicts" (issue 10). The
rules, also printed in the summary's methodology section:

* NEEDS RETEST before any statistics only when the data cannot answer: a
  compared cell failed or is missing; fewer processes than the profile asked
  for; a measurement quality failure (blocks under 1 ms, a calibration that
  missed its target, machine busy); samples from different code; no host
  in common; a side whose process values are all equal or whose median is
  not positive. CV and spread are warnings beside the number, never vetoes.
* The A/A controls are evaluated first, with the same statistic at the
  per-cell level (95 %), outside the correction. Per metric family
  (contract.Metric.family) the noise floor is the largest deviation from 1 that
  an A/A interval of that family reaches; a family whose floor exceeds its
  A/A threshold makes the run noisy for that family.
* Every other comparison: the ratio's interval at 1 - alpha/m (m = every
  hypothesis comparison of the report), effective threshold
  t_eff = max(threshold, floor). VALIDATED: the interval lies beyond 1+t_eff
  in the predicted direction (``less``: below 1/(1+t_eff); ``different``:
  either). REJECTED: the interval lies on the non-predicted side of the
  configured threshold (inside the band, beyond it in the opposite
  direction, or both) while the floor is within the threshold, or entirely
  beyond t_eff in the opposite direction; for ``different``, inside the band
  while the floor is within it. Otherwise NEEDS RETEST, with the processes per
  side the observed spread would need.
* A hypothesis's headline: VALIDATED or REJECTED when every comparison says
  so; MIXED when every comparison is decided but they differ; otherwise
  NEEDS RETEST. Its ``parts`` say which comparisons hold.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from impl import contract
from impl.report import compare as cmp
from impl.report import stats as st
from impl.report.hypothesis_config import (  # noqa: F401 - re-exported: the parsing half
    EXPECTS,
    METRICS,
    Hypothesis,
    HypothesisConfigError,
    _grid,
    control_labels,
    parse_aa_control,
    parse_alpha,
    parse_hypotheses,
)
from impl.runner.scenarios import primary_params

VALIDATED = "VALIDATED"
REJECTED = "REJECTED"
NEEDS_RETEST = "NEEDS RETEST"
#: a hypothesis whose comparisons are all decided, some VALIDATED and some REJECTED
MIXED = "MIXED"
VERDICTS = (VALIDATED, REJECTED, MIXED, NEEDS_RETEST)
#: the smallest number of processes per side when a cell's metadata does not say
#: how many its profile asked for (methodology.md: 6 in a smoke run)
MIN_PROCESSES = 6


class ReasonKind(enum.Enum):
    """Why a verdict is what it is; the value is the executive summary's short wording."""

    FAILED_CELL = "failed or missing cells"
    TOO_FEW_PROCESSES = "too few processes"
    MEASUREMENT = "blocks too short or calibration missed"
    MACHINE_BUSY = "machine busy"
    DIFFERENT_ORIGIN = "different code versions"
    UNPAIRED_HOSTS = "hosts cannot be paired"
    AMBIGUOUS = "ambiguous hypothesis params"
    DEGENERATE = "no spread or no positive median"
    NOISE_FLOOR = "within the A/A noise floor"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Reason:
    """One reason with its kinds (a hypothesis line that sums up a comparison has several)."""

    kinds: tuple[ReasonKind, ...]
    text: str

    def __str__(self) -> str:
        return self.text

    @classmethod
    def of(cls, kind: ReasonKind, text: str) -> Reason:
        return cls((kind,), text)

    @classmethod
    def joined(cls, prefix: str, reasons: Iterable[Reason]) -> Reason:
        """``prefix: r1; r2`` carrying every kind of the joined reasons."""
        reasons = list(reasons)
        kinds = tuple(dict.fromkeys(k for r in reasons for k in r.kinds))
        return cls(kinds, f"{prefix}: {'; '.join(r.text for r in reasons)}")


def categorize(reasons: Iterable[Reason]) -> list[str]:
    """The distinct kinds of ``reasons`` in order of first appearance, as short wordings."""
    return [k.value for k in dict.fromkeys(k for r in reasons for k in r.kinds)]


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
    quality: list[Reason] = field(default_factory=list)
    effect: cmp.Effect | None = None
    #: the A/A noise floor of the metric's family (None: not measured) and max(threshold, floor)
    floor: float | None = None
    threshold_eff: float | None = None
    verdict: str = NEEDS_RETEST
    reasons: list[Reason] = field(default_factory=list)
    processes_needed: int | None = None
    #: where this comparison sits inside its hypothesis ("vs main at idle_us=200"); "" if alone
    where: str = ""
    #: the two cells' process values, once both cells are resolved and measured
    samples: tuple[st.ProcessSamples, st.ProcessSamples] | None = field(default=None,
                                                                         repr=False)


@dataclass
class HypothesisResult:
    hypothesis: Hypothesis
    comparisons: list[Comparison]
    verdict: str
    reasons: list[Reason]
    #: which comparisons hold: [(verdict, text)], e.g. ("VALIDATED", "at producers=1, 4")
    parts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        """Short reason kinds for the executive summary, in order of first appearance."""
        return categorize(self.reasons)


# ---------------------------------------------------------------- expansion


def matches(cell: dict, label: str, scenario: str, params: dict) -> bool:
    """The cell is ``label`` in ``scenario`` at ``params``; a parameter with a primary level
    (placement: same_core, impl.runner.scenarios.primary_params) that ``params`` does not
    name means that level: a secondary cell (cross_core) is matched only by name."""
    if cell["label"] != label or cell["scenario"] != scenario:
        return False
    cp = cell.get("params") or {}
    wanted = {**primary_params(scenario), **params}
    return all(k not in cp or cp[k] == v for k, v in wanted.items() if k not in params) and all(
        k in cp and cp[k] == v for k, v in params.items())


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
    source_hashes: list[str]
    git: tuple | None  # (commit, dirty) from the metadata, None if unknown
    #: the runner's quality failures (metadata quality.failures): [{"kind", "text"}]
    measurement: list[dict] = field(default_factory=list)
    #: the processes the cell's profile asked for (metadata ``processes``)
    min_processes: int = MIN_PROCESSES


_MEASUREMENT_KINDS = {
    "short_blocks": ReasonKind.MEASUREMENT,
    "calibration_missed": ReasonKind.MEASUREMENT,
    "machine_busy": ReasonKind.MACHINE_BUSY,
}


def _resolve_side(label: str, scenario: str, params: dict, universe: list[dict],
                  what: str) -> tuple[str | None, Reason | None]:
    found = sorted({c["cell_id"] for c in universe if matches(c, label, scenario, params)})
    if not found:
        return None, Reason.of(
            ReasonKind.FAILED_CELL,
            f"{what}: no planned or measured cell {label}/{scenario} with "
            f"{fmt_params(params) or 'default params'} (missing)")
    if len(found) > 1:
        return None, Reason.of(
            ReasonKind.AMBIGUOUS,
            f"{what}: {len(found)} cells match ({', '.join(found)}); fix params in the hypothesis")
    return found[0], None


def quality(a: CellView, b: CellView, pa: st.ProcessSamples, pb: st.ProcessSamples
            ) -> list[Reason]:
    """Reasons why this comparison cannot be decided, whatever its numbers say."""
    why = []
    for side in (a, b):
        if side.status != "ok":
            why.append(Reason.of(ReasonKind.FAILED_CELL, f"cell {side.cell_id} {side.status}"
                                 + (f": {side.reason}" if side.reason else "")))
    if why:
        return why
    for side in (a, b):
        for failure in side.measurement:
            why.append(Reason.of(_MEASUREMENT_KINDS.get(failure["kind"], ReasonKind.MEASUREMENT),
                                 f"cell {side.cell_id}: {failure['text']}"))
    hosts = cmp.common_hosts(pa, pb)
    if pa.n and pb.n and not hosts:
        why.append(Reason.of(ReasonKind.UNPAIRED_HOSTS, "no host in common "
                             f"({', '.join(sorted(set(pa.hosts)))} vs "
                             f"{', '.join(sorted(set(pb.hosts)))}): processes are paired "
                             "within a host only"))
    for side, ps in ((a, pa), (b, pb)):
        # what the comparison uses: the processes on the hosts both sides measured
        paired = ps.on_hosts(hosts) if hosts else ps
        where = ("" if paired.n == ps.n
                 else f" on the hosts both sides measured ({', '.join(hosts)})")
        need = max(side.min_processes, 2)
        if paired.n < need:
            why.append(Reason.of(ReasonKind.TOO_FEW_PROCESSES,
                                 f"cell {side.cell_id}: {_processes(paired.n)} with values{where} "
                                 f"(< {need}, the profile's minimum)"))
        elif np.any(paired.values <= 0):
            why.append(Reason.of(ReasonKind.DEGENERATE,
                                 f"cell {side.cell_id}: process values not all positive "
                                 "(no ratio of medians)"))
        elif np.all(paired.values == paired.values[0]):
            why.append(Reason.of(ReasonKind.DEGENERATE,
                                 f"cell {side.cell_id}: all {paired.n} process values equal "
                                 "(zero variance: no interval can be estimated)"))
    if a.git and b.git and a.git != b.git:
        why.append(Reason.of(ReasonKind.DIFFERENT_ORIGIN, "measured from different code "
                             f"versions (git {a.git[0]} vs {b.git[0]})"))
    if (a.design == b.design and a.scenario == b.scenario
            and a.source_hashes != b.source_hashes):
        why.append(Reason.of(ReasonKind.DIFFERENT_ORIGIN, "same design measured from different "
                             "source (source_hash differs)"))
    return why


def _processes(n: int) -> str:
    return f"{n} process" + ("" if n == 1 else "es")


def _pct(t: float) -> str:
    return f"{t:.0%}" if t >= 0.01 else f"{t:.1%}"


def effective_threshold(metric: str, threshold: float, floors: dict[str, float]) -> float:
    """max(threshold, the A/A noise floor of the metric's family): what every decision needs."""
    return max(threshold, floors.get(contract.METRICS[metric].family or "", 0.0))


def _decide(c: Comparison, threshold: float, floor: float | None) -> None:
    """Verdict of one measured comparison from its interval alone (module docstring)."""
    e, s = c.effect, c.spec
    t_eff = max(threshold, floor or 0.0)  # effective_threshold, the floor already looked up
    c.floor, c.threshold_eff = floor, t_eff
    noisy = t_eff > threshold
    up, up_eff = math.log1p(threshold), math.log1p(t_eff)
    lo, hi, est = math.log(e.ci[0]), math.log(e.ci[1]), math.log(e.ratio)
    if s.expect == "less":  # mirror: the predicted side is always "up"
        lo, hi, est = -hi, -lo, -est
    if s.expect == "different":
        validated = lo > up_eff or hi < -up_eff
        would = lo > up or hi < -up
        rejected = not noisy and lo >= -up and hi <= up
        inside = lo >= -up and hi <= up
        bounds = [-up_eff, up_eff] + ([] if noisy else [-up, up])
    else:
        validated = lo > up_eff
        would = lo > up
        rejected = (not noisy and hi <= up) or hi < -up_eff
        inside = hi <= up
        bounds = [up_eff, -up_eff] + ([] if noisy else [up])
    if validated:
        c.verdict = VALIDATED
        return
    if rejected:
        c.verdict = REJECTED
        return
    c.verdict = NEEDS_RETEST
    c.processes_needed = cmp.processes_needed(min(e.n_a, e.n_b), (lo, hi), est, bounds)
    if would:
        c.reasons.append(Reason.of(ReasonKind.NOISE_FLOOR, (
            f"beyond the {_pct(threshold)} threshold but not beyond the A/A noise floor "
            f"({_pct(t_eff)})")))
    elif inside and noisy:
        side = "inside the" if s.expect == "different" else "on the non-predicted side of the"
        c.reasons.append(Reason.of(ReasonKind.NOISE_FLOOR, (
            f"{side} {_pct(threshold)} threshold, but the A/A noise floor ({_pct(t_eff)}) "
            "exceeds it: an effect that small cannot be ruled out in this run")))
    else:
        c.reasons.append(Reason.of(ReasonKind.INCONCLUSIVE, (
            "the interval straddles the threshold" + (
                f"; about {c.processes_needed} processes per side would decide it"
                if c.processes_needed else
                "; the estimate sits on the threshold (more processes alone may never "
                "decide it)"))))


def _where(h: Hypothesis, spec: ComparisonSpec) -> str:
    parts = []
    if len(h.b) > 1:
        parts.append(f"vs {spec.b_label}")
    if spec.each:
        parts.append(f"at {spec.each}={spec.each_value}")
    elif h.is_control and spec.a_params:
        parts.append(f"at {fmt_params(spec.a_params)}")
    return " ".join(parts)


def floors(control_results: list[HypothesisResult]) -> dict[str, float]:
    """Noise floor per metric family: the largest deviation from 1 an A/A interval reaches.

    In ratio terms (0.12 = 12 %); a family whose A/A comparisons were all
    left undecided for quality has no entry.
    """
    out: dict[str, float] = {}
    for r in control_results:
        family = contract.METRICS[r.hypothesis.metric].family
        for c in r.comparisons:
            if c.effect is None or family is None:
                continue
            lo, hi = c.effect.ci
            dev = math.expm1(max(abs(math.log(lo)), abs(math.log(hi))))
            out[family] = max(out.get(family, 0.0), dev)
    return out


def _measure(h: Hypothesis, config: dict, universe: list[dict],
             view: Callable[[str], CellView],
             samples: Callable[[str, str], st.ProcessSamples]) -> list[Comparison]:
    """Expand one hypothesis and attach each comparison's cells and quality reasons."""
    comps = []
    for spec in expand(h, config, universe):
        c = Comparison(spec, where=_where(h, spec))
        c.cell_a, why_a = _resolve_side(spec.a_label, spec.scenario, spec.a_params, universe, "a")
        c.cell_b, why_b = _resolve_side(spec.b_label, spec.scenario, spec.b_params, universe, "b")
        c.quality += [w for w in (why_a, why_b) if w]
        if c.cell_a and c.cell_b:
            va, vb = view(c.cell_a), view(c.cell_b)
            empty = st.ProcessSamples(np.array([]), (), ())
            pa = samples(c.cell_a, spec.metric) if va.status == "ok" else empty
            pb = samples(c.cell_b, spec.metric) if vb.status == "ok" else empty
            c.quality += quality(va, vb, pa, pb)
            c.samples = (pa, pb)
        comps.append(c)
    if not comps:
        note = Comparison(ComparisonSpec(h.id, f"{h.id}: (no comparison)", h.a, h.b[0],
                                         h.scenario, h.metric, h.a_params, h.b_params, h.each,
                                         None, h.expect, h.threshold))
        note.quality.append(Reason.of(
            ReasonKind.FAILED_CELL,
            f"no values of {h.each} planned or measured" if h.each else
            f"no cell of {h.a} in scenario {h.scenario} planned or measured"))
        comps.append(note)
    return comps


def _effects(comps: list[Comparison], confidence: float, seed: int) -> None:
    for c in comps:
        if c.quality or c.samples is None:
            c.verdict, c.reasons = NEEDS_RETEST, list(c.quality)
            continue
        c.effect = cmp.compare(*c.samples, c.spec.key, confidence, seed)
        if not all(math.isfinite(x) and x > 0 for x in (*c.effect.ci, c.effect.ratio)):
            c.verdict = NEEDS_RETEST
            c.reasons = [Reason.of(ReasonKind.DEGENERATE, "the interval has an end that is "
                                   "not a positive number (a resampled median of 0)")]


def evaluate(
    hyps: list[Hypothesis],
    controls: list[Hypothesis],
    config: dict,
    universe: list[dict],
    view: Callable[[str], CellView],
    samples: Callable[[str, str], st.ProcessSamples],
    alpha: float,
    seed: int = cmp.DEFAULT_SEED,
) -> tuple[list[HypothesisResult], list[HypothesisResult], dict[str, float], list[str]]:
    """Decide the A/A controls, then every hypothesis (module docstring).

    ``samples(cell_id, metric)`` gives a measured cell's process values.
    Returns (hypothesis results, control results, noise floor per family,
    run-wide warnings). Never raises on degenerate data: every such case is
    a NEEDS RETEST with its reason.
    """
    control_groups = [(h, _measure(h, config, universe, view, samples)) for h in controls]
    hyp_groups = [(h, _measure(h, config, universe, view, samples)) for h in hyps]
    for _, cs in control_groups:
        _effects(cs, st.CONFIDENCE, seed)
        for c in cs:
            if c.effect is not None:
                _decide(c, c.spec.threshold, None)
    control_results = [_combine(h, cs) for h, cs in control_groups]
    floor = floors(control_results)

    m = sum(len(cs) for _, cs in hyp_groups)
    simultaneous = 1 - alpha / max(m, 1)
    for _, cs in hyp_groups:
        _effects(cs, simultaneous, seed)
        for c in cs:
            if c.effect is not None:
                family = contract.METRICS[c.spec.metric].family
                _decide(c, c.spec.threshold, floor.get(family))

    warnings: list[str] = []
    families = {contract.METRICS[h.metric].family for h in hyps} - {None}
    controlled = {contract.METRICS[h.metric].family for h in controls}
    for fam in sorted(families - controlled):
        warnings.append(f"no A/A pair measures the {fam} family: its noise floor is unknown "
                        "and the configured thresholds apply")
    for fam in sorted((families & controlled) - set(floor)):
        warnings.append(f"the A/A pair of the {fam} family was not measured: its noise floor "
                        "is unknown and the configured thresholds apply")
    for r in control_results:
        fam = contract.METRICS[r.hypothesis.metric].family
        reach = floors([r]).get(fam)
        if reach is None or reach <= r.hypothesis.threshold:
            continue
        what = ("identical code measured different (a systematic bias between the two labels, "
                "not only noise)" if r.verdict in (VALIDATED, MIXED)
                else "its interval is wider than the threshold band")
        warnings.append(f"noisy run ({fam}): A/A {r.hypothesis.scenario} {r.hypothesis.metric}: "
                        f"{what}; it reaches {_pct(reach)} against a "
                        f"{_pct(r.hypothesis.threshold)} threshold, so {fam} comparisons need "
                        f"more than {_pct(reach)}")
    return ([_combine(h, cs) for h, cs in hyp_groups], control_results, floor, warnings)


def _parts(cs: list[Comparison]) -> list[tuple[str, str]]:
    """[(verdict, "vs x at k=1, 2; vs y at k=3")] in the order VALIDATED, REJECTED, NEEDS RETEST."""
    out = []
    for verdict in (VALIDATED, REJECTED, NEEDS_RETEST):
        mine = [c for c in cs if c.verdict == verdict]
        if not mine:
            continue
        by_b: dict[str, list[str]] = {}
        for c in mine:
            head, _, value = c.where.partition(f"at {c.spec.each}=") if c.spec.each else (
                c.where, "", "")
            by_b.setdefault(head.strip(), []).append(str(value) if value else "")
        texts = []
        for head, values in by_b.items():
            vals = [v for v in values if v]
            at = f"at {mine[0].spec.each}={', '.join(vals)}" if vals else ""
            texts.append(" ".join(x for x in (head, at) if x))
        out.append((verdict, "; ".join(t for t in texts if t)))
    return out


def _combine(h: Hypothesis, cs: list[Comparison]) -> HypothesisResult:
    verdicts = {c.verdict for c in cs}
    reasons: list[Reason] = []
    if verdicts == {VALIDATED}:
        verdict = VALIDATED
    elif verdicts == {REJECTED}:
        verdict = REJECTED
    elif NEEDS_RETEST not in verdicts:
        verdict = MIXED
    else:
        verdict = NEEDS_RETEST
    # "which parts hold" names the decided comparisons; the reasons explain the undecided
    reasons += [Reason.joined(c.spec.key, c.reasons) for c in cs
                if c.verdict == NEEDS_RETEST and c.reasons]
    # parts only say something when the comparisons disagree
    return HypothesisResult(h, cs, verdict, reasons, _parts(cs) if len(verdicts) > 1 else [])
