"""The tree shows the architecture: each layer imports only from the layers below it, no
module imports itself back through others, only impl.study opens config.yaml, and parsing
the Snakefile pulls in none of the report's heavy libraries."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the layers, lowest first: a module may import its own layer and the ones before it
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("designs", ("impl.designs", "impl.params")),
    ("contract", ("impl.contract",)),
    ("runner", ("impl.runner",)),
    ("study", ("impl.study",)),
    ("report", ("impl.report",)),
    ("pipeline", ("impl.pipeline",)),
)
#: entry points compose the layers: ``python -m impl.runner`` hands the runner the study's
#: profiles, so the runner's own modules never read the config
ENTRY_POINTS = {"impl.runner.__main__"}
#: what the Snakefile's parse must not import (the summary's libraries, seconds to load)
HEAVY = ("numpy", "scipy", "pandas", "matplotlib", "pyarrow")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / "impl").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every impl module ``name`` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                   for stmt in block.body for n in ast.walk(stmt)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue  # annotations only: never imported at run time
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if sub in known else base)
    return {m for m in out if m in known and m != name}


def _layer(module: str) -> int | None:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def test_every_module_belongs_to_a_layer():
    loose = [m for m in _modules() if m != "impl" and _layer(m) is None]
    assert not loose, f"modules outside the layers {[n for n, _ in LAYERS]}: {loose}"


def test_no_module_imports_from_a_layer_above_it():
    mods = _modules()
    bad = []
    for name, path in mods.items():
        mine = _layer(name)
        if mine is None or name in ENTRY_POINTS:
            continue
        for dep in _imports(name, path, set(mods)):
            theirs = _layer(dep)
            if theirs is not None and theirs > mine:
                bad.append(f"{name} ({LAYERS[mine][0]}) imports {dep} ({LAYERS[theirs][0]})")
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    mods = _modules()
    graph = {n: _imports(n, p, set(mods)) for n, p in mods.items()}
    # a package's __init__ and its submodules are one node each; any cycle is reported
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_only_the_study_opens_the_config_file():
    """config.yaml is read in one module (impl/study/yaml_file.py); everything else asks
    impl.study."""
    # the file's name in a path, or a YAML read of anything but the schema and the Go data
    pattern = re.compile(r"[\"']config\.yaml[\"']|CONFIG_FILE\s*=")
    readers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "impl").rglob("*.py")
                     if pattern.search(p.read_text()))
    assert readers == ["impl/study/yaml_file.py"]


def test_the_runner_entry_point_is_the_only_exception():
    for name in ENTRY_POINTS:
        assert importlib.util.find_spec(name) is not None


#: run Snakemake with every import statement of our code (impl.*, the Snakefile and its
#: rules) checked: Snakemake's own plugins may load pandas (the SLURM executor plugin does),
#: so "is pandas in sys.modules" would say nothing about us
_AUDIT = """
import atexit, builtins, runpy, sys
HEAVY = set(sys.argv[1].split(","))
ours = []
real = builtins.__import__
def audited(name, globals=None, locals=None, fromlist=(), level=0):
    top = name.split(".")[0]
    if top in HEAVY and level == 0:
        caller = sys._getframe(1)
        mod = caller.f_globals.get("__name__", "")
        where = caller.f_code.co_filename
        if mod.startswith("impl") or where.endswith(("Snakefile", ".smk")):
            ours.append(f"{name} imported by {mod or where}")
    return real(name, globals, locals, fromlist, level)
builtins.__import__ = audited
atexit.register(lambda: print("OUR-HEAVY-IMPORTS:", ";".join(ours), file=sys.stderr))
sys.argv = ["snakemake", *sys.argv[2:]]
runpy.run_module("snakemake", run_name="__main__")
"""


@pytest.mark.slow
def test_parsing_the_snakefile_imports_no_heavy_library(tmp_path):
    """``snakemake -n`` (the Snakefile parsed, the config checked, the DAG built): none of
    our code imports numpy, scipy, pandas, matplotlib or pyarrow. They are the summary's;
    a dry run or a typo in the config must answer in a second."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _AUDIT, ",".join(HEAVY), "-n", "--cores", "1",
         "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
         "--config", "profile=quick"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(x for x in result.stderr.splitlines() if x.startswith("OUR-HEAVY-IMPORTS:"))
    assert line == "OUR-HEAVY-IMPORTS: ", line
    assert "measure" in result.stdout  # the dry run planned the study's jobs


def test_the_import_audit_can_fail(tmp_path):
    """The audit above sees an import of a heavy library from our code."""
    probe = tmp_path / "impl_probe.py"
    probe.write_text("import numpy\n")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{tmp_path}"}
    code = _AUDIT.replace('runpy.run_module("snakemake", run_name="__main__")',
                          'sys.modules.pop("numpy", None); import impl_probe')
    result = subprocess.run([sys.executable, "-c", code, "numpy"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert "OUR-HEAVY-IMPORTS: numpy imported by impl_probe" in result.stderr
