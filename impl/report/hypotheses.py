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

import enum
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from impl.report import compare as cmp
from impl.report.hypothesis_config import (  # noqa: F401 - re-exported: the parsing half
    EXPECTS,
    METRICS,
    Hypothesis,
    HypothesisConfigError,
    _grid,
    parse_aa_control,
    parse_alpha,
    parse_hypotheses,
)

VALIDATED = "VALIDATED"
REJECTED = "REJECTED"
NEEDS_RETEST = "NEEDS RETEST"
MIN_SAMPLES = 6


class ReasonKind(enum.Enum):
    """Why a verdict is what it is; the value is the executive summary's short wording."""

    NOISY_RUN = "run too noisy (A/A control)"
    FAILED_CELL = "failed or missing cells"
    TOO_FEW_SAMPLES = "too few samples"
    MEASUREMENT = "blocks too short or calibration missed"
    MACHINE_BUSY = "machine busy"
    UNSTABLE = "unstable cells"
    DIFFERENT_ORIGIN = "different hosts or code versions"
    AMBIGUOUS = "ambiguous hypothesis params"
    ZERO_MEDIAN = "zero median"
    INCONCLUSIVE = "inconclusive (more samples needed)"
    REJECTED = "a comparison was rejected"


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
    p_adj: float | None = None
    verdict: str = NEEDS_RETEST
    reasons: list[Reason] = field(default_factory=list)
    samples_needed: int | None = None


@dataclass
class HypothesisResult:
    hypothesis: Hypothesis
    comparisons: list[Comparison]
    verdict: str
    reasons: list[Reason]

    @property
    def categories(self) -> list[str]:
        """Short reason kinds for the executive summary, in order of first appearance."""
        return categorize(self.reasons)


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
    #: the runner's quality failures (metadata quality.failures): [{"kind", "text"}]
    measurement: list[dict] = field(default_factory=list)


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


def quality(a: CellView, b: CellView, metric: str, n_a: int, n_b: int) -> list[Reason]:
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
    for side, n in ((a, n_a), (b, n_b)):
        if n < MIN_SAMPLES:
            why.append(Reason.of(ReasonKind.TOO_FEW_SAMPLES,
                                 f"cell {side.cell_id}: {n} samples (< {MIN_SAMPLES} per side)"))
        if metric in side.unstable:
            why.append(Reason.of(ReasonKind.UNSTABLE,
                                 f"cell {side.cell_id} unstable ({side.unstable[metric]})"))
    if len(a.hosts) != 1 or len(b.hosts) != 1 or a.hosts != b.hosts:
        why.append(Reason.of(ReasonKind.DIFFERENT_ORIGIN, "measured on different hosts "
                             f"({', '.join(a.hosts)} vs {', '.join(b.hosts)})"))
    if a.git and b.git and a.git != b.git:
        why.append(Reason.of(ReasonKind.DIFFERENT_ORIGIN, "measured from different code "
                             f"versions (git {a.git[0]} vs {b.git[0]})"))
    if (a.design == b.design and a.scenario == b.scenario
            and a.source_hashes != b.source_hashes):
        why.append(Reason.of(ReasonKind.DIFFERENT_ORIGIN, "same design measured from different "
                             "source (source_hash differs)"))
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
            c.reasons.append(Reason.of(ReasonKind.INCONCLUSIVE, "inconclusive: interval beyond "
                                       "the threshold but adjusted p not below alpha"))
        else:
            c.samples_needed = cmp.samples_needed(n, (lo, hi), est, bounds)
            c.reasons.append(Reason.of(
                ReasonKind.INCONCLUSIVE, "inconclusive: the interval straddles the threshold" + (
                    "" if c.samples_needed else
                    " and the estimate sits on it (more samples alone may never decide it)")))


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
                    c.quality.append(Reason.of(ReasonKind.ZERO_MEDIAN,
                                               "a median is zero or negative: no ratio"))
            comps.append(c)
        if not comps:
            comps_note = Comparison(ComparisonSpec(h.id, f"{h.id}: (no comparison)", h.a,
                                                   h.b[0], h.scenario, h.metric, h.a_params,
                                                   h.b_params, h.each, None, h.expect,
                                                   h.threshold))
            comps_note.quality.append(Reason.of(
                ReasonKind.FAILED_CELL,
                f"no values of {h.each} planned or measured" if h.each else
                f"no cell of {h.a} in scenario {h.scenario} planned or measured"))
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
    noisy_reasons: list[Reason] = []
    if noisy:
        warnings.append("run too noisy: the A/A control came out different ("
                        + "; ".join(r.hypothesis.id for r in noisy) + ")")
        noisy_reasons = [Reason.of(ReasonKind.NOISY_RUN, warnings[-1])]
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
                    c.reasons.append(Reason.of(ReasonKind.NOISY_RUN, f"{c.verdict} downgraded: "
                                               "run too noisy (A/A control)"))
                    c.verdict = NEEDS_RETEST
        results.append(_combine(h, cs, noisy_reasons))
    return results, control_results, warnings


def _combine(h: Hypothesis, cs: list[Comparison], run_reasons: list[Reason]) -> HypothesisResult:
    reasons: list[Reason] = list(run_reasons)
    bad_quality = [c for c in cs if c.quality]
    if run_reasons:
        verdict = NEEDS_RETEST
    elif bad_quality:
        verdict = NEEDS_RETEST
        reasons += [Reason.joined(c.spec.key, c.quality) for c in bad_quality]
    elif any(c.verdict == REJECTED for c in cs):
        verdict = REJECTED
        reasons += [Reason.of(ReasonKind.REJECTED, f"{c.spec.key}: interval on the "
                              "non-predicted side of the threshold")
                    for c in cs if c.verdict == REJECTED]
    elif cs and all(c.verdict == VALIDATED for c in cs):
        verdict = VALIDATED
    else:
        verdict = NEEDS_RETEST
        reasons += [Reason.joined(c.spec.key, c.reasons) for c in cs
                    if c.verdict == NEEDS_RETEST]
    return HypothesisResult(h, cs, verdict, reasons)
