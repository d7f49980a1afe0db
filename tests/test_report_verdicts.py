"""The verdicts' statistic (Hodges-Lehmann, stratified by host and round) and the A/A rule.

Hand-computed examples for the estimate and its interval, the
pairing by pipeline round, and the A/A rule that raises a family's thresholds only when an
A/A interval excludes 1. Synthetic, seeded data; nothing is timed.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import synthetic as syn

from impl.report import build_summary
from impl.report import effects as eff
from impl.report import hypotheses as hyp
from impl.report import load as ld
from impl.report import stats as st
from impl.study import Study


def _ps(log_values, host="h", rounds=None):
    """Process values given by their logs (so the differences are the numbers below)."""
    return st.ProcessSamples.of(np.exp(np.asarray(log_values, dtype=float)), host=host,
                                rounds=rounds)


# ------------------------------------------------------------- the statistic by hand


def test_hodges_lehmann_one_stratum_by_hand():
    # log a = 0, 0.5, 1, 2; log b = 0.2, 0.3, 1.2. The 12 differences log a_i - log b_j:
    #   a=0:   -0.2 -0.3 -1.2
    #   a=0.5:  0.3  0.2 -0.7
    #   a=1:    0.8  0.7 -0.2
    #   a=2:    1.8  1.7  0.8
    # sorted: -1.2 -0.7 -0.3 -0.2 -0.2 0.2 | 0.3 0.7 0.8 0.8 1.7 1.8
    # HL estimate: the median, (0.2 + 0.3) / 2 = 0.25.
    a, b = _ps([0, 0.5, 1, 2]), _ps([0.2, 0.3, 1.2])
    e = eff.hodges_lehmann(a, b, 0.80)
    assert math.log(e.ratio) == pytest.approx(0.25)
    # 80 %: z = 1.2815516 (normal table), sigma = sqrt(m n (m + n + 1) / 12) = sqrt(8)
    # = 2.8284271; with the continuity half step, C = ceil(N/2 - z sigma - 1/2)
    # = ceil(6 - 3.6248 - 0.5) = ceil(1.875) = 2: the interval is [d_(2), d_(N+1-2)]
    # = [d_(2), d_(11)] = [-0.7, 1.7]
    assert [math.log(x) for x in e.ci] == pytest.approx([-0.7, 1.7])
    assert (e.n_a, e.n_b, e.strata, e.method) == (4, 3, 1, eff.HL_BY_HOST)
    assert e.n_resamples == 0 and e.bounded
    # the medians stay the cells' own (the tables' numbers), not the HL estimate
    assert e.median_a == pytest.approx((math.exp(0.5) + math.exp(1)) / 2)
    assert e.median_b == pytest.approx(math.exp(0.3))
    # 95 %: z = 1.959964, z sigma + 1/2 = 6.04 > N/2 = 6: no pair of differences bounds the
    # interval at this level (R would clamp to the extremes; a verdict must not)
    wide = eff.hodges_lehmann(a, b, 0.95)
    assert not wide.bounded and wide.ci == (0.0, math.inf)
    assert math.log(wide.ratio) == pytest.approx(0.25)


def test_hodges_lehmann_two_rounds_by_hand():
    # round 0: log a = 0, 1; log b = 0.45 -> w = 1/(2+1+1) = 1/4; d = -0.45, 0.55
    # round 1: log a = 0, 0.4, 0.8; log b = 0.1, 0.2, 0.3 -> w = 1/7;
    #   d = -0.1 -0.2 -0.3 | 0.3 0.2 0.1 | 0.7 0.6 0.5
    # sorted with cumulative weight (total W = 2/4 + 9/7 = 1.785714, W/2 = 0.892857):
    #   -0.45 .2500  -0.3 .3929  -0.2 .5357  -0.1 .6786  0.1 .8214  0.2 .9643
    #    0.3 1.1071   0.5 1.2500  0.55 1.5000  0.6 1.6429  0.7 1.7857
    # estimate: the first d whose cumulative weight reaches W/2: 0.2
    # Var S = (1/4)^2 * 2*1*4/12 + (1/7)^2 * 3*3*7/12 = 0.0416667 + 0.1071429 = 0.1488095,
    # sd 0.3857584; at 50 %, z = 0.6744898: c = z sd + min(w)/2 = 0.2601908 + 0.0714286
    # = 0.3316194; lower: first cum >= W/2 - c = 0.5612378 -> -0.1;
    # upper: first cum > W/2 + c = 1.2244766 -> 0.5
    a = _ps([0, 1, 0, 0.4, 0.8], rounds=[0, 0, 1, 1, 1])
    b = _ps([0.45, 0.1, 0.2, 0.3], rounds=[0, 1, 1, 1])
    e = eff.hodges_lehmann(a, b, 0.50)
    assert (e.method, e.strata, e.n_a, e.n_b) == (eff.HL_BY_ROUND, 2, 5, 4)
    assert math.log(e.ratio) == pytest.approx(0.2)
    assert [math.log(x) for x in e.ci] == pytest.approx([-0.1, 0.5])
    # the same processes without rounds: one host stratum, other differences, other result
    flat = eff.hodges_lehmann(_ps([0, 1, 0, 0.4, 0.8]), _ps([0.45, 0.1, 0.2, 0.3]), 0.50)
    assert (flat.method, flat.strata) == (eff.HL_BY_HOST, 1)
    assert math.log(flat.ratio) != pytest.approx(0.2)


def test_rounds_on_one_side_only_are_dropped_and_too_few_fall_back_to_hosts():
    # round 2 of a and round 0 of b have no partner: left out, and not counted in n
    a = _ps([0.0, 0.1, 0.2, 0.3, 5.0], rounds=[1, 1, 3, 3, 2])
    b = _ps([0.0, 0.05, 0.1, 0.15, 9.0], rounds=[1, 1, 3, 3, 0])
    e = eff.hodges_lehmann(a, b, 0.5)
    assert (e.method, e.strata, e.n_a, e.n_b) == (eff.HL_BY_ROUND, 2, 4, 4)
    # only one process per side in a shared round: fewer than 2, so host strata
    a = _ps([0.0, 0.1, 0.2], rounds=[0, 0, 1])
    b = _ps([0.0, 0.1, 0.2], rounds=[1, 2, 2])
    e = eff.hodges_lehmann(a, b, 0.5)
    assert (e.method, e.strata, e.n_a, e.n_b) == (eff.HL_BY_HOST, 1, 3, 3)
    # one side without recorded rounds (old data): host strata
    e = eff.hodges_lehmann(_ps([0.0, 0.1, 0.2], rounds=[0, 0, 1]), _ps([0.0, 0.1, 0.2]), 0.5)
    assert e.method == eff.HL_BY_HOST


def test_pairing_by_round_removes_drift_between_rounds():
    # round 1 is 3x slower on both sides; the true ratio is 1.2 everywhere
    rng = np.random.default_rng(18)
    rounds = np.repeat(np.arange(4), 4)  # 4 rounds x 4 processes per side
    factor = np.where(rounds == 1, 3.0, 1.0)
    a = 120 * factor * rng.lognormal(0, 0.02, 16)
    b = 100 * factor * rng.lognormal(0, 0.02, 16)
    paired = eff.hodges_lehmann(st.ProcessSamples.of(a, rounds=rounds),
                                st.ProcessSamples.of(b, rounds=rounds), 0.99)
    unpaired = eff.hodges_lehmann(st.ProcessSamples.of(a), st.ProcessSamples.of(b), 0.99)
    assert (paired.method, paired.strata) == (eff.HL_BY_ROUND, 4)
    assert 1.12 < paired.ci[0] < 1.2 < paired.ci[1] < 1.28
    assert paired.ratio == pytest.approx(1.2, rel=0.03)
    width = math.log(paired.ci[1] / paired.ci[0])
    assert width < 0.7 * math.log(unpaired.ci[1] / unpaired.ci[0])


def test_hosts_are_never_paired_across():
    a, b = _ps([0.0, 0.1, 0.2], host="h1"), _ps([0.0, 0.1, 0.2], host="h2")
    with pytest.raises(eff.PairingError, match=r"no common host \(h1 vs h2\)"):
        eff.hodges_lehmann(a, b, 0.95)
    # two hosts, the second 3x slower for both sides: strata per host, 1.5 on each
    x = st.ProcessSamples(np.r_[np.full(6, 150.0) + np.arange(6), np.full(6, 450.0)
                                + np.arange(6)], tuple(np.ones(1) for _ in range(12)),
                          ("h1",) * 6 + ("h2",) * 6)
    y = st.ProcessSamples(np.r_[np.full(6, 100.0) + np.arange(6) / 1.5,
                                np.full(6, 300.0) + np.arange(6) / 1.5],
                          tuple(np.ones(1) for _ in range(12)), ("h1",) * 6 + ("h2",) * 6)
    e = eff.hodges_lehmann(x, y, 0.95)
    assert (e.method, e.strata, e.hosts) == (eff.HL_BY_HOST, 2, ("h1", "h2"))
    assert e.ratio == pytest.approx(1.5, rel=0.005)


def test_half_width_shrinks_as_one_over_sqrt_n():
    """processes_needed's premise holds for the HL interval: 4x the processes, half the width."""
    from scipy.stats import norm

    def quantiles(n):  # evenly spread log-normal values, no randomness
        return np.exp(norm.ppf((np.arange(n) + 0.5) / n) * 0.1)

    half = {}
    for n in (10, 40, 160):
        e = eff.hodges_lehmann(st.ProcessSamples.of(1.2 * quantiles(n)),
                               st.ProcessSamples.of(quantiles(n)), 0.99)
        half[n] = math.log(e.ci[1] / e.ci[0]) / 2
    assert 1.8 < half[10] / half[40] < 2.6 and 1.8 < half[40] / half[160] < 2.2
    # an undecided comparison asks for more processes, and the rule is 1/sqrt(n)
    est = math.log(1.2)
    n = eff.processes_needed(10, (est - half[10], est + half[10]), est, [math.log(1.1)])
    assert n == math.ceil(10 * (half[10] / (est - math.log(1.1))) ** 2)


def test_rounds_are_read_from_env_round_rows(tmp_path):
    rounds = [0, 0, 1, 1, 2, 2, 3, 3]
    path = syn.write_cell(tmp_path, "main", "s", {}, {"ns_per_op": [100.0 + i for i in range(8)],
                                                      ld.ROUND_METRIC: rounds})
    m = ld.load(None, [path])
    cid = "main/s/default"
    by_process = ld.process_rounds(ld.cell_rows(m, cid, ld.ROUND_METRIC))
    assert by_process == dict(enumerate(rounds))  # the warm-up rows (1e9) are dropped
    ps = ld.process_samples(ld.cell_rows(m, cid, "ns_per_op"), "ns_per_op", by_process)
    assert ps.rounds == tuple(rounds) and ps.rounds_known
    # a cell without env.round rows, or samples built without rounds: unknown (-1)
    plain = ld.process_samples(ld.cell_rows(m, cid, "ns_per_op"), "ns_per_op")
    assert plain.rounds == (st.UNKNOWN_ROUND,) * 8 and not plain.rounds_known
    assert st.ProcessSamples(np.ones(2), (np.ones(1),) * 2, ("h", "h")).rounds == (-1, -1)
    # a process whose blocks disagree on their round has none
    import pandas as pd

    rows = pd.DataFrame({"metric": [ld.ROUND_METRIC] * 3, "process": [0, 0, 1],
                         "value": [1.0, 2.0, 3.0]})
    assert ld.process_rounds(rows) == {1: 3}


# ------------------------------------------------------------- end to end: the summary


def _config(aa: bool = True) -> dict:
    cfg = {
        "profile": "quick",
        "implementations": {"main": {"design": "main"},
                            "alternate_three": {"design": "alternate_three"},
                            "main_aa": {"design": "main", "control_of": "main",
                                        "scenarios": ["continuous"]}},
        "scenarios": {"submit_contention": {"grid": {"producers": [1, 2]}},
                      "continuous": {"grid": {}}},
        "hypotheses": [{"id": "H1", "title": "Ingress", "scenario": "submit_contention",
                        "metric": "ns_per_op", "a": "main", "b": "alternate_three",
                        "each": "producers", "expect": "greater", "threshold": 0.10}],
        "alpha": 0.05,
    }
    if aa:  # the throughput family's A/A pair, on cells no hypothesis compares
        cfg["aa_control"] = {"a": "main", "b": "main_aa",
                             "pairs": [{"scenario": "continuous", "metric": "ns_per_op"}]}
    return cfg


def _run(tmp_path, aa_a, aa_b, ratios=(1.5, 5.0), rounds=None, spread=0.02):
    """H1 at producers=1 and 2 with the given true ratios (10 processes, seeded), and the
    A/A pair's process values; ``rounds``: each process's env.round, or none recorded."""
    rng = np.random.default_rng(7)
    files = []
    extra = {ld.ROUND_METRIC: list(rounds)} if rounds is not None else {}
    for p, ratio in zip((1, 2), ratios, strict=True):
        for label, centre in (("main", 100.0 * ratio), ("alternate_three", 100.0)):
            values = list(centre * rng.lognormal(0, spread, 10))
            files.append(syn.write_cell(tmp_path, label, "submit_contention", {"producers": p},
                                        {"ns_per_op": values, **extra}, processes=10))
    for label, values in (("main", aa_a), ("main_aa", aa_b)):
        files.append(syn.write_cell(tmp_path, label, "continuous", {},
                                    {"ns_per_op": list(values), **extra}, processes=10,
                                    design="main"))
    build_summary(None, files, _config(), tmp_path / "rep", [], [])
    doc = json.loads((tmp_path / "rep" / "SUMMARY.json").read_text())
    return doc, (tmp_path / "rep" / "SUMMARY.md").read_text(), (
        tmp_path / "rep" / "DETAILS.md").read_text()


def _h1(doc):
    return [c for c in doc["comparisons"] if c["hypothesis"] == "H1"]


def test_a_biased_aa_stops_a_small_effect_and_keeps_a_large_one(tmp_path):
    # identical distributions except a 2x factor: the A/A interval excludes 1
    rng = np.random.default_rng(11)
    aa_a = 200.0 * rng.lognormal(0, 0.02, 10)
    aa_b = 2 * 200.0 * rng.lognormal(0, 0.02, 10)
    doc, md, details = _run(tmp_path, aa_a, aa_b)
    aa = [c for c in doc["comparisons"] if c["hypothesis"].startswith("A/A")]
    assert len(aa) == 1 and aa[0]["ci"][1] < 1  # main / main_aa, about 0.5
    # the A/A is judged at the verdicts' level, 1 - alpha/m with m = 2 hypothesis comparisons
    assert aa[0]["confidence"] == pytest.approx(0.975) == doc["simultaneous_confidence"]
    k = doc["calibration"]["throughput"]
    assert k["status"] == "miscalibrated"
    # the floor is the bias the interval establishes: its end nearest 1
    floor = 1 / aa[0]["ci"][1] - 1
    assert doc["floors"] == {"throughput": pytest.approx(floor)} and 0.8 < floor < 1.0
    small, large = _h1(doc)
    assert small["ci"][0] > 1.1  # 1.5x, clear of the declared 10 % on its own
    assert (small["verdict"], small["threshold"]) == ("NEEDS RETEST", 0.10)
    assert small["threshold_eff"] == pytest.approx(floor)
    assert "A/A floor" in small["reasons"][0] and small["reason_kinds"][0] == ["AA_FLOOR"]
    assert large["verdict"] == "VALIDATED"  # 5x clears the floor
    assert any(w.startswith("miscalibrated run (throughput)") for w in doc["warnings"])
    assert "this run is miscalibrated for throughput; its comparisons need more than" in md
    assert "excludes 1" in details


def test_a_wide_aa_around_1_changes_no_threshold(tmp_path):
    # the A/A cells spread a lot (CV ~50 %) but measure the same: its interval contains 1
    rng = np.random.default_rng(3)
    aa_a = 200.0 * rng.lognormal(0, 0.5, 10)
    aa_b = 200.0 * rng.lognormal(0, 0.5, 10)
    doc, md, _ = _run(tmp_path, aa_a, aa_b)
    aa = [c for c in doc["comparisons"] if c["hypothesis"].startswith("A/A")][0]
    assert aa["ci"][0] < 1 < aa["ci"][1]
    assert math.log(aa["ci"][1] / aa["ci"][0]) / 2 > math.log(1.1)  # wider than the band
    assert aa["verdict"] != "VALIDATED"  # not "different"
    assert doc["floors"] == {} and doc["calibration"]["throughput"]["status"] == "calibrated"
    small, large = _h1(doc)
    assert small["threshold_eff"] == small["threshold"] == 0.10 and small["floor"] is None
    assert small["verdict"] == "VALIDATED" and large["verdict"] == "VALIDATED"
    # the width is named, as information only
    assert [w for w in doc["warnings"] if w.startswith("imprecise run (throughput")]
    assert "throughput: the A/A interval contains 1 (" in md
    assert ": the declared thresholds apply." in md


def test_verdicts_pair_processes_by_round(tmp_path):
    rounds = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]  # 2 rounds of 5 processes, as the quick profile
    rng = np.random.default_rng(5)
    doc, _, details = _run(tmp_path, 200.0 * rng.lognormal(0, 0.02, 10),
                           200.0 * rng.lognormal(0, 0.02, 10), rounds=rounds)
    for c in doc["comparisons"]:
        assert (c["method"], c["strata"], c["n_a"], c["n_b"]) == ("HL, paired by round", 2,
                                                                    10, 10)
    assert "| HL, paired by round (2 strata) |" in details
    assert [c["verdict"] for c in _h1(doc)] == ["VALIDATED", "VALIDATED"]


def test_too_few_processes_for_the_level_needs_retest():
    # 3 vs 3 at 97.5 %: N = 9 differences, z sigma + 1/2 = 2.24 * 2.29 + 0.5 > N/2: unbounded
    cfg = _config(aa=False)
    universe = [{"cell_id": f"{lab}/submit_contention/producers={p}", "label": lab,
                 "scenario": "submit_contention", "params": {"producers": p}}
                for lab in ("main", "alternate_three") for p in (1, 2)]

    def view(cid):
        c = next(u for u in universe if u["cell_id"] == cid)
        return hyp.CellView(cid, c["label"], c["label"], c["scenario"], c["params"], "ok", "",
                            ["src"], None, [], 3)

    def samples(cid, metric):
        base = 300.0 if cid.startswith("main/") else 100.0
        return st.ProcessSamples.of([base, base * 1.01, base * 1.02])

    results, _, floors, _ = hyp.evaluate(Study(cfg), universe, view, samples)
    comps = results[0].comparisons
    assert floors == {}
    for c in comps:
        assert c.effect is not None and not c.effect.bounded
        assert c.verdict == hyp.NEEDS_RETEST
        assert c.reasons[0].kinds == (hyp.ReasonKind.TOO_FEW_PROCESSES,)
        assert "no finite 97.5% interval: 3 / 3 processes" in c.reasons[0].text


@pytest.mark.parametrize("ci,bias", [
    ((1.8, 2.2), 0.8),  # above 1: the lower end is the nearest
    ((0.6, 0.8), 0.25),  # below 1: 1/0.8 - 1
    ((0.93, 1.06), None),  # contains 1
    ((0.3, 3.0), None),  # contains 1, however wide
])
def test_aa_bias_is_the_end_nearest_1(ci, bias):
    got = hyp.aa_bias(ci)
    assert got == (None if bias is None else pytest.approx(bias))
