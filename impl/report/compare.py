"""Comparing two cells: Mann-Whitney U, a bootstrap interval of the ratio of medians, Holm.

The methodology asks for a rank test (unequal n, non-normal data), an effect
size with an interval (a p-value alone says nothing about "how much"), and a
correction across every comparison in the report, because a summary with a
dozen tests at alpha=0.05 would otherwise "find" something by chance.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from scipy import stats as st

N_RESAMPLES = 2000
DEFAULT_SEED = 20260117


@dataclass
class Effect:
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    ratio: float
    ci: tuple[float, float]
    p: float
    u: float


def seed_for(key: str, base: int = DEFAULT_SEED) -> int:
    """Deterministic per-comparison seed: results do not depend on comparison order."""
    return (base * 1_000_003 + zlib.crc32(key.encode())) % (2**32)


def _ratio_of_medians(x, y, axis=-1):
    return np.median(x, axis=axis) / np.median(y, axis=axis)


def ratio_interval(a: np.ndarray, b: np.ndarray, seed: int,
                   n_resamples: int = N_RESAMPLES, confidence: float = 0.95):
    """Percentile bootstrap interval of median(a)/median(b), a and b resampled independently."""
    if np.all(a == a[0]) and np.all(b == b[0]):
        r = float(a[0] / b[0])
        return r, r  # scipy refuses a degenerate distribution; the interval is the point
    res = st.bootstrap(
        (a, b), _ratio_of_medians, n_resamples=n_resamples, confidence_level=confidence,
        method="percentile", vectorized=True, paired=False, rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def compare(a: np.ndarray, b: np.ndarray, key: str, base_seed: int = DEFAULT_SEED,
            n_resamples: int = N_RESAMPLES) -> Effect:
    """Two-sided Mann-Whitney U and the ratio of medians a/b with its 95% interval."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a = a[np.isfinite(a)]
    b = b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        raise ValueError("compare needs samples on both sides")
    med_a, med_b = float(np.median(a)), float(np.median(b))
    if np.all(a == a[0]) and np.all(b == b[0]) and a[0] == b[0]:
        p, u = 1.0, float(len(a) * len(b) / 2)  # identical constants: no evidence of a difference
    else:
        res = st.mannwhitneyu(a, b, alternative="two-sided")
        p, u = float(res.pvalue), float(res.statistic)
    lo, hi = ratio_interval(a, b, seed_for(key, base_seed), n_resamples)
    return Effect(len(a), len(b), med_a, med_b, med_a / med_b, (lo, hi), p, u)


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (scipy 1.17 has only Benjamini-Hochberg/Yekutieli).

    Sort ascending, multiply the i-th smallest (0-based) by m - i, enforce
    monotonicity with a running maximum, cap at 1.
    """
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def samples_needed(n: int, ci_log: tuple[float, float], estimate_log: float,
                   boundaries_log: list[float]) -> int | None:
    """Samples per side after which the interval would no longer straddle a boundary.

    Rule: the interval's half-width (in log ratio) shrinks as 1/sqrt(n); it
    must become smaller than the distance from the estimate to the nearest
    threshold boundary it crosses. None when the estimate sits on a boundary.
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


def samples_needed_for_p(n: int, p_adj: float, alpha: float) -> int | None:
    """Samples per side after which the adjusted p-value would fall below alpha.

    Rule: the test's z-score grows as sqrt(n) for a fixed effect, so
    n_needed = n * (z(alpha/2) / z(p_adj/2))^2.
    """
    if not 0 < p_adj < 1:
        return None
    z_now = st.norm.isf(p_adj / 2)
    z_goal = st.norm.isf(alpha / 2)
    if z_now <= 0:
        return None
    return max(n + 1, math.ceil(n * (z_goal / z_now) ** 2))
