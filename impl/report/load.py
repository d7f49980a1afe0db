"""Read the runner's Parquet output and select the samples each statistic needs.

The summary may only quote numbers from this run's Parquet files, so every
value the report uses passes through here: warm-up blocks are dropped once,
and the choice of "what is one sample" (a block value, a pooled per-op value,
or a per-block counter rate) is made in one place rather than in each table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from impl.report.metrics import COUNTER_PREFIX, POOLED_METRICS

log = logging.getLogger("impl.report")

META_KEY = b"eventloop_tournament"



def is_counter(metric: str) -> bool:
    return metric.startswith(COUNTER_PREFIX)


@dataclass
class Measurements:
    """Non-warm-up rows of every measured cell plus each cell's run metadata."""

    rows: pd.DataFrame
    #: cell_id -> the `eventloop_tournament` metadata dict of its file (may be empty)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: cell_id -> {label, scenario, params (dict), design}
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: number of warm-up rows dropped (reported in the methodology section)
    warmup_rows_dropped: int = 0
    _by_cell: dict[str, pd.DataFrame] | None = field(default=None, repr=False)

    def of_cell(self, cell_id: str) -> pd.DataFrame:
        """Rows of one cell (grouped once: a full run has millions of latency rows)."""
        if self._by_cell is None:
            self._by_cell = {str(k): g for k, g in self.rows.groupby("cell_id", sort=False)}
        return self._by_cell.get(cell_id, self.rows.iloc[0:0])


def _file_meta(path: Path) -> dict[str, Any]:
    raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
    if not raw:
        return {}
    try:
        meta = json.loads(raw)
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _cell_ids_of(path: Path) -> list[str]:
    return sorted(set(pq.read_table(path, columns=["cell_id"]).column(0).to_pylist()))


def _collect_meta(all_parquet: Path | None, cell_files: Iterable[Path]) -> dict[str, dict]:
    """Metadata per cell: from cell files (authoritative), else from all.parquet.

    all.parquet is a concatenation and may have lost or merged the key-value
    metadata; it may carry one dict (applied to all its cells) or
    ``{"cells": {cell_id: meta}}``.
    """
    meta: dict[str, dict] = {}
    if all_parquet is not None and Path(all_parquet).exists():
        whole = _file_meta(Path(all_parquet))
        if isinstance(whole.get("cells"), dict):
            meta.update({k: v for k, v in whole["cells"].items() if isinstance(v, dict)})
        elif whole:
            for cid in _cell_ids_of(Path(all_parquet)):
                meta[cid] = whole
    for path in cell_files:
        path = Path(path)
        if not path.exists():
            continue
        m = _file_meta(path)
        if m:
            for cid in _cell_ids_of(path):
                meta[cid] = m
    return meta


def readable_cell_files(cell_files: Iterable[Path]) -> list[Path]:
    """The cell files that exist and open as Parquet.

    A partial summary is rendered after something went wrong; one corrupt
    cell file must not stop it. The unreadable cell is left out (so it shows
    as missing, with a footnote) and named in the log.
    """
    ok = []
    for p in map(Path, cell_files):
        if not p.exists():
            continue
        try:
            pq.read_metadata(p)
        except (OSError, pa.ArrowException) as exc:
            log.warning("%s: unreadable Parquet cell file, treated as missing (%s)", p, exc)
            continue
        ok.append(p)
    return ok


def load(all_parquet: Path | None, cell_files: Iterable[Path]) -> Measurements:
    """Read all.parquet if it exists, else the cell files; drop warm-up blocks."""
    cell_files = readable_cell_files(cell_files)
    if all_parquet is not None and Path(all_parquet).exists():
        frames = [pd.read_parquet(all_parquet)]
    else:
        frames = [pd.read_parquet(p) for p in cell_files if p.exists()]
    frames = [f for f in frames if len(f)]
    if frames:
        df = pd.concat(frames, ignore_index=True)
    else:
        df = pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in [
                    ("label", "object"), ("design", "object"), ("impl_params", "object"),
                    ("scenario", "object"), ("params", "object"), ("cell_id", "object"),
                    ("metric", "object"), ("unit", "object"), ("process", "int32"),
                    ("block", "int32"), ("warmup", "bool"), ("loops", "int64"),
                    ("value", "float64"), ("host", "object"), ("source_hash", "object"),
                    ("run_id", "object"),
                ]
            }
        )
    warm = df["warmup"].astype(bool)
    rows = df.loc[~warm].reset_index(drop=True)
    cells: dict[str, dict[str, Any]] = {}
    for cid, first in df.groupby("cell_id", sort=True).first().iterrows():
        cells[str(cid)] = {
            "cell_id": str(cid),
            "label": first["label"],
            "design": first["design"],
            "scenario": first["scenario"],
            "params": json.loads(first["params"]) if first["params"] else {},
        }
    return Measurements(
        rows=rows,
        meta=_collect_meta(all_parquet, cell_files),
        cells=cells,
        warmup_rows_dropped=int(warm.sum()),
    )


def cell_rows(m: Measurements, cell_id: str, metric: str) -> pd.DataFrame:
    r = m.of_cell(cell_id)
    return r[r["metric"] == metric]


def samples(rows: pd.DataFrame, metric: str) -> np.ndarray:
    """The values the per-cell statistics are computed from.

    ns_per_op/drain_ns_per_task: one row = one sample (a block value);
    latency-like metrics: every per-op value, pooled across blocks and
    processes; counters: per-op rate of each block (value / loops).
    """
    if is_counter(metric):
        return block_samples(rows, metric)
    return np.sort(rows["value"].to_numpy(dtype=float))


def block_samples(rows: pd.DataFrame, metric: str) -> np.ndarray:
    """One value per timed block: what stability flags and comparisons use.

    Latency values within a block are not independent (one process, one
    moment of machine load), so a block contributes one sample: its median.
    This is also what makes "at least 6 samples per side" mean 6 blocks, never
    6 latencies from one block.
    """
    if len(rows) == 0:
        return np.array([], dtype=float)
    if is_counter(metric):
        loops = rows["loops"].to_numpy(dtype=float)
        vals = rows["value"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(loops > 0, vals / loops, np.nan)
    if metric in POOLED_METRICS:
        return rows.groupby(["process", "block"], sort=True)["value"].median().to_numpy(float)
    return rows["value"].to_numpy(dtype=float)


def counter_per_op(rows: pd.DataFrame, metric: str) -> float | None:
    """sum(value) / sum(loops) over non-warm-up blocks; max_batch is a maximum."""
    if len(rows) == 0:
        return None
    if metric == COUNTER_PREFIX + "max_batch":
        return float(rows["value"].max())
    loops = float(rows["loops"].sum())
    return float(rows["value"].sum()) / loops if loops > 0 else None


def hosts(rows: pd.DataFrame) -> list[str]:
    return sorted({str(h) for h in rows["host"].dropna()})


def source_hashes(rows: pd.DataFrame) -> list[str]:
    return sorted({str(h) for h in rows["source_hash"].dropna()})
