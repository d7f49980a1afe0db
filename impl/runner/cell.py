"""One cell end to end: validate, run the fresh processes, check, build the long table.

This is the Python API behind the CLI (``run_cell``/``write_cell``). A cell is
measured in one or more *rounds*: ``measure_round`` runs some of its fresh
processes and returns a JSON-able record (the pipeline interleaves the rounds
of all cells over the run; one batch job measures one round of every cell at a
parameter point); ``table_from_rounds`` turns a cell's
records into its long table with metadata. Run standalone, a cell is one
round with all its processes. pyarrow is imported only when a table is built;
the measuring children never import it (nor pandas).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from impl import contract
from impl.contract import SHORT_BLOCK_NS, source_hash
from impl.designs import registry
from impl.runner import machine_lock, metadata, scenarios
from impl.runner.manager import CellFailedError, NotApplicableError, run_processes
from impl.runner.request import CellRequest, ResolvedCell, resolve
from impl.runner.watchdog import Deadline


def cell_source_hash(cell: ResolvedCell) -> str:
    spec = registry.get(cell.design)
    scenario = scenarios.get(cell.scenario)
    return source_hash([*spec.modules, scenario.module_name, *metadata.MEASURING_MODULES])


#: one run of rows sharing metric, process, block, warmup and loops: (metric, p, b, w, n, values)
Run = tuple[str, int, int, bool, int, list[float]]


def _runs(results: list[dict[str, Any]]) -> list[Run]:
    """Rows of the undisturbed processes; a replaced process is only in the metadata."""
    runs: list[Run] = []
    for res in results:
        if res["disturbed"]:
            continue
        p = res["process"]
        for blk in res["blocks"]:
            b, w, n = blk["block"], blk["warmup"], blk["loops"]
            runs.append(("ns_per_op", p, b, w, n, [blk["ns_per_op"]]))
            for name, v in blk["block_values"].items():
                runs.append((name, p, b, w, n, [v]))
            for name, vals in blk["samples"].items():
                runs.append((name, p, b, w, n, vals))
            for name, v in blk["counters"].items():
                runs.append((f"{contract.COUNTER_PREFIX}{name}", p, b, w, n, [v]))
            for name, v in blk["env"].items():
                runs.append((name, p, b, w, n, [v]))
    return runs


def _calibration(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The calibration record of the cell (its round 0's first process), None if absent."""
    return next((r["calibration"] for r in results if r.get("calibration")), None)


def quality(
    cell: ResolvedCell, results: list[dict[str, Any]], expected: int | None = None,
    not_applicable: str | None = None,
) -> dict[str, Any]:
    """The cell's measurement-quality record; ``failures`` non-empty means NEEDS RETEST.

    Each failure is ``{"kind", "text"}`` with a kind of impl.contract.QUALITY_KINDS:
    a measured block whose timed region is under 1 ms, a calibration that never
    reached its target, fewer undisturbed processes than ``expected`` (default:
    ``cell.processes``). ``busy_wait_s``: how long the runner waited in all for a quiet
    machine before replacing disturbed processes (impl.runner.manager.wait_for_quiet).
    """
    expected = cell.processes if expected is None else expected
    if not results and not_applicable is not None:  # nothing to measure is not a failure
        expected = 0
    kept = [r for r in results if not r["disturbed"]]
    busy_wait = _busy_wait(results)
    short = sum(
        1 for r in kept for b in r["blocks"]
        if not b["warmup"] and b["timed_ns"] < SHORT_BLOCK_NS
    )
    calibration = _calibration(results)
    failures = []
    if short:
        failures.append({"kind": "short_blocks",
                         "text": f"{short} measured block(s) with a timed region under 1 ms"})
    if calibration and calibration["missed"]:
        last, floor = calibration["confirm"][-1], calibration.get("timed_floor_ns")
        short_of = [f"{last[1] / 1e6:.1f} ms < {calibration['target_ns'] / 1e6:.1f} ms"
                    ] if last[1] < calibration["target_ns"] else []
        if floor and len(last) > 3 and last[3] < floor:
            short_of.append(f"timed region {last[3] / 1e6:.1f} ms < {floor / 1e6:.1f} ms")
        failures.append({"kind": "calibration_missed", "text": (
            f"calibration missed its target ({'; '.join(short_of)} at {calibration['loops']} "
            f"loops)")})
    if len(kept) < expected:
        waited = f" after waiting {busy_wait:.0f} s for a quiet machine" if busy_wait else ""
        failures.append({"kind": "machine_busy", "text": (
            f"machine busy: {len(kept)} of {expected} processes measured undisturbed "
            f"(foreign CPU > {cell.max_foreign_cpu:.0%}){waited}")})
    return {
        "failures": failures,
        "blocks_under_1ms": short,
        "calibration_missed": bool(calibration and calibration["missed"]),
        "undisturbed_processes": len(kept),
        "disturbed_processes": [r["process"] for r in results if r["disturbed"]],
        "discarded_blocks": [
            {"process": r["process"], **d} for r in results for d in r["discarded"]
        ],
        "max_foreign_cpu": cell.max_foreign_cpu,
        "busy_wait_s": busy_wait,
    }


def _busy_wait(results: list[dict[str, Any]]) -> float:
    """Seconds the runner waited in all for a quiet machine before these processes."""
    return round(sum(r.get("busy_wait_s") or 0.0 for r in results), 3)


def _check_distributions(runs: list[Run]) -> dict[str, dict[str, float]]:
    """Percentiles of every distribution metric, pooled over processes and measured blocks."""
    from impl.runner.percentiles import PercentileOrderError, check_percentiles

    pooled: dict[str, list[list[float]]] = {}
    for metric, _p, _b, warmup, _n, vals in runs:
        if metric in contract.POOLED_METRICS and not warmup:
            pooled.setdefault(metric, []).append(vals)
    try:
        return {
            m: check_percentiles([v for vals in parts for v in vals], m)
            for m, parts in pooled.items()
        }
    except PercentileOrderError as exc:
        raise CellFailedError(f"percentile check failed: {exc}") from None


def measure_round(
    request: CellRequest | ResolvedCell, round_index: int = 0, loops: int = 0
) -> dict[str, Any]:
    """Run one round of a cell: ``processes`` fresh processes, numbered from
    ``round_index * 2 * processes`` (each round owns 2 x processes numbers, room
    for its replacements, so numbers never repeat within a cell); the first
    calibrates unless ``loops`` is given.

    Returns a JSON-able record (cell, round, process results, host metadata,
    run id, timing). Raises impl.params.BadParameterError (bad input, nothing
    run), CellFailedError (verification failure, crash, a failed percentile
    check, or every process disturbed) or watchdog.CellTimeoutError.
    """
    cell = request if isinstance(request, ResolvedCell) else resolve(request)
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    deadline = Deadline(cell.timeout_s)
    not_applicable = None
    with tempfile.TemporaryDirectory(prefix="elt-cell-") as workdir:
        try:
            results = run_processes(cell, Path(workdir), deadline,
                                    first_index=round_index * 2 * cell.processes, loops=loops,
                                    round_index=round_index)
        except NotApplicableError as exc:
            results, not_applicable = [], str(exc)
    if not_applicable is None and all(r["disturbed"] for r in results):
        waited = _busy_wait(results)
        raise CellFailedError(
            f"machine busy: every process had blocks with foreign CPU > "
            f"{cell.max_foreign_cpu:.0%}; nothing measured undisturbed"
            + (f" after waiting {waited:.0f} s for a quiet machine" if waited else "")
            + " (rerun when it is quieter)"
        )
    _check_distributions(_runs(results))  # fail now, not at aggregation
    return {
        "cell": asdict(cell),
        "round": round_index,
        "results": results,
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 3),
        "host": metadata.host_metadata(),
        "source_hash": cell_source_hash(cell),
        "run_id": f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}",
        "not_applicable": not_applicable,
    }


def round_loops(record: dict[str, Any]) -> int:
    """The block size a round calibrated (what the cell's later rounds reuse); 0 (calibrate)
    when it measured nothing because the design cannot run under the cell's interpreter."""
    if record.get("not_applicable") and not record["results"]:
        return 0
    return int(record["results"][0]["loops"])


def _interpreter(cell: ResolvedCell, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The declared interpreter and what each process found (impl.runner.interpreter)."""
    found = [r["interpreter"] for r in results if r.get("interpreter")]
    return {
        "python": cell.python or None,
        "gil": cell.gil,
        "version": found[0]["version"] if found else None,
        "gil_disabled_build": found[0]["gil_disabled_build"] if found else None,
        # per process: a C extension can switch the GIL on in one process and not another
        "gil_enabled": sorted({bool(f["gil_enabled"]) for f in found}),
    }


def _metadata(
    cell: ResolvedCell,
    records: list[dict[str, Any]],
    results: list[dict[str, Any]],
    percentiles: dict[str, Any],
) -> dict[str, Any]:
    scenario = scenarios.get(cell.scenario)
    notes: dict[str, int] = {}
    for res in results:
        for blk in res["blocks"]:
            for k, v in blk["notes"].items():
                notes[k] = notes.get(k, 0) + int(v)
    calibration = _calibration(results)
    expected = cell.processes * len(records)
    not_applicable = next((r["not_applicable"] for r in records if r.get("not_applicable")),
                          None)
    meta = {
        "date": min(r["started"] for r in records),
        # when the last process of the cell finished (rounds spread over the whole run)
        "date_end": dt.datetime.fromtimestamp(
            max((r["measure_end"] for r in results), default=0), dt.UTC
        ).isoformat(timespec="seconds"),
        "duration_s": round(sum(r["duration_s"] for r in records), 3),
        "profile": cell.profile,
        "processes": expected,
        "rounds": len(records),
        "blocks": cell.blocks,
        "warmups": cell.warmups,
        "warmup_ms": cell.warmup_ms,
        "target_block_ms": cell.target_block_ms,
        "max_foreign_cpu": cell.max_foreign_cpu,
        # the machine-wide lock the processes held (the children inherit this environment)
        "machine_lock": str(machine_lock.lock_path()),
        "timeout_s": cell.timeout_s,
        "calibration": {
            "method": "process 0, warm: grows loops until one block's timed region (plus a "
            "declared idle gap) reaches max(target, 20 GIL switch intervals) and the timed "
            "region alone at least twice the 1 ms a measured block needs, confirmed by "
            "the median of its own blocks at that size (the measured ones; the warm-up ones "
            "too when they are whole blocks), else grown and measured again; later "
            "processes reuse its loops",
            "loops_per_process": [r["loops"] for r in results],
            **(calibration or {}),
        },
        "quality": quality(cell, results, expected, not_applicable),
        "interpreter": _interpreter(cell, results),
        "not_applicable": not_applicable,
        "processes_measured": [
            {"process": r["process"], "pid": r["pid"], "start": r["measure_start"],
             "end": r["measure_end"], "lock_wait_s": r.get("lock_wait_s"),
             "quiet_wait_s": r.get("quiet_wait_s"), "busy_wait_s": r.get("busy_wait_s"),
             "disturbed": r["disturbed"], "round": rec["round"], "host": rec["host"]["host"]}
            for rec in records for r in rec["results"]
        ],
        "fresh_loop": "per block (constructed, started, one warm-up round trip, closed after)",
        "percentile_method": contract.PERCENTILE_METHOD_NAME,
        "percentiles_checked": percentiles,
        "seed": cell.seed,
        "gc_enabled": all(r["gc_enabled"] for r in results),
        "gc_collect_before_block": True,
        "tasks_allocate": scenario.tasks_allocate,
        "notes": notes,
        "source_hash": records[0]["source_hash"],
        "config_hash": cell.config_hash,
        "impl": cell.label,
        "label": cell.label,
        "design": cell.design,
        "impl_params": cell.impl_params,
        "scenario": cell.scenario,
        "params": cell.params,
        "cell_id": cell.cell_id,
        "run_id": records[0]["run_id"],
    }
    meta.update(records[0]["host"])
    meta["hosts"] = sorted({rec["host"]["host"] for rec in records})
    meta["switch_interval_s"] = (
        results[0]["switch_interval_s"] if results else meta["switch_interval_s"]
    )
    return meta


def table_from_rounds(records: list[dict[str, Any]]) -> Any:
    """The cell's pyarrow Table (metadata attached) from its round records, in round order.

    Raises CellFailedError when the pooled percentiles are out of order.
    """
    import pyarrow as pa

    from impl.runner import arrow_build as ab
    from impl.runner.parquet_io import with_metadata
    from impl.runner.schema import SCHEMA

    records = sorted(records, key=lambda r: r["round"])
    cell = ResolvedCell(**records[0]["cell"])
    per_round = [_runs(rec["results"]) for rec in records]
    runs = [run for rr in per_round for run in rr]
    percentiles = _check_distributions(runs)
    counts = [len(r[5]) for r in runs]
    n = sum(counts)
    round_rows = [sum(len(r[5]) for r in rr) for rr in per_round]

    def per_run(index: int, dtype: str, arrow_type: Any) -> Any:
        return ab.repeat_numeric([r[index] for r in runs], counts, dtype, arrow_type)

    def per_round_str(values: list[str]) -> Any:
        return ab.repeat_strings(values, round_rows)

    arrays = {
        "label": ab.constant_string(cell.label, n),
        "design": ab.constant_string(cell.design, n),
        "impl_params": ab.constant_string(contract.params_json(cell.impl_params), n),
        "scenario": ab.constant_string(cell.scenario, n),
        "params": ab.constant_string(contract.params_json(cell.params), n),
        "cell_id": ab.constant_string(cell.cell_id, n),
        "metric": ab.repeat_strings([r[0] for r in runs], counts),
        "unit": ab.repeat_strings([contract.unit_of(r[0]) for r in runs], counts),
        "process": per_run(1, "int32", pa.int32()),
        "block": per_run(2, "int32", pa.int32()),
        "warmup": ab.repeat_boolean([r[3] for r in runs], counts),
        "loops": per_run(4, "int64", pa.int64()),
        "value": ab.concat_numeric([r[5] for r in runs], n),
        "host": per_round_str([rec["host"]["host"] for rec in records]),
        "source_hash": per_round_str([rec["source_hash"] for rec in records]),
        "run_id": per_round_str([rec["run_id"] for rec in records]),
    }
    table = pa.Table.from_arrays([arrays[f.name] for f in SCHEMA], schema=SCHEMA)
    results = [r for rec in records for r in rec["results"]]
    return with_metadata(table, _metadata(cell, records, results, percentiles))


def measure_table(request: CellRequest | ResolvedCell) -> Any:
    """Run the whole cell (one round of all its processes); its pyarrow Table.

    Raises impl.params.BadParameterError (bad input, nothing run),
    CellFailedError (verification failure or crash) or
    watchdog.CellTimeoutError (children killed, stacks dumped).
    """
    return table_from_rounds([measure_round(request)])


@dataclass(frozen=True)
class MeasuredCell:
    """One measured cell for Python callers: ``rows``, a pandas DataFrame in the contract's
    long format (impl.contract.COLUMNS), and ``metadata``, its blob (METADATA_FIELDS).

    The blob stays beside the frame, not in ``DataFrame.attrs``: pandas deep-copies attrs
    into every frame derived from it, which made column reads 5-7x and groupby 2x slower
    on a cell's frame.
    """

    rows: Any
    metadata: dict[str, Any]


def run_cell(request: CellRequest) -> MeasuredCell:
    """Run one cell; its rows and metadata (``MeasuredCell``). Raises like ``measure_table``."""
    from impl.runner.schema import read_metadata

    table = measure_table(request)
    return MeasuredCell(rows=table.to_pandas(), metadata=read_metadata(table.schema))


def write_cell(request: CellRequest, out: str | os.PathLike[str]) -> Path:
    """Run one cell and write its Parquet file atomically (nothing is written on failure)."""
    from impl.runner.parquet_io import write_table

    return write_table(measure_table(request), out)
