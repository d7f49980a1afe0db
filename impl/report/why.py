"""Why one design is slower than another: the counted cost that accounts for the time gap.

The mechanism pass (``impl.runner.mechanism``) counts, per op, at the answer's and
the hypotheses' cells: the instructions every thread ran (callgrind), the syscalls
by kind and thread role (perf's tracepoints, or strace) and, with the timed blocks,
the context switches per thread role. This module turns two cells' counts and times
into the answer's "why", by a stated rule:

* **the cost model** (per interpreter): time per op = a x instructions + b x
  syscalls + c x voluntary context switches, fitted by non-negative least
  squares over every cell the pass counted (``fit``; scipy.optimize.nnls), each
  cell weighted by 1/time, so a 20 us round trip and a 200 ns submit weigh alike.
  It *holds* when its R^2 in log time is at least ``MIN_R2`` and its cost per
  instruction is a CPU's (``MIN_NS_PER_INSTRUCTION``).
* **the component** that accounts for the largest part of the gap *in the gap's
  direction*: with a model that holds, each component's share of the gap is
  its coefficient times the two cells' difference, over the gap (``explain``);
  without one, instructions are judged alone, as the share of the gap's log
  that the instructions' ratio covers (time proportional to work). A component
  whose count is larger on the *faster* cell is never offered; a count a design
  cannot have (no such tool here: absent) is ``None``, never 0. Two counts differ
  only beyond ``MIN_FACTOR`` and beyond both cells' own spread (the pass's two
  marginal counts per cell: a difference the count's repeatability could make
  is no reason), and a syscall or switch count below ``MIN_PER_OP`` per op is none.
* **what is left**: the part of the gap no counted cost accounts for (waiting
  on another thread, the scheduler, contention), said when it is the larger part.

Sources: callgrind's event ``Ir`` (Valgrind manual); perf-record(1), strace(1); the
kernel's ``nr_voluntary_switches`` (proc(5)); scipy.optimize.nnls.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls

#: the model's components, in the order of its coefficients
COMPONENTS: tuple[str, ...] = ("instructions", "syscalls", "switches")
#: what each component counts, per op, in words
MEANINGS: dict[str, str] = {
    "instructions": "instructions per op (every thread; callgrind)",
    "syscalls": "syscalls per op (every thread; perf or strace)",
    "switches": "voluntary context switches per op (a thread blocked and was woken)",
}
#: the model holds (its shares are used) from this weighted R^2 on
MIN_R2 = 0.8
#: ... and from this cost per instruction, ns: below it a fit prices work at more than 20
#: instructions a nanosecond, beyond any CPU (4-6 a cycle at up to 5 GHz), so it explains
#: the cells' spread (round trips of microseconds against submits of a few hundred ns)
#: with the waits alone, and its shares within one scale mean nothing (the default study
#: of 2026-12-07: R^2 0.88 at 0.026 ns per instruction)
MIN_NS_PER_INSTRUCTION = 0.05
#: a syscall or switch count per op below this is never a reason (nor printed beside one):
#: a wait every hundred ops costs a round trip's time spread over a hundred submits
MIN_PER_OP = 0.01
#: the fewest cells a fit needs (three coefficients, and some left to judge them)
MIN_CELLS = 8
#: two counts differ when the larger is at least this many times the smaller
MIN_FACTOR = 1.05
#: the instruction counts of a cell's two counted blocks repeat within this (the pass's own
#: check, printed in DETAILS; issue 27 asks for 3 %)
REPEAT_BAR = 0.03


@dataclass(frozen=True)
class Costs:
    """A fitted cost per unit of each component, ns, and how well the model fits (``r2``:
    R^2 in log time over ``n`` cells)."""

    ns: dict[str, float]
    r2: float
    n: int

    @property
    def holds(self) -> bool:
        return (self.n >= MIN_CELLS and self.r2 >= MIN_R2
                and self.ns["instructions"] >= MIN_NS_PER_INSTRUCTION)

    @property
    def fails(self) -> str | None:
        """Why it does not hold: "fit" (too few cells or R^2), "price" (an instruction
        cheaper than ``MIN_NS_PER_INSTRUCTION``), None when it holds."""
        if self.n < MIN_CELLS or self.r2 < MIN_R2:
            return "fit"
        return "price" if self.ns["instructions"] < MIN_NS_PER_INSTRUCTION else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "holds": self.holds, "fails": self.fails}


def fit(rows: Sequence[Mapping[str, float | None]]) -> Costs | None:
    """The cost model over ``rows`` ({"time": ns per op, component: per op, ...}); rows
    missing a value are left out; None without ``MIN_CELLS`` complete rows."""
    full = [r for r in rows if r.get("time") and all(r.get(k) is not None for k in COMPONENTS)]
    if len(full) < MIN_CELLS:
        return None
    x = np.array([[float(r[k]) for k in COMPONENTS] for r in full])
    y = np.array([float(r["time"]) for r in full])
    w = 1.0 / y  # relative errors: every cell weighs alike whatever its scale
    coef, _ = nnls(x * w[:, None], y * w)
    return Costs({k: float(c) for k, c in zip(COMPONENTS, coef, strict=True)},
                 _log_r2(y, x @ coef), len(full))


def _log_r2(y: np.ndarray, fitted: np.ndarray) -> float:
    """R^2 of log time: the share of the cells' spread in log time the model accounts for
    (a cell it predicts no time for scores as a miss by a factor of 1000)."""
    logy = np.log(y)
    logf = np.log(np.maximum(fitted, y * 1e-3))
    total = float(((logy - logy.mean()) ** 2).sum())
    return 1.0 - float(((logy - logf) ** 2).sum()) / total if total > 0 else 0.0


def _differs(fast: float | None, slow: float | None, spread: float = 0.0) -> bool:
    """The slower cell has more of it, by ``MIN_FACTOR`` and by more than ``spread`` (the
    two counts' own relative spreads, summed): it points the gap's way."""
    if fast is None or slow is None or slow <= 0:
        return False
    return fast == 0 or slow / fast >= max(MIN_FACTOR, 1.0 + spread)


def explain(time_fast: float, time_slow: float, fast: Mapping[str, float | None],
            slow: Mapping[str, float | None], costs: Costs | None,
            spread: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The why of a gap (module docstring); JSON-ready.

    ``fast`` / ``slow``: each component's count per op (None: not counted); ``spread``:
    a component's relative spread in the two cells, summed (0 when absent). Returns
    ``{"gap" (time_slow / time_fast), "component" (or None), "fast", "slow", "share"
    (of the gap, 0..1, or None), "ratio" (slow / fast count, None when fast is 0), "by"
    ("model", "instructions" or "count"), "left" (the share no counted cost accounts for,
    or None), "also" [the other components whose count points the gap's way], "against"
    [components whose count points the other way], "compared" {component: [fast, slow]
    for those counted on both sides}}``. ``by`` "count": no model, the instructions do not
    point the gap's way, and the component is the syscall or switch count that does by
    the largest factor (a quantity, without a share).
    """
    gap = time_slow / time_fast
    noise = dict(spread or {})

    def differs(a: float | None, b: float | None, k: str) -> bool:
        return _differs(a, b, noise.get(k, 0.0))

    compared = {k: [fast[k], slow[k]] for k in COMPONENTS
                if fast.get(k) is not None and slow.get(k) is not None}
    out: dict[str, Any] = {"gap": gap, "component": None, "fast": None, "slow": None,
                           "share": None, "ratio": None, "by": None, "left": None,
                           "against": [k for k in COMPONENTS
                                       if differs(slow.get(k), fast.get(k), k)],
                           "compared": compared, "also": []}
    if gap <= 1:
        return out
    pointing = [k for k in COMPONENTS if differs(fast.get(k), slow.get(k), k)
                and (k == "instructions" or (slow[k] or 0.0) >= MIN_PER_OP)]
    if costs is not None and costs.holds:
        delta = time_slow - time_fast
        shares = {k: costs.ns[k] * (slow[k] - fast[k]) / delta for k in pointing
                  if costs.ns[k] > 0}
        if shares:
            k = max(shares, key=lambda c: shares[c])
            counted = sum(max(0.0, s) for s in shares.values())
            out.update(component=k, fast=fast[k], slow=slow[k], share=min(1.0, shares[k]),
                       by="model", left=max(0.0, 1.0 - counted), ratio=_ratio(fast[k], slow[k]),
                       also=[c for c in pointing if c != k])
            return out
    k = "instructions"
    if k in pointing:
        share = min(1.0, math.log(slow[k] / fast[k]) / math.log(gap))
        out.update(component=k, fast=fast[k], slow=slow[k], share=share, by="instructions",
                   left=1.0 - share, ratio=_ratio(fast[k], slow[k]),
                   also=[c for c in pointing if c != k])
    elif pointing:  # not work: the waits and syscalls the slower design makes more of
        k = max(pointing, key=lambda c: math.inf if not fast[c] else slow[c] / fast[c])
        out.update(component=k, fast=fast[k], slow=slow[k], by="count",
                   ratio=_ratio(fast[k], slow[k]), also=[c for c in pointing if c != k])
    return out


def explain_cells(x: Mapping[str, Any], y: Mapping[str, Any], metric: str,
                  costs: Costs | None) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """``explain`` for two report cells, the faster (lower median of ``metric``) first;
    returns the why and the slower cell."""
    fast, slow = sorted((x, y), key=lambda c: c["metrics"][metric]["median"])
    return explain(fast["metrics"][metric]["median"], slow["metrics"][metric]["median"],
                   counted(fast), counted(slow), costs,
                   dict(Counter(spreads(fast)) + Counter(spreads(slow)))), slow


def spreads(cell: Mapping[str, Any]) -> dict[str, float]:
    """A report cell's relative spread per counted component: the instructions' two
    marginal counts ((max - min) / mean); the others are not repeated within a run."""
    m = cell.get("mechanism") or {}
    return {"instructions": float(m["instructions_spread"])} if "instructions_spread" in m else {}


def _ratio(fast: float, slow: float) -> float | None:
    return slow / fast if fast else None


#: the metric a cell's time per op is read from for the fit: every scenario records it (the
#: timed region over the ops; a round trip's is its mean latency)
TIME_METRIC = "ns_per_op"
#: the timed blocks' voluntary context switches per op, per thread role (contract)
SWITCH_METRICS = ("env.loop_voluntary_switches", "env.submitter_voluntary_switches")


def counted(cell: Mapping[str, Any]) -> dict[str, float | None]:
    """A report cell's counts per op (``cell["mechanism"]``: its point of the mechanism pass;
    the switches from its timed blocks where they recorded them, else the pass's native
    run); None for what was not counted."""
    m = cell.get("mechanism") or {}
    sys_ = m.get("syscalls_per_op")
    metrics = cell.get("metrics") or {}
    timed = [(metrics.get(k) or {}).get("per_op") for k in SWITCH_METRICS]
    native = m.get("switches_per_op") or {}
    if all(v is not None for v in timed):
        switches: float | None = float(sum(timed))
    elif "loop_voluntary" in native:
        switches = float(native["loop_voluntary"] + native.get("submitter_voluntary", 0.0))
    else:
        switches = None
    return {"instructions": m.get("instructions"),
            "syscalls": None if sys_ is None else float(sum(sum(k.values())
                                                            for k in sys_.values())),
            "switches": switches}


def fit_cells(cells: Mapping[str, Mapping[str, Any]]) -> Costs | None:
    """The cost model over one interpreter's counted cells (``fit``)."""
    rows = []
    for c in cells.values():
        t = ((c.get("metrics") or {}).get(TIME_METRIC) or {}).get("median")
        if c.get("status") == "ok" and c.get("mechanism") and t:
            rows.append({"time": float(t), **counted(c)})
    return fit(rows)
