# The measurements: one job per (cell, round). A cell is one implementation label x
# scenario x parameter point; its processes are split into rounds that interleave with
# every other cell's over the whole run (impl/pipeline/cells.py).


wildcard_constraints:
    label=r"[A-Za-z0-9_.-]+",
    scenario=r"[a-z0-9_]+",
    params=r"[^/]+",
    round=r"\d+",


rule replicate:
    """Measure one round of one cell with the runner, under the pipeline's timeout wrapper.

    Round 0 calibrates the block size; later rounds reuse it (their input). bench_slot=1
    with the profile's global `bench_slot: 1` keeps the scheduler from starting two at
    once; the runner's machine lock enforces it whatever Snakemake is told. The timeout is
    a resource (not a param), so changing it reruns nothing; the cell spec (design, params,
    profile settings, source hash) is a param, so changing any of those reruns exactly the
    affected cells.
    """
    input:
        loops_from=lambda wc: [] if wc.round == "0" else [cell_of(wc).round_output(0)],
    output:
        f"{LAYOUT.rounds}/{{label}}/{{scenario}}/{{params}}/r{{round}}.json",
    log:
        f"{LAYOUT.logs}/rounds/{{label}}/{{scenario}}/{{params}}/r{{round}}.log",
    priority: lambda wc: cell_of(wc).priorities[int(wc.round)]
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
        " --round {wildcards.round} --loops-from {input.loops_from:q}"
        " --timeout {resources.timeout_s} --out {output:q} --log {log:q}"
