"""The answer first: per workload, which design is fastest, by how much, why.

Workloads are declared in config.yaml (``answer:``): a scenario, the parameter
point that stands for the workload, the metric (a time per op or latency:
lower is better) and the mechanism counters that explain a difference. The
rules, printed under the section:

* candidates are the measured, non-control labels at that point;
* the fastest is the one with the lowest median over processes (the cell's
  headline number); the runner-up the second lowest;
* "fastest" is claimed only when the 95 % interval of fastest / runner-up
  (the same paired statistic as every comparison, ``impl.report.effects``)
  lies below 1/(1 + t), t = max(10 %, the A/A floor of the metric's
  family, set only where its A/A interval excludes 1), the hypotheses'
  effective threshold; otherwise the two are "within this run's noise";
* the ratios against asyncio and uvloop (the loops Python users already
  have) come with their intervals too; they are descriptive, outside the
  verdicts' correction family, and the hypotheses' verdicts on the same
  scenario are listed beside them;
* a workload whose scenario declares thread placement is answered at the
  primary placement (same_core); each secondary placement measured at the
  same point (cross_core) is reported beside it as what it adds to each
  design's median ("cross-core adds X-Y us to every design here"):
  descriptive, no verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from impl.report import effects as eff
from impl.report import stats as st
from impl.report import why as wy
from impl.report.hypotheses import effective_threshold
from impl.runner.placement import PARAM as PLACEMENT
from impl.runner.scenarios import primary_params
from impl.study import DEFAULT_THRESHOLD, Workload, matches

#: the level of the answer's intervals (descriptive, like every per-cell interval)
CONFIDENCE = st.CONFIDENCE
#: the loops Python users already use: the answer compares the fastest against each
REFERENCE_DESIGNS = ("asyncio", "uvloop")
def measured(cells: dict[str, dict], scenario: str, params: dict, metric: str,
             label: str | None = None) -> list[dict]:
    """The ok cells at that point (of ``label``, or of every label) with a value of ``metric``."""
    return [c for c in cells.values()
            if c["status"] == "ok" and (label is None or c["label"] == label)
            and matches(c, c["label"], scenario, params)
            and (c["metrics"].get(metric) or {}).get("median") is not None]


def ranked(cells: dict[str, dict], w: Workload, controls: set[str]) -> list[dict]:
    """The non-control cells at ``w``'s point, lowest median first, one per label (a point
    may leave a grid axis free: a label's best cell there stands for it)."""
    out, seen = [], set()
    for c in sorted((c for c in measured(cells, w.scenario, w.params, w.metric)
                     if c["label"] not in controls),
                    key=lambda c: (c["metrics"][w.metric]["median"], c["label"])):
        if c["label"] not in seen:
            seen.add(c["label"])
            out.append(c)
    return out


def secondary_placements(cells: dict[str, dict], w: Workload, controls: set[str]
                         ) -> list[dict[str, Any]]:
    """Per secondary placement measured at ``w``'s point: each label's median there minus
    its median at the primary placement (ns), and the range over labels; JSON-ready."""
    primary = primary_params(w.scenario)
    if not primary or set(primary) & set(w.params):
        return []
    base = {c["label"]: c for c in ranked(cells, w, controls)}
    levels = sorted({(c.get("params") or {}).get(PLACEMENT) for c in cells.values()
                     if c["scenario"] == w.scenario and c["status"] == "ok"}
                    - {None, *primary.values()})
    out = []
    for level in levels:
        at = Workload(w.name, w.scenario, {**w.params, PLACEMENT: level}, w.metric, w.why)
        rows = [{"label": c["label"], "primary": base[c["label"]]["metrics"][w.metric]["median"],
                 "other": c["metrics"][w.metric]["median"]}
                for c in ranked(cells, at, controls) if c["label"] in base]
        for r in rows:
            r["added"] = r["other"] - r["primary"]
        if rows:
            out.append({"placement": level, "rows": rows,
                        "min": min(r["added"] for r in rows),
                        "max": max(r["added"] for r in rows)})
    return out


def _versus(w: Workload, fast: dict, other: dict,
            samples: Callable[[str, str], st.ProcessSamples], seed: int) -> dict:
    """fastest / other with its interval; speedup = other / fastest."""
    e = eff.compare_cells(samples, fast["cell_id"], other["cell_id"], w.metric, CONFIDENCE,
                          seed)
    return {"label": other["label"], "design": other.get("design"), "ratio": e.ratio,
            "ci": list(e.ci),
            "speedup": 1 / e.ratio, "speedup_ci": [1 / e.ci[1], 1 / e.ci[0]]}


def answer(
    workloads: list[Workload],
    cells: dict[str, dict],
    samples: Callable[[str, str], st.ProcessSamples],
    controls: set[str],
    hypotheses: list[dict],
    seed: int,
    floors: dict[str, float] | None = None,
    costs: wy.Costs | None = None,
) -> list[dict[str, Any]]:
    """One entry per workload (module docstring); JSON-ready. ``costs``: the interpreter's
    cost model (impl/report/why.py), for each row's counted why."""
    floors = floors or {}
    out = []
    for w in workloads:
        entry: dict[str, Any] = {"workload": w.name, "scenario": w.scenario, "params": w.params,
                                 "metric": w.metric}
        unique = ranked(cells, w, controls)
        entry["ranking"] = [{"label": c["label"], "cell_id": c["cell_id"],
                             "median": c["metrics"][w.metric]["median"]} for c in unique]
        entry["verdicts"] = [{"id": h["id"], "verdict": h["verdict"]} for h in hypotheses
                             if h["scenario"] == w.scenario]
        entry["placements"] = secondary_placements(cells, w, controls)
        if len(unique) < 2:
            entry["status"] = "not measured in this run" if not unique else "one design only"
            out.append(entry)
            continue
        fast, runner = unique[0], unique[1]
        entry["fastest"] = fast["label"]
        try:
            entry["runner_up"] = _versus(w, fast, runner, samples, seed)
            # the hypotheses' rule: beyond the threshold, raised to an A/A bias if any
            entry["threshold"] = effective_threshold(w.metric, DEFAULT_THRESHOLD, floors)
            entry["clear"] = eff.side(entry["runner_up"]["ci"], entry["threshold"]) < 0
            entry["references"] = [_versus(w, fast, c, samples, seed) for c in unique[1:]
                                   if c.get("design") in REFERENCE_DESIGNS]
        except (eff.PairingError, ValueError) as exc:
            entry.update(status=f"no interval ({exc})", clear=False, references=[])
            out.append(entry)
            continue
        entry["status"] = "ok"
        # the counted cost that accounts for the gap to the runner-up (impl/report/why.py)
        entry["why_counted"] = wy.explain_cells(fast, runner, w.metric, costs)[0]
        entry["why"] = [{"counter": k,
                         "fastest": (fast["metrics"].get(k) or {}).get("per_op"),
                         "runner_up": (runner["metrics"].get(k) or {}).get("per_op")}
                        for k in w.why]
        out.append(entry)
    return out
