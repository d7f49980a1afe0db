"""A cell's table with its metadata blob, written atomically.

The write itself is ``impl.contract.write_atomic``: a killed runner never
leaves a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from impl import contract


def with_metadata(table: pa.Table, metadata: dict[str, Any]) -> pa.Table:
    """``table`` with ``metadata`` as its blob under impl.contract.METADATA_KEY."""
    blob = contract.encode_metadata(metadata)
    return table.replace_schema_metadata(
        {**(table.schema.metadata or {}), contract.METADATA_KEY.encode(): blob}
    )


def write_table(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    """Write ``table`` (zstd Parquet) to ``path`` atomically; returns the path."""
    return contract.write_atomic(path, lambda fh: pq.write_table(table, fh, compression="zstd"))

