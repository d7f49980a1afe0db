"""How stable the verdicts are: the same comparisons across independent runs.

Reads two or more summary documents (``report/SUMMARY.json`` or
``report/quick/SUMMARY.json`` of independent runs: fresh results each) and
prints, per comparison, its verdict in every run, then the share of
comparisons whose verdict agrees across all runs, the A/A controls' verdicts
(VALIDATED there would mean identical code measured "different") and, per
run, the share of hypothesis comparisons that were decided (VALIDATED or
REJECTED). Issue 10's targets: at least 90 % agreement across quick runs, no
A/A "different", at least 70 % decided in a default run. Usage:

    python benchmarks/verdict_agreement.py RUN1/report/quick/SUMMARY.json RUN2/... [...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DECIDED = ("VALIDATED", "REJECTED")


def verdicts(doc: dict) -> dict[str, tuple[str, bool]]:
    """{comparison key: (verdict, is an A/A control)}."""
    return {c["key"]: (c["verdict"], c["hypothesis"].startswith("A/A"))
            for c in doc["comparisons"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("summaries", nargs="+", type=Path, help="SUMMARY.json of each run")
    args = ap.parse_args(argv)
    runs = [verdicts(json.loads(p.read_text())) for p in args.summaries]
    keys = sorted(set().union(*runs))
    width = max(len(k) for k in keys)
    print(f"{'comparison':<{width}}  " + "  ".join(f"run {i + 1:<10}" for i in range(len(runs))))
    agree = tested = 0
    aa_different = []
    for key in keys:
        row = [r.get(key, ("-", False))[0] for r in runs]
        is_aa = any(r.get(key, ("", False))[1] for r in runs)
        print(f"{key:<{width}}  " + "  ".join(f"{v:<14}" for v in row))
        if is_aa:
            aa_different += [key for v in row if v == "VALIDATED"]
            continue
        tested += 1
        agree += len(set(row)) == 1
    print()
    print(f"hypothesis comparisons: {tested}; same verdict in every run: {agree} "
          f"({agree / max(tested, 1):.0%})")
    print(f"A/A comparisons 'different' (VALIDATED) in any run: {len(aa_different)}"
          + (f" ({', '.join(sorted(set(aa_different)))})" if aa_different else ""))
    for i, (path, r) in enumerate(zip(args.summaries, runs, strict=True)):
        mine = [v for v, aa in r.values() if not aa]
        decided = sum(v in DECIDED for v in mine)
        print(f"run {i + 1} ({path}): decided {decided} of {len(mine)} "
              f"({decided / max(len(mine), 1):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
