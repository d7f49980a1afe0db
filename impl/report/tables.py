"""Tables in the study's shapes: implementations as rows, one swept parameter as columns.

Kept apart from the template so the shape decisions (which parameter becomes
the columns, how a missing cell is shown) are made once and tested, and the
template only places strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from impl.report import fmt
from impl.runner import scenarios


def src(*parts) -> str:
    """A path into summary.json, as the `source` of a printed value."""
    return json.dumps(list(parts), ensure_ascii=False)


def at_primary(cell: dict) -> bool:
    """The cell is at its scenario's primary placement, or its scenario has none: what the
    summary's own tables and plots show (a secondary placement, cross_core, appears in
    DETAILS.md and beside the answer; impl.runner.scenarios.primary_params)."""
    return scenarios.at_primary(cell["scenario"], cell.get("params") or {})


#: one spelling for "no limit": a drain budget of 0 (impl.designs.registry: "0 = unbounded") and an
#: interval end that no finite value reaches (spelled one way: "unbounded")
UNBOUNDED = "unbounded"
#: the parameter whose 0 means no limit
BUDGET = "budget"


def shown_value(column: str | None, v) -> str:
    """A parameter value as tables and plots show it: budget 0 says what it means."""
    return f"{v} ({UNBOUNDED})" if column == BUDGET and v == 0 else f"{v:g}" if isinstance(
        v, float) else f"{v}"


def sort_key(v):
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))


def shown_params(params: dict) -> str:
    """Parameters as tables and plots show them: ``k=v, k=v`` (values as JSON), sorted by key.
    (A cell id's part is ``impl.contract.param_str``: ``k=v,k=v``.)"""
    return ", ".join(f"{k}={json.dumps(params[k])}" for k in sorted(params))


@dataclass
class Table:
    columns: list[str]
    rows: list[dict]  # {"name": str, "cells": [str]}
    notes: list[str] = field(default_factory=list)
    column_param: str | None = None


def varying(cells: Iterable[dict]) -> dict[str, list]:
    """Parameters whose values differ between the cells, with their sorted values."""
    values: dict[str, list] = {}
    cells = list(cells)
    for c in cells:
        for k, v in (c.get("params") or {}).items():
            values.setdefault(k, [])
            if v not in values[k]:
                values[k].append(v)
    out = {}
    for k, vs in values.items():
        if len(vs) > 1 or any(k not in (c.get("params") or {}) for c in cells):
            out[k] = sorted(vs, key=sort_key)
    return out


def choose_column(cells: list[dict], preferred: str | None) -> str | None:
    var = varying(cells)
    if preferred and preferred in var:
        return preferred
    if not var:
        return None
    return max(sorted(var), key=lambda k: len(var[k]))


def row_name(cell: dict, column: str | None, var: dict, label_text: str) -> str:
    extra = {k: cell["params"][k] for k in sorted(var) if k != column and k in cell["params"]}
    return label_text + (f" ({shown_params(extra)})" if extra else "")


def grid_table(
    cells: list[dict],
    label_order: list[str],
    column: str | None,
    value_of: Callable[[dict], str | None],
    column_title: Callable[[object], str],
    single_column_title: str,
) -> Table:
    """Rows: label (+ other varying params); columns: values of ``column``.

    ``value_of(cell)`` returns the formatted value, or None when the cell has
    no value (failed, missing): shown as "-" and explained in ``notes``.
    """
    var = varying(cells)
    col_values = var.get(column, []) if column else []
    if column and not col_values:
        col_values = sorted({c["params"].get(column) for c in cells}, key=sort_key)
    rank = {label: i for i, label in enumerate(label_order)}
    rows: dict[str, dict] = {}
    notes: list[str] = []
    ordered = sorted(cells, key=lambda c: (rank.get(c["label"], len(rank)), c["label"],
                                           [sort_key(c["params"].get(k)) for k in sorted(var)]))
    for c in ordered:
        label_text = fmt.text(c["label"], src("cells", c["cell_id"], "label"))
        name = row_name(c, column, var, label_text)
        if name not in rows:
            rows[name] = {"name": name, "by_col": {}}
        col = c["params"].get(column) if column else None
        shown = value_of(c)
        if shown is None:
            shown = fmt.MISSING
            cid_text = fmt.text(c["cell_id"], src("cells", c["cell_id"], "cell_id"))
            if c["status"] == "ok":
                notes.append(f"`{cid_text}`: measured, but this metric was not recorded")
            else:
                why = fmt.text(c["status_text"], src("cells", c["cell_id"], "status_text"))
                notes.append(f"`{cid_text}`: {why}")
        rows[name]["by_col"][json.dumps(col)] = shown
    if column:
        headers = [column_title(v) for v in col_values]
        keys = [json.dumps(v) for v in col_values]
    else:
        headers, keys = [single_column_title], [json.dumps(None)]
    out_rows = [{"name": r["name"], "cells": [r["by_col"].get(k, fmt.MISSING) for k in keys]}
                for r in rows.values()]
    if any(fmt.MISSING in r["cells"] for r in out_rows) and any(
        k not in r["by_col"] for r in rows.values() for k in keys
    ):
        notes.append("a \"-\" without a note above: this combination was not planned")
    return Table(headers, out_rows, notes, column)
