"""The generated summary: statistics, hypothesis verdicts, SUMMARY.md and plots.

Only ``build_summary`` (contracts section 5) and the config check
``parse_hypotheses`` are public; the pipeline calls the second at start-up
(so a bad hypotheses section fails before any measuring) and the first at the
end of a run (and from its onerror hook with ``partial=True``).
``build_summary`` is imported on first use: the start-up check must not pay
for pandas, scipy and matplotlib.
"""

from typing import Any

from impl.report.hypothesis_config import HypothesisConfigError, parse_hypotheses

__all__ = ["build_summary", "parse_hypotheses", "HypothesisConfigError"]


def __getattr__(name: str) -> Any:
    if name == "build_summary":
        from impl.report.build import build_summary

        return build_summary
    raise AttributeError(f"module 'impl.report' has no attribute {name!r}")
