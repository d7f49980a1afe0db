"""Which design to pick: one design for every workload, by a stated rule.

The answer table (``impl.report.answer``) names the fastest design per
workload; a reader who must choose one loop for a service that sees all of
them needs the design that is never far behind. The rule (minimax regret,
the usual choice under uncertainty about the workload mix):

* for each workload of config ``answer`` and each non-control label measured
  there, the slowdown = median(label) / median(that workload's fastest)
  (1 for the fastest itself; the cells' headline numbers);
* a label's worst case is its largest slowdown over the workloads; only labels
  measured in every workload are ranked; the pick has the smallest worst case
  (ties: the label order of the config);
* the same rule restricted to designs whose capability flag
  ``conserves_on_shutdown`` is set (``impl.designs.registry``; the correctness suite's
  T1 asserts it) gives the pick for a service that must run every accepted
  task at shutdown;
* a design that is fastest on some workload but has a larger worst case than
  the pick (and is not the second pick) is named as "not a safe default",
  with its worst case, when that worst case is beyond the noise; it is called
  "the fastest" only at the workloads where the answer names it (``clear``: its
  interval against the runner-up clears the noise), elsewhere "the lowest median";
* the summary puts the pick that runs every queued task at shutdown first (losing
  queued work is not a speed trade-off a reader expects): a design that drops them
  is offered "if you may lose queued tasks";
* workloads the run did not measure (a smoke grid) are named: the pick holds
  only over the measured ones;
* each quoted worst case carries the 95 % interval of its ratio (the paired
  statistic of ``impl.report.effects``): descriptive, like the answer's; it
  is "beyond the noise" when that interval clears the answer's effective
  threshold (10 %, raised to the A/A floor).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from impl.designs import registry
from impl.report import effects as eff
from impl.report import stats as st


def conserves_on_shutdown(design: str | None) -> bool | None:
    """The design's registry flag; None for a design this checkout does not know."""
    try:
        return registry.get(str(design)).capabilities.conserves_on_shutdown
    except registry.UnknownImplementationError:
        return None


def _worst(label: str, entries: list[dict]) -> tuple[float, int]:
    """(largest slowdown, index of its workload) of ``label`` over the workloads."""
    slow = []
    for k, e in enumerate(entries):
        by = {r["label"]: r["median"] for r in e["ranking"]}
        slow.append((by[label] / e["ranking"][0]["median"], k))
    return max(slow)


def pick(answer: list[dict], cells: dict[str, dict],
         samples: Callable[[str, str], st.ProcessSamples], seed: int,
         label_order: list[str]) -> dict[str, Any]:
    """The pick (module docstring) from the answer's entries; JSON-ready.

    Returns ``{"workloads": [...], "rows": [{label, design, conserves,
    slowdowns, worst, worst_workload, fastest_on}], "pick", "conserving_pick",
    "not_safe": [...]}``; each of the last three is a row plus ``ratio``/``ci``
    of its worst case. ``pick`` is None when fewer than two workloads have a
    ranking (no choice across workloads to make).
    """
    entries = [e for e in answer if e.get("ranking") and e.get("status") == "ok"]
    out: dict[str, Any] = {"workloads": [e["workload"] for e in entries], "rows": [],
                           "pick": None, "conserving_pick": None, "not_safe": [],
                           # declared workloads this run could not rank (e.g. a smoke grid)
                           "unmeasured": [e["workload"] for e in answer if e not in entries]}
    if len(entries) < 2:
        return out
    everywhere = set.intersection(*({r["label"] for r in e["ranking"]} for e in entries))
    order = {lab: i for i, lab in enumerate(label_order)}
    rows = []
    for lab in sorted(everywhere, key=lambda x: (order.get(x, len(order)), x)):
        cids = [next(r["cell_id"] for r in e["ranking"] if r["label"] == lab) for e in entries]
        design = cells[cids[0]].get("design")
        worst, k = _worst(lab, entries)
        rows.append({
            "label": lab, "design": design, "conserves": conserves_on_shutdown(design),
            "slowdowns": [next(r["median"] for r in e["ranking"] if r["label"] == lab)
                          / e["ranking"][0]["median"] for e in entries],
            "worst": worst, "worst_workload": entries[k]["workload"], "worst_index": k,
            "fastest_on": [e["workload"] for e in entries if e["ranking"][0]["label"] == lab],
            # "fastest" in words only where the answer names it: its interval clears the noise
            "fastest_clear": [e["workload"] for e in entries
                              if e["ranking"][0]["label"] == lab and e.get("clear")],
        })
    out["rows"] = rows
    ranked = sorted(rows, key=lambda r: (r["worst"], order.get(r["label"], len(order))))

    def with_interval(row: dict) -> dict:
        e = entries[row["worst_index"]]
        fast = e["ranking"][0]
        mine = next(r for r in e["ranking"] if r["label"] == row["label"])
        res = dict(row, behind=fast["label"], ratio=1.0, ci=[1.0, 1.0], clear=False)
        if mine["cell_id"] != fast["cell_id"]:
            try:
                effect = eff.compare_cells(samples, mine["cell_id"], fast["cell_id"],
                                           e["metric"], st.CONFIDENCE, seed)
                res.update(ratio=effect.ratio, ci=list(effect.ci))
                # beyond the noise: the answer's effective threshold (10 %, or the A/A floor)
                res["clear"] = eff.side(effect.ci, e.get("threshold") or 0.0) > 0
            except (eff.PairingError, ValueError) as exc:
                res.update(ratio=row["worst"], ci=None, note=str(exc))
        return res

    best = ranked[0]
    out["pick"] = with_interval(best)
    safe = next((r for r in ranked if r["conserves"]), None)
    if safe is not None and safe["label"] != best["label"]:
        out["conserving_pick"] = with_interval(safe)
    named = {best["label"]} | ({safe["label"]} if safe is not None else set())
    # named only when its worst case is beyond the noise: a label must be earned
    out["not_safe"] = [x for x in (with_interval(r) for r in ranked
                                   if r["fastest_on"] and r["worst"] > best["worst"]
                                   and r["label"] not in named) if x["clear"]]
    return out
