"""Percentiles from pooled, sorted samples, and the ordering check that fails a cell.

Kept apart from the schema so the CLI path does not import pyarrow.compute
or pandas just to check P50 <= P95 <= P99 <= max.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from impl.contract import PERCENTILE_METHOD


class PercentileOrderError(ValueError):
    """A table or a distribution breaks the contract; the message lists the problems."""


def check_percentiles(values: Sequence[float], metric: str) -> dict[str, float]:
    """P50 <= P95 <= P99 <= max on pooled sorted values (contract's method), else raise."""
    import numpy as np  # the parent has it anyway (pyarrow); the children never get here

    data = np.sort(np.asarray(values, dtype=np.float64))
    if data.size == 0:
        return {}
    p50, p95, p99 = (float(x) for x in np.percentile(data, [50, 95, 99], method=PERCENTILE_METHOD))
    out = {"p50": p50, "p95": p95, "p99": p99, "max": float(data[-1])}
    order = [p50, p95, p99, out["max"]]
    if not all(math.isfinite(v) for v in order) or order != sorted(order):
        raise PercentileOrderError(f"{metric}: percentiles out of order {out}")
    return out
