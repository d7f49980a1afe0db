"""How stable the verdicts are: the same comparisons across independent runs.

Reads two or more summary documents (``report/SUMMARY.json`` or
``report/quick/SUMMARY.json`` of independent runs: fresh results each) and
prints, per comparison, its verdict in every run, then:

* the share of hypothesis comparisons whose verdict agrees across all runs;
* contradictions (VALIDATED in one run, REJECTED in another), naming those
  whose interval touches a threshold edge (comes within ``EDGE`` of it, in log
  ratio) in both runs;
* per run, the share of hypothesis comparisons decided (VALIDATED or REJECTED);
* per run and metric family, the A/A interval and whether it excludes 1
  ("different": the run is miscalibrated for that family, the A/A rule).

A study with several interpreters (config ``interpreters``) is counted per interpreter:
another interpreter's comparisons are keyed ``[NAME] key`` and every share is printed for
each interpreter apart (issue 26: >= 90 % identical per interpreter).

The targets: at least 90 % identical verdicts across the quick runs and
across the default runs, no contradiction, A/A never "different", at least
70 % decided in each default run, the latency A/A interval within +-15 % in
the default. Usage:

    python benchmarks/verdict_agreement.py RUN1/report/quick/SUMMARY.json RUN2/... [...]

A file that is missing or not a summary document: one line naming it, exit 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

DECIDED = ("VALIDATED", "REJECTED")
#: an interval end this close to a threshold boundary (in log ratio, ~2 %) touches it
EDGE = 0.02


def load(path: Path) -> dict:
    """A summary document; SystemExit(2) with one line naming the file when it is not one."""
    try:
        doc = json.loads(path.read_text())
        doc["comparisons"]  # noqa: B018 - the field every summary document has
    except (OSError, ValueError, KeyError, TypeError) as exc:
        what = exc.strerror if isinstance(exc, OSError) else "not a summary document"
        print(f"verdict_agreement: {path}: {what}; allowed: a SUMMARY.json written by the "
              "pipeline", file=sys.stderr)
        raise SystemExit(2) from None
    return doc


def parts(doc: dict) -> dict[str, dict]:
    """{interpreter: the part of the document with its comparisons and calibration}: the
    primary one ("") and every other one (``doc["interpreters"]``)."""
    return {"": doc, **{p["name"]: p for p in doc.get("interpreters", [])}}


def verdicts(doc: dict) -> dict[str, dict]:
    """{comparison key: the comparison's record} (A/A controls included); another
    interpreter's keys are ``[NAME] key``."""
    return {(f"[{name}] " if name else "") + c["key"]: c
            for name, part in parts(doc).items() for c in part["comparisons"]}


def interpreter_of(key: str) -> str:
    return key[1:key.index("]")] if key.startswith("[") else ""


def is_aa(c: dict) -> bool:
    return c["hypothesis"].startswith("A/A")


def touches_edge(c: dict) -> bool:
    """The comparison's interval ends within EDGE of a boundary of its effective threshold."""
    ci, t = c.get("ci"), c.get("threshold_eff") or c.get("threshold")
    if not ci or t is None or not all(x and x > 0 and math.isfinite(x) for x in ci):
        return False
    bounds = (math.log1p(t), -math.log1p(t))
    return any(abs(math.log(x) - b) < EDGE for x in ci for b in bounds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("summaries", nargs="+", type=Path, help="SUMMARY.json of each run")
    args = ap.parse_args(argv)
    docs = [load(p) for p in args.summaries]
    runs = [verdicts(d) for d in docs]
    keys = sorted(set().union(*runs))
    width = max(len(k) for k in keys)
    print(f"{'comparison':<{width}}  " + "  ".join(f"run {i + 1:<10}" for i in range(len(runs))))
    agree: dict[str, int] = {}
    tested: dict[str, int] = {}
    contradictions = []
    for key in keys:
        row = [r.get(key, {}).get("verdict", "-") for r in runs]
        print(f"{key:<{width}}  " + "  ".join(f"{v:<14}" for v in row))
        if any(is_aa(r[key]) for r in runs if key in r):
            continue
        name = interpreter_of(key)
        tested[name] = tested.get(name, 0) + 1
        agree[name] = agree.get(name, 0) + (len(set(row)) == 1)
        if {"VALIDATED", "REJECTED"} <= set(row):
            edge = all(touches_edge(r[key]) for r in runs if key in r)
            contradictions.append(key + (" (its interval touches a threshold edge in every "
                                         "run)" if edge else ""))
    print()
    for name in tested:
        under = f" under {name}" if name else ""
        print(f"hypothesis comparisons{under}: {tested[name]}; "
              f"same verdict in every run: {agree[name]} "
              f"({agree[name] / max(tested[name], 1):.0%})")
    print(f"VALIDATED <-> REJECTED contradictions: {len(contradictions)}"
          + "".join(f"\n  {k}" for k in contradictions))
    different = 0
    for i, (path, doc, r) in enumerate(zip(args.summaries, docs, runs, strict=True)):
        for name, part in parts(doc).items():
            mine = [c["verdict"] for k, c in r.items()
                    if not is_aa(c) and interpreter_of(k) == name]
            decided = sum(v in DECIDED for v in mine)
            under = f" under {name}" if name else ""
            print(f"run {i + 1} ({path}){under}: decided {decided} of {len(mine)} "
                  f"({decided / max(len(mine), 1):.0%})")
            for fam, k in sorted((part.get("calibration") or {}).items()):
                ci = k.get("ci")
                if not ci:
                    print(f"  A/A {fam}: no interval ({k.get('status')})")
                    continue
                excludes = ci[0] > 1 or ci[1] < 1
                different += excludes
                reach = max(abs(ci[0] - 1), abs(ci[1] - 1))
                print(f"  A/A {fam}: {ci[0]:.3f}-{ci[1]:.3f} ({k.get('confidence', 0):.2%}), "
                      f"{'EXCLUDES 1 (different)' if excludes else 'contains 1'}, "
                      f"within +-{reach:.0%}")
    print(f"A/A intervals that exclude 1 ('different') in any run: {different}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
