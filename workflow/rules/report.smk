# Aggregation and the summary: cheap jobs, run once every round is measured.


rule aggregate:
    """Every cell's rounds -> its Parquet file, and all cells -> all.parquet (atomic writes)."""
    input:
        batches=[b.output for b in BATCHES],
        # bumped at start when an earlier run's results went missing (impl/pipeline/freshness.py)
        stamp=LAYOUT.rerun_stamp,
    output:
        all=AGGREGATED[0],
        cells=AGGREGATED[1:],
    log:
        f"{LAYOUT.logs}/aggregate.log",
    localrule: True
    params:
        rounds=[c.round_outputs for c in CELLS],
        cell_ids=[c.cell_id for c in CELLS],
    script:
        "../scripts/aggregate.py"


rule summary:
    """Render the profile's SUMMARY.md from this run's data (impl.report.build_summary)."""
    input:
        all=LAYOUT.all_parquet,
        # what each design does per op (instructions, syscalls, context switches)
        mechanism=MECHANISM_OUTPUTS,
        # a summary without its data (fresh checkout, rm -rf results) reruns the study
        stamp=LAYOUT.rerun_stamp,
    output:
        # report(): `snakemake --report report/report.html` embeds the summary and plots
        summary=report(LAYOUT.summary, caption="../report/summary.rst", category="1. Summary"),
        details=report(LAYOUT.details, caption="../report/details.rst", category="1. Summary"),
        plots=report(
            directory(LAYOUT.plots),
            patterns=["{name}.png"],
            caption="../report/plot.rst",
            category="2. Plots",
        ),
    log:
        f"{LAYOUT.logs}/summary.log",
    localrule: True
    params:
        expected=[c.expected() for c in CELLS],
        # hypotheses/alpha/renderer changes re-render the summary (no remeasuring)
        digest=summary_digest(STUDY),
    script:
        "../scripts/summary.py"
