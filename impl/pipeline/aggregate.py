"""Rounds -> cell files -> all.parquet, checked and written atomically.

The pipeline measures each cell in rounds (one JSON record per cell and round,
written by the batch jobs, so a rerun remeasures only the cells that failed);
this step turns each cell's
records into its Parquet file (``impl.runner.cell.table_from_rounds``) and
concatenates the cells into ``all.parquet`` for the summary and ad-hoc
queries. It refuses a file that breaks the contract
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


def read_rounds(paths: Iterable[str | Path]) -> list[dict]:
    """A cell's round records; AggregateError naming an unreadable file."""
    records = []
    for path in paths:
        try:
            records.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as exc:
            raise AggregateError(
                f"{path}: not a readable round record ({exc}); "
                "a plain rerun measures that round again"
            ) from None
    return records


def cell_table(round_files: Iterable[str | Path]) -> pa.Table:
    """One cell's table from its round records (impl.runner.cell.table_from_rounds)."""
    from impl.runner.cell import table_from_rounds
    from impl.runner.manager import CellFailedError

    files = [str(p) for p in round_files]
    try:
        return table_from_rounds(read_rounds(files))
    except CellFailedError as exc:
        raise AggregateError(f"{files[0]}: {exc}") from None


def aggregate_rounds(
    rounds_per_cell: list[list[str | Path]],
    cell_outputs: list[str | Path],
    out: str | Path,
    expected_ids: list[str] | None = None,
) -> pa.Table:
    """Write each cell's Parquet file from its rounds, then ``out`` from all cells."""
    ids = expected_ids if expected_ids is not None else [None] * len(cell_outputs)
    for files, target, cell_id in zip(rounds_per_cell, cell_outputs, ids, strict=True):
        table = cell_table(files)
        check_table(table, str(files[0]), cell_id)
        contract.write_atomic(target, lambda fh, t=table: pq.write_table(t, fh))
    return aggregate(cell_outputs, out, ids)


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
        meta = read_metadata(table.schema)
        # a "not applicable" cell has no rows to read its id from: the blob says it
        key = table.column("cell_id")[0].as_py() if table.num_rows else meta["cell_id"]
        cells_meta[key] = meta
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
