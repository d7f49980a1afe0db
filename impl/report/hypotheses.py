"""Hypotheses decided (contracts section 4): parsed and expanded by impl.study, decided here.

Verdicts follow methodology.md "Comparing" and "Verdicts". The
rules, also printed in the summary's methodology section:

* NEEDS RETEST before any statistics only when the data cannot answer: a
  compared cell failed or is missing; fewer processes than the profile asked
  for; a measurement quality failure (blocks under 1 ms, a calibration that
  missed its target, machine busy); samples from different code; no host
  in common; a side whose process values are all equal or not all positive.
  CV and spread are warnings beside the number, never vetoes.
* The statistic (``impl.report.effects.hodges_lehmann``): the Hodges-Lehmann
  estimate of the log ratio a/b over process values, differences formed only
  within (host, round) strata (host strata when the cells share no round), with
  the interval that inverts the stratified Wilcoxon-Mann-Whitney (van Elteren)
  test, at 1 - alpha/m (m = every hypothesis comparison of the report). An
  interval that no pair of differences bounds at that level (too few processes)
  is NEEDS RETEST.
* The A/A controls, outside the correction family (they are not counted in m
  and never vetoed), use the same statistic at the same level 1 - alpha/m, so a
  bias is declared only with the confidence a verdict needs. Per metric family
  (contract.Metric.family): when an A/A interval **excludes 1**, identical code
  measured different and the run is *miscalibrated* for that family; its floor
  is the bias the interval establishes, the deviation from 1 of the interval's
  end *nearest* 1 (1.80-2.20: 80 %; 0.60-0.80: 1/0.8 - 1 = 25 %), the largest
  over the family's A/A comparisons. Otherwise (every interval contains 1,
  however wide) the family has no floor and the declared thresholds apply
  unchanged: noise already widens every comparison's own interval, so it is not
  counted a second time in the threshold. ``floors`` holds only the
  miscalibrated families; ``calibration`` says per family which case applied.
* Every other comparison: effective threshold t_eff = max(threshold, floor)
  (the threshold itself when the family has no floor). VALIDATED: the interval
  lies beyond 1+t_eff in the predicted direction (``less``: below
  1/(1+t_eff); ``different``: either). REJECTED: the interval lies on the
  non-predicted side of the configured threshold (inside the band, beyond it
  in the opposite direction, or both) while t_eff is the threshold, or entirely
  beyond t_eff in the opposite direction; for ``different``, inside the band
  while t_eff is the threshold. Otherwise NEEDS RETEST, with the processes per
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

import numpy as np

from impl import contract
from impl.contract import param_str
from impl.report import effects as eff
from impl.report import fmt
from impl.report import stats as st
from impl.study import ComparisonSpec, Hypothesis, Study, expand, matches

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
    # NEEDS RETEST in plain states: what a reader does next differs
    AA_FLOOR = "smaller than the noise here"
    OPPOSITE = "leaning the opposite way, undecided"
    INCONCLUSIVE = "undecided, needs more processes"


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
class Comparison:
    spec: ComparisonSpec
    cell_a: str | None = None
    cell_b: str | None = None
    quality: list[Reason] = field(default_factory=list)
    effect: eff.Effect | None = None
    #: the floor of the metric's family: the bias its A/A control establishes (None: no
    #: A/A interval of the family excludes 1, or none was measured) and max(threshold, floor)
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
        """Short reason kinds for the executive summary, in order of first appearance;
        "undecided" says how many processes per side the closest undecided one needs."""
        needed = [c.processes_needed for c in self.comparisons if c.processes_needed
                  and any(ReasonKind.INCONCLUSIVE in r.kinds for r in c.reasons)]
        return [f"undecided, needs about {min(needed)} processes per side"
                if k == ReasonKind.INCONCLUSIVE.value and needed else k
                for k in categorize(self.reasons)]


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
            f"{param_str(params) if params else 'default params'} (missing)")
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
    hosts = eff.common_hosts(pa, pb)
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
                                 "(no log ratio)"))
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


def _pct3(x: float) -> str:
    """A floor or bias with the report's 3 significant digits ("27.8%"), as the tables print it."""
    return f"{fmt.sig(x * 100)}%"


def _level(confidence: float) -> str:
    """An interval's level with the report's 3 significant digits ("99.8%")."""
    return f"{fmt.sig(confidence * 100)}%"


def interval_text(ci: tuple[float, float]) -> str:
    """"0.930–1.06": a ratio's interval with the report's 3 significant digits."""
    return f"{fmt.sig(ci[0])}–{fmt.sig(ci[1])}"


def effective_threshold(metric: str, threshold: float, floors: dict[str, float]) -> float:
    """max(threshold, the A/A floor of the metric's family): what every decision needs.

    ``floors``: family -> floor, present only for a family whose A/A interval excludes 1
    (``floors``); a family without an entry keeps the declared threshold."""
    return max(threshold, floors.get(contract.METRICS[metric].family or "", 0.0))


def _decide(c: Comparison, threshold: float, floor: float | None) -> None:
    """Verdict of one measured comparison from its interval alone (module docstring)."""
    e, s = c.effect, c.spec
    t_eff = max(threshold, floor or 0.0)  # effective_threshold, the floor already looked up
    c.floor, c.threshold_eff = floor, t_eff
    raised = t_eff > threshold  # a miscalibrated family's floor exceeds the threshold
    up, up_eff = math.log1p(threshold), math.log1p(t_eff)
    lo, hi, est = math.log(e.ci[0]), math.log(e.ci[1]), math.log(e.ratio)
    if s.expect == "less":  # mirror: the predicted side is always "up"
        lo, hi, est = -hi, -lo, -est
    if s.expect == "different":
        validated = lo > up_eff or hi < -up_eff
        would = lo > up or hi < -up
        rejected = not raised and lo >= -up and hi <= up
        inside = lo >= -up and hi <= up
        bounds = [-up_eff, up_eff] + ([] if raised else [-up, up])
    else:
        validated = lo > up_eff
        would = lo > up
        rejected = (not raised and hi <= up) or hi < -up_eff
        inside = hi <= up
        bounds = [up_eff, -up_eff] + ([] if raised else [up])
    if validated:
        c.verdict = VALIDATED
        return
    if rejected:
        c.verdict = REJECTED
        return
    c.verdict = NEEDS_RETEST
    c.processes_needed = eff.processes_needed(min(e.n_a, e.n_b), (lo, hi), est, bounds)
    if would:
        c.reasons.append(Reason.of(ReasonKind.AA_FLOOR, (
            f"beyond the {_pct(threshold)} threshold but not beyond the A/A floor "
            f"({_pct3(t_eff)}: the bias between identical labels that this run's A/A "
            "control establishes)")))
    elif inside and raised:
        side = "inside the" if s.expect == "different" else "on the non-predicted side of the"
        c.reasons.append(Reason.of(ReasonKind.AA_FLOOR, (
            f"{side} {_pct(threshold)} threshold, but the A/A control establishes a bias of "
            f"{_pct3(t_eff)} between identical labels: an effect that small cannot be ruled "
            "out in this run")))
    else:
        # the estimate on the non-predicted side of 1: the data lean against the hypothesis
        opposite = s.expect != "different" and est < 0
        c.reasons.append(Reason.of(ReasonKind.OPPOSITE if opposite else ReasonKind.INCONCLUSIVE, (
            ("the estimate leans the opposite way; " if opposite else "")
            + "the interval straddles the threshold" + (
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
        parts.append(f"at {param_str(spec.a_params)}")
    return " ".join(parts)


def aa_bias(ci: tuple[float, float]) -> float | None:
    """The bias an A/A interval establishes, in ratio terms (0.8 = 80 %), or None.

    None when the interval contains 1 (no bias shown, however wide); else the
    deviation from 1 of the end nearest 1: expm1(min(|log lo|, |log hi|)).
    """
    lo, hi = ci
    if lo <= 1 <= hi:
        return None
    return math.expm1(min(abs(math.log(lo)), abs(math.log(hi))))


CALIBRATED = "calibrated"
MISCALIBRATED = "miscalibrated"
NOT_MEASURED = "not measured"


@dataclass
class Calibration:
    """One metric family's A/A outcome (module docstring): which case applied."""

    family: str
    #: CALIBRATED (every A/A interval contains 1), MISCALIBRATED (one excludes 1) or
    #: NOT_MEASURED (no A/A comparison of the family has a bounded interval)
    status: str
    #: the bias that sets the family's floor (MISCALIBRATED only), ratio terms
    floor: float | None = None
    #: the deciding A/A comparison: the one with the largest bias when miscalibrated,
    #: else the one whose interval reaches farthest from 1
    key: str | None = None
    hypothesis: str | None = None
    ratio: float | None = None
    ci: tuple[float, float] | None = None
    confidence: float | None = None
    #: the A/A comparisons of the family with a bounded interval
    n_intervals: int = 0
    #: the deciding comparison's threshold, and whether its interval is wider than that band
    threshold: float | None = None
    wide: bool = False
    #: MISCALIBRATED only: the floor exceeds every declared threshold of the family's
    #: hypotheses, so each of their comparisons needs more than the floor (else: more than
    #: the larger of the floor and its own threshold)
    floor_over_all: bool = False

    def to_dict(self) -> dict:
        return {"family": self.family, "status": self.status, "floor": self.floor,
                "key": self.key, "hypothesis": self.hypothesis, "ratio": self.ratio,
                "ci": list(self.ci) if self.ci else None, "confidence": self.confidence,
                "n_intervals": self.n_intervals, "threshold": self.threshold,
                "wide": self.wide, "floor_over_all": self.floor_over_all}


def _reach(ci: tuple[float, float]) -> float:
    return max(abs(math.log(ci[0])), abs(math.log(ci[1])))


def calibration(control_results: list[HypothesisResult],
                hyps: Iterable[Hypothesis] = ()) -> dict[str, Calibration]:
    """Per metric family with an A/A control: which case of the A/A rule applied (and, with
    ``hyps``, whether a floor exceeds every threshold of its family's hypotheses)."""
    thresholds: dict[str, list[float]] = {}
    for h in hyps:
        thresholds.setdefault(contract.METRICS[h.metric].family or "", []).append(h.threshold)
    by_family: dict[str, list[tuple[HypothesisResult, Comparison]]] = {}
    for r in control_results:
        family = contract.METRICS[r.hypothesis.metric].family
        if family is None:
            continue
        by_family.setdefault(family, [])
        by_family[family] += [(r, c) for c in r.comparisons
                              if c.effect is not None and c.effect.bounded]
    out: dict[str, Calibration] = {}
    for family, got in sorted(by_family.items()):
        if not got:
            out[family] = Calibration(family, NOT_MEASURED)
            continue
        biased = [(aa_bias(c.effect.ci), r, c) for r, c in got if aa_bias(c.effect.ci)]
        if biased:
            floor, r, c = max(biased, key=lambda x: x[0])
            status = MISCALIBRATED
        else:
            r, c = max(got, key=lambda x: _reach(x[1].effect.ci))
            floor, status = None, CALIBRATED
        e = c.effect
        out[family] = Calibration(
            family, status, floor, c.spec.key, r.hypothesis.id, e.ratio, e.ci, e.confidence,
            len(got), c.spec.threshold, _reach(e.ci) > math.log1p(c.spec.threshold),
            floor is not None and all(t < floor for t in thresholds.get(family, [])))
    return out


def floors(control_results: list[HypothesisResult]) -> dict[str, float]:
    """Floor per metric family, only for the miscalibrated ones (module docstring).

    In ratio terms (0.8 = 80 %): the largest bias an A/A interval of the family that
    excludes 1 establishes. A family whose A/A intervals all contain 1, or that was
    not measured, has no entry: its declared thresholds apply.
    """
    return {fam: cal.floor for fam, cal in calibration(control_results).items()
            if cal.status == MISCALIBRATED and cal.floor is not None}


def _measure(h: Hypothesis, study: Study, universe: list[dict],
             view: Callable[[str], CellView],
             samples: Callable[[str, str], st.ProcessSamples]) -> list[Comparison]:
    """Expand one hypothesis and attach each comparison's cells and quality reasons."""
    comps = []
    for spec in expand(h, study, universe):
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


def _effects(comps: list[Comparison], confidence: float) -> None:
    """The verdicts' statistic (Hodges-Lehmann, ``eff.hodges_lehmann``) of each comparison
    whose data can answer; the rest are NEEDS RETEST with their quality reasons."""
    for c in comps:
        if c.quality or c.samples is None:
            c.verdict, c.reasons = NEEDS_RETEST, list(c.quality)
            continue
        c.effect = eff.hodges_lehmann(*c.samples, confidence)
        if not c.effect.bounded:
            e = c.effect
            c.verdict = NEEDS_RETEST
            c.reasons = [Reason.of(ReasonKind.TOO_FEW_PROCESSES, (
                f"no finite {_level(confidence)} interval: {e.n_a} / {e.n_b} processes in "
                f"{e.strata} stratum{'' if e.strata == 1 else 's'} ({e.method}) are too "
                "few for that level; more processes per side would bound it"))]


def evaluate(
    study: Study,
    universe: list[dict],
    view: Callable[[str], CellView],
    samples: Callable[[str, str], st.ProcessSamples],
) -> tuple[list[HypothesisResult], list[HypothesisResult], dict[str, float], list[str]]:
    """Decide the study's A/A controls, then every hypothesis (module docstring), at the
    study's alpha.

    ``samples(cell_id, metric)`` gives a measured cell's process values (with their
    hosts and rounds). Returns (hypothesis results, control results, floor per
    miscalibrated family (``floors``), run-wide warnings); ``calibration(control
    results)`` says per family which A/A case applied. Never raises on degenerate
    data: every such case is a NEEDS RETEST with its reason. The verdicts' statistic
    does not resample, so no seed is needed.
    """
    hyps, controls, alpha = study.hypotheses, study.controls, study.alpha
    control_groups = [(h, _measure(h, study, universe, view, samples)) for h in controls]
    hyp_groups = [(h, _measure(h, study, universe, view, samples)) for h in hyps]
    m = sum(len(cs) for _, cs in hyp_groups)
    simultaneous = 1 - alpha / max(m, 1)
    # the A/A controls: outside the family (not in m), at the verdicts' level
    for _, cs in control_groups:
        _effects(cs, simultaneous)
        for c in cs:
            if c.effect is not None and c.effect.bounded:
                _decide(c, c.spec.threshold, None)
    control_results = [_combine(h, cs) for h, cs in control_groups]
    cal = calibration(control_results, hyps)
    floor = floors(control_results)

    for _, cs in hyp_groups:
        _effects(cs, simultaneous)
        for c in cs:
            if c.effect is not None and c.effect.bounded:
                family = contract.METRICS[c.spec.metric].family
                _decide(c, c.spec.threshold, floor.get(family))

    warnings: list[str] = []
    families = {contract.METRICS[h.metric].family for h in hyps} - {None}
    controlled = {contract.METRICS[h.metric].family for h in controls}
    for fam in sorted(families - controlled):
        warnings.append(f"no A/A pair measures the {fam} family: whether this run is "
                        "calibrated for it is unknown, and the declared thresholds apply")
    for fam in sorted(families & controlled):
        if fam not in cal or cal[fam].status == NOT_MEASURED:
            warnings.append(f"the A/A pair of the {fam} family has no interval (not measured "
                            "or too few processes): whether this run is calibrated for it is "
                            "unknown, and the declared thresholds apply")
    for fam, k in sorted(cal.items()):
        if k.ci is None:
            continue
        interval = f"{interval_text(k.ci)} ({_level(k.confidence)})"
        if k.status == MISCALIBRATED:
            need = (_pct3(k.floor) if k.floor_over_all
                    else f"max(their threshold, {_pct3(k.floor)})")
            warnings.append(
                f"miscalibrated run ({fam}): identical code measured different in {k.key}: "
                f"its interval {interval} excludes 1, a bias of at least {_pct3(k.floor)}; "
                f"{fam} comparisons need more than {need}")
        elif k.wide:
            warnings.append(
                f"imprecise run ({fam}, information only): the interval of {k.key}, "
                f"{interval}, contains 1, so no bias is established and the declared "
                f"thresholds apply; it is wider than its {_pct(k.threshold)} band, so "
                f"{fam} comparisons will often be undecided")
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
