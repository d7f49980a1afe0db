"""Snakemake script of rule summary: impl.pipeline.summary -> impl.report.build_summary."""

import logging
from pathlib import Path

from impl.pipeline.summary import render

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, force=True)
path = render(
    all_parquet=snakemake.input.all,
    cell_files=[],
    config=snakemake.config,
    report_dir=Path(snakemake.output.summary).parent,
    expected_cells=list(snakemake.params.expected),
    failed_cells=[],
    partial=False,
    mechanism_files=list(snakemake.input.mechanism),
)
logging.info("wrote %s", path)
