# eventloop-tournament: benchmark every (implementation x scenario x parameter) cell in
# interleaved rounds, aggregate, and render the profile's SUMMARY.md (report/ for the
# default profile, report/PROFILE/ otherwise). Logic lives in impl/pipeline (tested);
# this file and workflow/rules/*.smk only wire it up. See docs/pipeline.md.
#
#   snakemake --cores 10                          # the study (config.yaml, profile: full)
#   snakemake --cores 10 --config profile=quick   # thinned grid, about 4.5 minutes

import sys

from snakemake.utils import min_version

from impl.pipeline.digest import digest
from impl.study import ConfigError, check_config_files

min_version("9.0")

# Read the config files strictly first (line and column of a syntax error, duplicate keys,
# an empty file): Snakemake's own reading keeps the last of two equal keys silently.
try:
    check_config_files(["config.yaml", *workflow.overwrite_configfiles])
except ConfigError as exc:
    print(f"ERROR {exc}", file=sys.stderr)
    sys.exit(1)


configfile: "config.yaml"


# `snakemake --report report/report.html`: the summary and its plots on one page
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/cells.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        # every output of the summary (Snakemake rebuilds only what a target asks for)
        LAYOUT.summary,
        LAYOUT.details,
        LAYOUT.plots,


onstart:
    # a real run only (not -n, not --report): the progress line's start and total
    start_progress()


onsuccess:
    # at most 10 lines: the verdicts and where to read them (impl/pipeline/digest.py)
    print("\n".join(digest(LAYOUT.summary)), file=sys.stderr)


onerror:
    # A cell failed (keep-going finished the others): write report/SUMMARY.partial.md
    # listing every failed cell and the hypotheses that need a retest. SUMMARY.md is
    # never touched here, so Snakemake cannot mistake a partial summary for a full one.
    render_partial_summary()
