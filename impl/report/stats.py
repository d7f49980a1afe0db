"""Per-cell statistics over processes (methodology.md, "Statistics per cell" and "Latency").

The process is the replicate: each process contributes one value per metric
(``ProcessSamples.values``, chosen in ``impl.report.load``), and a cell's
headline number is the median over its processes, with a hierarchical
bootstrap interval (resample processes, then blocks within them; Davison and
Hinkley 1997, section 3.8, "two-stage sampling"). That one number is what every
table, comparison, ranking and plot shows for the cell. Tail percentiles come
from the pooled, sorted per-op values with one declared method, and only where
both the pooled n and the number of processes and blocks support them.
CV and min/max spread of the process values are warnings (pyperf's rule),
never a reason to withhold a verdict.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats as st

from impl.contract import PERCENTILE_METHOD

#: the tail percentiles a latency table shows (the headline median is separate)
PERCENTILES = (95.0, 99.0, 99.9)
#: level of every per-cell interval
CONFIDENCE = 0.95
#: pyperf's spread rule, applied to the process values: a warning beside the number
MAX_CV = 0.10
MAX_SPREAD = 0.50
#: tails need this many processes and blocks besides the pooled-n rule (methodology.md)
MIN_TAIL_PROCESSES = 5
MIN_TAIL_BLOCKS = 20
#: bootstrap resamples of a per-cell interval
N_RESAMPLES = 4000
#: resamples of a tail's process-bootstrap interval (each re-sorts nothing: see tail_intervals)
N_TAIL_RESAMPLES = 1000
#: resamples weighted at once in tail_intervals (memory: TAIL_CHUNK x pooled values)
TAIL_CHUNK = 100


class PercentileOrderError(AssertionError):
    """P95 <= P99 <= P99.9 <= max failed: a bug, never a result to print."""


#: ``ProcessSamples.rounds`` of a process whose pipeline round is not recorded
UNKNOWN_ROUND = -1


@dataclass(frozen=True)
class ProcessSamples:
    """One metric of one cell, by process (built by ``impl.report.load.process_samples``).

    ``values[i]``: process i's value (ns or count per op); ``blocks[i]``: the
    block values that value is the median of (for per-op latency metrics each
    block's median: a process's own value is the median of its pooled values,
    which lies between its smallest and largest block median); ``hosts[i]``:
    where process i ran; ``rounds[i]``: the pipeline round it was measured in
    (the cell's ``env.round`` rows; ``UNKNOWN_ROUND`` when the cell records none,
    and for every process when the samples are built without rounds).
    """

    values: np.ndarray
    blocks: tuple[np.ndarray, ...]
    hosts: tuple[str, ...]
    rounds: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.rounds) != len(self.values):
            if self.rounds:
                raise ValueError(f"{len(self.rounds)} rounds for {len(self.values)} processes")
            object.__setattr__(self, "rounds", (UNKNOWN_ROUND,) * len(self.values))

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def n_blocks(self) -> int:
        return int(sum(len(b) for b in self.blocks))

    @property
    def rounds_known(self) -> bool:
        """Every process has a recorded round (and there is at least one process)."""
        return bool(self.rounds) and all(r != UNKNOWN_ROUND for r in self.rounds)

    def on_host(self, host: str) -> ProcessSamples:
        return self.on_hosts([host])

    def on_hosts(self, hosts) -> ProcessSamples:
        """The processes that ran on one of ``hosts``."""
        wanted = set(hosts)
        return self.subset([i for i, h in enumerate(self.hosts) if h in wanted])

    def subset(self, keep: list[int]) -> ProcessSamples:
        """The processes at indices ``keep``, in that order."""
        return ProcessSamples(self.values[keep], tuple(self.blocks[i] for i in keep),
                              tuple(self.hosts[i] for i in keep),
                              tuple(self.rounds[i] for i in keep))

    @classmethod
    def of(cls, values, host: str = "host", blocks_per_process: int = 1,
           rounds=None) -> ProcessSamples:
        """Process values given directly (each with ``blocks_per_process`` equal blocks);
        ``rounds``: each process's round (default: unknown)."""
        v = np.asarray(values, dtype=float)
        return cls(v, tuple(np.full(blocks_per_process, x) for x in v), (host,) * len(v),
                   tuple(int(r) for r in rounds) if rounds is not None else ())


def min_n_for_percentile(p: float, confidence: float = CONFIDENCE) -> int:
    """Smallest n whose order statistics give a distribution-free interval for percentile p.

    The upper end of the interval is at most the maximum, so n must satisfy
    (p/100)^n <= (1-confidence)/2: 6 for the median, 72 for P95, 368 for P99,
    3,688 for P99.9 (the numbers in methodology.md).
    """
    q = p / 100.0
    return math.ceil(math.log((1 - confidence) / 2) / math.log(q))


def resampled_values(ps: ProcessSamples, rng: np.random.Generator, n_resamples: int
                     ) -> np.ndarray:
    """(n_resamples, n) process values: processes drawn with replacement, then their blocks.

    A drawn process's value is recomputed as the median of its own blocks drawn
    with replacement (stage two of the hierarchical bootstrap).
    """
    n = ps.n
    counts = np.array([len(b) for b in ps.blocks])
    width = int(counts.max())
    pick = rng.integers(0, n, size=(n_resamples, n))
    if width == 1:
        return np.array([b[0] for b in ps.blocks])[pick]
    table = np.full((n, width), np.nan)
    for i, b in enumerate(ps.blocks):
        table[i, : len(b)] = b
    drawn = counts[pick][..., None]  # blocks of each drawn process
    slot = (rng.random((n_resamples, n, width)) * drawn).astype(int)
    vals = table[pick[..., None], slot]
    vals = np.where(np.arange(width)[None, None, :] < drawn, vals, np.nan)
    return np.nanmedian(vals, axis=2)


def resampled_medians(ps: ProcessSamples, rng: np.random.Generator, n_resamples: int
                      ) -> np.ndarray:
    """(n_resamples,) bootstrap medians over processes, stratified by host.

    Each host keeps its number of processes in every resample, so a cell
    measured on two cluster nodes is not re-weighted towards one of them.
    """
    parts = [resampled_values(ps.on_host(h), rng, n_resamples)
             for h in sorted(set(ps.hosts))]
    return np.median(np.concatenate(parts, axis=1), axis=1)


def median_interval(ps: ProcessSamples, seed: int, confidence: float = CONFIDENCE,
                    n_resamples: int = N_RESAMPLES) -> tuple[float, float] | None:
    """Percentile interval of the median over processes (hierarchical bootstrap); None if n < 2."""
    if ps.n < 2:
        return None
    meds = resampled_medians(ps, np.random.default_rng(seed), n_resamples)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(meds, [tail, 1 - tail])
    return float(lo), float(hi)


def spread_warning(values: np.ndarray) -> tuple[float | None, str]:
    """pyperf's rule on the process values: (CV, warning text or "")."""
    x = values[np.isfinite(values)]
    if len(x) < 2:
        return None, ""
    mean = float(np.mean(x))
    if mean == 0:
        return None, ""
    cv = float(np.std(x, ddof=1)) / abs(mean)
    reasons = []
    if cv > MAX_CV:
        reasons.append(f"CV {cv:.0%} > {MAX_CV:.0%}")
    if float(np.min(x)) < mean * (1 - MAX_SPREAD) or float(np.max(x)) > mean * (1 + MAX_SPREAD):
        reasons.append(f"min/max more than {MAX_SPREAD:.0%} from the mean")
    return cv, "; ".join(reasons)


def flagged(cell: dict) -> bool:
    """Whether a cell's number gets the spread mark (‡): pyperf's rule fired although the
    interval stays within MAX_CV of the median. Every number is printed with its interval,
    which already shows an imprecise median; the rule alone fired on most numbers of a
    shared VM (118 of 132 numbers of one study). The mark informs where the interval cannot show the
    spread: a stable median over processes that disagree (two modes, say).
    ``cell``: a CellStats as a dict (SUMMARY.json ``cells.*.metrics.*``)."""
    ci, median = cell.get("median_ci"), cell.get("median")
    if not cell.get("warning") or not ci or not median or median <= 0 or ci[0] <= 0:
        return False
    return ci[1] / median <= 1 + MAX_CV and median / ci[0] <= 1 + MAX_CV


@dataclass
class CellStats:
    """One metric of one cell: the headline over processes, spread, pooled tails."""

    metric: str
    n_processes: int
    n_blocks: int
    #: pooled per-op values (latency metrics) or blocks (block metrics)
    n_values: int
    #: the cell's number: median over processes, with its hierarchical bootstrap interval
    median: float | None
    median_ci: tuple[float, float] | None
    #: over the process values
    mean: float | None
    stdev: float | None
    mad: float | None
    iqr: float | None
    min: float | None
    max: float | None
    cv: float | None
    ops_per_s: float | None
    #: "95", "99", "99.9" -> pooled percentile, or None when n, processes or blocks are too few
    percentiles: dict[str, float | None] = field(default_factory=dict)
    #: "95", ... -> its process-bootstrap interval (tail_intervals), None where the tail is
    percentile_ci: dict[str, list[float] | None] = field(default_factory=dict)
    #: why a tail is missing ("" when every tail is shown)
    tails_note: str = ""
    #: the largest pooled value (the end of the tail)
    value_max: float | None = None
    hosts: list[str] = field(default_factory=list)
    #: spread warning (pyperf's rule), printed beside the number; "" when none
    warning: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["median_ci"] = list(self.median_ci) if self.median_ci else None
        return d


def pct_key(p: float) -> str:
    return f"{p:g}"


def _tails(pooled: np.ndarray, n_processes: int, n_blocks: int
           ) -> tuple[dict[str, float | None], str]:
    pcts: dict[str, float | None] = {}
    short = []
    if n_processes < MIN_TAIL_PROCESSES or n_blocks < MIN_TAIL_BLOCKS:
        short.append(f"tails need at least {MIN_TAIL_PROCESSES} processes and "
                     f"{MIN_TAIL_BLOCKS} blocks ({n_processes} and {n_blocks} here)")
    for p in PERCENTILES:
        ok = not short and len(pooled) >= min_n_for_percentile(p)
        pcts[pct_key(p)] = (float(np.percentile(pooled, p, method=PERCENTILE_METHOD))
                            if ok else None)
    if not short and any(v is None for v in pcts.values()):
        short.append("too few pooled values for some tails")
    return pcts, "; ".join(short)


def tail_intervals(pooled: np.ndarray, process: np.ndarray, pcts: dict[str, float | None],
                   seed: int, n_resamples: int = N_TAIL_RESAMPLES,
                   confidence: float = CONFIDENCE) -> dict[str, list[float] | None]:
    """Process-bootstrap intervals of the shown tails.

    ``pooled``: every value, sorted; ``process``: the process of each value
    (same shape). A resample draws the processes with replacement and pools
    their values, i.e. weights each value by its process's draw count; its
    percentile is the weighted inverted CDF (the first value whose cumulative
    weight reaches p %). The interval is the percentile interval of the
    resampled tails at ``confidence``. Tails that are None stay None.
    """
    out: dict[str, list[float] | None] = {k: None for k in pcts}
    shown = [k for k, v in pcts.items() if v is not None]
    if not shown or len(pooled) == 0:
        return out
    ids, proc = np.unique(process, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=n_resamples)
    qs = np.array([float(k) / 100 for k in shown])
    res = np.empty((n_resamples, len(shown)))
    for start in range(0, n_resamples, TAIL_CHUNK):  # bounded memory: chunk x values
        w = draws[start:start + TAIL_CHUNK][:, proc].astype(float)
        cum = np.cumsum(w, axis=1)
        targets = cum[:, -1:] * qs[None, :]
        idx = np.array([np.searchsorted(row, t) for row, t in zip(cum, targets, strict=True)])
        res[start:start + len(w)] = pooled[np.minimum(idx, len(pooled) - 1)]
    tail = (1 - confidence) / 2
    for j, k in enumerate(shown):
        lo, hi = np.quantile(res[:, j], [tail, 1 - tail])
        out[k] = [float(lo), float(hi)]
    return out


def cell_stats(metric: str, ps: ProcessSamples, pooled: np.ndarray, per_op: bool,
               seed: int = 0, pooled_process: np.ndarray | None = None) -> CellStats:
    """All statistics of one metric of one cell; raises PercentileOrderError on a bug.

    ``ps``: the process values (and their blocks); ``pooled``: every per-op
    value of a latency metric (the tails' source), or the block values.
    Degenerate input (no process, one process, all values equal) gives None
    where a number cannot be computed, never an exception.
    """
    x = ps.values[np.isfinite(ps.values)]
    pooled = np.asarray(pooled, dtype=float)
    if pooled_process is not None:
        pooled_process = np.asarray(pooled_process)
    order = np.argsort(pooled, kind="stable")
    keep = np.isfinite(pooled[order])
    pooled = pooled[order][keep]
    if pooled_process is not None:
        pooled_process = pooled_process[order][keep]
    n = len(x)
    empty = {pct_key(p): None for p in PERCENTILES}
    if n == 0:
        return CellStats(metric, 0, ps.n_blocks, len(pooled), None, None, None, None, None,
                         None, None, None, None, None, empty, "no process values",
                         hosts=sorted(set(ps.hosts)))
    median = float(np.median(x))
    mean = float(np.mean(x))
    stdev = float(np.std(x, ddof=1)) if n > 1 else None
    cv, warning = spread_warning(x)
    pcts, note = _tails(pooled, n, ps.n_blocks)
    value_max = float(pooled[-1]) if len(pooled) else None
    if value_max is not None:
        check_order(pcts, value_max)
    return CellStats(
        metric=metric,
        n_processes=n,
        n_blocks=ps.n_blocks,
        n_values=len(pooled),
        median=median,
        median_ci=median_interval(ps, seed),
        mean=mean,
        stdev=stdev,
        mad=float(st.median_abs_deviation(x)),
        iqr=float(st.iqr(x)),
        min=float(x.min()),
        max=float(x.max()),
        cv=cv,
        ops_per_s=(1e9 / median) if per_op and median > 0 else None,
        percentiles=pcts,
        percentile_ci=(tail_intervals(pooled, pooled_process, pcts, seed)
                       if pooled_process is not None else {k: None for k in pcts}),
        tails_note=note,
        value_max=value_max,
        hosts=sorted(set(ps.hosts)),
        warning=warning,
    )


def check_order(pcts: dict[str, float | None], maximum: float) -> None:
    """P95 <= P99 <= P99.9 <= max over the reported percentiles."""
    chain = [(f"P{k}", v) for k, v in pcts.items() if v is not None] + [("max", maximum)]
    for (na, va), (nb, vb) in zip(chain, chain[1:], strict=False):
        if va > vb:
            raise PercentileOrderError(f"{na}={va} > {nb}={vb}: percentile order violated")
