"""Compare two studies cell by cell (what pyperf's ``compare_to`` and benchstat give their users).

``python -m impl.report.compare OLD NEW [--threshold T] [--confidence C] [--out FILE.md]``

OLD and NEW are two studies' ``all.parquet`` files, or folders holding one
(``results/full``, or ``results`` when it holds a single profile's). For every
cell both measured, and every time metric both recorded (``contract.Metric.family``
is not None: ns per op, latency, burst, drain), the table gives the old and new
median over processes, the ratio new/old with its interval and a verdict:

* the ratio and interval are the verdicts' statistic (``effects.hl_interval``): the
  Hodges-Lehmann estimate of the log ratio over process values, its interval inverting
  the (stratified) Wilcoxon-Mann-Whitney test at ``confidence`` (default 95 %, benchstat's
  alpha = 0.05, uncorrected like benchstat's). Processes are paired within a host both
  studies ran on; two studies on different machines are compared as one stratum, with a
  warning: the ratio then includes the machines' difference;
* verdict ``~``: the interval contains 1 (no difference at this level);
  ``slower``/``faster``: the whole interval beyond the threshold (default: the study's own
  A/A threshold, config ``aa_control.threshold``); ``slower, under T``/``faster, under T``:
  a difference, all of its interval within the threshold; ``slower, size unclear``/
  ``faster, size unclear``: a difference whose interval straddles the threshold.

Cells measured by one study only are listed, and a warning line is printed when the
studies differ in machine (host, CPU model, CPU count), Python, profile or code version
(git commit, and the cells whose source hash changed). The Markdown goes to stdout and,
atomically, to ``--out`` (default ``compare.md``). Bad input (a path that is not a study,
a folder with several, an option out of range) is one line naming it, exit 2, before
anything is read.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from impl import contract
from impl.report import fmt
from impl.report.effects import hl_interval, side
from impl.report.load import Measurements, cell_rows, load, process_samples
from impl.report.tables import UNBOUNDED

ALL_PARQUET = "all.parquet"
EXIT_BAD_INPUT = contract.EXIT_BAD_INPUT
DEFAULT_CONFIDENCE = 0.95
DEFAULT_OUT = "compare.md"
NOT_SIGNIFICANT = "~"
#: the metadata fields whose difference between the studies is worth a warning line
CONTEXT_FIELDS: tuple[tuple[str, str], ...] = (
    ("host", "machine"), ("cpu_model", "CPU model"), ("cpu_count", "CPU count"),
    ("python_version", "Python"), ("profile", "profile"), ("git_commit", "code version"),
)


class StudyError(ValueError):
    """A path that is not a study (one line: the culprit and what is allowed)."""


def default_threshold() -> float:
    """The study's own A/A threshold (config.yaml ``aa_control.threshold``, else the default)."""
    from impl.study import load

    return load().aa_threshold


def study_file(path: str | Path) -> Path:
    """The all.parquet a command-line path names; raises StudyError (one line) otherwise."""
    p = Path(path)
    if p.is_dir():
        if (p / ALL_PARQUET).is_file():
            p = p / ALL_PARQUET
        else:
            found = sorted(p.glob(f"*/{ALL_PARQUET}"))
            if len(found) != 1:
                allowed = (f"one of {', '.join(str(f.parent) for f in found)}" if found
                           else f"a folder holding {ALL_PARQUET} (e.g. results/full)")
                raise StudyError(f"{path}: no single study in this folder; allowed: {allowed}")
            p = found[0]
    elif not p.is_file():
        raise StudyError(f"{path}: no such file or folder; allowed: a study's {ALL_PARQUET} "
                         "or the folder holding it (e.g. results/full)")
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(p).names)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise StudyError(f"{path}: not a Parquet file ({exc}); allowed: a study's "
                         f"{ALL_PARQUET}") from None
    missing = [c for c in contract.COLUMN_NAMES if c not in names]
    if missing:
        raise StudyError(f"{path}: not a study's table (no column {missing[0]!r}); allowed: "
                         f"a study's {ALL_PARQUET} (impl/contract.py columns)")
    return p


@dataclass(frozen=True)
class Row:
    """One shared cell and metric: old and new medians over processes (unit: the metric's,
    ns), the ratio new/old with its interval (``lo``, ``hi``; ends may be 0/inf when the
    level is out of reach) and the verdict."""

    cell_id: str
    metric: str
    n_old: int
    n_new: int
    median_old: float
    median_new: float
    ratio: float
    lo: float
    hi: float
    verdict: str


def verdict(lo: float, hi: float, threshold: float) -> str:
    """``~`` / ``slower`` / ``faster`` / ``slower, under T`` / ``faster, under T`` (module
    docstring) for a time metric's ratio new/old with interval [lo, hi]."""
    if lo <= 1 <= hi:
        return NOT_SIGNIFICANT
    word = "slower" if lo > 1 else "faster"
    if side((lo, hi), threshold):
        return word
    if 1 / (1 + threshold) <= lo and hi <= 1 + threshold:
        return f"{word}, under {_pct(threshold)}"
    return f"{word}, size unclear"  # the interval straddles the threshold


def compare_cell(old: Measurements, new: Measurements, cell_id: str, metric: str,
                 confidence: float, threshold: float) -> Row | None:
    """The row of one shared cell and metric, or None when either side has no positive
    process value of it. Strata: one per host both ran on, else one over every process."""
    a = process_samples(cell_rows(new, cell_id, metric), metric)
    b = process_samples(cell_rows(old, cell_id, metric), metric)
    if a.n == 0 or b.n == 0 or np.any(a.values <= 0) or np.any(b.values <= 0):
        return None
    hosts = sorted(set(a.hosts) & set(b.hosts))
    parts = [(a.on_host(h), b.on_host(h)) for h in hosts] or [(a, b)]
    est, lo, hi = hl_interval([np.log(x.values) for x, _ in parts],
                              [np.log(y.values) for _, y in parts], confidence)
    lo, hi = math.exp(lo), math.exp(hi)
    return Row(cell_id, metric, b.n, a.n, float(np.median(b.values)),
               float(np.median(a.values)), math.exp(est), lo, hi,
               verdict(lo, hi, threshold))


def time_metrics(m: Measurements) -> dict[str, set[str]]:
    """{cell_id: its time metrics with an A/A family} (the metrics a comparison decides on)."""
    pairs = m.rows[["cell_id", "metric"]].drop_duplicates()
    out: dict[str, set[str]] = {}
    for cid, metric in pairs.itertuples(index=False):
        spec = contract.METRICS.get(metric)
        if spec is not None and spec.family is not None:
            out.setdefault(str(cid), set()).add(str(metric))
    return out


def _values(m: Measurements, key: str) -> set[str]:
    return {str(blob[key]) for blob in m.meta.values() if blob.get(key) not in (None, "")}


def warnings(old: Measurements, new: Measurements, shared: Sequence[str]) -> list[str]:
    """One line per context field in which the studies differ (CONTEXT_FIELDS), and one for
    the shared cells whose design, scenario or runner code changed (source hash)."""
    lines = []
    for key, what in CONTEXT_FIELDS:
        a, b = _values(old, key), _values(new, key)
        if a and b and a != b:
            lines.append(f"{what} differs: old {', '.join(sorted(a))}; new {', '.join(sorted(b))}")
    changed = [c for c in shared
               if old.meta.get(c, {}).get("source_hash") != new.meta.get(c, {}).get("source_hash")]
    if changed:
        lines.append(f"code of {len(changed)} of {len(shared)} shared cells changed (source "
                     f"hash), e.g. {changed[0]}")
    if not set(old.rows["host"].dropna()) & set(new.rows["host"].dropna()):
        lines.append("no host in common: each ratio includes the machines' difference")
    return lines


def _pct(fraction: float) -> str:
    return f"{fraction * 100:g} %"


def _ratio(r: Row) -> str:
    ends = ", ".join(UNBOUNDED if not (math.isfinite(x) and x > 0) else fmt.sig(x)
                     for x in (r.lo, r.hi))
    return f"{fmt.sig(r.ratio)}x ({ends})"


def render(old_path: Path, new_path: Path, rows: list[Row], only_old: list[str],
           only_new: list[str], notes: list[str], confidence: float, threshold: float) -> str:
    """The comparison as Markdown (one table per metric, benchstat's layout)."""
    level, t = _pct(confidence), _pct(threshold)
    out = [f"# {new_path} vs {old_path}", "",
           f"Ratio new/old: Hodges-Lehmann over processes, {level} interval. `~`: the interval "
           f"contains 1; slower/faster: all of it beyond ±{t}; 'under {t}': all of it within "
           f"±{t}; 'size unclear': it straddles ±{t}.",
           ""]
    out += [f"> **warning:** {n}" for n in notes]
    if notes:
        out.append("")
    for metric in sorted({r.metric for r in rows}):
        mine = [r for r in rows if r.metric == metric]
        geo = math.exp(float(np.mean([math.log(r.ratio) for r in mine])))
        counts = {v: sum(r.verdict.split(",")[0] == v for r in mine)
                  for v in ("slower", "faster", NOT_SIGNIFICANT)}
        out += [f"## {metric} (lower is faster)", "",
                f"{len(mine)} cells: {counts['slower']} slower, {counts['faster']} faster, "
                f"{counts[NOT_SIGNIFICANT]} `~`; geometric mean of the ratios {fmt.sig(geo)}x.",
                "", "| cell | old median | new median | processes old/new | new/old "
                f"({level}) | verdict |", "|---|---:|---:|---:|---:|---|"]
        for r in mine:
            out.append(f"| `{r.cell_id}` | {fmt.duration_ns(r.median_old, 'old')} | "
                       f"{fmt.duration_ns(r.median_new, 'new')} | {r.n_old}/{r.n_new} | "
                       f"{_ratio(r)} | {r.verdict} |")
        out.append("")
    for what, cells in (("old", only_old), ("new", only_new)):
        if cells:
            out += [f"## Only in the {what} study ({len(cells)})", "",
                    *[f"- `{c}`" for c in cells], ""]
    if not rows:
        out += ["No cell and metric measured by both studies.", ""]
    return "\n".join(out)


def compare_studies(old_path: Path, new_path: Path, confidence: float, threshold: float
                    ) -> str:
    """Load both studies and return the Markdown (``render``)."""
    old, new = load(old_path, []), load(new_path, [])
    m_old, m_new = time_metrics(old), time_metrics(new)
    shared = sorted(set(m_old) & set(m_new))
    rows = [row for cid in shared for metric in sorted(m_old[cid] & m_new[cid])
            if (row := compare_cell(old, new, cid, metric, confidence, threshold))]
    return render(old_path, new_path, rows, sorted(set(m_old) - set(m_new)),
                  sorted(set(m_new) - set(m_old)), warnings(old, new, shared), confidence,
                  threshold)


def _fraction(name: str, lo: float, hi: float):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        if not lo < v < hi:
            raise argparse.ArgumentTypeError(f"bad value {text!r}; allowed: a number in "
                                             f"({lo:g}, {hi:g})")
        return v
    parse.__name__ = name
    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse would print usage too)
        sys.stderr.write(f"compare: {message}; see --help\n")
        sys.exit(EXIT_BAD_INPUT)


def main(argv: Sequence[str] | None = None) -> int:
    p = _Parser(prog="python -m impl.report.compare",
                description="Compare two studies cell by cell (new vs old).")
    p.add_argument("old", help=f"the old study: its {ALL_PARQUET} or the folder holding it")
    p.add_argument("new", help=f"the new study: its {ALL_PARQUET} or the folder holding it")
    p.add_argument("--threshold", type=_fraction("threshold", 0, 10), default=None,
                   help="a change smaller than this fraction is 'under' it (default: "
                   "config.yaml aa_control.threshold)")
    p.add_argument("--confidence", type=_fraction("confidence", 0, 1),
                   default=DEFAULT_CONFIDENCE, help="level of each interval (default 0.95)")
    p.add_argument("--out", default=DEFAULT_OUT, help="Markdown file written (default "
                   f"{DEFAULT_OUT})")
    args = p.parse_args(argv)
    try:
        old, new = study_file(args.old), study_file(args.new)
    except StudyError as exc:
        sys.stderr.write(f"compare: {exc}\n")
        return EXIT_BAD_INPUT
    out = Path(args.out)
    if out.is_dir() or not out.parent.is_dir():
        sys.stderr.write(f"compare: --out: cannot write {args.out!r}; allowed: a file path in "
                         "an existing folder\n")
        return EXIT_BAD_INPUT
    threshold = default_threshold() if args.threshold is None else args.threshold
    text = compare_studies(old, new, args.confidence, threshold)
    contract.write_atomic(out, text + "\n")
    sys.stdout.write(text + f"\n(written: {out})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
