"""Per-cell statistics, following methodology.md "Statistics per cell" and "Latency".

Percentiles come once from the pooled, sorted samples with one declared
method; tail percentiles the sample cannot support are suppressed instead of
printed; stability is judged on block-level samples (pyperf's rule).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats as st

from impl.contract import PERCENTILE_METHOD

#: the tail percentiles a latency table shows (P50 is the median)
PERCENTILES = (50.0, 95.0, 99.0, 99.9)
CONFIDENCE = 0.95
#: pyperf's instability rule
MAX_CV = 0.10
MAX_SPREAD = 0.50


class PercentileOrderError(AssertionError):
    """P50 <= P95 <= P99 <= P99.9 <= max failed: a bug, never a result to print."""


def min_n_for_percentile(p: float, confidence: float = CONFIDENCE) -> int:
    """Smallest n whose order statistics give a distribution-free interval for percentile p.

    The upper end of the interval is at most the maximum, so n must satisfy
    (p/100)^n <= (1-confidence)/2: 6 for the median, 72 for P95, 368 for P99,
    3,688 for P99.9 (the numbers in methodology.md).
    """
    q = p / 100.0
    return math.ceil(math.log((1 - confidence) / 2) / math.log(q))


def quantile_ci(sorted_x: np.ndarray, p: float, confidence: float = CONFIDENCE):
    """Distribution-free interval for percentile p from order statistics (binomial).

    Returns (low, high) or None when n is below ``min_n_for_percentile``.
    The interval [x_(l), x_(u)] (1-based) covers the percentile with
    probability P(l <= B < u), B ~ Binomial(n, p/100); l and u are chosen so
    that each tail holds at most (1-confidence)/2.
    """
    n = len(sorted_x)
    if n == 0 or n < min_n_for_percentile(p, confidence):
        return None
    q = p / 100.0
    tail = (1 - confidence) / 2
    k = np.arange(n + 1)
    # l = largest l with P(B <= l-1) <= tail; u = smallest u with P(B >= u) <= tail
    l_ = int(np.sum(st.binom.cdf(k, n, q) <= tail))
    u = 1 + int(np.sum(st.binom.sf(k[:n], n, q) > tail))
    if l_ < 1 or u > n:
        return None
    return float(sorted_x[l_ - 1]), float(sorted_x[u - 1])


@dataclass
class CellStats:
    metric: str
    n: int
    median: float | None
    median_ci: tuple[float, float] | None
    mean: float | None
    stdev: float | None
    mad: float | None
    iqr: float | None
    min: float | None
    max: float | None
    cv: float | None
    ops_per_s: float | None
    #: "50", "95", "99", "99.9" -> value, or None when n is too small
    percentiles: dict[str, float | None] = field(default_factory=dict)
    #: block-level stability (pyperf): samples, cv, and why the cell is unstable
    n_blocks: int = 0
    block_cv: float | None = None
    unstable: bool = False
    unstable_reason: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["median_ci"] = list(self.median_ci) if self.median_ci else None
        return d


def pct_key(p: float) -> str:
    return f"{p:g}"


def stability(block_values: np.ndarray) -> tuple[float | None, bool, str]:
    """pyperf's rule on block-level samples: CV > 10%, or min/max > 50% from the mean."""
    x = block_values[np.isfinite(block_values)]
    if len(x) < 2:
        return None, False, ""
    mean = float(np.mean(x))
    if mean == 0:
        return None, False, ""
    cv = float(np.std(x, ddof=1)) / abs(mean)
    reasons = []
    if cv > MAX_CV:
        reasons.append(f"CV {cv:.1%} > {MAX_CV:.0%}")
    if float(np.min(x)) < mean * (1 - MAX_SPREAD) or float(np.max(x)) > mean * (1 + MAX_SPREAD):
        reasons.append(f"min/max more than {MAX_SPREAD:.0%} from the mean")
    return cv, bool(reasons), "; ".join(reasons)


def cell_stats(metric: str, values: np.ndarray, block_values: np.ndarray,
               per_op: bool) -> CellStats:
    """All per-cell statistics of one metric; raises PercentileOrderError on a bug."""
    x = np.sort(np.asarray(values, dtype=float))
    x = x[np.isfinite(x)]
    n = len(x)
    b_cv, unstable, why = stability(np.asarray(block_values, dtype=float))
    if n == 0:
        return CellStats(metric, 0, None, None, None, None, None, None, None, None, None, None,
                         {pct_key(p): None for p in PERCENTILES}, len(block_values), b_cv,
                         unstable, why)
    median = float(np.median(x))
    mean = float(np.mean(x))
    stdev = float(np.std(x, ddof=1)) if n > 1 else None
    pcts: dict[str, float | None] = {}
    for p in PERCENTILES:
        ok = n >= min_n_for_percentile(p)
        pcts[pct_key(p)] = float(np.percentile(x, p, method=PERCENTILE_METHOD)) if ok else None
    check_order(pcts, float(x[-1]))
    return CellStats(
        metric=metric,
        n=n,
        median=median,
        median_ci=quantile_ci(x, 50.0),
        mean=mean,
        stdev=stdev,
        mad=float(st.median_abs_deviation(x)),
        iqr=float(st.iqr(x)),
        min=float(x[0]),
        max=float(x[-1]),
        cv=(stdev / abs(mean)) if stdev is not None and mean != 0 else None,
        ops_per_s=(1e9 / median) if per_op and median > 0 else None,
        percentiles=pcts,
        n_blocks=len(block_values),
        block_cv=b_cv,
        unstable=unstable,
        unstable_reason=why,
    )


def check_order(pcts: dict[str, float | None], maximum: float) -> None:
    """P50 <= P95 <= P99 <= P99.9 <= max over the reported percentiles."""
    chain = [(f"P{k}", v) for k, v in pcts.items() if v is not None] + [("max", maximum)]
    for (na, va), (nb, vb) in zip(chain, chain[1:], strict=False):
        if va > vb:
            raise PercentileOrderError(f"{na}={va} > {nb}={vb}: percentile order violated")
