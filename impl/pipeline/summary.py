"""Render the summary (full or partial) through impl.report.build_summary.

The pipeline owns *which* file is written: the full summary is
``report/SUMMARY.md`` (the summary rule's output); the onerror hook writes
``report/SUMMARY.partial.md`` and never touches SUMMARY.md, so a partial
summary can never look like an up-to-date output to Snakemake. A successful
full summary removes the stale partial files (``SUMMARY.partial*``) so nobody
reads an old failure list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from impl.contract import PLOTS_DIR, details_name
from impl.pipeline.cells import SUMMARY_NAME
from impl.report import build_summary
from impl.study import Study

PARTIAL_NAME = "SUMMARY.partial.md"
FULL_NAME = SUMMARY_NAME


def render(
    *,
    all_parquet: str | Path | None,
    cell_files: Iterable[str | Path],
    config: Study | Mapping[str, Any],
    report_dir: str | Path,
    expected_cells: list[dict[str, Any]],
    failed_cells: list[dict[str, Any]],
    partial: bool,
    mechanism_files: Iterable[str | Path] = (),
) -> Path:
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    written = build_summary(
        Path(all_parquet) if all_parquet else None,
        [Path(f) for f in cell_files],
        config if isinstance(config, Study) else Study(config),
        report_dir,
        expected_cells,
        failed_cells,
        partial=partial,
        out_name=PARTIAL_NAME if partial else FULL_NAME,
        mechanism_files=[Path(f) for f in mechanism_files],
    )
    if not partial:  # the partial summary and its side files (plots, JSON) are stale now
        stem = Path(PARTIAL_NAME).stem
        for folder in (report_dir, report_dir / PLOTS_DIR):
            for prefix in (stem, details_name(stem)):
                for stale in folder.glob(prefix + "*"):
                    stale.unlink(missing_ok=True)
    return Path(written)


def render_partial(
    cells: list[Any], config: Study | Mapping[str, Any], report_dir: str | Path,
    root: str | Path = ".",
) -> tuple[Path, list[dict[str, Any]]]:
    """The onerror hook's summary: complete cells assembled from their rounds, the rest failed.

    Returns the partial summary's path and the failed cells. A cell whose
    round records cannot be assembled (a corrupt file) is listed as failed too.
    """
    import tempfile

    from impl.pipeline.aggregate import AggregateError, cell_table
    from impl.pipeline.failures import collect_failures, complete_cells
    from impl.runner.parquet_io import write_table

    root = Path(root)
    failed = collect_failures(cells, root)
    with tempfile.TemporaryDirectory(prefix="elt-partial-") as tmp:
        files = []
        for i, cell in enumerate(complete_cells(cells, root)):
            try:
                table = cell_table([root / p for p in cell.round_outputs])
            except AggregateError as exc:
                failed.append({**cell.expected(), "status": "crashed", "returncode": None,
                               "seconds": None, "reason": str(exc), "log": ""})
                continue
            files.append(write_table(table, Path(tmp) / f"{i}.parquet"))
        path = render(all_parquet=None, cell_files=files, config=config, report_dir=report_dir,
                      expected_cells=[c.expected() for c in cells], failed_cells=failed,
                      partial=True)
    return path, failed
