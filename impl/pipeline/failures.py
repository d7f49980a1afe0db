"""What went wrong in a run, for the onerror hook's partial summary.

A failed cell leaves no output but keeps its log with the wrapper's status
record; a cell that never ran (Ctrl-C, the run stopped) has neither. Both
are listed, so the partial summary can say which hypotheses need a retest
and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from impl.pipeline.cell_wrapper import read_status
from impl.pipeline.cells import Cell


def collect_failures(cells: Iterable[Cell], root: str | Path = ".") -> list[dict[str, Any]]:
    """One ``failed_cells`` entry (contracts section 5) per cell without an output file."""
    root = Path(root)
    failed = []
    for cell in cells:
        if (root / cell.output).is_file():
            continue
        record = read_status(root / cell.log) or {}
        status = record.get("status")
        if status in (None, "ok"):
            status, reason = "missing", (
                "not run (the run stopped before this cell)" if not record
                else "reported ok but its output file is missing"
            )
        else:
            reason = record.get("reason", "")
        failed.append(
            {
                **cell.expected(),
                "status": status,
                "returncode": record.get("returncode"),
                "seconds": record.get("seconds"),
                "reason": reason,
                "log": cell.log,
            }
        )
    return failed


def existing_outputs(cells: Iterable[Cell], root: str | Path = ".") -> list[Path]:
    root = Path(root)
    return [root / c.output for c in cells if (root / c.output).is_file()]
