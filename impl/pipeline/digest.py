"""The terminal digest at the end of a run: at most 10 lines, verdicts and where to read.

Snakemake's own output lists every job; the person who started the study
wants the answer and the path to the summary. Read from the summary's JSON
(impl.report.build), so the digest can never say something the summary does
not.
"""

from __future__ import annotations

import json
from pathlib import Path

#: the most lines the digest prints (the person who started the run wants the verdicts, not a log)
MAX_LINES = 10
#: hypotheses per line in the verdict list
PER_LINE = 3


def digest(summary_md: str | Path) -> list[str]:
    """Lines to print after a successful run; one line naming the file if its JSON is unreadable."""
    md = Path(summary_md)
    try:
        doc = json.loads(md.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return [f"eventloop-tournament: summary at {md} (its JSON is unreadable)"]
    run = doc.get("run", {})
    profiles = ", ".join(str(p) for p in doc.get("platform", {}).get("profile", [])) or "?"
    lines = [f"eventloop-tournament: done. Summary: {md} (profile {profiles}; "
             f"{run.get('n_ok', '?')} of {run.get('n_planned', '?')} cells measured, "
             f"{run.get('n_failed', 0)} failed or missing)"]
    if doc.get("smoke"):
        lines.append("  smoke run: indicative only; `snakemake --cores 10` runs the study")
    waited = run.get("busy_wait_s") or 0
    if waited > 0:
        cells = run.get("cells_busy_waited") or 0
        # a burst of someone else's work: the runner waited it out (impl.runner.manager)
        lines.append(f"  machine busy: the runner waited {_duration(waited)} in all for a quiet "
                     f"machine, in {cells} cell{'' if cells == 1 else 's'}")
    pick = doc.get("pick") or {}
    if pick.get("pick"):
        # the summary's order: the design that runs every queued task at shutdown first
        top, safe = pick["pick"], pick.get("conserving_pick")
        first = safe or top
        line = (f"  pick: {first['label']} (at most {first['ratio']:.2f}x behind the fastest "
                f"on any workload)")
        if safe:
            line += f"; {top['label']} if you may lose queued tasks at shutdown"
        lines.append(line)
    hyps = [f"{h['id']} {h['verdict']}" for h in doc.get("hypotheses", [])]
    rows = [" | ".join(hyps[i:i + PER_LINE]) for i in range(0, len(hyps), PER_LINE)]
    for fam, floor in sorted((doc.get("floors") or {}).items()):
        rows.append(f"A/A: miscalibrated for {fam} (bias {floor:.0%}): its thresholds are raised")
    room = MAX_LINES - len(lines)
    if len(rows) > room:
        rows = rows[: room - 1] + [f"... ({len(rows) - room + 1} more lines in the summary)"]
    return lines + [f"  {r}" for r in rows]


def _duration(seconds: float) -> str:
    """``45 s``, ``3 min 20 s``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 60} min {whole % 60} s"
