"""Comparing two studies (impl.report.compare) on synthetic all.parquet files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import synthetic as syn

from impl.report import compare as cs

ROOT = Path(__file__).resolve().parents[1]
RNG_SEED = 11


def _study(root: Path, scale: dict[str, float], host: str = "synthhost",
           commit: str = "abc1234", extra: str | None = None) -> Path:
    """A study of cells ``scale`` names (label -> factor on a 1000 ns base), 8 processes,
    4 blocks each, values with 2 % noise; ``extra``: one more cell only this study has."""
    rng = np.random.default_rng(RNG_SEED + len(str(root)))
    paths = []
    for label, factor in scale.items():
        values = 1000.0 * factor * rng.lognormal(0, 0.02, size=32)
        paths.append(syn.write_cell(root, label, "submit_contention", {"producers": 1},
                                    {"ns_per_op": values}, meta={"git_commit": commit},
                                    host=host))
    if extra:
        paths.append(syn.write_cell(root, extra, "continuous", {},
                                    {"ns_per_op": rng.lognormal(7, 0.02, size=32)},
                                    host=host))
    return syn.write_all(paths, root / "all.parquet")


@pytest.fixture
def two(tmp_path):
    old = _study(tmp_path / "old", {"same": 1.0, "slow": 1.0, "bit": 1.0}, extra="gone")
    new = _study(tmp_path / "new", {"same": 1.0, "slow": 1.5, "bit": 1.04}, extra="fresh")
    return old, new


def test_verdicts_follow_the_interval_and_the_threshold():
    assert cs.verdict(0.95, 1.05, 0.10) == "~"
    assert cs.verdict(1.2, 1.4, 0.10) == "slower"
    assert cs.verdict(0.5, 0.8, 0.10) == "faster"
    assert cs.verdict(1.02, 1.06, 0.10) == "slower, under 10 %"
    assert cs.verdict(1.02, 1.3, 0.10) == "slower, size unclear"


def test_shared_cells_their_ratios_and_the_cells_of_one_study(two, tmp_path):
    old, new = two
    out = tmp_path / "cmp.md"
    assert cs.main([str(old), str(new.parent), "--out", str(out)]) == 0
    text = out.read_text()
    row = {line.split("|")[1].strip(" `"): line for line in text.splitlines()
           if line.startswith("| `")}
    assert row["same/submit_contention/producers=1"].rstrip(" |").endswith("~")
    assert row["slow/submit_contention/producers=1"].rstrip(" |").endswith("| slower")
    assert "1.5" in row["slow/submit_contention/producers=1"]  # new/old of the 1.5x cell
    assert "slower, under 10 %" in row["bit/submit_contention/producers=1"]
    assert "Only in the old study (1)" in text and "`gone/continuous/default`" in text
    assert "Only in the new study (1)" in text and "`fresh/continuous/default`" in text
    assert "warning" not in text  # same machine, Python, profile and commit


def test_a_row_is_computed_per_host_and_unpaired_across_machines(tmp_path):
    old = _study(tmp_path / "old", {"x": 1.0}, host="alpha", commit="aaa")
    new = _study(tmp_path / "new", {"x": 2.0}, host="beta", commit="bbb")
    text = cs.compare_studies(old, new, 0.95, 0.10)
    assert "machine differs: old alpha; new beta" in text
    assert "code version differs: old aaa; new bbb" in text
    assert "no host in common" in text
    assert "| slower |" in text


@pytest.mark.parametrize("args, needle", [
    (["missing-old", "{new}"], "missing-old: no such file or folder"),
    (["{root}", "{new}"], "no single study in this folder; allowed: one of"),
    (["{notparquet}", "{new}"], "not a Parquet file"),
    (["{old}", "{new}", "--confidence", "1.5"], "--confidence: bad value '1.5'"),
    (["{old}", "{new}", "--out", "{root}/nofolder/x.md"], "--out: cannot write"),
])
def test_bad_input_is_one_line_and_exit_2(two, tmp_path, args, needle):
    old, new = two
    bad = tmp_path / "notes.parquet"
    bad.write_text("not parquet")
    argv = [a.format(old=old, new=new, root=tmp_path, notparquet=bad) for a in args]
    done = subprocess.run([sys.executable, "-m", "impl.report.compare", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    line, = done.stderr.strip().splitlines()
    assert needle in line
