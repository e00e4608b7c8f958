#!/usr/bin/env bash
# Stop the CADC replica started by scripts/cadc/start.sh: the recorded process (PID and start
# time in $RUN/pid; a PID reused by another process is left alone) gets SIGTERM, then SIGKILL
# after a grace period. The env file goes first, so nothing mistakes a stopped replica for a
# running one. The CA, passwords, archive, vault files and logs stay for the next start.
#
# Usage: scripts/cadc/stop.sh
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN=${CANFAR_TUI_CADC_RUN:-$REPO/.services/cadc}
GRACE=${CANFAR_TUI_CADC_STOP_GRACE:-10}

rm -f "$RUN/env"
[ -d "$RUN" ] || exit 0

ours() {  # ours PID START: the process is still the one start.sh recorded (and not a zombie)
    local fields
    fields=$(awk '{print $3, $22}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "${fields#* }" = "$2" ] && [ "${fields%% *}" != Z ]
}

stopped=0
if [ -f "$RUN/pid" ]; then
    read -r pid start < "$RUN/pid" || true
    if [ -n "${pid:-}" ] && [ -n "${start:-}" ] && ours "$pid" "$start"; then
        kill -TERM "$pid" 2>/dev/null || true
        stopped=1
        deadline=$(( $(date +%s) + GRACE ))
        while ours "$pid" "$start" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
        if ours "$pid" "$start"; then
            echo "cadc/stop.sh: the replica ($pid) did not stop in ${GRACE}s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$RUN/pid"
fi
rm -f "$RUN/url"
echo "cadc/stop.sh: stopped $stopped replica"
