"""Synthetic cell files in the runner's format (impl.contract), for tests.

The summary is tested on data whose statistics are known in advance; the
report's, the pipeline's and the contract's tests build their inputs here.
Columns, cell ids, metadata and the aggregation are the real ones, so the
report's tests run on exactly what the runner and the pipeline write.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from impl import contract
from impl.contract import cell_id
from impl.pipeline.aggregate import aggregate
from impl.runner.parquet_io import with_metadata, write_table
from impl.runner.schema import SCHEMA

__all__ = ["cell_id", "cell_path", "default_meta", "cell_table", "write_cell", "write_all"]

#: processes of a synthetic cell unless told (the smoke-run minimum of methodology.md)
PROCESSES = 8


def cell_path(root: Path, label: str, scenario: str, params: dict) -> Path:
    """Where the pipeline keeps a cell file, below ``root`` (results/ in the pipeline)."""
    return Path(root) / "cells" / label / scenario / f"{contract.param_str(params)}.parquet"


def default_meta(**over) -> dict:
    """A complete metadata blob (every impl.contract.METADATA_FIELDS key), then ``over``."""
    meta = {key: None for key in contract.METADATA_FIELDS}
    meta.update({
        "date": "2026-11-27T00:00:00+00:00", "duration_s": 1.5, "profile": "quick",
        "processes": PROCESSES, "blocks": 1, "warmups": 1, "target_block_ms": 10,
        "percentile_method": contract.PERCENTILE_METHOD_NAME, "seed": 7, "host": "synthhost",
        "cpu_model": "Synthetic CPU", "cpu_count": 2, "python_version": "3.11.7",
        "python_implementation": "CPython", "switch_interval_s": 0.005,
        "git_commit": "abc1234", "git_dirty": False, "os": "Linux",
    })
    meta.update(over)
    return meta


def cell_table(label: str, scenario: str, params: dict, metrics: dict[str, Sequence],
               *, design: str | None = None, processes: int = PROCESSES, loops: int = 1000,
               warmup_value: float = 1e9, host: str = "synthhost",
               source_hash: str = "src0") -> pa.Table:
    """Rows for one cell.

    ``metrics`` maps a metric to its non-warm-up values. Block metrics
    (ns_per_op, drain_ns_per_task, counter.*): one value per block, blocks
    spread round-robin over ``processes``. Pooled metrics: a list of per-block
    value lists. Every (process) gets one warm-up block of ``warmup_value``
    first, which the summary must drop.
    """
    design = design or label
    cid = cell_id(label, scenario, params)
    cols: dict[str, list] = {n: [] for n in contract.COLUMN_NAMES}

    def add(metric, process, block, warm, value, n_loops):
        unit = contract.unit_of(metric)
        for k, v in (("label", label), ("design", design), ("impl_params", "{}"),
                     ("scenario", scenario), ("params", contract.params_json(params)),
                     ("cell_id", cid), ("metric", metric), ("unit", unit),
                     ("process", process), ("block", block), ("warmup", warm),
                     ("loops", n_loops), ("value", float(value)), ("host", host),
                     ("source_hash", source_hash), ("run_id", "run0")):
            cols[k].append(v)

    for metric, values in metrics.items():
        for p in range(processes):
            add(metric, p, 0, True, warmup_value, loops)
        for i, v in enumerate(values):
            p, b = i % processes, 1 + i // processes
            if isinstance(v, (list, tuple, np.ndarray)):
                for x in v:
                    add(metric, p, b, False, x, len(v))
            else:
                add(metric, p, b, False, v, loops)
    return pa.table(cols, schema=SCHEMA)


def write_cell(root: Path, label: str, scenario: str, params: dict,
               metrics: dict[str, Sequence], meta: dict | None = None, **kw) -> Path:
    table = cell_table(label, scenario, params, metrics, **kw)
    design = kw.get("design") or label
    m = default_meta(impl=label, label=label, design=design, scenario=scenario, params=params,
                     impl_params={}, cell_id=cell_id(label, scenario, params),
                     host=kw.get("host", "synthhost"),
                     **{"processes": kw.get("processes", PROCESSES), **(meta or {})})
    return write_table(with_metadata(table, m), cell_path(root, label, scenario, params))


def write_all(paths: list[Path], out: Path) -> Path:
    """results/all.parquet from the cell files, by the pipeline's own aggregation."""
    aggregate(paths, out)
    return out
