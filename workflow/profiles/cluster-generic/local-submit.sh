#!/usr/bin/env bash
# Stand-in for a cluster's submit command (qsub/bsub): run the job script that
# Snakemake hands over in the background, on this machine, and print a job id.
# The executor learns the outcome from the marker files the job script writes.
set -euo pipefail
jobscript="$1"
# one line per submission (what a real scheduler's accounting would show)
mkdir -p logs && echo "$(date +%s) $(basename "$jobscript")" >>logs/cluster-submissions.log
nohup bash "$jobscript" >"${jobscript}.out" 2>&1 </dev/null &
echo "local-$!"
