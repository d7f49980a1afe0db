"""The metric names of the Parquet schema and how each is sampled.

Kept free of numpy/pandas so the pipeline's start-up config check can use
them without paying for the statistics stack.
"""

#: one row per timed block: the row's value is already one sample
BLOCK_METRICS = frozenset({"ns_per_op", "drain_ns_per_task"})
#: one row per operation: values are pooled across blocks and processes
POOLED_METRICS = frozenset({"latency_ns", "burst_ns", "internal_wait_ns"})
#: metrics whose samples are a time per operation (ops/s is meaningful)
PER_OP_METRICS = frozenset({"ns_per_op", "drain_ns_per_task"})
COUNTER_PREFIX = "counter."
