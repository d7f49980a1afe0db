"""Helpers for the runner tests (no tests here): run the CLI, pick designs to measure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from impl import registry
from impl.runner.request import is_available

REPO = Path(__file__).resolve().parents[1]
#: generous bound for one quick cell on a loaded 2-core box (a hang is the watchdog's job)
CELL_TIMEOUT_S = 90


def run_cli(args: list[str], env: dict[str, str] | None = None, timeout: float = CELL_TIMEOUT_S):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "impl.runner", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def available_designs() -> list[str]:
    return [n for n in registry.names() if not registry.get(n).test_only and is_available(n)]


def second_design() -> str | None:
    """A design besides baseline to run every scenario on too (asyncio preferred)."""
    avail = available_designs()
    for name in ("asyncio", "main", *avail):
        if name != "baseline" and name in avail:
            return name
    return None


def budget_designs() -> list[str]:
    return [n for n in available_designs() if registry.get(n).capabilities.budget_params]


def budget_design() -> str | None:
    found = budget_designs()
    return found[0] if found else None
