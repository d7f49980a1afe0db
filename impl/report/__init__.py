"""The generated summary: statistics, hypothesis verdicts, SUMMARY.md and plots.

``build_summary`` (contracts section 5) is the public entry: the pipeline calls it
at the end of a run (and from its onerror hook with ``partial=True``). It is
imported on first use, so importing this package costs no pandas, scipy or
matplotlib. The config it decides by is parsed by impl.study.
"""

from typing import Any

__all__ = ["build_summary"]


def __getattr__(name: str) -> Any:
    if name == "build_summary":
        from impl.report.build import build_summary

        return build_summary
    raise AttributeError(f"module 'impl.report' has no attribute {name!r}")
