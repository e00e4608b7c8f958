#!/usr/bin/env bash
# Stop the OpenStack started by scripts/openstack/start.sh: exactly the processes it recorded
# in $RUN/pid (each one's whole process group), newest first; SIGTERM, then SIGKILL after a
# grace period. A PID whose start time no longer matches (reused by another process) is left
# alone. State and logs stay in $RUN for a look afterwards; the env file goes, so nothing
# mistakes a stopped cloud for a running one.
#
# Usage: scripts/openstack/stop.sh
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN=${CANFAR_TUI_OPENSTACK_RUN:-$REPO/.services/openstack}
GRACE=${CANFAR_TUI_OPENSTACK_STOP_GRACE:-15}

# Dependents first, the database last.
ORDER=(nova-compute nova-scheduler nova-conductor nova-api neutron placement glance keystone
       rabbitmq epmd mariadb)

rm -f "$RUN/env"
[ -d "$RUN/pid" ] || exit 0

ours() {  # ours PID START: the process is still the one start.sh recorded
    [ -r "/proc/$1/stat" ] && [ "$(awk '{print $22}' "/proc/$1/stat" 2>/dev/null)" = "$2" ]
}

stopped=()
stop_one() {
    local name=$1 file=$RUN/pid/$1.pid pid start
    [ -f "$file" ] || return 0
    read -r pid start < "$file" || true
    if [ -n "${pid:-}" ] && [ -n "${start:-}" ] && ours "$pid" "$start"; then
        # start.sh ran every daemon as the leader of its own process group (setsid).
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        stopped+=("$name:$pid")
    fi
}
for name in "${ORDER[@]}"; do stop_one "$name"; done

deadline=$(( $(date +%s) + GRACE ))
for entry in "${stopped[@]}"; do
    name=${entry%%:*}; pid=${entry##*:}
    while kill -0 -- "-$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 -- "-$pid" 2>/dev/null; then
        echo "stop.sh: $name (process group $pid) ignored SIGTERM; killing it" >&2
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/pid/$name.pid"
done
# PID files of processes that were already gone.
for name in "${ORDER[@]}"; do
    file=$RUN/pid/$name.pid
    [ -f "$file" ] || continue
    read -r pid start < "$file" || true
    if [ -z "${pid:-}" ] || ! ours "$pid" "${start:-}"; then rm -f "$file"; fi
done
echo "stop.sh: stopped ${#stopped[@]} daemon(s)"
