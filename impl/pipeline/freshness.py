"""What must run again although Snakemake would not rerun it.

Snakemake never rebuilds a missing intermediate file when everything
downstream of it is present and newer: after a complete study, a batch that
fails later (its manifest is removed with the failed job), a manifest or
cell record deleted by hand or damaged, or a cell file gone from
``results/PROFILE/cells`` would stay that way, and a plain rerun would say
"Nothing to be done" over a summary built from other data. ``reopen``
finds them and makes Snakemake see them: it removes a manifest that names a
missing or unreadable record (the batch then has a missing output, so it
runs) and rewrites the *rerun stamp*, an input of the aggregation and of the
summary, so both are newer-than-output work again and pull in every batch
whose manifest is missing. This runs in dry runs too: the plan it shows is
then the real one. (The Snakefile cannot add
``--forcerun`` targets itself: Snakemake sets them after reading it.) A
re-run batch measures only the cells whose record is missing, failed or
stale (impl.pipeline.batch).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from impl.pipeline.batch import read_record
from impl.pipeline.cells import Batch


def problem(batch: Batch, root: str | Path = ".") -> str | None:
    """Why ``batch`` is incomplete (one phrase naming the file), or None if it is complete."""
    root = Path(root)
    path = root / batch.output
    if not path.is_file():
        return f"{batch.output} is missing"
    try:
        manifest = json.loads(path.read_text())
        listed = {c["cell_id"]: c["record"] for c in manifest["cells"]}
    except (OSError, ValueError, KeyError, TypeError):
        return f"{batch.output} is not a readable batch manifest"
    for cell in batch.cells:
        record = listed.get(cell.cell_id)
        if record is None:
            return f"{batch.output} does not list {cell.cell_id}"
        if not (root / record).is_file():
            return f"{record} is missing"
        # a record is a few kB to a few hundred kB: reading all of them costs < 1 s
        if read_record(root / record) is None:
            return f"{record} is not a readable round record"
    return None


def incomplete(batches: Iterable[Batch], root: str | Path = ".") -> list[tuple[Batch, str]]:
    """Every batch that is not complete, with the reason; cheap (reads manifests, stats records)."""
    out = []
    for batch in batches:
        why = problem(batch, root)
        if why is not None:
            out.append((batch, why))
    return out


def _unreadable_parquet(path: Path) -> bool:
    import pyarrow.parquet as pq

    try:
        pq.read_schema(path)
    except Exception:  # noqa: BLE001 - any failure to read the footer means: rebuild it
        return True
    return False


def to_force(
    batches: list[Batch], aggregated: list[str], root: str | Path = ".", summary: str = ""
) -> list[tuple[str, str]]:
    """(file, reason) for an earlier run whose results went missing or bad; [] if none.

    ``aggregated``: the aggregation's outputs (all.parquet first, then the
    cell files); ``summary``: the summary they feed. Nothing is reported when
    none of them exists (a first run: Snakemake plans everything itself).
    A summary without its data (a committed report/SUMMARY.md in a fresh
    checkout, ``rm -rf results``) counts as missing data. Incomplete batches
    first; otherwise a missing or unreadable aggregated file.
    """
    root = Path(root)
    if not any((root / p).exists() for p in [*aggregated, summary] if p):
        return []
    found = [(b.output, why) for b, why in incomplete(batches, root)]
    if found:
        return found
    for path in aggregated:
        if not (root / path).is_file():
            return [(aggregated[0], f"{path} is missing")]
        if _unreadable_parquet(root / path):
            return [(aggregated[0], f"{path} is not a readable Parquet file")]
    return []


def reopen(
    batches: list[Batch], aggregated: list[str], stamp: str, root: str | Path = ".",
    summary: str = "",
) -> list[tuple[str, str]]:
    """Make Snakemake rerun what ``to_force`` finds; return it. Creates ``stamp`` if missing.

    A manifest that names a missing or unreadable record is removed (it no
    longer describes what is on disk); the stamp is rewritten (new mtime and
    content), so the aggregation and the summary (whose input it is) run again.
    """
    root = Path(root)
    stamp_path = root / stamp
    if not stamp_path.exists():
        stamp_path.parent.mkdir(parents=True, exist_ok=True)
        stamp_path.write_text("mtime bumped when an earlier run's results went missing "
                              "(impl/pipeline/freshness.py)\n")
        # older than anything aggregated: creating it must not rerun a complete study
        os.utime(stamp_path, (0, 0))
    found = to_force(batches, aggregated, root, summary)
    if not found:
        return []
    for path, _why in found:
        manifest = root / path
        if path.endswith(".json") and manifest.is_file():
            manifest.unlink()
    # new content too: Snakemake ignores a newer input whose checksum it recorded before
    stamp_path.write_text(f"reopened at {time.time():.6f}: {found[0][1]}\n")
    return found
