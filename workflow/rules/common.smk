# Start-up: validate the config, expand the cells, helpers for the rules.
import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from impl.pipeline import cells as cellmod
from impl.pipeline.config_check import ConfigError, check_config
from impl.pipeline import identity
from impl.pipeline import scheduler_fix
from impl.pipeline import interpreters as pipe_interpreters
from impl.pipeline import mechanism as pipe_mechanism
from impl.study import interpreters
from impl.pipeline.hashes import code_hash, summary_digest
from impl.pipeline.invocation import read_only

# Snakemake's scheduler starts one more wake-up timer per finished job, and their passes
# became the study's main foreign load (impl/pipeline/scheduler_fix.py): one timer at most
scheduler_fix.install()

# This process's pid and start time for the jobs it starts: a cell stops when the
# Snakemake that runs it dies (impl.pipeline.identity; a cluster job's Snakemake
# exports its own)
identity.export_self()

# One clear line naming the key and the allowed values, before any job starts
# (printed as is and exit 1: a WorkflowError would add a traceback line).
try:
    STUDY, CELLS = check_config(config, workflow.source_path("../schemas/config.schema.yaml"))
except ConfigError as exc:
    print(f"ERROR {exc}", file=sys.stderr)
    sys.exit(1)
# The same schema through Snakemake's own validation (the snakemake-workflows convention;
# the defaults live in impl.study, not in the schema).
validate(config, "../schemas/config.schema.yaml")

# e.g. cross_core on a machine (or an affinity mask) with one CPU: said once, not an error
_SKIPPED = STUDY.placement_skipped()
if workflow.is_main_process and _SKIPPED:
    print(f"eventloop-tournament: {_SKIPPED}", file=sys.stderr)
BATCHES = cellmod.plan_batches(CELLS, STUDY.seed)
BATCH_BY_KEY = cellmod.batch_index(BATCHES)
LAYOUT = cellmod.Layout(STUDY.profile_name)
AGGREGATED = [LAYOUT.all_parquet, *(c.output for c in CELLS)]
PY = sys.executable
# Content hash of each (design, scenario) pair's source, computed once per run.
_CODE_HASH = {}


PROVISIONED_MARKER = interpreters.PROVISIONED_MARKER
# the checkout's scripts, wherever --directory puts the working directory (the provisioned
# python goes into the working directory's .ft/, where the cells' runner looks for it)
PROVISION_SCRIPT = os.path.join(workflow.basedir, interpreters.PROVISION_SCRIPT)
PROVISION_REQUIREMENTS = os.path.join(workflow.basedir, interpreters.PROVISION_REQUIREMENTS)
# the provisioned interpreter's packages changed: its marker goes, so the rule installs them
if workflow.is_main_process and pipe_interpreters.stale_marker(PROVISION_REQUIREMENTS):
    print(
        "eventloop-tournament: the free-threaded interpreter's pinned packages changed;"
        " they are installed first",
        file=sys.stderr,
    )


def batch_pythons(batch):
    """The provisioned python's marker if a cell of the batch runs under it (the rule
    builds it); ancient: rebuilding the interpreter remeasures nothing."""
    needed = any(c.python == interpreters.PROVISIONED_PYTHON for c in batch.cells)
    return [ancient(PROVISIONED_MARKER)] if needed else []


# the mechanism pass (config `mechanism`, off by default): one job per interpreter
MECHANISM_JOBS = {
    j.wildcard: j for j in (pipe_mechanism.plan(STUDY, CELLS) if STUDY.mechanism else [])
}
MECHANISM_OUTPUTS = [
    LAYOUT.mechanism_output.format(interpreter=j.interpreter) for j in MECHANISM_JOBS.values()
]


def mechanism_job(wildcards):
    if wildcards.interpreter not in MECHANISM_JOBS:
        raise WorkflowError(
            f"no mechanism job {wildcards.interpreter!r}; allowed: "
            f"{', '.join(MECHANISM_JOBS) or 'none (config mechanism: false)'}"
        )
    return MECHANISM_JOBS[wildcards.interpreter]


def mechanism_pythons(wildcards):
    """As ``batch_pythons``, for a mechanism job's cells."""
    needed = any(
        c.python == interpreters.PROVISIONED_PYTHON for c in mechanism_job(wildcards).cells
    )
    return [ancient(PROVISIONED_MARKER)] if needed else []


def mechanism_plan(wildcards):
    """Tracked param: the job's cells' specs (with their code hash), so a changed design
    or scenario counts its jobs again."""
    import json

    job = mechanism_job(wildcards)
    return json.dumps(job.plan_json(code_hash_of), sort_keys=True, separators=(",", ":"))


def mechanism_ranked(wildcards):
    """The Parquet files the job ranks an answer workload's designs by (after the timed
    cells); ancient: a rerun that re-aggregates them does not count again."""
    return [ancient(p) for p in mechanism_job(wildcards).ranked_inputs]


def batch_of(wildcards, round=None):
    key = (wildcards.scenario, wildcards.params, wildcards.round if round is None else round)
    return BATCH_BY_KEY[key]


def code_hash_of(cell):
    from impl.designs import registry

    key = (cell.design, cell.scenario)
    if key not in _CODE_HASH:
        spec = registry.get(cell.design)
        _CODE_HASH[key] = code_hash(spec.modules, cell.scenario, spec.fingerprint())
    return _CODE_HASH[key]


def batch_plan(wildcards):
    """Tracked param: each cell's spec (what it measures + its code hash, not the timeout),
    record and log, in the batch's measuring order."""
    import json

    from impl.pipeline.batch import plan_entry

    batch = batch_of(wildcards)
    plan = [plan_entry(c, c.spec(code_hash_of(c)), batch.round) for c in batch.cells]
    return json.dumps(plan, sort_keys=True, separators=(",", ":"))


def render_partial_summary():
    from impl.pipeline.summary import render_partial

    try:
        path, failed = render_partial(CELLS, STUDY, LAYOUT.report)
    except Exception as exc:  # the hook must not hide the original failure
        print(f"eventloop-tournament: partial summary failed: {exc!r}", file=sys.stderr)
        return
    print(
        f"eventloop-tournament: {len(failed)} cell(s) failed or missing; partial summary: "
        f"{path}. Rerun `snakemake --cores 10` to retry only those.",
        file=sys.stderr,
    )
    for f in failed:
        print(f"  {f['cell_id']}: {f['status']}: {f['reason']} (log: {f['log']})", file=sys.stderr)


def reopen_what_went_missing():
    """Rerun what an earlier run left missing, failed or unreadable (one line if anything).

    Snakemake alone never rebuilds a missing intermediate when the summary is newer
    (impl/pipeline/freshness.py); the batches run again measure only their missing cells.
    """
    from impl.pipeline.freshness import reopen

    found = reopen(BATCHES, AGGREGATED, LAYOUT.rerun_stamp, summary=LAYOUT.summary)
    if len(found) == len(BATCHES):  # e.g. a fresh checkout with the committed report
        print(
            f"eventloop-tournament: {LAYOUT.summary} exists but {LAYOUT.results} holds none of its"
            " measurements: the whole study runs",
            file=sys.stderr,
        )
    elif found:
        print(
            f"eventloop-tournament: {len(found)} part(s) of an earlier run are missing or"
            f" failed and run again (first: {found[0][1]})",
            file=sys.stderr,
        )


def preflight():
    """Before any job: output folders writable (one line if not); a stale lock removed."""
    from impl.pipeline.preflight import PreflightError, check_writable, remove_stale_lock

    try:
        check_writable([LAYOUT.results, LAYOUT.logs, LAYOUT.report])
    except PreflightError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        sys.exit(1)
    if remove_stale_lock():
        print(
            "eventloop-tournament: removed the lock of a Snakemake that no longer runs here"
            " (killed?); see docs/pipeline.md, 'Failures and reruns'",
            file=sys.stderr,
        )


def _bench_slot_limited():
    try:
        return "bench_slot" in workflow.global_resources
    except Exception:  # internal API; never block a run on it
        return True


def start_progress():
    """Cell rounds done / total, with the time left, after each batch (impl/pipeline/progress.py).
    Also records this Snakemake as the holder of the checkout's lock (a later run removes
    the lock only when this process is gone: impl/pipeline/preflight.py)."""
    from impl.pipeline.progress import PROGRESS_ENV
    from impl.pipeline.progress import start

    identity.write_owner()

    start(LAYOUT.progress, sum(len(c.round_outputs) for c in CELLS))
    os.environ[PROGRESS_ENV] = LAYOUT.progress  # inherited by the batch jobs


# --report, --lint, listings: nothing to prepare (impl/pipeline/invocation.py)
if workflow.is_main_process and not read_only(sys.argv):
    preflight()
    reopen_what_went_missing()

if workflow.is_main_process and not _bench_slot_limited():
    print(
        "WARNING: no global `bench_slot` limit (profile not found or --workflow-profile none):"
        " timing cells may run concurrently. Add `--resources bench_slot=1`.",
        file=sys.stderr,
    )
