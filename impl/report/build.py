"""build_summary: Parquet + config -> SUMMARY.md, summary JSON and plots.

One document (``doc``) holds every statistic; the renderer and the plots
read only from it, and it is written beside the Markdown, so every number
printed can be traced to a field of the JSON and the JSON to the Parquet.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from impl import contract
from impl.contract import (
    MIN_SWITCH_INTERVALS,
    PER_OP_ENV_METRICS,
    SHORT_BLOCK_NS,
    TIME_PER_OP_METRICS,
    details_name,
    is_env,
    write_atomic,
)
from impl.report import answer as ans
from impl.report import effects as eff
from impl.report import fmt, mechanism, pick, plots, render, reproduction, why
from impl.report import hypotheses as hyp
from impl.report import interpreters as itp
from impl.report import load as ld
from impl.report import stats as st
from impl.report.document import Cell, CellMetric, Comparison, HypothesisBase, Rankings, Summary
from impl.study import DEFAULT_THRESHOLD, Study

_FAILED_STATUSES = ("crashed", "timeout", "bad_input", "missing")
#: a cell whose design cannot run under its interpreter (uvloop under a free-threaded
#: python): nothing measured, nothing failed
NOT_APPLICABLE = "not_applicable"


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _universe(m: ld.Measurements, expected: list[dict], failed: list[dict]) -> dict[str, dict]:
    """Every cell planned, failed or measured, with its status (failed_cells win)."""
    cells: dict[str, dict] = {}

    def base(c: dict) -> dict:
        return {"cell_id": c["cell_id"], "label": c.get("label"), "scenario": c.get("scenario"),
                "params": dict(c.get("params") or {}), "design": c.get("design"),
                "status": "missing", "reason": "", "returncode": None, "seconds": None}

    for c in expected:
        cells[c["cell_id"]] = base(c)
    for cid, c in m.cells.items():
        if cid not in cells:
            # the planner may name a cell by its grid params only while the runner
            # records resolved params (defaults included): adopt that planned cell
            alias = [e for e in expected if e["cell_id"] not in m.cells
                     and e.get("label") == c["label"] and e.get("scenario") == c["scenario"]
                     and all(c["params"].get(k) == v for k, v in (e.get("params") or {}).items())]
            if len(alias) == 1 and alias[0]["cell_id"] in cells:
                del cells[alias[0]["cell_id"]]
        cells.setdefault(cid, base(c))
        cells[cid].update(status="ok", design=c["design"])
        if not cells[cid]["label"]:
            cells[cid].update(label=c["label"], scenario=c["scenario"], params=c["params"])
    for f in failed:
        cid = f["cell_id"]
        cells.setdefault(cid, base(f))
        status = f.get("status") or "crashed"
        cells[cid].update(status=status if status in _FAILED_STATUSES else "crashed",
                          reason=str(f.get("reason") or ""), returncode=f.get("returncode"),
                          seconds=f.get("seconds"))
    for cid, meta in m.meta.items():
        if meta.get("not_applicable") and cid in cells and cells[cid]["status"] == "missing":
            cells[cid].update(status=NOT_APPLICABLE, reason=str(meta["not_applicable"]),
                              design=meta.get("design"))
    for c in cells.values():
        if c["status"] == "missing" and not c["reason"]:
            c["reason"] = "no result file and no failure record"
        c["status_text"] = c["status"] + (f": {c['reason']}" if c["reason"] else "")
    return cells


def _git(meta: dict) -> tuple | None:
    if meta.get("git_commit"):
        return (str(meta["git_commit"]), bool(meta.get("git_dirty")))
    return None


def load_mechanism(files: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """cell id -> its point of the mechanism pass (impl/runner/mechanism/run.py), from every
    job's file; a point whose design could not run there is left out."""
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        result = json.loads(Path(f).read_text())
        for p in result.get("points", []):
            if "not_applicable" not in p:
                out[p["cell"]] = {k: v for k, v in p.items() if k != "cell"}
    return out


def _cell_metrics(m: ld.Measurements, cid: str, seed: int) -> dict[str, CellMetric]:
    """Every metric's statistics over processes; counters as their per-op rate, CPU time per
    op (the process and each thread role) and context switches per op (contract.
    PER_OP_ENV_METRICS) as the median over processes."""
    rows = m.of_cell(cid)
    out: dict[str, CellMetric] = {}
    for metric, r in rows.groupby("metric", sort=True):
        metric = str(metric)
        if is_env(metric) and metric not in PER_OP_ENV_METRICS:
            continue  # conditions of the run, not a property of the design: see _conditions
        unit = str(r["unit"].iloc[0]) if len(r) else ""
        ps = ld.process_samples(r, metric)
        if ld.is_counter(metric) or metric in PER_OP_ENV_METRICS:
            # the same statistic as every time: the median over processes of their rates
            out[metric] = {"unit": unit, "per_op": float(np.median(ps.values)) if ps.n else None,
                           "n_processes": ps.n, "n_blocks": ps.n_blocks}
            continue
        pooled, process = ld.pooled_with_process(r, metric)
        cs = st.cell_stats(metric, ps, pooled, per_op=metric in TIME_PER_OP_METRICS,
                           seed=eff.seed_for(f"{cid} {metric}", seed), pooled_process=process)
        out[metric] = {"unit": unit, **cs.to_dict()}
    return out


def _quality_totals(doc_cells: dict) -> dict:
    """Blocks discarded for foreign load, processes replaced, blocks under 1 ms, the runner's
    waits for a quiet machine (seconds, and how many cells waited): whole run."""
    qs = [c.get("quality") or {} for c in doc_cells.values()]
    waits = [float(q.get("busy_wait_s") or 0.0) for q in qs]
    return {
        "blocks_discarded": sum(len(q.get("discarded_blocks", [])) for q in qs),
        "processes_replaced": sum(len(q.get("disturbed_processes", [])) for q in qs),
        "blocks_under_1ms": sum(int(q.get("blocks_under_1ms", 0)) for q in qs),
        "busy_wait_s": round(sum(waits), 3),
        "cells_busy_waited": sum(w > 0 for w in waits),
    }


def _conditions(m: ld.Measurements, cid: str) -> dict:
    """Median and maximum of each ``env.*`` metric over the cell's measured blocks."""
    rows = m.of_cell(cid)
    out = {}
    for metric, r in rows[rows["metric"].map(is_env)].groupby("metric", sort=True):
        vals = r["value"].to_numpy(dtype=float)
        out[str(metric)] = {"median": float(np.median(vals)), "max": float(np.max(vals)),
                            "n_blocks": len(vals)}
    return out


#: the conditions the summary's header quotes: env metric -> how it is summed up over the run
CONDITIONS = ("env.loadavg", "env.foreign_cpu")


def _run_conditions(doc_cells: dict) -> dict:
    """Per CONDITIONS metric, over every measured cell's blocks: the median of the cells'
    medians and the largest value of any block (what the machine was doing while measuring)."""
    out = {}
    for metric in CONDITIONS:
        got = [c["conditions"][metric] for c in doc_cells.values()
               if metric in c.get("conditions", {})]
        if got:
            out[metric.removeprefix("env.")] = {
                "median": float(np.median([g["median"] for g in got])),
                "max": float(max(g["max"] for g in got))}
    return out


def _platform(m: ld.Measurements, doc_cells: dict) -> dict:
    """Distinct values of each platform field over the measured cells ("unknown" if absent)."""
    fields = ("date", "host", "cpu_model", "cpu_count", "os", "platform", "python_version",
              "python_implementation", "switch_interval_s", "timer_resolution_ns", "gc_enabled",
              "git_commit", "git_dirty", "profile", "processes", "blocks", "warmups",
              "warmup_ms", "target_block_ms", "rounds", "max_foreign_cpu", "percentile_method",
              "seed", "snakemake_version", "config_hash")
    out: dict[str, list] = {}
    for f in fields:
        vals = []
        for cid in sorted(m.meta):
            v = m.meta[cid].get(f)
            if v is not None and v not in vals:
                vals.append(v)
        out[f] = vals
    if not out["host"]:
        out["host"] = sorted({h for c in doc_cells.values() for h in c.get("hosts", [])})
    out["switch_interval_ns"] = [v * 1e9 for v in out["switch_interval_s"]
                                 if isinstance(v, (int, float))]
    dates = sorted(str(d) for d in out["date"])
    ends = sorted(str(m.meta[cid]["date_end"]) for cid in m.meta if m.meta[cid].get("date_end"))
    out["date_range"] = [dates[0], max(dates[-1], ends[-1]) if ends else dates[-1]] if dates else []
    return out


def _smoke(study: Study, m: ld.Measurements) -> bool:
    """True when the measured profile(s) thin the grid (config ``profiles.NAME.thinned``)."""
    return study.thinned({m.meta[cid].get("profile") for cid in m.meta} - {None})


def _texts(reasons: list[hyp.Reason]) -> list[str]:
    return [r.text for r in reasons]


def _kinds(reasons: list[hyp.Reason]) -> list[list[str]]:
    """Each reason's kinds by name (typed, so a reworded message keeps its kind)."""
    return [[k.name for k in r.kinds] for r in reasons]


def _comparison_doc(c: hyp.Comparison, alpha: float) -> Comparison:
    e = c.effect
    d: Comparison = {"key": c.spec.key, "hypothesis": c.spec.hypothesis, "a": c.spec.a_label,
         "b": c.spec.b_label, "metric": c.spec.metric, "each": c.spec.each,
         "each_value": c.spec.each_value, "a_params": c.spec.a_params,
         "b_params": c.spec.b_params, "expect": c.spec.expect, "threshold": c.spec.threshold,
         "floor": c.floor, "threshold_eff": c.threshold_eff, "where": c.where,
         "cell_a": c.cell_a, "cell_b": c.cell_b, "quality": _texts(c.quality),
         "verdict": c.verdict, "reasons": _texts(c.reasons), "reason_kinds": _kinds(c.reasons),
         "processes_needed": c.processes_needed}
    if e is not None:
        # the verdicts' statistic (effects.hodges_lehmann): ratio = exp(HL estimate of the
        # log ratio), ci its inverted van Elteren interval (None when no finite interval
        # reaches the level); medians are the cells' own, as in the tables
        d.update(n_a=e.n_a, n_b=e.n_b, median_a=e.median_a, median_b=e.median_b,
                 ratio=e.ratio, ci=list(e.ci) if e.bounded else None,
                 confidence=e.confidence, p=e.p, u=e.u,
                 # benchstat's marker: "~" when the rank test sees no difference at alpha
                 significant=e.p < alpha, hosts=list(e.hosts), method=e.method,
                 strata=e.strata, paired_by_round=e.method == eff.HL_BY_ROUND,
                 pct_diff=e.ratio - 1,
                 pct_ci=[e.ci[0] - 1, e.ci[1] - 1] if e.bounded else None,
                 # the summary's one notation: "a is N x faster than b (lo-hi x)":
                 # N >= 1 and its interval on the same scale (b/a when a is the faster)
                 factor=max(e.ratio, 1 / e.ratio),
                 factor_ci=(None if not e.bounded else list(e.ci) if e.ratio >= 1
                            else [1 / e.ci[1], 1 / e.ci[0]]))
    return d


def _hyp_doc(r: hyp.HypothesisResult, first_index: int) -> HypothesisBase:
    h = r.hypothesis
    counts = {v: sum(c.verdict == v for c in r.comparisons)
              for v in (hyp.VALIDATED, hyp.REJECTED, hyp.NEEDS_RETEST)}
    parts = [{"verdict": v, "where": w} for v, w in r.parts]
    return {"id": h.id, "title": h.title, "question": h.question, "scenario": h.scenario,
            "metric": h.metric, "a": h.a, "b": list(h.b), "each": h.each, "params": h.params,
            "a_params": h.a_params, "b_params": h.b_params, "expect": h.expect,
            "threshold": h.threshold, "context": list(h.context), "recommend": h.recommend,
            "verdict": r.verdict, "reasons": _texts(r.reasons), "reason_kinds": _kinds(r.reasons),
            "categories": r.categories,
            "counts": counts, "parts": parts,
            "n_comparisons": len(r.comparisons),
            "comparisons": list(range(first_index, first_index + len(r.comparisons))),
            "is_control": h.is_control}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def _rankings(doc_cells: dict[str, Cell], study: Study) -> Rankings:
    """Each scenario ranked at its declared point(s) (``Study.rank_points``), lowest median
    first, with each cell's 95 % interval; the scenarios with no declared point are named."""
    controls = study.control_labels
    out, empty = [], []  # a declared point without a measured cell is named, not dropped
    for w in study.rank_points:
        cells = ans.ranked(doc_cells, w, controls)
        entries = [{"label": c["label"], "cell_id": c["cell_id"],
                    "median": c["metrics"][w.metric]["median"],
                    "ci": c["metrics"][w.metric].get("median_ci"),
                    "vs_first": _ratio(c["metrics"][w.metric]["median"],
                                       cells[0]["metrics"][w.metric]["median"])}
                   for c in cells]
        point = {"scenario": w.scenario, "params": w.params, "metric": w.metric,
                 "entries": entries}
        (out if entries else empty).append(point)
    measured = {c["scenario"] for c in doc_cells.values() if c["status"] == "ok"}
    return {"points": out, "empty": empty,
            "unranked": sorted(measured - {r["scenario"] for r in out + empty})}


def decisions(study: Study, cells: dict[str, Cell], hyp_docs: list, floors: dict,
              samples: Callable[[str, str], st.ProcessSamples], seed: int, go: dict
              ) -> dict[str, Any]:
    """The answer, the pick and the Go findings on one interpreter's ``cells``."""
    costs = why.fit_cells(cells)
    answer = ans.answer(study.workloads, cells, samples, study.control_labels, hyp_docs, seed,
                        floors, costs)
    findings = reproduction.compare_with_go(go, cells, samples, seed, floors, costs)
    return {"answer": answer, "pick": pick.pick(answer, cells, samples, seed, study.label_order),
            "go": findings, "go_counts": reproduction.tally(findings),
            "cost_model": costs.to_dict() if costs else None}


def _interpreter_doc(it: Any, m: ld.Measurements, cells: dict[str, Cell]) -> dict[str, Any]:
    """What an interpreter is (declared) and what its processes found (cell metadata)."""
    found = [m.meta[cid].get("interpreter") or {} for cid in cells if cid in m.meta]
    versions = sorted({f["version"] for f in found if f.get("version")})
    gil = sorted({g for f in found for g in (f.get("gil_enabled") or [])})
    return {"name": it.name, "python": it.python, "gil": it.gil, "points": it.points,
            "primary": it.primary, "asks_hypotheses": it.asks_hypotheses,
            "versions": versions, "gil_enabled": gil,
            "not_applicable": itp.not_applicable(cells),
            "n_ok": sum(c["status"] == "ok" for c in cells.values())}


def build_summary(
    all_parquet: Path | None,
    cell_files: list[Path],
    config: Study | dict,
    report_dir: Path,
    expected_cells: list[dict],
    failed_cells: list[dict],
    partial: bool = False,
    out_name: str = "SUMMARY.md",
    mechanism_files: Iterable[Path] = (),
) -> Path:
    """Render the summary (or the partial summary) and return the Markdown path.

    ``config``: the study (or its config mapping); ConfigError (one line) when it is bad.
    """
    report_dir = Path(report_dir)
    study = config if isinstance(config, Study) else Study(config)
    study.check()  # a bad hypothesis fails before any statistic is computed
    alpha, seed = study.alpha, study.seed
    m = ld.load(all_parquet, cell_files)
    universe = _universe(m, list(expected_cells or []), list(failed_cells or []))
    label_order = study.label_order

    counted = load_mechanism(mechanism_files)
    doc_cells: dict[str, Cell] = {}
    for cid, c in sorted(universe.items()):
        d = dict(c)
        rows = m.of_cell(cid)
        d["hosts"] = ld.hosts(rows)
        d["source_hashes"] = ld.source_hashes(rows)
        d["metrics"] = _cell_metrics(m, cid, seed) if c["status"] == "ok" else {}
        d["conditions"] = _conditions(m, cid) if c["status"] == "ok" else {}
        d["quality"] = m.meta.get(cid, {}).get("quality") or {}
        if cid in counted:  # what the mechanism pass counted at this cell, per op
            d["mechanism"] = counted[cid]
        doc_cells[cid] = d

    def view_of(cells: dict[str, Cell]) -> Callable[[str], hyp.CellView]:
        def view(cid: str) -> hyp.CellView:
            d = cells[cid]
            asked = m.meta.get(cid, {}).get("processes")
            return hyp.CellView(cid, d["label"], d.get("design"), d["scenario"], d["params"],
                                d["status"], d["reason"], d["source_hashes"],
                                _git(m.meta.get(cid, {})),
                                list(d.get("quality", {}).get("failures", [])),
                                int(asked) if isinstance(asked, int) else hyp.MIN_PROCESSES)
        return view

    rounds: dict[str, dict[int, int]] = {}

    def samples(cid: str, metric: str) -> st.ProcessSamples:
        # each process's pipeline round (env.round), read once per cell: the verdicts pair by it
        if cid not in rounds:
            rounds[cid] = ld.process_rounds(ld.cell_rows(m, cid, ld.ROUND_METRIC))
        return ld.process_samples(ld.cell_rows(m, cid, metric), metric, rounds[cid])

    def decide(asked: Study, cells: dict[str, Cell]) -> dict[str, Any]:
        """The verdicts of ``asked`` on ``cells`` (one interpreter's: its own family)."""
        rows = [{**universe[cid], "params": c["params"]} for cid, c in cells.items()]
        results, control_results, floors, warnings = hyp.evaluate(
            asked, rows, view_of(cells), samples)
        comparisons, hyp_docs, ctl_docs = [], [], []
        for r in results:
            hyp_docs.append(_hyp_doc(r, len(comparisons)))
            comparisons += [_comparison_doc(c, alpha) for c in r.comparisons]
        for r in control_results:
            ctl_docs.append({**_hyp_doc(r, len(comparisons)),
                             "family": contract.METRICS[r.hypothesis.metric].family})
            comparisons += [_comparison_doc(c, alpha) for c in r.comparisons]
        calibration = {fam: k.to_dict() for fam, k in
                       hyp.calibration(control_results, asked.hypotheses).items()}
        costs = why.fit_cells(cells)
        for h in hyp_docs:
            h["root_cause"] = mechanism.root_cause(h, comparisons, cells)
            i = h["root_cause"].get("comparison")
            if i is not None:  # the counted cost behind the comparison it speaks for
                c = comparisons[i]
                a = cells[c["cell_a"]]
                counted, slower = why.explain_cells(a, cells[c["cell_b"]], c["metric"], costs)
                h["root_cause"]["why_counted"] = counted
                h["root_cause"]["why_slower"] = "a" if slower is a else "b"
        n_tested = sum(len(r.comparisons) for r in results)
        return {"comparisons": comparisons, "hypotheses": hyp_docs, "controls": ctl_docs,
                "warnings": warnings, "floors": floors, "calibration": calibration,
                "simultaneous_confidence": 1 - alpha / max(n_tested, 1), "n_tested": n_tested}

    inputs = ([str(all_parquet)] if all_parquet is not None and Path(all_parquet).exists()
              else [str(p) for p in cell_files if Path(p).exists()])
    # the main sections describe the primary interpreter's cells; every other interpreter
    # is asked the same questions on its own cells (impl/report/interpreters.py)
    measured = study.measured_interpreters()
    views = {it.name: itp.view(doc_cells, study, it.name) for it in measured}
    primary_cells = views[measured[0].name]
    with fmt.recording() as printed:
        decided = decide(itp.asked(study, measured[0], primary_cells), primary_cells)
        hyp_docs, floors = decided["hypotheses"], decided["floors"]
        doc: Summary = {
            "partial": partial,
            "out_name": out_name,
            # the primary interpreter's cells (every other's: under "interpreters")
            "cells": primary_cells,
            # comparisons, hypotheses, controls, warnings, n_tested, the simultaneous
            # confidence; "floors": per metric family whose A/A interval excludes 1
            # (miscalibrated), the bias it establishes (ratio - 1), the floor under the
            # family's thresholds; "calibration": per family with an A/A pair, which case of
            # the A/A rule applied
            **decided,
            "alpha": alpha,
            "constants": {
                "percentile_method": st.PERCENTILE_METHOD,
                "percentiles": [st.pct_key(p) for p in st.PERCENTILES],
                "confidence": st.CONFIDENCE,
                "min_n": {st.pct_key(p): st.min_n_for_percentile(p) for p in st.PERCENTILES},
                "max_cv": st.MAX_CV,
                "max_spread": st.MAX_SPREAD,
                "min_processes": hyp.MIN_PROCESSES,
                "min_tail_processes": st.MIN_TAIL_PROCESSES,
                "min_tail_blocks": st.MIN_TAIL_BLOCKS,
                "n_resamples": eff.N_RESAMPLES,
                "cell_resamples": st.N_RESAMPLES,
                "tail_draws": eff.TAIL_DRAWS,
                "seed": seed,
                "ops_per_s_numerator": 1e9,
                # the runner's block rules, quoted by the methodology section
                "min_switch_intervals": MIN_SWITCH_INTERVALS,
                "short_block_ns": SHORT_BLOCK_NS,
                # when a mechanism counter explains a result (impl/report/mechanism.py)
                "mechanism_min_rate": mechanism.MIN_RATE,
                # the practical threshold of the answer and the Go table (asv: 10 %)
                "default_threshold": DEFAULT_THRESHOLD,
                "mechanism_min_factor": mechanism.MIN_FACTOR,
                # the mechanism pass's repeatability bar for instruction counts (why.py)
                "instructions_repeat_bar": why.REPEAT_BAR,
                # the cost model's floor on the price of an instruction (why.py)
                "min_ns_per_instruction": why.MIN_NS_PER_INSTRUCTION,
            },
            "platform": _platform(m, doc_cells),
            "run": {
                "n_planned": len(expected_cells or []),
                "n_cells": len(doc_cells),
                "n_ok": sum(c["status"] == "ok" for c in doc_cells.values()),
                "n_failed": sum(c["status"] not in ("ok", NOT_APPLICABLE)
                                for c in doc_cells.values()),
                "n_not_applicable": sum(c["status"] == NOT_APPLICABLE
                                        for c in doc_cells.values()),
                "warmup_rows_dropped": m.warmup_rows_dropped,
                **_quality_totals(doc_cells),
                "conditions": _run_conditions(doc_cells),
                "rows": len(m.rows),
                "inputs": inputs,
                "n_inputs": len(inputs),
            },
            "label_order": label_order,
            # the A/A control labels: noise checks, never contenders in tables and plots
            "control_labels": sorted(study.control_labels),
            # a thinned profile (quick) is a smoke run: the summary says so at its top
            "smoke": _smoke(study, m),
        }
        doc["rankings"] = _rankings(primary_cells, study)
        go = reproduction.load()
        doc["go_source"] = go.get("source", "")
        doc.update(decisions(study, primary_cells, hyp_docs, floors, samples, seed, go))
        doc["interpreter"] = _interpreter_doc(measured[0], m, primary_cells)
        doc["interpreters"] = []
        for it in measured[1:]:
            cells = views[it.name]
            asked = itp.asked(study, it, cells)
            part = {"cells": cells, **decide(asked, cells),
                    # the study's hypotheses this interpreter does not answer (its
                    # scenarios, its points, or no label left that can run there)
                    "not_asked": [h.id for h in study.hypotheses
                                  if h.id not in {a.id for a in asked.hypotheses}]}
            part.update(decisions(study, cells, part["hypotheses"], part["floors"], samples,
                                  seed, go))
            doc["interpreters"].append({**_interpreter_doc(it, m, cells), **part})
        doc["gil_changes"] = itp.gil_changes(study, doc_cells, samples, seed)
        doc["changed_verdicts"] = itp.changed_verdicts(
            hyp_docs, [{"name": p["name"], "hypotheses": p["hypotheses"]}
                       for p in doc["interpreters"]])
        json_name = Path(out_name).with_suffix(".json").name
        doc["json_name"] = json_name
        doc = _jsonable(doc)
        doc["plots"], doc["plots_skipped"] = plots.make_plots(doc, report_dir,
                                                              Path(out_name).stem)
        markdown = render.render(doc)
        details = render.render(doc, detailed=True)
        doc["printed"] = printed.entries
    write_atomic(report_dir / json_name, json.dumps(_jsonable(doc), indent=1, sort_keys=True,
                                                    ensure_ascii=False))
    write_atomic(report_dir / details_name(out_name), details)
    out = report_dir / out_name
    write_atomic(out, markdown)
    return out
