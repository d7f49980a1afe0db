"""Context building and the jinja2 environment for SUMMARY.md and DETAILS.md.

Every value is taken from the summary document (its shape: impl/report/document.py) by
its path and formatted by ``fmt`` (which records it), so the templates never compute or
invent a number; they only place strings. Each document has its template,
``templates/summary.md.j2`` and ``templates/details.md.j2``; both import the macros of
``_macros.md.j2`` and include the one methodology text, ``_methodology.md.j2``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import jinja2

from impl.contract import (
    COUNTER_MEANINGS,
    CPU_METRICS,
    MAX_COUNTER,
    METRICS,
    PER_OP_ENV_METRICS,
    POOLED_METRICS,
    TIME_PER_OP_METRICS,
    details_name,
)
from impl.report import fmt
from impl.report import hypotheses as hyp
from impl.report import mechanism as mech
from impl.report import stats as st
from impl.report.document import Summary
from impl.report.load import is_counter
from impl.report.reproduction import UNDECIDED
from impl.report.tables import (
    UNBOUNDED,
    Table,
    at_primary,
    choose_column,
    grid_table,
    shown_params,
    shown_value,
    sort_key,
    src,
)

_ICON = {hyp.VALIDATED: "✅", hyp.REJECTED: "❌", hyp.MIXED: "◐", hyp.NEEDS_RETEST: "⚠️"}
#: the metric of an uncovered scenario that the short summary shows (the rest: DETAILS.md)
PRIMARY_METRIC = "ns_per_op"
#: what an A/A control says about the run (the A/A rule, impl/report/hypotheses.py): by
#: whether one of its intervals excludes 1, not by its verdict against its own threshold
_AA_MEANING = {hyp.MISCALIBRATED: "identical code measured different, an interval excludes 1: "
                                  "the run is miscalibrated for {family}",
               hyp.CALIBRATED: "no bias between identical labels, every interval contains 1: "
                               "the declared thresholds apply",
               hyp.NOT_MEASURED: "no interval: whether the run is calibrated for {family} is "
                                 "unknown, and the declared thresholds apply"}
#: the verdicts' statistic as the methodology states it (impl/report/effects.py), printed
#: through fmt like every other text with digits
_HL_TEXT = {
    "hl": "Hodges and Lehmann 1963",
    "ve": "van Elteren 1960",
    "d": "d = log a_i − log b_j",
    "w": "w_s = 1/(n_as + n_bs + 1)",
    "S": "S(δ) = ½ Σ_s w_s Σ_ij sign(d_sij − δ)",
    "set": "|S(δ)| ≤ z·√(Σ_s w_s² n_as n_bs (n_as + n_bs + 1)/12) + min_s w_s/2",
    "z": "z = Φ⁻¹(1 − alpha/(2m))",
    "r": "R's `wilcox.test(conf.int = TRUE, exact = FALSE)`",
}
#: printed beside a number whose process values spread more than pyperf's rule allows
WARN = "‡"
#: render(detailed=...) -> the template of that document
TEMPLATES = {False: "summary.md.j2", True: "details.md.j2"}


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("impl.report", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


class Doc:
    """Path access to the summary document plus formatting that records the path."""

    def __init__(self, doc: Summary) -> None:
        self.doc = doc

    def _path(self, path: tuple) -> tuple:
        """The document path of ``path`` (a part of the document reads its own: ``Part``)."""
        return path

    def get(self, *path: str | int) -> Any:
        cur: Any = self.doc
        for p in self._path(path):
            cur = cur[p]
        return cur

    def value(self, unit: str, *path) -> str:
        return fmt.value(self.get(*path), unit, src(*self._path(path)))

    def dur(self, *path) -> str:
        return fmt.duration_ns(self.get(*path), src(*self._path(path)))

    def qty(self, *path) -> str:
        return fmt.quantity(self.get(*path), src(*self._path(path)))

    def rate(self, *path) -> str:
        return fmt.rate(self.get(*path), src(*self._path(path)))

    def pct(self, *path, signed: bool = False) -> str:
        return fmt.percent(self.get(*path), src(*self._path(path)), signed=signed)

    def setting(self, *path, as_percent: bool = False) -> str:
        return fmt.setting(self.get(*path), src(*self._path(path)), as_percent=as_percent)

    def p(self, *path) -> str:
        return fmt.pvalue(self.get(*path), src(*self._path(path)))

    def int(self, *path) -> str:
        return fmt.integer(self.get(*path), src(*self._path(path)))

    def text(self, *path) -> str:
        return fmt.text(self.get(*path), src(*self._path(path)))

    def texts(self, *path) -> str:
        vals = self.get(*path)
        if not vals:
            return "unknown"
        return ", ".join(fmt.text(v, src(*self._path(path), i)) for i, v in enumerate(vals))


class Part(Doc):
    """One interpreter's part of the document (``doc["interpreters"][i]``), read like the
    whole: its own keys (cells, comparisons, hypotheses, answer, pick, go, floors) first,
    the rest (constants, label_order) from the whole; every recorded path says which."""

    def __init__(self, doc: Summary, prefix: tuple) -> None:
        super().__init__(doc)
        self.prefix = prefix
        self.part = Doc(doc).get(*prefix)

    def _path(self, path: tuple) -> tuple:
        return (*self.prefix, *path) if path and path[0] in self.part else path


def _pct_label(d: Doc, key: str) -> str:
    i = d.get("constants", "percentiles").index(key)
    return "P" + d.text("constants", "percentiles", i)


def _params_text(d: Doc, *path) -> str:
    params = d.get(*path)
    if not params:
        return ""
    return fmt.text(shown_params(params), src(*path, "__str__"))


def _interval(d: Doc, *path) -> str:
    """"lo–hi" of a ratio's interval at ``path`` (a two-element list in the document);
    "unbounded" where the document has None (no finite interval reaches the level)."""
    if d.get(*path) is None:
        return UNBOUNDED
    return f"{d.qty(*path, 0)}–{d.qty(*path, 1)}"


def _point(d: Doc, *base, metric: bool = True) -> str:
    """"`scenario` k=v, metric" of a document entry with scenario, params and metric."""
    point = _params_text(d, *base, "params")
    text = f"`{d.text(*base, 'scenario')}`" + (f" {point}" if point else "")
    return text + (f", {d.text(*base, 'metric')}" if metric else "")


def _unit(d: Doc, cid: str, metric: str) -> str:
    return d.get("cells", cid, "metrics", metric).get("unit", "ns")


#: how the summary names a thread role's CPU time per op (contract.CPU_METRICS)
_CPU_NAMES = {"env.own_cpu_ns": "process CPU", "env.loop_cpu_ns": "loop-thread CPU",
              "env.submitter_cpu_ns": "submitter CPU"}


def _mech_name(metric: str) -> str:
    """A mechanism value's short name: the counter's, or the thread role's CPU time."""
    return _CPU_NAMES.get(metric) or metric.removeprefix("counter.")


def _mech_meaning(metric: str) -> str:
    name = metric.removeprefix("counter.")
    return COUNTER_MEANINGS[name] if name in COUNTER_MEANINGS else METRICS[metric].meaning


def _mech_value(d: Doc, metric: str, *path) -> str:
    """A mechanism value at ``path``: a CPU time in time units, a counter as a number."""
    return d.value("ns", *path) if metric in CPU_METRICS else d.qty(*path)


def _median_cell(d: Doc, metric: str):
    def value_of(c: dict) -> str | None:
        s = c.get("metrics", {}).get(metric)
        if c["status"] != "ok" or not s:
            return None
        cid = c["cell_id"]
        if is_counter(metric):
            return d.qty("cells", cid, "metrics", metric, "per_op")
        if metric in CPU_METRICS:  # the median over processes of their CPU time per op
            return d.value("ns", "cells", cid, "metrics", metric, "per_op")
        base = ("cells", cid, "metrics", metric)
        unit = s.get("unit", "ns")
        text = d.value(unit, *base, "median")
        if s.get("median_ci"):
            lo = d.value(unit, *base, "median_ci", 0)
            text += f" ({lo}–{d.value(unit, *base, 'median_ci', 1)})"
        return text + (f" {WARN}" if st.flagged(s) else "")
    return value_of


def _column_title(d: Doc, column: str | None):
    def title(v) -> str:
        return fmt.text(f"{column}={shown_value(column, v)}", src("column", column, v))
    return title


def _scope_cells(d: Doc, scenario: str, fixed: dict | None = None) -> list[dict]:
    fixed = fixed or {}
    return [c for c in d.get("cells").values()
            if c["scenario"] == scenario
            and all(c["params"].get(k) == v for k, v in fixed.items())]


def _latency_table(d: Doc, cells: list[dict], metric: str, label_order: list[str]) -> Table:
    """One row per cell: median (over processes), pooled P95/P99/P99.9, max, counts."""
    pkeys = d.get("constants", "percentiles")
    cols = ["median"] + [_pct_label(d, k) for k in pkeys] + ["max", "processes / values"]
    rank = {label: i for i, label in enumerate(label_order)}
    rows, notes = [], []
    short = set()
    for c in sorted(cells, key=lambda c: (rank.get(c["label"], len(rank)), c["label"],
                                          sorted((k, sort_key(v)) for k, v in
                                                 c["params"].items()))):
        cid = c["cell_id"]
        name = d.text("cells", cid, "label")
        ptxt = _params_text(d, "cells", cid, "params")
        if ptxt:
            name += f" ({ptxt})"
        s = c.get("metrics", {}).get(metric)
        if c["status"] != "ok" or not s:
            rows.append({"name": name, "cells": [fmt.MISSING] * len(cols)})
            notes.append(f"`{d.text('cells', cid, 'cell_id')}`: "
                         f"{d.text('cells', cid, 'status_text')}")
            continue
        base = ("cells", cid, "metrics", metric)
        vals = [d.dur(*base, "median")]
        for k in pkeys:
            if s["percentiles"].get(k) is None:
                vals.append("–")
                if s.get("tails_note"):
                    short.add(d.text(*base, "tails_note"))
            else:
                vals.append(d.dur(*base, "percentiles", k))
        vals += [d.dur(*base, "value_max"),
                 f"{d.int(*base, 'n_processes')} / {d.int(*base, 'n_values')}"]
        if st.flagged(s):
            vals[0] += f" {WARN}"
        rows.append({"name": name, "cells": vals})
    if short:
        need = ", ".join(f"{_pct_label(d, k)} n ≥ {d.int('constants', 'min_n', k)}"
                         for k in pkeys)
        notes.append(f"\"–\": tail not supported ({'; '.join(sorted(short))}); "
                     f"pooled values needed: {need}")
    return Table(cols, rows, notes)


def _comparison_rows(d: Doc, indices: list[int]) -> list[dict]:
    rows = []
    for i in indices:
        c = d.get("comparisons", i)
        base = ("comparisons", i)
        row = {"key": d.text(*base, "key"), "verdict": d.text(*base, "verdict"),
               "icon": _ICON[c["verdict"]], "reasons": [d.text(*base, "reasons", j)
                                                         for j in range(len(c["reasons"]))]}
        unit = "ns"
        if c.get("cell_a") and c["cell_a"] in d.get("cells"):
            unit = d.get("cells", c["cell_a"], "metrics").get(c["metric"], {}).get("unit", "ns")
        missing = dict.fromkeys(("median_a", "median_b", "ratio", "ci", "p", "n", "level",
                                 "threshold", "paired"), fmt.MISSING)
        row.update(missing)
        if "ratio" in c:
            row.update(
                median_a=d.value(unit, *base, "median_a"),
                median_b=d.value(unit, *base, "median_b"),
                # the Hodges-Lehmann ratio (effects.hodges_lehmann), not median a / median b
                ratio=d.qty(*base, "ratio"),
                paired=d.text(*base, "method") + (f" ({d.int(*base, 'strata')} strata)"
                                                    if c["strata"] > 1 else ""),
                ci=_interval(d, *base, "ci"),
                level=d.pct(*base, "confidence"),
                # benchstat: "~" when the rank test sees no difference
                p=d.p(*base, "p") + ("" if c["significant"] else " ~"),
                n=f"{d.int(*base, 'n_a')} / {d.int(*base, 'n_b')}",
            )
        if c.get("threshold_eff") is not None:
            row["threshold"] = d.pct(*base, "threshold")
            if c["threshold_eff"] > c["threshold"]:
                row["threshold"] += f" → {d.pct(*base, 'threshold_eff')}"
        row["needed"] = (d.int(*base, "processes_needed") if c.get("processes_needed")
                         else fmt.MISSING)
        rows.append(row)
    return rows


def _finding(d: Doc, i: int, detailed: bool = True) -> str | None:
    """One sentence per measured comparison, every number from the document."""
    c = d.get("comparisons", i)
    if "ratio" not in c:
        return None
    base = ("comparisons", i)
    unit = d.get("cells", c["cell_a"], "metrics", c["metric"]).get("unit", "ns")
    where = f" at {d.text(*base, 'each')}={d.text(*base, 'each_value')}" if c["each"] else ""
    # the medians are in the table right above; DETAILS.md repeats them beside the ratio
    medians = (f"; medians {d.value(unit, *base, 'median_a')} vs "
               f"{d.value(unit, *base, 'median_b')}, {d.text(*base, 'method')}"
               if detailed else "")
    return f"{_effect(d, i)}{where}{medians} → {d.text(*base, 'verdict')}."


def _effect(d: Doc, i: int, with_interval: bool = True) -> str:
    """The summary's one notation for an effect: "a is N x faster than b
    (99.8 % interval lo-hi x)", or "a's metric is N x lower than b's" for a metric that is
    not a time per op; N >= 1, its interval on the same scale (``factor``, ``factor_ci``)."""
    c = d.get("comparisons", i)
    base = ("comparisons", i)
    a, b = _side_name(d, i, "a"), _side_name(d, i, "b")
    faster = c["ratio"] < 1
    n = d.qty(*base, "factor") if "factor" in c else d.qty(*base, "ratio")
    if c["metric"] in TIME_PER_OP_METRICS:
        effect = f"{a} is {n}x {'faster' if faster else 'slower'} than {b}"
    else:
        effect = (f"{a}'s {d.text(*base, 'metric')} is {n}x "
                  f"{'lower' if faster else 'higher'} than {b}'s")
    if not with_interval:
        return effect
    conf = d.pct(*base, "confidence")
    if c.get("factor_ci"):
        return (f"{effect} ({conf} interval {d.qty(*base, 'factor_ci', 0)}x–"
                f"{d.qty(*base, 'factor_ci', 1)}x)")
    return f"{effect} (no finite {conf} interval)"


def _shared_point(cells: list[dict]) -> str:
    """The parameters every cell has with the same value ("producers=4"), as text."""
    if not cells:
        return ""
    first = cells[0]["params"]
    shared = {k: v for k, v in first.items() if all(c["params"].get(k) == v for c in cells)}
    return fmt.text(shown_params(shared), src("cells", cells[0]["cell_id"], "params", "__str__")
                    ) if shared else ""


def _hypothesis_section(d: Doc, hi: int, label_order: list[str], detailed: bool = True
                        ) -> dict:
    h = d.get("hypotheses", hi)
    base = ("hypotheses", hi)
    cells = _scope_cells(d, h["scenario"], h["params"])
    column = choose_column(cells, h["each"])
    # one column (a fixed point, e.g. H4a at burst=4096, or a smoke grid's one value):
    # title it with that point
    single = _params_text(d, *base, "params") or _shared_point(cells) or "median"
    main = grid_table(cells, label_order, column, _median_cell(d, h["metric"]),
                      _column_title(d, column), single)
    # the summary's table: contenders only (the A/A label's numbers are in its section)
    controls = set(d.get("control_labels"))
    # ... at the primary placement (a secondary one is in DETAILS.md and beside the answer)
    short = grid_table([c for c in cells if c["label"] not in controls and at_primary(c)],
                       [label for label in label_order if label not in controls], column,
                       _median_cell(d, h["metric"]), _column_title(d, column), single)
    latency = (_latency_table(d, cells, h["metric"], label_order)
               if h["metric"] in POOLED_METRICS else None)
    context = []
    for j, metric in enumerate(h["context"]):
        t = grid_table(cells, label_order, column, _median_cell(d, metric),
                       _column_title(d, column), "per op")
        context.append({"metric": d.text(*base, "context", j), "table": t})
    findings = [f for f in (_finding(d, i, detailed) for i in h["comparisons"]) if f]
    parts = [f"{d.text(*base, 'parts', j, 'verdict')} {d.text(*base, 'parts', j, 'where')}"
             for j in range(len(h["parts"]))]
    return {
        "parts": parts,
        "plots": _plots_of(d, h["scenario"], h["metric"]),
        "id": d.text(*base, "id"), "title": d.text(*base, "title"),
        "question": d.text(*base, "question") if h["question"] else "",
        "verdict": d.text(*base, "verdict"), "icon": _ICON[h["verdict"]],
        "scenario": d.text(*base, "scenario"), "metric": d.text(*base, "metric"),
        "prediction": _prediction(d, hi),
        "reasons": [d.text(*base, "reasons", j) for j in range(len(h["reasons"]))],
        "categories": [d.text(*base, "categories", j) for j in range(len(h["categories"]))],
        "table": main, "short_table": short, "latency": latency, "context": context,
        "conclusion": _conclusion(d, hi),
        "comparisons": _comparison_rows(d, h["comparisons"]), "findings": findings,
        "warn_note": any(WARN in cell for r in main.rows for cell in r["cells"]),
    }


def _side_name(d: Doc, ci: int, side: str) -> str:
    """A comparison's side as the findings name it: its label, plus params when both differ."""
    c = d.get("comparisons", ci)
    name = d.text("comparisons", ci, side)
    if c["a_params"] != c["b_params"]:
        name += f" ({_params_text(d, 'comparisons', ci, side + '_params')})"
    return name


def _conclusion(d: Doc, hi: int) -> str:
    """The root-cause sentence of a hypothesis (rules: impl/report/mechanism.py)."""
    rc = d.get("hypotheses", hi, "root_cause")
    ci = rc["comparison"]
    if ci is None:
        return "no comparison has data on both sides, so there is nothing to explain yet"
    c = d.get("comparisons", ci)
    base = ("comparisons", ci)
    a, b = _side_name(d, ci, "a"), _side_name(d, ci, "b")
    where = f" at {d.text(*base, 'each')}={d.text(*base, 'each_value')}" if c["each"] else ""
    rcb = ("hypotheses", hi, "root_cause")
    head = (f"{where.strip()}, " if where else "") + (
        f"{_effect(d, ci)}, {d.text(*base, 'verdict')}")
    declared = ", ".join(_mech_name(d.text(*rcb, "counters", j, "counter"))
                         for j in range(len(rc["counters"])))
    counter = ""
    if rc.get("counter"):
        metric = rc["counter"]
        name = _mech_name(d.text(*rcb, "counter"))
        per = "" if metric == MAX_COUNTER else " per op"
        counter = (f"{_mech_value(d, metric, *rcb, 'a')} {name}{per} for {a} vs "
                   f"{_mech_value(d, metric, *rcb, 'b')} for {b} ({_mech_meaning(metric)})")
    outcome = rc["outcome"]
    if outcome == mech.EXPLAINED:
        tail = f"explained by its counters: {counter}"
    elif outcome == mech.OUTSIDE:
        tail = (f"none of its counters ({declared}) differs, so the cause lies outside what "
                f"they count")
    elif outcome == mech.NOT_DECIDING:
        tail = (f"the mechanism is there, {counter}, but it does not set the time: another "
                f"cost outweighs it")
    elif outcome == mech.NOT_EXERCISED:
        tail = (f"its counters ({declared}) do not differ, so the mechanism it names is "
                f"hardly exercised here and another cost decides")
    elif outcome == mech.NO_COUNTERS:
        tail = "no mechanism counter is declared for it"
    else:
        tail = ("not decided in this run" + (f"; the mechanism is present, {counter}; more "
                                             f"processes would tell whether it matters"
                                             if counter else
                                             f"; its counters ({declared}) do not differ"
                                             if declared else ""))
    counted = rc.get("why_counted") or {}
    if counted.get("compared"):
        slow, fast = (a, b) if rc["why_slower"] == "a" else (b, a)
        tail += f"; counted: {_why_counted(d, rcb, fast, slow)}"
    return f"{head}: {tail}"


def _prediction(d: Doc, hi: int) -> str:
    """The expectation in words: ratio a/b beyond 1+t (greater), below 1/(1+t) (less)."""
    base = ("hypotheses", hi)
    h = d.get(*base)
    a, t = d.text(*base, "a"), d.setting(*base, "threshold", as_percent=True)
    if h["expect"] == "greater":
        return f"median({a}) exceeds the other median by more than {t}"
    if h["expect"] == "less":
        return f"the other median exceeds median({a}) by more than {t}"
    return f"the medians differ by more than {t}, in either direction"


_VERDICT_KEY = {hyp.VALIDATED: "validated", hyp.REJECTED: "rejected", hyp.MIXED: "mixed",
                hyp.NEEDS_RETEST: "needs_retest"}


def _advice(d: Doc, hi: int, verdict: str) -> str:
    """The config's ``recommend`` text for a verdict, else the default for it."""
    base = ("hypotheses", hi)
    key = _VERDICT_KEY[verdict]
    if d.get(*base, "recommend").get(key):
        return d.text(*base, "recommend", key)
    if verdict == hyp.VALIDATED:
        return (f"act on it: {d.text(*base, 'a')} differs from the compared implementation(s) "
                f"in the predicted direction by more than the effective threshold.")
    return "do not act on this hypothesis; the predicted difference is ruled out."


def _recommendations(d: Doc) -> list[str]:
    """Stated rule: a decided hypothesis gets its verdict's text (config ``recommend``, else a
    default); an undecided one gets the text of each part that is decided, where it holds;
    the rest share one line (no recommendation without a verdict)."""
    lines, undecided = [], []
    for hi, h in enumerate(d.get("hypotheses")):
        base = ("hypotheses", hi)
        head = f"**{d.text(*base, 'id')}**"
        if h["verdict"] in (hyp.VALIDATED, hyp.REJECTED):
            lines.append(f"{head} {d.text(*base, 'verdict')}: {_advice(d, hi, h['verdict'])}")
            continue
        if h["recommend"].get(_VERDICT_KEY[h["verdict"]]):
            lines.append(f"{head} {d.text(*base, 'verdict')}: "
                         f"{d.text(*base, 'recommend', _VERDICT_KEY[h['verdict']])}")
            continue
        parts = [f"{d.text(*base, 'parts', j, 'verdict')} {d.text(*base, 'parts', j, 'where')}: "
                 f"{_advice(d, hi, p['verdict'])}"
                 for j, p in enumerate(h["parts"])
                 if p["verdict"] in (hyp.VALIDATED, hyp.REJECTED)]
        if parts:
            lines.append(f"{head}, where decided: " + " ".join(parts))
        else:
            undecided.append(d.text(*base, "id"))
    if undecided:
        lines.append(f"**Not decided** ({', '.join(undecided)}): no recommendation until a run "
                     f"decides them; their comparisons say how many processes per side would.")
    return lines


def _other_sections(d: Doc, covered: set[str], label_order: list[str]) -> list[dict]:
    """Scenarios no hypothesis covers (continuous, mixed, ...): a table per metric."""
    out = []
    all_cells = d.get("cells")
    scenarios = sorted({c["scenario"] for c in all_cells.values()} - covered)
    for sc in scenarios:
        cells = _scope_cells(d, sc)
        metrics = sorted({m for c in cells for m in c.get("metrics", {})
                          if not is_counter(m) and m not in PER_OP_ENV_METRICS})
        tables = []
        column = choose_column(cells, None)
        for metric in metrics or ["(no data)"]:
            t = grid_table(cells, label_order, column, _median_cell(d, metric),
                           _column_title(d, column), _shared_point(cells) or "median")
            lat = (_latency_table(d, cells, metric, label_order)
                   if metric in POOLED_METRICS else None)
            # the summary shows the time per op (what the answer ranks); DETAILS.md all
            tables.append({"metric": fmt.text(metric, src("metric", metric)), "table": t,
                           "latency": lat, "primary": metric == PRIMARY_METRIC})
        out.append({"scenario": fmt.text(sc, src("scenario", sc)), "tables": tables,
                    "plots": _plots_of(d, sc)})
    return out


def _rankings(d: Doc) -> dict:
    """DETAILS.md's rankings: per declared point, each label's median with its interval."""
    out = []
    for ri, r in enumerate(d.get("rankings", "points")):
        base = ("rankings", "points", ri)
        unit = "ns"
        entries = []
        for ei, e in enumerate(r["entries"]):
            eb = (*base, "entries", ei)
            ci = (f" ({d.value(unit, *eb, 'ci', 0)}–{d.value(unit, *eb, 'ci', 1)})"
                  if e.get("ci") else "")
            first = ("" if ei == 0 or e["vs_first"] is None
                     else f", {d.qty(*eb, 'vs_first')}x the first")
            entries.append(f"{d.text(*eb, 'label')}: {d.value(unit, *eb, 'median')}{ci}{first}")
        out.append({"where": _point(d, *base, metric=False),
                    "metric": d.text(*base, "metric"), "entries": entries})
    unranked = [d.text("rankings", "unranked", i)
                for i in range(len(d.get("rankings", "unranked")))]
    empty = []
    for ri in range(len(d.get("rankings", "empty"))):
        base = ("rankings", "empty", ri)
        empty.append(_point(d, *base))
    return {"points": out, "unranked": unranked, "empty": empty}


def _answer(d: Doc) -> list[dict]:
    """The first screen's rows: every number from doc["answer"] (impl/report/answer.py)."""
    rows = []
    for i, a in enumerate(d.get("answer")):
        base = ("answer", i)
        row = {"workload": d.text(*base, "workload"),
               "where": _point(d, *base),
               "fastest": fmt.MISSING, "runner_up": fmt.MISSING, "asyncio": fmt.MISSING,
               "uvloop": fmt.MISSING, "why": fmt.MISSING, "placements": _placements(d, i),
               # the mechanism pass counted both cells: the why is its, not the counters'
               "counted": bool((a.get("why_counted") or {}).get("compared")),
               "verdicts": ", ".join(f"{d.text(*base, 'verdicts', j, 'id')} "
                                     f"{d.text(*base, 'verdicts', j, 'verdict')}"
                                     for j in range(len(a["verdicts"]))) or fmt.MISSING}
        if a.get("status") != "ok":
            row["fastest"] = d.text(*base, "status")
            rows.append(row)
            continue
        fast, run = d.text(*base, "fastest"), d.text(*base, "runner_up", "label")
        row["fastest"] = (f"**{fast}**" if a["clear"] else
                          f"{fast} ≈ {run} (within the noise: needs "
                          f"{d.pct(*base, 'threshold')})")

        def times(*path) -> str:
            return (f"{d.qty(*path, 'speedup')}x "
                    f"({_interval(d, *path, 'speedup_ci')})")

        row["runner_up"] = f"{times(*base, 'runner_up')} vs {run}"
        for k, ref in enumerate(a["references"]):  # asyncio and uvloop, by design
            row[ref["design"]] = f"{times(*base, 'references', k)} vs {ref['label']}"
        counted = a.get("why_counted") or {}
        if counted.get("compared"):  # the mechanism pass counted both: its why, not counters
            row["why"] = _why_counted(d, base, fast, run)
        elif a["why"]:
            # the conclusions' rule (impl/report/mechanism.py): quote the counter that differs
            j = mech.most_differing([(w["counter"], w["fastest"], w["runner_up"])
                                     for w in a["why"]])
            if j is not None:
                metric = a["why"][j]["counter"]
                name = _mech_name(d.text(*base, "why", j, "counter"))
                row["why"] = (f"{name} {_mech_value(d, metric, *base, 'why', j, 'fastest')} vs "
                              f"{_mech_value(d, metric, *base, 'why', j, 'runner_up')} per op "
                              f"({_mech_meaning(metric)})")
            else:
                names = ", ".join(_mech_name(d.text(*base, "why", j, "counter"))
                                  for j in range(len(a["why"])))
                row["why"] = f"none of {names} differs"
        rows.append(row)
    return rows


#: how the why column names each counted component (impl/report/why.py), per op
_COUNTED = {"instructions": "instructions", "syscalls": "syscalls",
            "switches": "blocking waits (voluntary context switches)"}


def _why_counted(d: Doc, base: tuple, fast: str, slow: str) -> str:
    """The counted why of an answer row (impl/report/why.py): the component that accounts
    for the largest part of the gap in its direction, its size and share, what is left."""
    w = d.get(*base, "why_counted")
    path = (*base, "why_counted")
    k = w.get("component")
    if k is None:
        counts = "; ".join(f"{_COUNTED[c]} {d.qty(*path, 'compared', c, 1)} vs "
                           f"{d.qty(*path, 'compared', c, 0)}" for c in w["compared"])
        return (f"no counted cost is larger for {slow} than for {fast} (per op: {counts}): "
                f"the {d.qty(*path, 'gap')}x gap is elsewhere (waiting on the other thread, "
                f"the scheduler)")
    name = _COUNTED[k]
    text = (f"{slow} {d.qty(*path, 'slow')} {name} per op, {fast} {d.qty(*path, 'fast')}")
    if w.get("ratio") is not None:
        text += f": {d.qty(*path, 'ratio')}x of a {d.qty(*path, 'gap')}x time gap"
    else:  # none on the faster side: no ratio to give
        text += f", in a {d.qty(*path, 'gap')}x time gap"
    if w["by"] == "count":  # no share: a count without a model to price it
        if "instructions" in w["compared"]:
            text += (f"; not work: instructions {d.qty(*path, 'compared', 'instructions', 1)}"
                     f" vs {d.qty(*path, 'compared', 'instructions', 0)}")
        return text
    how = "by the fitted cost model" if w["by"] == "model" else "if time follows instructions"
    text += f" ({d.pct(*path, 'share')} of it, {how})"
    if (w.get("left") or 0) >= 0.5:
        rest = [f"{_COUNTED[c]} {d.qty(*path, 'compared', c, 1)} vs "
                f"{d.qty(*path, 'compared', c, 0)}" for c in w.get("also", [])]
        text += (f"; {d.pct(*path, 'left')} is not counted work"
                 + (f": {slow} also makes more {', '.join(rest)}" if rest else
                    " (waiting, the scheduler)"))
    return text


#: how many functions DETAILS shows per design (of the pass's ``top_functions``)
TOP_SHOWN = 4


def _counted_tables(d: Doc) -> dict[str, Any]:
    """DETAILS: per answer workload, each measured design's time and counts per op (the
    mechanism pass), and the functions with the most inclusive instructions; the cost
    model's fit."""
    tables = []
    for i, a in enumerate(d.get("answer")):
        rows = []
        for j, r in enumerate(a["ranking"]):
            cid = r["cell_id"]
            mech = d.get("cells", cid).get("mechanism")
            if not mech:
                continue
            base = ("cells", cid, "mechanism")
            row = {"label": d.text("answer", i, "ranking", j, "label"),
                   "time": d.value(_unit(d, cid, a["metric"]), "answer", i, "ranking", j,
                                   "median"),
                   "instructions": (d.qty(*base, "instructions") if "instructions" in mech
                                    else fmt.MISSING),
                   "spread": (d.pct(*base, "instructions_spread")
                              if "instructions_spread" in mech else fmt.MISSING),
                   "syscalls": fmt.MISSING, "switches": fmt.MISSING, "top": fmt.MISSING}
            if "syscalls_per_op" in mech:
                row["syscalls"] = "; ".join(
                    f"{role} {kind} {d.qty(*base, 'syscalls_per_op', role, kind)}"
                    for role, kinds in mech["syscalls_per_op"].items()
                    for kind, v in kinds.items() if v >= 0.01) or "none ≥ 0.01"
            if "switches_per_op" in mech:
                row["switches"] = ", ".join(
                    f"{k.replace('_', ' ')} {d.qty(*base, 'switches_per_op', k)}"
                    for k, v in mech["switches_per_op"].items() if v >= 0.001) or "none"
            if mech.get("top_functions"):
                row["top"] = "; ".join(
                    f"`{d.text(*base, 'top_functions', f, 0)}` "
                    f"{d.qty(*base, 'top_functions', f, 1)}"
                    for f in range(min(TOP_SHOWN, len(mech["top_functions"]))))
            rows.append(row)
        if rows:
            tables.append({"workload": d.text("answer", i, "workload"),
                           "where": _point(d, "answer", i), "rows": rows})
    # the pass's own check: how far each cell's two marginal counts repeat
    spreads = [(c["mechanism"]["instructions_spread"], cid)
               for cid, c in d.get("cells").items()
               if "instructions_spread" in (c.get("mechanism") or {})]
    repeat = None
    if spreads:
        worst, cid = max(spreads)
        bar = d.get("constants", "instructions_repeat_bar")
        above = sum(s > bar for s, _ in spreads)
        repeat = (f"each cell's two marginal counts (two pairs of blocks of N and 2N ops) "
                  f"repeat within {d.pct('cells', cid, 'mechanism', 'instructions_spread')} "
                  f"(largest: `{cid}`; the pass's bar: "
                  f"{d.pct('constants', 'instructions_repeat_bar')}"
                  + (f"; {above} of {len(spreads)} cells above it: a difference within "
                     f"their spread is never a why)" if above else
                     f"; all {len(spreads)} cells within it)"))
    model = d.get("cost_model")
    fit = None
    if model:
        fit = (f"time per op = {d.qty('cost_model', 'ns', 'instructions')} ns per instruction"
               f" + {d.qty('cost_model', 'ns', 'syscalls')} ns per syscall"
               f" + {d.qty('cost_model', 'ns', 'switches')} ns per blocking wait; R² of"
               f" log time {d.qty('cost_model', 'r2')} over {d.int('cost_model', 'n')} cells ("
               + ("holds: the why column uses its shares)" if model["holds"] else
                  "does not hold: the why column judges instructions alone)"
                  if model.get("fails") != "price" else
                  f"does not hold: no CPU runs an instruction in less than "
                  f"{d.qty('constants', 'min_ns_per_instruction')} ns, so the fit explains "
                  f"the cells' spread with the waits alone; the why column judges "
                  f"instructions alone)"))
    return {"tables": tables, "fit": fit, "repeat": repeat}


def _placements(d: Doc, i: int) -> list[str]:
    """What each secondary placement adds to every design at answer ``i``'s point."""
    out = []
    for k, p in enumerate(d.get("answer", i).get("placements") or []):
        base = ("answer", i, "placements", k)
        level = d.text(*base, "placement")
        lo, hi = d.value("ns", *base, "min"), d.value("ns", *base, "max")
        n = len(p["rows"])
        if p["min"] >= 0:
            out.append(f"{level} adds {lo} to {hi} to every design's median here "
                       f"({n} designs; descriptive)")
        else:
            out.append(f"{level} changes the designs' medians here by {lo} to {hi} "
                       f"({n} designs; descriptive)")
    return out


def _pick(d: Doc) -> dict:
    """"Which design to pick": the slowdown table and the picks (impl/report/pick.py)."""
    p = d.get("pick")
    out: dict = {"columns": [d.text("pick", "workloads", k) for k in range(len(p["workloads"]))],
                 "rows": [], "lines": []}
    if not p["pick"]:
        return out
    for i, r in enumerate(p["rows"]):
        base = ("pick", "rows", i)
        # "fastest" only where the answer names it; "≈ fastest": lowest median, within the noise
        cells = [(("fastest" if p["workloads"][k] in r.get("fastest_clear", []) else
                   "≈ fastest") if r["slowdowns"][k] == 1
                  else f"{d.qty(*base, 'slowdowns', k)}x")
                 for k in range(len(r["slowdowns"]))]
        cells.append(f"{d.qty(*base, 'worst')}x")
        cells.append({True: "yes", False: "**no**", None: "unknown"}[r["conserves"]])
        out["rows"].append({"name": d.text(*base, "label"), "cells": cells})

    def worst(*base) -> str:
        r = d.get(*base)
        ci = f" ({_interval(d, *base, 'ci')})" if r.get("ci") else ""
        if r["ratio"] == 1:
            return "the fastest on every workload"
        noise = "" if r.get("clear") else "; that gap is within this run's noise"
        return (f"at most {d.qty(*base, 'ratio')}x{ci} behind a workload's fastest (its worst: "
                f"{d.text(*base, 'worst_workload')}, behind {d.text(*base, 'behind')}{noise})")

    if p["unmeasured"]:
        missing = ", ".join(d.text("pick", "unmeasured", k) for k in range(len(p["unmeasured"])))
        out["lines"].append(f"The pick weighs only the workloads this run measured; not "
                            f"measured: {missing} (the study's grid measures every one).")
    # the pick that runs every queued task at shutdown first: losing tasks is the exception
    # a reader opts into, not the default
    top = d.get("pick", "pick")
    safe = ("pick", "conserving_pick") if p["conserving_pick"] else (
        ("pick", "pick") if top["conserves"] else None)
    if safe is not None:
        out["lines"].append(f"**Pick: {d.text(*safe, 'label')}** (runs every queued task at "
                            f"shutdown), {worst(*safe)}.")
    if not top["conserves"]:
        lose = ("If you may lose queued tasks at shutdown" if top["conserves"] is False
                else "Whether it runs queued tasks at shutdown is unknown")
        out["lines"].append(f"**{lose}: {d.text('pick', 'pick', 'label')}**, "
                            f"{worst('pick', 'pick')}.")
    for j, r in enumerate(p["not_safe"]):
        base = ("pick", "not_safe", j)
        clear = set(r.get("fastest_clear", []))
        on = [(d.text(*base, "fastest_on", k), w in clear) for k, w in enumerate(r["fastest_on"])]
        what = "; ".join(part for part in (
            ("the fastest at " + ", ".join(w for w, c in on if c)) if any(c for _, c in on)
            else "",
            ("the lowest median, within the noise, at " + ", ".join(w for w, c in on if not c))
            if not all(c for _, c in on) else "") if part)
        ci = f" ({_interval(d, *base, 'ci')})" if r.get("ci") else ""
        out["lines"].append(
            f"**Not a safe default: {d.text(*base, 'label')}**: {what}, but "
            f"{d.qty(*base, 'ratio')}x{ci} behind {d.text(*base, 'behind')} at "
            f"{d.text(*base, 'worst_workload')}"
            + ("." if r.get("clear") else " (within this run's noise)."))
    return out


def _calibration(d: Doc) -> list[str]:
    """One line per metric family with an A/A pair: which case of the A/A rule applied
    (impl/report/hypotheses.py): the interval contains 1 (the declared thresholds apply)
    or excludes it (miscalibrated: the bias it establishes is the family's floor)."""
    out = []
    for fam, k in sorted(d.get("calibration").items()):
        base = ("calibration", fam)
        name = d.text(*base, "family")
        if k["status"] == hyp.NOT_MEASURED:
            out.append(f"{name}: no A/A interval (not measured, or too few processes for the "
                       f"level): whether this run is calibrated for {name} is unknown; the "
                       "declared thresholds apply")
            continue
        which = (f"{d.text(*base, 'key')}, "
                 f"{d.text('controls', _control_index(d, k['hypothesis']), 'verdict')}")
        interval = (f"HL ratio {d.qty(*base, 'ratio')}, interval {_interval(d, *base, 'ci')} "
                    f"({d.pct(*base, 'confidence')})")
        several = k["n_intervals"] > 1
        if k["status"] == hyp.MISCALIBRATED:
            floor = d.pct(*base, "floor")
            need = (f"more than {floor}" if k["floor_over_all"]
                    else f"more than {floor} or their own threshold, whichever is larger")
            out.append(f"{name}: {'one of the A/A intervals' if several else 'the A/A interval'}"
                       f" excludes 1 ({which}: {interval}): this run is miscalibrated for "
                       f"{name}; its comparisons need {need}")
        else:
            what = (f"all {d.int(*base, 'n_intervals')} A/A intervals contain 1 (the widest: "
                    if several else "the A/A interval contains 1 (")
            out.append(f"{name}: {what}{which}: {interval}): the declared thresholds apply")
    return out


def _control_index(d: Doc, hypothesis_id: str) -> int:
    return next(i for i, c in enumerate(d.get("controls")) if c["id"] == hypothesis_id)


def _plots_of(d: Doc, scenario: str, metric: str | None = None) -> list[dict]:
    """The plots of one scenario (and metric), to embed next to their table."""
    return [{"file": d.text("plots", i, "file"), "title": d.text("plots", i, "title"),
             "primary": p.get("metric") == PRIMARY_METRIC}
            for i, p in enumerate(d.get("plots"))
            if p.get("scenario") == scenario and (metric is None or p.get("metric") == metric)]


def _go(d: Doc) -> dict:
    """The Go study's findings beside this run's numbers (doc["go"], reproduction.py)."""
    rows = []
    for i, g in enumerate(d.get("go")):
        base = ("go", i)
        row = {"id": d.text(*base, "id"), "claim": d.text(*base, "claim"),
               "where": d.text(*base, "where"),
               "cell": _point(d, *base),
               # the Go figures exactly as the study printed them
               "go": f"{d.text(*base, 'faster')} {d.setting(*base, 'go_faster')} vs "
                     f"{d.text(*base, 'slower')} {d.setting(*base, 'go_slower')} "
                     f"(ratio {d.qty(*base, 'go_ratio')})",
               "ours": fmt.MISSING, "survives": d.text(*base, "status"), "why": fmt.MISSING,
               "line": d.text(*base, "status")}
        if g.get("status") == "ok":
            unit = "ns"
            row["ours"] = (f"{d.value(unit, *base, 'ours_faster')} vs "
                           f"{d.value(unit, *base, 'ours_slower')} (ratio {d.qty(*base, 'ratio')}, "
                           f"{_interval(d, *base, 'ci')})")
            row["survives"] = d.text(*base, "survives")
            fast, slow = d.text(*base, "faster"), d.text(*base, "slower")
            # the summary's one line per finding: what happened to it, with its direction
            lean = {"same": "leans the same way", "opposite": "leans the other way"}.get(
                g.get("direction", ""), "no lean")
            outcome = (f"**{d.text(*base, 'survives')}**" if g["survives"] != UNDECIDED
                       else f"not decided, {lean}")
            word = "faster" if g["ratio"] < 1 else "slower"
            go_word = "faster" if g["go_ratio"] < 1 else "slower"
            row["line"] = (f"{outcome}: here {fast} is {d.qty(*base, 'factor')}x {word} than "
                           f"{slow} ({d.qty(*base, 'factor_ci', 0)}x–"
                           f"{d.qty(*base, 'factor_ci', 1)}x), in Go "
                           f"{d.qty(*base, 'go_factor')}x {go_word}")
            if g["ratio"] <= 1:
                why = (f"the gap is {d.pct(*base, 'share_ours')} of {slow}'s time here, "
                       f"{d.pct(*base, 'share_go')} in Go")
            else:
                why = f"here {fast} takes {d.qty(*base, 'ratio')}x {slow}'s time"
            j = g.get("counter")
            counted = g.get("why_counted") or {}
            if counted.get("compared"):
                slow_here = d.text(*base, "why_slower")
                fast_here = fast if g["why_slower"] == g["slower"] else slow
                why += "; " + _why_counted(d, base, fast_here, slow_here)
            elif j is not None:
                name = d.text(*base, "mechanism", j, "counter").removeprefix("counter.")
                why += (f"; {name} per op {d.qty(*base, 'mechanism', j, 'faster')} ({fast}) vs "
                        f"{d.qty(*base, 'mechanism', j, 'slower')} ({slow}): "
                        f"{COUNTER_MEANINGS[name]}")
            else:
                why += "; no counter differs between them"
            row["why"] = why
        rows.append(row)
    plural = {"survives": "survive"}
    tally = ", ".join(f"{d.int('go_counts', what)} "
                      f"{plural.get(what, what) if n != 1 else what}"
                      for what, n in sorted(d.get("go_counts").items()))
    return {"rows": rows, "tally": tally, "n": len(rows),
            "source": fmt.text(d.get("go_source"), src("go_source"))}


def _free_threaded(it: dict) -> str:
    """' free-threaded' when the interpreter's processes reported a free-threading build."""
    return " free-threaded" if it["versions"] and "free-threading" in it["versions"][0] else ""


def _about(d: Doc, *base) -> str:
    """'ft: CPython 3.13.5 (free-threaded build), GIL off in every block (python: provision)'."""
    it = d.get(*base)
    versions = ", ".join(d.text(*base, "versions", j).split(" ")[0]
                         for j in range(len(it["versions"]))) or "not measured"
    ft = _free_threaded(it)
    states = {True: "on", False: "off"}
    found = " and ".join(states[g] for g in it["gil_enabled"])
    gil = (f"GIL {found} in every block" if len(it["gil_enabled"]) == 1
           else f"GIL {found}" if found else "GIL state not measured")
    return (f"{d.text(*base, 'name')}: CPython {versions}{ft}, {gil} "
            f"(python: {d.text(*base, 'python')})")


def _about_short(d: Doc, *base) -> str:
    """'ft (3.13.5 free-threaded, GIL off)': a column title."""
    it = d.get(*base)
    version = d.text(*base, "versions", 0).split(" ")[0] if it["versions"] else "?"
    ft = _free_threaded(it)
    gil = {(True,): ", GIL on", (False,): ", GIL off"}.get(tuple(it["gil_enabled"]), "")
    return f"{d.text(*base, 'name')} ({version}{ft}{gil})"


def _interpreters(d: Doc, label_order: list[str], detailed: bool) -> list[dict]:
    """Each other interpreter's answer, pick, verdicts and Go findings (interpreters.py)."""
    out = []
    for i, it in enumerate(d.get("interpreters")):
        part = Part(d.doc, ("interpreters", i))
        pk = _pick(part)
        hyps = [_hypothesis_section(part, j, label_order, detailed)
                for j in range(len(it["hypotheses"]))]
        out.append({
            "name": d.text("interpreters", i, "name"),
            "about": _about(d, "interpreters", i),
            "about_short": _about_short(d, "interpreters", i),
            "asks_hypotheses": it["asks_hypotheses"],
            "answer": _answer(part), "pick": pk, "go": _go(part),
            # the pick itself, not the note on unmeasured workloads that may precede it
            "pick_line": next((x for x in pk["lines"] if x.startswith("**Pick")),
                              pk["lines"][0] if pk["lines"] else ""),
            "hypotheses": hyps,
            "warnings": [part.text("warnings", j) for j in range(len(it["warnings"]))],
            "not_applicable": [f"{fmt.text(label, src('interpreters', i, 'not_applicable'))}: "
                               f"{d.text('interpreters', i, 'not_applicable', label)}"
                               for label in it["not_applicable"]],
            "not_asked": ", ".join(d.text("interpreters", i, "not_asked", j)
                                   for j in range(len(it["not_asked"]))),
            "simultaneous": part.pct("simultaneous_confidence"),
            "n_tested": part.int("n_tested"),
            "n_ok": d.int("interpreters", i, "n_ok"),
        })
    return out


def _gil_changes(d: Doc) -> list[dict]:
    """One table per binary measured with the GIL on and off: on / off per design and
    answer workload, in the answer's notation ("Nx faster/slower without the GIL")."""
    out = []
    for g, change in enumerate(d.get("gil_changes")):
        rows = []
        for r, row in enumerate(change["rows"]):
            base = ("gil_changes", g, "rows", r)
            effect = fmt.MISSING
            if row.get("ci"):
                faster = row["ratio"] >= 1
                lo, hi = row["ci"] if faster else [1 / row["ci"][1], 1 / row["ci"][0]]
                factor = row["ratio"] if faster else 1 / row["ratio"]
                word = "faster" if faster else "slower"
                shown = (f"{fmt.quantity(factor, src(*base, 'ratio'))}x {word} "
                         f"({fmt.quantity(lo, src(*base, 'ci', 0))}–"
                         f"{fmt.quantity(hi, src(*base, 'ci', 1))})")
                effect = f"**{shown}**" if row["side"] else f"≈ {shown}"
            rows.append({"workload": d.text(*base, "workload"),
                         "label": d.text(*base, "label"),
                         "on": d.dur(*base, "on"), "off": d.dur(*base, "off"),
                         "effect": effect})
        out.append({"on": d.text("gil_changes", g, "on"), "off": d.text("gil_changes", g, "off"),
                    "python": d.text("gil_changes", g, "python"), "rows": rows})
    return out


def _interp_table(d: Doc, interpreters: list[dict]) -> dict:
    """The summary's table of the other interpreters: per answer workload, each one's
    fastest (the answer's own cell text: bold only where it clears the noise)."""
    columns = [it["about_short"] for it in interpreters]
    rows = []
    for k in range(len(d.get("answer"))):
        cells = []
        for it in interpreters:
            row = it["answer"][k] if k < len(it["answer"]) else None
            if row is None or row["runner_up"] == fmt.MISSING:
                cells.append(row["fastest"] if row else fmt.MISSING)
            else:
                cells.append(f"{row['fastest']}: {row['runner_up']}")
        rows.append({"workload": d.text("answer", k, "workload"), "cells": cells})
    return {"columns": columns, "rows": rows}


def _gil_tables(changes: list[dict], label_order: list[str]) -> list[dict]:
    """``_gil_changes`` as one row per workload, one column per design."""
    out = []
    for g in changes:
        labels = [x for x in label_order if any(r["label"] == x for r in g["rows"])]
        workloads = list(dict.fromkeys(r["workload"] for r in g["rows"]))
        cell = {(r["workload"], r["label"]): r["effect"] for r in g["rows"]}
        out.append({"on": g["on"], "off": g["off"], "columns": labels,
                    "rows": [{"workload": w, "cells": [cell.get((w, x), fmt.MISSING)
                                                       for x in labels]} for w in workloads]})
    return out


def _changed_verdicts(d: Doc) -> list[str]:
    """'H1: NEEDS RETEST (cpython3.11), VALIDATED (ft)' for each verdict that differs."""
    primary = d.get("interpreter", "name")
    out = []
    for i, ch in enumerate(d.get("changed_verdicts")):
        parts = [f"{d.text('changed_verdicts', i, 'verdicts', k)} ({k or primary})"
                 for k in ch["verdicts"]]
        out.append(f"{d.text('changed_verdicts', i, 'id')}: {', '.join(parts)}")
    return out


def _failed(d: Doc) -> list[dict]:
    """Every cell that failed or is missing, of every interpreter (a design that cannot run
    under one is "not applicable", listed with that interpreter, not here)."""
    parts = [d] + [Part(d.doc, ("interpreters", i)) for i in range(len(d.get("interpreters")))]
    rows = []
    for part in parts:
        rows += _failed_of(part)
    return rows


def _failed_of(d: Doc) -> list[dict]:
    rows = []
    for cid, c in sorted(d.get("cells").items()):
        if c["status"] in ("ok", "not_applicable"):
            continue
        base = ("cells", cid)
        dep = [d.text("hypotheses", i, "id") for i, h in enumerate(d.get("hypotheses"))
               if any(cid in (d.get("comparisons", j).get("cell_a"),
                              d.get("comparisons", j).get("cell_b"))
                      for j in h["comparisons"])]
        rows.append({"cell_id": d.text(*base, "cell_id"), "status": d.text(*base, "status"),
                     "returncode": d.int(*base, "returncode")
                     if c.get("returncode") is not None else fmt.MISSING,
                     "seconds": d.qty(*base, "seconds")
                     if c.get("seconds") is not None else fmt.MISSING,
                     "reason": d.text(*base, "reason"),
                     "hypotheses": ", ".join(dep) or fmt.MISSING})
    return rows


def _platform(d: Doc) -> dict:
    p = ("platform",)
    sw = d.get(*p, "switch_interval_ns")
    dates = list(dict.fromkeys(d.get(*p, "date_range")))
    return {
        "date": " to ".join(fmt.text(v, src(*p, "date_range", i))
                            for i, v in enumerate(dates)) or "unknown",
        "host": d.texts(*p, "host"),
        "cpu": d.texts(*p, "cpu_model"),
        "cores": d.texts(*p, "cpu_count"),
        "os": d.texts(*p, "os") if d.get(*p, "os") else d.texts(*p, "platform"),
        "python": " ".join(x for x in (d.texts(*p, "python_implementation"),
                                        d.texts(*p, "python_version")) if x != "unknown")
        or "unknown",
        "switch": ", ".join(fmt.duration_ns(v, src(*p, "switch_interval_ns", i))
                            for i, v in enumerate(sw)) or "unknown",
        "git": d.texts(*p, "git_commit"), "dirty": d.texts(*p, "git_dirty"),
        "profile": d.texts(*p, "profile"), "processes": d.texts(*p, "processes"),
        "blocks": d.texts(*p, "blocks"), "warmups": d.texts(*p, "warmups"),
        "warmup_ms": d.texts(*p, "warmup_ms"),
        "target_block_ms": d.texts(*p, "target_block_ms"),
        "rounds": d.texts(*p, "rounds"),
        "max_foreign_cpu": d.texts(*p, "max_foreign_cpu"),
        "percentile_method": d.texts(*p, "percentile_method"),
    }


def _conditions(d: Doc) -> str:
    """The header's line on the machine during the blocks (build.CONDITIONS)."""
    cond = d.get("run", "conditions")
    parts = []
    if "loadavg" in cond:
        parts.append(f"load average {d.qty('run', 'conditions', 'loadavg', 'median')} "
                     f"(max {d.qty('run', 'conditions', 'loadavg', 'max')})")
    if "foreign_cpu" in cond:
        parts.append(f"CPU share used by other processes "
                     f"{d.pct('run', 'conditions', 'foreign_cpu', 'median')} "
                     f"(max {d.pct('run', 'conditions', 'foreign_cpu', 'max')})")
    parts.append(f"{d.int('run', 'blocks_discarded')} blocks discarded for foreign load and "
                 f"re-measured, {d.int('run', 'processes_replaced')} processes replaced")
    return "; ".join(parts)


def _inputs(d: Doc) -> list[str]:
    """all.parquet, or the cell files (by count and common directory when there are many)."""
    inputs = d.get("run", "inputs")
    if len(inputs) <= 3:
        return [f"`{d.text('run', 'inputs', i)}`" for i in range(len(inputs))]
    common = os.path.commonpath(inputs)
    return [f"{d.int('run', 'n_inputs')} cell files under "
            f"`{fmt.text(common, src('run', 'inputs', '__common__'))}`"]


def context(doc: Summary, detailed: bool = True) -> dict[str, Any]:
    d = Doc(doc)
    label_order = doc["label_order"]
    hyps = [_hypothesis_section(d, i, label_order, detailed)
            for i in range(len(doc["hypotheses"]))]
    covered = {h["scenario"] for h in doc["hypotheses"]}
    other = _other_sections(d, covered, label_order)
    # the summary keeps the uncovered scenarios the answer uses (continuous, mixed); the
    # rest are in DETAILS.md
    answered = {a["scenario"] for a in doc.get("answer", [])}
    for o, sc in zip(other, sorted({c["scenario"] for c in doc["cells"].values()} - covered),
                     strict=True):
        o["in_summary"] = sc in answered
    # a table shown under an earlier hypothesis (same scenario, metric, params) is not
    # repeated in the summary: every number once
    first_of: dict[tuple, str] = {}
    for h, raw in zip(hyps, doc["hypotheses"], strict=True):
        key = (raw["scenario"], raw["metric"], json.dumps(raw["params"], sort_keys=True))
        h["table_of"] = first_of.get(key, "")
        first_of.setdefault(key, h["id"])
    # each plot once: beside the first table of its scenario and metric, the rest at the end
    embedded: set[str] = set()
    for section in hyps + other:
        section["plots"] = [p for p in section["plots"] if p["file"] not in embedded]
        embedded |= {p["file"] for p in section["plots"]}
    controls = []
    for ci in range(len(doc["controls"])):
        c = doc["controls"][ci]
        family = c.get("family") or "its family"
        status = (doc.get("calibration", {}).get(family) or {}).get("status", hyp.NOT_MEASURED)
        mine = [d.get("comparisons", j) for j in c["comparisons"]]
        if status != hyp.NOT_MEASURED:  # this control's own intervals, not its family's
            status = (hyp.MISCALIBRATED if any(x.get("ci") and (x["ci"][0] > 1 or x["ci"][1] < 1)
                                               for x in mine)
                      else hyp.CALIBRATED if any(x.get("ci") for x in mine)
                      else hyp.NOT_MEASURED)
        controls.append({"id": d.text("controls", ci, "id"),
                         "verdict": d.text("controls", ci, "verdict"),
                         "meaning": _AA_MEANING[status].format(family=family),
                         "categories": [d.text("controls", ci, "categories", j)
                                        for j in range(len(c["categories"]))],
                         "comparisons": _comparison_rows(d, c["comparisons"])})
    consts = ("constants",)
    pk = doc["constants"]["percentiles"]
    interpreters = _interpreters(d, label_order, detailed)
    gil_changes = _gil_changes(d)
    return {
        "partial": doc["partial"],
        "smoke": doc.get("smoke", False),
        "platform": _platform(d),
        "conditions": _conditions(d),
        "hypotheses": hyps,
        "controls": controls,
        "warnings": [d.text("warnings", i) for i in range(len(doc["warnings"]))],
        "alpha": d.setting("alpha"),
        "simultaneous": d.pct("simultaneous_confidence"),
        "n_tested": d.int("n_tested"),
        "calibration": _calibration(d),
        "hl": {k: fmt.text(v, src("methodology", k)) for k, v in _HL_TEXT.items()},
        "other": other,
        "more_plots": [{"file": d.text("plots", i, "file"), "title": d.text("plots", i, "title")}
                       for i, p in enumerate(doc["plots"])
                       if p["file"] not in embedded and p.get("kind") != "forest"],
        # every comparison at a glance, under the executive summary
        "forest": next(({"file": d.text("plots", i, "file"), "title": d.text("plots", i, "title")}
                        for i, p in enumerate(doc["plots"]) if p.get("kind") == "forest"), None),
        "rankings": _rankings(d),
        "answer": _answer(d),
        "counted": _counted_tables(d),
        "pick": _pick(d),
        "interpreter": _about(d, "interpreter"),
        "interpreters": interpreters,
        "interp_table": _interp_table(d, interpreters),
        "gil_changes": gil_changes,
        "gil_tables": _gil_tables(gil_changes, label_order),
        "changed_verdicts": _changed_verdicts(d),
        "mech": {"min_rate": d.setting("constants", "mechanism_min_rate"),
                 "min_factor": d.setting("constants", "mechanism_min_factor")},
        "go": _go(d),
        "recommendations": _recommendations(d),
        "failed": _failed(d),
        "run": {k: d.int("run", k) for k in ("n_planned", "n_cells", "n_ok", "n_failed",
                                             "n_not_applicable",
                                             "warmup_rows_dropped", "rows", "blocks_discarded",
                                             "processes_replaced", "blocks_under_1ms")},
        "inputs": _inputs(d),
        "c": {
            "method": d.text(*consts, "percentile_method"),
            "confidence": d.setting(*consts, "confidence", as_percent=True),
            "min_n": ", ".join(f"{_pct_label(d, k)}: {d.int(*consts, 'min_n', k)}" for k in pk),
            "P": {k: _pct_label(d, k) for k in pk},
            "max_cv": d.setting(*consts, "max_cv", as_percent=True),
            "max_spread": d.setting(*consts, "max_spread", as_percent=True),
            "min_processes": d.int(*consts, "min_processes"),
            "min_tail_processes": d.int(*consts, "min_tail_processes"),
            "min_tail_blocks": d.int(*consts, "min_tail_blocks"),
            "n_resamples": d.int(*consts, "n_resamples"),
            "cell_resamples": d.int(*consts, "cell_resamples"),
            "tail_draws": d.int(*consts, "tail_draws"),
            "seed": d.setting(*consts, "seed"),
            "ops": d.setting(*consts, "ops_per_s_numerator"),
            "min_switch_intervals": d.int(*consts, "min_switch_intervals"),
            "default_threshold": d.setting(*consts, "default_threshold", as_percent=True),
            "short_block": fmt.duration_ns(d.get(*consts, "short_block_ns"),
                                           src(*consts, "short_block_ns")),
        },
        "plots": [{"file": d.text("plots", i, "file"), "title": d.text("plots", i, "title")}
                  for i in range(len(doc["plots"]))],
        "plots_skipped": [d.text("plots_skipped", i) for i in range(len(doc["plots_skipped"]))],
        "json_name": d.text("json_name"),
        "details_name": details_name(doc["out_name"]),
        "out_name": d.text("out_name"),
    }


def render(doc: Summary, detailed: bool = False) -> str:
    """SUMMARY.md (``detailed=False``: the answer, one table per hypothesis, findings) or
    DETAILS.md (every table, comparison, ranking and A/A comparison), from the summary's
    document alone (every decision is made before rendering)."""
    ctx = context(doc, detailed)
    text = environment().get_template(TEMPLATES[detailed]).render(**ctx)
    return re.sub(r"\n{3,}", "\n\n", text)  # one blank line between blocks, never two
