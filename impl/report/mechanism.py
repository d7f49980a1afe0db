"""The root cause of a hypothesis's result, from its mechanism counters.

A hypothesis declares the counters that carry its mechanism (config
``context``: e.g. ``counter.wake_syscalls`` for the wake-up hypotheses). Its
conclusion is one generated sentence, by these rules:

* the comparison it speaks for: among the hypothesis's measured comparisons,
  a decided one (VALIDATED or REJECTED) before an undecided one, then the
  largest effect (|log ratio|);
* a counter *differs* between the two cells when the larger per-op rate is at
  least ``MIN_RATE`` (one event per 100 ops: rarer events cannot move a time
  per op) and at least ``MIN_FACTOR`` times the smaller one (or the smaller is
  0); ``max_batch`` (a size, not a rate) needs the factor only. A thread
  role's CPU time per op (``env.loop_cpu_ns``, ``env.submitter_cpu_ns``:
  where the time goes, for workloads that exercise no counter) differs when
  one side is at least ``MIN_CPU_FACTOR`` times the other. The rate that
  differs most is quoted (a CPU time only when no counter rate differs,
  ``max_batch`` last);
* the outcome: VALIDATED with a differing counter is *explained* by it;
  VALIDATED without one is *outside the counters*; REJECTED with one means
  the mechanism is there but *does not decide* the time; REJECTED without one
  means the mechanism is *not exercised*; anything else is *undecided*.
"""

from __future__ import annotations

import math
from typing import Any

from impl.contract import CPU_ROLE_METRICS, MAX_COUNTER
from impl.report.hypotheses import REJECTED, VALIDATED

#: a per-op rate below this cannot explain a difference in time per op
MIN_RATE = 0.01
#: how many times larger one side's counter must be to count as a difference
MIN_FACTOR = 2.0
#: how many times more CPU per op one thread role must use to count as where a gap comes from
MIN_CPU_FACTOR = 1.25

EXPLAINED, OUTSIDE, NOT_DECIDING, NOT_EXERCISED, UNDECIDED, NO_COUNTERS = (
    "explained", "outside the counters", "does not decide", "not exercised", "undecided",
    "no counters")


def _factor(a: float, b: float) -> float:
    lo, hi = sorted((a, b))
    return math.inf if lo == 0 else hi / lo


def differing(counter: str, a: float | None, b: float | None) -> float | None:
    """How many times the counter differs between the two cells; None when it does not."""
    if a is None or b is None or (a == 0 and b == 0):
        return None
    f = _factor(a, b)
    if counter in CPU_ROLE_METRICS:
        return f if f >= MIN_CPU_FACTOR else None
    if f < MIN_FACTOR or (counter != MAX_COUNTER and max(a, b) < MIN_RATE):
        return None
    return f


def _rank(counter: str) -> int:
    """Counter rates first, then a thread role's CPU time, ``max_batch`` last."""
    return 0 if counter == MAX_COUNTER else 1 if counter in CPU_ROLE_METRICS else 2


def most_differing(rows: list[tuple[str, float | None, float | None]]) -> int | None:
    """Index of the (counter, a, b) that differs most (module docstring's order), or None."""
    found = [(_rank(counter), f, -j) for j, (counter, a, b) in enumerate(rows)
             if (f := differing(counter, a, b)) is not None]
    return -max(found)[2] if found else None


def root_cause(h: dict, comparisons: list[dict], cells: dict[str, dict]) -> dict[str, Any]:
    """The conclusion's facts for hypothesis doc ``h`` (module docstring); JSON-ready.

    ``{"outcome", "comparison" (index into comparisons, or None), "factor"
    (max(ratio, 1/ratio)), "counter", "a", "b" (per op at the two cells),
    "counters": [every declared counter with both sides]}``.
    """
    measured = [i for i in h["comparisons"] if comparisons[i].get("ratio")]
    if not measured:
        return {"outcome": UNDECIDED, "comparison": None, "counters": []}

    def rank(i: int) -> tuple:
        c = comparisons[i]
        return (c["verdict"] not in (VALIDATED, REJECTED), -abs(math.log(c["ratio"])))

    i = min(measured, key=rank)
    c = comparisons[i]
    ma = cells[c["cell_a"]].get("metrics", {})
    mb = cells[c["cell_b"]].get("metrics", {})
    counters = [{"counter": k, "a": (ma.get(k) or {}).get("per_op"),
                 "b": (mb.get(k) or {}).get("per_op")} for k in h["context"]]
    # the effect as "N times faster/slower" (>= 1), printed by the conclusion
    factor = max(c["ratio"], 1 / c["ratio"])
    out: dict[str, Any] = {"comparison": i, "counters": counters, "counter": None,
                           "factor": factor}
    j = most_differing([(x["counter"], x["a"], x["b"]) for x in counters])
    found = j is not None
    if found:
        out.update(counter=counters[j]["counter"], a=counters[j]["a"], b=counters[j]["b"])
    if not h["context"]:
        out["outcome"] = NO_COUNTERS
    elif c["verdict"] == VALIDATED:
        out["outcome"] = EXPLAINED if found else OUTSIDE
    elif c["verdict"] == REJECTED:
        out["outcome"] = NOT_DECIDING if found else NOT_EXERCISED
    else:
        out["outcome"] = UNDECIDED
    return out
