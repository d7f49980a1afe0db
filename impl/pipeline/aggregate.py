"""Concatenate the cell files into results/all.parquet, checked and written atomically.

One file per cell keeps reruns cheap (only failed or invalidated cells are
measured again); the summary and ad-hoc queries want one table, so this
step concatenates them. It refuses rows that break the Parquet contract
(contracts section 3) instead of passing a broken table on.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

META_KEY = b"eventloop_tournament"
CELLS_META_KEY = b"eventloop_tournament_cells"

#: contracts section 3; used when the runner's own schema is not importable
REQUIRED_COLUMNS = {
    "label": pa.string(), "design": pa.string(), "impl_params": pa.string(),
    "scenario": pa.string(), "params": pa.string(), "cell_id": pa.string(),
    "metric": pa.string(), "unit": pa.string(), "process": pa.int32(), "block": pa.int32(),
    "warmup": pa.bool_(), "loops": pa.int64(), "value": pa.float64(), "host": pa.string(),
    "source_hash": pa.string(), "run_id": pa.string(),
}


class AggregateError(ValueError):
    """A cell file does not match the contract; the message names the file and the column."""


def _runner_validator() -> Any:
    """The runner's own validator (impl.runner.schema.validate_table), if importable."""
    try:
        from impl.runner.schema import validate_table
    except ImportError:
        return None
    return validate_table


def check_table(table: pa.Table, source: str, expected_cell_id: str | None = None) -> None:
    """Refuse a cell file that breaks the contract; one message naming the file."""
    validate = _runner_validator()
    if validate is not None:
        try:
            validate(table, require_metadata=True)
        except ValueError as exc:
            raise AggregateError(f"{source}: {exc}") from None
    else:
        _check_columns(table, source)
    if expected_cell_id is not None and table.num_rows:
        ids = set(table.column("cell_id").to_pylist())
        if ids != {expected_cell_id}:
            raise AggregateError(
                f"{source}: cell_id {sorted(ids)} does not match the pipeline's "
                f"{expected_cell_id!r}"
            )


def _check_columns(table: pa.Table, source: str) -> None:
    """Fallback when the runner is not importable: names and types of contracts section 3."""
    for name, typ in REQUIRED_COLUMNS.items():
        if name not in table.column_names:
            raise AggregateError(f"{source}: missing column {name!r}")
        if not table.schema.field(name).type.equals(typ):
            raise AggregateError(
                f"{source}: column {name!r} has type {table.schema.field(name).type}, "
                f"expected {typ}"
            )


def atomic_write_table(table: pa.Table, out: str | Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def aggregate(
    cell_files: Iterable[str | Path],
    out: str | Path,
    expected_ids: Iterable[str | None] | None = None,
) -> pa.Table:
    """Read, check and concatenate ``cell_files``; keep every cell's metadata by cell id."""
    files = [Path(f) for f in cell_files]
    ids = list(expected_ids) if expected_ids is not None else [None] * len(files)
    tables, cells_meta, hosts = [], {}, set()
    for path, cell_id in zip(files, ids, strict=True):
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            # one line naming the file; the other cells stay untouched on disk
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise AggregateError(
                f"{path}: not a readable Parquet cell file ({first}); "
                "delete it and rerun to remeasure that cell"
            ) from None
        check_table(table, str(path), cell_id)
        meta_raw = (table.schema.metadata or {}).get(META_KEY)
        meta: dict[str, Any] = json.loads(meta_raw) if meta_raw else {}
        key = cell_id or (table.column("cell_id")[0].as_py() if table.num_rows else str(path))
        cells_meta[key] = meta
        hosts.update(table.column("host").unique().to_pylist())
        tables.append(table.replace_schema_metadata(None))
    if not tables:
        raise AggregateError("no cell files to aggregate")
    combined = pa.concat_tables(tables, promote_options="default")
    validate = _runner_validator()
    if validate is not None:
        try:
            validate(combined, require_metadata=False)
        except ValueError as exc:
            raise AggregateError(f"concatenated table: {exc}") from None
    summary = {"cells": len(tables), "rows": combined.num_rows, "hosts": sorted(hosts)}
    combined = combined.replace_schema_metadata(
        {META_KEY: json.dumps(summary), CELLS_META_KEY: json.dumps(cells_meta, sort_keys=True)}
    )
    atomic_write_table(combined, out)
    return combined
