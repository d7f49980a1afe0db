"""What kind of Snakemake invocation parses the Snakefile: one that measures, or one that reads.

Snakemake parses the Snakefile for ``--report``, ``--lint`` and the listing
options too, before anything tells the workflow which of them it is
(``workflow.dryrun`` and the executor are not set yet at parse time in
Snakemake 9). The pipeline's start-up work (reopening what an earlier run left
missing, which rewrites a stamp file and announces reruns) must not run then:
``snakemake --report`` after a quick run printed "the whole study runs" and
created ``results/full/rerun.stamp``. Only the command line says which it is.
"""

from __future__ import annotations

from collections.abc import Sequence

#: options after which Snakemake only reads the workflow and its outputs (no job runs)
READ_ONLY_OPTIONS = (
    "--report", "--lint", "--list", "-l", "--list-rules", "--list-target-rules", "--lt",
    "--list-changes", "--lc", "--list-code-changes", "--list-input-changes",
    "--list-params-changes", "--list-untracked", "--lu", "--summary", "-S",
    "--detailed-summary", "-D", "--dag", "--rulegraph", "--filegraph", "--d3dag",
    "--containerize", "--generate-unit-tests", "--archive", "--export-cwl",
    "--print-compilation", "--version", "-v", "--help", "-h", "--cleanup-metadata",
    "--delete-all-output", "--delete-temp-output", "--unlock",
)


def read_only(argv: Sequence[str]) -> bool:
    """True when the command line (``sys.argv``) asks Snakemake for no job at all.

    An option given as ``--report=path`` counts as ``--report``. Dry runs
    (``-n``) are not read-only here: they must show what a real run would redo.
    """
    return any(a.split("=", 1)[0] in READ_ONLY_OPTIONS for a in argv[1:])
