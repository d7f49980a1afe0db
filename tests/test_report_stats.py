"""Statistics, comparisons, verdict rules, config validation and formatting of impl.report."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from impl.report import compare as cmp
from impl.report import fmt
from impl.report import hypotheses as hyp
from impl.report import load as ld
from impl.report import stats as st
from impl.report import synthetic as syn


def test_min_n_matches_methodology():
    assert [st.min_n_for_percentile(p) for p in (50, 95, 99, 99.9)] == [6, 72, 368, 3688]


def test_median_interval_order_statistics():
    x = np.arange(1.0, 101.0)
    assert st.quantile_ci(x, 50) == (40.0, 61.0)  # textbook n=100: x(40), x(61)
    assert st.quantile_ci(np.arange(1.0, 7.0), 50) == (1.0, 6.0)  # n=6: min..max, 96.9%
    assert st.quantile_ci(np.arange(1.0, 6.0), 50) is None  # n=5: no 95% interval


def test_cell_stats_known_values():
    x = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    s = st.cell_stats("ns_per_op", x, x, per_op=True)
    assert s.median == 5.5 and s.mean == 5.5 and s.n == 10
    assert s.ops_per_s == pytest.approx(1e9 / 5.5)
    assert s.mad == 2.5 and s.iqr == pytest.approx(4.5)
    assert s.percentiles["95"] is None  # n < 72
    assert s.unstable  # CV ~ 55%


def test_stability_rule():
    steady = np.full(10, 100.0) + np.linspace(-1, 1, 10)
    assert not st.stability(steady)[1]
    outlier = np.append(np.full(50, 100.0), 160.0)  # CV 8%, but max 58% above the mean
    cv, unstable, why = st.stability(outlier)
    assert cv < 0.10 and unstable and why == "min/max more than 50% from the mean"


def test_percentiles_linear_and_ordered():
    x = np.random.default_rng(0).exponential(1000, 5000)
    s = st.cell_stats("latency_ns", x, x[:10], per_op=False)
    assert s.percentiles["99.9"] == pytest.approx(np.percentile(x, 99.9, method="linear"))
    assert s.percentiles["50"] <= s.percentiles["95"] <= s.percentiles["99"] <= s.max
    assert s.ops_per_s is None


def test_holm_by_hand():
    adj = cmp.holm([0.01, 0.04, 0.03, 0.005])
    assert adj == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert cmp.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_compare_deterministic_and_sane():
    a = np.linspace(140, 160, 10)
    b = np.linspace(95, 105, 10)
    e1, e2 = cmp.compare(a, b, "k"), cmp.compare(a, b, "k")
    assert e1 == e2
    assert e1.ratio == pytest.approx(1.5)
    assert e1.ci[0] <= e1.ratio <= e1.ci[1] and e1.ci[0] > 1.3
    assert e1.p < 0.001


def test_samples_needed_rule():
    # estimate 1.2, interval log-half-width twice the distance to the 1.1 boundary -> 4x n
    est = math.log(1.2)
    dist = est - math.log(1.1)
    n = cmp.samples_needed(10, (est - 2 * dist, est + 2 * dist), est, [math.log(1.1)])
    assert n == 40


def _comparison(ratio, lo, hi, expect, p_adj=0.001, n=10):
    spec = hyp.ComparisonSpec("H", "H: a vs b", "a", "b", "s", "ns_per_op", {}, {}, None, None,
                              expect, 0.10)
    c = hyp.Comparison(spec, effect=cmp.Effect(n, n, ratio, 1.0, ratio, (lo, hi), p_adj, 0.0),
                       p_adj=p_adj)
    hyp._decide(c, 0.05)
    return c


@pytest.mark.parametrize("ratio,lo,hi,expect,p_adj,verdict", [
    (1.5, 1.3, 1.7, "greater", 0.001, hyp.VALIDATED),
    (1.5, 1.3, 1.7, "greater", 0.2, hyp.NEEDS_RETEST),  # beyond, not significant
    (1.0, 0.97, 1.03, "greater", 0.5, hyp.REJECTED),  # inside the band
    (0.5, 0.4, 0.6, "greater", 0.001, hyp.REJECTED),  # opposite direction
    (0.8, 0.6, 1.05, "greater", 0.01, hyp.REJECTED),  # band + opposite: predicted side excluded
    (1.1, 1.0, 1.25, "greater", 0.01, hyp.NEEDS_RETEST),  # straddles 1.1
    (0.6, 0.5, 0.7, "less", 0.001, hyp.VALIDATED),
    (1.3, 1.2, 1.4, "less", 0.001, hyp.REJECTED),
    (0.6, 0.5, 0.7, "different", 0.001, hyp.VALIDATED),
    (1.0, 0.95, 1.05, "different", 0.9, hyp.REJECTED),
    (1.2, 0.95, 1.3, "different", 0.04, hyp.NEEDS_RETEST),
])
def test_decide(ratio, lo, hi, expect, p_adj, verdict):
    assert _comparison(ratio, lo, hi, expect, p_adj).verdict == verdict


def test_inconclusive_reports_samples_needed():
    c = _comparison(1.2, 1.05, 1.35, "greater", 0.01)
    assert c.verdict == hyp.NEEDS_RETEST and c.samples_needed > 10


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
    with pytest.raises(hyp.HypothesisConfigError) as err:
        hyp.parse_hypotheses(_cfg(**change))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("config hypotheses[0] (H1)") and needle in msg


def test_duplicate_ids_and_aa_errors():
    cfg = _cfg()
    cfg["hypotheses"].append(dict(cfg["hypotheses"][0]))
    with pytest.raises(hyp.HypothesisConfigError, match="duplicate id 'H1'"):
        hyp.parse_hypotheses(cfg)
    cfg = _cfg()
    cfg["aa_control"] = {"a": "x", "b": "x", "scenario": "sc", "metric": "latency_ns"}
    with pytest.raises(hyp.HypothesisConfigError, match="two labels"):
        hyp.parse_hypotheses(cfg)


def test_each_expands_per_value_and_per_b():
    cfg = _cfg(each="n", b=["y", "x"], a_params={"k": 1}, b_params={"k": 2})
    h = hyp.parse_hypotheses(cfg)[0]
    specs = hyp.expand(h, cfg, [])
    assert [(s.b_label, s.each_value) for s in specs] == [("y", 1), ("y", 2), ("x", 1), ("x", 2)]
    assert specs[0].a_params == {"k": 1, "n": 1} and specs[0].b_params == {"k": 2, "n": 1}


def test_load_drops_warmups_and_selects_samples(tmp_path):
    path = syn.write_cell(tmp_path, "main", "round_trip", {}, {
        "latency_ns": [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]],
        "ns_per_op": [5.0, 7.0],
        "counter.wake_syscalls": [3, 5],
        "counter.max_batch": [4, 9],
    }, loops=4)
    m = ld.load(None, [path])
    assert not m.rows["warmup"].any() and m.warmup_rows_dropped == 8
    cid = "main/round_trip/default"
    lat = ld.cell_rows(m, cid, "latency_ns")
    assert list(ld.samples(lat, "latency_ns")) == [1, 2, 3, 10, 20, 30]  # pooled
    assert sorted(ld.block_samples(lat, "latency_ns")) == [2, 20]  # one median per block
    assert list(ld.samples(ld.cell_rows(m, cid, "ns_per_op"), "ns_per_op")) == [5, 7]
    wake = ld.cell_rows(m, cid, "counter.wake_syscalls")
    assert ld.counter_per_op(wake, "counter.wake_syscalls") == pytest.approx(8 / 8)
    assert ld.counter_per_op(ld.cell_rows(m, cid, "counter.max_batch"),
                             "counter.max_batch") == 9
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
