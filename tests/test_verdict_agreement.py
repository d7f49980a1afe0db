"""benchmarks/verdict_agreement.py: agreement, contradictions, the A/A rule, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "verdict_agreement.py"


def _doc(verdict: str, ci: list[float], aa_ci: list[float]) -> dict:
    return {
        "comparisons": [
            {"key": "H1: a vs b", "hypothesis": "H1", "verdict": verdict, "ci": ci,
             "threshold": 0.1, "threshold_eff": 0.1},
            {"key": "A/A x", "hypothesis": "A/A x", "verdict": "NEEDS RETEST", "ci": aa_ci},
        ],
        "calibration": {"latency": {"ci": aa_ci, "confidence": 0.99, "status": "calibrated"}},
    }


def _run(tmp_path: Path, *docs: dict) -> subprocess.CompletedProcess:
    paths = []
    for i, d in enumerate(docs):
        p = tmp_path / f"s{i}.json"
        p.write_text(json.dumps(d))
        paths.append(str(p))
    return subprocess.run([sys.executable, str(SCRIPT), *paths], capture_output=True,
                          text=True, timeout=60)


def test_contradictions_edges_and_the_aa_rule(tmp_path):
    # the same comparison VALIDATED in one run and REJECTED in the other, both intervals
    # ending at the 10 % boundary (1.1): a contradiction at a threshold edge
    out = _run(tmp_path, _doc("VALIDATED", [1.105, 1.5], [0.9, 1.1]),
               _doc("REJECTED", [0.8, 1.095], [1.02, 1.3])).stdout
    assert "same verdict in every run: 0 (0%)" in out
    assert "contradictions: 1" in out and "touches a threshold edge" in out
    assert "contains 1" in out and "EXCLUDES 1 (different)" in out
    assert "exclude 1 ('different') in any run: 1" in out


def test_agreement_without_contradiction(tmp_path):
    out = _run(tmp_path, _doc("VALIDATED", [1.3, 1.5], [0.9, 1.1]),
               _doc("VALIDATED", [1.2, 1.6], [0.95, 1.05])).stdout
    assert "same verdict in every run: 1 (100%)" in out and "contradictions: 0" in out
    assert "decided 1 of 1 (100%)" in out and "within +-10%" in out


def test_a_missing_or_foreign_file_is_one_line_and_exit_2(tmp_path):
    res = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "missing.json")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "missing.json" in res.stderr
    (tmp_path / "x.json").write_text("[1, 2]")
    res = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "x.json")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "not a summary document" in res.stderr
