"""The cell Parquet schema (docs/contracts.md section 3) and its validator.

One row per sample, long format. ``validate_table`` is shared by the tests
and the pipeline's aggregation so a file that does not follow the contract
is refused in one place, with every problem named.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from impl.base import COUNTER_NAMES
from impl.runner.percentiles import PercentileOrderError, check_percentiles

__all__ = ["SCHEMA", "SchemaError", "validate_table", "check_percentiles", "PercentileOrderError"]

#: key of the JSON metadata blob in the Parquet key-value metadata
METADATA_KEY = b"eventloop_tournament"

SCHEMA = pa.schema(
    [
        ("label", pa.string()),
        ("design", pa.string()),
        ("impl_params", pa.string()),
        ("scenario", pa.string()),
        ("params", pa.string()),
        ("cell_id", pa.string()),
        ("metric", pa.string()),
        ("unit", pa.string()),
        ("process", pa.int32()),
        ("block", pa.int32()),
        ("warmup", pa.bool_()),
        ("loops", pa.int64()),
        ("value", pa.float64()),
        ("host", pa.string()),
        ("source_hash", pa.string()),
        ("run_id", pa.string()),
    ]
)
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)

#: metrics measured in ns (everything else is ``counter.<name>`` in ``count``)
NS_METRICS: tuple[str, ...] = (
    "ns_per_op",
    "latency_ns",
    "burst_ns",
    "drain_ns_per_task",
    "internal_wait_ns",
)
COUNTER_METRICS: tuple[str, ...] = tuple(f"counter.{n}" for n in COUNTER_NAMES)
METRICS: tuple[str, ...] = NS_METRICS + COUNTER_METRICS
#: metrics whose pooled values form a distribution (percentiles are taken from them)
DISTRIBUTION_METRICS: tuple[str, ...] = ("latency_ns", "burst_ns", "internal_wait_ns")

#: keys every cell file's metadata blob carries
METADATA_KEYS: tuple[str, ...] = (
    "date",
    "duration_s",
    "profile",
    "processes",
    "blocks",
    "warmups",
    "target_block_ms",
    "calibration",
    "percentile_method",
    "seed",
    "host",
    "cpu_model",
    "cpu_count",
    "cpu_affinity",
    "loadavg",
    "python_version",
    "python_implementation",
    "timer_resolution_ns",
    "switch_interval_s",
    "gc_enabled",
    "packages",
    "git_commit",
    "git_dirty",
    "source_hash",
    "config_hash",
    "snakemake_version",
    "impl",
    "design",
    "impl_params",
    "scenario",
    "params",
)

_STRING_TYPES = (pa.string(), pa.large_string())


class SchemaError(ValueError):
    """The table does not follow the cell schema; the message lists the problems."""


def unit_of(metric: str) -> str:
    return "count" if metric.startswith("counter.") else "ns"


def read_metadata(schema: pa.Schema) -> dict[str, Any] | None:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    return None if raw is None else json.loads(raw)


def _problems(table: pa.Table, require_metadata: bool) -> list[str]:
    import pyarrow.compute as pc  # ~0.3 s to import: only when validating

    problems: list[str] = []
    names = table.schema.names
    if list(names) != list(COLUMNS):
        missing = [c for c in COLUMNS if c not in names]
        extra = [c for c in names if c not in COLUMNS]
        problems.append(
            f"columns differ from the contract (missing: {missing or 'none'}, "
            f"unexpected: {extra or 'none'}, order matters)"
        )
        return problems
    for f in SCHEMA:
        actual = table.schema.field(f.name).type
        ok = actual in _STRING_TYPES if f.type == pa.string() else actual == f.type
        if not ok:
            problems.append(f"column {f.name}: type {actual}, expected {f.type}")
    if problems:
        return problems
    for name in COLUMNS:
        nulls = table.column(name).null_count
        if nulls:
            problems.append(f"column {name}: {nulls} null(s)")
    if table.num_rows == 0:
        problems.append("no rows")
        return problems
    metrics = set(pc.unique(table.column("metric")).to_pylist())
    unknown = sorted(metrics - set(METRICS))
    if unknown:
        problems.append(f"unknown metric(s) {unknown}; allowed: {', '.join(METRICS)}")
    pairs = table.group_by(["metric", "unit"]).aggregate([]).to_pylist()
    for row in pairs:
        if row["unit"] != unit_of(row["metric"]):
            expected = unit_of(row["metric"])
            problems.append(f"metric {row['metric']} has unit {row['unit']!r}, not {expected!r}")
    if pc.min(table.column("process")).as_py() < 0 or pc.min(table.column("block")).as_py() < 0:
        problems.append("negative process or block index")
    if pc.min(table.column("loops")).as_py() <= 0:
        problems.append("loops must be positive")
    values = table.column("value")
    finite = pc.all(pc.is_finite(values)).as_py()
    if not finite:
        problems.append("value has NaN or infinite entries")
    elif pc.min(values).as_py() < 0:
        problems.append("value has negative entries")
    if require_metadata:
        try:
            meta = read_metadata(table.schema)
        except ValueError as exc:
            problems.append(f"metadata {METADATA_KEY.decode()} is not JSON: {exc}")
            meta = {}
        if meta is None:
            problems.append(f"metadata key {METADATA_KEY.decode()!r} missing")
        else:
            missing = [k for k in METADATA_KEYS if k not in meta]
            if missing:
                problems.append(f"metadata lacks {missing}")
    return problems


def validate_table(table: Any, *, require_metadata: bool = True) -> None:
    """Raise SchemaError listing every problem; return None if the table follows the contract.

    Accepts a pyarrow Table or a pandas DataFrame (converted). Use
    ``require_metadata=False`` for the concatenated ``results/all.parquet``,
    which does not carry one cell's metadata.
    """
    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
        require_metadata = False
    problems = _problems(table, require_metadata)
    if problems:
        raise SchemaError("; ".join(problems))
