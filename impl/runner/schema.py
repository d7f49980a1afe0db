"""The cell file's Arrow schema and its validator (the contract is impl.contract).

``validate_table`` is shared by the runner, the tests and the pipeline's
aggregation, so a file that does not follow the contract is refused in one
place, with every problem named.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from impl import contract

__all__ = ["SCHEMA", "SchemaError", "validate_table", "read_metadata"]

#: impl.contract.COLUMNS as a pyarrow schema
SCHEMA = pa.schema([(c.name, pa.type_for_alias(c.type)) for c in contract.COLUMNS])

_STRING_TYPES = (pa.string(), pa.large_string())


class SchemaError(ValueError):
    """The table does not follow the cell schema; the message lists the problems."""


def read_metadata(schema: pa.Schema) -> dict[str, Any] | None:
    """A cell file's metadata blob (None if absent); ValueError if it is not JSON."""
    raw = (schema.metadata or {}).get(contract.METADATA_KEY.encode())
    return None if raw is None else json.loads(raw)


def _problems(table: pa.Table, require_metadata: bool) -> list[str]:
    import pyarrow.compute as pc  # ~0.3 s to import: only when validating

    problems: list[str] = []
    names = table.schema.names
    if list(names) != list(contract.COLUMN_NAMES):
        missing = [c for c in contract.COLUMN_NAMES if c not in names]
        extra = [c for c in names if c not in contract.COLUMN_NAMES]
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
    for name in contract.COLUMN_NAMES:
        nulls = table.column(name).null_count
        if nulls:
            problems.append(f"column {name}: {nulls} null(s)")
    if table.num_rows == 0:
        try:
            meta = read_metadata(table.schema) or {}
        except ValueError:
            meta = {}
        if not meta.get("not_applicable"):  # a design that cannot run there has none
            problems.append("no rows")
        return problems
    metrics = set(pc.unique(table.column("metric")).to_pylist())
    unknown = sorted(metrics - set(contract.METRICS))
    if unknown:
        problems.append(
            f"unknown metric(s) {unknown}; allowed: {', '.join(contract.METRICS)}"
        )
    pairs = table.group_by(["metric", "unit"]).aggregate([]).to_pylist()
    for row in pairs:
        known = contract.METRICS.get(row["metric"])
        if known is not None and row["unit"] != known.unit:
            problems.append(f"metric {row['metric']} has unit {row['unit']!r}, not {known.unit!r}")
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
            problems.append(f"metadata {contract.METADATA_KEY} is not JSON: {exc}")
            meta = {}
        if meta is None:
            problems.append(f"metadata key {contract.METADATA_KEY!r} missing")
        else:
            missing = [k for k in contract.METADATA_FIELDS if k not in meta]
            if missing:
                problems.append(f"metadata lacks {missing}")
    return problems


def validate_table(table: Any, *, require_metadata: bool = True) -> None:
    """Raise SchemaError listing every problem; return None if the table follows the contract.

    Accepts a pyarrow Table or a pandas DataFrame (converted). Use
    ``require_metadata=False`` for the concatenated ``results/all.parquet``,
    which carries every cell's blob under another key.
    """
    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
        require_metadata = False
    problems = _problems(table, require_metadata)
    if problems:
        raise SchemaError("; ".join(problems))
