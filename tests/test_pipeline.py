"""Unit tests of the pipeline's logic (impl/pipeline): no Snakemake run, no timing."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from impl import contract
from impl.contract import cell_id
from impl.pipeline import aggregate as agg
from impl.pipeline import cell_wrapper as cw
from impl.pipeline import cells as cellmod
from impl.pipeline import config_check, hashes
from impl.pipeline.command import runner_command
from impl.pipeline.config_check import check_config
from impl.pipeline.failures import collect_failures
from impl.runner.schema import SCHEMA as CELL_SCHEMA
from impl.study import ConfigError, Study, budget_designs

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"


@pytest.fixture
def config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def _cells(config: dict) -> list[cellmod.Cell]:
    """The cells of a checked config (``check_config`` returns the study and its cells)."""
    return check_config(config, SCHEMA)[1]


# --- config and cell expansion -------------------------------------------------------------

def test_real_config_sizes(config):
    full = _cells(config)
    assert len([c for c in full if c.interpreter is None]) <= 300
    assert len(full) <= 320
    config["profile"] = "quick"
    quick = _cells(config)
    assert len([c for c in quick if c.interpreter is None]) <= 80
    assert len(quick) <= 110
    # the quick profile still covers every implementation and every scenario
    assert {c.label for c in quick} == set(config["implementations"])
    assert {c.scenario for c in quick} == set(config["scenarios"])


def test_every_batch_job_has_its_own_priority_and_covers_each_cell_round_once(config):
    cells = _cells(config)
    batches = cellmod.plan_batches(cells)
    prios = [b.priority for b in batches]
    rounds = {(c.point, r) for c in cells for r in c.round_indices}
    assert len(set(prios)) == len(prios) == len(rounds)
    covered = sorted((c.cell_id, b.round) for b in batches for c in b.cells)
    assert covered == sorted((c.cell_id, r) for c in cells for r in c.round_indices)
    # a batch holds exactly the cells compared at one point: same scenario and params
    assert all(len({c.point for c in b.cells}) == 1 for b in batches)


def test_scenario_rounds_split_each_cell_over_the_same_stretches_of_the_run(config):
    config["profiles"]["full"]["scenario_rounds"] = {"round_trip": 8}
    cells = _cells(config)
    trip = [c for c in cells if c.scenario == "round_trip"]
    assert {c.rounds for c in trip} == {8}
    assert {c.rounds for c in cells if c.scenario != "round_trip"} == {4}
    # every cell keeps its total: 24 = 8 x 3 (verdict), 8 = 8 x 1, ft's 4 = every other round
    by = {(c.label, c.interpreter, c.paramstr): c for c in trip}
    aa = by[("baseline_aa", None, "idle_us=200,placement=same_core")]
    assert (aa.profile["processes"], list(aa.round_indices)) == (3, list(range(8)))
    ft = [c for c in trip if c.interpreter == "ft"]
    assert {c.total_processes for c in ft} <= {4, 16}
    assert any(list(c.round_indices) == [0, 2, 4, 6] for c in ft)
    # round r of an 8-round point runs in the stretch of round r // 2 of a 4-round one
    batches = cellmod.plan_batches(cells)
    order = sorted(batches, key=lambda b: -b.priority)
    stretch = [b.round * 4 // (8 if b.scenario == "round_trip" else 4) for b in order]
    assert stretch == sorted(stretch)
    for b in batches:
        assert all(b.round in c.round_indices for c in b.cells)


def test_scenario_rounds_that_do_not_split_a_count_are_one_line(config):
    config["profiles"]["full"]["scenario_rounds"] = {"round_trip": 5}
    with pytest.raises(ConfigError, match="scenario_rounds.round_trip: 5 rounds do not split"):
        config_check.check_semantics(Study(config))
    config["profiles"]["full"]["scenario_rounds"] = {"round_tripp": 8}
    with pytest.raises(ConfigError, match="'round_tripp' is not a scenario"):
        config_check.check_semantics(Study(config))


def test_controls_and_budget_scenarios(config):
    cells = _cells(config)
    aa = {c.scenario for c in cells if c.label == "baseline_aa"}
    assert aa == {"round_trip", "burst_throughput"}
    sweep = {c.design for c in cells if c.scenario == "budget_sweep"}
    assert sweep == set(budget_designs())


def test_cell_ids_paths_and_specs(config):
    config["profile"] = "quick"
    cells = {c.cell_id: c for c in _cells(config)}
    for cid, cell in cells.items():
        label, scenario, rest = cid.split("/", 2)
        assert (label, scenario) == (cell.label, cell.scenario)
        assert cell.output == f"results/quick/cells/{label}/{scenario}/{rest}.parquet"
        assert cell.round_outputs == [
            f"results/quick/rounds/{label}/{scenario}/{rest}/r{r}.json"
            for r in range(config["profiles"]["quick"]["rounds"])
        ]
        assert cell.round_log(0) == f"logs/quick/rounds/{label}/{scenario}/{rest}/r0.log"
        assert "timeout" not in json.dumps(cell.spec("h"))


def test_rounds_run_in_order_shuffled_inside(config):
    """Priorities: all batches of round r before any of round r+1; seeded shuffles inside."""
    # every point at the profile's rounds (a scenario's own: the scenario_rounds test)
    config["profiles"][config["profile"]].pop("scenario_rounds", None)
    cells = _cells(config)
    rounds = config["profiles"][config["profile"]]["rounds"]
    batches = cellmod.plan_batches(cells, seed=1)
    by_round = [[b for b in batches if b.round == r] for r in range(rounds)]
    assert rounds > 1 and all(by_round)
    for r in range(rounds - 1):
        assert min(b.priority for b in by_round[r]) > max(b.priority for b in by_round[r + 1])
    order = [[(b.scenario, b.paramstr) for b in sorted(rb, key=lambda b: -b.priority)]
             for rb in by_round]
    assert order[0] != order[1]  # batches shuffled anew each round
    inside = [[c.label for c in rb[0].cells] for rb in by_round]
    assert len(set(map(tuple, inside))) > 1 or len(inside[0]) == 1
    again = cellmod.plan_batches(_cells(copy.deepcopy(config)), seed=1)
    assert [(b.priority, [c.cell_id for c in b.cells]) for b in again] == [
        (b.priority, [c.cell_id for c in b.cells]) for b in batches]  # seeded
    # each round runs its share of the profile's processes: verdict cells their own share
    # (another interpreter's cells: its own, impl.study.interpreters, checked elsewhere)
    prof = config["profiles"][config["profile"]]
    cells = [c for c in cells if c.interpreter is None]
    verdict = cellmod.verdict_cell_ids(Study(config), cells)
    assert verdict and len(verdict) < len(cells)
    assert {c.profile["processes"] for c in cells if c.cell_id in verdict} == {
        prof["verdict_processes"] // rounds}
    assert {c.profile["processes"] for c in cells if c.cell_id not in verdict} == {
        prof["processes"] // rounds}


def test_batch_paths_hold_no_comma(config):
    """A cluster job names its target as rule:wildcard=value,... and splits on commas: a
    multi-parameter point must not put one into the batch rule's wildcard."""
    batches = cellmod.plan_batches(_cells(config))
    multi = [b for b in batches if "," in b.paramstr]
    assert multi  # e.g. wakeup's idle_us, mode and placement
    for b in batches:
        assert "," not in b.output and "," not in b.log
    key = (multi[0].scenario, multi[0].paramstr.replace(",", "+"), str(multi[0].round))
    assert cellmod.batch_index(batches)[key] is multi[0]


def test_verdict_cells_are_the_hypotheses_and_aa_cells(config):
    """Processes go where the verdicts are: every cell a hypothesis comparison or the A/A
    control uses, and no other (more processes narrow a verdict; elsewhere they only cost
    time)."""
    cells = _cells(config)
    ids = cellmod.verdict_cell_ids(Study(config), cells)
    hyps = config["hypotheses"]
    h1 = next(h for h in hyps if h["scenario"] == "submit_contention")
    assert any(i.startswith(f"{h1['a']}/submit_contention/") for i in ids)
    aa = config["aa_control"]
    assert any(i.startswith(f"{aa['b']}/") for i in ids)
    # a label that no hypothesis names is descriptive everywhere
    named = {h["a"] for h in hyps} | {b for h in hyps for b in (
        h["b"] if isinstance(h["b"], list) else [h["b"]])} | {aa["a"], aa["b"]}
    others = [c for c in cells if c.label not in named]
    assert others and not any(c.cell_id in ids for c in others)
    # secondary placements are never verdict cells
    assert not any("placement=cross_core" in i for i in ids)


def test_secondary_placement_at_the_answers_points(config, monkeypatch):
    """cross_core beside same_core at the answer's latency points, for every label but the
    A/A controls; a 1-CPU affinity mask skips them with one line (no second core to cross
    to)."""
    from impl.runner import placement

    config["placement"] = {"secondary": ["cross_core"]}
    monkeypatch.setattr(placement, "allowed_cpus", lambda: [0, 1])
    cells = _cells(config)
    cross = [c for c in cells if c.params.get("placement") == "cross_core"]
    answer_rt = [w for w in config.get("answer", []) if w["scenario"] == "round_trip"]
    if answer_rt:
        assert cross and {c.scenario for c in cross} <= {"round_trip", "wakeup", "burst_latency"}
        controls = {k for k, v in config["implementations"].items() if v.get("control_of")}
        assert not {c.label for c in cross} & controls
        for c in cross:  # each beside its primary cell
            twin = {**c.params, "placement": "same_core"}
            assert any(o.label == c.label and o.params == twin for o in cells)
    assert Study(config).placement_skipped() is None
    monkeypatch.setattr(placement, "allowed_cpus", lambda: [3])
    cells = _cells(config)
    assert not [c for c in cells if c.params.get("placement") == "cross_core"]
    line = Study(config).placement_skipped()
    assert line and "\n" not in line and "cross_core" in line and "1 (CPU 3)" in line


def test_cell_id_is_the_runners_one_definition(config):
    assert cell_id("l", "s", {}) == "l/s/default"
    assert cell_id("l", "s", {"b": 2, "a": "x"}) == "l/s/a=x,b=2"
    cell = next(c for c in _cells(config) if c.params)
    assert cell.cell_id == cell_id(cell.label, cell.scenario, cell.params)


def _bad(config, mutate) -> str:
    config = copy.deepcopy(config)
    mutate(config)
    with pytest.raises(ConfigError) as info:
        _cells(config)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_config_errors_name_key_and_allowed(config):
    msg = _bad(config, lambda c: c["implementations"]["main"].update(design="mian"))
    assert "implementations.main.design" in msg and "alternate_three" in msg
    msg = _bad(config, lambda c: c["implementations"]["main"].update(params={"budgte": 1}))
    assert "budgte" in msg and "budget" in msg
    msg = _bad(config, lambda c: c["implementations"]["main"].update(params={"budget": -5}))
    assert "-5" in msg and "budget" in msg
    msg = _bad(config, lambda c: c.update(hypothesis=c.pop("hypotheses")))
    assert "'hypothesis'" in msg and "hypotheses" in msg
    msg = _bad(config, lambda c: c["scenarios"]["wakeup"].update(grid={"mode": ["asleep"]}))
    assert "asleep" in msg and "sleeping" in msg
    msg = _bad(config, lambda c: c["hypotheses"][0].update(b="alternate_3"))
    assert "alternate_3" in msg
    msg = _bad(config, lambda c: c["hypotheses"][0].update(expect="bigger"))
    assert "bigger" in msg and "greater" in msg
    msg = _bad(config, lambda c: c.update(profile="quik"))
    assert "quick" in msg


def test_hypothesis_params_must_be_measured(config):
    config["profile"] = "quick"
    msg = _bad(config, lambda c: c["hypotheses"][7]["params"].update(burst=512))
    assert "512" in msg and "4096" in msg


# --- source hashing ------------------------------------------------------------------------

def test_code_hash_tracks_content_per_design_and_scenario(tmp_path, monkeypatch):
    files = {}
    s1, s2 = "round_trip", "mixed"
    for name in ("impl.a", "impl.b", f"impl.runner.scenarios.{s1}", f"impl.runner.scenarios.{s2}"):
        files[name] = tmp_path / f"{name}.py"
        files[name].write_text(f"# {name}\n")
    monkeypatch.setattr(contract, "module_file", lambda m: files.get(m))
    h_a1, h_b1, h_a2 = (hashes.code_hash(["impl.a"], s1), hashes.code_hash(["impl.b"], s1),
                        hashes.code_hash(["impl.a"], s2))
    assert len({h_a1, h_b1, h_a2}) == 3
    os.utime(files["impl.a"], (0, 0))  # mtime alone changes nothing
    assert hashes.code_hash(["impl.a"], s1) == h_a1
    files["impl.a"].write_text("# edited\n")
    assert hashes.code_hash(["impl.a"], s1) != h_a1
    assert hashes.code_hash(["impl.b"], s1) == h_b1
    files[f"impl.runner.scenarios.{s2}"].write_text("# edited\n")
    assert hashes.code_hash(["impl.b"], s1) == h_b1


def test_module_file_finds_real_sources():
    assert contract.module_file("impl.designs.registry") == ROOT / "impl/designs/registry.py"
    assert contract.module_file("impl.no_such_module") is None


def test_one_source_hash_for_the_runner_and_the_pipeline():
    """The runner's source_hash column and the pipeline's code hash are one algorithm: the
    code hash is the source hash of the design's modules and the scenario's."""
    from impl.designs import registry

    modules = sorted(registry.get("main").modules)
    assert hashes.code_hash(modules, "round_trip") == contract.source_hash(
        [*modules, "impl.runner.scenarios.round_trip"])[:16]


# --- the cell wrapper ----------------------------------------------------------------------

def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_wrapper_ok(tmp_path):
    out, log = tmp_path / "o.parquet", tmp_path / "l.log"
    rec = cw.run_wrapped(_py(f"open({str(out)!r}, 'w').write('x')"), cell_id="a/b/c",
                         log_path=log, out_path=out, timeout_s=30)
    assert rec["status"] == "ok" and rec["returncode"] == 0
    assert cw.read_status(log) == rec


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("import sys; print('boom: bad thing', file=sys.stderr); sys.exit(1)", "crashed", "boom"),
        ("import sys; print('bad --param', file=sys.stderr); sys.exit(2)", "bad_input", "--param"),
        ("import sys; print('watchdog', file=sys.stderr); sys.exit(124)", "timeout", "watchdog"),
        ("import os; os.abort()", "crashed", "SIGABRT"),
        ("import sys; sys.exit(0)", "crashed", "no output"),
    ],
)
def test_wrapper_failures(tmp_path, code, status, reason):
    out, log = tmp_path / "o.parquet", tmp_path / "l.log"
    rec = cw.run_wrapped(_py(code), cell_id="x", log_path=log, out_path=out, timeout_s=30)
    assert rec["status"] == status
    assert reason in rec["reason"]
    assert cw.exit_code(rec) != 0
    assert not out.exists()


def test_wrapper_backstop_kills_group_and_escaped_children(tmp_path):
    pidfile = tmp_path / "pid"
    # a child that ignores SIGTERM and a grandchild in its own session (like the runner's)
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],"
        " start_new_session=True)\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(600)\n"
    )
    t0 = time.monotonic()
    rec = cw.run_wrapped(_py(code), cell_id="h", log_path=tmp_path / "l.log",
                         out_path=tmp_path / "o", timeout_s=1.0, grace_s=0.5)
    assert rec["status"] == "timeout"
    assert time.monotonic() - t0 < 30
    grandchild = int(pidfile.read_text())
    for _ in range(50):
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("grandchild survived the wrapper")


def test_wrapper_forwards_sigint(tmp_path):
    """Ctrl-C on the wrapper reaches the cell's process group: the child dies of the
    forwarded SIGINT (not of the SIGKILL after the grace period), the record says
    interrupted, and it stands for exit 130."""
    import threading

    ready = tmp_path / "ready"
    log = tmp_path / "l.log"
    child = (
        "import signal, time, pathlib; signal.signal(signal.SIGINT, signal.SIG_DFL);"
        " pathlib.Path(" + repr(str(ready)) + ").write_text('1'); time.sleep(600)"
    )
    before = signal.getsignal(signal.SIGINT)
    sent = threading.Event()

    def ctrl_c() -> None:
        # to this process, as a terminal sends it, once the child runs and the wrapper
        # has its handler in place
        for _ in range(600):
            if ready.exists() and signal.getsignal(signal.SIGINT) is not before:
                os.kill(os.getpid(), signal.SIGINT)
                sent.set()
                return
            time.sleep(0.05)

    threading.Thread(target=ctrl_c, daemon=True).start()
    rec = cw.run_wrapped(_py(child), cell_id="s/i/g", log_path=log, out_path=tmp_path / "o",
                         timeout_s=60.0, grace_s=1.0)
    assert sent.is_set(), "the wrapped child never started"
    assert rec["status"] == "crashed" and "SIGINT" in rec["reason"]
    assert rec["returncode"] == -signal.SIGINT
    assert cw.exit_code(rec) == contract.EXIT_INTERRUPTED == 130
    assert cw.read_status(log) == rec
    assert signal.getsignal(signal.SIGINT) is before  # the wrapper's handler is gone again


def test_runner_command():
    spec = {"cell_id": "l/s/p=1", "label": "l", "design": "main", "impl_params": {"budget": 64},
            "scenario": "s", "params": {"p": 1, "flag": True},
            "profile": {"name": "quick", "processes": 2, "blocks": 3, "warmups": 1,
                        "target_block_ms": 5}}
    cmd = runner_command(spec, "out.parquet", 30.0, seed=7)
    text = " ".join(cmd)
    for piece in ("-m impl.runner", "--impl main", "--impl-param budget=64", "--label l",
                  "--param flag=true", "--param p=1", "--profile quick", "--processes 2",
                  "--timeout 30.0", "--seed 7", "--out out.parquet"):
        assert piece in text
    # a profile only the pipeline's config defines is recorded by name, its settings explicit
    spec["profile"]["name"] = "mine"
    text = " ".join(runner_command(spec, "out.parquet", 30.0, seed=7))
    assert "--profile-name mine" in text and "--profile " not in text


# --- failures, summary dependencies, aggregation ------------------------------------------

def test_collect_failures(tmp_path):
    cells = [cellmod.Cell(name, "baseline", {}, "round_trip", {}, 10.0, rounds=2)
             for name in ("a", "b", "c")]
    for cell, rounds in ((cells[0], (0, 1)), (cells[1], (0,))):  # b: round 1 failed
        for r in rounds:
            (tmp_path / cell.round_output(r)).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / cell.round_output(r)).write_text("{}")
    log = tmp_path / cells[1].round_log(1)
    log.parent.mkdir(parents=True)
    log.write_text('boom\nSTATUS {"status": "timeout", "returncode": 124, "seconds": 3, '
                   '"reason": "watchdog fired"}\n')
    failed = {f["label"]: f for f in collect_failures(cells, tmp_path)}
    assert set(failed) == {"b", "c"}
    assert failed["b"]["status"] == "timeout"
    assert failed["b"]["reason"] == "round 1: watchdog fired"
    assert failed["b"]["log"] == cells[1].round_log(1)
    assert failed["c"]["status"] == "missing" and "rounds missing: [0, 1]" in failed["c"]["reason"]


def _table(cell_id: str, n: int = 3) -> pa.Table:
    cols = {name: [] for name in contract.COLUMN_NAMES}
    for i in range(n):
        row = {"label": "l", "design": "baseline", "impl_params": "{}", "scenario": "s",
               "params": "{}", "cell_id": cell_id, "metric": "ns_per_op", "unit": "ns",
               "process": 0, "block": i, "warmup": False, "loops": 10, "value": 1.0 + i,
               "host": "h", "source_hash": "x", "run_id": "r"}
        for k, v in row.items():
            cols[k].append(v)
    meta = {key: "x" for key in contract.METADATA_FIELDS}
    schema = CELL_SCHEMA.with_metadata({contract.METADATA_KEY: json.dumps(meta)})
    return pa.Table.from_pydict(cols, schema=schema)


def test_aggregate(tmp_path):
    import pyarrow.parquet as pq

    files = []
    for cid in ("l/s/a=1", "l/s/a=2"):
        files.append(tmp_path / f"{cid.replace('/', '_')}.parquet")
        pq.write_table(_table(cid), files[-1])
    out = tmp_path / "all.parquet"
    table = agg.aggregate(files, out, ["l/s/a=1", "l/s/a=2"])
    assert table.num_rows == 6 and pq.read_table(out).num_rows == 6
    meta = contract.cells_metadata(pq.read_schema(out).metadata)
    assert set(meta) == {"l/s/a=1", "l/s/a=2"}
    with pytest.raises(agg.AggregateError, match="does not match"):
        agg.aggregate(files, tmp_path / "bad.parquet", ["l/s/a=1", "l/s/a=3"])
    assert not (tmp_path / "bad.parquet").exists()
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    pq.write_table(_table("l/s/a=1").drop_columns(["host"]), files[0])
    with pytest.raises(agg.AggregateError, match="host"):
        agg.aggregate(files, tmp_path / "bad.parquet", ["l/s/a=1", "l/s/a=2"])


def test_aggregate_names_a_corrupt_cell_file_and_keeps_the_others(tmp_path):
    import pyarrow.parquet as pq

    good = tmp_path / "good.parquet"
    pq.write_table(_table("l/s/a=1"), good)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not a parquet file")
    out = tmp_path / "all.parquet"
    with pytest.raises(agg.AggregateError) as info:
        agg.aggregate([good, corrupt], out, ["l/s/a=1", "l/s/a=2"])
    message = str(info.value)
    assert "\n" not in message and str(corrupt) in message and "remeasure" in message
    assert not out.exists()
    assert pq.read_table(good).num_rows == 3  # nothing already measured is lost


# --- batch jobs: measure what is missing, failed or stale; reuse the rest ------------------

def _fake_runner_main(argv: list[str]) -> int:
    """Stands in for impl.runner.cli.main in the forked child: no measuring."""
    get = lambda flag: argv[argv.index(flag) + 1]  # noqa: E731
    label, out = get("--label"), get("--out")
    if os.path.exists("fail-" + label):
        print("boom: " + label, file=sys.stderr)
        return 1
    with open("measured.txt", "a") as fh:
        fh.write(label + "\n")
    loops = 7
    if "--loops-from" in argv:
        loops = json.loads(Path(get("--loops-from")).read_text())["results"][0]["loops"]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    Path(out).write_text(json.dumps({"cell": {"config_hash": get("--config-hash")},
                                     "results": [{"loops": loops}]}))
    return 0


@pytest.fixture
def fake_runner(tmp_path, monkeypatch):
    import functools

    from impl.pipeline import batch as batchmod

    monkeypatch.chdir(tmp_path)  # the plan's paths are relative, as in the pipeline

    def measured() -> list[str]:
        path = tmp_path / "measured.txt"
        labels = path.read_text().split() if path.exists() else []
        path.unlink(missing_ok=True)
        return labels

    return functools.partial(batchmod.run_batch, runner_main=_fake_runner_main), measured


def _plan(tmp_path, labels, r=0, design="baseline"):
    from impl.pipeline.batch import plan_entry

    cells = [cellmod.Cell(lb, design, {}, "round_trip", {"idle_us": 0}, 10.0, rounds=2,
                          layout=cellmod.Layout("p")) for lb in labels]
    return [plan_entry(c, c.spec("h"), r) for c in cells]


def test_batch_reruns_only_failed_and_stale_cells(tmp_path, fake_runner):
    run_batch, measured = fake_runner
    plan = _plan(tmp_path, ["a", "b", "c"])
    out, log = tmp_path / "m0.json", tmp_path / "b0.log"
    (tmp_path / "fail-b").write_text("")
    assert run_batch(plan, round_index=0, timeout_s=20, out=out, log=log) == 1
    assert not out.exists() and measured() == ["a", "c"]  # b failed, the others still ran
    assert "b/round_trip/idle_us=0: crashed" in log.read_text() and "boom: b" in log.read_text()
    (tmp_path / "fail-b").unlink()
    assert run_batch(plan, round_index=0, timeout_s=20, out=out, log=log) == 0
    assert measured() == ["b"]  # only the failed cell again
    manifest = json.loads(out.read_text())
    assert [c["status"] for c in manifest["cells"]] == ["reused", "ok", "reused"]
    # nothing missing or stale: Snakemake forced this batch, so every cell is measured
    assert run_batch(plan, round_index=0, timeout_s=20, out=out, log=log) == 0
    assert measured() == ["a", "b", "c"]
    # one cell's spec changed (e.g. its design's source): only that cell
    plan[2]["spec"]["code_hash"] = "edited"
    assert run_batch(plan, round_index=0, timeout_s=20, out=out, log=log) == 0
    assert measured() == ["c"]
    # a corrupt record is measured again, not passed on
    Path(plan[0]["record"]).write_text("{not json")
    assert run_batch(plan, round_index=0, timeout_s=20, out=out, log=log) == 0
    assert measured() == ["a"]


def test_batch_round_reuses_a_record_only_with_the_current_block_size(tmp_path, fake_runner):
    run_batch, measured = fake_runner
    r0, r1 = _plan(tmp_path, ["a", "b"]), _plan(tmp_path, ["a", "b"], r=1)
    kw = {"timeout_s": 20, "log": tmp_path / "b.log"}
    assert run_batch(r0, round_index=0, out=tmp_path / "m0", **kw) == 0
    assert run_batch(r1, round_index=1, out=tmp_path / "m1", **kw) == 0
    assert measured() == ["a", "b", "a", "b"]
    # round 0 of b recalibrated to another block size: b's round 1 is stale, a's is not
    rec = json.loads(Path(r0[1]["record"]).read_text())
    rec["results"][0]["loops"] = 99
    Path(r0[1]["record"]).write_text(json.dumps(rec))
    assert run_batch(r1, round_index=1, out=tmp_path / "m1", **kw) == 0
    assert measured() == ["b"]
    assert json.loads(Path(r1[1]["record"]).read_text())["results"][0]["loops"] == 99


# --- bad input caught by kind (config files, non-finite numbers, folders, stale locks) ----

def test_config_files_are_read_strictly(tmp_path):
    from impl.study import load_config_file

    cases = {
        "seed: 1\nprofile: full\nseed: 2\n": ("3:1", "duplicate key 'seed'", "first at line 1"),
        "scenarios:\n  a: {grid: [1}\n": ("2:", "YAML syntax error"),
        "": ("is empty", "allowed"),
        "- a\n- b\n": ("top level is a list", "allowed: a mapping"),
        "implementations:\n  main: {design: main}\n  main: {design: baseline}\n": (
            "3:3", "duplicate key 'main'"),
    }
    for text, needles in cases.items():
        path = tmp_path / "c.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_config_file(path)
        msg = str(info.value)
        assert "\n" not in msg and str(path) in msg, msg
        for needle in needles:
            assert needle in msg, (text, msg)
    (tmp_path / "latin1.yaml").write_bytes("seed: 1\n# 5 \u00b5s\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.yaml:2: not UTF-8"):
        load_config_file(tmp_path / "latin1.yaml")
    (tmp_path / "ok.yaml").write_text("seed: 1\nnested: {a: 1, b: 2}\n")
    assert load_config_file(tmp_path / "ok.yaml") == {"seed": 1, "nested": {"a": 1, "b": 2}}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused_everywhere(config, bad):
    from impl.params import BadParameterError, ParamSpec

    for mutate, where in (
        (lambda c: c.update(alpha=bad), "alpha"),
        (lambda c: c["scenarios"]["round_trip"].update(timeout_s=bad), "timeout_s"),
        (lambda c: c["hypotheses"][0].update(threshold=bad), "threshold"),
        (lambda c: c["profiles"]["full"].update(max_foreign_cpu=bad), "max_foreign_cpu"),
        (lambda c: c["implementations"]["alternate_two"].update(
            params={"poll_timeout_ms": bad}), "poll_timeout_ms"),
    ):
        msg = _bad(config, mutate)
        assert where in msg and "finite" in msg, msg
    # the runner's own range for a timeout, not only "a number": 1e5 s would fail every cell
    msg = _bad(config, lambda c: c["scenarios"]["round_trip"].update(timeout_s=100_000))
    assert "scenarios.round_trip" in msg and "86400" in msg
    spec = ParamSpec("x", float, 1.0, minimum=0.0, maximum=10.0)
    with pytest.raises(BadParameterError, match="bad value"):
        spec.coerce(str(bad), "owner")
    with pytest.raises(BadParameterError, match="bad value"):
        ParamSpec("n", int, 1, minimum=0).coerce(str(bad), "owner")


def test_unwritable_output_folder_is_named_in_one_line(tmp_path):
    from impl.pipeline.preflight import PreflightError, check_writable

    (tmp_path / "results").write_text("a file where the folder should be")
    with pytest.raises(PreflightError) as info:
        check_writable([tmp_path / "results" / "full", tmp_path / "logs"])
    assert "results" in str(info.value) and "\n" not in str(info.value)
    check_writable([tmp_path / "logs" / "full", tmp_path / "report"])  # creatable: fine
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(PreflightError, match="dangling"):
        check_writable([tmp_path / "dangling" / "full"])


def test_stale_snakemake_lock_is_removed_only_when_no_snakemake_runs_here(tmp_path):
    from impl.pipeline.preflight import LOCK_DIR, remove_stale_lock

    locks = tmp_path / LOCK_DIR
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("x")
    # a live Snakemake (by its program: a script named snakemake) in this folder keeps it
    fake = tmp_path / "bin" / "snakemake"
    fake.parent.mkdir()
    fake.write_text("import time\ntime.sleep(30)\n")
    live = subprocess.Popen([sys.executable, str(fake)], cwd=tmp_path)
    try:
        time.sleep(0.2)
        assert remove_stale_lock(tmp_path) == []
        assert (locks / "0.input.lock").exists()
    finally:
        live.kill()
        live.wait()
    assert remove_stale_lock(tmp_path) == [locks / "0.input.lock"]
    assert not list(locks.iterdir())


def test_setup_rebuilds_a_venv_made_by_another_python(tmp_path):
    """scripts/setup.sh with a stand-in interpreter (no network, no real venv)."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    fake = tmp_path / "fake311"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = "-c" ]; then echo 3.11; exit 0; fi\n'
        'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; exit 0; fi\n'
        "exit 0\n")
    fake.chmod(0o755)
    old = tmp_path / ".venv" / "bin" / "python"
    old.parent.mkdir(parents=True)
    old.write_text("#!/usr/bin/env bash\necho 3.12\n")
    old.chmod(0o755)
    done = subprocess.run(["bash", "scripts/setup.sh"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHON": str(fake)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "rebuilding .venv" in done.stderr and "3.12" in done.stderr
    assert old.read_text() == fake.read_text()  # the new venv's interpreter


def test_digest_is_at_most_ten_lines_with_verdicts_and_the_path(tmp_path):
    from impl.pipeline.digest import MAX_LINES, digest

    md = tmp_path / "SUMMARY.md"
    md.write_text("x")
    assert digest(md) == [f"eventloop-tournament: summary at {md} (its JSON is unreadable)"]
    hyps = [{"id": f"H{i}", "verdict": "VALIDATED" if i % 2 else "NEEDS RETEST"}
            for i in range(40)]
    md.with_suffix(".json").write_text(json.dumps({
        "run": {"n_ok": 5, "n_planned": 6, "n_failed": 1}, "platform": {"profile": ["quick"]},
        "smoke": True, "hypotheses": hyps, "floors": {"latency": 0.28}}))
    lines = digest(md)
    assert len(lines) == MAX_LINES
    assert str(md) in lines[0] and "5 of 6 cells measured, 1 failed" in lines[0]
    assert "smoke run" in lines[1] and "H0 NEEDS RETEST | H1 VALIDATED" in lines[2]
    assert lines[-1].startswith("  ... (") and "more lines in the summary" in lines[-1]
    # the pick (impl.report.pick) comes before the verdicts
    md.with_suffix(".json").write_text(json.dumps({
        "run": {"n_ok": 6, "n_planned": 6}, "hypotheses": hyps[:3],
        "pick": {"pick": {"label": "alternate_two", "ratio": 1.44},
                 "conserving_pick": {"label": "main", "ratio": 2.17}}}))
    lines = digest(md)
    assert lines[1] == ("  pick: main (at most 2.17x behind the fastest on any workload); "
                        "alternate_two if you may lose queued tasks at shutdown")
    assert lines[2] == "  H0 NEEDS RETEST | H1 VALIDATED | H2 NEEDS RETEST"


def test_progress_line_counts_records_and_estimates_the_time_left(tmp_path):
    from impl.pipeline import progress

    assert progress.line(tmp_path / "missing.json") is None
    path = progress.start(tmp_path / "progress.json", total=10, now=1000.0)
    rounds = tmp_path / "rounds" / "a" / "s" / "p"
    rounds.mkdir(parents=True)
    old = rounds / "r0.json"  # measured by an earlier run
    old.write_text("{}")
    os.utime(old, (500.0, 500.0))
    for i in (1, 2):  # measured in this run, 60 s in
        (rounds / f"r{i}.json").write_text("{}")
        os.utime(rounds / f"r{i}.json", (1030.0, 1030.0))
    text = progress.line(path, now=1060.0)
    # 3 of 10 done; 2 in 60 s of this run -> 7 left take about 210 s
    assert text == "eventloop-tournament: 3 of 10 cell rounds measured (30%); about 4 min left"


def test_read_only_invocations_are_told_from_the_command_line():
    from impl.pipeline.invocation import read_only

    assert read_only(["snakemake", "--report", "report/report.html"])
    assert read_only(["snakemake", "--report=report/report.html", "--config", "profile=quick"])
    assert read_only(["snakemake", "--lint"]) and read_only(["snakemake", "--list-changes",
                                                             "params"])
    # a run and a dry run prepare the study (the dry run must show what a run would redo)
    assert not read_only(["snakemake", "--cores", "10"])
    assert not read_only(["snakemake", "-n", "--config", "profile=quick"])
    # a value that happens to look like an option name is not the option
    assert not read_only(["snakemake", "--config", "note=--report"])


def test_the_run_install_has_what_snakemake_report_imports():
    """`snakemake --report` imports pygments: a dependency of the run, not only of the tests
    (pytest used to pull it in, so an install without the test extras failed there)."""
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    names = {d.split("==")[0].lower() for d in project["project"]["dependencies"]}
    assert {"snakemake", "pygments"} <= names
