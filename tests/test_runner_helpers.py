"""Helpers for the runner tests (no tests here): run the CLI, pick designs to measure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from impl.designs import registry

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


#: a design besides baseline that every scenario runs on too (a peer: another code path)
SECOND_DESIGN = "asyncio"


def budget_designs() -> list[str]:
    """Registered real designs whose budget the budget_sweep scenario can set."""
    return [
        n for n in registry.names()
        if not registry.get(n).test_only and registry.get(n).capabilities.budget_params
    ]


def marked_processes(mark: str) -> list[int]:
    """Pids of live processes whose environment carries ``mark`` (i.e. our children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_git_dirty_flag_ignores_generated_outputs(tmp_path):
    """Running the study rewrites report/ (committed): that must not make the next run dirty."""
    from impl.runner.metadata import git_state

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    for rel in ("impl/x.py", "report/SUMMARY.md", "results/a.txt", "logs/b.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("1\n")
    git("add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")
    commit, dirty = git_state(tmp_path)
    assert commit and dirty is False
    for rel in ("report/SUMMARY.md", "results/a.txt", "logs/b.txt"):
        (tmp_path / rel).write_text("2\n")
    assert git_state(tmp_path)[1] is False
    (tmp_path / "impl/x.py").write_text("2\n")
    assert git_state(tmp_path)[1] is True
