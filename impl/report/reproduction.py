"""The original beside the reproduction.

For each finding of the Go study that a cell of this study measures
(``go_seed.yaml``: the claim, where the study says it, its figures), this run's
number for the same cell and whether the conclusion survives in Python. Rule
(the ordering, not the size: the sizes stand beside it): the ratio
median(faster)/median(slower) of the claim's two implementations, with the
95 % interval of every comparison (``impl.report.effects``) against the
hypotheses' effective threshold t = max(10 %, the A/A floor, set only where the
family's A/A interval excludes 1):
"survives" when the interval lies below 1/(1+t), "reversed" when it lies above
1+t, otherwise "not decided in this run". The why, generated: the gap as a share of the
slower implementation's time, here and in Go (a gap that shrinks from 99 %
to 50 % means a cost both designs share grew), and the counter that differs
most between the two at that cell (``impl.report.mechanism``'s rule), or
that none does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from importlib import resources
from typing import Any

import yaml

from impl.report import effects as eff
from impl.report import mechanism, why
from impl.report import stats as st
from impl.report.answer import measured
from impl.report.hypotheses import effective_threshold
from impl.study import DEFAULT_THRESHOLD

#: the data file, beside this module (package data)
DATA = "go_seed.yaml"
SURVIVES, REVERSED, UNDECIDED = "survives", "reversed", "not decided in this run"
#: ``direction`` of an entry: this run's estimate orders the two designs as Go did, or not
SAME, OPPOSITE = "same", "opposite"
#: the counters shown as the mechanism at each finding's cell
MECHANISM = ("counter.wake_syscalls", "counter.lock_waits", "counter.cas_retries",
             "counter.batches")


def load() -> dict[str, Any]:
    """The Go study's findings (``go_seed.yaml``)."""
    return yaml.safe_load(resources.files("impl.report").joinpath(DATA).read_text())


def _cell(cells: dict[str, dict], label: str, cell: dict) -> dict | None:
    found = measured(cells, cell["scenario"], cell.get("params") or {}, cell["metric"], label)
    return found[0] if found else None


def tally(entries: list[dict[str, Any]]) -> dict[str, int]:
    """How many findings survive, are reversed, undecided or not measured (for the summary)."""
    return dict(Counter(e.get("survives") or e.get("status", "") for e in entries))


def compare_with_go(data: dict[str, Any], cells: dict[str, dict],
                    samples: Callable[[str, str], st.ProcessSamples], seed: int,
                    floors: dict[str, float] | None = None,
                    costs: why.Costs | None = None) -> list[dict[str, Any]]:
    """One JSON-ready entry per finding (module docstring); ``costs``: the interpreter's
    cost model, for the counted cost that decides it (``why_counted``: the slower of the
    two here against the faster, impl/report/why.py)."""
    floors = floors or {}
    out = []
    for f in data.get("findings", []):
        metric = f["cell"]["metric"]
        entry = {"id": f["id"], "claim": f["claim"], "where": f["where"],
                 "scenario": f["cell"]["scenario"], "params": f["cell"].get("params") or {},
                 "metric": metric, "faster": f["faster"]["label"],
                 "slower": f["slower"]["label"], "go_faster": float(f["faster"]["go"]),
                 "go_slower": float(f["slower"]["go"]),
                 "go_ratio": float(f["faster"]["go"]) / float(f["slower"]["go"])}
        fast = _cell(cells, f["faster"]["label"], f["cell"])
        slow = _cell(cells, f["slower"]["label"], f["cell"])
        if fast is None or slow is None:
            entry["status"] = "not measured in this run"
            out.append(entry)
            continue
        try:
            e = eff.compare_cells(samples, fast["cell_id"], slow["cell_id"], metric,
                                  st.CONFIDENCE, seed)
        except (eff.PairingError, ValueError) as exc:
            entry["status"] = f"no interval ({exc})"
            out.append(entry)
            continue
        t = effective_threshold(metric, DEFAULT_THRESHOLD, floors)
        verdict = {-1: SURVIVES, 1: REVERSED, 0: UNDECIDED}[eff.side(e.ci, t)]
        entry["threshold"] = t
        mech_rows = [{"counter": k, "faster": (fast["metrics"].get(k) or {}).get("per_op"),
                      "slower": (slow["metrics"].get(k) or {}).get("per_op")}
                     for k in MECHANISM if k in fast["metrics"]]
        entry.update(status="ok", ours_faster=e.median_a, ours_slower=e.median_b,
                     ratio=e.ratio, ci=list(e.ci), survives=verdict, mechanism=mech_rows,
                     # where the estimate points, decided or not: an undecided finding that
                     # leans the other way is a reversal in the making
                     direction=SAME if e.ratio < 1 else (OPPOSITE if e.ratio > 1 else ""),
                     # the summary's one notation: "faster is N x faster / slower than slower"
                     factor=max(e.ratio, 1 / e.ratio),
                     factor_ci=(list(e.ci) if e.ratio >= 1 else [1 / e.ci[1], 1 / e.ci[0]]),
                     go_factor=max(entry["go_ratio"], 1 / entry["go_ratio"]),
                     # the why: how much of the slower one's time the gap is, here and in Go
                     share_ours=1 - e.ratio, share_go=1 - entry["go_ratio"],
                     # the counter that differs most (mechanism.py's rule), or None
                     counter=mechanism.most_differing(
                         [(r["counter"], r["faster"], r["slower"]) for r in mech_rows]))
        # the cost that decides it, from the one that is slower here (a reversed finding:
        # Go's faster design)
        entry["why_counted"], slower = why.explain_cells(fast, slow, metric, costs)
        entry["why_slower"] = slower["label"]
        out.append(entry)
    return out
