"""Snakemake script of rule aggregate: impl.pipeline.aggregate does the work."""

import logging

from impl.pipeline.aggregate import aggregate_rounds

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, force=True)
table = aggregate_rounds(
    list(snakemake.params.rounds),
    list(snakemake.output.cells),
    snakemake.output.all,
    list(snakemake.params.cell_ids),
)
logging.info("aggregated %d cells, %d rows", len(snakemake.output.cells), table.num_rows)
