"""build_summary end to end on synthetic Parquet files with known values."""

from __future__ import annotations

import copy
import json
import math
import re
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

import numpy as np
import pandas as pd
import pytest
import synthetic as syn

from impl.report import build_summary, document
from impl.report.stats import PercentileOrderError

RNG = np.random.default_rng(1)


def jitter(center: float, n: int, spread: float) -> list[float]:
    """n values around center, deterministic, median exactly center (n even: symmetric)."""
    half = np.linspace(spread / n, spread, n // 2)
    vals = np.concatenate([center - half, center + half, [center] * (n % 2)])
    return list(vals)


def latency_blocks(center: float, blocks: int = 20, per_block: int = 100) -> list[list[float]]:
    rng = np.random.default_rng(int(center))
    return [list(center * rng.lognormal(0, 0.05, per_block)) for _ in range(blocks)]


def config(aa: bool = True) -> dict:
    cfg = {
        "profile": "quick",
        "implementations": {
            "main": {"design": "main"},
            "alternate_three": {"design": "alternate_three"},
            "baseline": {"design": "baseline"},
            "asyncio": {"design": "asyncio"},
            "main_aa": {"design": "main", "control_of": "main",
                        "scenarios": ["round_trip", "submit_contention"]},
        },
        "scenarios": {
            "submit_contention": {"grid": {"producers": [1, 2]}},
            "round_trip": {"grid": {}},
            "drain": {"grid": {"budget": [64, 4096]}},
            "continuous": {"grid": {}},
        },
        "hypotheses": [
            {"id": "H1", "title": "Ingress design", "question": "Does Main cost more per submit?",
             "scenario": "submit_contention", "metric": "ns_per_op", "a": "main",
             "b": "alternate_three", "each": "producers", "expect": "greater",
             "threshold": 0.10, "context": ["counter.cas_retries"],
             "recommend": {"validated": "prefer the lock+chunk ingress"}},
            {"id": "H2", "title": "Wake-up cost", "scenario": "round_trip",
             "metric": "latency_ns", "a": "alternate_three", "b": "baseline",
             "expect": "greater", "threshold": 0.10, "context": ["counter.wake_syscalls"]},
            {"id": "H3", "title": "Drain budget", "scenario": "drain",
             "metric": "drain_ns_per_task", "a": "main", "b": "main",
             "a_params": {"budget": 4096}, "b_params": {"budget": 64}, "expect": "less",
             "threshold": 0.10},
            {"id": "H4", "title": "Real world", "scenario": "continuous", "metric": "ns_per_op",
             "a": "asyncio", "b": "baseline", "expect": "greater", "threshold": 0.10},
        ],
        "rank_at": [{"scenario": "submit_contention", "params": {"producers": 1},
                     "metric": "ns_per_op"},
                    {"scenario": "round_trip", "metric": "latency_ns"}],
        "alpha": 0.05,
    }
    if aa:
        cfg["aa_control"] = {"a": "main", "b": "main_aa", "pairs": [
            {"scenario": "round_trip", "metric": "latency_ns"},
            {"scenario": "submit_contention", "metric": "ns_per_op",
             "params": {"producers": 1}}]}
    return cfg


def answer_config() -> dict:
    """config() with three answer workloads: one measured, one latency, one never measured."""
    cfg = config()
    cfg["answer"] = [
        {"workload": "one producer", "scenario": "submit_contention",
         "params": {"producers": 1}, "metric": "ns_per_op", "why": ["counter.cas_retries"]},
        {"workload": "idle round trip", "scenario": "round_trip", "metric": "latency_ns"},
        {"workload": "nothing here", "scenario": "drain", "params": {"budget": 64},
         "metric": "drain_ns_per_task"},
    ]
    return cfg


def make_run(root: Path, aa_shift: float = 1.0, fail_drain: bool = True,
             ratio_at_2: float = 1.5):
    """Write the synthetic cells; return (cell files, expected cells, failed cells)."""
    files, expected, failed = [], [], []

    def cell(label, scenario, params, metrics, **kw):
        expected.append({"cell_id": syn.cell_id(label, scenario, params), "label": label,
                         "scenario": scenario, "params": params})
        if metrics is None:
            return
        files.append(syn.write_cell(root, label, scenario, params, metrics, **kw))

    # H1: main 150 ns vs alternate_three 100 ns (ratio 1.5): VALIDATED at both producer counts
    for p in (1, 2):
        ratio = 1.5 if p == 1 else ratio_at_2
        cell("main", "submit_contention", {"producers": p},
             {"ns_per_op": jitter(100.0 * ratio * p, 8, 2.0), "counter.cas_retries": [5] * 8})
        cell("alternate_three", "submit_contention", {"producers": p},
             {"ns_per_op": jitter(100.0 * p, 8, 2.0), "counter.cas_retries": [0] * 8})
    # the throughput A/A pair: main_aa beside main at producers=1
    cell("main_aa", "submit_contention", {"producers": 1},
         {"ns_per_op": jitter(150.0 * aa_shift + 0.5, 8, 2.0)}, design="main")
    cell("baseline", "submit_contention", {"producers": 1},
         {"ns_per_op": jitter(120.0, 8, 2.0)})
    # H2: alternate_three == baseline latency: REJECTED
    cell("alternate_three", "round_trip", {}, {"latency_ns": latency_blocks(10000.0),
                                               "counter.wake_syscalls": [100] * 8})
    cell("baseline", "round_trip", {}, {"latency_ns": latency_blocks(10001.0),
                                        "counter.wake_syscalls": [0] * 8})
    # A/A control
    cell("main", "round_trip", {}, {"latency_ns": latency_blocks(20000.0)})
    cell("main_aa", "round_trip", {}, {"latency_ns": latency_blocks(20000.0 * aa_shift + 30)},
         design="main")
    # H3: the budget=64 cell crashed: NEEDS RETEST
    cell("main", "drain", {"budget": 4096}, {"drain_ns_per_task": jitter(80.0, 8, 1.0)})
    if fail_drain:
        cell("main", "drain", {"budget": 64}, None)
        failed.append({"cell_id": syn.cell_id("main", "drain", {"budget": 64}), "label": "main",
                       "scenario": "drain", "params": {"budget": 64}, "status": "crashed",
                       "returncode": 1, "seconds": 2.5, "reason": "verification failed"})
    else:
        cell("main", "drain", {"budget": 64}, {"drain_ns_per_task": jitter(120.0, 8, 1.0)})
    # H4: ratio right at the threshold: inconclusive
    cell("asyncio", "continuous", {}, {"ns_per_op": jitter(110.0, 8, 6.0)})
    cell("baseline", "continuous", {}, {"ns_per_op": jitter(100.0, 8, 6.0)})
    # an uncovered scenario with a missing cell (planned, never written, no failure record)
    cell("baseline", "mixed", {"burst": 100}, {"ns_per_op": jitter(500.0, 8, 5.0)})
    cell("main", "mixed", {"burst": 100}, None)
    return files, expected, failed


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    files, expected, failed = make_run(root)
    all_parquet = syn.write_all(files, root / "all.parquet")
    report = root / "report"
    out = build_summary(all_parquet, files, config(), report, expected, failed)
    doc = json.loads((report / "SUMMARY.json").read_text())
    return {"root": root, "files": files, "md": out.read_text(), "doc": doc, "out": out,
            "details": (report / "DETAILS.md").read_text(),
            "report": report, "all": all_parquet, "expected": expected, "failed": failed}


def verdicts(doc) -> dict[str, str]:
    return {h["id"]: h["verdict"] for h in doc["hypotheses"]}


def test_verdicts(run):
    v = verdicts(run["doc"])
    assert v == {"H1": "VALIDATED", "H2": "REJECTED", "H3": "NEEDS RETEST",
                 "H4": "NEEDS RETEST"}
    h3 = next(h for h in run["doc"]["hypotheses"] if h["id"] == "H3")
    assert any("crashed" in r and "verification failed" in r for r in h3["reasons"])
    h4 = [c for c in run["doc"]["comparisons"] if c["hypothesis"] == "H4"][0]
    assert "straddles the threshold" in h4["reasons"][0]
    assert h4["processes_needed"] is None or h4["processes_needed"] > 8
    # A/A: not different, both families measured, every interval contains 1: no floor, so
    # the declared thresholds apply (the A/A rule: only an interval excluding 1 sets one)
    assert [c["verdict"] for c in run["doc"]["controls"]] == ["REJECTED", "REJECTED"]
    cal = run["doc"]["calibration"]
    assert {f: k["status"] for f, k in cal.items()} == {"latency": "calibrated",
                                                        "throughput": "calibrated"}
    assert all(k["ci"][0] <= 1 <= k["ci"][1] and k["floor"] is None for k in cal.values())
    assert run["doc"]["floors"] == {}
    assert run["doc"]["warnings"] == []
    assert "latency: the A/A interval contains 1 (A/A round_trip latency_ns: main vs main_aa, " \
        "REJECTED: HL ratio " in run["md"]
    # m = 5 comparisons: every interval at 1 - 0.05/5, the A/A controls' too (outside m)
    assert run["doc"]["simultaneous_confidence"] == pytest.approx(0.99)
    levels = [c["confidence"] for c in run["doc"]["comparisons"] if "ratio" in c]
    assert len(levels) == 6 and levels == pytest.approx([0.99] * len(levels))  # H3 crashed


def test_markdown_sections(run):
    md = run["md"]
    assert md.startswith("# Event-loop tournament")
    assert "PARTIAL" not in md
    for head in ("## Executive summary", "## H1: Ingress design", "## H2: Wake-up cost",
                 "## H3: Drain budget", "## H4: Real world", "## Methodology",
                 "## Failed or missing cells", "## Files generated",
                 "### Recommendations", "## A/A control", "## Conclusions"):
        assert head in md and head in run["details"], head
    # the rankings and every comparison table live in DETAILS.md, which the summary links
    assert "### Rankings" in run["details"] and "### Rankings" not in md
    assert "### Comparisons" in run["details"] and "### Comparisons" not in md
    assert "[DETAILS.md](DETAILS.md)" in md
    assert "- **H1 Ingress design:** ✅ VALIDATED" in md
    assert "- **H2 Wake-up cost:** ❌ REJECTED" in md
    assert "prefer the lock+chunk ingress" in md
    assert "Synthetic CPU" in md and "5.00 ms" in md  # platform from cell metadata
    # the failed and the missing cell are listed with status and reason
    assert "| `main/drain/budget=64` | crashed | 1 | 2.50 | verification failed | H3 |" in md
    assert "`main/mixed/burst=100` | missing |" in md


def test_known_medians_and_ops(run):
    md = run["md"]
    # H1 table: implementations as rows, producers as columns, medians 150/300 and 100/200 ns
    assert "| Implementation | producers=1 | producers=2 |" in md
    assert re.search(r"\| \*\*main\*\* \| 150 ns \(14\d ns–15\d ns\) \| 300 ns \(", md)
    assert re.search(r"\| \*\*alternate_three\*\* \| 100 ns \(\S+ ns–\S+ ns\) \| 200 ns \(", md)
    assert re.search(r"\| \*\*baseline\*\* \| 120 ns \(\S+ ns–\S+ ns\) \| - \|", md)
    cells = run["doc"]["cells"]
    s = cells["main/submit_contention/producers=1"]["metrics"]["ns_per_op"]
    assert s["median"] == pytest.approx(150.0) and s["n_processes"] == 8
    assert s["ops_per_s"] == pytest.approx(1e9 / 150.0)
    # the ranking at its declared point (rank_at: producers=1), lowest first, controls left out
    details = run["details"]
    block = details[details.index("**`submit_contention` producers=1, ns_per_op:**"):]
    block = block[:block.index("\n\n", block.index("- "))]
    assert [line.split(":")[0] for line in block.splitlines()[2:]] == [
        "- alternate_three", "- baseline", "- main"]
    assert "- main: 150 ns (" in block and "1.50x the first" in block
    # context counters per op: 5 retries per block of 1000 loops
    assert cells["main/submit_contention/producers=1"]["metrics"]["counter.cas_retries"][
        "per_op"] == pytest.approx(0.005)
    details = run["details"]
    assert "| **main** | 0.00500 | 0.0100 |" not in details  # both producer cells have 5/1000
    assert "| **main** | 0.00500 | 0.00500 |" in details


def test_percentiles_ordered_and_suppressed(run):
    s = run["doc"]["cells"]["baseline/round_trip/default"]["metrics"]["latency_ns"]
    assert s["n_values"] == 2000 and s["n_processes"] == 8 and s["n_blocks"] == 20
    p = s["percentiles"]
    assert s["median"] <= p["95"] <= p["99"] <= s["value_max"]
    assert p["99.9"] is None  # n < 3688
    assert "tail not supported" in run["details"]
    # each latency row in the Markdown is in increasing order too
    rows = 0
    for line in run["details"].splitlines():
        if line.startswith("| **baseline** |") and " / 2,000 |" in line:
            vals = [c.strip() for c in line.split("|")[2:]]
            med, p95, p99 = (parse_ns(v) for v in vals[0:3])
            assert med <= p95 <= p99 <= parse_ns(vals[4])
            rows += 1
    assert rows


def parse_ns(text: str) -> float:
    num, unit = text.replace("‡", "").split()
    return float(num) * {"ns": 1, "µs": 1e3, "ms": 1e6, "s": 1e9}[unit]


def test_percentile_order_violation_raises():
    from impl.report.stats import check_order

    with pytest.raises(PercentileOrderError):
        check_order({"95": 10.0, "99": 9.0, "99.9": None}, 20.0)


def test_plots_written(run):
    pngs = sorted(f"plots/{p.name}" for p in (run["report"] / "plots").glob("*.png"))
    assert any("submit_contention_ns_per_op_vs_producers" in p for p in pngs)
    assert any("drain" in p and "budget" in p for p in pngs) is False  # one budget cell only
    assert any("round_trip_latency_ns_percentiles" in p for p in pngs)
    for p in pngs:
        assert (run["report"] / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # DETAILS.md embeds each exactly once (beside its table, or under "More plots");
        # the summary at most once (a scenario it only names is plotted in DETAILS.md)
        pattern = r"!\[[^\]]*\]\(" + re.escape(p) + r"\)"
        assert len(re.findall(pattern, run["details"])) == 1, p
        assert len(re.findall(pattern, run["md"])) <= 1, p
    h1 = run["md"].split("## H1: Ingress design")[1].split("\n## ")[0]
    assert "submit_contention_ns_per_op_vs_producers.png)" in h1  # next to H1's table
    assert {p["scenario"] for p in run["doc"]["plots"]} >= {"submit_contention", "round_trip"}
    # every comparison at a glance, right under the executive summary
    forest = run["md"].split("## Executive summary")[1].split("\n## ")[0]
    assert "plots/SUMMARY_forest.png)" in forest


def test_forest_plot_latency_grid_and_unswept_plot(tmp_path):
    """A forest plot of every comparison (none without an interval), small
    multiples wrapped at 3 per row, and a plot where nothing is swept."""
    from matplotlib import image

    from impl.report import plots

    rows = [{"key": f"H{i}", "ratio": r, "ci": ci, "threshold": 0.1, "threshold_eff": t,
             "verdict": v, "confidence": 0.99}
            for i, (r, ci, t, v) in enumerate([(1.5, [1.3, 1.7], 0.1, "VALIDATED"),
                                               (0.8, [0.7, 0.9], 0.3, "NEEDS RETEST"),
                                               (1.0, None, 0.1, "NEEDS RETEST")])]
    assert plots.forest_plot(rows, tmp_path / "f.png")
    assert image.imread(tmp_path / "f.png").shape[0] > 100
    assert plots.forest_plot(rows[2:], tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
    cells = [{"label": "a", "status": "ok", "params": {"burst": b}, "scenario": "s",
              "metrics": {"latency_ns": {"median": 10.0 * b, "median_ci": [9.0 * b, 11.0 * b],
                                         "percentiles": {"95": 20.0 * b}, "value_max": 30.0 * b,
                                         "percentile_ci": {}}}}
             for b in (1, 2, 3, 4, 5)]
    plots._latency_plot(cells, "latency_ns", "s", ["95"], ["a"], tmp_path / "l.png")
    h, w = image.imread(tmp_path / "l.png").shape[:2]
    assert h > w / 3  # 5 panels in two rows of at most 3, not one strip 5 panels wide
    one = [{"label": lab, "status": "ok", "params": {}, "scenario": "continuous",
            "metrics": {"ns_per_op": {"median": m, "median_ci": [m * 0.9, m * 1.1]}}}
           for lab, m in (("a", 100.0), ("b", 300.0))]
    assert "per implementation" in plots._point_plot(one, "ns_per_op", "continuous", ["a", "b"],
                                                     tmp_path / "p.png")


def test_plots_leave_out_controls_and_give_each_label_one_colour(run, tmp_path, monkeypatch):
    from impl.report import plots

    seen = []

    def capture(cells, *args):
        seen.extend(c["label"] for c in cells)
        return "t"

    monkeypatch.setattr(plots, "_sweep_plot", capture)
    monkeypatch.setattr(plots, "_latency_plot", capture)
    plots.make_plots(run["doc"], tmp_path, "X")
    assert seen and "main_aa" not in seen  # an A/A label checks the noise, it does not compete
    order = [label for label in run["doc"]["label_order"] if label != "main_aa"]
    colours = [plots._style(label, order)["color"] for label in order]
    assert len(set(colours)) == len(order) <= len(plots.PALETTE)
    assert plots._ns_label(1500.0) == "1.5 µs" and plots._ns_label(2e6) == "2 ms"


def test_biased_aa_control_raises_thresholds_to_its_bias(tmp_path):
    # identical code measured 2x apart: the A/A intervals exclude 1, the run is miscalibrated
    # and the floor is the bias the interval establishes (its end nearest 1, just under 2x):
    # 1.5x (producers=1) is no longer enough, 5x is
    files, expected, failed = make_run(tmp_path, aa_shift=2.0, fail_drain=False, ratio_at_2=5.0)
    out = build_summary(None, files, config(), tmp_path / "rep", expected, failed)
    doc = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    assert {c["verdict"] for c in doc["controls"]} == {"VALIDATED"}  # "different"
    for fam in ("throughput", "latency"):
        k = doc["calibration"][fam]
        # main / main_aa: about 0.5, the interval below 1; its end nearest 1 sets the floor
        assert k["status"] == "miscalibrated" and k["ci"][1] < 1
        assert doc["floors"][fam] == pytest.approx(1 / k["ci"][1] - 1)
        assert 0.9 < doc["floors"][fam] < 1.0
    h1 = [c for c in doc["comparisons"] if c["hypothesis"] == "H1"]
    assert [c["verdict"] for c in h1] == ["NEEDS RETEST", "VALIDATED"]
    assert h1[0]["threshold"] == 0.10
    assert h1[0]["threshold_eff"] == pytest.approx(doc["floors"]["throughput"])
    assert "not beyond the A/A floor" in h1[0]["reasons"][0]
    h1_doc = doc["hypotheses"][0]
    assert h1_doc["verdict"] == "NEEDS RETEST"
    assert h1_doc["parts"] == [{"verdict": "VALIDATED", "where": "at producers=2"},
                               {"verdict": "NEEDS RETEST", "where": "at producers=1"}]
    # "no effect" cannot be claimed within the floor: H2 (equal latencies) is not REJECTED
    assert verdicts(doc)["H2"] == "NEEDS RETEST"
    assert any(w.startswith("miscalibrated run (throughput)") for w in doc["warnings"])
    md = out.read_text()
    details = (tmp_path / "rep" / "DETAILS.md").read_text()
    assert "miscalibrated run" in md and "10.0% → " in details  # the raised threshold is shown
    assert "this run is miscalibrated for throughput; its comparisons need more than 9" in md


def test_h3_validated_when_budget_cell_present(tmp_path):
    files, expected, failed = make_run(tmp_path, fail_drain=False)
    build_summary(None, files, config(), tmp_path / "rep", expected, failed)
    doc = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    assert verdicts(doc)["H3"] == "VALIDATED"


def test_partial_summary(tmp_path):
    files, expected, failed = make_run(tmp_path)
    out = build_summary(None, files[:3], config(), tmp_path / "rep", expected, failed,
                        partial=True, out_name="SUMMARY.partial.md")
    md = out.read_text()
    assert out.name == "SUMMARY.partial.md"
    assert md.startswith("> **PARTIAL SUMMARY.**")
    assert "`main/drain/budget=64`: crashed (verification failed)" in md
    doc = json.loads((tmp_path / "rep" / "SUMMARY.partial.json").read_text())
    assert verdicts(doc)["H2"] == "NEEDS RETEST"  # its cells are missing in this partial run


def test_partial_summary_survives_a_corrupt_cell_file(tmp_path):
    files, expected, failed = make_run(tmp_path)
    files[0].write_bytes(b"PAR1 not really parquet")
    out = build_summary(None, files, config(), tmp_path / "rep", expected, failed,
                        partial=True, out_name="SUMMARY.partial.md")
    md = out.read_text()
    assert md.startswith("> **PARTIAL SUMMARY.**")
    doc = json.loads((tmp_path / "rep" / "SUMMARY.partial.json").read_text())
    measured = {cid for cid, c in doc["cells"].items() if c["status"] == "ok"}
    assert len(measured) == len(files) - 1  # the corrupt cell counts as missing, the rest render


def test_one_process_per_side_never_validates(tmp_path):
    cfg = config(aa=False)
    cfg["hypotheses"] = cfg["hypotheses"][:1]
    files = [syn.write_cell(tmp_path, "main", "submit_contention", {"producers": p},
                            {"ns_per_op": [500.0]}) for p in (1, 2)]
    files += [syn.write_cell(tmp_path, "alternate_three", "submit_contention", {"producers": p},
                             {"ns_per_op": [100.0]}) for p in (1, 2)]
    build_summary(None, files, cfg, tmp_path / "rep", [], [])
    doc = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    assert verdicts(doc)["H1"] == "NEEDS RETEST"
    assert any("1 process with values (< 8, the profile's minimum)" in r
               for r in doc["hypotheses"][0]["reasons"])
    assert "no A/A pair measures the throughput family" in doc["warnings"][0]


def _h1_only(tmp_path, a_values, b_values, *, a_kw=None, b_kw=None, a_meta=None, b_meta=None):
    """H1 at producers=1 alone, no A/A: the summary document of a vs b on ns_per_op."""
    cfg = config(aa=False)
    cfg["hypotheses"] = [dict(cfg["hypotheses"][0], each=None, params={"producers": 1})]
    files, failed = [], []
    for label, values, kw, meta in (("main", a_values, a_kw, a_meta),
                                    ("alternate_three", b_values, b_kw, b_meta)):
        if values is None:  # the cell failed
            failed.append({"cell_id": syn.cell_id(label, "submit_contention", {"producers": 1}),
                           "label": label, "scenario": "submit_contention",
                           "params": {"producers": 1}, "status": "crashed",
                           "reason": "verification failed"})
            continue
        files.append(syn.write_cell(tmp_path, label, "submit_contention", {"producers": 1},
                                    {"ns_per_op": values}, meta=meta, **(kw or {})))
    build_summary(None, files, cfg, tmp_path / "rep", [], failed)
    return json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())


def test_a_5x_effect_with_30pct_block_cv_is_validated(tmp_path):
    rng = np.random.default_rng(5)
    a = list(500.0 * rng.lognormal(0, 0.3, 20))  # 10 processes x 2 blocks, CV ~30 %
    b = list(100.0 * rng.lognormal(0, 0.3, 20))
    doc = _h1_only(tmp_path, a, b, a_kw={"processes": 10}, b_kw={"processes": 10})
    cv = doc["cells"]["main/submit_contention/producers=1"]["metrics"]["ns_per_op"]
    assert cv["warning"]  # the spread is printed as a warning, never a veto
    assert verdicts(doc)["H1"] == "VALIDATED", doc["comparisons"]


def test_an_effect_inside_the_band_is_rejected(tmp_path):
    doc = _h1_only(tmp_path, jitter(102.0, 8, 2.0), jitter(100.0, 8, 2.0))
    assert verdicts(doc)["H1"] == "REJECTED"


@pytest.mark.parametrize("a_values,b_values,needle", [
    ([150.0], jitter(100.0, 8, 2.0), "1 process with values"),  # one sample
    ([150.0] * 8, [100.0] * 8, "zero variance"),  # all equal on both sides
    ([150.0] * 8, jitter(100.0, 8, 2.0), "zero variance"),  # one side without spread
    (None, jitter(100.0, 8, 2.0), "crashed: verification failed"),  # a failed cell
    ([float("nan")] * 8, jitter(100.0, 8, 2.0), "0 processes with values"),  # NaN values
    ([0.0, 0, 0, 0, 0, 0.0, 1, 2], jitter(100.0, 8, 2.0), "not all positive"),
    # a few zeros beside a positive median: a resampled median of 0 has no log ratio
    (jitter(150.0, 8, 2.0), [0.0, 0, 0, 100, 100, 101, 102, 103], "not all positive"),
])
def test_degenerate_input_needs_retest_with_the_reason(tmp_path, a_values, b_values, needle):
    doc = _h1_only(tmp_path, a_values, b_values)
    assert verdicts(doc)["H1"] == "NEEDS RETEST"
    assert any(needle in r for r in doc["hypotheses"][0]["reasons"]), doc["hypotheses"][0]


def test_only_processes_on_a_shared_host_count(tmp_path):
    # a: 10 processes on h1 and 1 on h2; b: 10 on h2 -> one paired process on side a
    cfg = config(aa=False)
    cfg["hypotheses"] = [dict(cfg["hypotheses"][0], each=None, params={"producers": 1})]
    p1 = {"producers": 1}
    a = syn.cell_table("main", "submit_contention", p1, {"ns_per_op": jitter(150.0, 10, 2.0)},
                       processes=10, host="h1")
    a2 = syn.cell_table("main", "submit_contention", p1, {"ns_per_op": [150.0]}, processes=1,
                        host="h2")
    import pyarrow as pa

    from impl.runner.parquet_io import with_metadata, write_table

    a2 = a2.set_column(a2.schema.get_field_index("process"), "process",
                       pa.array([10] * a2.num_rows, pa.int32()))
    meta = syn.default_meta(impl="main", label="main", design="main",
                            scenario="submit_contention", params=p1, impl_params={},
                            cell_id=syn.cell_id("main", "submit_contention", p1), processes=10)
    files = [write_table(with_metadata(pa.concat_tables([a, a2]), meta),
                         syn.cell_path(tmp_path, "main", "submit_contention", p1)),
             syn.write_cell(tmp_path, "alternate_three", "submit_contention", p1,
                            {"ns_per_op": jitter(100.0, 10, 2.0)}, processes=10, host="h2")]
    build_summary(None, files, cfg, tmp_path / "rep", [], [])
    doc = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    assert verdicts(doc)["H1"] == "NEEDS RETEST"
    assert any("1 process with values on the hosts both sides measured (h2)" in r
               for r in doc["hypotheses"][0]["reasons"]), doc["hypotheses"][0]["reasons"]


def test_a_comparison_over_two_hosts_pairs_within_them(tmp_path):
    # host h2 is 3x slower for both designs: paired within hosts, the ratio is 1.5 on each
    import pyarrow as pa

    from impl.runner.parquet_io import with_metadata, write_table

    cfg = config(aa=False)
    cfg["hypotheses"] = [dict(cfg["hypotheses"][0], each=None, params={"producers": 1})]
    p1 = {"producers": 1}
    files = []
    for label, base in (("main", 150.0), ("alternate_three", 100.0)):
        parts = [syn.cell_table(label, "submit_contention", p1,
                                {"ns_per_op": jitter(base * f, 8, 1.0)}, processes=8, host=h)
                 for f, h in ((1, "h1"), (3, "h2"))]
        proc = parts[1].schema.get_field_index("process")
        parts[1] = parts[1].set_column(
            proc, "process", pa.compute.add(parts[1].column(proc), pa.scalar(8, pa.int32())))
        meta = syn.default_meta(impl=label, label=label, design=label,
                                scenario="submit_contention", params=p1, impl_params={},
                                cell_id=syn.cell_id(label, "submit_contention", p1),
                                processes=16)
        files.append(write_table(with_metadata(pa.concat_tables(parts), meta),
                                 syn.cell_path(tmp_path, label, "submit_contention", p1)))
    out = build_summary(None, files, cfg, tmp_path / "rep", [], [])
    doc = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    c = doc["comparisons"][0]
    assert c["hosts"] == ["h1", "h2"] and c["ratio"] == pytest.approx(1.5, rel=0.01)
    assert (c["method"], c["strata"], c["n_a"], c["n_b"]) == ("HL, within host", 2, 16, 16)
    assert c["verdict"] == "VALIDATED"
    assert out.exists() and "| 1.50 | " in (tmp_path / "rep" / "DETAILS.md").read_text()
    assert "| HL, within host (2 strata) |" in (tmp_path / "rep" / "DETAILS.md").read_text()


def test_an_empty_cell_needs_retest(tmp_path):
    # a cell file without the compared metric (e.g. a runner that wrote only counters)
    cfg = config(aa=False)
    cfg["hypotheses"] = [dict(cfg["hypotheses"][0], each=None, params={"producers": 1})]
    files = [syn.write_cell(tmp_path, "main", "submit_contention", {"producers": 1},
                            {"counter.spins": [1] * 8}),
             syn.write_cell(tmp_path, "alternate_three", "submit_contention", {"producers": 1},
                            {"ns_per_op": jitter(100.0, 8, 2.0)})]
    build_summary(None, files, cfg, tmp_path / "rep", [], [])
    doc = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    assert verdicts(doc)["H1"] == "NEEDS RETEST"
    assert any("0 processes with values" in r for r in doc["hypotheses"][0]["reasons"])


# ------------------------------------------------- every number comes from the data

_NUM = re.compile(r"\d")


def _resolve(doc, path):
    cur = doc
    for p in path:
        cur = cur[p]
    return cur


@pytest.mark.parametrize("which", ["md", "details"])
def test_every_number_in_markdown_is_recorded(run, which):
    """Strip every printed value recorded in the JSON: no digit may remain."""
    md, doc = run[which], run["doc"]
    texts = sorted({e["text"] for e in doc["printed"]}, key=len, reverse=True)
    rest = md
    for t in texts:
        if _NUM.search(t):
            rest = re.sub(r"(?<![\d.])" + re.escape(t) + r"(?!\d)", " ", rest)
    leftover = [line for line in rest.splitlines() if _NUM.search(line)]
    assert leftover == []


def test_default_config_summary_is_short_and_prints_each_row_once(tmp_path):
    """The study's own config, one synthetic cell per planned cell: at most 300 lines."""
    import yaml

    from impl.pipeline import cells as cellmod
    from impl.study import Study

    root = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((root / "config.yaml").read_text())
    planned = cellmod.expand(Study(cfg))
    rng = np.random.default_rng(3)
    files, expected = [], []
    for c in planned:
        expected.append(c.expected())
        metrics = {"ns_per_op": list(1000 * rng.lognormal(0, 0.1, 10)),
                   "counter.wake_syscalls": [1] * 10, "counter.batches": [2] * 10}
        if c.scenario in ("round_trip", "wakeup"):
            metrics["latency_ns"] = [list(5e4 * rng.lognormal(0, 0.1, 20)) for _ in range(10)]
        if c.scenario == "budget_sweep":
            metrics["drain_ns_per_task"] = list(100 * rng.lognormal(0, 0.1, 10))
            metrics["internal_wait_ns"] = [list(1e4 * rng.lognormal(0, 0.1, 5))
                                           for _ in range(10)]
        files.append(syn.write_cell(tmp_path, c.label, c.scenario, c.params, metrics,
                                    design=c.design, processes=10))
    out = build_summary(None, files, cfg, tmp_path / "rep", expected, [])
    lines = out.read_text().splitlines()
    assert len(lines) <= 300, len(lines)
    rows = [line for line in lines if line.startswith("| **")]
    assert len(rows) == len(set(rows))  # no table row twice
    findings = [line for line in lines if line.startswith("- ") and "→" in line]
    assert len(findings) == len(set(findings))  # no finding twice
    assert "## The answer" in out.read_text()


def test_printed_values_match_json(run):
    """Every printed number equals the JSON field it names, formatted the same way."""
    from impl.report import fmt

    doc = run["doc"]
    numeric = {"duration_ns": fmt.duration_ns, "quantity": fmt.quantity, "rate": fmt.rate,
               "pvalue": fmt.pvalue, "integer": fmt.integer}
    checked = 0
    for e in doc["printed"]:
        try:
            path = json.loads(e["source"])
            v = _resolve(doc, path)
        except (ValueError, KeyError, IndexError, TypeError):
            assert e["kind"] == "text", e
            continue
        if e["kind"] in numeric:
            assert v == pytest.approx(e["value"]), e
            assert numeric[e["kind"]](v, "") == e["text"], e
            checked += 1
        elif e["kind"] in ("setting", "setting_percent"):
            assert v == e["value"], e
            assert fmt.setting(v, "", as_percent=e["kind"] == "setting_percent") == e["text"], e
        elif e["kind"] == "percent":
            assert v == pytest.approx(e["value"]), e
            assert fmt.percent(v, "", signed=e["text"].startswith("+")) == e["text"], e
            checked += 1
        else:
            assert str(v) == e["text"], e
    assert checked > 50


def test_json_statistics_recomputed_from_parquet(run):
    """The JSON's cell statistics, recomputed independently from the cell files."""
    df = pd.concat(pd.read_parquet(p) for p in run["files"])
    df = df[~df["warmup"]]
    cells = run["doc"]["cells"]
    checked = 0
    for (cid, metric), g in df.groupby(["cell_id", "metric"]):
        s = cells[cid]["metrics"][metric]
        if metric.startswith("counter."):
            sums = g.groupby("process")[["value", "loops"]].sum()
            assert s["per_op"] == pytest.approx(np.median(sums["value"] / sums["loops"]))
            continue
        # latency: each process's own pooled median; block metrics: the median of its blocks
        x = np.sort(g.groupby("process")["value"].median().to_numpy())
        assert s["n_processes"] == len(x)
        assert s["median"] == pytest.approx(np.median(x))
        assert s["mean"] == pytest.approx(x.mean())
        assert s["max"] == pytest.approx(x.max()) and s["min"] == pytest.approx(x.min())
        assert s["stdev"] == pytest.approx(x.std(ddof=1))
        assert s["median_ci"][0] <= s["median"] <= s["median_ci"][1]
        pooled = np.sort(g["value"].to_numpy())
        assert s["value_max"] == pytest.approx(pooled[-1])
        for k, v in s["percentiles"].items():
            if v is not None:
                assert v == pytest.approx(np.percentile(pooled, float(k)))
        if metric in ("ns_per_op", "drain_ns_per_task"):
            assert s["ops_per_s"] == pytest.approx(1e9 / np.median(x))
        checked += 1
    assert checked >= 10


def _process_values(run, cell_id: str, metric: str) -> np.ndarray:
    """Each process's value recomputed from the cell files (latency: its pooled median)."""
    df = pd.concat(pd.read_parquet(p) for p in run["files"])
    g = df[(~df["warmup"]) & (df["cell_id"] == cell_id) & (df["metric"] == metric)]
    return g.groupby("process")["value"].median().to_numpy()


def test_each_cell_number_is_the_same_everywhere(run):
    """The comparison, the table, the ranking and the plots read one median per cell."""
    doc, md = run["doc"], run["md"]
    cells = doc["cells"]
    compared = 0
    for c in doc["comparisons"]:
        if "ratio" not in c:
            continue
        a = cells[c["cell_a"]]["metrics"][c["metric"]]["median"]
        b = cells[c["cell_b"]]["metrics"][c["metric"]]["median"]
        assert (c["median_a"], c["median_b"]) == (a, b)
        # the verdict's ratio is the Hodges-Lehmann one, not a / b: one host and no rounds
        # here, so one stratum: exp(median of every pairwise log difference)
        va = _process_values(run, c["cell_a"], c["metric"])
        vb = _process_values(run, c["cell_b"], c["metric"])
        assert c["ratio"] == pytest.approx(
            np.exp(np.median(np.log(va)[:, None] - np.log(vb)[None, :])))
        assert c["method"] == "HL, within host" and c["strata"] == 1
        assert c["ci"][0] <= c["ratio"] <= c["ci"][1]
        compared += 1
    assert compared >= 6
    assert doc["rankings"]["points"]
    for r in doc["rankings"]["points"]:
        for e in r["entries"]:
            s = cells[e["cell_id"]]["metrics"][r["metric"]]
            assert (e["median"], e["ci"]) == (s["median"], s["median_ci"])
    # a latency cell's median is printed from one field: its table, latency table, comparison
    src = json.dumps(["cells", "alternate_three/round_trip/default", "metrics", "latency_ns",
                      "median"])
    texts = {e["text"] for e in doc["printed"] if e["source"] == src}
    assert len(texts) == 1 and md.count(texts.pop()) >= 3


@pytest.mark.parametrize("kw_b,meta_b,needle", [
    ({"host": "otherhost"}, None, "no host in common"),
    ({}, {"git_commit": "def5678"}, "different code versions"),
    ({"processes": 4}, {"processes": 8}, "4 processes with values (< 8"),
])
def test_quality_failures_need_retest(tmp_path, kw_b, meta_b, needle):
    doc = _h1_only(tmp_path, jitter(150.0, 8, 2.0), jitter(100.0, 8, 2.0), b_kw=kw_b,
                   b_meta=meta_b)
    assert verdicts(doc)["H1"] == "NEEDS RETEST"
    assert any(needle in r for r in doc["hypotheses"][0]["reasons"]), doc["hypotheses"][0]


def test_hypothesis_with_decided_but_different_parts_is_mixed(tmp_path):
    files, expected, failed = make_run(tmp_path, fail_drain=False, ratio_at_2=1.0)
    out = build_summary(None, files, config(), tmp_path / "rep", expected, failed)
    doc = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    h1 = doc["hypotheses"][0]
    assert h1["verdict"] == "MIXED"
    assert h1["parts"] == [{"verdict": "VALIDATED", "where": "at producers=1"},
                           {"verdict": "REJECTED", "where": "at producers=2"}]
    md = out.read_text()
    assert "◐ MIXED: VALIDATED at producers=1; REJECTED at producers=2" in md


def test_aa_control_over_a_grid_pairs_cells(tmp_path):
    cfg = config()
    cfg["hypotheses"] = []
    cfg["aa_control"] = {"a": "main", "b": "main_aa", "scenario": "submit_contention",
                         "metric": "ns_per_op"}
    files = [syn.write_cell(tmp_path, lab, "submit_contention", {"producers": p},
                            {"ns_per_op": jitter(150.0 * p, 8, 2.0)}, design="main")
             for lab in ("main", "main_aa") for p in (1, 2)]
    build_summary(None, files, cfg, tmp_path / "rep", [], [])
    doc = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    keys = [c["key"] for c in doc["comparisons"]]
    assert len(keys) == 2 and all("main vs main_aa @ producers=" in k for k in keys)
    assert doc["controls"][0]["verdict"] == "REJECTED" and doc["warnings"] == []


def test_summary_from_all_parquet_alone_equals_the_one_with_cell_files(run, tmp_path):
    """all.parquet carries every cell's metadata: the cell files add nothing to the summary."""
    alone = tmp_path / "alone"
    out = build_summary(run["all"], [], config(), alone, run["expected"], run["failed"])
    assert out.read_text() == run["md"]
    doc = json.loads((alone / "SUMMARY.json").read_text())
    assert doc == run["doc"]
    assert doc["platform"]["cpu_model"] == ["Synthetic CPU"]
    assert doc["platform"]["switch_interval_s"] == [0.005]
    # the cell files alone (a partial run) give the same platform and statistics
    cells_only = tmp_path / "cells_only"
    build_summary(None, run["files"], config(), cells_only, run["expected"], run["failed"])
    doc_cells = json.loads((cells_only / "SUMMARY.json").read_text())
    assert doc_cells["platform"] == doc["platform"]
    assert doc_cells["cells"] == doc["cells"]


def test_smoke_run_says_so_at_the_top(run, tmp_path):
    assert "Smoke run" not in run["md"]  # no thinned profile in this config
    cfg = config()
    cfg["profiles"] = {"quick": {"thinned": True, "processes": 8}}
    out = build_summary(run["all"], [], cfg, tmp_path / "rep", run["expected"], run["failed"])
    head = out.read_text().splitlines()[:5]
    assert head[0].endswith("(SMOKE RUN)") and head[1] == "" and head[3] == ""
    assert head[2].startswith("> **Smoke run** (profile quick): a thinned grid with 8 processes")
    assert run["md"].splitlines()[1:3] == ["", "**Date (measured):** 2026-11-27T00:00:00+00:00"]


def test_the_answer_names_the_known_winners_with_their_ratios(tmp_path):
    cfg = answer_config()
    files, expected, failed = make_run(tmp_path)
    out = build_summary(None, files, cfg, tmp_path / "rep", expected, failed)
    doc = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    one, rt, none = doc["answer"]
    # alternate_three 100 ns, baseline 120 ns, main 150 ns (main_aa is a control: never a candidate)
    assert one["fastest"] == "alternate_three" and one["clear"]
    assert one["runner_up"]["label"] == "baseline"
    assert one["runner_up"]["speedup"] == pytest.approx(1.2, rel=0.01)
    assert [r["label"] for r in one["ranking"]] == ["alternate_three", "baseline", "main"]
    assert one["why"] == [{"counter": "counter.cas_retries", "fastest": 0.0, "runner_up": None}]
    # round trip: baseline 10001 vs alternate_three 10000 -> tied, not a winner
    assert not rt["clear"]
    assert none["status"] in ("one design only", "not measured in this run")
    md = out.read_text()
    assert md.index("## The answer") < md.index("## Executive summary")
    assert "| one producer | `submit_contention` producers=1, ns_per_op | **alternate_three** | "\
        "1.20x (" in md
    assert "alternate_three ≈ baseline (within the noise: needs 10.0%)" in md
    # the run is calibrated (every A/A interval contains 1): no floor, the declared 10 %
    assert "throughput" not in doc["floors"] and one["threshold"] == pytest.approx(0.10)


def test_the_answer_says_which_counted_cost_accounts_for_the_gap(tmp_path):
    """A mechanism file (impl/runner/mechanism/run.py's shape) at the answer's cells: the
    why column names the instructions per op, sign-checked, with its share of the gap."""
    cfg = answer_config()
    files, expected, failed = make_run(tmp_path)
    # alternate_three 100 ns, baseline 120 ns at one producer: baseline runs 1.1x the work
    counts = {"alternate_three": 1000.0, "baseline": 1100.0, "main": 1400.0}
    points = [{"cell": f"{label}/submit_contention/producers=1", "scenario": "submit_contention",
               "params": {"producers": 1}, "ops": 4000, "instructions": n,
               "instructions_per_op": [n, n], "instructions_spread": 0.0,
               "top_functions": [["_PyEval_EvalFrameDefault", n * 0.9]]}
              for label, n in counts.items()]
    mech = tmp_path / "mech.json"
    mech.write_text(json.dumps({"points": points, "skipped": {}}))
    out = build_summary(None, files, cfg, tmp_path / "rep", expected, failed,
                        mechanism_files=[mech])
    doc = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    one = doc["answer"][0]
    w = one["why_counted"]
    assert (w["component"], w["by"], w["fast"], w["slow"]) == (
        "instructions", "instructions", 1000.0, 1100.0)
    assert w["share"] == pytest.approx(math.log(1.1) / math.log(1.2), rel=0.02)
    md = out.read_text()
    assert ("baseline 1100 instructions per op, alternate_three 1000: 1.10x of a 1.20x "
            "time gap") in md
    details = (tmp_path / "rep" / "DETAILS.md").read_text()
    assert "What each design does per op" in details and "_PyEval_EvalFrameDefault" in details
    # the counts are kept with their cell; a workload without counts keeps the counters' why
    assert doc["cells"]["main/submit_contention/producers=1"]["mechanism"]["instructions"] == 1400
    assert "why_counted" not in doc["answer"][2]


def test_answer_config_errors_are_one_line():
    from impl.study import HypothesisConfigError, Study

    cfg = config()
    for entry, needle in (
        ({"workload": "w", "scenario": "nope", "metric": "ns_per_op"}, "unknown scenario 'nope'"),
        ({"workload": "w", "scenario": "round_trip", "metric": "counter.spins"}, "not a time"),
        ({"workload": "w", "scenario": "drain", "metric": "ns_per_op", "params": {"x": 1}},
         "'x' is not a grid parameter of 'drain'; allowed: budget"),
        ({"workload": "w", "scenario": "drain", "metric": "ns_per_op", "why": ["spins"]},
         "'spins' in why is not a counter"),
    ):
        cfg["answer"] = [entry]
        with pytest.raises(HypothesisConfigError) as err:
            Study(cfg).workloads  # noqa: B018 - parsing raises
        assert "\n" not in str(err.value) and needle in str(err.value)
        assert str(err.value).startswith("config answer[0]")
    # rank_at: the same checks, naming its entry
    cfg.pop("answer")
    cfg["rank_at"] = [{"scenario": "drain", "metric": "ns_per_op", "params": {"x": 1}}]
    with pytest.raises(HypothesisConfigError, match=r"^config rank_at\[0\] \(drain\): 'x' is "
                       "not a grid parameter of 'drain'; allowed: budget$"):
        Study(cfg).rank_points  # noqa: B018 - parsing raises
    cfg["rank_at"] = [{"scenario": "drain", "metric": "ns_per_op", "params": {"budget": 7}}]
    with pytest.raises(HypothesisConfigError, match=r"^config rank_at\[0\] \(drain\): budget=7 "
                       "is not in the grid of 'drain'; allowed: 64, 4096$"):
        Study(cfg).rank_points  # noqa: B018 - parsing raises


def test_a_declared_ranking_point_without_cells_is_named(tmp_path):
    cfg = config()
    # drain records drain_ns_per_task, never latency_ns: a valid point with nothing measured
    cfg["rank_at"].append({"scenario": "drain", "params": {"budget": 64}, "metric": "latency_ns"})
    files, expected, failed = make_run(tmp_path)
    build_summary(None, files, cfg, tmp_path / "rep", expected, failed)
    doc = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    assert [p["scenario"] for p in doc["rankings"]["empty"]] == ["drain"]
    details = (tmp_path / "rep" / "DETAILS.md").read_text()
    assert "Declared points without a measured cell" in details
    assert "`drain` budget=64, latency_ns" in details


def test_the_go_study_beside_the_reproduction(run):
    """go_seed.yaml's findings: the Go figure, ours for the same cell, survives or not."""
    go = {g["id"]: g for g in run["doc"]["go"]}
    assert set(go) >= {"G1", "G2", "G9"}
    # G1: AlternateThree faster than Main at one producer; here 100 ns vs 150 ns: survives
    g1 = go["G1"]
    assert g1["go_faster"] == 78.51 and g1["go_slower"] == 152.2
    assert g1["ratio"] == pytest.approx(100 / 150, rel=0.01) and g1["survives"] == "survives"
    assert go["G2"]["status"] == "not measured in this run"  # no 16-producer cell here
    details = run["details"]
    assert "## The Go study beside this reproduction" in details
    assert "| G1 | AlternateThree is ~50% faster than Main at a single producer" in details
    assert "The Go study's" in run["md"] and "## The Go study beside" not in run["md"]


def test_a_median_outside_its_bootstrap_interval_still_plots(tmp_path):
    """The default study's summary failed on this (matplotlib: negative yerr): a
    hierarchical bootstrap percentile interval need not contain its median."""
    from impl.report import plots

    cells = [{"label": "a", "status": "ok", "params": {"producers": p}, "scenario": "s",
              "metrics": {"ns_per_op": {"median": 100.0, "median_ci": [104.0, 120.0]}}}
             for p in (1, 4)]
    plots._sweep_plot(cells, "producers", "ns_per_op", "s", ["a"], tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_one_notation_for_an_effect(run):
    """One notation: "A is N x faster than B (interval)", in findings and conclusions."""
    md = run["md"]
    assert "relative to" not in md
    findings = [x for x in md.splitlines() if x.startswith("- ") and "→" in x]
    assert findings and all(re.search(r" is \d[\d.]*x (faster|slower|lower|higher) than ", x)
                            and "interval" in x for x in findings)


# ---------------------------------------------------------------- the document's declared shape


def _shape_problems(value, tp, where: str = "") -> list[str]:
    """Where ``value`` (a part of a written SUMMARY.json) leaves the shape ``tp`` declared in
    impl/report/document.py: a key its TypedDict does not declare, a required key it lacks,
    a scalar of another type; recursively through lists, dicts and unions."""
    if tp is Any:
        return []
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return []
        tried = [_shape_problems(value, t, where) for t in args if t is not type(None)]
        return min(tried, key=len)  # the option it matches, else the closest one's problems
    if is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not a {tp.__name__} object"]
        hints = get_type_hints(tp)
        problems = [f"{where}/{k}: not declared in {tp.__name__}"
                    for k in sorted(set(value) - set(hints))]
        problems += [f"{where}/{k}: required by {tp.__name__}, missing"
                     for k in sorted(tp.__required_keys__ - set(value))]
        for k in sorted(set(value) & set(hints)):
            problems += _shape_problems(value[k], hints[k], f"{where}/{k}")
        return problems
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        return [p for i, v in enumerate(value) for p in _shape_problems(v, args[0], f"{where}/{i}")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object"]
        return [p for k, v in value.items() for p in _shape_problems(v, args[1], f"{where}/{k}")]
    # a scalar: JSON writes a whole float as 1.0, so an int where a float is declared is fine
    ok = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}[tp]
    if isinstance(value, ok) and (tp is bool or not isinstance(value, bool)):
        return []
    return [f"{where}: {value!r}, declared {tp.__name__}"]


def _document_types() -> list[type]:
    return [t for t in vars(document).values() if is_typeddict(t)]


def test_the_document_module_declares_each_key_once():
    """Each TypedDict's keys are its annotations, split into required and optional."""
    for tp in _document_types():
        hints = set(get_type_hints(tp))
        assert tp.__required_keys__ | tp.__optional_keys__ == hints, tp.__name__
        assert not tp.__required_keys__ & tp.__optional_keys__, tp.__name__
    assert document.Summary.__optional_keys__ == {"plots", "plots_skipped", "printed"}


def test_summary_json_has_the_declared_shape(run, tmp_path):
    """Every key of a written SUMMARY.json (top level, cells and their metrics, comparisons,
    hypotheses, controls, calibration, answer rows, the pick, the Go rows, ...) is declared
    in impl/report/document.py and every required key is there: a field added to the
    document without its declaration fails here."""
    cfg = answer_config()
    files, expected, failed = make_run(tmp_path)
    build_summary(None, files, cfg, tmp_path / "rep", expected, failed)
    answered = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    for doc in (run["doc"], answered):
        assert _shape_problems(doc, document.Summary) == []
        # the keys added last (plots, printed) are in every written document
        assert set(doc) == set(get_type_hints(document.Summary))
    # the check reached every kind of record, with and without its optional keys
    doc = run["doc"]
    assert doc["controls"] and doc["calibration"] and doc["go"] and doc["rankings"]["points"]
    assert {"ratio" in c for c in doc["comparisons"]} == {True, False}
    assert {g["status"] == "ok" for g in doc["go"]} == {True, False}
    metrics = [m for c in doc["cells"].values() for m in c["metrics"].values()]
    assert {"per_op" in m for m in metrics} == {True, False}
    assert {a["status"] == "ok" for a in answered["answer"]} == {True, False}
    assert answered["pick"]["pick"] is not None


def test_the_shape_check_finds_an_undeclared_or_missing_key(run):
    doc = copy.deepcopy(run["doc"])
    cid = sorted(doc["cells"])[0]
    doc["brand_new"] = 1
    doc["comparisons"][0]["new_statistic"] = 0.5
    del doc["cells"][cid]["status"]
    doc["controls"][0]["root_cause"] = doc["hypotheses"][0]["root_cause"]
    doc["calibration"][sorted(doc["calibration"])[0]]["n_intervals"] = "two"
    problems = _shape_problems(doc, document.Summary)
    fam = sorted(doc["calibration"])[0]
    assert problems == [
        "/brand_new: not declared in Summary",
        f"/calibration/{fam}/n_intervals: 'two', declared int",
        f"/cells/{cid}/status: required by Cell, missing",
        "/comparisons/0/new_statistic: not declared in Comparison",
        "/controls/0/root_cause: not declared in Control",
    ]


def test_a_row_per_cell_plot_names_what_differs_and_the_unbounded_budget_stands_apart(
        tmp_path, monkeypatch):
    """Issue 28: wakeup's rows named only by design (its modes missing); the unbounded
    budget's tick ran into the largest budget's ("4096" + "0 (unbounded)")."""
    from impl.report import plots

    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig))
    rows = [{"label": lab, "status": "ok", "params": {"idle_us": 0, "mode": mode},
             "scenario": "wakeup",
             "metrics": {"ns_per_op": {"median": m, "median_ci": [m * 0.9, m * 1.1]}}}
            for lab, mode, m in (("a", "running", 100.0), ("a", "sleeping", 900.0),
                                 ("b", "running", 200.0))]
    plots._point_plot(rows, "ns_per_op", "wakeup", ["a", "b"], tmp_path / "w.png")
    names = [t.get_text() for t in figs[-1].axes[0].get_yticklabels()]
    assert names == ['a (mode="sleeping")', 'b (mode="running")', 'a (mode="running")']
    sweep = [{"label": "a", "status": "ok", "params": {"budget": b}, "scenario": "budget_sweep",
              "metrics": {"ns_per_op": {"median": 50.0, "median_ci": [45.0, 55.0]}}}
             for b in (64, 4096, 0)]
    plots._sweep_plot(sweep, "budget", "ns_per_op", "budget_sweep", ["a"], tmp_path / "b.png")
    ax = figs[-1].axes[0]
    ticks = list(ax.get_xticks())
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["64", "4096", "0\n(unbounded)"]
    assert ticks[2] / ticks[1] >= 4  # two octaves apart on the log axis: labels do not touch
    for fig in figs:
        plots.plt.close(fig)
