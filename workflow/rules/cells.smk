# The benchmark cells: one job per implementation label x scenario x parameter point.


wildcard_constraints:
    label=r"[A-Za-z0-9_.-]+",
    scenario=r"[a-z0-9_]+",
    params=r"[^/]+",


rule cell:
    """Measure one cell with the runner, under the pipeline's timeout wrapper.

    bench_slot=1 with the profile's global `bench_slot: 1` means no two cells
    ever measure at the same time, whatever --cores says. The timeout is a
    resource (not a param), so changing it reruns nothing; the cell spec
    (design, params, profile settings, source hash) is a param, so changing
    any of those reruns exactly the affected cells.
    """
    output:
        "results/cells/{label}/{scenario}/{params}.parquet",
    log:
        "logs/cells/{label}/{scenario}/{params}.log",
    priority: lambda wc: cell_of(wc).priority
    threads: 1
    resources:
        bench_slot=1,
        timeout_s=lambda wc: cell_of(wc).timeout_s,
        # minutes, for cluster executors (slurm): the timeout plus the wrapper's backstop
        runtime=lambda wc: int(cell_of(wc).timeout_s * 1.1 + 10) // 60 + 2,
    params:
        spec=cell_spec,
        seed=config.get("seed", 1),
    shell:
        "{PY:q} -m impl.pipeline.cell_wrapper --spec {params.spec:q} --seed {params.seed}"
        " --timeout {resources.timeout_s} --out {output:q} --log {log:q}"
