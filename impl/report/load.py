"""Read the runner's Parquet output and select the samples each statistic needs.

The summary may only quote numbers from this run's Parquet files, so every
value the report uses passes through here: warm-up blocks are dropped once,
and the choice of "what is one sample" (one value per process, with its
blocks; the pooled per-op values for tails) is made in one place rather than
in each table.
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

from impl import contract
from impl.contract import MAX_COUNTER, POOLED_METRICS, is_counter
from impl.report.stats import UNKNOWN_ROUND, ProcessSamples
from impl.runner.schema import SCHEMA

log = logging.getLogger("impl.report")

__all__ = ["Measurements", "load", "is_counter", "cell_rows", "pooled", "process_samples",
           "hosts", "source_hashes", "readable_cell_files", "pooled_with_process",
           "ROUND_METRIC", "process_rounds"]

#: one row per block: the pipeline round its process was measured in (the verdicts pair
#: processes of the same round, impl.report.effects.hodges_lehmann)
ROUND_METRIC = contract.ENV_PREFIX + "round"


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


def _meta_of(path: Path) -> dict[str, dict[str, Any]]:
    """{cell_id: blob} of a cell file or of all.parquet (impl.contract.cells_metadata)."""
    try:
        return contract.cells_metadata(pq.read_schema(path).metadata)
    except ValueError as exc:  # a blob that is not JSON: the numbers are still usable
        log.warning("%s: unreadable metadata, platform fields unknown (%s)", path, exc)
        return {}


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
    """Read all.parquet if it exists, else the cell files; drop warm-up blocks.

    Rows and metadata come from the same files: all.parquet carries every
    cell's blob, so the cell files are read only when it is absent (a partial
    run).
    """
    if all_parquet is not None and Path(all_parquet).exists():
        sources = [Path(all_parquet)]
    else:
        sources = readable_cell_files(cell_files)
    frames = [f for f in (pd.read_parquet(p) for p in sources) if len(f)]
    meta: dict[str, dict[str, Any]] = {}
    for path in sources:
        meta.update(_meta_of(path))
    df = pd.concat(frames, ignore_index=True) if frames else SCHEMA.empty_table().to_pandas()
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
        meta=meta,
        cells=cells,
        warmup_rows_dropped=int(warm.sum()),
    )


def cell_rows(m: Measurements, cell_id: str, metric: str) -> pd.DataFrame:
    r = m.of_cell(cell_id)
    return r[r["metric"] == metric]


def pooled(rows: pd.DataFrame, metric: str) -> np.ndarray:
    """Every finite value of the metric, sorted: the source of a latency metric's tails.

    Latency-like metrics: every per-op value, pooled across blocks and
    processes; block metrics: the block values; counters: each block's per-op
    rate (value / loops).
    """
    return np.sort(_columns(rows, metric)[3])


def pooled_with_process(rows: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(pooled values, the process of each) sorted by value: the tails' process bootstrap."""
    proc, _, _, value, _ = _columns(rows, metric)
    order = np.argsort(value, kind="stable")
    return value[order], proc[order]


def _columns(rows: pd.DataFrame, metric: str):
    """(process, block, loops, value, host) as arrays, finite values only, in process/block order.

    Counters' values become per-op rates (max_batch stays a maximum). numpy, not
    pandas groupby: a full study asks this of ~1,000 cell metrics.
    """
    proc = rows["process"].to_numpy(dtype=np.int64)
    block = rows["block"].to_numpy(dtype=np.int64)
    loops = rows["loops"].to_numpy(dtype=float)
    value = rows["value"].to_numpy(dtype=float)
    host = rows["host"].astype(object).where(rows["host"].notna(), "unknown host").to_numpy()
    if is_counter(metric) and metric != MAX_COUNTER:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(loops > 0, value / loops, np.nan)
    keep = np.isfinite(value)
    order = np.lexsort((block[keep], proc[keep]))
    return (proc[keep][order], block[keep][order], loops[keep][order], value[keep][order],
            host[keep][order])


def process_rounds(rows: pd.DataFrame) -> dict[int, int]:
    """{process: the pipeline round it was measured in} from a cell's ``env.round`` rows.

    ``rows``: the cell's rows of ``ROUND_METRIC`` (``cell_rows(m, cell_id, ROUND_METRIC)``;
    other metrics' rows are ignored). A process whose blocks disagree on the round, or
    whose value is not a whole number, is left out (its round is unknown).
    """
    r = rows[rows["metric"] == ROUND_METRIC]
    proc = r["process"].to_numpy(dtype=np.int64)
    value = r["value"].to_numpy(dtype=float)
    out: dict[int, int] = {}
    bad: set[int] = set()
    for p, v in zip(proc, value, strict=True):
        p = int(p)
        whole = bool(np.isfinite(v)) and v == round(v) and v >= 0
        if not whole or out.setdefault(p, int(v)) != int(v):
            bad.add(p)
    return {p: v for p, v in out.items() if p not in bad}


def process_samples(rows: pd.DataFrame, metric: str,
                    rounds: dict[int, int] | None = None) -> ProcessSamples:
    """One value per process (methodology.md: the process is the replicate), with its blocks.

    A process's value is the median of its blocks; for per-op latency metrics
    the median of its own pooled values (its blocks enter the bootstrap through
    their medians); for counters its per-op rate sum(value)/sum(loops) (the
    largest value for max_batch), with each block's rate as its blocks.
    Non-finite values are dropped; a process left without values is left out.
    ``rounds``: {process: round} (``process_rounds``); a process it does not name, or
    every process when it is None, gets ``UNKNOWN_ROUND``.
    Shapes: ``values``, ``hosts`` and ``rounds`` have one entry per process, in process order.
    """
    proc, block, loops, value, host = _columns(rows, metric)
    if len(value) == 0:
        return ProcessSamples(np.array([], dtype=float), (), ())
    new_block = np.r_[True, (proc[1:] != proc[:-1]) | (block[1:] != block[:-1])]
    b_start = np.flatnonzero(new_block)
    b_end = np.r_[b_start[1:], len(value)]
    pooled_metric = metric in POOLED_METRICS
    if pooled_metric:
        block_values = np.array([np.median(value[i:j]) for i, j in zip(b_start, b_end,
                                                                       strict=True)])
    else:
        block_values = value[b_start]
    b_proc = proc[b_start]
    p_first_block = np.flatnonzero(np.r_[True, b_proc[1:] != b_proc[:-1]])
    blocks = np.split(block_values, p_first_block[1:])
    p_start = np.flatnonzero(np.r_[True, proc[1:] != proc[:-1]])
    p_end = np.r_[p_start[1:], len(value)]
    if pooled_metric:
        values = [np.median(value[i:j]) for i, j in zip(p_start, p_end, strict=True)]
    elif metric == MAX_COUNTER:
        values = [value[i:j].max() for i, j in zip(p_start, p_end, strict=True)]
    elif is_counter(metric):
        # rates weighted by loops: sum(value) / sum(loops) over the process's blocks
        values = [float(np.sum(value[i:j] * loops[i:j]) / np.sum(loops[i:j]))
                  for i, j in zip(p_start, p_end, strict=True)]
    else:
        values = [np.median(b) for b in blocks]
    rounds = rounds or {}
    return ProcessSamples(np.asarray(values, dtype=float), tuple(blocks),
                          tuple(str(h) for h in host[p_start]),
                          tuple(rounds.get(int(p), UNKNOWN_ROUND) for p in proc[p_start]))


def hosts(rows: pd.DataFrame) -> list[str]:
    return sorted({str(h) for h in rows["host"].dropna()})


def source_hashes(rows: pd.DataFrame) -> list[str]:
    return sorted({str(h) for h in rows["source_hash"].dropna()})
