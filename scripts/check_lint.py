"""Run ``snakemake --lint`` and fail on any lint besides the two docs/pipeline.md documents.

Snakemake exits 1 whenever it prints a lint, and this version ignores
``--lint json``, so the text is parsed: every ``* <title>:`` line below a
``Lints for ...`` header is one lint. Allowed (docs/pipeline.md, "Lint"): no conda
environment per rule (the venv from scripts/setup.sh is the environment) and
``PY`` in the cell rule's shell command (sys.executable, deliberately not a
tracked param). Usage: ``python scripts/check_lint.py`` from the repository root.
"""

from __future__ import annotations

import re
import subprocess
import sys

ALLOWED = (
    "Specify a conda environment or container for each rule.",
    "Shell command directly uses variable PY from outside of the rule",
)
_HEADER = re.compile(r"^Lints for (.+):$")
_LINT = re.compile(r"^\s+\* (.+?):$")


def lints(text: str) -> list[tuple[str, str]]:
    """(where, title) for every lint in ``snakemake --lint`` text output."""
    found, where = [], "?"
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            where = header.group(1)
            continue
        lint = _LINT.match(line)
        if lint:
            found.append((where, lint.group(1)))
    return found


def main() -> int:
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], capture_output=True, text=True, check=False
    )
    text = done.stdout + done.stderr
    found = lints(text)
    new = [(w, t) for w, t in found if t not in ALLOWED]
    if new or (done.returncode != 0 and not found):
        for where, title in new:
            print(f"snakemake --lint: new lint in {where}: {title}", file=sys.stderr)
        if not found:
            print(text[-2000:], file=sys.stderr)
        return 1
    print(f"snakemake --lint: {len(found)} documented lint(s), no new ones")
    return 0


if __name__ == "__main__":
    sys.exit(main())
