"""Concatenate the cell files into results/all.parquet, checked and written atomically.

One file per cell keeps reruns cheap (only failed or invalidated cells are
measured again); the summary and ad-hoc queries want one table, so this
step concatenates them. It refuses a file that breaks the contract
(impl.contract, checked by impl.runner.schema) instead of passing a broken
table on, and keeps every cell's metadata blob (under
``impl.contract.CELLS_METADATA_KEY``), so all.parquet alone is enough for the
summary.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from impl import contract
from impl.runner.schema import read_metadata, validate_table


class AggregateError(ValueError):
    """A cell file does not match the contract; the message names the file and the column."""


def check_table(table: pa.Table, source: str, expected_cell_id: str | None = None) -> None:
    """Refuse a cell file that breaks the contract; one message naming the file."""
    try:
        validate_table(table, require_metadata=True)
    except ValueError as exc:
        raise AggregateError(f"{source}: {exc}") from None
    if expected_cell_id is not None and table.num_rows:
        ids = set(table.column("cell_id").to_pylist())
        if ids != {expected_cell_id}:
            raise AggregateError(
                f"{source}: cell_id {sorted(ids)} does not match the pipeline's "
                f"{expected_cell_id!r}"
            )


def aggregate(
    cell_files: Iterable[str | Path],
    out: str | Path,
    expected_ids: Iterable[str | None] | None = None,
) -> pa.Table:
    """Read, check and concatenate ``cell_files``; keep every cell's metadata by cell id."""
    files = [Path(f) for f in cell_files]
    ids = list(expected_ids) if expected_ids is not None else [None] * len(files)
    tables, cells_meta = [], {}
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
        cells_meta[table.column("cell_id")[0].as_py()] = read_metadata(table.schema)
        tables.append(table.replace_schema_metadata(None))
    if not tables:
        raise AggregateError("no cell files to aggregate")
    combined = pa.concat_tables(tables, promote_options="default")
    try:
        validate_table(combined, require_metadata=False)
    except ValueError as exc:
        raise AggregateError(f"concatenated table: {exc}") from None
    combined = combined.replace_schema_metadata(
        {contract.CELLS_METADATA_KEY: json.dumps(cells_meta, sort_keys=True, default=str)}
    )
    contract.write_atomic(out, lambda fh: pq.write_table(combined, fh))
    return combined
