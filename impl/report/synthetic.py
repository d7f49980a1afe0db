"""Synthetic cell files in the exact runner schema (contracts section 3), for tests.

The summary is tested on data whose statistics are known in advance; keeping
the writer in the package lets the pipeline's tests build the same inputs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from impl.report.load import META_KEY

SCHEMA = pa.schema([
    ("label", pa.string()), ("design", pa.string()), ("impl_params", pa.string()),
    ("scenario", pa.string()), ("params", pa.string()), ("cell_id", pa.string()),
    ("metric", pa.string()), ("unit", pa.string()), ("process", pa.int32()),
    ("block", pa.int32()), ("warmup", pa.bool_()), ("loops", pa.int64()),
    ("value", pa.float64()), ("host", pa.string()), ("source_hash", pa.string()),
    ("run_id", pa.string()),
])


def param_str(params: dict) -> str:
    if not params:
        return "default"
    return ",".join(f"{k}={json.dumps(params[k], separators=(',', ':'))}"
                    for k in sorted(params))


def cell_id(label: str, scenario: str, params: dict) -> str:
    return f"{label}/{scenario}/{param_str(params)}"


def cell_path(root: Path, label: str, scenario: str, params: dict) -> Path:
    return Path(root) / "cells" / label / scenario / f"{param_str(params)}.parquet"


def default_meta(**over) -> dict:
    meta = {
        "date": "2026-11-27T00:00:00+00:00", "duration_s": 1.5, "profile": "quick",
        "processes": 2, "blocks": 4, "warmups": 1, "target_block_ms": 10,
        "percentile_method": "numpy linear", "seed": 7, "host": "synthhost",
        "cpu_model": "Synthetic CPU", "cpu_count": 2, "python_version": "3.11.7",
        "python_implementation": "CPython", "switch_interval_s": 0.005,
        "git_commit": "abc1234", "git_dirty": False, "os": "Linux",
    }
    meta.update(over)
    return meta


def cell_table(label: str, scenario: str, params: dict, metrics: dict[str, Sequence],
               *, design: str | None = None, processes: int = 2, loops: int = 1000,
               warmup_value: float = 1e9, host: str = "synthhost",
               source_hash: str = "src0", metric_units: dict | None = None) -> pa.Table:
    """Rows for one cell.

    ``metrics`` maps a metric to its non-warm-up values. Block metrics
    (ns_per_op, drain_ns_per_task, counter.*): one value per block, blocks
    spread round-robin over ``processes``. Pooled metrics: a list of per-block
    value lists. Every (process) gets one warm-up block of ``warmup_value``
    first, which the summary must drop.
    """
    design = design or label
    cid = cell_id(label, scenario, params)
    cols: dict[str, list] = {n: [] for n in SCHEMA.names}

    def add(metric, process, block, warm, value, n_loops):
        unit = (metric_units or {}).get(metric, "count" if metric.startswith("counter.")
                                        else "ns")
        for k, v in (("label", label), ("design", design), ("impl_params", "{}"),
                     ("scenario", scenario), ("params", json.dumps(params, sort_keys=True)),
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
    m = default_meta(impl=label, design=kw.get("design", label), scenario=scenario,
                     params=params, **(meta or {}))
    table = table.replace_schema_metadata({META_KEY: json.dumps(m).encode()})
    path = cell_path(root, label, scenario, params)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def write_all(paths: list[Path], out: Path) -> Path:
    """Concatenate cell files like the pipeline's aggregation (metadata not kept)."""
    tables = [pq.read_table(p).replace_schema_metadata(None) for p in paths]
    pq.write_table(pa.concat_tables(tables), out)
    return out
