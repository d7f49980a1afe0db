# Aggregation and the summary: cheap jobs, they may run beside a measuring cell.


rule aggregate:
    """Concatenate and check every cell file into results/all.parquet (atomic write)."""
    input:
        [c.output for c in CELLS],
    output:
        "results/all.parquet",
    log:
        "logs/aggregate.log",
    localrule: True
    params:
        cell_ids=[c.cell_id for c in CELLS],
    script:
        "../scripts/aggregate.py"


rule summary:
    """Render report/SUMMARY.md from this run's data (impl.report.build_summary)."""
    input:
        all="results/all.parquet",
        cells=[c.output for c in CELLS],
    output:
        "report/SUMMARY.md",
    log:
        "logs/summary.log",
    localrule: True
    params:
        expected=[c.expected() for c in CELLS],
        # hypotheses/alpha/renderer changes re-render the summary (no remeasuring)
        digest=cellmod.summary_digest(config),
    script:
        "../scripts/summary.py"
