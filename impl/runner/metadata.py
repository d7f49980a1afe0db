"""Where, with what and from which code a cell was measured (methodology.md, "Metadata").

Collected in the parent at write time; every probe tolerates absence (no
git, no /proc/cpuinfo, a package not installed) and records None instead.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from impl.contract import GENERATED_DIRS

#: packages whose versions are recorded with every cell
PACKAGES = ("cereggii", "uvloop", "numpy", "pyarrow", "pandas", "scipy", "snakemake", "duckdb")
REPO_ROOT = Path(__file__).resolve().parents[2]
#: runner modules whose code shapes every measurement (hashed with the scenario module)
MEASURING_MODULES = (
    "impl.contract",  # the block rules (SHORT_BLOCK_NS, MIN_SWITCH_INTERVALS) live there
    "impl.runner.manager",
    "impl.runner.worker",
    "impl.runner.scenarios",
    "impl.runner.scenarios._common",
)


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git(*args: str, root: Path | None = None) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root or REPO_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(root: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout; dirty ignores the generated folders.

    ``results/``, ``logs/`` and ``report/`` (contract.GENERATED_DIRS) are what
    the pipeline writes, and ``report/`` is committed: without the exclusion
    every run would record the next one as "dirty" with no code change.
    """
    commit = _git("rev-parse", "HEAD", root=root)
    if commit is None:
        return None, None
    exclude = [f":(exclude){d}" for d in GENERATED_DIRS]
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *exclude,
                  root=root)
    return commit, (None if status is None else bool(status))


def host_metadata() -> dict[str, Any]:
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    try:
        loadavg = list(os.getloadavg())
    except OSError:
        loadavg = None
    commit, dirty = git_state()
    versions = package_versions()
    return {
        "host": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "os": platform.platform(),
        "cpu_affinity": affinity,
        "loadavg": loadavg,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "timer_resolution_ns": time.get_clock_info("perf_counter").resolution * 1e9,
        "switch_interval_s": sys.getswitchinterval(),
        "packages": versions,
        "git_commit": commit,
        "git_dirty": dirty,
        "snakemake_version": os.environ.get("SNAKEMAKE_VERSION") or versions.get("snakemake"),
    }
