"""What went wrong in a run, for the onerror hook's partial summary.

A cell's failed round leaves no record but keeps its log with the wrapper's
status record; a round that never ran (Ctrl-C, the run stopped, its batch
never started) has neither. A cell
with any such round is listed, with the first failed round's status and
reason, so the partial summary can say which hypotheses need a retest and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from impl.pipeline.cell_wrapper import read_status
from impl.pipeline.cells import Cell


def _missing_rounds(cell: Cell, root: Path) -> list[int]:
    return [r for r in cell.round_indices if not (root / cell.round_output(r)).is_file()]


def collect_failures(cells: Iterable[Cell], root: str | Path = ".") -> list[dict[str, Any]]:
    """One ``failed_cells`` entry (contracts section 5) per cell with a round missing."""
    root = Path(root)
    failed = []
    for cell in cells:
        missing = _missing_rounds(cell, root)
        if not missing:
            continue
        records = [(r, read_status(root / cell.round_log(r)) or {}) for r in missing]
        bad = [(r, rec) for r, rec in records if rec.get("status") not in (None, "ok")]
        r, record = bad[0] if bad else records[0]
        status = record.get("status")
        if status in (None, "ok"):
            status, reason = "missing", (
                "not run (the run stopped before this cell)" if not record
                else "reported ok but its output file is missing"
            )
        else:
            reason = record.get("reason", "")
        rounds = f"round {r}" + (f" (rounds missing: {missing})" if len(missing) > 1 else "")
        failed.append(
            {
                **cell.expected(),
                "status": status,
                "returncode": record.get("returncode"),
                "seconds": record.get("seconds"),
                "reason": f"{rounds}: {reason}" if len(cell.round_indices) > 1 else reason,
                "log": cell.round_log(r),
            }
        )
    return failed


def complete_cells(cells: Iterable[Cell], root: str | Path = ".") -> list[Cell]:
    """The cells whose every round was measured."""
    root = Path(root)
    return [c for c in cells if not _missing_rounds(c, root)]
