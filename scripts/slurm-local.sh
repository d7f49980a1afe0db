#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, to run workflow/profiles/slurm for real
#: installs Debian's slurm-wlm and munge if missing, writes a
# slurm.conf for this host (its CPUs and memory as `slurmd -C` reports them; one
# partition `compute`, the slurm profile's default), starts munged, slurmctld and slurmd,
# and waits until the node is idle. Idempotent: a running cluster is left as it is.
#
#   sudo bash scripts/slurm-local.sh          # start (root: it installs and runs daemons)
#   sudo bash scripts/slurm-local.sh --stop   # stop the daemons
#
# No slurmdbd: job states come from squeue (MinJobAge keeps a finished job visible for
# an hour, which the executor plugin requires before it trusts squeue; sacct without a
# database answers from slurmctld too). Then tests/test_slurm.py runs a tiny study through
# `snakemake --profile workflow/profiles/slurm` on it.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
SPOOL=/var/spool/slurm
LOGDIR=/var/log/slurm
PARTITION=compute  # workflow/profiles/slurm: default-resources slurm_partition
say() { echo "slurm-local: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "needs root (it installs packages and starts daemons); run: sudo bash $0 $*"
  exit 2
fi

if [ "${1:-}" = "--stop" ]; then
  pkill -x slurmd || true
  pkill -x slurmctld || true
  pkill -x munged || true
  say "stopped"
  exit 0
elif [ -n "${1:-}" ]; then
  say "unknown argument '$1'; allowed: --stop, or nothing (start)"
  exit 2
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  say "installing slurm-wlm and munge (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm slurm-client munge >/dev/null
fi

# munge: one key, one daemon (slurmctld and slurmd authenticate every message with it)
mkdir -p /etc/munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged
fi

HOST="$(hostname -s)"
if ! scontrol ping 2>/dev/null | grep -q "is UP"; then
  mkdir -p "$CONF_DIR" "$SPOOL/ctld" "$SPOOL/d" "$LOGDIR"
  chown -R slurm:slurm "$SPOOL" "$LOGDIR" 2>/dev/null || true
  # the node line as slurmd measures this machine (CPUs, sockets, cores, threads, memory)
  NODE="$(slurmd -C | head -1)"
  cat > "$CONF" <<EOF
# written by scripts/slurm-local.sh: one node, this machine
ClusterName=eltlocal
SlurmctldHost=$HOST
AuthType=auth/munge
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
# no cgroups in a container or a VM without them: track processes by parent id
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue for an hour (the plugin then trusts squeue)
MinJobAge=3600
ReturnToService=2
$NODE State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  ln -sf "$CONF" /etc/slurm-llnl/slurm.conf 2>/dev/null || true
  pkill -x slurmctld || true
  pkill -x slurmd || true
  slurmctld -c 2>/dev/null || slurmctld  # -c: a clean start (no state of an old cluster)
  slurmd
fi

for _ in $(seq 1 60); do
  state="$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1 || true)"
  case "$state" in
    idle|mixed|allocated) say "ready: node $HOST ($state), partition $PARTITION"; exit 0 ;;
    down*|drain*) scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
  esac
  sleep 1
done
say "the node did not become idle in 60 s; see $LOGDIR/slurmctld.log and $LOGDIR/slurmd.log"
exit 1
