"""Where a measuring process's time goes outside its timed blocks: the per-process breakdown.

A study spends most of its wall time outside the measured blocks
(``benchmarks/study_cost.py``: 0.87 s per cell round of the default study, about
0.4 s per fresh process). This benchmark takes one process apart, measuring
each phase on its own, in one run, on this machine:

* ``interpreter``: ``python -c pass`` (a fresh interpreter, the site packages);
* ``child imports``: ``python -c 'import impl.runner.worker ...'`` minus the
  interpreter (the worker, the design's and the scenario's modules);
* in one process, per design: ``BlockRunner`` set-up, ``gc.collect`` before a
  block (after ``gc.freeze``, as the worker), ``new_loop`` (construct, start,
  the placement probe, one warm-up round trip), a block outside its timed
  region (counter snapshots after the loop parks, the machine's and the
  threads' CPU readings) and ``close_loop`` (shutdown);
* ``worker process``: ``python -m impl.runner --worker`` on a fixed block size,
  as the parent runs it: its wall time (spawn to reaped) minus its blocks' timed
  regions, split into start-up (spawn to ``measure_start``), the blocks' own
  overhead and the end (``measure_end`` to reaped);
* ``parent``: ``measure_round`` of one cell minus its processes' measuring time
  (their start-up, the request file, the parent's bookkeeping between processes).

Usage (quiet machine; a few tens of seconds):

    python benchmarks/process_cost.py [--design baseline] [--scenario burst_throughput]
        [--repeat 15]

Prints a table of medians (ms) and each phase's share of one worker process's
wall time. Nothing here is asserted: the machines are shared and noisy, so read
the shares, which are measured in one run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impl.runner import machine, worker  # noqa: E402
from impl.runner.request import CellRequest, resolve  # noqa: E402


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000 if samples else float("nan")


def _spawn_s(argv: list[str], repeat: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdin=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
    return out


def _cell(design: str, scenario: str) -> object:
    params = {"burst": 64} if scenario == "burst_throughput" else {}
    return resolve(CellRequest(impl=design, scenario=scenario, params=params, processes=2,
                               blocks=2, warmups=1, target_block_ms=100, timeout_s=300,
                               presets=None))


def in_process(cell: object, repeat: int, loops: int) -> dict[str, list[float]]:
    """The phases a worker repeats per block, timed inside this process. "block outside its
    timed region" is everything ``BlockRunner.block`` does besides the timed region: the
    counter snapshots, which first wait for the loop to park (``wait_parked``), and the
    machine's and the threads' CPU readings."""
    times: dict[str, list[float]] = {k: [] for k in (
        "BlockRunner set-up", "gc.collect", "new_loop", "block outside its timed region",
        "_close")}
    for _ in range(repeat):
        t0 = time.perf_counter()
        runner = worker.BlockRunner(cell)
        times["BlockRunner set-up"].append(time.perf_counter() - t0)
        gc.collect()
        gc.freeze()  # as the worker does after its set-up (measure_process)
        t0 = time.perf_counter()
        gc.collect()
        times["gc.collect"].append(time.perf_counter() - t0)
        gc.unfreeze()
        t0 = time.perf_counter()
        loop = runner.new_loop()
        times["new_loop"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        block = runner.block(loop, loops)
        times["block outside its timed region"].append(
            time.perf_counter() - t0 - block["timed_ns"] / 1e9)
        t0 = time.perf_counter()
        worker._close(loop)
        times["_close"].append(time.perf_counter() - t0)
    return times


def worker_processes(cell: object, repeat: int, loops: int) -> dict[str, list[float]]:
    """``python -m impl.runner --worker`` as the parent runs it, at a fixed block size."""
    out: dict[str, list[float]] = {k: [] for k in (
        "worker wall", "start-up (spawn to measure_start)", "quiet-machine wait (0.1 s window)",
        "blocks' timed regions", "blocks' overhead (fresh loop, gc, parking, readings)",
        "end (measure_end to reaped)")}
    env = {**os.environ, "PYTHONPATH": str(ROOT), worker.ROUND_ENV: "0"}
    with tempfile.TemporaryDirectory(prefix="process-cost-") as tmp:
        request = Path(tmp) / "request.json"
        request.write_text(cell.to_json())
        for i in range(repeat):
            result = Path(tmp) / f"p{i}.json"
            t_spawn = time.time()
            t0 = time.perf_counter()
            # as the manager does: the child's start-up counts towards its first quiet window
            env[machine.SPAWN_ENV] = machine.spawn_env()
            subprocess.run([sys.executable, "-m", "impl.runner", "--worker", str(request),
                            str(result), str(i), "300", str(loops)], env=env, check=True,
                           stdin=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
            t_end = time.time()
            res = json.loads(result.read_text())
            timed = sum(b["timed_ns"] for b in res["blocks"]) / 1e9
            quiet = sum(res["quiet_wait_s"])
            measuring = res["measure_end"] - res["measure_start"]
            out["worker wall"].append(wall)
            out["start-up (spawn to measure_start)"].append(res["measure_start"] - t_spawn)
            out["quiet-machine wait (0.1 s window)"].append(quiet)
            out["blocks' timed regions"].append(timed)
            out["blocks' overhead (fresh loop, gc, parking, readings)"].append(
                measuring - timed - quiet)
            out["end (measure_end to reaped)"].append(t_end - res["measure_end"])
    return out


def parent(cell: object, repeat: int, loops: int) -> list[float]:
    """``measure_round`` of one cell minus the wall time of its worker processes."""
    from impl.runner.cell import measure_round

    out = []
    for r in range(repeat):
        t0 = time.perf_counter()
        rec = measure_round(cell, round_index=r, loops=loops)
        wall = time.perf_counter() - t0
        procs = sum(x["measure_end"] - x["measure_start"] for x in rec["results"])
        out.append((wall - procs) / len(rec["results"]))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--design", default="baseline")
    p.add_argument("--scenario", default="burst_throughput")
    p.add_argument("--repeat", type=int, default=15)
    args = p.parse_args(argv)
    cell = _cell(args.design, args.scenario)
    # a block of about 20 ms: long enough to be a real block, short to keep this quick
    probe = worker.BlockRunner(cell)
    loop = probe.new_loop()
    try:
        per_op = probe.block(loop, 4096)["timed_ns"] / 4096
    finally:
        worker._close(loop)
    loops = max(probe.step, int(20e6 / max(per_op, 1.0)) // probe.step * probe.step)

    rows: list[tuple[str, float]] = []
    bare = _spawn_s([sys.executable, "-c", "pass"], args.repeat)
    imports = _spawn_s([sys.executable, "-c",
                        "import impl.runner.worker, impl.runner.manager; "
                        "from impl.designs import registry; from impl.runner import scenarios; "
                        f"registry.get({args.design!r}).load(); "
                        f"scenarios.get({args.scenario!r}).load()"], args.repeat)
    rows.append(("interpreter (python -c pass)", _median_ms(bare)))
    rows.append(("child imports (minus the interpreter)", _median_ms(imports) - _median_ms(bare)))
    for name, samples in in_process(cell, args.repeat, loops).items():
        rows.append((f"in process: {name}", _median_ms(samples)))
    procs = worker_processes(cell, args.repeat, loops)
    whole = _median_ms(procs.pop("worker wall"))
    for name, samples in procs.items():
        rows.append((f"worker: {name}", _median_ms(samples)))
    rows.append(("parent: per process, the worker's start-up included",
                 _median_ms(parent(cell, max(3, args.repeat // 3), loops))))
    blocks = cell.warmups + cell.blocks
    print(f"cell: {args.design} x {args.scenario}, {blocks} blocks per process "
          f"({cell.warmups} warm-up of {probe.warmup_loops(loops)} ops), {loops} ops per "
          f"measured block; medians of {args.repeat} runs")
    print(f"worker process wall (spawn to reaped): {whole:.1f} ms")
    width = max(len(name) for name, _ in rows)
    print(f"{'phase':<{width}} {'ms':>8} {'share':>7}")
    for name, ms in rows:
        print(f"{name:<{width}} {ms:8.1f} {ms / whole:7.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
