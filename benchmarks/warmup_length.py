"""How long a fresh measuring process's warm-up block must be: the measured block's bias.

A measuring process is fresh (methodology.md, "Sampling"): CPython 3.11's
adaptive interpreter specialises a function's bytecode after a few
executions, and caches and the allocator warm up; until then an operation
costs more. The worker discards a warm-up block per process. This benchmark
measures what its length changes, the way the worker measures:

1. per design and cell, one process calibrates the block size as the worker
   does (``BlockRunner.calibrate``: the profile's 100 ms target);
2. fresh processes (``--processes`` per warm-up length) each run a warm-up
   block of W ms of the calibrated work (``--warmups-ms``, 0 = none), then
   ``--blocks`` measured blocks at the calibrated size, each on a fresh loop
   after ``gc.collect`` (``BlockRunner.fresh_block``);
3. the bias of the first measured block: its value (the median latency in a
   latency scenario, else time per op) divided by the median of the later
   ones in the same process (the process's warm state),
   the median over processes. A warm-up length is long enough when this
   ratio is within the run's noise of 1 for every design and cell.

Per-op time is not compared across block sizes on purpose: below one GIL
switch interval a thread runs its share without a forced switch, so short
blocks cost differently per op whatever the warm-up.

Usage (quiet machine; a few minutes):

    python benchmarks/warmup_length.py [--processes 3] [--warmups-ms 0,10,100]

Prints one row per design and cell: the first block's ratio per warm-up
length, and the spread of the later blocks (the noise); then, per length, the
median ratio over the cells and the cells whose first block is slower beyond
the noise. If a warm-up were too short, its column would sit above 1 and
collect more such cells than the longer ones. Nothing is asserted, and
nothing discards a block disturbed by other work: run it on a quiet machine,
and read a ratio far from 1 in one cell as noise unless its column collects
such cells.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: the cells measured: the answer's and the hypotheses' scenarios, at one point each
CELLS: tuple[tuple[str, dict], ...] = (
    ("submit_contention", {"producers": 1}),
    ("submit_contention", {"producers": 16}),
    ("burst_throughput", {"burst": 4096}),
    ("round_trip", {"idle_us": 0}),
    ("burst_latency", {"burst": 512}),
    ("budget_sweep", {"budget": 64}),
    ("round_trip", {"idle_us": 5000, "placement": "same_core"}),
    ("wakeup", {"mode": "sleeping"}),
)
DESIGNS = ("main", "alternate_one", "alternate_two", "alternate_three", "baseline",
           "asyncio", "uvloop")
TARGET_MS = 100.0


def _runner(design: str, scenario: str, params: dict, warmup_ms: float = TARGET_MS):
    from impl.runner import worker
    from impl.runner.request import CellRequest, resolve

    cell = resolve(CellRequest(impl=design, scenario=scenario, params=params, processes=1,
                               blocks=1, warmups=1, warmup_ms=warmup_ms,
                               target_block_ms=TARGET_MS, timeout_s=600, presets=None))
    return worker.BlockRunner(cell)


def size(design: str, scenario: str, params: dict) -> int:
    """The calibrated block size (ops), as the worker's calibration finds it (the
    confirmation, which the worker does with the process's own blocks, left out)."""
    from impl.runner import worker

    runner = _runner(design, scenario, params)
    return runner.calibrate(
        confirm=lambda loops: [(runner.target_ns(), worker.TIMED_FLOOR_NS)])["loops"]


def _value(block: dict) -> float:
    """A block's value as the report takes it: the median of its per-op latencies in a
    latency scenario, else its block value or time per op."""
    if block["samples"].get("latency_ns"):
        return statistics.median(block["samples"]["latency_ns"])
    return block["block_values"].get("drain_ns_per_task") or block["ns_per_op"]


def run(design: str, scenario: str, params: dict, loops: int, warmup_ms: float,
        blocks: int) -> list[float]:
    """The value of each measured block after a warm-up block of ``warmup_ms`` (sized as the
    worker sizes it: ``BlockRunner.warmup_loops``; 0 = none)."""
    runner = _runner(design, scenario, params, warmup_ms or TARGET_MS)
    if warmup_ms > 0:
        runner.fresh_block(runner.warmup_loops(loops))
    return [_value(runner.fresh_block(loops)) for _ in range(blocks)]


def summary(lengths: list[float], rows: list[tuple[str, list[float], float]]) -> list[str]:
    """Per warm-up length: the median first-block ratio over the cells, the median |ratio - 1|,
    and the cells whose first block is slower by more than max(5 %, 2 x that cell's noise)."""
    out = []
    for i, w in enumerate(lengths):
        ratios = [cols[i] for _, cols, _ in rows]
        slow = [name for name, cols, noise in rows if cols[i] > 1 + max(0.05, 2 * noise)]
        out.append(f"warm-up {w:g} ms: median ratio {statistics.median(ratios):.3f}, median "
                   f"|ratio - 1| {statistics.median([abs(r - 1) for r in ratios]):.3f}, first "
                   f"block slower beyond max(5 %, 2 x noise) in {len(slow)} of {len(rows)} "
                   f"cells{': ' + ', '.join(slow) if slow else ''}")
    return out


def _child(*argv: str) -> object:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, __file__, "--child", *argv], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    rows = "; ".join(f"{i}: {s} {','.join(f'{k}={v}' for k, v in pr.items())}"
                     for i, (s, pr) in enumerate(CELLS))
    p.add_argument("--processes", type=int, default=3,
                   help="fresh processes per warm-up length (default 3)")
    p.add_argument("--blocks", type=int, default=3,
                   help="measured blocks per process, at least 2 (default 3)")
    p.add_argument("--warmups-ms", default="0,10,100",
                   help="warm-up lengths, ms of the target block's work, 0 = none "
                   "(default 0,10,100)")
    p.add_argument("--designs", default=",".join(DESIGNS),
                   help="comma-separated registered designs (default all seven)")
    p.add_argument("--cells", type=int, nargs="*", metavar="I",
                   help=f"only the cells with these indices (default all): {rows}")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        what, design, scenario, params, *rest = args.child
        if what == "size":
            print(json.dumps(size(design, scenario, json.loads(params))))
        else:
            loops, warmup_ms, blocks = int(rest[0]), float(rest[1]), int(rest[2])
            print(json.dumps(run(design, scenario, json.loads(params), loops, warmup_ms, blocks)))
        return 0
    from impl.designs import registry
    from impl.runner import scenarios

    try:
        lengths = [float(x) for x in args.warmups_ms.split(",")]
    except ValueError:
        lengths = []
    designs = args.designs.split(",")
    bad = (
        "--processes: allowed: an int >= 1" if args.processes < 1 else
        "--blocks: allowed: an int >= 2 (the first is compared with the later ones)"
        if args.blocks < 2 else
        f"--warmups-ms: bad value {args.warmups_ms!r}; allowed: comma-separated numbers >= 0"
        if not lengths or any(not 0 <= w < 60_000 for w in lengths) else
        f"--designs: unknown {sorted(set(designs) - set(registry.names()))}; allowed: "
        f"{', '.join(registry.names())}" if set(designs) - set(registry.names()) else
        f"--cells: allowed: indices 0-{len(CELLS) - 1}"
        if args.cells and any(not 0 <= i < len(CELLS) for i in args.cells) else None)
    if bad:
        print(f"warmup_length: {bad}", file=sys.stderr)
        return 2
    print(f"first measured block / median of the later {args.blocks - 1} (block values), "
          f"median of {args.processes} fresh processes, per warm-up length (ms of work); "
          f"noise: median |later block / their median - 1|")
    head = " ".join(f"{f'{w:g} ms':>9}" for w in lengths)
    rows: list[tuple[str, list[float], float]] = []
    print(f"{'design':<16} {'cell':<28} {head} {'noise':>7}")
    chosen = [CELLS[i] for i in args.cells] if args.cells else list(CELLS)
    for scenario, params in chosen:
        for design in designs:
            try:
                scenarios.get(scenario).check_applies(registry.get(design))
            except Exception:  # noqa: BLE001 - e.g. budget_sweep on a design without a budget
                continue
            js = json.dumps(params)
            loops = _child("size", design, scenario, js)
            cols, noise = [], []
            for w in lengths:
                ratios = []
                for _ in range(args.processes):
                    vals = _child("run", design, scenario, js, str(loops), str(w),
                                  str(args.blocks))
                    later = statistics.median(vals[1:])
                    ratios.append(vals[0] / later)
                    noise += [abs(v / later - 1) for v in vals[1:]]
                cols.append(statistics.median(ratios))
            where = f"{scenario} {','.join(f'{k}={v}' for k, v in params.items())}"
            print(f"{design:<16} {where:<28} " + " ".join(f"{c:9.3f}" for c in cols)
                  + f" {statistics.median(noise):7.3f}", flush=True)
            rows.append((f"{design} {where}", cols, statistics.median(noise)))
    print("\n".join(summary(lengths, rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
