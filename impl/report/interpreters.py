"""The study's questions asked once per interpreter, and what the GIL changes.

A study may declare several interpreters (impl.study.interpreters): the primary one, whose
cells the summary's main sections describe, and others (a free-threaded CPython with the GIL
off, and the same binary with it on). Every other interpreter's cells carry an
``interpreter`` parameter; ``view`` gives them as if they were the primary one's (that
parameter dropped, ids unchanged), so the hypotheses, the answer, the pick and the Go
findings are decided on them by the very same code and rules. Each interpreter is its own
family of verdicts: its comparisons are corrected among themselves (1 - alpha/m, m its own
comparisons), as the primary's are.

"What the GIL changes" compares two interpreters that run the same binary, one with the GIL
on and one with it off (the same ``python``, ``gil: true`` / ``gil: false``): per design and
answer workload, median(GIL on) / median(GIL off) with its 95 % interval (the answer's
descriptive statistic); above 1, the design is faster without the GIL. Only the same binary
isolates the GIL from the build (3.13t has no specialising interpreter: it is slower than
3.11 per op whatever the GIL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from impl.contract import INTERPRETER_PARAM
from impl.report import answer as ans
from impl.report import effects as eff
from impl.report import stats as st
from impl.study import DEFAULT_THRESHOLD, Study
from impl.study.interpreters import Interpreter, of_params

#: the level of "What the GIL changes" (descriptive, like the answer's)
CONFIDENCE = st.CONFIDENCE


def view(cells: dict[str, dict], study: Study, name: str) -> dict[str, dict]:
    """The cells of interpreter ``name`` as if it were the primary one: the ``interpreter``
    parameter dropped (every question then matches them as declared), ids unchanged."""
    out = {}
    for cid, c in cells.items():
        if of_params(c.get("params") or {}, study.primary_interpreter.name) != name:
            continue
        params = {k: v for k, v in (c.get("params") or {}).items() if k != INTERPRETER_PARAM}
        out[cid] = {**c, "params": params}
    return out


def not_applicable(cells: dict[str, dict]) -> dict[str, str]:
    """label -> why it cannot run under this interpreter (its cells' recorded reason)."""
    out: dict[str, str] = {}
    for c in cells.values():
        if c.get("status") == "not_applicable":
            out.setdefault(str(c["label"]), str(c.get("reason") or ""))
    return out


def asked(study: Study, it: Interpreter, cells: dict[str, dict]) -> Study:
    """``study`` as this interpreter's cells can answer it: each hypothesis without the
    labels that cannot run here (a comparison with uvloop under a free-threaded python is
    not applicable, not a retest), a hypothesis left with no other side dropped, and so is
    one whose scenario the interpreter does not measure (``scenarios``); none (and no A/A
    control) for an interpreter measured at the answer's points only."""
    if not it.asks_hypotheses:
        return study.with_hypotheses([], controls=[])
    gone = set(not_applicable(cells))
    hyps = []
    for h in study.hypotheses:
        if h.a in gone or not it.measures(h.scenario):
            continue
        b = tuple(x for x in h.b if x not in gone)
        if b:
            hyps.append(h if b == h.b else replace(h, b=b))
    controls = [h for h in study.controls if it.measures(h.scenario)]
    return study.with_hypotheses(hyps, controls=controls)


def gil_pairs(study: Study) -> list[tuple[Interpreter, Interpreter]]:
    """(GIL on, GIL off) pairs of measured interpreters that run the same python."""
    its = study.measured_interpreters()
    return [(on, off) for on in its for off in its
            if on.gil is True and off.gil is False and on.python == off.python]


def gil_changes(study: Study, cells: dict[str, dict],
                samples: Callable[[str, str], st.ProcessSamples], seed: int) -> list[dict]:
    """Per GIL pair and answer workload, per design measured under both: median(on) /
    median(off) with its interval (module docstring); JSON-ready."""
    out = []
    controls = study.control_labels
    for on, off in gil_pairs(study):
        von, voff = view(cells, study, on.name), view(cells, study, off.name)
        rows = []
        for w in study.workloads:
            a = {c["label"]: c for c in ans.ranked(von, w, controls)}
            b = {c["label"]: c for c in ans.ranked(voff, w, controls)}
            for label in [x for x in study.label_order if x in a and x in b]:
                row = {"workload": w.name, "metric": w.metric, "label": label,
                       "design": a[label].get("design"),
                       "on": a[label]["metrics"][w.metric]["median"],
                       "off": b[label]["metrics"][w.metric]["median"]}
                try:
                    e = eff.compare_cells(samples, a[label]["cell_id"], b[label]["cell_id"],
                                          w.metric, CONFIDENCE, seed)
                    row.update(ratio=e.ratio, ci=list(e.ci),
                               side=eff.side(e.ci, DEFAULT_THRESHOLD))
                except (eff.PairingError, ValueError) as exc:
                    row.update(ratio=row["on"] / row["off"] if row["off"] else None, ci=None,
                               side=0, note=str(exc))
                rows.append(row)
        out.append({"on": on.name, "off": off.name, "python": on.python, "rows": rows})
    return out


def changed_verdicts(primary: list[dict], others: list[dict]) -> list[dict]:
    """Per hypothesis, its verdict under each interpreter where any differs from another's."""
    by_id: dict[str, dict[str, str]] = {}
    for it in [{"name": None, "hypotheses": primary}, *others]:
        for h in it["hypotheses"]:
            by_id.setdefault(h["id"], {})[it["name"] or ""] = h["verdict"]
    return [{"id": hid, "verdicts": v} for hid, v in by_id.items() if len(set(v.values())) > 1]
