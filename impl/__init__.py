"""eventloop-tournament: event-loop designs, measured and compared.

The package is layered; each layer imports only from the layers above it in this
list (``tests/test_architecture.py`` checks it):

* ``impl.designs`` (and ``impl.params``): the five designs of the Go study and the two
  peers (asyncio, uvloop) behind one interface, with their registry.
* ``impl.contract``: the data contract: columns, metadata, metrics, cell id, source
  hash, exit codes, the atomic write.
* ``impl.runner``: one benchmark cell per call -> one Parquet file
  (``python -m impl.runner``).
* ``impl.study``: config.yaml read and validated once into a typed ``Study``.
* ``impl.report``: statistics, verdicts and the generated summary;
  ``python -m impl.report.compare`` compares two studies.
* ``impl.pipeline``: what the Snakefile needs (cells, batches, supervision, aggregation).
"""
