# The measurements: one job per (parameter point, round), a "batch". It measures one round
# of every cell at that point (the cells compared with each other) one after the other;
# the rounds of all points interleave over the whole run (impl/pipeline/cells.py).


wildcard_constraints:
    scenario=r"[a-z0-9_]+",
    params=r"[^/]+",
    round=r"\d+",


rule provision_interpreter:
    """Build the free-threaded CPython that `python: provision` interpreters run under.

    scripts/provision_free_threaded.sh: CPython 3.13.5 from Debian's pristine upstream
    tarball, configure --disable-gil, into the git-ignored .ft/ (about 2-4 minutes on 2
    cores, before any measurement: a compile beside one would disturb it); one line per
    phase, the tools' output in the script's own log; a missing tool or package is one
    line naming it. Its output is the marker the script writes last, with the hash of the
    pinned packages: when they change, the start-up removes the marker (content, not
    mtime: a rule input here made Snakemake plan this job alone) and the script installs
    them into the existing build.
    """
    output:
        PROVISIONED_MARKER,
    log:
        f"{LAYOUT.logs}/provision_interpreter.log",
    priority: 1000000
    resources:
        bench_slot=1,
    params:
        script=PROVISION_SCRIPT,
    shell:
        # the script's PREFIX: the marker's folder
        'bash {params.script:q} "$(dirname {output:q})" 2>&1 | tee {log:q}'


rule measure:
    """Measure one round of every cell at one point, each under the timeout wrapper.

    Each cell's record goes to results/PROFILE/rounds/...; the output is the batch's
    manifest, written only when every cell has a current record, so a failed cell
    fails the job and a plain rerun measures exactly the failed cells again (the
    others' records are reused: impl/pipeline/batch.py). Round 0 calibrates the block
    size; later rounds reuse it (their input). bench_slot=1 with the profile's global
    `bench_slot: 1` keeps the scheduler from starting two at once; the runner's machine
    lock enforces it whatever Snakemake is told. The timeout is a resource (not a
    param), so changing it reruns nothing; the cells' specs (design, params, profile
    settings, source hash) are the param, so changing one reruns its batches, where
    only the changed cell is measured again. On a cluster, the batches of one round
    run on one node (`group`), so compared cells share a host within a round.
    """
    input:
        loops_from=lambda wc: [] if wc.round == "0" else [batch_of(wc, "0").output],
        # a free-threaded python the pipeline builds (`python: provision`), when a cell needs it
        python=lambda wc: batch_pythons(batch_of(wc)),
    output:
        LAYOUT.batch_output,
    log:
        LAYOUT.batch_log,
    priority: lambda wc: batch_of(wc).priority
    group:
        "round{round}"
    threads: 1
    resources:
        bench_slot=1,
        timeout_s=lambda wc: batch_of(wc).timeout_s,
        # minutes, for cluster executors (slurm): 4x the batch's expected length; a group
        # job asks for the sum of its batches
        runtime=lambda wc: batch_of(wc).runtime_min,
    params:
        plan=batch_plan,
        seed=STUDY.seed,
    shell:
        "{PY:q} -m impl.pipeline.batch --plan {params.plan:q} --round {wildcards.round}"
        " --seed {params.seed} --timeout {resources.timeout_s} --out {output:q} --log {log:q}"


rule mechanism:
    """Count what each design does per op under one interpreter (impl/pipeline/mechanism.py).

    Instructions (callgrind), syscalls by kind (perf, or strace) and context switches per
    op at the hypotheses' and the Go findings' cells and the answer's two fastest designs
    (ranked from the cells' Parquet), in a separate process from any timed block; after
    the cells and never beside one (bench_slot). A missing tool is one line and its part
    skipped; a failed probe fails the job, and a plain rerun redoes it.
    """
    input:
        python=mechanism_pythons,
        ranked=mechanism_ranked,
    output:
        LAYOUT.mechanism_output,
    log:
        LAYOUT.mechanism_log,
    priority: 0
    resources:
        bench_slot=1,
    params:
        plan=mechanism_plan,
    shell:
        "{PY:q} -m impl.pipeline.mechanism --plan {params.plan:q} --out {output:q} --log {log:q}"
