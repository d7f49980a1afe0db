"""What makes a cell, or the summary, out of date: content hashes of the code behind them.

A cell's code hash (a tracked param of its batch: a change reruns only that
cell) covers its design's modules and its scenario's; the summary's digest
covers the config's decision parts and impl.report's sources (a change
re-renders the summary, which is cheap, and measures nothing).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from impl.contract import module_file, source_hash
from impl.runner import scenarios
from impl.study import Study


def code_hash(design_modules: Iterable[str], scenario: str, fingerprint: str = "") -> str:
    """Content hash of what a cell's numbers depend on: the design's modules, its registry
    entry (``fingerprint``: ``ImplSpec.fingerprint``) and the scenario's module.

    Content (not mtime) so a checkout or ``touch`` reruns nothing; per design
    and per scenario so editing one reruns only its cells (the registry file as a whole
    is not hashed: registering a new design reruns no other's). The runner's core
    is deliberately left out (docs/pipeline.md, "What reruns a cell"): rerun on purpose with
    ``--forcerun measure`` after changing how the runner measures.
    """
    modules = sorted(set(design_modules)) + [scenarios.get(scenario).module_name]
    if not fingerprint:
        return source_hash(modules)[:16]
    return hashlib.sha256(f"{source_hash(modules)}\0{fingerprint}".encode()).hexdigest()[:16]


def summary_digest(study: Study) -> str:
    """Hash of what the summary reads besides the data: the config's decision parts and the
    sources of impl.report and impl.study (which parses those parts).

    A tracked param of the summary rule, so editing a hypothesis, alpha or
    the renderer re-renders the summary (cheap) without remeasuring anything.
    """
    keys = ("hypotheses", "aa_control", "alpha", "implementations", "answer")
    parts = {k: study.raw.get(k) for k in keys}
    # timeouts are not part of what the summary says (changing one reruns nothing)
    parts["scenarios"] = {
        name: {k: v for k, v in entry.items() if k != "timeout_s"}
        for name, entry in study.raw.get("scenarios", {}).items()
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for package in ("impl.report", "impl.study"):
        init = module_file(package)
        for path in sorted(init.parent.rglob("*")) if init is not None else ():
            if path.is_file() and path.suffix in {".py", ".md", ".j2", ".jinja", ".txt"}:
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
