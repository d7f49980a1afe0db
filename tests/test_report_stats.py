"""Statistics, comparisons, verdict rules, config validation and formatting of impl.report."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import synthetic as syn

from impl.report import effects as eff
from impl.report import fmt
from impl.report import hypotheses as hyp
from impl.report import load as ld
from impl.report import stats as st
from impl.study import HypothesisConfigError, Study, expand


def test_min_n_matches_methodology():
    assert [st.min_n_for_percentile(p) for p in (50, 95, 99, 99.9)] == [6, 72, 368, 3688]


def _ps(values, blocks=1, host="h"):
    return st.ProcessSamples.of(values, host=host, blocks_per_process=blocks)


def test_cell_number_is_the_median_over_processes():
    ps = _ps([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    s = st.cell_stats("ns_per_op", ps, ps.values, per_op=True, seed=1)
    assert s.median == 5.5 and s.mean == 5.5 and s.n_processes == 10
    assert s.ops_per_s == pytest.approx(1e9 / 5.5)
    assert s.mad == 2.5 and s.iqr == pytest.approx(4.5)
    assert s.median_ci[0] < 5.5 < s.median_ci[1]
    assert s.percentiles["95"] is None  # n < 72 and fewer than 20 blocks
    assert "CV" in s.warning  # CV ~ 55%: a warning, nothing more


def test_hierarchical_bootstrap_draws_processes_then_blocks():
    # two processes with very different blocks: resampled process values come from
    # medians of drawn blocks, so they take values no process median has
    ps = st.ProcessSamples(np.array([1.5, 15.0]), (np.array([1.0, 2.0]), np.array([10.0, 20.0])),
                           ("h", "h"))
    vals = st.resampled_values(ps, np.random.default_rng(0), 2000)
    assert vals.shape == (2000, 2)
    assert set(np.unique(vals)) == {1.0, 1.5, 2.0, 10.0, 15.0, 20.0}
    # stratified by host: each resample keeps one process of each host
    two = st.ProcessSamples(np.array([1.0, 100.0]), (np.array([1.0]), np.array([100.0])),
                            ("h1", "h2"))
    meds = st.resampled_medians(two, np.random.default_rng(0), 500)
    assert np.all(meds == 50.5)


def test_spread_warning_rule():
    steady = np.full(10, 100.0) + np.linspace(-1, 1, 10)
    assert st.spread_warning(steady)[1] == ""
    outlier = np.append(np.full(50, 100.0), 160.0)  # CV 8%, but max 58% above the mean
    cv, why = st.spread_warning(outlier)
    assert cv < 0.10 and why == "min/max more than 50% from the mean"


def test_tails_need_values_processes_and_blocks():
    rng = np.random.default_rng(0)
    x = rng.exponential(1000, 5000)
    many = _ps(np.full(10, 700.0) + np.arange(10), blocks=2)  # 10 processes, 20 blocks
    s = st.cell_stats("latency_ns", many, x, per_op=False)
    assert s.percentiles["99.9"] == pytest.approx(np.percentile(x, 99.9, method="linear"))
    assert s.percentiles["95"] <= s.percentiles["99"] <= s.value_max
    assert s.ops_per_s is None and s.tails_note == ""
    few = _ps(np.full(6, 700.0) + np.arange(6))  # a smoke run: 6 processes, 6 blocks
    s = st.cell_stats("latency_ns", few, x, per_op=False)
    assert s.percentiles == {"95": None, "99": None, "99.9": None}
    assert "at least 5 processes and 20 blocks" in s.tails_note


def test_tail_intervals_resample_processes():
    """One process holds every extreme value: the P99's interval spans with and without it."""
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.uniform(0, 1, 900), np.full(100, 100.0)])
    process = np.repeat(np.arange(10), 100)  # process 9 is the slow one
    order = np.argsort(values, kind="stable")
    pcts = {"95": float(np.percentile(values, 95)), "99": float(np.percentile(values, 99)),
            "99.9": None}
    ci = st.tail_intervals(values[order], process[order], pcts, seed=3)
    assert ci["99.9"] is None  # a suppressed tail gets no interval
    assert ci["99"][0] < 1 and ci["99"][1] == 100.0
    assert ci == st.tail_intervals(values[order], process[order], pcts, seed=3)  # seeded
    # every process alike: the interval is narrow and holds the point estimate
    even = np.sort(rng.uniform(0, 1, 2000))
    ci = st.tail_intervals(even, rng.integers(0, 10, 2000), {"95": float(np.percentile(even, 95))},
                           seed=3)
    assert ci["95"][0] <= np.percentile(even, 95) <= ci["95"][1]
    assert ci["95"][1] - ci["95"][0] < 0.05


def test_compare_deterministic_and_sane():
    a, b = _ps(np.linspace(140, 160, 10)), _ps(np.linspace(95, 105, 10))
    e1, e2 = eff.compare(a, b, "k", 0.99), eff.compare(a, b, "k", 0.99)
    assert e1 == e2
    assert e1.ratio == pytest.approx(1.5) and e1.median_a == 150 and e1.median_b == 100
    assert e1.ci[0] <= e1.ratio <= e1.ci[1] and e1.ci[0] > 1.3
    assert e1.p < 0.001 and e1.n_resamples >= eff.N_RESAMPLES


def test_compare_pairs_processes_within_hosts():
    # host h2 is 3x slower for both sides: pooled medians would mix hosts, paired ones do not
    a = st.ProcessSamples.of(np.r_[np.full(5, 200.0) + np.arange(5), np.full(3, 600.0)])
    a = st.ProcessSamples(a.values, a.blocks, ("h1",) * 5 + ("h2",) * 3)
    b = st.ProcessSamples.of(np.r_[np.full(2, 100.0), np.full(6, 300.0) + np.arange(6)])
    b = st.ProcessSamples(b.values, b.blocks, ("h1",) * 2 + ("h2",) * 6)
    e = eff.compare(a, b, "k", 0.95)
    assert e.hosts == ("h1", "h2")
    assert 1.9 < e.ratio < 2.1  # 2x on each host
    assert np.median(a.values) / np.median(b.values) < 1.2  # the unpaired ratio misleads
    lone = st.ProcessSamples(b.values, b.blocks, ("h3",) * 8)
    with pytest.raises(eff.PairingError, match="no common host"):
        eff.compare(a, lone, "k", 0.95)


def test_processes_needed_rule():
    # estimate 1.2, interval log-half-width twice the distance to the 1.1 boundary -> 4x n
    est = math.log(1.2)
    dist = est - math.log(1.1)
    n = eff.processes_needed(10, (est - 2 * dist, est + 2 * dist), est, [math.log(1.1)])
    assert n == 40


def _comparison(ratio, lo, hi, expect, floor=None, n=10):
    spec = hyp.ComparisonSpec("H", "H: a vs b", "a", "b", "s", "ns_per_op", {}, {}, None, None,
                              expect, 0.10)
    c = hyp.Comparison(spec, effect=eff.Effect(n, n, ratio, 1.0, ratio, (lo, hi), 0.99, 0.01,
                                               0.0, ("h",), 4000))
    hyp._decide(c, 0.10, floor)
    return c


@pytest.mark.parametrize("ratio,lo,hi,expect,floor,verdict", [
    (1.5, 1.3, 1.7, "greater", None, hyp.VALIDATED),
    (1.0, 0.97, 1.03, "greater", None, hyp.REJECTED),  # inside the band
    (0.5, 0.4, 0.6, "greater", None, hyp.REJECTED),  # opposite direction
    (0.8, 0.6, 1.05, "greater", None, hyp.REJECTED),  # band + opposite: predicted side excluded
    (1.1, 1.0, 1.25, "greater", None, hyp.NEEDS_RETEST),  # straddles 1.1
    (0.6, 0.5, 0.7, "less", None, hyp.VALIDATED),
    (1.3, 1.2, 1.4, "less", None, hyp.REJECTED),
    (0.6, 0.5, 0.7, "different", None, hyp.VALIDATED),
    (1.0, 0.95, 1.05, "different", None, hyp.REJECTED),
    (1.2, 0.95, 1.3, "different", None, hyp.NEEDS_RETEST),
    # an A/A floor of 100 % (a miscalibrated run): 1.5x is within it, 5x clears it, "no
    # effect" cannot be claimed
    (1.5, 1.3, 1.7, "greater", 1.0, hyp.NEEDS_RETEST),
    (5.0, 4.0, 6.0, "greater", 1.0, hyp.VALIDATED),
    (1.0, 0.97, 1.03, "greater", 1.0, hyp.NEEDS_RETEST),
    (0.2, 0.15, 0.25, "greater", 1.0, hyp.REJECTED),  # beyond the floor the other way
    (1.0, 0.97, 1.03, "different", 1.0, hyp.NEEDS_RETEST),
    # a floor inside the threshold changes nothing
    (1.0, 0.97, 1.03, "greater", 0.05, hyp.REJECTED),
])
def test_decide(ratio, lo, hi, expect, floor, verdict):
    assert _comparison(ratio, lo, hi, expect, floor).verdict == verdict


def test_inconclusive_reports_processes_needed_and_floor_reasons():
    c = _comparison(1.2, 1.05, 1.35, "greater")
    assert c.verdict == hyp.NEEDS_RETEST and c.processes_needed > 10
    assert c.reasons[0].kinds == (hyp.ReasonKind.INCONCLUSIVE,)
    # a miscalibrated family (its A/A interval excluded 1): the floor is the bias it shows
    biased = _comparison(1.5, 1.3, 1.7, "greater", 1.0)
    assert biased.threshold_eff == 1.0 and biased.floor == 1.0
    assert biased.reasons[0].kinds == (hyp.ReasonKind.AA_FLOOR,)
    assert "not beyond the A/A floor (100%" in biased.reasons[0].text


def test_needs_retest_in_plain_states():
    """NEEDS RETEST in plain states: opposite direction / smaller than the noise here /
    undecided."""
    leaning = _comparison(0.95, 0.85, 1.15, "greater")
    assert leaning.verdict == hyp.NEEDS_RETEST
    assert leaning.reasons[0].kinds == (hyp.ReasonKind.OPPOSITE,)
    assert "leans the opposite way" in leaning.reasons[0].text
    undecided = _comparison(1.2, 1.05, 1.35, "greater")
    assert hyp.categorize(undecided.reasons) == ["undecided, needs more processes"]
    assert hyp.categorize(_comparison(1.5, 1.3, 1.7, "greater", 1.0).reasons) == [
        "smaller than the noise here"]


def _cfg(**h):
    base = {"id": "H1", "title": "T", "scenario": "sc", "metric": "ns_per_op", "a": "x",
            "b": "y", "expect": "greater"}
    base.update(h)
    return {"implementations": {"x": {}, "y": {}}, "scenarios": {"sc": {"grid": {"n": [1, 2]}}},
            "hypotheses": [base]}


@pytest.mark.parametrize("change,needle", [
    ({"b": "zz"}, "unknown label 'zz' in b; allowed: x, y"),
    ({"metric": "speed"}, "unknown metric 'speed'"),
    ({"each": "m"}, "each 'm' is not a grid parameter of scenario 'sc'; allowed: n"),
    ({"expect": "bigger"}, "unknown expect 'bigger'; allowed: greater, less, different"),
    ({"threshold": -1}, "threshold must be a number"),
    ({"scenario": "other"}, "unknown scenario 'other'; allowed: sc"),
    ({"context": ["counter.nope"]}, "unknown metric 'counter.nope' in context"),
    ({"colour": 1}, "unknown field 'colour'"),
    ({"b": "x"}, "a and b are the same label"),
])
def test_config_errors_are_one_line(change, needle):
    with pytest.raises(HypothesisConfigError) as err:
        Study(_cfg(**change)).check()
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("config hypotheses[0] (H1)") and needle in msg


def test_duplicate_ids_and_aa_errors():
    cfg = _cfg()
    cfg["hypotheses"].append(dict(cfg["hypotheses"][0]))
    with pytest.raises(HypothesisConfigError, match="duplicate id 'H1'"):
        Study(cfg).check()
    cfg = _cfg()
    cfg["aa_control"] = {"a": "x", "b": "x", "scenario": "sc", "metric": "latency_ns"}
    with pytest.raises(HypothesisConfigError, match="two labels"):
        Study(cfg).check()
    cfg["aa_control"] = {"a": "x", "b": "y", "pairs": [{"scenario": "sc"}]}
    with pytest.raises(HypothesisConfigError, match=r"pairs\[0\]: must be a mapping"):
        Study(cfg).check()
    cfg["aa_control"] = {"a": "x", "b": "y", "pairs": [{"scenario": "sc",
                                                        "metric": "counter.spins"}]}
    with pytest.raises(HypothesisConfigError, match="is not a time with a noise family"):
        Study(cfg).check()
    cfg["aa_control"] = {"a": "x", "b": "y", "pairs": [
        {"scenario": "sc", "metric": "latency_ns"}, {"scenario": "sc", "metric": "ns_per_op"}]}
    assert [h.id for h in Study(cfg).controls] == ["A/A sc latency_ns", "A/A sc ns_per_op"]
    cfg["aa_control"]["pairs"].append({"scenario": "sc", "metric": "burst_ns"})
    with pytest.raises(HypothesisConfigError,
                       match=r"pairs\[2\]: a second latency pair \(pairs\[0\] is the first\)"):
        Study(cfg).check()


def test_each_expands_per_value_and_per_b():
    cfg = _cfg(each="n", b=["y", "x"], a_params={"k": 1}, b_params={"k": 2})
    study = Study(cfg)
    specs = expand(study.hypotheses[0], study, [])
    assert [(s.b_label, s.each_value) for s in specs] == [("y", 1), ("y", 2), ("x", 1), ("x", 2)]
    assert specs[0].a_params == {"k": 1, "n": 1} and specs[0].b_params == {"k": 2, "n": 1}


def test_load_gives_one_value_per_process(tmp_path):
    path = syn.write_cell(tmp_path, "main", "round_trip", {}, {
        # two processes, one block each (round-robin), then a second block of process 0
        "latency_ns": [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [4.0, 5.0, 6.0]],
        "ns_per_op": [5.0, 7.0, 9.0],
        "counter.wake_syscalls": [3, 5, 1],
        "counter.max_batch": [4, 9, 2],
    }, loops=4, processes=2)
    m = ld.load(None, [path])
    assert not m.rows["warmup"].any() and m.warmup_rows_dropped == 8
    cid = "main/round_trip/default"
    lat = ld.cell_rows(m, cid, "latency_ns")
    assert list(ld.pooled(lat, "latency_ns")) == [1, 2, 3, 4, 5, 6, 10, 20, 30]
    ps = ld.process_samples(lat, "latency_ns")
    # process 0: median of its own pooled values 1..6; its blocks enter through their medians
    assert list(ps.values) == [3.5, 20.0] and [list(b) for b in ps.blocks] == [[2, 5], [20]]
    assert ps.hosts == ("synthhost", "synthhost")
    ops = ld.process_samples(ld.cell_rows(m, cid, "ns_per_op"), "ns_per_op")
    assert list(ops.values) == [7.0, 7.0]  # median of blocks 5, 9; and 7
    wake = ld.process_samples(ld.cell_rows(m, cid, "counter.wake_syscalls"),
                              "counter.wake_syscalls")
    assert list(wake.values) == pytest.approx([4 / 8, 5 / 4])  # sum(value) / sum(loops)
    top = ld.process_samples(ld.cell_rows(m, cid, "counter.max_batch"), "counter.max_batch")
    assert list(top.values) == [4, 9]
    assert m.meta[cid]["cpu_model"] == "Synthetic CPU"


def test_synthetic_schema_matches_contract(tmp_path):
    path = syn.write_cell(tmp_path, "main", "s", {"b": 2, "a": "x"}, {"ns_per_op": [1.0]})
    df = pd.read_parquet(path)
    assert list(df.columns) == ["label", "design", "impl_params", "scenario", "params",
                                "cell_id", "metric", "unit", "process", "block", "warmup",
                                "loops", "value", "host", "source_hash", "run_id"]
    # the runner's cell id (impl.contract.cell_id), not a format of the fixture's own
    assert df["cell_id"].iloc[0] == "main/s/a=x,b=2"
    assert str(df["process"].dtype) == "int32" and str(df["loops"].dtype) == "int64"
    assert path.as_posix().endswith("cells/main/s/a=x,b=2.parquet")


@pytest.mark.parametrize("v,text", [(152.2, "152 ns"), (78.51, "78.5 ns"), (999.7, "1.00 µs"),
                                    (1234.0, "1.23 µs"), (3.14159e7, "31.4 ms"),
                                    (12.0, "12.0 ns"), (2e9, "2.00 s")])
def test_duration_format(v, text):
    assert fmt.duration_ns(v, "") == text


def test_other_formats():
    assert fmt.rate(1e9 / 152.2, "") == "6.57 M ops/s"
    assert fmt.percent(0.321, "", signed=True) == "+32.1%"
    assert fmt.setting(0.1, "", as_percent=True) == "10%"
    assert fmt.setting(1e9, "") == "1e9"
    assert fmt.integer(3688, "") == "3,688"
    assert fmt.duration_ns(None, "") == "-"
    with fmt.recording() as reg:
        fmt.quantity(0.005, "src")
    assert reg.entries == [{"text": "0.00500", "value": 0.005, "kind": "quantity",
                            "source": "src"}]


def test_the_spread_mark_only_where_the_interval_cannot_show_the_spread():
    """pyperf's rule alone marked 118 of 132 numbers on a shared VM."""
    from impl.report.stats import flagged

    warned = {"warning": "CV 14% > 10%", "median": 100.0}
    assert flagged({**warned, "median_ci": [95.0, 105.0]})       # stable median, spread out
    assert not flagged({**warned, "median_ci": [80.0, 105.0]})   # the interval shows it
    assert not flagged({**warned, "median_ci": [95.0, 112.0]})
    assert not flagged({"warning": "", "median": 100.0, "median_ci": [99.0, 101.0]})
    assert not flagged({**warned, "median_ci": None})
