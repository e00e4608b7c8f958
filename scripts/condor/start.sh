#!/usr/bin/env bash
# Start the real HTCondor pool built by scripts/condor/install.sh (Debian trixie minicondor in a
# chroot): condor_master and its daemons (collector, negotiator, schedd, startd, shared port) on
# 127.0.0.1, then give the test user an IDTOKEN and write what the tests need to find the pool.
#
# Usage: scripts/condor/install.sh && scripts/condor/start.sh   (as root)
#        set -a; . .services/condor/env; set +a
#        ... tests ...
#        scripts/condor/stop.sh
#
# condor_master runs by hand (no systemd) as the leader of its own process group; its PID and
# start time are in $RUN/pid/condor_master.pid and stop.sh stops exactly that process (and
# whatever still runs inside the chroot). $RUN is .services/condor in the repository unless
# $CANFAR_TUI_CONDOR_RUN says otherwise.
#
# Mounts (undone by stop.sh): proc and a bind of /dev in the chroot, and the job folder
# $RUN/jobs bind-mounted at the SAME path inside the chroot, so that a job's Iwd, Out, Err and
# UserLog mean the same file for the schedd, the job (uid of the test user, the same inside and
# out) and the tests.
#
# Outputs:
#   $RUN/env                 KEY=value lines (source with `set -a; . FILE; set +a`):
#       CONDOR_CONFIG                    the client config (for condor tools and htcondor2)
#       CANFAR_TUI_CONDOR_CONFIG         the same, for the tests (CondorQueue(config_file=…))
#       CANFAR_TUI_CONDOR_TOKEN          the test user's IDTOKEN file (0600, dir 0700)
#       CANFAR_TUI_CONDOR_JOB_DIR        the shared job folder (owned by the test user)
#       CANFAR_TUI_CONDOR_USER / _UID    the test user and its uid
#       CANFAR_TUI_CONDOR_OTHER_USERS    owners of the jobs queued for "all users"
#       CANFAR_TUI_CANFAR_SUBMIT_DIR     a folder holding `canfar_submit`: the stand-in of the
#                                        current form (JOB_FILE [VM_IMAGE]); put it first on PATH
#       CANFAR_TUI_CANFAR_SUBMIT_0_3_DIR the same for the 0.3 form (JOB_FILE VM_IMAGE VM_FLAVOR)
#       CANFAR_TUI_CANFAR_SUBMIT_LOG     the stand-ins' log of image transfers and shares
#   $RUN/client/condor_config  COLLECTOR_HOST and IDTOKENS only; no secret in it
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN=${CANFAR_TUI_CONDOR_RUN:-$REPO/.services/condor}
ROOT=$RUN/root
JOBS=$RUN/jobs
PORT=${CANFAR_TUI_CONDOR_PORT:-9618}
STAMP=$ROOT/.canfar-tui-installed
OTHER_USERS=(jdoe asmith)

T0=$(date +%s%N)
lap() { awk -v now="$(date +%s%N)" -v t0="$T0" -v msg="$*" \
          'BEGIN { printf "[%6.1fs] %s\n", (now - t0) / 1e9, msg }'; }
die() { echo "start.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (chroot and mounts)"
[ -f "$STAMP" ] && [ -x "$ROOT/usr/sbin/condor_master" ] \
    || die "no HTCondor chroot in $ROOT: run scripts/condor/install.sh"
TEST_USER=$(sed -n 's/.* user=\([^ ]*\).*/\1/p' "$STAMP")
TEST_UID=$(sed -n 's/.* uid=\([0-9]*\).*/\1/p' "$STAMP")
[ -n "$TEST_USER" ] && [ -n "$TEST_UID" ] || die "$STAMP is damaged: rerun install.sh"
[ "$(id -u "$TEST_USER" 2>/dev/null)" = "$TEST_UID" ] \
    || die "$TEST_USER must have uid $TEST_UID on this machine too: rerun install.sh"

in_root() { chroot "$ROOT" "$@"; }
alive() {  # the recorded condor_master is still the process start.sh started
    local file=$RUN/pid/condor_master.pid pid start
    [ -f "$file" ] || return 1
    read -r pid start < "$file"
    local fields
    fields=$(awk '{print $3, $22}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "${fields#* }" = "$start" ] && [ "${fields%% *}" != Z ]
}
pool_ready() {  # a schedd and at least one execute slot are in the collector
    in_root condor_status -schedd -af Name 2>/dev/null | grep -q . \
        && in_root condor_status -startd -af Name 2>/dev/null | grep -q .
}

if [ -f "$RUN/env" ] && alive && pool_ready; then
    echo "start.sh: already running; environment in $RUN/env"
    exit 0
fi
"$HERE/stop.sh" >/dev/null 2>&1 || true

ready=0
cleanup() { [ "$ready" -eq 1 ] || "$HERE/stop.sh" >&2 || true; }
trap cleanup EXIT

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT is already in use on 127.0.0.1 (another HTCondor?); set CANFAR_TUI_CONDOR_PORT"
fi

umask 022
mkdir -p "$RUN/pid" "$RUN/log"
# --------------------------------------------------------------------------- configuration
text=$(<"$HERE/templates/99-canfar-tui.config")
printf '%s\n' "${text//@PORT@/$PORT}" > "$ROOT/etc/condor/config.d/99-canfar-tui.config"
# cloudscheduler's stand-in (see the template): the startd cron job publishing the VMTypes that
# canfar_submit 0.3's stand-in shared, and the +PreCmd its jobs carry.
install -D -m 0755 "$HERE/templates/canfar-shared-vmtypes" "$ROOT/usr/local/libexec/canfar-shared-vmtypes"
install -D -m 0755 "$HERE/canfar_submit/canfar_batch_cert" "$ROOT/usr/local/share/canfar/canfar_batch_cert"
# CANFAR's job wrapper (HOME for the job, as on a batch VM): USER_JOB_WRAPPER in the template.
install -D -m 0755 "$HERE/templates/canfar-job-wrapper" "$ROOT/usr/local/libexec/canfar-job-wrapper"
install -d -m 0755 "$ROOT/var/lib/condor/canfar"
host=$(hostname)
if ! awk -v h="$host" '$1 == "127.0.0.1" { for (i = 2; i <= NF; i++) if ($i == h) found = 1 }
                       END { exit !found }' "$ROOT/etc/hosts" 2>/dev/null; then
    echo "127.0.0.1 $host" >> "$ROOT/etc/hosts"
fi

# --------------------------------------------------------------------------- mounts
# Folders of earlier test runs go (tests make theirs under $JOBS/tests; jobs left in the queue
# from those runs are removed below).
rm -rf --one-file-system "$JOBS/tests"
mkdir -p "$JOBS" "$ROOT$JOBS"
chown "$TEST_UID:$TEST_UID" "$JOBS"
chmod 0755 "$JOBS"
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
mountpoint -q "$ROOT/dev" || mount --bind /dev "$ROOT/dev"
mountpoint -q "$ROOT$JOBS" || mount --bind "$JOBS" "$ROOT$JOBS"
lap "chroot mounted (job folder $JOBS)"

# --------------------------------------------------------------------------- daemons
setsid chroot "$ROOT" /usr/sbin/condor_master -f \
    > "$RUN/log/condor_master.out" 2>&1 < /dev/null &
pid=$!
start=""
for _ in $(seq 20); do
    start=$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null || true)
    [ -n "$start" ] && break
    sleep 0.05
done
echo "$pid $start" > "$RUN/pid/condor_master.pid"

for _ in $(seq 480); do
    pool_ready && break
    alive || die "condor_master exited (see $RUN/log/condor_master.out and $ROOT/var/log/condor)"
    sleep 0.25
done
pool_ready || die "timed out waiting for the schedd and a slot (logs in $ROOT/var/log/condor)"
lap "daemons answering: $(in_root condor_version | head -n1)"

# --------------------------------------------------------------------------- client
UID_DOMAIN=$(in_root condor_config_val UID_DOMAIN)
CLIENT=$RUN/client
mkdir -p "$CLIENT"
umask 077
mkdir -p "$CLIENT/tokens.d"
chmod 0700 "$CLIENT/tokens.d"
# The token goes from the tool's stdout straight into a 0600 file: never in argv.
in_root condor_token_create -identity "$TEST_USER@$UID_DOMAIN" > "$CLIENT/tokens.d/$TEST_USER.tmp"
mv "$CLIENT/tokens.d/$TEST_USER.tmp" "$CLIENT/tokens.d/$TEST_USER"
umask 022
cat > "$CLIENT/condor_config" <<EOF
# HTCondor client configuration for the canfar-tui integration tests (written by start.sh).
# The pool: scripts/condor/start.sh's minicondor on 127.0.0.1. Authentication: the IDTOKEN of
# user $TEST_USER in tokens.d (FS authentication cannot cross into the chroot).
COLLECTOR_HOST = 127.0.0.1:$PORT
SEC_CLIENT_AUTHENTICATION_METHODS = IDTOKENS
SEC_TOKEN_DIRECTORY = $CLIENT/tokens.d
EOF
lap "IDTOKEN for $TEST_USER@$UID_DOMAIN"

# --------------------------------------------------------------------------- leftovers
# Jobs of the test user that an earlier, interrupted run left in the (persistent) queue.
if in_root condor_q -allusers -constraint "Owner == \"$TEST_USER\"" -af ClusterId 2>/dev/null \
        | grep -q .; then
    in_root condor_rm -constraint "Owner == \"$TEST_USER\"" >/dev/null 2>&1 || true
    lap "removed $TEST_USER's leftover jobs"
fi

# --------------------------------------------------------------------------- other users' jobs
seed() {  # seed USER BATCH EXTRA: two jobs of USER that never run, unless USER has some
    local user=$1 batch=$2 extra=$3 text
    if in_root condor_q -allusers -constraint "Owner == \"$user\"" -af ClusterId 2>/dev/null \
            | grep -q .; then
        return 0
    fi
    text=$(<"$HERE/templates/other-users.sub")
    text=${text//@BATCH@/$batch}
    text=${text//@EXTRA@/$extra}
    printf '%s\n' "$text" > "$ROOT/tmp/canfar-tui-$user.sub"
    chmod 0644 "$ROOT/tmp/canfar-tui-$user.sub"
    chroot --userspec="$user:$user" "$ROOT" env HOME="/home/$user" USER="$user" \
        sh -c "cd /home/$user && condor_submit /tmp/canfar-tui-$user.sub" \
        > "$RUN/log/seed-$user.log" 2>&1 \
        || die "queueing $user's jobs failed (see $RUN/log/seed-$user.log)"
    rm -f "$ROOT/tmp/canfar-tui-$user.sub"
}
seed "${OTHER_USERS[0]}" calibration-2023 "hold = True"
seed "${OTHER_USERS[1]}" survey-tiles 'requirements = (Machine == "no-such-machine")'
lap "jobs of ${OTHER_USERS[*]} queued"

# --------------------------------------------------------------------------- canfar_submit
# The stand-ins of both forms, each as `canfar_submit` in a folder of its own (put one first on
# PATH), with what they need to reach the pool (scripts/condor/canfar_submit/replica.sh).
STANDINS=$RUN/canfar_submit
rm -rf --one-file-system "$STANDINS"
install -D -m 0755 "$HERE/canfar_submit/canfar_submit" "$STANDINS/current/canfar_submit"
install -D -m 0755 "$HERE/canfar_submit/canfar_submit_0.3" "$STANDINS/0.3/canfar_submit"
install -m 0644 "$HERE/canfar_submit/replica.sh" "$STANDINS/replica.sh"
{
    printf 'REPLICA_ROOT=%q\n' "$ROOT"
    printf 'REPLICA_JOBS=%q\n' "$JOBS"
    printf 'REPLICA_USER=%q\n' "$TEST_USER"
    printf 'REPLICA_LOG=%q\n' "$RUN/log/canfar-images.log"
    printf 'REPLICA_SHARED=%q\n' "$(in_root condor_config_val CANFAR_SHARED_VMTYPES_FILE)"
} > "$STANDINS/replica.env"
touch "$RUN/log/canfar-images.log"
chmod 0644 "$RUN/log/canfar-images.log"
lap "canfar_submit stand-ins in $STANDINS/{current,0.3}"

# --------------------------------------------------------------------------- env file
{
    printf 'CONDOR_CONFIG=%q\n' "$CLIENT/condor_config"
    printf 'CANFAR_TUI_CONDOR_CONFIG=%q\n' "$CLIENT/condor_config"
    printf 'CANFAR_TUI_CONDOR_TOKEN=%q\n' "$CLIENT/tokens.d/$TEST_USER"
    printf 'CANFAR_TUI_CONDOR_JOB_DIR=%q\n' "$JOBS"
    printf 'CANFAR_TUI_CONDOR_USER=%q\n' "$TEST_USER"
    printf 'CANFAR_TUI_CONDOR_UID=%q\n' "$TEST_UID"
    printf 'CANFAR_TUI_CONDOR_OTHER_USERS=%q\n' "${OTHER_USERS[*]}"
    printf 'CANFAR_TUI_CANFAR_SUBMIT_DIR=%q\n' "$STANDINS/current"
    printf 'CANFAR_TUI_CANFAR_SUBMIT_0_3_DIR=%q\n' "$STANDINS/0.3"
    printf 'CANFAR_TUI_CANFAR_SUBMIT_LOG=%q\n' "$RUN/log/canfar-images.log"
} > "$RUN/env.tmp"
mv "$RUN/env.tmp" "$RUN/env"
ready=1

# Memory of everything running inside the chroot: PSS (shared pages split) and RSS.
pss_kb=0; rss_kb=0; count=0
for dir in /proc/[0-9]*; do
    [ "$(readlink "$dir/root" 2>/dev/null)" = "$ROOT" ] || continue
    read -r pss rss < <(awk '/^Pss:/ { p = $2 } /^Rss:/ { r = $2 } END { print p + 0, r + 0 }' \
        "$dir/smaps_rollup" 2>/dev/null || echo "0 0")
    pss_kb=$(( pss_kb + pss )); rss_kb=$(( rss_kb + rss )); count=$(( count + 1 ))
done
lap "READY: $count processes, $(( pss_kb / 1024 )) MB PSS ($(( rss_kb / 1024 )) MB RSS); environment in $RUN/env"
