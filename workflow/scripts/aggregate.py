"""Snakemake script of rule aggregate: impl.pipeline.aggregate does the work."""

import logging

from impl.pipeline.aggregate import aggregate

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, force=True)
table = aggregate(list(snakemake.input), snakemake.output[0], list(snakemake.params.cell_ids))
logging.info("aggregated %d cells, %d rows", len(snakemake.input), table.num_rows)
