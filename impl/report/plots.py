"""PNG plots next to the summary, drawn from the summary document only.

Per-op metrics against every swept numeric parameter (submit cost vs
producers, per-task cost vs burst size or vs budget: the axis is named after
the parameter that was actually varied, so a burst curve is never labelled a
budget curve), and latency percentile curves (one panel per parameter value,
small multiples, at most 3 per row), one point per implementation where nothing
is swept (continuous), and a forest plot of every comparison. Every
implementation keeps one colour in every plot (the Okabe-Ito palette, readable
with the common colour-vision deficiencies), A/A control labels are left out
(they are noise checks, not contenders), so a panel holds at most 8 series;
times are labelled in ns/us/ms. Missing data skips a plot and says so.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from impl.contract import (  # noqa: E402
    PLOTS_DIR,
    POOLED_METRICS,
    TIME_PER_OP_METRICS,
    write_atomic,
)
from impl.report.document import Comparison, Plot, Summary  # noqa: E402
from impl.report.fmt import TIME_UNITS  # noqa: E402
from impl.report.stats import CONFIDENCE  # noqa: E402
from impl.report.tables import (  # noqa: E402
    at_primary,
    choose_column,
    shown_params,
    shown_value,
    sort_key,
    varying,
)

#: Okabe and Ito (2008), "Color Universal Design": distinguishable with deuteranopia,
#: protanopia and tritanopia; one per implementation, in config order
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
           "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: small multiples wrap after this many panels (3 x 3.6 in + margins fits a page)
MAX_PANELS_PER_ROW = 3


def _style(label: str, label_order: list[str]) -> dict:
    """The label's fixed colour and marker (same in every plot of the run)."""
    i = label_order.index(label) if label in label_order else len(label_order)
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)]}


def _ns_label(v: float, _pos=None) -> str:
    """A tick label in the tables' units, ns/µs/ms/s (plots only: never a printed value)."""
    for scale, unit in reversed(TIME_UNITS):
        if abs(v) >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} ns"


def _time_axis(ax) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(_ns_label))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, p: ""))


def _intervals(ax, pos, lo, hi, color, vertical: bool = True, alpha: float = 1.0) -> None:
    """Interval bars from ``lo`` to ``hi`` at ``pos``, drawn as they are. Not errorbar: a
    hierarchical bootstrap's percentile interval need not contain the median it belongs to
    (bimodal process values), and errorbar refuses the negative error that gives (the
    default study's summary failed on it)."""
    if not len(pos):
        return
    cap = "_" if vertical else "|"
    if vertical:
        ax.vlines(pos, lo, hi, colors=color, linewidth=1, alpha=alpha)
        ax.scatter(list(pos) * 2, list(lo) + list(hi), marker=cap, color=color, s=30,
                   alpha=alpha)
    else:
        ax.hlines(pos, lo, hi, colors=color, linewidth=1, alpha=alpha)
        ax.scatter(list(lo) + list(hi), list(pos) * 2, marker=cap, color=color, s=30,
                   alpha=alpha)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_")


def _save(fig, path: Path) -> None:
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, dpi=100, bbox_inches="tight", format="png"))
    finally:
        plt.close(fig)


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _series(cells: list[dict], column: str, metric: str, label_order: list[str]):
    """(label, row name) -> [(x, median, lo, hi)] over the ok cells of one metric."""
    var = varying(cells)
    rank = {label: i for i, label in enumerate(label_order)}
    out: dict[str, list] = {}
    for c in sorted(cells, key=lambda c: (rank.get(c["label"], len(rank)), c["label"])):
        s = c.get("metrics", {}).get(metric)
        if c["status"] != "ok" or not s or s.get("median") is None:
            continue
        extra = {k: c["params"][k] for k in sorted(var) if k != column and k in c["params"]}
        name = c["label"] + (f" ({shown_params(extra)})" if extra else "")
        ci = s.get("median_ci") or [s["median"], s["median"]]
        out.setdefault((c["label"], name), []).append(
            (c["params"][column], s["median"], ci[0], ci[1]))
    return {k: sorted(v, key=lambda t: sort_key(t[0])) for k, v in out.items()}


def _sweep_plot(cells, column, metric, scenario, label_order, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs_all = [c["params"][column] for c in cells if column in c["params"]]
    # a budget of 0 means unbounded: draw it right of the largest budget on the log axis, two
    # octaves out (at one, its label ran into the largest budget's: "4096" + "0 (unbounded)"
    # read "40960 (unbounded)")
    unbounded_at = None
    if column == "budget" and 0 in xs_all and max(xs_all) > 0:
        unbounded_at = 4 * max(xs_all)

    def place(x):
        return unbounded_at if (unbounded_at is not None and x == 0) else x

    for (label, name), pts in _series(cells, column, metric, label_order).items():
        pts = sorted(pts, key=lambda p: place(p[0]))
        xs = [place(p[0]) for p in pts]
        ys = [p[1] for p in pts]
        style = _style(label, label_order)
        ax.plot(xs, ys, label=name, **style)
        _intervals(ax, xs, [p[2] for p in pts], [p[3] for p in pts], style["color"])
    placed = [place(x) for x in xs_all]
    if placed and min(placed) > 0:
        ax.set_xscale("log", base=2)
    elif placed and max(placed) > 0:
        # a 0 beside positive values (idle_us=0): linear near 0, log beyond, so 0 and 200
        # do not print on top of each other
        ax.set_xscale("symlog", linthresh=min(x for x in placed if x > 0), base=10)
    ticks = sorted(set(placed))
    ax.set_xticks(ticks, [shown_value(column, 0).replace(" ", "\n", 1) if t == unbounded_at
                          else f"{t:g}" for t in ticks])
    ax.minorticks_off()
    # designs differ by up to two orders of magnitude: a linear axis flattens the fast ones
    _time_axis(ax)
    ax.set_xlabel(column)
    ax.set_ylabel(f"median {metric} over processes, 95% interval")
    title = f"{scenario}: median {metric} vs {column}"
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    _save(fig, path)
    return title


def _latency_plot(cells, metric, scenario, pkeys, label_order, path: Path) -> str:
    """Small multiples: one panel per value of the varying parameter, one line per label."""
    var = varying(cells)
    column = choose_column(cells, None) if var else None
    values = sorted({c["params"].get(column) for c in cells}, key=sort_key) if column else [None]
    # at most MAX_PANELS_PER_ROW side by side: a 5-panel strip is wider than a page
    ncols = min(len(values), MAX_PANELS_PER_ROW)
    nrows = -(-len(values) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 1.6, 3.4 * nrows + 0.4),
                             sharey=True, squeeze=False)
    for ax in axes.flat[len(values):]:
        ax.set_visible(False)
    labels = ["median"] + [f"P{k}" for k in pkeys] + ["max"]
    shown: dict[str, object] = {}
    for ax, value in zip(axes.flat, values, strict=False):
        panel = [c for c in cells if column is None or c["params"].get(column) == value]
        for c in sorted(panel, key=lambda c: (label_order.index(c["label"])
                                              if c["label"] in label_order else 99)):
            s = c.get("metrics", {}).get(metric)
            if c["status"] != "ok" or not s:
                continue
            ys = [s["median"]] + [s["percentiles"].get(k) for k in pkeys] + [s["value_max"]]
            cis = ([s.get("median_ci")] + [(s.get("percentile_ci") or {}).get(k) for k in pkeys]
                   + [None])  # the maximum is one value: no interval
            # each label a little to the side, so that the intervals do not hide each other
            shift = 0.06 * (label_order.index(c["label"]) - (len(label_order) - 1) / 2
                            if c["label"] in label_order else 0)
            xs = [i for i, v in enumerate(ys) if v]
            style = _style(c["label"], label_order)
            (line,) = ax.plot([x + shift for x in xs], [ys[i] for i in xs], **style)
            bars = [i for i in xs if cis[i]]
            _intervals(ax, [i + shift for i in bars], [cis[i][0] for i in bars],
                       [cis[i][1] for i in bars], style["color"], alpha=0.8)
            shown.setdefault(c["label"], line)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_title(f"{column}={shown_value(column, value)}" if column else scenario,
                     fontsize=9)
        ax.grid(True, alpha=0.3)
        _time_axis(ax)
    for row in axes:
        row[0].set_ylabel(f"{metric}")
    title = f"{scenario}: {metric}, median over processes and pooled tails"
    fig.suptitle(title + f"\n(bars: {CONFIDENCE:.0%} process-bootstrap intervals; a missing "
                 "point: the tail is not supported by the values, processes or blocks)",
                 fontsize=9)
    fig.tight_layout()
    fig.legend(list(shown.values()), list(shown), fontsize=8, loc="upper center",
               ncol=min(len(shown), 7) or 1, bbox_to_anchor=(0.5, 0.0))
    _save(fig, path)
    return title


def _point_plot(cells, metric, scenario, label_order, path: Path) -> str:
    """A cell per row, no parameter swept along an axis (continuous; wakeup, whose modes
    are categories): median and interval per row, named by its label and the parameters
    that differ between the rows (wakeup's mode), fastest at the top."""
    var = sorted(varying(cells))

    def name(c: dict) -> str:
        extra = {k: c["params"][k] for k in var if k in (c.get("params") or {})}
        return c["label"] + (f" ({shown_params(extra)})" if extra else "")

    rows = [(name(c), c["metrics"][metric], c["label"]) for c in cells
            if c["status"] == "ok" and (c.get("metrics", {}).get(metric) or {}).get("median")]
    rows.sort(key=lambda r: -r[1]["median"])
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.4))
    for y, (_, s, label) in enumerate(rows):
        ci = s.get("median_ci") or [s["median"], s["median"]]
        style = _style(label, label_order)
        ax.plot([s["median"]], [y], color=style["color"], marker=style["marker"],
                linestyle="none")
        _intervals(ax, [y], [ci[0]], [ci[1]], style["color"], vertical=False)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_ns_label))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, p: ""))
    ax.set_xlabel(f"median {metric} over processes, {CONFIDENCE:.0%} interval (log scale)")
    title = f"{scenario}: median {metric} per implementation"
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    _save(fig, path)
    return title


#: verdict -> marker colour of the forest plot (the summary's icons: green, red, grey)
_VERDICT_COLOUR = {"VALIDATED": "#009E73", "REJECTED": "#D55E00", "NEEDS RETEST": "#777777"}


def forest_plot(comparisons: list[Comparison], path: Path) -> str | None:
    """Every comparison with an interval: the ratio a/b (log axis) with its interval at the
    verdicts' level, the declared threshold band (shaded: 1/(1+t) to 1+t) and, where an A/A
    control raised it, the noise band (hatched: the A/A floor); coloured by verdict. None
    (no plot) when no comparison has a bounded interval. Rows: the comparisons' order."""
    import math

    rows = [c for c in comparisons if c.get("ci") and all(
        isinstance(x, (int, float)) and math.isfinite(x) and x > 0 for x in c["ci"])]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(rows) + 1.6))
    for y, c in enumerate(reversed(rows)):
        t, t_eff = c.get("threshold") or 0.0, c.get("threshold_eff") or 0.0
        ax.fill_betweenx([y - 0.4, y + 0.4], 1 / (1 + t), 1 + t, color="#cccccc", alpha=0.5,
                         linewidth=0)
        if t_eff > t:
            ax.fill_betweenx([y - 0.4, y + 0.4], 1 / (1 + t_eff), 1 + t_eff, hatch="///",
                             facecolor="none", edgecolor="#999999", linewidth=0)
        colour = _VERDICT_COLOUR.get(c.get("verdict"), "#777777")
        lo, hi = c["ci"]
        ax.plot([c["ratio"]], [y], color=colour, marker="o", linestyle="none")
        _intervals(ax, [y], [lo], [hi], colour, vertical=False)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [c["key"] for c in reversed(rows)], fontsize=7)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, p: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, p: ""))
    level = min(c.get("confidence") or CONFIDENCE for c in rows)
    ax.set_xlabel(f"ratio a/b (Hodges-Lehmann), {level:.1%} interval; grey: the threshold, "
                  "hatched: the A/A noise floor where it applies")
    title = "Every comparison: ratio, interval, threshold"
    ax.set_title(title + " (green VALIDATED, red REJECTED, grey NEEDS RETEST)", fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    _save(fig, path)
    return title


def _swept_column(cells: list[dict]) -> str | None:
    """The numeric parameter to put on the x axis, or None when nothing numeric varies."""
    var = varying(cells)
    numeric = {k: v for k, v in var.items() if _numeric(v) and len(v) > 1}
    column = choose_column(cells, None)
    if column not in numeric:
        column = max(sorted(numeric), key=lambda k: len(numeric[k]), default=None)
    return column


def make_plots(doc: Summary, report_dir: Path, stem: str) -> tuple[list[Plot], list[str]]:
    """Write the PNGs into REPORT_DIR/plots; return ([{file, title, ...}], [why skipped]).

    ``file`` is the path relative to the report folder (what the Markdown links).
    """
    out_dir = Path(report_dir) / PLOTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    plots, skipped = [], []
    label_order = doc.get("label_order", [])
    pkeys = doc["constants"]["percentiles"]
    controls = set(doc.get("control_labels", []))
    label_order = [label for label in label_order if label not in controls]
    by_scenario: dict[str, list[dict]] = {}
    for c in doc["cells"].values():
        # A/A labels check the noise, they do not compete; a secondary placement (cross_core)
        # is reported beside the answer, not as more series
        if c["label"] not in controls and at_primary(c):
            by_scenario.setdefault(c["scenario"], []).append(c)
    for sc in sorted(by_scenario):
        cells = by_scenario[sc]
        ok = [c for c in cells if c["status"] == "ok"]
        if not ok:
            skipped.append(f"{sc}: no measured cell")
            continue
        metrics = sorted({m for c in ok for m in c.get("metrics", {})})
        for metric in metrics:
            with_metric = [c for c in ok if metric in c.get("metrics", {})]
            if metric not in TIME_PER_OP_METRICS and metric not in POOLED_METRICS:
                continue  # counters are shown per op in the tables
            column = _swept_column(with_metric)
            if column is not None:
                # median (with its interval) against the swept parameter: the shape
                # the study's tables have, for per-op and pooled metrics alike
                name = f"{_slug(stem)}_{_slug(sc)}_{_slug(metric)}_vs_{_slug(column)}.png"
                title = _sweep_plot(with_metric, column, metric, sc, label_order,
                                    out_dir / name)
                plots.append({"file": f"{PLOTS_DIR}/{name}", "title": title, "scenario": sc,
                              "metric": metric})
            elif metric in TIME_PER_OP_METRICS:
                # nothing swept (continuous): one point per implementation
                name = f"{_slug(stem)}_{_slug(sc)}_{_slug(metric)}.png"
                title = _point_plot(with_metric, metric, sc, label_order, out_dir / name)
                plots.append({"file": f"{PLOTS_DIR}/{name}", "title": title, "scenario": sc,
                              "metric": metric})
            if metric in POOLED_METRICS:
                name = f"{_slug(stem)}_{_slug(sc)}_{_slug(metric)}_percentiles.png"
                title = _latency_plot(with_metric, metric, sc, pkeys, label_order,
                                      out_dir / name)
                plots.append({"file": f"{PLOTS_DIR}/{name}", "title": title, "scenario": sc,
                              "metric": metric})
    name = f"{_slug(stem)}_forest.png"
    title = forest_plot(doc.get("comparisons") or [], out_dir / name)
    if title is not None:
        plots.append({"file": f"{PLOTS_DIR}/{name}", "title": title, "scenario": None,
                      "metric": None, "kind": "forest"})
    else:
        skipped.append("forest plot: no comparison has a bounded interval")
    produced = {Path(p["file"]).name for p in plots}
    for stale in out_dir.glob(f"{_slug(stem)}_*.png"):
        if stale.name not in produced:
            stale.unlink()  # a plot of an earlier run would be read as this run's
    return plots, skipped
