"""Before any job: every declared interpreter that exists can run the cells declared for it.

A python given by path or command must exist, and one declared ``gil: false`` must be a
free-threaded build (``Py_GIL_DISABLED``): else one line naming the interpreter and what is
allowed, and nothing runs. ``python: provision`` is built by the ``provision_interpreter``
rule when missing (scripts/provision_free_threaded.sh), so it is checked once built, by the
measuring processes themselves (impl.runner.interpreter.mismatch, every block).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from impl.pipeline.cells import splits
from impl.study import ConfigError, Study
from impl.study.interpreters import PROVISIONED_MARKER, PROVISIONED_PYTHON, Interpreter

#: what a probe asks an interpreter (standard library only; any CPython >= 3.8)
_PROBE = ("import json, sys, sysconfig; print(json.dumps({'version': sys.version.split()[0], "
          "'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED'))}))")
#: a probe that takes longer than this is a broken interpreter
PROBE_TIMEOUT_S = 30.0


def probe(python: str) -> dict[str, object]:
    """``{"version", "free_threaded"}`` of ``python``; ConfigError (one line) if it cannot run."""
    try:
        out = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True,
                             timeout=PROBE_TIMEOUT_S, env={**os.environ, "PYTHON_GIL": ""})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"config: interpreter {python!r} does not run ({exc})") from None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"config: interpreter {python!r} does not run: {last}")
    return json.loads(out.stdout)


def check(study: Study) -> None:
    """ConfigError (one line) for the first declared interpreter that cannot run its cells."""
    rounds = study.profile.rounds
    for it in study.measured_interpreters():
        for key in ("processes", "verdict_processes"):
            n = getattr(it, key)
            if n is not None and n % rounds:
                raise ConfigError(
                    f"config: interpreters.{it.name}.{key}: {n} is not a multiple of the "
                    f"profile's rounds ({rounds}); allowed: a multiple of {rounds}")
            bad = sorted(r for r in study.profile.all_rounds() if n is not None
                         and not splits(n, r))
            if bad:
                raise ConfigError(
                    f"config: interpreters.{it.name}.{key}: {n} processes do not split over "
                    f"{bad[0]} rounds (the profile's scenario_rounds); allowed: a divisor "
                    f"or a multiple of {bad[0]}")
        for scenario in it.scenarios or ():
            if scenario not in study.scenarios:
                raise ConfigError(
                    f"config: interpreters.{it.name}.scenarios: {scenario!r} is not a scenario "
                    f"of the study; allowed: {', '.join(study.scenarios)}")
        missing = it.missing()
        if missing:
            raise ConfigError(missing)
        python = it.executable()
        if python is None or (it.provisioned and not os.path.exists(PROVISIONED_PYTHON)):
            continue  # the pipeline's own; or built by the rule, checked by its processes
        _check_gil(it, probe(python))


def _check_gil(it: Interpreter, found: dict[str, object]) -> None:
    if it.gil is False and not found["free_threaded"]:
        raise ConfigError(
            f"config: interpreters.{it.name}: {it.python} (Python {found['version']}) is not a "
            f"free-threaded build, declared gil: false; allowed: a free-threaded python "
            f"(python3.13t, python3.14t) or python: provision")


def requirements_hash(requirements: str | Path) -> str:
    """What the provisioning script writes into its marker: the first 16 hex digits of the
    requirements file's sha256 (``sha256sum < FILE | cut -c1-16``)."""
    return hashlib.sha256(Path(requirements).read_bytes()).hexdigest()[:16]


def stale_marker(requirements: str | Path, marker: str | Path = PROVISIONED_MARKER) -> bool:
    """Remove the provisioned interpreter's marker when it was written for other pinned
    packages (so the provisioning rule runs and installs them); True if it did."""
    marker = Path(marker)
    try:
        text = marker.read_text()
    except OSError:
        return False
    if text.strip().endswith(requirements_hash(requirements)):
        return False
    marker.unlink()
    return True
