"""impl.contract: the one definition of the data contract, and that nothing redefines it."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import synthetic as syn
import yaml

from impl import contract
from impl.params import BadParameterError
from impl.pipeline import aggregate as agg
from impl.pipeline import cells as cellmod
from impl.report import hypotheses as hyp
from impl.runner.request import CellRequest, resolve
from impl.runner.schema import SCHEMA
from impl.study import CONFIG_FILE, load

ROOT = Path(__file__).resolve().parents[1]
#: the repository's profiles, as the runner's command line hands them to a request
PRESETS = load().presets()


def test_contract_module_imports_only_the_standard_library():
    code = (
        "import sys, impl.contract; "
        "bad = [m for m in ('numpy', 'pandas', 'pyarrow', 'yaml') if m in sys.modules]; "
        "print(bad)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


def test_arrow_schema_is_the_contract_columns():
    assert tuple(SCHEMA.names) == contract.COLUMN_NAMES
    assert SCHEMA.field("process").type == pa.int32()
    assert SCHEMA.field("value").type == pa.float64()


@pytest.mark.parametrize("params, expected", [
    ({}, "l/s/default"),
    ({"b": 2, "a": "x"}, "l/s/a=x,b=2"),
    ({"budget": 0, "backlog": 8192}, "l/s/backlog=8192,budget=0"),
])
def test_cell_id(params, expected):
    assert contract.cell_id("l", "s", params) == expected


def test_every_part_names_a_cell_the_same_way(tmp_path):
    """Runner, pipeline and the report's fixtures agree on the id and on the file name."""
    params = {"producers": 8}
    runner_cell = resolve(CellRequest(impl="main", scenario="submit_contention", params=params,
                                      label="m", presets=PRESETS))
    pipe_cell = cellmod.Cell("m", "main", {}, "submit_contention", runner_cell.params, 1.0)
    assert runner_cell.cell_id == pipe_cell.cell_id == "m/submit_contention/producers=8"
    fixture = syn.cell_path(tmp_path, "m", "submit_contention", runner_cell.params)
    assert fixture.relative_to(tmp_path).as_posix() == "cells/" + Path(
        pipe_cell.output).relative_to(pipe_cell.layout.cells).as_posix()


def test_metric_catalogue():
    assert contract.unit_of("latency_ns") == "ns"
    assert contract.unit_of("counter.wake_syscalls") == "count"
    assert {"latency_ns", "burst_ns", "internal_wait_ns", "drain_rep_ns_per_task"} == (
        contract.POOLED_METRICS)
    assert {"ns_per_op", "drain_ns_per_task"} == contract.TIME_PER_OP_METRICS
    assert all(contract.METRICS[m].row == "block" for m in contract.METRICS
               if contract.is_counter(m))
    with pytest.raises(KeyError):
        contract.unit_of("ns_per_bogus")


def test_write_atomic_mode_content_and_cleanup(tmp_path):
    old = os.umask(0o077)  # a strict umask must not make results unreadable to others
    try:
        target = contract.write_atomic(tmp_path / "sub" / "f.txt", "hello")
    finally:
        os.umask(old)
    assert target.read_text() == "hello"
    assert stat.S_IMODE(target.stat().st_mode) == contract.FILE_MODE

    def broken(fh):
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        contract.write_atomic(target, broken)
    assert target.read_text() == "hello"  # the old file is untouched
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]  # no temporary left
    contract.write_atomic(target, lambda fh: fh.write(b"bytes via a writer"))
    assert target.read_bytes() == b"bytes via a writer"


def test_cells_metadata_from_a_cell_file_and_from_all_parquet(tmp_path):
    a = syn.write_cell(tmp_path, "main", "round_trip", {}, {"ns_per_op": [1.0, 2.0]})
    b = syn.write_cell(tmp_path, "baseline", "round_trip", {}, {"ns_per_op": [3.0, 4.0]},
                       meta={"cpu_model": "Other CPU"})
    one = contract.cells_metadata(pq.read_schema(a).metadata)
    assert list(one) == ["main/round_trip/default"]
    out = tmp_path / "all.parquet"
    agg.aggregate([a, b], out)
    both = contract.cells_metadata(pq.read_schema(out).metadata)
    assert both["main/round_trip/default"] == one["main/round_trip/default"]
    assert both["baseline/round_trip/default"]["cpu_model"] == "Other CPU"
    assert contract.cells_metadata(None) == {}
    assert contract.cells_metadata({b"other": b"{}"}) == {}


def test_reason_kinds_are_typed_not_read_from_the_text():
    """A message that happens to contain another kind's words keeps its own kind."""
    worded = hyp.Reason.of(hyp.ReasonKind.DEGENERATE, "cell x/timeout/default (missing?)")
    assert hyp.categorize([worded]) == ["no spread or no positive median"]
    joined = hyp.Reason.joined("H1: a vs b", [
        hyp.Reason.of(hyp.ReasonKind.TOO_FEW_PROCESSES, "3 processes"),
        hyp.Reason.of(hyp.ReasonKind.UNPAIRED_HOSTS, "no host in common"),
        hyp.Reason.of(hyp.ReasonKind.TOO_FEW_PROCESSES, "2 processes"),
    ])
    assert joined.text == "H1: a vs b: 3 processes; no host in common; 2 processes"
    assert hyp.categorize([joined]) == ["too few processes", "hosts cannot be paired"]


def test_runner_profiles_are_the_pipeline_profiles():
    cfg = yaml.safe_load(CONFIG_FILE.read_text())
    assert cfg["profiles"] == PRESETS
    for name, preset in cfg["profiles"].items():
        cell = resolve(CellRequest(impl="baseline", scenario="round_trip", profile=name,
                                   presets=PRESETS))
        assert (cell.processes, cell.blocks, cell.warmups, cell.target_block_ms) == (
            preset["processes"], preset["blocks"], preset["warmups"], preset["target_block_ms"])


def test_unknown_profile_is_bad_input_unless_defined_elsewhere_with_every_setting():
    settings = dict(processes=1, blocks=1, warmups=0, target_block_ms=1)
    for kw in ({}, settings):  # a typo is refused even when every setting is explicit
        with pytest.raises(BadParameterError,
                           match="unknown profile 'mine'; allowed: quick, full"):
            resolve(CellRequest(impl="baseline", scenario="round_trip", profile="mine",
                                presets=PRESETS, **kw))
    with pytest.raises(BadParameterError, match="missing: --blocks"):
        resolve(CellRequest(impl="baseline", scenario="round_trip", profile="mine",
                            profile_defined_elsewhere=True, processes=1, presets=PRESETS))
    cell = resolve(CellRequest(impl="baseline", scenario="round_trip", profile="mine",
                               presets=PRESETS,
                               profile_defined_elsewhere=True, **settings))
    assert cell.profile == "mine" and cell.processes == 1


@pytest.mark.parametrize("field, value, needle", [
    ("processes", "abc", "bad value 'abc' for parameter processes: int in [1, 100]"),
    ("blocks", 0, "out of range for parameter blocks: int in [1, 1000]"),
    ("warmups", 2.5, "bad value 2.5 for parameter warmups"),
    ("target_block_ms", 0, "target_block_ms: float in (0, 60000]"),
    ("timeout_s", "nan", "bad value 'nan' for parameter timeout_s"),
])
def test_run_settings_use_param_specs(field, value, needle):
    with pytest.raises(BadParameterError) as info:
        resolve(CellRequest(impl="baseline", scenario="round_trip", presets=PRESETS,
                            **{field: value}))
    assert needle in str(info.value) and "\n" not in str(info.value)


# Each fact of the contract is written once: a second copy would be a literal here.
_ONE_DEFINITION = [
    (r'"eventloop_tournament(_cells)?"', "metadata key"),
    (r"method=\"linear\"|\"numpy linear\"", "percentile method"),
    (r"mkstemp\(prefix=f\"\.\{", "atomic write"),
    (r"def cell_id\((?!self)", "cell id"),  # properties that delegate are fine
    (r'\("process", pa\.int32\(\)\)', "column types"),
]


@pytest.mark.parametrize("pattern, what", _ONE_DEFINITION, ids=[w for _, w in _ONE_DEFINITION])
def test_each_contract_item_has_one_definition(pattern, what):
    hits = [
        p.relative_to(ROOT).as_posix()
        for p in sorted((ROOT / "impl").rglob("*.py"))
        if re.search(pattern, p.read_text())
    ]
    assert hits in ([], ["impl/contract.py"]), f"{what} defined outside impl/contract.py: {hits}"


def test_all_parquet_keeps_every_cells_metadata_blob(tmp_path):
    files = [syn.write_cell(tmp_path, lab, "round_trip", {}, {"ns_per_op": [1.0, 2.0]})
             for lab in ("a", "b")]
    out = agg.aggregate(files, tmp_path / "all.parquet")
    blob = json.loads(out.schema.metadata[contract.CELLS_METADATA_KEY.encode()])
    assert sorted(blob) == ["a/round_trip/default", "b/round_trip/default"]
    assert all(set(contract.METADATA_FIELDS) <= set(m) for m in blob.values())
