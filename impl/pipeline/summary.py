"""Render the summary (full or partial) through impl.report.build_summary.

The pipeline owns *which* file is written: the full summary is
``report/SUMMARY.md`` (the summary rule's output); the onerror hook writes
``report/SUMMARY.partial.md`` and never touches SUMMARY.md, so a partial
summary can never look like an up-to-date output to Snakemake. A successful
full summary removes the stale partial files (``SUMMARY.partial*``) so nobody
reads an old failure list.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PARTIAL_NAME = "SUMMARY.partial.md"
FULL_NAME = "SUMMARY.md"


def _build_summary():
    try:
        from impl.report import build_summary
    except ImportError:
        return None
    return build_summary


def render(
    *,
    all_parquet: str | Path | None,
    cell_files: Iterable[str | Path],
    config: Mapping[str, Any],
    report_dir: str | Path,
    expected_cells: list[dict[str, Any]],
    failed_cells: list[dict[str, Any]],
    partial: bool,
) -> Path:
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    out_name = PARTIAL_NAME if partial else FULL_NAME
    files = [Path(f) for f in cell_files]
    build = _build_summary()
    if build is not None:
        written = build(
            Path(all_parquet) if all_parquet else None,
            files,
            dict(config),
            report_dir,
            expected_cells,
            failed_cells,
            partial=partial,
            out_name=out_name,
        )
    else:
        written = report_dir / out_name
        _atomic_text(written, fallback_markdown(files, config, failed_cells, partial))
    if not partial:  # the partial summary and its side files (plots, JSON) are stale now
        for stale in report_dir.glob(Path(PARTIAL_NAME).stem + "*"):
            stale.unlink(missing_ok=True)
    return Path(written)


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def depends_on(hypothesis: Mapping[str, Any], cell: Mapping[str, Any]) -> bool:
    """Whether a hypothesis compares the given cell (its scenario, a side's label and params)."""
    b_labels = hypothesis["b"] if isinstance(hypothesis["b"], list) else [hypothesis["b"]]
    if cell["scenario"] != hypothesis["scenario"]:
        return False
    params = cell.get("params", {})

    def matches(side_params: Mapping[str, Any]) -> bool:
        wanted = {**hypothesis.get("params", {}), **side_params}
        return all(params.get(k) == v for k, v in wanted.items())

    return (cell["label"] == hypothesis["a"] and matches(hypothesis.get("a_params", {}))) or (
        cell["label"] in b_labels and matches(hypothesis.get("b_params", {}))
    )


def fallback_markdown(
    files: list[Path], config: Mapping[str, Any], failed: list[dict[str, Any]], partial: bool
) -> str:
    """A plain table of cell medians; impl.report.build_summary replaces it once importable."""
    import pandas as pd

    title = "# eventloop-tournament summary" + (" (PARTIAL: some cells failed)" if partial else "")
    note = "_Fallback rendering: impl.report is not importable; no verdicts computed._"
    lines = [title, "", note, ""]
    if failed:
        lines += ["## Failed cells", "", "| cell | status | reason |", "|---|---|---|"]
        lines += [f"| {f['cell_id']} | {f['status']} | {f['reason']} |" for f in failed]
        lines.append("")
    lines += ["## Hypotheses", "", "| id | title | verdict |", "|---|---|---|"]
    for hyp in config.get("hypotheses", []):
        bad = [f["cell_id"] for f in failed if depends_on(hyp, f)]
        verdict = f"NEEDS RETEST ({', '.join(bad)} failed)" if bad else "NEEDS RETEST (no stats)"
        lines.append(f"| {hyp['id']} | {hyp['title']} | {verdict} |")
    lines.append("")
    if files:
        df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        df = df[~df["warmup"] & ~df["metric"].str.startswith("counter.")]
        med = df.groupby(["cell_id", "metric"])["value"].median().reset_index()
        lines += ["## Cell medians", "", "| cell | metric | median |", "|---|---|---|"]
        lines += [f"| {r.cell_id} | {r.metric} | {r.value:.1f} |" for r in med.itertuples()]
    return "\n".join(lines) + "\n"
