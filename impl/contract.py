"""The data contract between the runner, the pipeline and the summary: one definition each.

A cell file is one Parquet table in long format (one row per sample) with a
JSON metadata blob; ``results/all.parquet`` is their concatenation and keeps
every cell's blob. Everything the three parts must agree on is defined here
and imported where needed: the columns and their types, the metadata keys and
the fields a cell's blob carries, the cell id, the metric catalogue, the
block rules the runner applies and the report quotes, the exit codes, the
percentile method and the one atomic file write.

Standard library only: the measuring children and the pipeline's cell wrapper
import it, and neither may pay for pyarrow or pandas.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from impl.designs.base import COUNTER_NAMES

# --------------------------------------------------------------------- columns


@dataclass(frozen=True)
class Column:
    """One column of a cell file: its name, its Arrow type alias and what it holds."""

    name: str
    type: str  # a pyarrow type alias (pyarrow.type_for_alias): string, int32, int64, bool, double
    meaning: str


#: the columns of a cell file, in order (order is part of the contract)
COLUMNS: tuple[Column, ...] = (
    Column("label", "string", "implementation label (config key; defaults to the design)"),
    Column("design", "string", "registered design name (impl.designs.registry)"),
    Column("impl_params", "string", "JSON, sorted keys: effective constructor params"),
    Column("scenario", "string", "scenario name (impl/runner/scenarios/NAME.py)"),
    Column("params", "string", "JSON, sorted keys: resolved scenario params"),
    Column("cell_id", "string", "cell_id(label, scenario, params), see below"),
    Column("metric", "string", "what value is: a name of METRICS or counter.<name>"),
    Column("unit", "string", "unit of value: ns or count (unit_of(metric))"),
    Column("process", "int32", "index of the fresh measuring process, from 0"),
    Column("block", "int32", "block index within the process, warm-ups first, from 0"),
    Column("warmup", "bool", "discarded warm-up block (kept for transparency)"),
    Column("loops", "int64", "operations in the block the row belongs to"),
    Column("value", "double", "the sample (one block value, one per-op value or a counter)"),
    Column("host", "string", "host name of the measuring machine"),
    Column("source_hash", "string", "sha256 of the design's modules + scenario + runner code"),
    Column("run_id", "string", "id of the runner invocation"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)

# -------------------------------------------------------------------- metadata

#: Parquet key-value metadata key of a cell file's JSON blob
METADATA_KEY = "eventloop_tournament"
#: key of results/all.parquet's blob: {cell_id: that cell's METADATA_KEY blob}
CELLS_METADATA_KEY = "eventloop_tournament_cells"

#: fields every cell's blob carries (the runner may add more, e.g. notes, os)
METADATA_FIELDS: tuple[str, ...] = (
    "date",
    "duration_s",
    "profile",
    "processes",
    "blocks",
    "warmups",
    "warmup_ms",
    "target_block_ms",
    "calibration",
    "quality",  # {"failures": [{"kind", "text"}], ...}: any failure = not a trustworthy number
    "max_foreign_cpu",
    "machine_lock",  # the machine-wide lock file the measuring processes held
    "processes_measured",
    "percentile_method",
    "seed",
    "host",
    "cpu_model",
    "cpu_count",
    "cpu_affinity",
    "loadavg",
    "python_version",  # the parent's (the runner's); the children's is in "interpreter"
    "python_implementation",
    # the measuring processes' interpreter: declared (python, gil) and found (version,
    # free-threaded build, GIL on), per process (impl.runner.interpreter.describe)
    "interpreter",
    "not_applicable",  # None, or why the design cannot run under that interpreter (no rows)
    "timer_resolution_ns",
    "switch_interval_s",
    "gc_enabled",
    "packages",
    "git_commit",
    "git_dirty",
    "source_hash",
    "config_hash",
    "snakemake_version",
    "impl",
    "design",
    "impl_params",
    "scenario",
    "params",
    "cell_id",
)


def encode_metadata(meta: Mapping[str, Any]) -> bytes:
    """A blob as stored in Parquet key-value metadata (JSON, sorted keys)."""
    return json.dumps(dict(meta), sort_keys=True, default=str).encode()


def cells_metadata(kv: Mapping[bytes, bytes] | None) -> dict[str, dict[str, Any]]:
    """{cell_id: metadata blob} from the key-value metadata of a cell file or all.parquet.

    A cell file holds its own blob under METADATA_KEY (keyed here by the blob's
    ``cell_id``); all.parquet holds every cell's under CELLS_METADATA_KEY.
    Raises ValueError if a blob is not JSON. Empty when neither key is present.
    """
    kv = kv or {}
    cells = kv.get(CELLS_METADATA_KEY.encode())
    if cells is not None:
        return {str(k): v for k, v in json.loads(cells).items()}
    one = kv.get(METADATA_KEY.encode())
    if one is None:
        return {}
    meta = json.loads(one)
    return {str(meta["cell_id"]): meta} if isinstance(meta, dict) and "cell_id" in meta else {}


# --------------------------------------------------------------------- cell id


def params_json(params: Mapping[str, Any]) -> str:
    """The ``impl_params`` and ``params`` columns: compact JSON with sorted keys."""
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"))


def param_str(params: Mapping[str, Any]) -> str:
    """``k=v,k=v`` over params sorted by key, values with ``str()``; ``default`` if none.

    The part of the cell id after the second slash, and the cell file's stem.
    """
    return ",".join(f"{k}={params[k]}" for k in sorted(params)) or "default"


#: the cell parameter naming the interpreter a cell ran under, present only off the study's
#: primary interpreter (its cells keep their ids): ``main/round_trip/idle_us=200,interpreter=ft``
INTERPRETER_PARAM = "interpreter"


def cell_id(label: str, scenario: str, params: Mapping[str, Any]) -> str:
    """``label/scenario/k=v,...`` over the *resolved* scenario params (defaults included)."""
    return f"{label}/{scenario}/{param_str(params)}"


# ------------------------------------------------------------ metric catalogue

COUNTER_PREFIX = "counter."
#: metrics about the conditions of a block (foreign load, GC, when it ran), not the design
ENV_PREFIX = "env."
#: Row kinds: a "block" row is one sample per timed block; an "op" row is one
#: operation's value inside a block (pooled into a distribution).
RowKind = Literal["block", "op"]


def is_counter(metric: str) -> bool:
    return metric.startswith(COUNTER_PREFIX)


def is_env(metric: str) -> bool:
    return metric.startswith(ENV_PREFIX)


@dataclass(frozen=True)
class Metric:
    """One metric of the ``metric`` column."""

    name: str
    unit: str  # ns | count | share | load | s | cpu | round
    row: RowKind
    meaning: str

    @property
    def pooled(self) -> bool:
        """One row per operation: its values form a distribution (percentiles apply)."""
        return self.row == "op"

    @property
    def time_per_op(self) -> bool:
        """A block's time per operation, so ops/s = 1e9 / value is meaningful."""
        return self.row == "block" and self.unit == "ns" and not is_env(self.name)

    @property
    def family(self) -> str | None:
        """The A/A pair that applies (methodology.md, "Verdicts"): one pair per family.

        ``latency``: per-operation times pooled into a distribution;
        ``throughput``: a block's time per operation; None for counters and
        conditions (no A/A pair measures their noise).
        """
        if self.unit != "ns" or is_env(self.name) or is_counter(self.name):
            return None
        return "latency" if self.pooled else "throughput"


_TIMES: tuple[Metric, ...] = (
    Metric("ns_per_op", "ns", "block", "timed region / loops"),
    Metric("latency_ns", "ns", "op", "one operation's latency"),
    Metric("burst_ns", "ns", "op", "one burst's completion time"),
    Metric("drain_ns_per_task", "ns", "block", "median over the block's backlogs of drain / tasks"),
    Metric("drain_rep_ns_per_task", "ns", "op", "one backlog's drain time / its tasks"),
    Metric("internal_wait_ns", "ns", "op", "wait of one internal-lane probe behind a backlog"),
)
#: per-block conditions, measured around the block in the measuring process
#: (impl/runner/machine.py)
_ENV: tuple[Metric, ...] = (
    Metric(ENV_PREFIX + "foreign_cpu", "share", "block",
           "CPU time of everything but this process / machine capacity, during the block"),
    Metric(ENV_PREFIX + "cpu_pressure_ns", "ns", "block",
           "growth of /proc/pressure/cpu 'some' total during the block"),
    Metric(ENV_PREFIX + "loadavg", "load", "block", "1-minute load average after the block"),
    Metric(ENV_PREFIX + "gc_collections", "count", "block", "GC collections during the block"),
    Metric(ENV_PREFIX + "block_start", "s", "block", "when the block started, Unix time"),
    Metric(ENV_PREFIX + "timed_ns", "ns", "block", "the block's timed region"),
    Metric(ENV_PREFIX + "own_cpu_ns", "ns", "block",
           "CPU time of the measuring process (all its threads) during the block, per op"),
    Metric(ENV_PREFIX + "loop_cpu_ns", "ns", "block",
           "CPU time of the loop thread during the block, per op"),
    Metric(ENV_PREFIX + "submitter_cpu_ns", "ns", "block",
           "CPU time of every other thread (caller, producers) during the block, per op"),
    *(Metric(f"{ENV_PREFIX}{role}_{kind}_switches", "count", "block",
             f"context switches of {who} during the block, per op ({why})")
      for role, who in (("loop", "the loop thread"),
                        ("submitter", "every other thread (caller, producers)"))
      for kind, why in (("voluntary", "it blocked: a wait, a sleep"),
                        ("involuntary", "it was preempted"))),
    Metric(ENV_PREFIX + "submitter_cpu", "cpu", "block",
           "the CPU the measuring (submitter) thread last ran on in the block"),
    Metric(ENV_PREFIX + "loop_cpu", "cpu", "block", "the CPU the loop thread last ran on"),
    Metric(ENV_PREFIX + "migrations", "count", "block",
           "moves of the submitter and loop threads between CPUs during the block"),
    Metric(ENV_PREFIX + "round", "round", "block",
           "the pipeline round the process was measured in (verdicts pair by it)"),
    Metric(ENV_PREFIX + "gil_enabled", "flag", "block",
           "1 if the GIL was on after the block (sys._is_gil_enabled(); 1 before 3.13)"),
)
#: where a block's CPU time went, per op and per thread role (impl/runner/worker.py): the
#: report shows them beside the counters as mechanism values ("why" columns), since most
#: workloads exercise no counter that differs between designs
CPU_ROLE_METRICS: tuple[str, ...] = (ENV_PREFIX + "loop_cpu_ns", ENV_PREFIX + "submitter_cpu_ns")
#: the per-op CPU metrics the report keeps per cell (the process total and each role)
CPU_METRICS: tuple[str, ...] = (ENV_PREFIX + "own_cpu_ns", *CPU_ROLE_METRICS)
#: each thread role's context switches per op (impl/runner/worker.py), kept per cell beside
#: the CPU metrics: a blocked wait (voluntary) is where a wake-up's latency goes
SWITCH_METRICS: tuple[str, ...] = tuple(
    f"{ENV_PREFIX}{role}_{kind}_switches" for role in ("loop", "submitter")
    for kind in ("voluntary", "involuntary"))
#: the env metrics a cell keeps as properties of the design (per op, median over processes);
#: every other env metric is a condition of the run
PER_OP_ENV_METRICS: tuple[str, ...] = (*CPU_METRICS, *SWITCH_METRICS)


def is_mechanism(metric: str) -> bool:
    """A counter or a thread role's CPU time per op: what can explain a difference."""
    return is_counter(metric) or metric in CPU_ROLE_METRICS


#: what each counter counts, in words (impl.designs.base.CounterSnapshot; the report quotes
#: it beside a counter that explains a result). Kept here, not in impl.designs.base: that
#: module is part of every design's source hash, and a wording change must not invalidate
#: measurements.
COUNTER_MEANINGS: dict[str, str] = {
    "tasks_executed": "tasks run",
    "task_errors": "tasks that raised",
    "wakeups_requested": "producers that found the loop asleep",
    "wake_syscalls": "fd writes made to wake the loop",
    "wakeups_received": "returns from the loop's blocking wait because of a wake",
    "cas_retries": "compare-and-set attempts that had to retry",
    "spins": "consumer spins on a half-linked queue node",
    "lock_waits": "lock acquisitions that failed at the first try",
    "batches": "drain batches, one per tick with work",
    "max_batch": "the largest batch drained in one go",
}
assert set(COUNTER_MEANINGS) == set(COUNTER_NAMES)
_COUNTERS: tuple[Metric, ...] = tuple(
    Metric(COUNTER_PREFIX + n, "count", "block",
           f"the block's delta of counter {n} ({COUNTER_MEANINGS[n]})")
    for n in COUNTER_NAMES
)
#: every metric a cell file may hold, by name
METRICS: dict[str, Metric] = {m.name: m for m in _TIMES + _COUNTERS + _ENV}
#: the metrics whose rows are per-operation values (percentiles are taken from them)
POOLED_METRICS: frozenset[str] = frozenset(m.name for m in METRICS.values() if m.pooled)
#: the metrics that are a time per operation of a block (ops/s is meaningful)
TIME_PER_OP_METRICS: frozenset[str] = frozenset(
    m.name for m in METRICS.values() if m.time_per_op
)
#: the top-level folders the pipeline writes (impl.pipeline.cells.Layout): generated, so
#: the recorded git dirty flag ignores them (running the study must not make the next run
#: "dirty")
RESULTS_DIR = "results"
LOGS_DIR = "logs"
REPORT_DIR = "report"
GENERATED_DIRS: tuple[str, ...] = (RESULTS_DIR, LOGS_DIR, REPORT_DIR)
def details_name(summary_name: str) -> str:
    """DETAILS.md beside SUMMARY.md (DETAILS.partial.md beside SUMMARY.partial.md): the
    summary's companion with every table, comparison and ranking."""
    if "SUMMARY" in summary_name:
        return summary_name.replace("SUMMARY", "DETAILS")
    return f"DETAILS_{summary_name}"


#: the summary's plots, a folder inside a report folder (a declared output of the summary
#: rule, so ``snakemake --report`` embeds every plot)
PLOTS_DIR = "plots"

#: the metric families an A/A pair calibrates (Metric.family)
METRIC_FAMILIES: tuple[str, ...] = ("latency", "throughput")
#: counter whose per-block value is a maximum, not a sum (per-op rate does not apply)
MAX_COUNTER = COUNTER_PREFIX + "max_batch"


def unit_of(metric: str) -> str:
    """The unit of a metric name; KeyError for a name not in METRICS."""
    return METRICS[metric].unit


#: kinds of a cell's measurement-quality failures (metadata ``quality.failures``)
QUALITY_KINDS: tuple[str, ...] = ("short_blocks", "calibration_missed", "machine_busy")

# ---------------------------------------------------------------- block rules

#: a block whose timed region is shorter than this is a quality failure, not a number
SHORT_BLOCK_NS = 1_000_000
#: a block is at least this many GIL switch intervals long (methodology.md, "Sampling")
MIN_SWITCH_INTERVALS = 20
#: calibration also sizes the timed region itself to at least this (ns): a measured block
#: under SHORT_BLOCK_NS fails its cell, and where a declared idle gap fills the clock (round_trip
#: at idle_us=5000: 50 round trips, 255 ms of clock, 1 ms timed) time per op differs between
#: processes enough that a block sized to just 1 ms falls under it; twice that is the margin
TIMED_FLOOR_NS = 2 * SHORT_BLOCK_NS


def block_target_ns(target_block_ms: float, switch_interval_s: float) -> float:
    """What a block is calibrated to, ns: max(target_block_ms, MIN_SWITCH_INTERVALS GIL
    switch intervals of ``switch_interval_s``)."""
    return max(target_block_ms * 1e6, MIN_SWITCH_INTERVALS * switch_interval_s * 1e9)


def warmup_share(warmup_ms: float, target_ns: float) -> float:
    """A warm-up block's share of a block calibrated to ``target_ns``: warmup_ms of its work,
    at most the whole block (1.0)."""
    return min(1.0, warmup_ms * 1e6 / target_ns)

# ----------------------------------------------------------------- exit codes

#: the exit codes of the runner, the cell wrapper, a batch job and the report's tools
EXIT_OK = 0
#: verification failure or crash (the runner), a failed cell (a batch)
EXIT_FAILED = 1
#: bad input: one line naming the culprit and the allowed values, nothing run
EXIT_BAD_INPUT = 2
#: the watchdog fired (stacks dumped to stderr), as coreutils' timeout(1) exits
EXIT_TIMEOUT = 124
#: interrupted (Ctrl-C, SIGTERM, Snakemake gone): 128 + SIGINT, as a shell reports it
EXIT_INTERRUPTED = 130

# ---------------------------------------------------------------- percentiles

#: numpy.percentile's ``method=`` for every percentile the project computes
PERCENTILE_METHOD = "linear"
#: how the method is recorded in each cell's metadata and the summary
PERCENTILE_METHOD_NAME = f"numpy {PERCENTILE_METHOD}"

# --------------------------------------------------------------- atomic write

#: mode of every file the project writes (mkstemp's 0600 would hide results from others)
FILE_MODE = 0o644


def write_atomic(
    path: str | os.PathLike[str], data: bytes | str | Callable[[BinaryIO], None]
) -> Path:
    """Write ``path`` so that a reader sees the old file or the whole new one, never a part.

    ``data`` is the content, or a function that writes it to the open binary
    file (e.g. ``lambda fh: pyarrow.parquet.write_table(table, fh)``). The
    bytes go to a hidden temporary file in the target's own folder (same file
    system, so the rename is atomic), are fsynced, get mode 0644 and then
    take the target's name. On any error the temporary file is removed and
    the old target is untouched. Returns the target path.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


# ------------------------------------------------------------------ source hash


def module_file(module: str) -> Path | None:
    """The source file of a dotted module name, found without importing the module or its
    packages (the Snakefile hashes designs while it is parsed), or None."""
    parts = module.split(".")
    spec = importlib.util.find_spec(parts[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations)))
    rel = Path(*parts[1:]) if len(parts) > 1 else Path()
    for candidate in (base / rel.with_suffix(".py") if parts[1:] else None,
                      base / rel / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def source_hash(modules: Iterable[str]) -> str:
    """sha256 (hex) over the named modules' source files, in the given order: each module's
    name, NUL, its bytes (``<missing>`` for a module without a file), NUL. The ``source_hash``
    column and metadata field, and (its first 16 digits) the pipeline's code hash."""
    digest = hashlib.sha256()
    for name in modules:
        path = module_file(name)
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes() if path is not None else b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()
