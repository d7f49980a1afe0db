"""The README is for users: short, its links resolve, its excerpt is real."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: "at most ~120 lines": a README for users; internals live in docs/
MAX_LINES = 120


def test_readme_is_short_and_has_the_two_commands():
    text = README.read_text()
    assert len(text.splitlines()) <= MAX_LINES
    assert "bash scripts/setup.sh && . .venv/bin/activate && snakemake --cores 10" in text
    # the tests: the designs' also under the free-threaded python, which CI provisions too
    test_command = ("bash scripts/setup.sh && bash scripts/provision_free_threaded.sh && "
                    ".venv/bin/python -m pytest -q")
    assert test_command in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/setup.sh" in ci and "bash scripts/provision_free_threaded.sh" in ci


def test_readme_links_resolve():
    for target in re.findall(r"\]\(([^)#]+)\)", README.read_text()):
        assert (ROOT / target).exists(), target


def test_readme_excerpt_is_in_the_committed_summary():
    """No copied number may go stale: every excerpt line is a line of the file it names."""
    text = README.read_text()
    blocks = re.findall(r"<!-- excerpt:(\S+) .*?-->\n(.*?)<!-- /excerpt -->", text, re.S)
    assert blocks, "the README shows an excerpt of the summary"
    for path, body in blocks:
        source = set((ROOT / path).read_text().splitlines())
        lines = [line for line in body.splitlines() if line.strip()]
        assert lines, f"empty excerpt of {path}"
        missing = [line for line in lines if line not in source]
        assert not missing, f"not in {path}: {missing[0]!r}"


def test_the_go_figures_are_in_the_shipped_go_study():
    """The Go figures and their source ship in the repo, and agree."""
    import yaml

    seed = yaml.safe_load((ROOT / "impl" / "report" / "go_seed.yaml").read_text())
    source = "\n".join(p.read_text() for p in (ROOT / "docs" / "go-study").glob("*.md"))
    assert "docs/go-study/" in seed["source"]
    for f in seed["findings"]:
        for side in ("faster", "slower"):
            v = float(f[side]["go"])
            forms = {f"{v:g}", f"{v:,.0f}", f"{v:.2f}", f"{v:.1f}"}
            assert any(form in source for form in forms), (f["id"], side, v)
