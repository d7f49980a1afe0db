"""The interpreter as a factor (issue 26): config, cells, runner, and the free-threaded runs.

The tests that run the free-threaded interpreter need it provisioned
(``bash scripts/provision_free_threaded.sh``); without it they skip and say so, unless
``ELT_REQUIRE_FREE_THREADED=1`` (CI sets it), which turns the skip into a failure.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from impl.contract import INTERPRETER_PARAM
from impl.designs import registry
from impl.params import BadParameterError
from impl.pipeline import cells as cellmod
from impl.pipeline import interpreters as pipe_interp
from impl.pipeline.command import runner_command
from impl.pipeline.config_check import check_config
from impl.runner import interpreter
from impl.runner.request import CellRequest, resolve
from impl.study import ConfigError, Study, expand, matches
from impl.study.hypotheses import for_interpreter
from impl.study.interpreters import PROVISIONED_MARKER, PROVISIONED_PYTHON, parse

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
FT_PYTHON = ROOT / PROVISIONED_PYTHON
REQUIRE_ENV = "ELT_REQUIRE_FREE_THREADED"


def ft_python() -> Path:
    """The provisioned free-threaded python; skip (or fail, under REQUIRE_ENV) without it."""
    if FT_PYTHON.exists():
        return FT_PYTHON
    why = (f"no free-threaded python at {PROVISIONED_PYTHON}: "
           "run `bash scripts/provision_free_threaded.sh` first")
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture
def config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def _study(config: dict) -> tuple[Study, list[cellmod.Cell]]:
    return check_config(config, SCHEMA)


# --- config --------------------------------------------------------------------------------

def test_no_interpreters_section_means_the_pipelines_own_at_every_point():
    (only,) = parse(None)
    assert only.primary and only.executable() is None and only.gil is None
    assert only.params() == {}


@pytest.mark.parametrize("raw, culprit", [
    ({"a": {"python": "default"}, "b/c": {}}, "bad interpreter name 'b/c'"),
    ({"a": {}, "b": {"gil": "off"}}, "interpreters.b.gil; allowed: true, false"),
    ({"a": {}, "b": {"points": "some"}}, "interpreters.b.points; allowed: all, decided, answer"),
    ({"a": {"points": "decided"}}, "interpreters.a is the primary interpreter"),
    ({"a": {}, "b": {"processes": 0}}, "interpreters.b.processes"),
    ({"a": {}, "b": {"scenarios": "round_trip"}}, "interpreters.b.scenarios; allowed: a non"),
    ([], "bad value at interpreters"),
])
def test_bad_interpreters_are_one_line_naming_the_key(raw, culprit):
    with pytest.raises(ConfigError, match="^config: ") as err:
        parse(raw)
    assert culprit in str(err.value) and "\n" not in str(err.value)


def test_the_pipeline_refuses_a_missing_python_or_a_gil_build_declared_without_gil(config):
    cfg = copy.deepcopy(config)
    cfg["interpreters"] = {"a": {}, "b": {"python": "/no/such/python3.13t", "gil": False}}
    with pytest.raises(ConfigError, match=r"interpreters.b.python: '/no/such/python3.13t' is not"):
        _study(cfg)
    cfg["interpreters"]["b"]["python"] = sys.executable  # 3.11: a build with the GIL
    with pytest.raises(ConfigError, match="is not a free-threaded build, declared gil: false"):
        _study(cfg)
    cfg["interpreters"]["b"] = {"python": sys.executable, "processes": 3}
    with pytest.raises(ConfigError, match=r"interpreters.b.processes: 3 is not a multiple"):
        _study(cfg)
    cfg["interpreters"]["b"] = {"python": sys.executable, "scenarios": ["nope"]}
    with pytest.raises(ConfigError, match=r"interpreters.b.scenarios: 'nope' is not a scenario"):
        _study(cfg)
    cfg["interpreters"]["b"] = {"python": sys.executable}
    cfg["profiles"]["full"]["interpreters"] = ["a", "nope"]
    with pytest.raises(ConfigError, match=r"profiles.full.interpreters: 'nope' is not declared"):
        _study(cfg)


# --- cells ---------------------------------------------------------------------------------

def test_other_interpreters_measure_the_decided_or_the_answers_points_with_their_processes(
        config):
    study, cells = _study(config)
    primary = [c for c in cells if c.interpreter is None]
    names = [it.name for it in study.interpreters]
    assert primary and all(INTERPRETER_PARAM not in c.params for c in primary)
    by = {n: [c for c in cells if c.interpreter == n] for n in names[1:]}
    prim_points = {c.point for c in primary}
    for name, its in by.items():
        it = next(i for i in study.interpreters if i.name == name)
        assert its, name
        for c in its:
            assert c.params[INTERPRETER_PARAM] == name and c.gil == it.gil_flag
            assert c.python == it.executable()
            # the same cell as a primary one, but for the interpreter
            base = {k: v for k, v in c.params.items() if k != INTERPRETER_PARAM}
            assert (c.scenario, cellmod.param_str(base)) in prim_points
            assert c.profile["processes"] <= (it.verdict_processes or 10**6) // c.rounds
    ft, ft_gil = by["ft"], by["ft_gil"]
    ft_points = {(c.scenario, c.paramstr) for c in ft}
    gil_points = {(c.scenario, c.paramstr.replace("ft_gil", "ft")) for c in ft_gil}
    assert gil_points < ft_points  # the answer's points within the decided ones
    assert len({c.point for c in ft}) < len(prim_points)  # not every point: the decided ones
    # every hypothesis asked of ft finds both its sides there; the others (budget_sweep,
    # which ft does not measure) find none
    universe = [c.expected() for c in cells]
    it = next(i for i in study.interpreters if i.name == "ft")
    assert it.scenarios and "budget_sweep" not in it.scenarios
    assert {c.scenario for c in ft} == set(it.scenarios)
    for h in study.hypotheses:
        if not it.measures(h.scenario):
            continue
        for spec in expand(for_interpreter(h, "ft"), study, universe):
            for label, params in ((spec.a_label, spec.a_params), (spec.b_label, spec.b_params)):
                found = [u for u in universe if matches(u, label, spec.scenario, params)]
                assert found and all(u["params"][INTERPRETER_PARAM] == "ft" for u in found), (
                    spec.key)


def test_a_hypothesis_as_declared_never_matches_another_interpreters_cells(config):
    study, cells = _study(config)
    universe = [c.expected() for c in cells]
    for h in study.hypotheses:
        for spec in expand(h, study, universe):
            found = [u for u in universe if matches(u, spec.a_label, spec.scenario, spec.a_params)]
            assert found and all(INTERPRETER_PARAM not in u["params"] for u in found)
    # the primary interpreter's name (or None) keeps a hypothesis as declared
    assert for_interpreter(study.hypotheses[0], None) == study.hypotheses[0]


def test_a_thinned_profile_measures_other_interpreters_at_the_answers_points_only(config):
    config["profile"] = "quick"
    study, cells = _study(config)
    listed = config["profiles"]["quick"]["interpreters"]
    assert {c.interpreter for c in cells} == {None, *listed[1:]}
    answer_points = {(w.scenario, cellmod.param_str(w.params)) for w in study.workloads}
    others = [c for c in cells if c.interpreter]
    assert others and len({c.point for c in others}) <= len(answer_points)


def test_the_runner_command_passes_the_interpreter_as_its_own_options(config):
    _, cells = _study(config)
    cell = next(c for c in cells if c.interpreter == "ft")
    cmd = runner_command(cell.spec("h"), "out.json", 10)
    assert f"{INTERPRETER_PARAM}=ft" not in " ".join(cmd)  # not a scenario parameter
    at = cmd.index("--interpreter")
    assert cmd[at + 1] == "ft" and cmd[cmd.index("--gil") + 1] == "off"
    assert cmd[cmd.index("--python") + 1] == PROVISIONED_PYTHON
    primary = next(c for c in cells if c.interpreter is None)
    assert "--interpreter" not in runner_command(primary.spec("h"), "o.json", 10)
    # the cell's spec (what reruns it) names the interpreter
    assert cell.spec("h")["python"] == PROVISIONED_PYTHON and cell.spec("h")["gil"] == "off"


# --- runner --------------------------------------------------------------------------------

def test_the_request_records_the_interpreter_as_a_parameter_and_checks_python():
    req = CellRequest(impl="main", scenario="submit_contention", params={"producers": 1},
                      processes=1, blocks=1, warmups=0, target_block_ms=1, interpreter="ft",
                      python=sys.executable, gil=False)
    cell = resolve(req)
    assert cell.params[INTERPRETER_PARAM] == "ft" and cell.cell_id.endswith(
        "interpreter=ft,producers=1")
    assert cell.python == os.path.abspath(sys.executable) and cell.gil is False
    with pytest.raises(BadParameterError, match="^--python: 'no-such-python' is not"):
        resolve(CellRequest(**{**req.__dict__, "python": "no-such-python"}))
    with pytest.raises(BadParameterError, match="^--interpreter: bad value 'a/b'"):
        resolve(CellRequest(**{**req.__dict__, "interpreter": "a/b"}))


def test_gil_mismatch_says_what_was_declared_and_what_runs():
    assert interpreter.mismatch(None) is None
    assert interpreter.mismatch(interpreter.gil_enabled()) is None
    if not interpreter.gil_disabled_build():  # the project's 3.11
        assert "not a free-threaded build" in interpreter.mismatch(False)
    env = interpreter.child_env({"PYTHONPATH": "x"}, False)
    assert env[interpreter.GIL_ENV] == "0" and env["PYTHONPATH"].startswith(str(ROOT))
    assert interpreter.GIL_ENV not in interpreter.child_env({}, None)


def test_a_design_needing_a_missing_module_says_so():
    spec = registry.get("uvloop")
    why = registry.ImplSpec(**{**spec.__dict__, "requires": ("no_such_module_xyz",)}).unavailable()
    assert why.startswith("no_such_module_xyz is not installed for CPython")
    assert registry.get("main").unavailable() is None


def _run(*args: str, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "impl.runner", "--scenario", "submit_contention",
           "--param", "producers=2", "--processes", "2", "--blocks", "1", "--warmups", "0",
           "--target-block-ms", "5", "--max-foreign-cpu", "1", "--out", str(out), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.slow
def test_a_free_threaded_cell_runs_without_the_gil_and_says_so_per_block(tmp_path):
    import pyarrow.parquet as pq

    from impl.runner.schema import read_metadata, validate_table

    python = ft_python()
    out = tmp_path / "ft.parquet"
    res = _run("--impl", "alternate_three", "--interpreter", "ft", "--python", str(python),
               "--gil", "off", out=out)
    assert res.returncode == 0, res.stderr
    table = pq.read_table(out)
    meta = read_metadata(table.schema)
    assert meta["interpreter"]["gil_disabled_build"] is True
    assert meta["interpreter"]["gil_enabled"] == [False] and meta["not_applicable"] is None
    rows = table.to_pandas()
    gil = rows[rows.metric == "env.gil_enabled"]
    assert len(gil) == 2 and (gil.value == 0).all()  # every block: GIL off
    assert meta["cell_id"] == "alternate_three/submit_contention/interpreter=ft,producers=2"
    # the same binary with the GIL forced on
    res = _run("--impl", "main", "--interpreter", "ft_gil", "--python", str(python),
               "--gil", "on", out=out)
    assert res.returncode == 0, res.stderr
    rows = pq.read_table(out).to_pandas()
    assert (rows[rows.metric == "env.gil_enabled"].value == 1).all()
    # uvloop: not applicable there, not a failure; a valid cell file without rows
    res = _run("--impl", "uvloop", "--interpreter", "ft", "--python", str(python), "--gil", "off",
               out=out)
    assert res.returncode == 0, res.stderr
    table = pq.read_table(out)
    validate_table(table, require_metadata=True)
    meta = read_metadata(table.schema)
    assert table.num_rows == 0 and "uvloop is not installed" in meta["not_applicable"]
    assert meta["quality"]["failures"] == []


@pytest.mark.slow
def test_a_gil_state_other_than_declared_fails_the_cell_with_one_line(tmp_path):
    res = _run("--impl", "main", "--interpreter", "x", "--gil", "off", out=tmp_path / "x.parquet")
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    assert "not a free-threaded build" in last and "declared gil: false" in last
    assert not (tmp_path / "x.parquet").exists()


def test_the_probe_reads_an_interpreters_build():
    found = pipe_interp.probe(sys.executable)
    assert found["version"].startswith("3.") and found["free_threaded"] is False
    with pytest.raises(ConfigError, match="does not run"):
        pipe_interp.probe("/bin/false")


def test_the_provisioning_script_and_the_study_agree_on_where_the_python_goes():
    script = (ROOT / "scripts" / "provision_free_threaded.sh").read_text()
    prefix = str(Path(PROVISIONED_PYTHON).parent.parent)
    assert f'PREFIX=$(realpath -m "${{1:-$ROOT/{prefix}}}")' in script
    assert f"PY=$PREFIX/bin/{Path(PROVISIONED_PYTHON).name}" in script
    assert f"MARKER=$PREFIX/{Path(PROVISIONED_MARKER).name}" in script
    assert str(Path(PROVISIONED_MARKER).parent) == prefix


# --- report --------------------------------------------------------------------------------

def _interpreter_run(root: Path) -> tuple[dict, Path]:
    """The report's synthetic run plus two interpreters on one binary: ``ft`` (GIL off:
    Main 2x faster than AlternateThree per submit, the reverse of the primary run) and
    ``ft_gil`` (GIL on, the answer's cells only); uvloop cannot run under ft."""
    from impl.report.build import build_summary
    from tests import synthetic as syn
    from tests.test_report_summary import answer_config, jitter, latency_blocks, make_run

    cfg = answer_config()
    cfg["implementations"]["uvloop"] = {"design": "uvloop"}
    cfg["interpreters"] = {"a": {}, "ft": {"python": "provision", "gil": False,
                                         "points": "decided"},
                           "ft_gil": {"python": "provision", "gil": True, "points": "answer"}}
    files, expected, failed = make_run(root)

    def cell(name, label, scenario, params, metrics, meta=None, gil=None):
        params = {**params, INTERPRETER_PARAM: name}
        expected.append({"cell_id": syn.cell_id(label, scenario, params), "label": label,
                         "scenario": scenario, "params": params})
        found = {"interpreter": {"python": "provision", "gil": gil,
                                 "version": "3.13.5 experimental free-threading build",
                                 "gil_disabled_build": True, "gil_enabled": [bool(gil)]}}
        files.append(syn.write_cell(root, label, scenario, params, metrics,
                                    meta={**found, **(meta or {})},
                                    design="main" if label == "main_aa" else None))

    for p in (1, 2):
        cell("ft", "main", "submit_contention", {"producers": p},
             {"ns_per_op": jitter(100.0 * p, 8, 2.0)}, gil=False)
        cell("ft", "alternate_three", "submit_contention", {"producers": p},
             {"ns_per_op": jitter(200.0 * p, 8, 2.0)}, gil=False)
    for label, center in (("main", 300.0), ("alternate_three", 250.0)):
        cell("ft_gil", label, "submit_contention", {"producers": 1},
             {"ns_per_op": jitter(center, 8, 2.0)}, gil=True)
    for label, center in (("alternate_three", 10000.0), ("baseline", 10001.0)):
        cell("ft", label, "round_trip", {}, {"latency_ns": latency_blocks(center)}, gil=False)
    cell("ft", "uvloop", "round_trip", {}, {},
         meta={"not_applicable": "uvloop is not installed for CPython 3.13.5 free-threaded"})
    report = root / "report"
    build_summary(None, files, cfg, report, expected, failed)
    return json.loads((report / "SUMMARY.json").read_text()), report


def test_the_report_asks_each_interpreter_its_questions_and_says_what_the_gil_changes(
        tmp_path):
    doc, report = _interpreter_run(tmp_path)
    # the main sections: the primary interpreter's cells only
    assert all(INTERPRETER_PARAM not in c["params"] for c in doc["cells"].values())
    assert doc["interpreter"]["name"] == "a"
    parts = {p["name"]: p for p in doc["interpreters"]}
    assert list(parts) == ["ft", "ft_gil"]
    ft, ft_gil = parts["ft"], parts["ft_gil"]
    h1 = {h["id"]: h["verdict"] for h in doc["hypotheses"]}["H1"]
    ft_h1 = {h["id"]: h["verdict"] for h in ft["hypotheses"]}["H1"]
    assert (h1, ft_h1) == ("VALIDATED", "REJECTED")  # main costs more only with the GIL
    assert {"id": "H1", "verdicts": {"": "VALIDATED", "ft": "REJECTED"}} in doc[
        "changed_verdicts"]
    assert ft_gil["hypotheses"] == [] and not ft_gil["asks_hypotheses"]
    assert ft["answer"][0]["fastest"] == "main" and ft["gil_enabled"] == [False]
    # uvloop: not applicable under ft, not a failure
    assert "uvloop" in ft["not_applicable"] and doc["run"]["n_not_applicable"] == 1
    # GIL on / GIL off in the same binary, at the answer's one-producer cell
    (change,) = doc["gil_changes"]
    rows = {r["label"]: r for r in change["rows"] if r["workload"] == "one producer"}
    assert rows["main"]["ratio"] == pytest.approx(3.0, rel=0.05) and rows["main"]["side"] == 1
    assert rows["alternate_three"]["ratio"] == pytest.approx(1.25, rel=0.05)
    md = (report / "SUMMARY.md").read_text()
    assert "## The answer under the other interpreters" in md
    assert "### What the GIL changes (ft_gil vs ft, the same binary)" in md
    assert "H1: VALIDATED (a), REJECTED (ft)" in md
    assert "uvloop/round_trip" not in md.split("## Failed or missing cells")[1]
    details = (report / "DETAILS.md").read_text()
    assert "## Under ft: CPython 3.13.5 free-threaded, GIL off in every block" in details
    # every value printed from an interpreter's part names its own path in the document
    mine = [e for e in doc["printed"] if e["source"].startswith('["interpreters"')]
    assert mine
    for e in mine:
        cur = doc
        for p in json.loads(e["source"]):
            cur = cur[p]
        if e["kind"] == "quantity":
            from impl.report import fmt

            assert fmt.quantity(cur, "") == e["text"], e


# --- the designs without the GIL -----------------------------------------------------------

#: the correctness suite (docs/designs.md): run again under the free-threaded python, GIL off
DESIGN_SUITE = ("test_correctness.py", "test_lifecycle.py", "test_lifecycle_races.py",
                "test_properties.py", "test_lock_designs.py", "test_mpsc_designs.py",
                "test_counters.py")


def _free_threaded_files() -> list[str]:
    """The suite plus the tests written for races only free-threading shows."""
    extra = sorted(p.name for p in (ROOT / "tests").glob("test_free_threaded_*.py"))
    return [str(Path("tests") / name) for name in (*DESIGN_SUITE, *extra)]


@pytest.mark.slow
def test_the_design_suite_passes_without_the_gil():
    """Every design's correctness, property, lifecycle-race and counter tests under the
    free-threaded python with PYTHON_GIL=0 (after importing every design and cereggii, the
    GIL must still be off: a C extension without free-threading support turns it on)."""
    python = str(ft_python())
    env = {**os.environ, "PYTHON_GIL": "0", "PYTHONPATH": str(ROOT)}
    env.pop("ELT_ENABLE_TEST_DESIGNS", None)
    check = ("import sys, cereggii, hypothesis, pytest\n"
             "from impl.designs import registry\n"
             "for n in registry.names():\n"
             "    spec = registry.get(n)\n"
             "    spec.unavailable() or spec.load()\n"
             "assert not sys._is_gil_enabled(), 'the GIL is on'\n")
    res = subprocess.run([python, "-c", check], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    res = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *_free_threaded_files()], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=900)
    tail = "\n".join(res.stdout.strip().splitlines()[-15:])
    assert res.returncode == 0, tail
    assert " passed" in tail and " failed" not in tail, tail


def test_a_marker_written_for_other_pinned_packages_is_removed(tmp_path):
    """Content, not mtime: the provisioning rule runs again only when the pins changed."""
    req = tmp_path / "req.txt"
    req.write_text("cereggii==1.0.0.post1\n")
    marker = tmp_path / ".provisioned"
    assert pipe_interp.stale_marker(req, marker) is False  # none: nothing to remove
    marker.write_text(f"CPython 3.13.5 free-threaded; {pipe_interp.requirements_hash(req)}\n")
    assert pipe_interp.stale_marker(req, marker) is False and marker.exists()
    req.write_text("cereggii==1.0.1\n")
    assert pipe_interp.stale_marker(req, marker) is True and not marker.exists()
    script = (ROOT / "scripts" / "provision_free_threaded.sh").read_text()
    assert 'sha256sum < "$REQUIREMENTS" | cut -c1-16' in script  # the same hash
