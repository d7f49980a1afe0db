"""Comparing two cells: ratio of medians over processes, paired within hosts.

methodology.md, "Comparing two implementations": the effect is the ratio of
the cells' medians over processes, with a hierarchical bootstrap interval
(processes, then blocks within them; ``impl.report.stats``) at a
simultaneous level across the report (1 - alpha/m for m comparisons, the
Bonferroni interval: it cannot disagree with the correction because it *is*
the correction). Processes are only compared with processes of the same host
(issue 9, item 9): per common host the log ratio of medians, combined
with weights n_a*n_b/(n_a+n_b) (the inverse variance of a difference of two
means when both sides spread alike); on one host this is exactly the ratio of
the cells' medians. Mann-Whitney U on the process values is information
shown benchstat-style ("~" when not significant), never a gate.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from scipy import stats as st

from impl.report.stats import ProcessSamples, resampled_medians

#: bootstrap resamples at least; more when the interval's tails are far out (see resamples_for)
N_RESAMPLES = 4000
#: resamples expected beyond each end of an interval: keeps a 1 - alpha/m percentile stable
TAIL_DRAWS = 20
DEFAULT_SEED = 20260117


class PairingError(ValueError):
    """The two cells share no host: their processes cannot be paired."""


@dataclass
class Effect:
    """a vs b on one metric: ``ratio`` = median(a)/median(b) within hosts, with ``ci``."""

    n_a: int  # processes of a on the paired hosts
    n_b: int
    median_a: float
    median_b: float
    ratio: float
    ci: tuple[float, float]
    confidence: float
    p: float  # two-sided Mann-Whitney U on the process values (information only)
    u: float
    hosts: tuple[str, ...]
    n_resamples: int


def seed_for(key: str, base: int = DEFAULT_SEED) -> int:
    """Deterministic per-comparison seed: results do not depend on comparison order."""
    return (base * 1_000_003 + zlib.crc32(key.encode())) % (2**32)


def resamples_for(confidence: float) -> int:
    """Enough resamples that each tail of the interval holds ``TAIL_DRAWS`` of them."""
    tail = (1 - confidence) / 2
    return max(N_RESAMPLES, math.ceil(TAIL_DRAWS / tail))


def common_hosts(a: ProcessSamples, b: ProcessSamples) -> list[str]:
    return sorted(set(a.hosts) & set(b.hosts))


def _weights(a: ProcessSamples, b: ProcessSamples, hosts: list[str]) -> np.ndarray:
    na = np.array([a.hosts.count(h) for h in hosts], dtype=float)
    nb = np.array([b.hosts.count(h) for h in hosts], dtype=float)
    w = na * nb / (na + nb)
    return w / w.sum()


def compare(a: ProcessSamples, b: ProcessSamples, key: str, confidence: float,
            base_seed: int = DEFAULT_SEED, n_resamples: int | None = None) -> Effect:
    """Ratio of medians a/b within hosts, its interval at ``confidence``, and Mann-Whitney U.

    Both sides need positive process values and at least one process on a
    common host; raises PairingError when they share no host, ValueError on
    an empty side or a value that is not positive. ``median_a``/``median_b``
    are the cells' medians over all their processes (the number every table
    shows).
    """
    if a.n == 0 or b.n == 0:
        raise ValueError("compare needs processes on both sides")
    if np.any(a.values <= 0) or np.any(b.values <= 0):
        raise ValueError("process values not all positive: no ratio of medians")
    hosts = common_hosts(a, b)
    if not hosts:
        raise PairingError(f"no common host ({', '.join(sorted(set(a.hosts)))} vs "
                           f"{', '.join(sorted(set(b.hosts)))})")
    pa = [a.on_host(h) for h in hosts]
    pb = [b.on_host(h) for h in hosts]
    w = _weights(a, b, hosts)
    logs = np.array([math.log(np.median(x.values) / np.median(y.values))
                     for x, y in zip(pa, pb, strict=True)])
    ratio = float(math.exp(float(w @ logs)))
    n_resamples = n_resamples or resamples_for(confidence)
    rng = np.random.default_rng(seed_for(key, base_seed))
    boot = np.zeros(n_resamples)
    for wi, x, y in zip(w, pa, pb, strict=True):
        boot += wi * (np.log(resampled_medians(x, rng, n_resamples))
                      - np.log(resampled_medians(y, rng, n_resamples)))
    tail = (1 - confidence) / 2
    lo, hi = np.exp(np.quantile(boot, [tail, 1 - tail]))
    va = np.concatenate([x.values for x in pa])
    vb = np.concatenate([y.values for y in pb])
    if np.all(va == va[0]) and np.all(vb == vb[0]) and va[0] == vb[0]:
        p, u = 1.0, float(len(va) * len(vb) / 2)  # identical constants: no evidence either way
    else:
        res = st.mannwhitneyu(va, vb, alternative="two-sided")
        p, u = float(res.pvalue), float(res.statistic)
    return Effect(len(va), len(vb), float(np.median(a.values)), float(np.median(b.values)),
                  ratio, (float(min(lo, ratio)), float(max(hi, ratio))), confidence, p, u,
                  tuple(hosts), n_resamples)


def pair_key(cell_a: str, cell_b: str) -> str:
    """The seed key of a descriptive comparison, the same in either order."""
    lo, hi = sorted((cell_a, cell_b))
    return f"{lo} / {hi}"


def compare_cells(samples, cell_a: str, cell_b: str, metric: str, confidence: float,
                  base_seed: int = DEFAULT_SEED) -> Effect:
    """``compare`` of two cells by id for the descriptive tables (the answer, the pick, the
    Go table): computed once in a fixed order and inverted when asked the other way round,
    so a/b and b/a print exactly reciprocal numbers wherever they appear.
    ``samples(cell_id, metric) -> ProcessSamples``; raises like ``compare``."""
    lo, hi = sorted((cell_a, cell_b))
    e = compare(samples(lo, metric), samples(hi, metric), pair_key(lo, hi), confidence,
                base_seed)
    if lo == cell_a:
        return e
    return Effect(e.n_b, e.n_a, e.median_b, e.median_a, 1 / e.ratio,
                  (1 / e.ci[1], 1 / e.ci[0]), e.confidence, e.p, e.u, e.hosts, e.n_resamples)


def side(ci: tuple[float, float] | list[float], threshold: float) -> int:
    """-1 when the ratio's interval lies below 1/(1+t), +1 above 1+t, 0 otherwise."""
    if ci[1] < 1 / (1 + threshold):
        return -1
    if ci[0] > 1 + threshold:
        return 1
    return 0


def processes_needed(n: int, ci_log: tuple[float, float], estimate_log: float,
                     boundaries_log: list[float]) -> int | None:
    """Processes per side after which the interval would no longer straddle a boundary.

    Rule: the interval's half-width (in log ratio) shrinks as 1/sqrt(n); it
    must become smaller than the distance from the estimate to the nearest
    threshold boundary it crosses. None when the estimate sits on a boundary
    (more processes alone may never decide it) or nothing is crossed.
    """
    lo, hi = ci_log
    half = (hi - lo) / 2
    crossed = [abs(estimate_log - bd) for bd in boundaries_log if lo <= bd <= hi]
    if not crossed or half <= 0:
        return None
    dist = min(crossed)
    if dist <= 1e-12:
        return None
    return max(n + 1, math.ceil(n * (half / dist) ** 2))
