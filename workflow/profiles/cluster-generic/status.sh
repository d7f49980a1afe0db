#!/usr/bin/env bash
# Status command of the cluster-generic profile (cluster-generic-status-cmd): print
# running, success or failed for a job id of local-submit.sh. With a real scheduler,
# replace it by the scheduler's own query (qstat/bjobs/sacct) mapped to those words.
# Without a status command Snakemake learns a job's end only from marker files the job
# script writes itself, so a job the scheduler kills never ends for Snakemake.
set -uo pipefail
id="$1"
state="logs/cluster-jobs/$id"
if [ -f "$state.exit" ]; then
  if [ "$(cat "$state.exit")" = "0" ]; then echo success; else echo failed; fi
  exit 0
fi
read -r pid start <"$state.pid" 2>/dev/null || { echo failed; exit 0; }
now="$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null || echo gone)"
if [ "$now" = "$start" ]; then
  echo running
elif [ -f "$state.exit" ]; then  # it ended between the two checks
  if [ "$(cat "$state.exit")" = "0" ]; then echo success; else echo failed; fi
else
  echo failed  # gone without an exit status: killed from outside
fi
