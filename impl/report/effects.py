"""Comparing two cells: the verdicts' statistic and the descriptive ratio of medians.

Two statistics, each with one job (methodology.md, "Comparing two implementations"):

* **The verdicts** (``hodges_lehmann``; every hypothesis comparison and the A/A
  controls, ``impl.report.hypotheses``): the Hodges-Lehmann estimate of the log
  ratio a/b over process values (Hodges and Lehmann 1963), with the interval that
  inverts the stratified Wilcoxon-Mann-Whitney test (van Elteren 1960; Hollander
  and Wolfe, *Nonparametric Statistical Methods*, 3rd ed., sections 4.2-4.3 for
  one stratum). Differences d = log(a_i) - log(b_j) are only formed inside a
  stratum: (host, pipeline round) when both cells record rounds and share at
  least one (processes measured in the same round ran interleaved in the same
  batch, so drift between rounds cancels), else the host (processes are never
  compared across hosts: a machine's difference is not an effect). Formulas and
  shapes: ``hodges_lehmann``.
  Its level is set by the caller (1 - alpha/m for the hypotheses: the
  Bonferroni interval, which *is* the correction).
* **The descriptive comparisons** (``compare``/``compare_cells``: the answer, the
  pick, the Go table): the ratio of the cells' medians over processes, paired
  within hosts (per common host the log ratio of medians, combined with weights
  n_a*n_b/(n_a+n_b); on one host exactly the ratio of the cells' medians), with
  a hierarchical bootstrap interval (processes, then blocks within them;
  ``impl.report.stats``), 95 %: the same number the tables show.

Mann-Whitney U on the process values is information shown benchstat-style
("~" when not significant), never a gate.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from scipy import stats as st

from impl.report.stats import ProcessSamples, resampled_medians
from impl.study import DEFAULT_SEED

#: bootstrap resamples at least; more when the interval's tails are far out (see resamples_for)
N_RESAMPLES = 4000
#: resamples expected beyond each end of an interval: keeps a 1 - alpha/m percentile stable
TAIL_DRAWS = 20
#: ``Effect.method`` of the verdicts' statistic, by how its strata were formed
HL_BY_ROUND = "HL, paired by round"
HL_BY_HOST = "HL, within host"
#: fewest processes per side the (host, round) strata must hold, else host strata
MIN_ROUND_PAIRED = 2


class PairingError(ValueError):
    """The two cells share no host: their processes cannot be paired."""


@dataclass
class Effect:
    """a vs b on one metric: ``ratio`` with its interval ``ci`` at ``confidence``.

    ``hodges_lehmann``: ratio = exp(HL estimate of the log ratio), n_a/n_b count the
    processes in the strata used, ``n_resamples`` is 0. ``compare``: ratio =
    median(a)/median(b) within hosts, bootstrap interval. ``median_a``/``median_b`` are
    always the cells' medians over all their processes (the tables' numbers).
    """

    n_a: int  # processes of a in the paired strata (hosts, or host and round)
    n_b: int
    median_a: float
    median_b: float
    ratio: float
    ci: tuple[float, float]
    confidence: float
    p: float  # two-sided Mann-Whitney U on the process values (information only)
    u: float
    hosts: tuple[str, ...]
    n_resamples: int  # bootstrap resamples (0: not a bootstrap interval)
    #: how processes were paired: HL_BY_ROUND, HL_BY_HOST, or "" for the descriptive ratio
    method: str = ""
    #: strata the differences were formed in (hosts, or (host, round) pairs)
    strata: int = 0

    @property
    def bounded(self) -> bool:
        """Both interval ends are positive and finite (the level was achievable)."""
        return all(math.isfinite(x) and x > 0 for x in self.ci)


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
    """The descriptive ratio of medians a/b within hosts, its bootstrap interval at
    ``confidence``, and Mann-Whitney U (the answer, the pick, the Go table; never a verdict).

    Both sides need positive process values and at least one process on a
    common host; raises PairingError when they share no host, ValueError on
    an empty side or a value that is not positive. ``median_a``/``median_b``
    are the cells' medians over all their processes (the number every table
    shows).
    """
    _check(a, b)
    hosts = common_hosts(a, b)
    if not hosts:
        raise _no_common_host(a, b)
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
    p, u = _rank_test(va, vb)
    return Effect(len(va), len(vb), float(np.median(a.values)), float(np.median(b.values)),
                  ratio, (float(min(lo, ratio)), float(max(hi, ratio))), confidence, p, u,
                  tuple(hosts), n_resamples)


def _no_common_host(a: ProcessSamples, b: ProcessSamples) -> PairingError:
    return PairingError(f"no common host ({', '.join(sorted(set(a.hosts)))} vs "
                        f"{', '.join(sorted(set(b.hosts)))})")


def _check(a: ProcessSamples, b: ProcessSamples) -> None:
    if a.n == 0 or b.n == 0:
        raise ValueError("a comparison needs processes on both sides")
    if np.any(a.values <= 0) or np.any(b.values <= 0):
        raise ValueError("process values not all positive: no log ratio")


def strata(a: ProcessSamples, b: ProcessSamples
           ) -> tuple[list[tuple[ProcessSamples, ProcessSamples]], str]:
    """The strata the verdicts pair processes in, and the method (HL_BY_ROUND / HL_BY_HOST).

    (host, round) when both cells record every process's round and the (host, round)
    strata holding processes of both sides keep at least ``MIN_ROUND_PAIRED`` processes
    per side (strata with one side only are dropped); otherwise one stratum per common
    host. Raises PairingError when the cells share no host.
    """
    hosts = common_hosts(a, b)
    if not hosts:
        raise _no_common_host(a, b)
    if a.rounds_known and b.rounds_known:
        keys = sorted({(h, r) for h, r in zip(a.hosts, a.rounds, strict=True)}
                      & {(h, r) for h, r in zip(b.hosts, b.rounds, strict=True)})

        def part(ps: ProcessSamples, key: tuple[str, int]) -> ProcessSamples:
            return ps.subset([i for i, k in enumerate(zip(ps.hosts, ps.rounds, strict=True))
                              if k == key])

        by_round = [(part(a, k), part(b, k)) for k in keys]
        if (sum(x.n for x, _ in by_round) >= MIN_ROUND_PAIRED
                and sum(y.n for _, y in by_round) >= MIN_ROUND_PAIRED):
            return by_round, HL_BY_ROUND
    return [(a.on_host(h), b.on_host(h)) for h in hosts], HL_BY_HOST


def hl_interval(log_a: list[np.ndarray], log_b: list[np.ndarray], confidence: float
                ) -> tuple[float, float, float]:
    """(estimate, lower, upper) of the shift log_a - log_b over strata; ends may be -inf/+inf.

    ``log_a[s]``, ``log_b[s]``: the log process values of stratum s (shapes (n_as,),
    (n_bs,), both non-empty). With d_sij = log_a[s][i] - log_b[s][j] (the n_as * n_bs
    within-stratum differences, in log units, i.e. log ratio) and the van Elteren
    weights w_s = 1 / (n_as + n_bs + 1):

    * S(delta) = 1/2 * sum_s w_s * sum_ij sign(d_sij - delta), decreasing in delta;
      under H0 (no shift) E S = 0 and Var S = sum_s w_s^2 n_as n_bs (n_as + n_bs + 1) / 12
      (the Mann-Whitney variance per stratum, no tie correction);
    * estimate: the delta where S crosses 0, the weighted median of all d_sij (weight
      w_s each; the midpoint of the two middle ones when the cumulative weight hits
      exactly half); with one stratum the Hodges-Lehmann median of the differences;
    * interval: {delta : |S(delta)| <= c}, c = z * sqrt(Var S) + min_s(w_s) / 2,
      z = Phi^-1(1 - (1 - confidence) / 2) (the second term: half the smallest step of
      S, the continuity correction; with one stratum R's wilcox.test(conf.int=TRUE,
      exact=FALSE, correct=TRUE) up to its tie correction). With the d sorted and C_k
      their cumulative weight (total W): lower = the first d_k with C_k >= W/2 - c,
      upper = the first d_k with C_k > W/2 + c (two weighted order statistics). When
      W/2 - c <= 0 no difference bounds the interval at this level: the ends are
      -inf and +inf (R's wilcox.test would clamp them to the extreme differences).
    """
    d_parts, w_parts, var, weights = [], [], 0.0, []
    for la, lb in zip(log_a, log_b, strict=True):
        na, nb = len(la), len(lb)
        w = 1.0 / (na + nb + 1)
        d_parts.append(np.subtract.outer(la, lb).ravel())
        w_parts.append(np.full(na * nb, w))
        var += w * w * na * nb * (na + nb + 1) / 12.0
        weights.append(w)
    d = np.concatenate(d_parts)
    w = np.concatenate(w_parts)
    order = np.argsort(d, kind="stable")
    d, cum = d[order], np.cumsum(w[order])
    half = cum[-1] / 2
    tol = 1e-9 * cum[-1]
    k = min(int(np.searchsorted(cum, half - tol)), len(d) - 1)
    est = float((d[k] + d[k + 1]) / 2 if abs(cum[k] - half) <= tol and k + 1 < len(d)
                else d[k])
    z = float(st.norm.ppf(1 - (1 - confidence) / 2))
    c = z * math.sqrt(var) + min(weights) / 2
    if half - c <= tol:
        return est, -math.inf, math.inf
    lo = int(np.searchsorted(cum, half - c - tol, side="left"))
    hi = int(np.searchsorted(cum, half + c + tol, side="right"))
    return est, float(d[lo]), float(d[min(hi, len(d) - 1)])


def _rank_test(va: np.ndarray, vb: np.ndarray) -> tuple[float, float]:
    """(p, U): two-sided Mann-Whitney U of the process values (information only)."""
    if np.all(va == va[0]) and np.all(vb == vb[0]) and va[0] == vb[0]:
        return 1.0, float(len(va) * len(vb) / 2)  # identical constants: no evidence either way
    res = st.mannwhitneyu(va, vb, alternative="two-sided")
    return float(res.pvalue), float(res.statistic)


def hodges_lehmann(a: ProcessSamples, b: ProcessSamples, confidence: float) -> Effect:
    """The verdicts' effect of a vs b (module docstring): exp of the HL shift of log values.

    ``a``, ``b``: one metric's process values of each cell (ns or count per op, > 0),
    with hosts and rounds. ``strata`` forms the strata (raises PairingError when no host
    is shared); ``hl_interval`` gives the estimate and interval in log ratio; the
    returned ratio = exp(estimate) and ci = exp(interval), a ratio a/b (1.5: a takes
    1.5x b's value); ci is (0, inf) when no finite interval reaches ``confidence`` (see
    ``hl_interval``). n_a/n_b count the processes in the strata used; p/u are
    Mann-Whitney U on those processes, pooled over strata (information only);
    median_a/median_b are the cells' medians over all their processes. Deterministic:
    no resampling. Raises ValueError on an empty side or a value that is not positive.
    """
    _check(a, b)
    parts, method = strata(a, b)
    est, lo, hi = hl_interval([np.log(x.values) for x, _ in parts],
                              [np.log(y.values) for _, y in parts], confidence)
    va = np.concatenate([x.values for x, _ in parts])
    vb = np.concatenate([y.values for _, y in parts])
    p, u = _rank_test(va, vb)
    hosts = tuple(sorted({h for x, _ in parts for h in x.hosts}))
    return Effect(len(va), len(vb), float(np.median(a.values)), float(np.median(b.values)),
                  math.exp(est), (math.exp(lo), math.exp(hi)), confidence, p, u, hosts, 0,
                  method, len(parts))


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
                  (1 / e.ci[1], 1 / e.ci[0]), e.confidence, e.p, e.u, e.hosts, e.n_resamples,
                  e.method, e.strata)


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

    Rule: the interval's half-width (in log ratio) shrinks as 1/sqrt(n) (the HL
    interval's too: its ends are order statistics at +-z sqrt(Var S), and the spacing of
    the differences near the centre shrinks as 1/sqrt(n)); it
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
