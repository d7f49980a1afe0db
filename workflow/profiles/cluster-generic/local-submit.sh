#!/usr/bin/env bash
# Stand-in for a cluster's submit command (qsub/bsub): run the job script that
# Snakemake hands over in the background, on this machine, in its own session (so
# killing the job, as qdel would, kills all of it and nothing else), and print a job id.
# status.sh answers for the job by that id: running, success or failed.
set -euo pipefail
jobscript="$1"
state="logs/cluster-jobs"
mkdir -p "$state"
id="local-$(date +%s%N)-$$"
# one line per submission (what a real scheduler's accounting would show)
echo "$(date +%s) $(basename "$jobscript") $id" >>logs/cluster-submissions.log
# the job's exit status is written when it ends by itself; a job killed from outside
# (walltime, memory, qdel) leaves none, and status.sh reports it failed
# (written whole, then renamed: status.sh never reads a half-written exit status)
setsid bash -c 'bash "$1"; echo $? >"$2.exit.tmp" && mv "$2.exit.tmp" "$2.exit"' \
  _ "$jobscript" "$state/$id" \
  >"${jobscript}.out" 2>&1 </dev/null &
pid=$!
# pid and start time (field 22 of /proc/PID/stat): a recycled pid is not mistaken for it
start="$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null || echo 0)"
echo "$pid $start" >"$state/$id.pid"
echo "$id"
