"""The runner: one benchmark cell per call -> one Parquet file (docs/contracts.md 2-3).

``run_cell``/``write_cell`` are imported lazily so the measuring children,
which import this package too, never pay for pyarrow or pandas. Errors:
impl.params.BadParameterError (bad input, nothing run), CellFailedError
(verification failure or crash), CellTimeoutError (watchdog).
"""

from __future__ import annotations

from typing import Any

from impl.runner.request import CellRequest

__all__ = ["CellRequest", "MeasuredCell", "run_cell", "write_cell", "CellFailedError",
           "CellTimeoutError"]


def __getattr__(name: str) -> Any:
    if name in ("run_cell", "write_cell", "measure_table", "MeasuredCell"):
        from impl.runner import cell

        return getattr(cell, name)
    if name == "CellFailedError":
        from impl.runner.manager import CellFailedError

        return CellFailedError
    if name == "CellTimeoutError":
        from impl.runner.watchdog import CellTimeoutError

        return CellTimeoutError
    raise AttributeError(f"module 'impl.runner' has no attribute {name!r}")
