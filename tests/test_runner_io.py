"""The cell file: the Python API, read-back with pandas/pyarrow/DuckDB, atomic writes, schema."""

from __future__ import annotations

import json
import os

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from impl import contract
from impl.contract import COLUMN_NAMES as COLUMNS
from impl.runner import CellRequest, parquet_io, run_cell, write_cell
from impl.runner.percentiles import PercentileOrderError, check_percentiles
from impl.runner.schema import SCHEMA, SchemaError, read_metadata, validate_table

SMALL = {"processes": 1, "blocks": 2, "warmups": 1, "target_block_ms": 5}


@pytest.fixture(scope="module")
def cell_file(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("cell") / "round_trip.parquet"
    req = CellRequest(impl="baseline", scenario="round_trip", label="base_label", **SMALL)
    assert write_cell(req, out) == out
    return str(out)


def test_read_back_with_pyarrow(cell_file):
    table = pq.read_table(cell_file)
    assert table.schema.remove_metadata() == SCHEMA
    validate_table(table)
    meta = read_metadata(table.schema)
    assert meta["label"] == "base_label" and meta["design"] == "baseline"
    assert meta["processes"] == 1 and meta["git_commit"] is None or len(meta["git_commit"]) == 40


def test_read_back_with_pandas(cell_file):
    df = pd.read_parquet(cell_file)
    assert list(df.columns) == list(COLUMNS)
    assert set(df["label"]) == {"base_label"}
    assert df["cell_id"].iloc[0] == "base_label/round_trip/idle_us=0,placement=same_core"
    assert (df.loc[df["metric"] == "latency_ns", "unit"] == "ns").all()
    assert (df.loc[df["metric"].str.startswith("counter."), "unit"] == "count").all()


def test_read_back_with_duckdb(cell_file):
    con = duckdb.connect()
    rows = con.execute(
        "SELECT metric, count(*), min(value) FROM read_parquet(?) "
        "WHERE NOT warmup GROUP BY metric ORDER BY metric",
        [cell_file],
    ).fetchall()
    metrics = {r[0]: r[1] for r in rows}
    assert metrics["ns_per_op"] == 2
    assert metrics["latency_ns"] > 2
    kv = con.execute(
        "SELECT value FROM parquet_kv_metadata(?) WHERE key = 'eventloop_tournament'",
        [cell_file],
    ).fetchone()
    assert json.loads(kv[0])["scenario"] == "round_trip"


def test_run_cell_returns_a_valid_dataframe_and_its_metadata_beside_it():
    cell = run_cell(
        CellRequest(impl="baseline", scenario="wakeup", params={"mode": "burst"}, **SMALL)
    )
    df = cell.rows
    validate_table(df)
    assert cell.metadata["params"] == {"idle_us": 0, "mode": "burst", "placement": "same_core"}
    assert set(df["process"]) == {0}
    # no metadata in attrs: pandas deep-copies attrs into every derived frame (a column
    # read, a groupby), which made them several times slower on a cell's frame
    assert df.attrs == {} and df["value"].attrs == {}


def test_api_refuses_bad_input_before_running(tmp_path):
    from impl.params import BadParameterError

    with pytest.raises(BadParameterError, match="producers"):
        write_cell(
            CellRequest(impl="baseline", scenario="submit_contention", params={"producers": 0}),
            tmp_path / "x.parquet",
        )
    assert list(tmp_path.iterdir()) == []


def test_api_reports_a_lost_task(tmp_path, monkeypatch):
    from impl.designs import registry
    from impl.runner import CellFailedError

    monkeypatch.setenv(registry.TEST_DESIGNS_ENV, "1")
    req = CellRequest(
        impl="test_faulty", impl_params={"mode": "drop"}, scenario="burst_throughput", **SMALL
    )
    with pytest.raises(CellFailedError, match="never ran"):
        write_cell(req, tmp_path / "x.parquet")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch, cell_file):
    table = pq.read_table(cell_file)
    target = tmp_path / "out.parquet"

    def killed(src, dst):  # the process dies after writing, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(contract.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        parquet_io.write_table(table, target)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_midway_leaves_no_file(tmp_path, monkeypatch, cell_file):
    table = pq.read_table(cell_file)
    target = tmp_path / "out.parquet"

    def half(tbl, where, **kwargs):
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(parquet_io.pq, "write_table", half)
    with pytest.raises(OSError):
        parquet_io.write_table(table, target)
    assert list(tmp_path.iterdir()) == []


def test_write_replaces_existing_file_atomically(tmp_path, cell_file):
    table = pq.read_table(cell_file)
    target = tmp_path / "out.parquet"
    target.write_bytes(b"old")
    parquet_io.write_table(table, target)
    assert pq.read_table(target).num_rows == table.num_rows
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
    assert os.stat(target).st_mode & 0o444 == 0o444


def test_validate_rejects_broken_tables(cell_file):
    table = pq.read_table(cell_file)
    with pytest.raises(SchemaError, match="columns"):
        validate_table(table.drop_columns(["run_id"]))
    bad_type = table.set_column(
        COLUMNS.index("process"), "process", table.column("process").cast(pa.int64())
    )
    with pytest.raises(SchemaError, match="process"):
        validate_table(bad_type)
    metrics = table.column("metric").to_pylist()
    metrics[0] = "ns_per_bogus"
    bad_metric = table.set_column(COLUMNS.index("metric"), "metric", pa.array(metrics, pa.string()))
    with pytest.raises(SchemaError, match="ns_per_bogus"):
        validate_table(bad_metric)
    with pytest.raises(SchemaError, match="metadata"):
        validate_table(table.replace_schema_metadata({}))
    validate_table(table.replace_schema_metadata({}), require_metadata=False)


def test_percentile_check():
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    pct = check_percentiles(values, "latency_ns")
    assert pct["p50"] == 3.0 and pct["max"] == 5.0
    assert pct["p50"] <= pct["p95"] <= pct["p99"] <= pct["max"]
    with pytest.raises(PercentileOrderError):
        check_percentiles([1.0, float("nan")], "latency_ns")
