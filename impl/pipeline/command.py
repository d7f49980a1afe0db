"""What a batch runs for one cell: the runner's command line, and the spec's hash.

A cell spec (``impl.pipeline.cells.Cell.spec``) becomes one ``python -m
impl.runner`` command line (contracts section 2); ``config_hash`` of the spec
goes with it (``--config-hash``) and comes back in the cell's round record,
which is how a batch tells a record that still measures its spec from a stale
one (``impl.pipeline.batch.current``). The command then runs under the cell
wrapper (``impl.pipeline.cell_wrapper.run_wrapped``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Mapping
from typing import Any

from impl.contract import INTERPRETER_PARAM


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def config_hash(spec: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _repo_profiles() -> frozenset[str]:
    """The profiles of the repository's config.yaml (what the runner's ``--profile`` knows),
    read once per process."""
    from impl.study import load

    return frozenset(load().profiles)


def runner_command(
    spec: Mapping[str, Any],
    out: str,
    timeout_s: float,
    seed: int | None = None,
    round_index: int | None = None,
    loops_from: str | None = None,
) -> list[str]:
    """The ``python -m impl.runner`` command line for a cell spec (contracts section 2)."""
    from impl.runner.request import flag_of

    cmd = [sys.executable, "-m", "impl.runner", "--impl", spec["design"]]
    for k, v in sorted(spec.get("impl_params", {}).items()):
        cmd += ["--impl-param", f"{k}={_fmt(v)}"]
    cmd += ["--label", spec["label"], "--scenario", spec["scenario"]]
    params = dict(spec.get("params", {}))
    # the interpreter is the runner's own option, not a scenario parameter
    interpreter = params.pop(INTERPRETER_PARAM, None)
    for k, v in sorted(params.items()):
        cmd += ["--param", f"{k}={_fmt(v)}"]
    if interpreter is not None:
        cmd += ["--interpreter", str(interpreter)]
    if spec.get("gil", "any") != "any":
        cmd += ["--gil", str(spec["gil"])]
    if spec.get("python"):
        cmd += ["--python", str(spec["python"])]
    # the profile's name is recorded; its settings are passed explicitly, so a profile
    # that exists only in the pipeline's config (not in the repo's) measures the same
    prof = dict(spec.get("profile", {}))
    if "name" in prof:
        name = str(prof.pop("name"))
        known = name in _repo_profiles()
        cmd += ["--profile" if known else "--profile-name", name]
    for key, value in sorted(prof.items()):
        cmd += [flag_of(key), _fmt(value)]
    cmd += ["--timeout", _fmt(timeout_s)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if round_index is not None:
        cmd += ["--round", str(round_index)]
    if loops_from:
        cmd += ["--loops-from", loops_from]
    cmd += ["--config-hash", config_hash(spec), "--out", out]
    return cmd
