"""The why rule (impl/report/why.py) on synthetic numbers: the fit, the sign check, shares."""

from __future__ import annotations

import math

import pytest

from impl.report import why

#: the true costs of the synthetic cells, ns per unit
TRUE = {"instructions": 0.25, "syscalls": 900.0, "switches": 12_000.0}


def _cells(noise: float = 0.0) -> list[dict]:
    """Cells spread over scales like the study's: submits (instructions only) to round
    trips (a blocked wait each), each with its exact time under TRUE (times 1 + noise)."""
    rows = []
    for i, (instr, sys_, sw) in enumerate([
        (800, 0.0, 0.0), (1200, 0.01, 0.0), (4000, 0.02, 0.001), (9000, 0.1, 0.01),
        (3000, 2.0, 1.0), (5000, 3.0, 1.0), (2500, 1.0, 0.5), (20000, 0.5, 0.0),
        (6000, 4.0, 2.0), (1500, 0.0, 0.2),
    ]):
        t = instr * TRUE["instructions"] + sys_ * TRUE["syscalls"] + sw * TRUE["switches"]
        rows.append({"time": t * (1 + noise * (-1) ** i), "instructions": instr,
                     "syscalls": sys_, "switches": sw})
    return rows


def test_the_fit_recovers_the_costs_of_exact_cells():
    costs = why.fit(_cells())
    assert costs is not None and costs.holds
    assert costs.r2 > 0.999
    for k, v in TRUE.items():
        assert costs.ns[k] == pytest.approx(v, rel=1e-3)


def test_the_fit_needs_enough_complete_cells_and_says_when_it_does_not_hold():
    rows = _cells()
    assert why.fit(rows[: why.MIN_CELLS - 1]) is None
    # a cell without a count is left out, never read as 0
    holed = [dict(r, syscalls=None) if i < 4 else r for i, r in enumerate(rows)]
    assert why.fit(holed) is None
    # times unrelated to the counts: the model does not hold
    scrambled = [dict(r, time=t) for r, t in zip(rows, [5, 9000, 40, 3, 700, 2, 60000, 8, 1, 300],
                                                   strict=True)]
    costs = why.fit(scrambled)
    assert costs is not None and not costs.holds


def test_with_a_model_the_component_that_accounts_for_most_of_the_gap_is_named():
    costs = why.fit(_cells())
    fast = {"instructions": 3000, "syscalls": 1.0, "switches": 0.1}
    slow = {"instructions": 3300, "syscalls": 3.0, "switches": 0.1}
    t_fast = 3000 * 0.25 + 900 + 1200
    t_slow = 3300 * 0.25 + 2700 + 1200
    out = why.explain(t_fast, t_slow, fast, slow, costs)
    assert out["by"] == "model" and out["component"] == "syscalls"
    assert out["share"] == pytest.approx(1800 / (t_slow - t_fast), rel=1e-3)
    assert (out["fast"], out["slow"]) == (1.0, 3.0)
    # instructions account for the rest: nothing is left
    assert out["left"] == pytest.approx(0.0, abs=1e-3)


def test_a_count_larger_on_the_faster_design_is_never_the_why():
    costs = why.fit(_cells())
    # the slower design makes fewer syscalls: it cannot be what makes it slower
    fast = {"instructions": 2000, "syscalls": 2.0, "switches": 0.0}
    slow = {"instructions": 6000, "syscalls": 0.5, "switches": 0.0}
    out = why.explain(1000.0, 2000.0, fast, slow, costs)
    assert out["component"] == "instructions"
    assert out["against"] == ["syscalls"]
    # nothing points the gap's way: no why, and the counts that point the other way listed
    out = why.explain(1000.0, 2000.0, {"instructions": 6000, "syscalls": 2.0, "switches": 0.1},
                      {"instructions": 2000, "syscalls": 0.5, "switches": 0.0}, costs)
    assert out["component"] is None
    assert out["against"] == ["instructions", "syscalls", "switches"]
    assert out["compared"]["instructions"] == [6000, 2000]


def test_without_a_model_instructions_explain_their_share_of_the_gaps_log():
    fast = {"instructions": 1000.0, "syscalls": None, "switches": None}
    slow = {"instructions": 1200.0, "syscalls": None, "switches": None}
    out = why.explain(100.0, 144.0, fast, slow, None)
    assert out["by"] == "instructions" and out["component"] == "instructions"
    assert out["share"] == pytest.approx(math.log(1.2) / math.log(1.44))
    assert out["left"] == pytest.approx(0.5)


def test_an_uncounted_component_is_not_a_reason_and_no_gap_has_no_why():
    out = why.explain(100.0, 150.0, {"instructions": None}, {"instructions": 900.0}, None)
    assert out["component"] is None
    out = why.explain(150.0, 100.0, {"instructions": 1.0}, {"instructions": 2.0}, None)
    assert out["component"] is None and out["gap"] < 1


def test_a_difference_within_the_counts_own_spread_is_no_reason():
    fast = {"instructions": 1000.0, "syscalls": None, "switches": None}
    slow = {"instructions": 1100.0, "syscalls": None, "switches": None}
    # 10 % more work: a reason when the counts repeat within 2 % each ...
    out = why.explain(100.0, 144.0, fast, slow, None, {"instructions": 0.04})
    assert out["component"] == "instructions"
    # ... none when the two cells' marginal counts spread 6 % and 5 %
    out = why.explain(100.0, 144.0, fast, slow, None, {"instructions": 0.11})
    assert out["component"] is None and out["against"] == []
    # the report cells' spreads are summed (why.explain_cells)
    cells = [{"metrics": {"ns_per_op": {"median": t}},
              "mechanism": {"instructions": n, "instructions_spread": s}}
             for t, n, s in ((100.0, 1000.0, 0.06), (144.0, 1100.0, 0.05))]
    assert why.explain_cells(*cells, "ns_per_op", None)[0]["component"] is None
    cells[0]["mechanism"]["instructions_spread"] = 0.01
    cells[1]["mechanism"]["instructions_spread"] = 0.01
    assert why.explain_cells(*cells, "ns_per_op", None)[0]["component"] == "instructions"


def test_a_model_that_prices_an_instruction_below_any_cpu_does_not_hold():
    rows = [{**r, "time": r["time"] - r["instructions"] * 0.24} for r in _cells()]
    costs = why.fit(rows)  # the same cells with instructions at 0.01 ns: waits explain all
    assert costs is not None and costs.r2 >= why.MIN_R2
    assert costs.ns["instructions"] < why.MIN_NS_PER_INSTRUCTION
    assert not costs.holds and costs.fails == "price"
    assert why.fit(_cells()).fails is None


def test_a_rare_wait_is_no_reason_and_a_frequent_one_is_named_when_work_is_not():
    fast = {"instructions": 1000.0, "syscalls": 0.002, "switches": 0.0}
    slow = {"instructions": 990.0, "syscalls": 0.004, "switches": 1.0}
    out = why.explain(100.0, 300.0, fast, slow, None)
    # instructions point the other way; 0.004 syscalls per op are too rare to be a reason
    assert out["component"] == "switches" and out["by"] == "count"
    assert out["share"] is None and out["also"] == []
    out = why.explain(100.0, 300.0, fast, {**slow, "switches": 0.005}, None)
    assert out["component"] is None
