"""The generated summary: statistics, hypothesis verdicts, SUMMARY.md and plots.

Only ``build_summary`` (contracts section 5) and the config check
``parse_hypotheses`` are public; the pipeline calls the first at the end of a
run (and from its onerror hook with ``partial=True``), and may call the
second at startup so a bad hypotheses section fails before any measuring.
"""

from impl.report.build import build_summary
from impl.report.hypotheses import HypothesisConfigError, parse_hypotheses

__all__ = ["build_summary", "parse_hypotheses", "HypothesisConfigError"]
