"""Atomic Parquet write and read-back: a killed runner never leaves a half-written file.

The table goes to a temporary name in the target's own directory (same file
system, so the final ``os.replace`` is atomic), is flushed to disk, and only
then takes the target's name. On any failure the temporary file is removed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from impl.runner.schema import METADATA_KEY, read_metadata


def with_metadata(table: pa.Table, metadata: dict[str, Any]) -> pa.Table:
    blob = json.dumps(metadata, sort_keys=True, default=str).encode()
    return table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: blob})


def write_atomic(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would make results unreadable to others
        with os.fdopen(fd, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def read_cell(path: str | os.PathLike[str]) -> tuple[pa.Table, dict[str, Any] | None]:
    """The cell's table and its metadata blob (None if absent)."""
    table = pq.read_table(path)
    return table, read_metadata(table.schema)
