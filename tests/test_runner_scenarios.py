"""Every scenario runs end to end in the quick profile and yields a valid cell file.

Every scenario runs on baseline and on a second design (budget_sweep, which
baseline cannot do, on two designs with budget parameters), so the runner is
proven against more than one implementation.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from test_runner_helpers import SECOND_DESIGN, budget_designs, run_cli

from impl.contract import METADATA_FIELDS as METADATA_KEYS
from impl.designs import registry
from impl.designs.base import COUNTER_NAMES
from impl.runner.percentiles import check_percentiles
from impl.runner.schema import read_metadata, validate_table

#: scenario, params, metrics each file must carry besides ns_per_op and the counters
SCENARIOS = [
    ("submit_contention", {"producers": 4}, []),
    ("round_trip", {}, ["latency_ns"]),
    ("wakeup", {"mode": "running"}, []),
    ("wakeup", {"mode": "sleeping"}, ["latency_ns"]),
    ("wakeup", {"mode": "burst"}, []),
    ("burst_throughput", {"burst": 256}, []),
    ("burst_latency", {"burst": 512}, ["burst_ns"]),
    ("continuous", {}, []),
    ("mixed", {"burst": 200, "pause_us": 500}, ["burst_ns"]),
]


def _cases() -> list:
    cases = [pytest.param("baseline", s, p, m, id=f"baseline-{s}-{p}") for s, p, m in SCENARIOS]
    # budget_sweep: a bounded budget on the first budget design, unbounded on the last
    sweeps = {64: ["drain_ns_per_task"], 0: ["drain_ns_per_task"]}
    budgets = budget_designs()
    for design, budget in {budgets[0]: 64, budgets[-1]: 0}.items():
        params = {"budget": budget, "backlog": 2048}
        metrics = sweeps[budget]
        cases.append(pytest.param(design, "budget_sweep", params, metrics, id=f"{design}-sweep"))
    other = SECOND_DESIGN
    cases += [pytest.param(other, s, p, m, id=f"{other}-{s}-{p}") for s, p, m in SCENARIOS]
    return cases


def _args(design: str, scenario: str, params: dict, out) -> list[str]:
    # --max-foreign-cpu 1: what is checked here is the file, not how quiet the machine is
    args = ["--impl", design, "--scenario", scenario, "--profile", "quick",
            "--max-foreign-cpu", "1", "--out", str(out)]
    for k, v in params.items():
        args += ["--param", f"{k}={v}"]
    return args + ["--config-hash", "test-hash", "--seed", "7"]


@pytest.mark.parametrize(("design", "scenario", "params", "metrics"), _cases())
def test_quick_cell_is_valid(tmp_path, design, scenario, params, metrics):
    out = tmp_path / "cell.parquet"
    done = run_cli(_args(design, scenario, params, out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    table = pq.read_table(out)
    validate_table(table)
    meta = read_metadata(table.schema)
    assert all(k in meta for k in METADATA_KEYS)
    assert meta["profile"] == "quick" and meta["config_hash"] == "test-hash" and meta["seed"] == 7
    assert meta["percentile_method"] == "numpy linear"

    df = table.to_pandas()
    assert set(df["design"]) == {design} and set(df["scenario"]) == {scenario}
    assert json.loads(df["params"].iloc[0]).items() >= {k: v for k, v in params.items()}.items()
    joined = ",".join(
        f"{k}={v}" for k, v in sorted(json.loads(df["params"].iloc[0]).items())
    )
    expected_id = f"{design}/{scenario}/{joined or 'default'}"
    assert set(df["cell_id"]) == {expected_id}
    # a process replaced for foreign load leaves a gap in the process numbers
    assert len(set(df["process"])) == meta["processes"]
    present = set(df["metric"])
    assert {"ns_per_op", *metrics} <= present
    assert {f"counter.{n}" for n in COUNTER_NAMES} <= present
    # every process: warm-ups first, then the measured blocks
    # (a block discarded for foreign load leaves a gap in the block numbers)
    for _, rows in df[df["metric"] == "ns_per_op"].groupby("process"):
        assert list(rows["block"])[: meta["warmups"]] == list(range(meta["warmups"]))
        assert list(rows["block"]) == sorted(rows["block"])
        assert list(rows["warmup"]) == [True] * meta["warmups"] + [False] * meta["blocks"]
    measured = df[~df["warmup"]]
    for metric in metrics:
        values = measured.loc[measured["metric"] == metric, "value"].tolist()
        assert values, metric
        pct = check_percentiles(values, metric)
        assert pct["p50"] <= pct["p95"] <= pct["p99"] <= pct["max"]
    if scenario == "round_trip":  # one latency row per op
        lat = measured[measured["metric"] == "latency_ns"]
        per_block = lat.groupby(["process", "block"]).size()
        loops = lat.groupby(["process", "block"])["loops"].first()
        assert (per_block == loops).all()
    if scenario == "budget_sweep":
        effective = json.loads(df["impl_params"].iloc[0])
        assert effective["budget"] == params["budget"]  # every budget param overridden
        if registry.get(design).capabilities.has_internal_lane:
            assert "internal_wait_ns" in present
        reps = measured[measured["metric"] == "drain_rep_ns_per_task"]
        assert (
            reps.groupby(["process", "block"]).size() * 2048
            == reps.groupby(["process", "block"])["loops"].first()
        ).all()  # one row per repetition
        per_block = measured[measured["metric"] == "drain_ns_per_task"]
        assert (per_block.groupby(["process", "block"]).size() == 1).all()  # one per block
        medians = reps.groupby(["process", "block"])["value"].median()
        assert per_block.set_index(["process", "block"])["value"].sort_index().tolist() == (
            pytest.approx(medians.sort_index().tolist()))
