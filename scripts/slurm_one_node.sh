#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests/test_slurm.py and for trying
# docs/scaling.md's SLURM path: munged, slurmctld and slurmd (Debian's slurm-wlm), run as root,
# every file under one folder. Prints the folder; `scripts/slurm_one_node.sh stop FOLDER` stops it.
#
#   scripts/slurm_one_node.sh start [FOLDER]   # default: /tmp/kdbench-slurm
#   scripts/slurm_one_node.sh stop  [FOLDER]
#
# It installs slurm-wlm with apt-get when slurmctld is missing and apt-get is there (root only).
# It exits non-zero with one line on stderr saying what stopped it (not root, no slurm, a daemon
# that did not come up: the last lines of its log follow).
set -euo pipefail
cmd=${1:-start}
dir=$(realpath -m "${2:-/tmp/kdbench-slurm}")
say() { echo "slurm_one_node: $*" >&2; }

if [[ $cmd == stop ]]; then
    export SLURM_CONF=$dir/slurm.conf
    [[ -f $SLURM_CONF ]] && scancel --full --quiet -u root 2>/dev/null || true
    for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
        [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    exit 0
fi
[[ $cmd == start ]] || { say "usage: $0 start|stop [FOLDER]"; exit 2; }
[[ $(id -u) == 0 ]] || { say "needs root (slurmd runs jobs as their users)"; exit 3; }
if ! command -v slurmctld >/dev/null; then
    command -v apt-get >/dev/null || { say "slurm-wlm is not installed and there is no apt-get"; exit 3; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm >"$dir.apt.log" 2>&1 \
        || { say "apt-get install slurm-wlm failed (log: $dir.apt.log)"; exit 3; }
fi
mkdir -p "$dir"/{spool,state,munge,log}
host=$(hostname -s)
# two free TCP ports for slurmctld and slurmd, so a SLURM already on this machine is left alone
read -r ctld_port slurmd_port < <(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("", 0))
print(*[x.getsockname()[1] for x in s])')
cpus=$(getconf _NPROCESSORS_ONLN)  # not nproc: it follows OMP_NUM_THREADS
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

# munge: its own key and socket in $dir, so a system munged is left alone
[[ -f $dir/munge/munge.key ]] || mungekey --create --keyfile="$dir/munge/munge.key" --force
chmod 600 "$dir/munge/munge.key"
socket=$dir/munge/munge.socket
if ! munge -n --socket="$socket" >/dev/null 2>&1; then
    munged --force --key-file="$dir/munge/munge.key" --socket="$socket" \
        --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" \
        || { say "munged did not start: $(tail -2 "$dir/log/munged.log" 2>/dev/null)"; exit 4; }
fi

cat >"$dir/slurm.conf" <<CONF
ClusterName=kdbench
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
export SLURM_CONF=$dir/slurm.conf
pkill -f "slurmctld -f $dir/slurm.conf" 2>/dev/null || true
pkill -f "slurmd -f $dir/slurm.conf" 2>/dev/null || true
slurmctld -f "$dir/slurm.conf" -i || { say "slurmctld did not start: $(tail -3 "$dir/log/slurmctld.log" 2>/dev/null)"; exit 4; }
slurmd -f "$dir/slurm.conf" || { say "slurmd did not start: $(tail -3 "$dir/log/slurmd.log" 2>/dev/null)"; exit 4; }
for _ in $(seq 60); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    [[ $state == idle* || $state == mix* ]] && { echo "$dir"; exit 0; }
    sleep 0.5
done
say "the node did not become idle (state '${state:-?}'); slurmd log: $(tail -3 "$dir/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"
exit 4
