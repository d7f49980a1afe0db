"""Re-render a measured study's summary with this checkout's code and diff it with the one
the study wrote: a refactor of the report must not change a printed number.

    python scripts/rerender_check.py STUDY [--profile NAME] [--keep DIR]

STUDY is the checkout the study ran in (it holds ``config.yaml``,
``results/PROFILE/all.parquet`` and the summary it rendered, ``report/`` or
``report/PROFILE/``). The summary is rendered again from the same Parquet file
and the same config, with the code of the checkout this script is in, into a
temporary folder (``--keep DIR`` keeps it), then compared: SUMMARY.md and
DETAILS.md line by line, every plot byte by byte, and SUMMARY.json field by field
(a field only the new document has is named, not counted: it changes no printed
value; the printed values' provenance is compared in any order). Exit 0 when
identical, 1 with a unified diff (at most ``--lines`` lines) otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: SUMMARY.json fields compared as a multiset: the provenance of each printed value (value,
#: text, document path) must be the same, in whatever order the templates print them
UNORDERED_JSON = ("printed",)


class BadStudy(ValueError):
    """The folder holds no study to re-render (one line naming it)."""


def _render(study_dir: Path, profile: str | None, out: Path) -> Path:
    """The summary of ``study_dir``'s results rendered by this checkout's code into ``out``."""
    from impl.pipeline import cells as cellmod
    from impl.report import build_summary
    from impl.study import load

    study = load(study_dir / "config.yaml")
    if profile:
        study = type(study)({**study.raw, "profile": profile})
    layout = cellmod.Layout(study.profile_name)
    if not (study_dir / layout.all_parquet).is_file():
        found = sorted(p.parent.name for p in (study_dir / "results").glob("*/all.parquet"))
        if profile is None and len(found) == 1:  # the one profile this checkout measured
            return _render(study_dir, found[0], out)
        raise BadStudy(f"{study_dir / layout.all_parquet}: no such file; allowed: --profile "
                       f"{' | '.join(found) or '(none measured here)'}")
    expected = [c.expected() for c in cellmod.expand(study)]
    cwd = Path.cwd()
    os.chdir(study_dir)  # the document records its inputs by the paths the pipeline used
    try:
        build_summary(Path(layout.all_parquet), [], study, out, expected, [])
    finally:
        os.chdir(cwd)
    return study_dir / layout.report


#: fields only the new document has (reported, not a difference: nothing printed changed)
ADDED: set[str] = set()


def _json_diff(a: object, b: object, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if not path and k in UNORDERED_JSON and k in a and k in b:
                def key(x: object) -> str:
                    return json.dumps(x, sort_keys=True)

                out += _json_diff(sorted(a[k], key=key), sorted(b[k], key=key), f"/{k}")
                continue
            if k not in b:
                out.append(f"{path}/{k}: only in the old document")
            elif k not in a:
                ADDED.add(f"{path}/{k}")  # a new field changes no printed number
            else:
                out += _json_diff(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _json_diff(x, y, f"{path}/{i}")]
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"[:300]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", type=Path)
    p.add_argument("--profile", default=None, help="the study's profile (default: its config's)")
    p.add_argument("--keep", type=Path, default=None, help="render into this folder and keep it")
    p.add_argument("--lines", type=int, default=80, help="show at most this many diff lines")
    args = p.parse_args(argv)
    study_dir = args.study.resolve()
    if not (study_dir / "config.yaml").is_file():
        print(f"rerender_check: {args.study}: no config.yaml; allowed: the checkout a study "
              "ran in", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="rerender-") as tmp:
        out = args.keep.resolve() if args.keep else Path(tmp)
        try:
            old = _render(study_dir, args.profile, out)
        except BadStudy as exc:
            print(f"rerender_check: {exc}", file=sys.stderr)
            return 2
        problems: list[str] = []
        for name in ("SUMMARY.md", "DETAILS.md"):
            a = (old / name).read_text().splitlines()
            b = (out / name).read_text().splitlines()
            diff = list(difflib.unified_diff(a, b, f"old/{name}", f"new/{name}", lineterm=""))
            problems += diff
            print(f"{name}: {len(a)} lines, {'identical' if not diff else 'DIFFERENT'}")
        plots_a = {q.name: q.read_bytes() for q in (old / "plots").glob("*.png")}
        plots_b = {q.name: q.read_bytes() for q in (out / "plots").glob("*.png")}
        differ = sorted(n for n in set(plots_a) | set(plots_b) if plots_a.get(n) != plots_b.get(n))
        problems += [f"plot differs or is missing: {n}" for n in differ]
        print(f"plots: {len(plots_a)} files, {'identical' if not differ else 'DIFFERENT'}")
        doc_a = json.loads((old / "SUMMARY.json").read_text())
        doc_b = json.loads((out / "SUMMARY.json").read_text())
        jd = _json_diff(doc_a, doc_b)
        problems += jd
        print(f"SUMMARY.json: {'identical' if not jd else 'DIFFERENT'} "
              f"({', '.join(UNORDERED_JSON)} compared in any order)")
        if ADDED:
            added = sorted({re.sub(r"/\d+(?=/|$)", "/*", a) for a in ADDED})
            print(f"  fields only the new document has: {', '.join(added)}")
    for line in problems[: args.lines]:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
