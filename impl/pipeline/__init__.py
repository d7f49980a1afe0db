"""The pipeline's logic, importable and tested, so the Snakefile stays thin.

``cells`` expands the config into cells (ids, paths, interleaved order),
``config_check`` refuses a bad config with one line before any job starts,
``batch`` measures one round of the cells at one point (rule ``measure``),
``command`` builds each cell's runner command line, ``cell_wrapper`` runs
it under a timeout in its own process group,
``aggregate`` concatenates the cell files, ``failures`` collects what went
wrong for the onerror hook, ``summary`` hands everything to impl.report.
"""
