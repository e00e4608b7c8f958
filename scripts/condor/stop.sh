#!/usr/bin/env bash
# Stop the HTCondor pool started by scripts/condor/start.sh and undo its mounts.
#
#   1. the recorded condor_master (PID and start time in $RUN/pid/condor_master.pid; a PID
#      reused by another process is left alone) gets SIGQUIT: a fast shutdown of its daemons
#      and their jobs;
#   2. after a grace period, every process still running inside the chroot (found by PID:
#      /proc/PID/root is $RUN/root) is killed;
#   3. the job folder bind, /dev and proc are unmounted from the chroot.
# The env file goes first, so nothing mistakes a stopped pool for a running one. The chroot,
# the queue's state and the logs stay for a look afterwards (and a fast next start).
#
# Usage: scripts/condor/stop.sh        (as root)
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN=${CANFAR_TUI_CONDOR_RUN:-$REPO/.services/condor}
ROOT=$RUN/root
JOBS=$RUN/jobs
GRACE=${CANFAR_TUI_CONDOR_STOP_GRACE:-20}

rm -f "$RUN/env"
[ -d "$RUN" ] || exit 0

ours() {  # ours PID START: the process is still the one start.sh recorded (and not a zombie)
    local fields
    fields=$(awk '{print $3, $22}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "${fields#* }" = "$2" ] && [ "${fields%% *}" != Z ]
}
in_chroot() {  # PIDs of the processes whose root directory is the chroot
    local dir
    for dir in /proc/[0-9]*; do
        [ "$(readlink "$dir/root" 2>/dev/null)" = "$ROOT" ] && echo "${dir#/proc/}"
    done
    return 0
}

stopped=0
file=$RUN/pid/condor_master.pid
if [ -f "$file" ]; then
    read -r pid start < "$file" || true
    if [ -n "${pid:-}" ] && [ -n "${start:-}" ] && ours "$pid" "$start"; then
        kill -QUIT "$pid" 2>/dev/null || true
        stopped=1
        deadline=$(( $(date +%s) + GRACE ))
        while ours "$pid" "$start" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
        if ours "$pid" "$start"; then
            echo "stop.sh: condor_master ($pid) did not stop in ${GRACE}s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$file"
fi

# Whatever is left inside the chroot (daemons of a master that died, orphaned jobs).
leftover=$(in_chroot)
if [ -n "$leftover" ]; then
    # shellcheck disable=SC2086
    kill -TERM $leftover 2>/dev/null || true
    for _ in $(seq 25); do
        leftover=$(in_chroot)
        [ -z "$leftover" ] && break
        sleep 0.2
    done
    if [ -n "$leftover" ]; then
        echo "stop.sh: killing processes still in the chroot: $leftover" >&2
        # shellcheck disable=SC2086
        kill -KILL $leftover 2>/dev/null || true
        sleep 0.5
    fi
fi

unmounted=0
for target in "$ROOT$JOBS" "$ROOT/dev" "$ROOT/proc"; do
    if mountpoint -q "$target" 2>/dev/null; then
        if ! umount "$target" 2>/dev/null; then
            echo "stop.sh: $target is busy; detaching it lazily" >&2
            umount -l "$target" || echo "stop.sh: cannot unmount $target" >&2
        fi
        unmounted=$(( unmounted + 1 ))
    fi
done
echo "stop.sh: stopped $stopped condor_master, unmounted $unmounted"
