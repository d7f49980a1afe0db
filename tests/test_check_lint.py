"""scripts/check_lint.py: the two documented lints pass, any other fails CI."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "check_lint", Path(__file__).resolve().parents[1] / "scripts" / "check_lint.py"
)
check_lint = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(check_lint)

SAMPLE = """Using workflow specific profile profiles/default for setting default arguments.
Lints for rule cell (line 10, /w/workflow/rules/cells.smk):
    * Specify a conda environment or container for each rule.:
      This way, the used software for each specific step is documented, and the
    * Shell command directly uses variable PY from outside of the rule:
      It is recommended to pass all files as input and output, and non-file
Lints for rule summary (line 19, /w/workflow/rules/report.smk):
    * No log directive defined:
      Without a log directive, all output will be printed to the terminal.
"""


def test_parses_every_lint_with_its_rule():
    found = check_lint.lints(SAMPLE)
    assert [t for _, t in found] == [
        "Specify a conda environment or container for each rule.",
        "Shell command directly uses variable PY from outside of the rule",
        "No log directive defined",
    ]
    assert found[2][0].startswith("rule summary")
    new = [t for _, t in found if t not in check_lint.ALLOWED]
    assert new == ["No log directive defined"]
